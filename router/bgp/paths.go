package bgp

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/routesync"
)

var (
	familyIPv4    = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	familyVPNv4   = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_MPLS_VPN}
	familyRTC     = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_ROUTE_TARGET_CONSTRAINTS}
	unspecifiedV4 = "0.0.0.0"
)

// routeTarget encodes a route target as the extended community GoBGP sends.
func routeTarget(rt config.RouteTarget) bgp.ExtendedCommunityInterface {
	if rt.ASN > 0xffff {
		return bgp.NewFourOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_TARGET, rt.ASN, uint16(rt.Value), true)
	}
	return bgp.NewTwoOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_TARGET, uint16(rt.ASN), rt.Value, true)
}

// aggregatePath is a VN subnet towards the TGW: origin IGP, no MED, no communities and
// next hop "self", so every router announces identical attributes and the TGW can ECMP.
func aggregatePath(p netip.Prefix) (*api.Path, error) {
	nlri := bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeNextHop(unspecifiedV4),
	}
	return newPath(nlri, attrs)
}

// exportPath is a VPC prefix exported into a VN: the VN's route target, our RD and
// label, MPLS-in-UDP encapsulation, next hop nh (unspecified: the session address).
func exportPath(e routesync.Export, nh netip.Addr) (*api.Path, error) {
	rd, err := bgp.ParseRouteDistinguisher(string(e.RD))
	if err != nil {
		return nil, fmt.Errorf("route distinguisher %s: %w", e.RD, err)
	}
	nlri := bgp.NewLabeledVPNIPAddrPrefix(uint8(e.Prefix.Bits()), e.Prefix.Addr().String(), *bgp.NewMPLSLabelStack(e.Label), rd)
	next := unspecifiedV4
	if nh.IsValid() {
		next = nh.String()
	}
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeMpReachNLRI(next, []bgp.AddrPrefixInterface{nlri}),
		bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{
			routeTarget(e.RouteTarget),
			bgp.NewEncapExtended(bgp.TUNNEL_TYPE_MPLS_IN_UDP),
		}),
	}
	return newPath(nlri, attrs)
}

// membershipPath asks the control nodes for a route target (RFC 4684).
func membershipPath(asn uint32, rt config.RouteTarget) (*api.Path, error) {
	nlri := bgp.NewRouteTargetMembershipNLRI(asn, routeTarget(rt))
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeMpReachNLRI(unspecifiedV4, []bgp.AddrPrefixInterface{nlri}),
	}
	return newPath(nlri, attrs)
}

func newPath(nlri bgp.AddrPrefixInterface, attrs []bgp.PathAttributeInterface) (*api.Path, error) {
	p, err := apiutil.NewPath(nlri, false, attrs, time.Now())
	if err != nil {
		return nil, fmt.Errorf("encode path %s: %w", nlri, err)
	}
	return p, nil
}

// decodeVPN turns a control node's inet-vpn path into the syncer's form. It reads the
// API messages directly and only the attributes it needs: at 100k pod routes the
// generic conversion to GoBGP's native types was a tenth of the router's CPU.
func decodeVPN(p *api.Path) (routesync.VPNPath, error) {
	var nlri api.LabeledVPNIPAddressPrefix
	if err := p.Nlri.UnmarshalTo(&nlri); err != nil {
		return routesync.VPNPath{}, fmt.Errorf("decode inet-vpn NLRI: %w", err)
	}
	addr, err := netip.ParseAddr(nlri.Prefix)
	if err != nil {
		return routesync.VPNPath{}, fmt.Errorf("inet-vpn prefix %q: %w", nlri.Prefix, err)
	}
	prefix, err := addr.Prefix(int(nlri.PrefixLen))
	if err != nil {
		return routesync.VPNPath{}, fmt.Errorf("inet-vpn prefix %s/%d: %w", nlri.Prefix, nlri.PrefixLen, err)
	}
	rd, err := rdString(nlri.Rd)
	if err != nil {
		return routesync.VPNPath{}, err
	}
	out := routesync.VPNPath{RD: rd, Prefix: prefix, Withdrawn: p.IsWithdraw}
	if p.IsWithdraw {
		return out, nil
	}
	if len(nlri.Labels) > 0 {
		out.Label = nlri.Labels[0]
	}
	for _, a := range p.Pattrs {
		switch {
		case a.MessageIs((*api.MpReachNLRIAttribute)(nil)):
			var mp api.MpReachNLRIAttribute
			if err := a.UnmarshalTo(&mp); err != nil {
				return routesync.VPNPath{}, fmt.Errorf("decode next hop of %s:%s: %w", rd, prefix, err)
			}
			if len(mp.NextHops) > 0 {
				out.NextHop, _ = netip.ParseAddr(mp.NextHops[0])
			}
		case a.MessageIs((*api.ExtendedCommunitiesAttribute)(nil)):
			var ec api.ExtendedCommunitiesAttribute
			if err := a.UnmarshalTo(&ec); err != nil {
				return routesync.VPNPath{}, fmt.Errorf("decode communities of %s:%s: %w", rd, prefix, err)
			}
			if err := decodeExtCommunities(ec.Communities, &out); err != nil {
				return routesync.VPNPath{}, fmt.Errorf("communities of %s:%s: %w", rd, prefix, err)
			}
		}
	}
	return out, nil
}

// rdString renders a route distinguisher as GoBGP and the CLIs write it.
func rdString(a *anypb.Any) (routesync.RD, error) {
	switch {
	case a.MessageIs((*api.RouteDistinguisherIPAddress)(nil)):
		var rd api.RouteDistinguisherIPAddress
		if err := a.UnmarshalTo(&rd); err != nil {
			return "", fmt.Errorf("decode route distinguisher: %w", err)
		}
		return routesync.RD(rd.Admin + ":" + strconv.FormatUint(uint64(rd.Assigned), 10)), nil
	case a.MessageIs((*api.RouteDistinguisherTwoOctetASN)(nil)):
		var rd api.RouteDistinguisherTwoOctetASN
		if err := a.UnmarshalTo(&rd); err != nil {
			return "", fmt.Errorf("decode route distinguisher: %w", err)
		}
		return routesync.RD(fmt.Sprintf("%d:%d", rd.Admin, rd.Assigned)), nil
	case a.MessageIs((*api.RouteDistinguisherFourOctetASN)(nil)):
		var rd api.RouteDistinguisherFourOctetASN
		if err := a.UnmarshalTo(&rd); err != nil {
			return "", fmt.Errorf("decode route distinguisher: %w", err)
		}
		return routesync.RD(fmt.Sprintf("%d:%d", rd.Admin, rd.Assigned)), nil
	}
	return "", fmt.Errorf("route distinguisher of unknown type %s", a.GetTypeUrl())
}

func decodeExtCommunities(ecs []*anypb.Any, out *routesync.VPNPath) error {
	for _, a := range ecs {
		switch {
		case a.MessageIs((*api.TwoOctetAsSpecificExtended)(nil)):
			var ec api.TwoOctetAsSpecificExtended
			if err := a.UnmarshalTo(&ec); err != nil {
				return err
			}
			if ec.SubType == uint32(bgp.EC_SUBTYPE_ROUTE_TARGET) {
				out.RouteTargets = append(out.RouteTargets, config.RouteTarget{ASN: ec.Asn, Value: ec.LocalAdmin})
			}
		case a.MessageIs((*api.FourOctetAsSpecificExtended)(nil)):
			var ec api.FourOctetAsSpecificExtended
			if err := a.UnmarshalTo(&ec); err != nil {
				return err
			}
			if ec.SubType == uint32(bgp.EC_SUBTYPE_ROUTE_TARGET) {
				out.RouteTargets = append(out.RouteTargets, config.RouteTarget{ASN: ec.Asn, Value: ec.LocalAdmin})
			}
		case a.MessageIs((*api.EncapExtended)(nil)):
			var ec api.EncapExtended
			if err := a.UnmarshalTo(&ec); err != nil {
				return err
			}
			if ec.TunnelType == uint32(bgp.TUNNEL_TYPE_MPLS_IN_UDP) {
				out.MPLSoUDP = true
			}
		}
	}
	return nil
}

// decodeVPC turns a TGW's IPv4 path into the syncer's form.
func decodeVPC(p *api.Path, peer netip.Addr) (routesync.VPCPath, error) {
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		return routesync.VPCPath{}, fmt.Errorf("decode IPv4 NLRI: %w", err)
	}
	prefix, err := netip.ParsePrefix(nlri.String())
	if err != nil {
		return routesync.VPCPath{}, fmt.Errorf("IPv4 prefix %q: %w", nlri.String(), err)
	}
	return routesync.VPCPath{Prefix: prefix, Withdrawn: p.IsWithdraw, Peer: peer}, nil
}
