package bgplab

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/test/netlab"
)

const (
	benchVNs       = 100
	benchPodsPerVN = 1000
	benchVRouters  = 10
)

// benchFeed is 100 VNs of 1,000 pods each, spread over ten vRouters.
func benchFeed() ([]config.VN, []VNRoutes) {
	var vns []config.VN
	var feed []VNRoutes
	for i := range benchVNs {
		rt := config.RouteTarget{ASN: ctlASN, Value: 8000100 + uint32(i)}
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i + 1), 0, 0}), 22)
		vns = append(vns, config.VN{Name: fmt.Sprintf("bench/vn%03d", i), Subnets: []netip.Prefix{subnet}, RouteTarget: rt})
		r := VNRoutes{Name: fmt.Sprintf("vn%03d", i), RouteTarget: rt, Encap: EncapMPLSoUDP}
		for j := range benchPodsPerVN {
			vr := netip.AddrFrom4([4]byte{10, 20, 0, byte(11 + j%benchVRouters)})
			pod := netip.AddrFrom4([4]byte{10, byte(i + 1), byte(j / 256), byte(j % 256)})
			r.Pods = append(r.Pods, Pod{RD: fmt.Sprintf("%s:%d", vr, i+1), Prefix: netip.PrefixFrom(pod, 32), VRouter: vr, Label: 16 + uint32(j)})
		}
		feed = append(feed, r)
	}
	return vns, feed
}

// BenchmarkPodRouteFeed feeds 100,000 pod routes in 100 VNs from a BIRD control node to
// gsi-router and, in the same run, to a second BIRD. It reports the time from the
// sessions' start until gsi-router's forwarding table holds every route and the TGW
// (FRR) holds every VN aggregate, the time until the second BIRD's table holds every
// route, and both processes' peak RSS.
func BenchmarkPodRouteFeed(b *testing.B) {
	netlab.Require(b, BGPD, "vtysh", "bird", "birdc", "curl")
	for range b.N {
		benchOnce(b)
	}
}

func benchOnce(b *testing.B) {
	vns, feed := benchFeed()
	total := benchVNs * benchPodsPerVN
	top := NewTopology(b)
	peer := top.Net.Host("birdb")
	top.Net.Link(top.Ctl, peer, "10.11.0.1/30", "10.11.0.2/30")

	tgw := StartFRR(b, top.TGW, TGWConfig{Address: TGWAddrs[0], ASN: 64520, Peer: RouterTGWAddr, PeerASN: routerASN,
		Keepalive: labTimers.Keepalive.Duration, Hold: labTimers.Hold.Duration})
	receiver := StartBIRD(b, peer, "bird-receiver", ControlNodeConfig{
		Address: netip.MustParseAddr("10.11.0.2"), ASN: ctlASN,
		Peers:     []BIRDPeer{{Name: "feeder", Address: netip.MustParseAddr("10.11.0.1"), ASN: ctlASN}},
		Resolve:   []StaticRoute{{Prefix: netip.MustParsePrefix("10.20.0.0/24"), Via: netip.MustParseAddr("10.11.0.1")}},
		Keepalive: labTimers.Keepalive.Duration, Hold: labTimers.Hold.Duration,
	})
	cfg := RouterConfig(routerASN, 64520, ctlASN, labTimers, vns)
	cfg.TGW.Peers = TGWAddrs[:1]
	router := StartRouter(b, top.RouterHost, routerBin, cfg)
	feeder := StartBIRD(b, top.Ctl, "bird-feeder", ControlNodeConfig{
		Address: CtlAddr, ASN: ctlASN, VNs: feed, Disabled: true,
		Peers: []BIRDPeer{
			{Name: "gsi", Address: RouterCtlAddr, ASN: ctlASN},
			{Name: "receiver", Address: netip.MustParseAddr("10.11.0.2"), ASN: ctlASN, Local: netip.MustParseAddr("10.11.0.1")},
		},
		Keepalive: labTimers.Keepalive.Duration, Hold: labTimers.Hold.Duration,
	})
	netlab.Eventually(b, 2*time.Minute, 200*time.Millisecond, func() error {
		n, err := feeder.Count()
		if err == nil && n != total {
			err = fmt.Errorf("feeder holds %d of %d routes", n, total)
		}
		return err
	})

	b.ResetTimer()
	start := time.Now()
	if out, err := feeder.Birdc("enable", "all"); err != nil {
		b.Fatalf("enable feeder sessions: %v %s", err, out)
	}
	var wg sync.WaitGroup
	if path := os.Getenv("GSI_BENCH_CPU_PROFILE"); path != "" {
		// the router's CPU over the feed, for `go tool pprof`
		wg.Go(func() {
			router.Host.Run(b, "curl", "-sf", "-o", path, "http://127.0.0.1:9179/debug/pprof/profile?seconds=15")
		})
	}
	var gsiTook, birdTook time.Duration
	wg.Go(func() {
		gsiTook = waitFor(b, "gsi-router", start, func() (bool, error) {
			n, err := router.Metric("gsi_router_fib_routes")
			if err != nil || int(n) < total {
				if err == nil {
					err = fmt.Errorf("%d routes in the FIB", int(n))
				}
				return false, err
			}
			learned, err := tgw.Learned()
			if err == nil && len(learned) != benchVNs {
				err = fmt.Errorf("FRR holds %d aggregates", len(learned))
			}
			return err == nil, err
		})
	})
	wg.Go(func() {
		birdTook = waitFor(b, "BIRD", start, func() (bool, error) {
			n, err := receiver.Count()
			if err == nil && n < total {
				err = fmt.Errorf("%d routes in the table", n)
			}
			return err == nil, err
		})
	})
	wg.Wait()
	b.StopTimer()

	gsiRSS, birdRSS := peakRSS(b, router.Proc), peakRSS(b, receiver.Proc)
	if path := os.Getenv("GSI_BENCH_HEAP_PROFILE"); path != "" {
		// for `go tool pprof`: where gsi-router's memory went at the end of the feed
		router.Host.Run(b, "curl", "-sf", "-o", path, "http://127.0.0.1:9179/debug/pprof/heap")
	}
	b.ReportMetric(gsiTook.Seconds(), "gsi-s")
	b.ReportMetric(birdTook.Seconds(), "bird-s")
	b.ReportMetric(gsiRSS/1024, "gsi-peak-MiB")
	b.ReportMetric(birdRSS/1024, "bird-peak-MiB")
	b.ReportMetric(gsiTook.Seconds()/birdTook.Seconds(), "time-ratio")
	b.ReportMetric(gsiRSS/birdRSS, "rss-ratio")
	fmt.Printf("\n%d pod routes in %d VNs from BIRD, sessions started together:\n", total, benchVNs)
	fmt.Printf("  %-44s %8s  %10s\n", "", "time", "peak RSS")
	fmt.Printf("  %-44s %8s  %7.1f MiB\n", "gsi-router (FIB full + 100 aggregates at FRR)", gsiTook.Round(10*time.Millisecond), gsiRSS/1024)
	fmt.Printf("  %-44s %8s  %7.1f MiB\n", "BIRD 2 receiver (table full)", birdTook.Round(10*time.Millisecond), birdRSS/1024)
	fmt.Printf("  %-44s %8.2f  %10.2f\n\n", "ratio gsi-router / BIRD", gsiTook.Seconds()/birdTook.Seconds(), gsiRSS/birdRSS)
}

// waitFor polls done until it reports true and returns the time since start; the
// reason it is not done yet is logged every few seconds (progress, with -v).
func waitFor(b *testing.B, what string, start time.Time, done func() (bool, error)) time.Duration {
	deadline := start.Add(5 * time.Minute)
	var lastErr error
	lastLog := start
	for time.Now().Before(deadline) {
		ok, err := done()
		if ok {
			return time.Since(start)
		}
		lastErr = err
		if time.Since(lastLog) >= 2*time.Second {
			b.Logf("%s after %s: %v", what, time.Since(start).Round(time.Second), err)
			lastLog = time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Errorf("not done within 5 minutes (last error: %v)", lastErr)
	return time.Since(start)
}

// peakRSS returns a process's peak resident set size in KiB (VmHWM).
func peakRSS(b *testing.B, p *netlab.Process) float64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		b.Fatalf("peak RSS: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatalf("peak RSS %q: %v", line, err)
			}
			return kb
		}
	}
	b.Fatalf("peak RSS: no VmHWM in /proc/%d/status", p.Cmd.Process.Pid)
	return 0
}
