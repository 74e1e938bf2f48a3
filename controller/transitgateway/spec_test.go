package transitgateway

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

func TestParseSpec(t *testing.T) {
	vpc := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}
	base := func() *gsiv1.TransitGateway {
		return &gsiv1.TransitGateway{Spec: gsiv1.TransitGatewaySpec{
			SubnetIDs: []string{"subnet-0a1b2c3d4e5f60001"}, ConnectedPeerScale: 2, TransitASN: 64513,
			TransitCIDR: "192.0.2.0/24", BgpCidr: "169.254.10.0",
		}}
	}
	cases := []struct {
		name    string
		mutate  func(*gsiv1.TransitGateway)
		wantErr string
		check   func(t *testing.T, p params)
	}{
		{name: "source manifest", check: func(t *testing.T, p params) {
			if p.scale != 2 || p.peerASN != 64513 || p.controlNodeASN != gsiv1.DefaultControlNodeASN || p.license != "crpd-license" {
				t.Fatalf("defaults %+v", p)
			}
			if len(p.inside) != 2 || p.inside[0].String() != "169.254.10.0/29" || p.inside[1].String() != "169.254.10.8/29" {
				t.Fatalf("inside %v", p.inside)
			}
		}},
		{name: "bgpCidr with /29 and eBGP", mutate: func(g *gsiv1.TransitGateway) {
			g.Spec.BgpCidr, g.Spec.PeerASN = "169.254.20.248/29", ptr.To[int64](65001)
		}, check: func(t *testing.T, p params) {
			if p.inside[1].String() != "169.254.21.0/29" || p.peerASN != 65001 {
				t.Fatalf("inside %v asn %d", p.inside, p.peerASN)
			}
		}},
		{name: "scale defaults to 1", mutate: func(g *gsiv1.TransitGateway) { g.Spec.ConnectedPeerScale = 0 },
			check: func(t *testing.T, p params) {
				if p.scale != 1 || len(p.inside) != 1 {
					t.Fatalf("scale %d inside %v", p.scale, p.inside)
				}
			}},
		{name: "reserved inside block", mutate: func(g *gsiv1.TransitGateway) { g.Spec.BgpCidr = "169.254.4.248" }, wantErr: "reserved by AWS"},
		{name: "inside block leaves link-local", mutate: func(g *gsiv1.TransitGateway) { g.Spec.BgpCidr = "169.254.255.248" }, wantErr: "outside 169.254.0.0/16"},
		{name: "unaligned", mutate: func(g *gsiv1.TransitGateway) { g.Spec.BgpCidr = "169.254.10.4" }, wantErr: "/29 boundary"},
		{name: "transit overlaps VPC", mutate: func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "10.0.9.0/24" }, wantErr: "overlaps the VPC"},
		{name: "transit too small", mutate: func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "192.0.2.0/25" }, wantErr: "/24 or larger"},
		{name: "transit link-local", mutate: func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "169.254.0.0/24" }, wantErr: "must not be in"},
		{name: "scale too large", mutate: func(g *gsiv1.TransitGateway) { g.Spec.ConnectedPeerScale = 5 }, wantErr: "1 to 4"},
		{name: "bad ASN", mutate: func(g *gsiv1.TransitGateway) { g.Spec.TransitASN = 100 }, wantErr: "transitASN 100"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := base()
			if c.mutate != nil {
				c.mutate(g)
			}
			p, err := parseSpec(g, vpc)
			if c.wantErr != "" {
				if !errors.Is(err, errInvalidSpec) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, p)
		})
	}
}
