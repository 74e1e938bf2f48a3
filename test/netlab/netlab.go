// Package netlab builds throw-away hosts for tests: one network namespace per host,
// veth links between them, commands and daemons run inside. Everything it makes carries
// a per-lab random suffix and is removed when the test ends, pass or fail.
package netlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Lab is a set of hosts belonging to one test.
type Lab struct {
	t      testing.TB
	suffix string
	mu     sync.Mutex
	links  int
}

// Host is one network namespace.
type Host struct {
	lab *Lab
	// Name is the short name given by the test.
	Name string
	// NS is the namespace's name, usable with `ip netns exec`.
	NS string
}

// Require fails (under CI) or skips (elsewhere) a test when a lab tool is missing, with
// the fix in the message.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		requireFail(t, "network namespaces need root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			requireFail(t, fmt.Sprintf("%s is not installed: run `make setup`", tool))
		}
	}
}

func requireFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// New returns an empty lab whose hosts are deleted when t ends.
func New(t testing.TB) *Lab {
	t.Helper()
	Require(t, "ip")
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("netlab: random suffix: %v", err)
	}
	return &Lab{t: t, suffix: hex.EncodeToString(b)}
}

// Suffix is the lab's random suffix, for naming other per-test resources.
func (l *Lab) Suffix() string { return l.suffix }

// Host creates a namespace with loopback up.
func (l *Lab) Host(name string) *Host {
	l.t.Helper()
	h := &Host{lab: l, Name: name, NS: fmt.Sprintf("gsi-%s-%s", name, l.suffix)}
	mustRun(l.t, "ip", "netns", "add", h.NS)
	l.t.Cleanup(func() {
		// processes started with Start are stopped by their own (later registered,
		// so earlier run) cleanups; deleting the namespace removes its links.
		if out, err := exec.Command("ip", "netns", "del", h.NS).CombinedOutput(); err != nil {
			l.t.Logf("netlab: deleting namespace %s: %v: %s", h.NS, err, out)
		}
	})
	h.Run(l.t, "ip", "link", "set", "lo", "up")
	return h
}

// Link connects a and b with a veth pair, assigns the addresses (CIDR notation, empty
// for none) and brings both ends up. It returns the interface names in a and in b.
func (l *Lab) Link(a, b *Host, aAddr, bAddr string) (aIf, bIf string) {
	l.t.Helper()
	l.mu.Lock()
	l.links++
	n := l.links
	l.mu.Unlock()
	// interface names are limited to 15 bytes; they are per-namespace so short is fine
	aIf = fmt.Sprintf("to-%.6s%d", b.Name, n)
	bIf = fmt.Sprintf("to-%.6s%d", a.Name, n)
	tmpA := fmt.Sprintf("v%s%da", l.suffix, n)
	tmpB := fmt.Sprintf("v%s%db", l.suffix, n)
	mustRun(l.t, "ip", "link", "add", tmpA, "type", "veth", "peer", "name", tmpB)
	mustRun(l.t, "ip", "link", "set", tmpA, "netns", a.NS, "name", aIf)
	mustRun(l.t, "ip", "link", "set", tmpB, "netns", b.NS, "name", bIf)
	for _, e := range []struct {
		h         *Host
		ifc, addr string
	}{{a, aIf, aAddr}, {b, bIf, bAddr}} {
		if e.addr != "" {
			e.h.Run(l.t, "ip", "addr", "add", e.addr, "dev", e.ifc)
		}
		e.h.Run(l.t, "ip", "link", "set", e.ifc, "up")
	}
	return aIf, bIf
}

// Command returns an exec.Cmd that runs inside the namespace.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Run runs a command inside the namespace and returns its standard output; a failure
// fails the test with the command's output.
func (h *Host) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := h.Output(name, args...)
	if err != nil {
		t.Fatalf("netlab: %s: %v", h.Name, err)
	}
	return out
}

// Output runs a command inside the namespace and returns its standard output, or an
// error carrying its standard error.
func (h *Host) Output(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := h.Command(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Do runs fn on an OS thread that has joined the namespace, for Go code that must act
// inside it (netlink, attaching BPF programs, sockets). Goroutines fn starts run
// elsewhere, and so do things it leaves running in Go's background threads. If the
// thread cannot return to the original namespace it is not reused.
func (h *Host) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netlab: current namespace: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/run/netns", h.NS))
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netlab: namespace %s: %w", h.NS, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netlab: entering %s: %w", h.NS, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// leave the thread locked: it dies with this goroutine instead of being reused
		return errors.Join(ferr, fmt.Errorf("netlab: leaving %s: %w", h.NS, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// AddRoute adds a route to dst (CIDR or "default") via gw inside the namespace.
func (h *Host) AddRoute(t testing.TB, dst, gw string) {
	t.Helper()
	h.Run(t, "ip", "route", "replace", dst, "via", gw)
}

// Process is a daemon started with Start.
type Process struct {
	Cmd *exec.Cmd
	// Log is the file holding the process's standard output and error.
	Log  string
	done chan struct{}
	err  error
}

// Wait blocks until the process has exited and returns its exit error.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, waits up to 10 s, then kills. Safe to call more than once.
func (p *Process) Stop() {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// Kill ends the process at once with SIGKILL, as a crash would.
func (p *Process) Kill() {
	if !p.Exited() {
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// Start runs a daemon inside the namespace until the test ends; its output goes to a
// log file that is printed when the test fails.
func (h *Host) Start(t testing.TB, name string, argv ...string) *Process {
	t.Helper()
	if len(argv) == 0 {
		t.Fatalf("netlab: Start %s: empty command", name)
	}
	logPath := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%s.log", h.Name, name))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	cmd := h.Command(context.Background(), argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// its own process group, so stopping it also stops what it forked
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("netlab: starting %s in %s: %v", name, h.Name, err)
	}
	p := &Process{Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("--- %s on %s (%s) ---\n%s", name, h.Name, logPath, b)
			}
		}
	})
	return p
}

// Eventually polls cond every interval until it returns nil or the timeout passes, and
// fails the test with cond's last error. Use it to wait for a state, never a fixed sleep.
func Eventually(t testing.TB, timeout, interval time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("netlab: not reached within %s: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}

func mustRun(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("netlab: %s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}
