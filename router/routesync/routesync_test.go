package routesync

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/go-logr/logr"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/fib"
)

// fakeAdv keeps what is announced, and fails on inconsistent calls (a withdrawal of
// something never announced, or a duplicate announcement) since those would be bugs.
type fakeAdv struct {
	t          *testing.T
	aggregates map[netip.Prefix]bool
	exports    map[Export]bool
	members    map[config.RouteTarget]bool
}

func newFake(t *testing.T) *fakeAdv {
	return &fakeAdv{t: t, aggregates: map[netip.Prefix]bool{}, exports: map[Export]bool{}, members: map[config.RouteTarget]bool{}}
}

func flip[K comparable](t *testing.T, m map[K]bool, k K, announce bool) {
	t.Helper()
	if m[k] == announce {
		t.Errorf("announce=%v of %v twice", announce, k)
	}
	if announce {
		m[k] = true
	} else {
		delete(m, k)
	}
}

func (f *fakeAdv) Aggregate(p netip.Prefix, a bool) error { flip(f.t, f.aggregates, p, a); return nil }
func (f *fakeAdv) Export(e Export, a bool) error          { flip(f.t, f.exports, e, a); return nil }
func (f *fakeAdv) Membership(rt config.RouteTarget, a bool) error {
	flip(f.t, f.members, rt, a)
	return nil
}

var (
	rt1 = config.RouteTarget{ASN: 64512, Value: 8000001}
	rt2 = config.RouteTarget{ASN: 64512, Value: 8000002}
	vn1 = config.VN{Name: "ns/vn1", Subnets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}, RouteTarget: rt1}
	vn2 = config.VN{Name: "ns/vn2", Subnets: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}, RouteTarget: rt2}
	gre = netip.MustParseAddr("192.0.2.1")
)

func pod(rd, prefix, nh string, label uint32, rts ...config.RouteTarget) VPNPath {
	return VPNPath{RD: RD(rd), Prefix: netip.MustParsePrefix(prefix), NextHop: netip.MustParseAddr(nh), Label: label, RouteTargets: rts, MPLSoUDP: true}
}

func setup(t *testing.T) (*Syncer, *fib.Table, *fakeAdv) {
	table := fib.New()
	adv := newFake(t)
	s := New(logr.Discard(), table, adv, netip.MustParseAddr("169.254.10.1"), 1000, func(netip.Addr) netip.Addr { return gre })
	if _, err := s.SetVNs([]config.VN{vn1, vn2}); err != nil {
		t.Fatal(err)
	}
	return s, table, adv
}

func TestPodRoutesECMPAndAggregates(t *testing.T) {
	s, table, adv := setup(t)
	must(t, s.UpdateVPN([]VPNPath{
		pod("10.20.0.11:1", "10.1.0.5/32", "10.20.0.11", 30, rt1),
		pod("10.20.0.12:1", "10.1.0.5/32", "10.20.0.12", 31, rt1),
		pod("10.20.0.11:9", "10.9.0.5/32", "10.20.0.11", 32, config.RouteTarget{ASN: 1, Value: 1}),                                                                         // not exposed
		{RD: "10.20.0.13:1", Prefix: netip.MustParsePrefix("10.1.0.6/32"), NextHop: netip.MustParseAddr("10.20.0.13"), Label: 33, RouteTargets: []config.RouteTarget{rt1}}, // GRE only
	}))
	r, ok := table.Route(netip.MustParsePrefix("10.1.0.5/32"))
	if !ok || len(r.NextHops) != 2 || r.VN != "ns/vn1" || r.NextHops[0].Label != 30 || r.NextHops[1].Address != netip.MustParseAddr("10.20.0.12") {
		t.Fatalf("ECMP route = %+v, %v", r, ok)
	}
	if n, _ := table.Len(); n != 1 {
		t.Errorf("fib has %d routes, want 1 (unexposed and non-UDP paths ignored)", n)
	}
	if !adv.aggregates[vn1.Subnets[0]] || adv.aggregates[vn2.Subnets[0]] {
		t.Errorf("aggregates = %v, want only vn1's", adv.aggregates)
	}
	// One of two vRouters goes: still reachable. The other goes: withdrawn.
	must(t, s.UpdateVPN([]VPNPath{{RD: "10.20.0.11:1", Prefix: netip.MustParsePrefix("10.1.0.5/32"), Withdrawn: true}}))
	if r, _ := table.Route(netip.MustParsePrefix("10.1.0.5/32")); len(r.NextHops) != 1 || !adv.aggregates[vn1.Subnets[0]] {
		t.Fatalf("after one withdrawal: %+v, aggregates %v", r, adv.aggregates)
	}
	must(t, s.UpdateVPN([]VPNPath{{RD: "10.20.0.12:1", Prefix: netip.MustParsePrefix("10.1.0.5/32"), Withdrawn: true}}))
	if n, _ := table.Len(); n != 0 || len(adv.aggregates) != 0 {
		t.Fatalf("after last withdrawal: %d routes, aggregates %v", n, adv.aggregates)
	}
}

func TestVPCExportsAndUnexpose(t *testing.T) {
	s, table, adv := setup(t)
	vpc := netip.MustParsePrefix("172.31.0.0/16")
	must(t, s.UpdateVPC([]VPCPath{{Prefix: vpc, Peer: netip.MustParseAddr("169.254.10.2")}}))
	must(t, s.UpdateVPN([]VPNPath{pod("10.20.0.11:2", "10.2.0.7/32", "10.20.0.11", 40, rt2)}))
	r, ok := table.Route(vpc)
	if !ok || r.NextHops[0] != (fib.NextHop{Encap: fib.EncapGRE, Address: gre}) {
		t.Fatalf("VPC route = %+v", r)
	}
	want := []Export{
		{Prefix: vpc, RD: "169.254.10.1:1000", Label: 1000, RouteTarget: rt1},
		{Prefix: vpc, RD: "169.254.10.1:1001", Label: 1001, RouteTarget: rt2},
	}
	for _, e := range want {
		if !adv.exports[e] {
			t.Errorf("missing export %+v (have %v)", e, adv.exports)
		}
	}
	if labels := table.Labels(); len(labels) != 2 || labels[1] != (fib.LocalLabel{Label: 1001, VN: "ns/vn2"}) {
		t.Errorf("labels = %+v", labels)
	}
	// Unexpose vn2: its pod route, aggregate, export, membership and label go.
	added, err := s.SetVNs([]config.VN{vn1})
	must(t, err)
	if len(added) != 0 || len(adv.exports) != 1 || adv.members[rt2] || len(adv.aggregates) != 0 {
		t.Fatalf("after unexpose: added %v exports %v members %v aggregates %v", added, adv.exports, adv.members, adv.aggregates)
	}
	if _, ok := table.Route(netip.MustParsePrefix("10.2.0.7/32")); ok || len(table.Labels()) != 1 {
		t.Errorf("vn2 state left in the fib: %+v", table.Routes())
	}
	// The TGW withdraws the VPC prefix: the export and the route go.
	must(t, s.UpdateVPC([]VPCPath{{Prefix: vpc, Withdrawn: true}}))
	if _, ok := table.Route(vpc); ok || len(adv.exports) != 0 {
		t.Errorf("after VPC withdrawal: exports %v", adv.exports)
	}
	// Re-expose: vn2 gets a label again and asks for its route target.
	added, err = s.SetVNs([]config.VN{vn1, vn2})
	must(t, err)
	if !slices.Equal(added, []string{"ns/vn2"}) || !adv.members[rt2] {
		t.Errorf("re-expose: added %v members %v", added, adv.members)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAggregateLimit(t *testing.T) {
	s, _, adv := setup(t)
	s.MaxAggregates = 1
	limited := 0
	s.OnReject = func(r string) {
		if r == RejectPrefixLimit {
			limited++
		}
	}
	must(t, s.UpdateVPN([]VPNPath{pod("10.20.0.11:1", "10.1.0.5/32", "10.20.0.11", 30, rt1)}))
	must(t, s.UpdateVPN([]VPNPath{pod("10.20.0.11:2", "10.2.0.5/32", "10.20.0.11", 31, rt2)}))
	if len(adv.aggregates) != 1 || !adv.aggregates[vn1.Subnets[0]] || limited != 1 {
		t.Fatalf("over the limit: aggregates %v, held back %d", adv.aggregates, limited)
	}
	// vn1's subnet goes: vn2's takes its place
	must(t, s.UpdateVPN([]VPNPath{{RD: "10.20.0.11:1", Prefix: netip.MustParsePrefix("10.1.0.5/32"), Withdrawn: true}}))
	if len(adv.aggregates) != 1 || !adv.aggregates[vn2.Subnets[0]] {
		t.Fatalf("after room was made: aggregates %v", adv.aggregates)
	}
}
