package netlab

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Forward listens on addr (host:port) inside the namespace and relays every connection
// to target, dialled from the test's own namespace. It lets a process in a lab host
// reach something on the test machine's loopback, such as envtest's API server, without
// giving the namespace a route out.
func (h *Host) Forward(t testing.TB, addr, target string) {
	t.Helper()
	ln, err := h.Listen(addr)
	if err != nil {
		t.Fatalf("netlab: forward %s in %s: %v", addr, h.Name, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Go(func() {
				relay(c, target)
				mu.Lock()
				delete(open, c)
				mu.Unlock()
			})
		}
	})
}

// Listen opens a TCP listener inside the namespace. The socket stays in the namespace;
// the calling goroutine does not move.
func (h *Host) Listen(addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread is never unlocked: it ends with this goroutine, so no other
		// goroutine is ever scheduled in the namespace.
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/run/netns", h.NS))
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns %s: %w", h.NS, err)}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	return r.ln, r.err
}

func relay(c net.Conn, target string) {
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}
