package bgp

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

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

// decodeVPN turns a control node's inet-vpn path into the syncer's form.
func decodeVPN(p *api.Path) (routesync.VPNPath, error) {
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		return routesync.VPNPath{}, fmt.Errorf("decode inet-vpn NLRI: %w", err)
	}
	vpn, ok := nlri.(*bgp.LabeledVPNIPAddrPrefix)
	if !ok {
		return routesync.VPNPath{}, fmt.Errorf("inet-vpn path with NLRI %T", nlri)
	}
	prefix, err := netip.ParsePrefix(vpn.IPPrefix())
	if err != nil {
		return routesync.VPNPath{}, fmt.Errorf("inet-vpn prefix %q: %w", vpn.IPPrefix(), err)
	}
	out := routesync.VPNPath{RD: routesync.RD(vpn.RD.String()), Prefix: prefix, Withdrawn: p.IsWithdraw}
	if p.IsWithdraw {
		return out, nil
	}
	if len(vpn.Labels.Labels) > 0 {
		out.Label = vpn.Labels.Labels[0]
	}
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		return routesync.VPNPath{}, fmt.Errorf("decode attributes of %s: %w", vpn, err)
	}
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeMpReachNLRI:
			out.NextHop = addrFromIP(a.Nexthop)
		case *bgp.PathAttributeExtendedCommunities:
			decodeExtCommunities(a.Value, &out)
		}
	}
	return out, nil
}

func decodeExtCommunities(ecs []bgp.ExtendedCommunityInterface, out *routesync.VPNPath) {
	for _, ec := range ecs {
		switch ec := ec.(type) {
		case *bgp.TwoOctetAsSpecificExtended:
			if ec.SubType == bgp.EC_SUBTYPE_ROUTE_TARGET {
				out.RouteTargets = append(out.RouteTargets, config.RouteTarget{ASN: uint32(ec.AS), Value: ec.LocalAdmin})
			}
		case *bgp.FourOctetAsSpecificExtended:
			if ec.SubType == bgp.EC_SUBTYPE_ROUTE_TARGET {
				out.RouteTargets = append(out.RouteTargets, config.RouteTarget{ASN: ec.AS, Value: uint32(ec.LocalAdmin)})
			}
		case *bgp.EncapExtended:
			if ec.TunnelType == bgp.TUNNEL_TYPE_MPLS_IN_UDP {
				out.MPLSoUDP = true
			}
		}
	}
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

func addrFromIP(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}
