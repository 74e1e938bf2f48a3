package bgp

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/routesync"
)

// TestExportPathDecodes checks the wire form of an export: decoding it as the control
// nodes would gives back the RD, label, route target, encapsulation and next hop.
func TestExportPathDecodes(t *testing.T) {
	for _, rt := range []config.RouteTarget{{ASN: 64512, Value: 8000001}, {ASN: 4200000001, Value: 7}} {
		e := routesync.Export{Prefix: netip.MustParsePrefix("172.31.0.0/16"), RD: "169.254.10.1:1000", Label: 1000, RouteTarget: rt}
		p, err := exportPath(e, netip.MustParseAddr("10.0.1.10"))
		if err != nil {
			t.Fatal(err)
		}
		p.NeighborIp = "10.0.0.5"
		got, err := decodeVPN(p)
		if err != nil {
			t.Fatal(err)
		}
		want := routesync.VPNPath{RD: e.RD, Prefix: e.Prefix, NextHop: netip.MustParseAddr("10.0.1.10"), Label: 1000,
			RouteTargets: []config.RouteTarget{rt}, MPLSoUDP: true}
		if got.RD != want.RD || got.Prefix != want.Prefix || got.NextHop != want.NextHop || got.Label != want.Label ||
			!slices.Equal(got.RouteTargets, want.RouteTargets) || !got.MPLSoUDP {
			t.Errorf("decoded %+v, want %+v", got, want)
		}
	}
}
