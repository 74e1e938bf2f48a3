package netlab

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestLinkedHostsReachEachOtherAndAreRemoved(t *testing.T) {
	var ns []string
	t.Run("lab", func(t *testing.T) {
		lab := New(t)
		a, b := lab.Host("a"), lab.Host("b")
		ns = []string{a.NS, b.NS}
		lab.Link(a, b, "10.99.0.1/30", "10.99.0.2/30")
		out := a.Run(t, "ip", "-o", "addr", "show")
		if !strings.Contains(out, "10.99.0.1/30") {
			t.Fatalf("address missing in %s:\n%s", a.Name, out)
		}
		p := b.Start(t, "sleeper", "sleep", "600")
		if p.Exited() {
			t.Fatal("daemon exited at once")
		}
		// the route table of b sees a's address as directly connected
		route := b.Run(t, "ip", "route", "get", "10.99.0.1")
		if !strings.Contains(route, "dev to-a") {
			t.Fatalf("route to a: %s", route)
		}
		p.Stop()
		if !p.Exited() {
			t.Fatal("Stop returned before the process ended")
		}
	})
	if ns == nil {
		return
	}
	out := mustOutput(t, "ip", "netns", "list")
	for _, n := range ns {
		if strings.Contains(out, n) {
			t.Errorf("namespace %s left behind", n)
		}
	}
}

func TestEventuallyReturnsOnceConditionHolds(t *testing.T) {
	calls := 0
	Eventually(t, time.Second, time.Millisecond, func() error {
		calls++
		if calls < 3 {
			return errFake
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("calls = %d, want 3", calls)
	}
}

var errFake = fakeErr("not yet")

type fakeErr string

func (e fakeErr) Error() string { return string(e) }

func mustOutput(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := execOutput(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func execOutput(name string, args ...string) (string, error) {
	b, err := exec.Command(name, args...).Output()
	return string(b), err
}
