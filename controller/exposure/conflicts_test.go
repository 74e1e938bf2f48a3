package exposure

import (
	"net/netip"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

func route(name, cidr, tgw string, age int) gsiv1.Route {
	return gsiv1.Route{
		ObjectMeta: metav1.ObjectMeta{Namespace: "contrail-gsi", Name: name,
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(age) * time.Second))},
		Spec: gsiv1.RouteSpec{DestinationCIDR: cidr, TransitGatewayName: tgw, VirtualNetwork: gsiv1.VirtualNetworkReference{Namespace: "ns", Name: name}},
	}
}

func TestConflicts(t *testing.T) {
	ctx := Context{VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, TransitCIDR: netip.MustParsePrefix("192.0.2.0/24")}
	all := []gsiv1.Route{
		route("a", "10.20.0.0/16", "tgw1", 1),
		route("b", "10.20.5.0/24", "tgw1", 2),    // overlaps older a
		route("c", "10.30.0.0/16", "tgw2", 0),    // another TGW's, older
		route("d", "10.30.1.0/24", "tgw1", 3),    // overlaps c across TGWs
		route("e", "10.0.1.0/24", "tgw1", 4),     // in the VPC
		route("f", "169.254.7.0/24", "tgw1", 5),  // link-local
		route("g", "192.0.2.0/25", "tgw1", 6),    // transit CIDR
		route("h", "10.40.0.1/16", "tgw1", 7),    // host bits
		route("i", "fd00::/64", "tgw1", 8),       // IPv6
		route("j", "10.20.0.0/16", "tgw1", 1),    // same age as a: name decides
		route("k", "10.0.0.0/8", "tgw1", -1),     // the oldest, but contains the VPC
		route("l", "10.50.0.0/16", "tgw1", 9),    // fine
		route("m", "not-a-cidr", "tgw1", 10),     // invalid
		route("n", "10.60.0.0/16", "tgw1", 11),   // fine
		route("o", "10.60.0.0/17", "tgw1", 12),   // overlaps n
		route("p", "10.60.128.0/17", "tgw1", 13), // overlaps n
		route("q", "10.70.0.0/16", "tgw1", 14),   // fine
		route("r", "10.80.0.0/16", "tgw1", 15),   // fine
		route("s", "10.90.0.0/16", "tgw1", 16),   // fine
		route("t", "10.100.0.0/16", "tgw1", 17),  // fine
		route("u", "10.110.0.0/16", "tgw1", 18),  // fine
		route("v", "10.120.0.0/16", "tgw1", 19),  // fine
		route("w", "10.130.0.0/16", "tgw1", 20),  // fine
		route("x", "10.140.0.0/16", "tgw1", 21),  // fine
		route("y", "10.150.0.0/16", "tgw1", 22),  // fine
		route("z", "172.16.0.0/12", "tgw1", 23),  // fine
	}
	var mine []gsiv1.Route
	for _, r := range all {
		if r.Spec.TransitGatewayName == "tgw1" {
			mine = append(mine, r)
		}
	}
	got := Conflicts(mine, all, ctx)
	want := map[string]string{
		"b": ReasonOverlapsExposure, "d": ReasonOverlapsExposure, "e": ReasonOverlapsVPC, "f": ReasonLinkLocal,
		"g": ReasonOverlapsTransitCIDR, "h": ReasonInvalidCIDR, "i": ReasonInvalidCIDR, "j": ReasonOverlapsExposure,
		"k": ReasonOverlapsVPC, "m": ReasonInvalidCIDR, "o": ReasonOverlapsExposure, "p": ReasonOverlapsExposure,
	}
	for _, r := range mine {
		if got[r.Name].Reason != want[r.Name] {
			t.Errorf("%s (%s): reason %q, want %q (%s)", r.Name, r.Spec.DestinationCIDR, got[r.Name].Reason, want[r.Name], got[r.Name].Message)
		}
	}
}

func TestRouteName(t *testing.T) {
	if got := RouteName("team-a", "web"); got != "team-a.web" {
		t.Fatalf("RouteName %q", got)
	}
	long := RouteName(string(make([]byte, 0))+repeat("n", 63), repeat("v", 253))
	if len(long) != 253 || long == RouteName(repeat("n", 63), repeat("v", 252)+"w") {
		t.Fatalf("long name %d chars, not distinct", len(long))
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

func TestConflictsPreferFirstExposed(t *testing.T) {
	// Same creation second: the exposed-at annotation decides, not the name.
	a, b := route("z-first", "10.20.0.0/16", "tgw1", 0), route("a-second", "10.20.1.0/24", "tgw1", 0)
	a.Annotations = map[string]string{ExposedAtAnnotation: "2026-01-01T00:00:00.100Z"}
	b.Annotations = map[string]string{ExposedAtAnnotation: "2026-01-01T00:00:00.200Z"}
	got := Conflicts([]gsiv1.Route{a, b}, []gsiv1.Route{a, b}, Context{})
	if _, bad := got["z-first"]; bad || got["a-second"].Reason != ReasonOverlapsExposure {
		t.Fatalf("conflicts %+v", got)
	}
}
