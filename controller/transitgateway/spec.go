package transitgateway

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/controller/aws"
)

// errInvalidSpec marks a spec the controller refuses before any AWS call (the webhook
// normally stops these at apply time; the controller must not half-apply them either).
var errInvalidSpec = errors.New("invalid TransitGateway spec")

// reservedInside are the /29s AWS refuses as Connect peer inside CIDRs.
var reservedInside = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/29"), netip.MustParsePrefix("169.254.1.0/29"),
	netip.MustParsePrefix("169.254.2.0/29"), netip.MustParsePrefix("169.254.3.0/29"),
	netip.MustParsePrefix("169.254.4.0/29"), netip.MustParsePrefix("169.254.5.0/29"),
	netip.MustParsePrefix("169.254.169.248/29"),
}

var linkLocal = netip.MustParsePrefix("169.254.0.0/16")

// params is a checked, defaulted spec.
type params struct {
	transitCIDR    netip.Prefix
	inside         []netip.Prefix // one /29 per peer index, 0..scale-1
	scale          int
	transitASN     int64
	peerASN        int64
	controlNodeASN int64
	license        string
}

// parseSpec checks and defaults the spec. vpc are the VPC's CIDR blocks (may be nil
// while the GSIPlugin is not ready).
func parseSpec(tgw *gsiv1.TransitGateway, vpc []netip.Prefix) (params, error) {
	s := tgw.Spec
	p := params{scale: int(s.ConnectedPeerScale), transitASN: s.TransitASN, controlNodeASN: s.ControlNodeASN, license: s.LicenseSecretName}
	if p.scale == 0 {
		p.scale = 1
	}
	if p.controlNodeASN == 0 {
		p.controlNodeASN = gsiv1.DefaultControlNodeASN
	}
	if p.license == "" {
		p.license = gsiv1.DefaultLicenseSecretName
	}
	p.peerASN = p.transitASN
	if s.PeerASN != nil && *s.PeerASN != 0 {
		p.peerASN = *s.PeerASN
	}
	var errs []string
	if p.scale < 1 || p.scale > aws.MaxConnectPeers {
		errs = append(errs, fmt.Sprintf("connectedPeerScale %d: AWS allows 1 to %d Connect peers per Connect attachment", p.scale, aws.MaxConnectPeers))
	}
	if !amazonASN(p.transitASN) {
		errs = append(errs, fmt.Sprintf("transitASN %d: must be 64512-65534 or 4200000000-4294967294", p.transitASN))
	}
	if len(s.SubnetIDs) == 0 {
		errs = append(errs, "subnetIDs: at least one subnet is required")
	}
	if err := p.parseTransit(s.TransitCIDR, vpc); err != nil {
		errs = append(errs, err.Error())
	}
	if p.scale >= 1 && p.scale <= aws.MaxConnectPeers {
		if err := p.parseInside(s.BgpCidr); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("%w: %s", errInvalidSpec, strings.Join(errs, "; "))
	}
	return p, nil
}

func amazonASN(a int64) bool {
	return (a >= 64512 && a <= 65534) || (a >= 4200000000 && a <= 4294967294)
}

func (p *params) parseTransit(s string, vpc []netip.Prefix) error {
	t, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		return fmt.Errorf("transitCIDR %q: %v", s, err)
	case !t.Addr().Is4():
		return fmt.Errorf("transitCIDR %s: must be IPv4", t)
	case t.Bits() > 24:
		return fmt.Errorf("transitCIDR %s: must be /24 or larger", t)
	case t != t.Masked():
		return fmt.Errorf("transitCIDR %s: host bits set (use %s)", t, t.Masked())
	case t.Overlaps(linkLocal):
		return fmt.Errorf("transitCIDR %s: must not be in %s", t, linkLocal)
	}
	for _, v := range vpc {
		if t.Overlaps(v) {
			return fmt.Errorf("transitCIDR %s overlaps the VPC's CIDR block %s", t, v)
		}
	}
	p.transitCIDR = t
	return nil
}

// parseInside carves one /29 per peer from bgpCidr: peer i gets base + 8·i.
func (p *params) parseInside(s string) error {
	addr, err := netip.ParseAddr(strings.TrimSuffix(s, "/29"))
	if err != nil || !addr.Is4() {
		return fmt.Errorf("bgpCidr %q: must be an IPv4 address in %s, optionally with /29", s, linkLocal)
	}
	b := addr.As4()
	if b[3]%8 != 0 {
		return fmt.Errorf("bgpCidr %s: must be on a /29 boundary (last octet a multiple of 8)", addr)
	}
	base := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	for i := range p.scale {
		v := base + uint32(8*i)
		block := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 29)
		if !linkLocal.Contains(block.Addr()) {
			return fmt.Errorf("bgpCidr %s: peer %d's inside CIDR %s is outside %s", addr, i, block, linkLocal)
		}
		for _, r := range reservedInside {
			if r == block {
				return fmt.Errorf("bgpCidr %s: peer %d's inside CIDR %s is reserved by AWS", addr, i, block)
			}
		}
		p.inside = append(p.inside, block)
	}
	return nil
}

// SecurityGroupName is the name of a transit gateway's first security group. Group names
// are unique per VPC and several transit gateways may share the VPC, so the name carries
// the TransitGateway's name after the gsi-sg the CN2 guide speaks of.
func SecurityGroupName(tgw *gsiv1.TransitGateway) string {
	return "gsi-sg-" + tgw.Name
}
