package dataplane

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"github.com/opengsi/gsi/router/fib"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("loading BPF programs needs root (run the tests as root, after make setup)")
		}
		t.Skip("loading BPF programs needs root")
	}
}

// bpffs mounts a private bpffs for pins, unmounted when the test ends.
func bpffs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		t.Fatalf("mounting bpffs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting bpffs: %v", err)
		}
	})
	return dir
}

func mustRoute(t *testing.T, tab *fib.Table, prefix string, hops ...fib.NextHop) {
	t.Helper()
	if _, err := tab.SetRoute(fib.Route{Prefix: netip.MustParsePrefix(prefix), NextHops: hops}); err != nil {
		t.Fatal(err)
	}
}

func mpls(addr string, label uint32) fib.NextHop {
	return fib.NextHop{Encap: fib.EncapMPLSoUDP, Address: netip.MustParseAddr(addr), Label: label}
}

func gre(addr string) fib.NextHop {
	return fib.NextHop{Encap: fib.EncapGRE, Address: netip.MustParseAddr(addr)}
}

// runUntilSynced starts Run and waits until the maps hold want routes.
func runUntil(t *testing.T, d *Dataplane, sub *fib.Subscription, cond func() bool) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sub) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("data plane did not reach the expected state")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cancel
}

func TestSyncProgramsRoutesAndLabelsFromTheTable(t *testing.T) {
	requireRoot(t)
	d, err := New(Config{Address: netip.MustParseAddr("10.0.1.2"), Log: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	tab := fib.New()
	mustRoute(t, tab, "10.9.0.5/32", mpls("10.0.2.2", 100), mpls("10.0.2.3", 200))
	mustRoute(t, tab, "10.1.0.0/16", gre("192.0.2.1"))
	if _, err := tab.SetLabel(fib.LocalLabel{Label: 30, VN: "ns/vn"}); err != nil {
		t.Fatal(err)
	}
	sub := tab.Subscribe()
	defer sub.Close()
	runUntil(t, d, sub, d.Synced)

	mustRoute(t, tab, "10.9.0.6/32", mpls("10.0.2.2", 101))
	tab.DeleteRoute(netip.MustParsePrefix("10.1.0.0/16"))
	want := []string{
		"10.9.0.5/32 -> mpls-udp label 100 via 10.0.2.2, mpls-udp label 200 via 10.0.2.3",
		"10.9.0.6/32 -> mpls-udp label 101 via 10.0.2.2",
	}
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err = d.ProgrammedRoutes()
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("routes in the map:\n%q\nwant\n%q", got, want)
	}
	labels, err := d.ProgrammedLabels()
	if err != nil || !slices.Equal(labels, []uint32{30}) {
		t.Fatalf("labels = %v, %v; want [30]", labels, err)
	}
}

func TestPinnedMapsAreAdoptedAndPrunedAfterARestart(t *testing.T) {
	requireRoot(t)
	pin := filepath.Join(bpffs(t), "gsi")
	cfg := Config{Address: netip.MustParseAddr("10.0.1.2"), PinPath: pin, Log: testr.New(t)}
	first, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tab := fib.New()
	mustRoute(t, tab, "10.9.0.5/32", mpls("10.0.2.2", 100))
	mustRoute(t, tab, "10.9.0.6/32", mpls("10.0.2.2", 101))
	sub := tab.Subscribe()
	cancel := runUntil(t, first, sub, first.Synced)
	cancel()
	sub.Close()
	// A crash: the process goes away without Close; the pinned maps stay.
	first.objs.Close()

	second, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := second.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(pin); !os.IsNotExist(err) {
			t.Errorf("pin directory left after Close: %v", err)
		}
	})
	adopted, err := second.ProgrammedRoutes()
	if err != nil || len(adopted) != 2 {
		t.Fatalf("adopted routes = %q, %v; want the 2 of the first run", adopted, err)
	}
	tab.DeleteRoute(netip.MustParsePrefix("10.9.0.6/32"))
	sub2 := tab.Subscribe()
	defer sub2.Close()
	runUntil(t, second, sub2, second.Synced)
	got, err := second.ProgrammedRoutes()
	if err != nil || !slices.Equal(got, []string{"10.9.0.5/32 -> mpls-udp label 100 via 10.0.2.2"}) {
		t.Fatalf("routes after resync = %q, %v", got, err)
	}
}

func TestMetricsExposeCountersByDirectionAndReason(t *testing.T) {
	requireRoot(t)
	d, err := New(Config{Address: netip.MustParseAddr("10.0.1.2"), Log: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(d); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string][]string{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				labels[f.GetName()] = append(labels[f.GetName()], l.GetValue())
			}
		}
	}
	for name, want := range map[string][]string{
		"gsi_dataplane_forwarded_packets_total": {"gre_to_mpls", "mpls_to_gre", "gre_to_local", "local_to_gre"},
		"gsi_dataplane_dropped_packets_total":   {"no_route", "unknown_label", "too_big", "ttl_exceeded", "gso"},
		"gsi_dataplane_icmp_errors_sent_total":  {"frag_needed", "time_exceeded", "net_unreachable"},
	} {
		for _, w := range want {
			if !slices.Contains(labels[name], w) {
				t.Errorf("%s has no %q series: %v", name, w, labels[name])
			}
		}
	}
	if err := testutil.CollectAndCompare(d, strings.NewReader(`
# HELP gsi_dataplane_routes Routes programmed into the data plane.
# TYPE gsi_dataplane_routes gauge
gsi_dataplane_routes 0
`), "gsi_dataplane_routes"); err != nil {
		t.Fatal(err)
	}
}
