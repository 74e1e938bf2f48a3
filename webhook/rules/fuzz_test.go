package rules

import (
	"net/netip"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

// FuzzValidateTransitGateway feeds arbitrary specs and CIDR strings to the defaulter and
// the validators: they must not panic, every refusal must name a field of the object,
// and an accepted spec must really satisfy AWS's rules (checked independently here).
// `go test -fuzz FuzzValidateTransitGateway ./webhook/rules` explores; `make test` runs
// the seeds.
func FuzzValidateTransitGateway(f *testing.F) {
	type seed struct {
		subnets                 string
		scale                   int32
		transitASN, peerASN     int64
		controlASN              int64
		transitCIDR, bgpCidr    string
		vpc, otherCIDR, otherBG string
		license                 uint8
	}
	for _, s := range []seed{
		{"subnet-0a1b2c3d,subnet-0123456789abcdef0", 1, 64513, 64513, 64512, "192.0.2.0/24", "169.254.10.0", "10.0.0.0/16", "198.51.100.0/24", "169.254.20.0", 3},
		{"subnet-0a1b2c3d", 4, 4200000000, 65000, 0, "192.0.2.0/25", "169.254.5.0/29", "192.0.0.0/8", "192.0.2.0/24", "169.254.5.8", 0},
		{"", -1, 0, 23456, 4294967295, "169.254.0.0/16", "169.254.255.248", "", "", "", 1},
		{"subnet-X,subnet-X", 9, -5, -1, 65535, "::/0", "169.254.10.0/30", "not-a-cidr", "0.0.0.0/0", "garbage", 2},
		{"subnet-0a1b2c3d", 2, 65534, 64513, 64512, "0.0.0.0/0", "169.254.169.240", "10.0.0.0/16", "", "169.254.169.240/29", 3},
		{",,", 3, 64512, 0, 1, " 192.0.2.0/24 ", "169.254.10.4", "10.0.0.0/33", "1.2.3.4/32", "169.254.10.0/29", 3},
	} {
		f.Add(s.subnets, s.scale, s.transitASN, s.peerASN, s.controlASN, s.transitCIDR, s.bgpCidr, s.vpc, s.otherCIDR, s.otherBG, s.license)
	}
	f.Fuzz(func(t *testing.T, subnets string, scale int32, transitASN, peerASN, controlASN int64, transitCIDR, bgpCidr, vpc, otherCIDR, otherBG string, license uint8) {
		tgw := &gsiv1.TransitGateway{
			ObjectMeta: metav1.ObjectMeta{Name: "fuzz", Namespace: "contrail-gsi"},
			Spec: gsiv1.TransitGatewaySpec{
				ConnectedPeerScale: scale, TransitASN: transitASN, PeerASN: &peerASN,
				ControlNodeASN: controlASN, TransitCIDR: transitCIDR, BgpCidr: bgpCidr,
			},
		}
		if subnets != "" {
			tgw.Spec.SubnetIDs = strings.Split(subnets, ",")
		}
		facts := Facts{
			Others:  []TransitGatewayRef{{Namespace: "contrail-gsi", Name: "other", TransitCIDR: otherCIDR, BgpCidr: otherBG, Scale: scale}},
			License: &License{Found: license&1 != 0, HasKey: license&2 != 0, Empty: license&4 != 0},
		}
		vp, vpcErr := netip.ParsePrefix(vpc)
		if vpcErr == nil {
			facts.VPC = []NamedPrefix{{vp, "the VPC's CIDR"}}
		}
		old := tgw.DeepCopy()
		DefaultTransitGateway(tgw, nil, Defaults{RouterImage: "gsi-router"})
		errs, _ := ValidateTransitGateway(tgw, facts)
		errs = append(errs, ValidateTransitGatewayUpdate(old, tgw)...)
		assertNamed(t, errs)
		if len(errs) == 0 {
			assertSound(t, tgw, facts)
		}
		// CIDR strings go through every parser too.
		for _, s := range []string{transitCIDR, bgpCidr, vpc, otherCIDR, otherBG} {
			if p, err := ParseBGPCIDR(s); err == nil && p.Bits() != InsideBlockBits {
				t.Fatalf("ParseBGPCIDR(%q) = %s, not a /29", s, p)
			}
			if p, err := ParseIPv4CIDR(s); err == nil && (p.Masked() != p || !p.Addr().Is4()) {
				t.Fatalf("ParseIPv4CIDR(%q) = %s", s, p)
			}
		}
	})
}

// assertNamed checks that every refusal names a spec field and says what is wrong.
func assertNamed(t *testing.T, errs field.ErrorList) {
	t.Helper()
	for _, e := range errs {
		if !strings.HasPrefix(e.Field, "spec.") {
			t.Fatalf("refusal names no spec field: %#v", e)
		}
		if e.Detail == "" && e.Type != field.ErrorTypeDuplicate {
			t.Fatalf("refusal without a rule: %v", e)
		}
		if !strings.HasPrefix(e.Error(), e.Field+":") {
			t.Fatalf("message %q does not start with the field", e.Error())
		}
	}
}

// assertSound re-checks an accepted TransitGateway against AWS's rules independently.
func assertSound(t *testing.T, tgw *gsiv1.TransitGateway, f Facts) {
	t.Helper()
	s := tgw.Spec
	if s.ConnectedPeerScale < 1 || s.ConnectedPeerScale > 4 || len(s.SubnetIDs) == 0 {
		t.Fatalf("accepted scale %d / subnets %v", s.ConnectedPeerScale, s.SubnetIDs)
	}
	tc, err := netip.ParsePrefix(strings.TrimSpace(s.TransitCIDR))
	if err != nil || tc.Bits() > 24 || tc.Overlaps(LinkLocal) {
		t.Fatalf("accepted transitCIDR %q", s.TransitCIDR)
	}
	for _, v := range f.VPC {
		if v.Prefix.Overlaps(tc) {
			t.Fatalf("accepted transitCIDR %s overlapping the VPC %s", tc, v.Prefix)
		}
	}
	base, err := ParseBGPCIDR(s.BgpCidr)
	if err != nil {
		t.Fatalf("accepted bgpCidr %q: %v", s.BgpCidr, err)
	}
	blocks, ok := PeerBlocks(base, int(s.ConnectedPeerScale))
	if !ok {
		t.Fatalf("accepted bgpCidr %q whose blocks overflow", s.BgpCidr)
	}
	for _, b := range blocks {
		if !LinkLocal.Contains(b.Addr()) || b.Masked() != b || ReservedInsideReason(b) != "" {
			t.Fatalf("accepted inside block %s", b)
		}
	}
	if l := f.License; l == nil || !l.Found || !l.HasKey || l.Empty {
		t.Fatalf("accepted without a usable license: %+v", l)
	}
}

// FuzzValidateExposure feeds arbitrary subnets, VPC, transit and exposed CIDR strings to
// the exposure rules: no panic, every refusal names the label or the subnet reference,
// and an accepted subnet overlaps nothing it must not.
func FuzzValidateExposure(f *testing.F) {
	f.Add("172.16.1.0/24", "10.0.0.0/16", "192.0.2.0/24", "172.16.2.0/24", "tgw1", true)
	f.Add("169.254.0.0/16", "0.0.0.0/0", "garbage", "", "", false)
	f.Add("fd00::/64", "10.0.0.0/33", "192.0.2.0/24", "fd00::/48", "tgw1", true)
	f.Fuzz(func(t *testing.T, subnet, vpc, transit, exposed, tgwName string, found bool) {
		e := Exposure{VN: "ns/vn", TransitGateway: tgwName, TransitGatewayNamespace: "contrail-gsi", SubnetRef: "ns/vn-v4"}
		e.Subnet, e.SubnetErr = netip.ParsePrefix(subnet)
		if found {
			e.Target = &gsiv1.TransitGateway{ObjectMeta: metav1.ObjectMeta{Namespace: "contrail-gsi", Name: tgwName}, Spec: gsiv1.TransitGatewaySpec{TransitCIDR: transit}}
		}
		if p, err := netip.ParsePrefix(vpc); err == nil {
			e.VPC = []NamedPrefix{{p, "the VPC's CIDR"}}
		}
		if p, err := netip.ParsePrefix(exposed); err == nil {
			e.Exposed = []NamedPrefix{{p, "VirtualNetwork other/vn"}}
		}
		errs := ValidateExposure(e)
		for _, err := range errs {
			if err.Field != ExposeLabelPath.String() && err.Field != SubnetPath.String() {
				t.Fatalf("refusal on an unexpected field: %v", err)
			}
		}
		if len(errs) > 0 {
			return
		}
		if !found || tgwName == "" || !e.Subnet.IsValid() || !e.Subnet.Addr().Is4() || e.Subnet.Overlaps(LinkLocal) {
			t.Fatalf("accepted %+v", e)
		}
		for _, o := range append(e.VPC, e.Exposed...) {
			if o.Prefix.Overlaps(e.Subnet) {
				t.Fatalf("accepted %s overlapping %s", e.Subnet, o.Prefix)
			}
		}
	})
}
