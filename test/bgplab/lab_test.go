package bgplab

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/debug"
	"github.com/opengsi/gsi/router/status"
	"github.com/opengsi/gsi/test/netlab"
)

const (
	routerASN = 64513
	ctlASN    = 64512
)

var (
	// short timers so recovery is measured against a short hold time; the product
	// default (10 s / 30 s) is only longer.
	labTimers = config.Timers{
		Keepalive:    config.Duration{Duration: 3 * time.Second},
		Hold:         config.Duration{Duration: 15 * time.Second},
		ConnectRetry: config.Duration{Duration: time.Second},
	}
	rt1, rt2, rt3, rtHidden = config.RouteTarget{ASN: ctlASN, Value: 8000001}, config.RouteTarget{ASN: ctlASN, Value: 8000002},
		config.RouteTarget{ASN: ctlASN, Value: 8000003}, config.RouteTarget{ASN: ctlASN, Value: 8000009}
	vn1 = config.VN{Name: "default/vn1", Subnets: []netip.Prefix{pfx("10.1.0.0/24")}, RouteTarget: rt1}
	vn2 = config.VN{Name: "default/vn2", Subnets: []netip.Prefix{pfx("10.2.0.0/24")}, RouteTarget: rt2}
	// vn3 is exposed but has no pods: never advertised to the TGW.
	vn3 = config.VN{Name: "default/vn3", Subnets: []netip.Prefix{pfx("10.3.0.0/24")}, RouteTarget: rt3}
	vpc = []netip.Prefix{pfx("172.30.0.0/16"), pfx("172.31.0.0/16")}

	podsVN1 = VNRoutes{Name: "vn1", RouteTarget: rt1, Encap: EncapMPLSoUDP, Pods: []Pod{
		{RD: "10.20.0.11:1", Prefix: pfx("10.1.0.5/32"), VRouter: VRouters[0], Label: 30},
		{RD: "10.20.0.12:1", Prefix: pfx("10.1.0.5/32"), VRouter: VRouters[1], Label: 31}, // same pod IP on two vRouters: ECMP
		{RD: "10.20.0.11:1", Prefix: pfx("10.1.0.6/32"), VRouter: VRouters[0], Label: 32},
	}}
	// a pod reachable only by MPLS over GRE: the data plane cannot reach it
	podsVN1GRE = VNRoutes{Name: "vn1gre", RouteTarget: rt1, Encap: EncapMPLSoGRE, Pods: []Pod{
		{RD: "10.20.0.12:1", Prefix: pfx("10.1.0.8/32"), VRouter: VRouters[1], Label: 33},
	}}
	podsVN2 = VNRoutes{Name: "vn2", RouteTarget: rt2, Encap: EncapMPLSoUDP, Pods: []Pod{
		{RD: "10.20.0.12:2", Prefix: pfx("10.2.0.7/32"), VRouter: VRouters[1], Label: 40},
	}}
	// a VN nobody exposed: its routes must not reach the FIB
	podsHidden = VNRoutes{Name: "hidden", RouteTarget: rtHidden, Encap: EncapMPLSoUDP, Pods: []Pod{
		{RD: "10.20.0.11:9", Prefix: pfx("10.9.0.5/32"), VRouter: VRouters[0], Label: 50},
	}}
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

type env struct {
	top    *Topology
	tgws   []*FRR
	ctl    *BIRD
	ctlCfg ControlNodeConfig
	router *Router
	cfg    config.Config
}

func startLab(t *testing.T, tgwASN uint32, vns []config.VN, pods []VNRoutes) *env {
	t.Helper()
	netlab.Require(t, BGPD, "vtysh", "bird", "birdc", "curl", "tshark")
	e := &env{top: NewTopology(t)}
	for _, a := range TGWAddrs {
		e.tgws = append(e.tgws, StartFRR(t, e.top.TGW, TGWConfig{
			Address: a, ASN: tgwASN, Peer: RouterTGWAddr, PeerASN: routerASN, Networks: vpc,
			Keepalive: labTimers.Keepalive.Duration, Hold: labTimers.Hold.Duration,
		}))
	}
	e.ctlCfg = ControlNodeConfig{
		Address: CtlAddr, ASN: ctlASN, VNs: pods,
		Peers:     []BIRDPeer{{Name: "gsi", Address: RouterCtlAddr, ASN: ctlASN}},
		Keepalive: labTimers.Keepalive.Duration, Hold: labTimers.Hold.Duration,
	}
	e.ctl = StartBIRD(t, e.top.Ctl, "bird-ctl", e.ctlCfg)
	e.cfg = RouterConfig(routerASN, tgwASN, ctlASN, labTimers, vns)
	e.router = StartRouter(t, e.top.RouterHost, routerBin, e.cfg)
	return e
}

// waitEstablished waits for every session the router has to be up.
func (e *env) waitEstablished(t *testing.T, timeout time.Duration) {
	t.Helper()
	netlab.Eventually(t, timeout, 100*time.Millisecond, func() error {
		ses, err := e.router.Sessions()
		if err != nil {
			return err
		}
		if len(ses) != 3 {
			return fmt.Errorf("%d sessions, want 3: %+v", len(ses), ses)
		}
		for _, s := range ses {
			if !s.Established() {
				return fmt.Errorf("session %s (%s) is %s", s.Peer, s.Role, s.State)
			}
		}
		return nil
	})
}

// tgwLearned checks that every TGW bgpd holds exactly want from the router.
func (e *env) tgwLearned(want ...netip.Prefix) error {
	for _, f := range e.tgws {
		got, err := f.Learned()
		if err != nil {
			return err
		}
		if keys := slices.SortedFunc(maps.Keys(got), netip.Prefix.Compare); !slices.Equal(keys, sorted(want)) {
			return fmt.Errorf("TGW %s holds %v from the router, want %v", f.Config.Address, keys, sorted(want))
		}
	}
	return nil
}

func sorted(p []netip.Prefix) []netip.Prefix {
	out := slices.Clone(p)
	slices.SortFunc(out, netip.Prefix.Compare)
	if out == nil {
		out = []netip.Prefix{}
	}
	return out
}

// exportsAtCtl returns the control node's routes learned from the router, by RD:prefix.
func (e *env) exportsAtCtl() (map[string]BIRDRoute, error) {
	routes, err := e.ctl.Routes()
	if err != nil {
		return nil, err
	}
	out := map[string]BIRDRoute{}
	for _, r := range routes {
		if r.Proto == "gsi" {
			out[r.RD+" "+r.Prefix.String()] = r
		}
	}
	return out, nil
}

// wantExports is what the control node must hold: every VPC prefix in every exposed VN.
func wantExports(vns map[uint32]config.RouteTarget) []string {
	var keys []string
	for label := range vns {
		for _, p := range vpc {
			keys = append(keys, fmt.Sprintf("%s:%d %s", RouterTGWAddr, label, p))
		}
	}
	slices.Sort(keys)
	return keys
}

func (e *env) checkExports(vns map[uint32]config.RouteTarget) error {
	got, err := e.exportsAtCtl()
	if err != nil {
		return err
	}
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, wantExports(vns)) {
		return fmt.Errorf("control node holds %v from the router, want %v", keys, wantExports(vns))
	}
	for label, rt := range vns {
		for _, p := range vpc {
			r := got[fmt.Sprintf("%s:%d %s", RouterTGWAddr, label, p)]
			wantRT := fmt.Sprintf("(rt, %d, %d)", rt.ASN, rt.Value)
			switch {
			case r.NextHop != RouterCtlAddr:
				return fmt.Errorf("%s %s: next hop %s, want %s", r.RD, p, r.NextHop, RouterCtlAddr)
			case !slices.Equal(r.Labels, []uint32{label}):
				return fmt.Errorf("%s %s: labels %v, want [%d]", r.RD, p, r.Labels, label)
			case !slices.Contains(r.ExtCommunities, wantRT):
				return fmt.Errorf("%s %s: communities %v lack %s", r.RD, p, r.ExtCommunities, wantRT)
			case !slices.Contains(r.ExtCommunities, "(generic, 0x30c0000, 0xd)"):
				return fmt.Errorf("%s %s: communities %v lack the MPLS-in-UDP encapsulation", r.RD, p, r.ExtCommunities)
			case len(r.ExtCommunities) != 2:
				return fmt.Errorf("%s %s: communities %v, want exactly the route target and the encapsulation", r.RD, p, r.ExtCommunities)
			}
		}
	}
	return nil
}

func mplsHop(addr netip.Addr, label uint32) debug.HopView {
	return debug.HopView{Encap: "mpls-udp", Address: addr, Label: label}
}

// checkFIB compares the router's forwarding table with want (prefix → VN and hops).
func (e *env) checkFIB(want map[netip.Prefix]debug.RouteView, labels []debug.LabelView) error {
	v, err := e.router.FIB()
	if err != nil {
		return err
	}
	got := map[netip.Prefix]debug.RouteView{}
	for _, r := range v.Routes {
		got[r.Prefix] = r
	}
	for _, p := range slices.SortedFunc(maps.Keys(want), netip.Prefix.Compare) {
		w := want[p]
		w.Prefix = p
		if g, ok := got[p]; !ok || g.VN != w.VN || !slices.Equal(g.NextHops, w.NextHops) {
			return fmt.Errorf("FIB %s = %+v, want %+v", p, g, w)
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("FIB has %v, want exactly %v", slices.SortedFunc(maps.Keys(got), netip.Prefix.Compare), slices.SortedFunc(maps.Keys(want), netip.Prefix.Compare))
	}
	if !slices.Equal(v.Labels, labels) {
		return fmt.Errorf("FIB labels %+v, want %+v", v.Labels, labels)
	}
	return nil
}

func vpcRoutes(into map[netip.Prefix]debug.RouteView) map[netip.Prefix]debug.RouteView {
	for _, p := range vpc {
		into[p] = debug.RouteView{NextHops: []debug.HopView{{Encap: "gre", Address: TunnelRemote}}}
	}
	return into
}

// TestRouterOverEBGP runs the whole control plane against FRR (TGW, eBGP) and BIRD
// (control node) and checks what each side holds as the VNs and pods change.
func TestRouterOverEBGP(t *testing.T) {
	const tgwASN = 64520
	e := startLab(t, tgwASN, []config.VN{vn1, vn2, vn3}, []VNRoutes{podsVN1, podsVN1GRE, podsVN2, podsHidden})
	e.waitEstablished(t, 30*time.Second)

	netlab.Eventually(t, 15*time.Second, 200*time.Millisecond, func() error {
		return e.tgwLearned(pfx("10.1.0.0/24"), pfx("10.2.0.0/24"))
	})
	for _, f := range e.tgws {
		learned, err := f.Learned()
		if err != nil {
			t.Fatal(err)
		}
		for p, path := range learned {
			nh := ""
			if len(path.NextHops) == 1 {
				nh = path.NextHops[0].IP
			}
			// identical on every router: AS path of the router's AS only, IGP, no MED
			if !path.Valid || path.ASPath != fmt.Sprint(routerASN) || path.Origin != "IGP" || path.MED != nil || nh != RouterTGWAddr.String() {
				t.Errorf("TGW %s: %s = %+v, want valid, AS path %d, IGP, no MED, next hop %s", f.Config.Address, p, path, routerASN, RouterTGWAddr)
			}
		}
	}

	labels := map[uint32]config.RouteTarget{1000: rt1, 1001: rt2, 1002: rt3}
	netlab.Eventually(t, 15*time.Second, 200*time.Millisecond, func() error { return e.checkExports(labels) })

	// eBGP across the Connect peer: the router's BGP packets leave with TTL 2 (keepalives
	// every 3 s, so two of them within 10 s)
	ttls := e.top.BGPTTLs(t, 2, 10*time.Second)
	t.Logf("IP TTLs of the router's BGP packets to the TGW (tshark): %v", ttls)
	if len(ttls) == 0 || slices.ContainsFunc(ttls, func(s string) bool { return s != "2" }) {
		t.Errorf("TTLs of the router's BGP packets to the TGW: %v, want 2", ttls)
	}

	fibWant := vpcRoutes(map[netip.Prefix]debug.RouteView{
		pfx("10.1.0.5/32"): {VN: vn1.Name, NextHops: []debug.HopView{mplsHop(VRouters[0], 30), mplsHop(VRouters[1], 31)}},
		pfx("10.1.0.6/32"): {VN: vn1.Name, NextHops: []debug.HopView{mplsHop(VRouters[0], 32)}},
		pfx("10.2.0.7/32"): {VN: vn2.Name, NextHops: []debug.HopView{mplsHop(VRouters[1], 40)}},
	})
	fibLabels := []debug.LabelView{{Label: 1000, VN: vn1.Name}, {Label: 1001, VN: vn2.Name}, {Label: 1002, VN: vn3.Name}}
	netlab.Eventually(t, 10*time.Second, 200*time.Millisecond, func() error { return e.checkFIB(fibWant, fibLabels) })
	ses, err := e.router.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ses {
		// TGW: the two aggregates; control node: 2 VPC prefixes × 3 VNs + 3 route-target
		// memberships out, every pod route of the feed in (the router filters, not BIRD)
		want := map[status.Role][2]uint64{status.RoleTGW: {2, 0}, status.RoleControlNode: {9, 6}}[s.Role]
		if s.Advertised != want[0] || (s.Role == status.RoleControlNode && s.Received != want[1]) || s.Since.IsZero() {
			t.Errorf("session %+v: want advertised %d (received %d for the control node)", s, want[0], want[1])
		}
	}
	if n, err := e.router.Metric(`gsi_router_paths_rejected_total{reason="no-mpls-in-udp"}`); err != nil || n < 1 {
		t.Errorf("the MPLS-over-GRE-only pod was not counted as rejected: %v %v", n, err)
	}

	t.Run("last pod route of a VN goes", func(t *testing.T) {
		cfg := e.ctlCfg
		cfg.VNs = []VNRoutes{podsVN1, podsVN1GRE, podsHidden}
		if err := e.ctl.Reconfigure(cfg); err != nil {
			t.Fatal(err)
		}
		netlab.Eventually(t, 10*time.Second, 200*time.Millisecond, func() error { return e.tgwLearned(pfx("10.1.0.0/24")) })
		delete(fibWant, pfx("10.2.0.7/32"))
		netlab.Eventually(t, 10*time.Second, 200*time.Millisecond, func() error { return e.checkFIB(fibWant, fibLabels) })
		// still exposed: the VPC prefixes stay exported into it
		if err := e.checkExports(labels); err != nil {
			t.Error(err)
		}
	})

	t.Run("unexposing a VN withdraws it everywhere", func(t *testing.T) {
		cfg := e.cfg
		cfg.VNs = []config.VN{vn2, vn3}
		if err := e.router.Write(cfg); err != nil {
			t.Fatal(err)
		}
		netlab.Eventually(t, 10*time.Second, 200*time.Millisecond, func() error { return e.tgwLearned() })
		delete(labels, 1000)
		netlab.Eventually(t, 10*time.Second, 200*time.Millisecond, func() error { return e.checkExports(labels) })
		fibWant = vpcRoutes(map[netip.Prefix]debug.RouteView{})
		netlab.Eventually(t, 10*time.Second, 200*time.Millisecond, func() error { return e.checkFIB(fibWant, fibLabels[1:]) })
	})

	t.Run("a global change restarts the speaker", func(t *testing.T) {
		cfg := e.cfg
		cfg.VNs = []config.VN{vn2, vn3}
		cfg.LabelBase = 2000
		if err := e.router.Write(cfg); err != nil {
			t.Fatal(err)
		}
		// new labels and RDs everywhere, the old ones withdrawn
		netlab.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
			return e.checkExports(map[uint32]config.RouteTarget{2000: rt2, 2001: rt3})
		})
		labels := []debug.LabelView{{Label: 2000, VN: vn2.Name}, {Label: 2001, VN: vn3.Name}}
		netlab.Eventually(t, 10*time.Second, 200*time.Millisecond, func() error { return e.checkFIB(fibWant, labels) })
		e.waitEstablished(t, 20*time.Second)
	})
}

// TestRecoveryWithinHoldTime flaps each session and restarts the router, over iBGP to
// the TGW (the CN2 default: peer ASN = transit ASN), and requires every peer to hold the
// router's routes again within the hold time.
func TestRecoveryWithinHoldTime(t *testing.T) {
	e := startLab(t, routerASN, []config.VN{vn1, vn2}, []VNRoutes{podsVN1, podsVN2})
	hold := labTimers.Hold.Duration
	e.waitEstablished(t, 30*time.Second)
	aggregates := []netip.Prefix{pfx("10.1.0.0/24"), pfx("10.2.0.0/24")}
	labels := map[uint32]config.RouteTarget{1000: rt1, 1001: rt2}
	converged := func() error {
		if err := e.tgwLearned(aggregates...); err != nil {
			return err
		}
		if err := e.checkExports(labels); err != nil {
			return err
		}
		fib, err := e.router.FIB()
		if err != nil {
			return err
		}
		if len(fib.Routes) != 3+len(vpc) {
			return fmt.Errorf("FIB has %d routes, want %d", len(fib.Routes), 3+len(vpc))
		}
		return nil
	}
	netlab.Eventually(t, 15*time.Second, 200*time.Millisecond, converged)
	for _, f := range e.tgws {
		learned, err := f.Learned()
		if err != nil {
			t.Fatal(err)
		}
		for p, path := range learned {
			// iBGP: next hop self, local preference, empty AS path
			if path.NextHops[0].IP != RouterTGWAddr.String() || path.LocalPref == nil || *path.LocalPref != 100 || path.ASPath != "" {
				t.Errorf("TGW %s over iBGP: %s = %+v", f.Config.Address, p, path)
			}
		}
	}

	recover := func(t *testing.T, what string, disrupt func()) {
		t.Helper()
		start := time.Now()
		disrupt()
		netlab.Eventually(t, 2*hold, 100*time.Millisecond, converged)
		took := time.Since(start)
		t.Logf("%s: recovered in %s (hold time %s)", what, took.Round(10*time.Millisecond), hold)
		if took >= hold {
			t.Errorf("%s: recovery took %s, not within the hold time %s", what, took, hold)
		}
	}

	t.Run("TGW session flap", func(t *testing.T) {
		before, err := e.tgws[0].Neighbor()
		if err != nil {
			t.Fatal(err)
		}
		recover(t, "TGW session flap", func() {
			if _, err := e.tgws[0].VTY("clear bgp " + RouterTGWAddr.String()); err != nil {
				t.Fatal(err)
			}
			// the flap happened: FRR counts the dropped connection
			netlab.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
				n, err := e.tgws[0].Neighbor()
				if err == nil && n.Dropped <= before.Dropped {
					err = fmt.Errorf("FRR dropped %d connections, as before the clear", n.Dropped)
				}
				return err
			})
		})
	})

	t.Run("control node session flap", func(t *testing.T) {
		recover(t, "control node session flap", func() {
			out, err := e.ctl.Birdc("restart", "gsi")
			if err != nil || !strings.Contains(out, "restarted") {
				t.Fatalf("birdc restart gsi: %v %s", err, out)
			}
		})
	})

	t.Run("router crash and restart", func(t *testing.T) {
		recover(t, "router crash and restart", func() {
			e.router.Proc.Kill()
			e.router.Start()
		})
	})

	t.Run("router shutdown withdraws at once", func(t *testing.T) {
		e.router.Proc.Stop()
		// well inside the hold time: the peers were told, not left to time out
		netlab.Eventually(t, 3*time.Second, 100*time.Millisecond, func() error {
			if err := e.tgwLearned(); err != nil {
				return err
			}
			return e.checkExports(nil)
		})
	})
}
