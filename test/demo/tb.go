package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// labTB lets the demo use the lab helpers (test/netlab, test/bgplab), which report
// through testing.TB, outside a test: Fatal aborts the demo's start with the message,
// Cleanup runs when the demo stops, logs go to the demo's log file.
type labTB struct {
	testing.TB // never called: every method the lab helpers use is below
	mu         sync.Mutex
	cleanups   []func()
	dir        string
	log        *os.File
	failed     bool
}

// labFatal is the panic value of Fatal; start() recovers it into an error.
type labFatal struct{ msg string }

func newLabTB(dir string) (*labTB, error) {
	old, _ := filepath.Glob(filepath.Join(dir, "lab-*"))
	for _, o := range old {
		if err := os.RemoveAll(o); err != nil {
			return nil, fmt.Errorf("clearing the last run's lab: %w", err)
		}
	}
	f, err := os.Create(filepath.Join(dir, "lab.log"))
	if err != nil {
		return nil, fmt.Errorf("lab log: %w", err)
	}
	return &labTB{dir: dir, log: f}, nil
}

func (t *labTB) Helper()         {}
func (t *labTB) Name() string    { return "demo" }
func (t *labTB) Failed() bool    { t.mu.Lock(); defer t.mu.Unlock(); return t.failed }
func (t *labTB) Log(args ...any) { fmt.Fprintln(t.log, args...) }
func (t *labTB) Logf(f string, args ...any) {
	fmt.Fprintf(t.log, f+"\n", args...)
}
func (t *labTB) Error(args ...any) { t.fail(); t.Log(args...) }
func (t *labTB) Errorf(f string, args ...any) {
	t.fail()
	t.Logf(f, args...)
}
func (t *labTB) Fatal(args ...any)            { t.fail(); panic(labFatal{fmt.Sprint(args...)}) }
func (t *labTB) Fatalf(f string, args ...any) { t.fail(); panic(labFatal{fmt.Sprintf(f, args...)}) }
func (t *labTB) Skip(args ...any)             { t.Fatal(args...) }
func (t *labTB) Skipf(f string, args ...any)  { t.Fatalf(f, args...) }
func (t *labTB) fail()                        { t.mu.Lock(); t.failed = true; t.mu.Unlock() }

func (t *labTB) TempDir() string {
	d, err := os.MkdirTemp(t.dir, "lab-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	// kept after the demo stops, for the daemons' logs; the next run clears them
	return d
}

func (t *labTB) Cleanup(fn func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, fn)
	t.mu.Unlock()
}

// close runs the cleanups, last registered first, as testing does.
func (t *labTB) close() error {
	t.mu.Lock()
	fns := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
	return t.log.Close()
}

// catch turns a lab helper's Fatal into an error.
func catch(err *error) {
	if r := recover(); r != nil {
		f, ok := r.(labFatal)
		if !ok {
			panic(r)
		}
		*err = fmt.Errorf("lab: %s", f.msg)
	}
}
