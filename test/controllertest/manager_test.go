package controllertest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opengsi/gsi/controller/manager"
)

// TestManagerProbesMetricsLeaderElection runs two replicas with leader election: one
// leads, both answer their probes, metrics are served, and the standby takes over when
// the leader stops.
func TestManagerProbesMetricsLeaderElection(t *testing.T) {
	h := newHarness(t, harnessOptions{nodes: 0})
	type replica struct {
		probe, metrics string
		mgr            interface{ Elected() <-chan struct{} }
		stop           context.CancelFunc
		done           chan struct{}
	}
	start := func() *replica {
		o := h.opts
		o.AWSEndpoint = "http://" + h.simAddr
		o.LeaderElect, o.LeaderElectionNamespace = true, h.ns
		o.ProbeAddr, o.MetricsAddr = freeAddr(t), freeAddr(t)
		mgr, err := manager.New(env.Config, o)
		h.must(err)
		ctx, cancel := context.WithCancel(h.ctx)
		r := &replica{probe: o.ProbeAddr, metrics: o.MetricsAddr, mgr: mgr, stop: cancel, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			if err := mgr.Start(ctx); err != nil {
				t.Logf("manager: %v", err)
			}
		}()
		t.Cleanup(func() { cancel(); <-r.done })
		return r
	}
	a := start()
	select {
	case <-a.mgr.Elected():
	case <-time.After(30 * time.Second):
		t.Fatal("first replica not elected")
	}
	b := start()
	for _, r := range []*replica{a, b} {
		for _, path := range []string{"/healthz", "/readyz"} {
			eventually(t, 10*time.Second, "probe "+path, func() error { return get("http://"+r.probe+path, "") })
		}
	}
	eventually(t, 10*time.Second, "metrics", func() error { return get("http://"+a.metrics+"/metrics", "controller_runtime_reconcile_total") })
	select {
	case <-b.mgr.Elected():
		t.Fatal("both replicas lead")
	case <-time.After(500 * time.Millisecond):
	}
	a.stop() // releases the lease on the way out
	<-a.done
	select {
	case <-b.mgr.Elected():
	case <-time.After(30 * time.Second):
		t.Fatal("the standby did not take over")
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(url, want string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	if want != "" && !strings.Contains(string(body), want) {
		return fmt.Errorf("%s: no %q", url, want)
	}
	return nil
}
