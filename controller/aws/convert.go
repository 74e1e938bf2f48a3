package aws

import (
	"net/netip"
	"slices"
	"sort"
	"strings"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// tagFilters selects resources carrying every tag of sel.
func tagFilters(sel map[string]string) []types.Filter {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]types.Filter, 0, len(keys))
	for _, k := range keys {
		out = append(out, types.Filter{Name: sdkaws.String("tag:" + k), Values: []string{sel[k]}})
	}
	return out
}

func tagSpec(rt types.ResourceType, tags map[string]string) []types.TagSpecification {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	spec := types.TagSpecification{ResourceType: rt}
	for _, k := range keys {
		spec.Tags = append(spec.Tags, types.Tag{Key: sdkaws.String(k), Value: sdkaws.String(tags[k])})
	}
	return []types.TagSpecification{spec}
}

func tagMap(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[sdkaws.ToString(t.Key)] = sdkaws.ToString(t.Value)
	}
	return m
}

func toTGW(t types.TransitGateway) *TransitGateway {
	out := &TransitGateway{
		ID: sdkaws.ToString(t.TransitGatewayId), ARN: sdkaws.ToString(t.TransitGatewayArn), State: string(t.State),
		Description: sdkaws.ToString(t.Description), CreationTime: sdkaws.ToTime(t.CreationTime), Tags: tagMap(t.Tags),
	}
	if o := t.Options; o != nil {
		out.AmazonSideASN = sdkaws.ToInt64(o.AmazonSideAsn)
		out.CIDRBlocks = slices.Clone(o.TransitGatewayCidrBlocks)
		out.AssociationDefaultRouteTableID = sdkaws.ToString(o.AssociationDefaultRouteTableId)
	}
	return out
}

func toVPCAttachment(a types.TransitGatewayVpcAttachment) *VPCAttachment {
	return &VPCAttachment{
		ID: sdkaws.ToString(a.TransitGatewayAttachmentId), TransitGatewayID: sdkaws.ToString(a.TransitGatewayId),
		VPCID: sdkaws.ToString(a.VpcId), SubnetIDs: slices.Clone(a.SubnetIds), State: string(a.State),
		CreationTime: sdkaws.ToTime(a.CreationTime), Tags: tagMap(a.Tags),
	}
}

func toConnect(a types.TransitGatewayConnect) *ConnectAttachment {
	out := &ConnectAttachment{
		ID: sdkaws.ToString(a.TransitGatewayAttachmentId), TransitGatewayID: sdkaws.ToString(a.TransitGatewayId),
		TransportAttachmentID: sdkaws.ToString(a.TransportTransitGatewayAttachmentId), State: string(a.State),
		CreationTime: sdkaws.ToTime(a.CreationTime), Tags: tagMap(a.Tags),
	}
	if a.Options != nil {
		out.Protocol = string(a.Options.Protocol)
	}
	return out
}

func toPeer(p types.TransitGatewayConnectPeer) *ConnectPeer {
	out := &ConnectPeer{
		ID: sdkaws.ToString(p.TransitGatewayConnectPeerId), ConnectAttachmentID: sdkaws.ToString(p.TransitGatewayAttachmentId),
		State: string(p.State), CreationTime: sdkaws.ToTime(p.CreationTime), Tags: tagMap(p.Tags),
	}
	if c := p.ConnectPeerConfiguration; c != nil {
		out.PeerAddress = sdkaws.ToString(c.PeerAddress)
		out.TransitGatewayAddress = sdkaws.ToString(c.TransitGatewayAddress)
		out.InsideCIDRs = slices.Clone(c.InsideCidrBlocks)
		out.Protocol = string(c.Protocol)
		for _, b := range c.BgpConfigurations {
			out.BGP = append(out.BGP, BGPSession{
				TransitGatewayAddress: sdkaws.ToString(b.TransitGatewayAddress), PeerAddress: sdkaws.ToString(b.PeerAddress),
				TransitGatewayASN: sdkaws.ToInt64(b.TransitGatewayAsn), PeerASN: sdkaws.ToInt64(b.PeerAsn), Status: string(b.BgpStatus),
			})
		}
	}
	return out
}

func toSG(g types.SecurityGroup) *SecurityGroup {
	out := &SecurityGroup{
		ID: sdkaws.ToString(g.GroupId), ARN: sdkaws.ToString(g.SecurityGroupArn), Name: sdkaws.ToString(g.GroupName),
		Description: sdkaws.ToString(g.Description), VPCID: sdkaws.ToString(g.VpcId), Tags: tagMap(g.Tags),
	}
	for _, p := range g.IpPermissions {
		for _, r := range p.IpRanges {
			out.Ingress = append(out.Ingress, IngressRule{
				Protocol: sdkaws.ToString(p.IpProtocol), FromPort: portOrNone(p.FromPort), ToPort: portOrNone(p.ToPort),
				CIDR: sdkaws.ToString(r.CidrIp), Description: sdkaws.ToString(r.Description),
			}.normalized())
		}
	}
	return out
}

func portOrNone(p *int32) int32 {
	if p == nil {
		return -1
	}
	return *p
}

// normalized puts a rule in the form EC2 reports: protocol names for 6/17/1, "-1" for
// all, ports -1 when the protocol has none, masked CIDR.
func (r IngressRule) normalized() IngressRule {
	switch strings.ToLower(r.Protocol) {
	case "6", "tcp":
		r.Protocol = "tcp"
	case "17", "udp":
		r.Protocol = "udp"
	case "1", "icmp":
		r.Protocol = "icmp"
	case "-1", "all", "":
		r.Protocol = "-1"
	}
	if r.Protocol != "tcp" && r.Protocol != "udp" && r.Protocol != "icmp" {
		r.FromPort, r.ToPort = -1, -1
	}
	if p, err := netip.ParsePrefix(r.CIDR); err == nil {
		r.CIDR = p.Masked().String()
	}
	return r
}

// sameRule compares the identity of two rules (the description is not part of it).
func sameRule(a, b IngressRule) bool {
	a, b = a.normalized(), b.normalized()
	return a.Protocol == b.Protocol && a.FromPort == b.FromPort && a.ToPort == b.ToPort && a.CIDR == b.CIDR
}

func ipPermission(r IngressRule) types.IpPermission {
	r = r.normalized()
	p := types.IpPermission{IpProtocol: sdkaws.String(r.Protocol), IpRanges: []types.IpRange{{CidrIp: sdkaws.String(r.CIDR)}}}
	if r.Description != "" {
		p.IpRanges[0].Description = sdkaws.String(r.Description)
	}
	if r.Protocol == "tcp" || r.Protocol == "udp" || r.Protocol == "icmp" {
		p.FromPort, p.ToPort = sdkaws.Int32(r.FromPort), sdkaws.Int32(r.ToPort)
	}
	return p
}

func toRouteTable(rt types.RouteTable) RouteTable {
	out := RouteTable{ID: sdkaws.ToString(rt.RouteTableId), VPCID: sdkaws.ToString(rt.VpcId), Tags: tagMap(rt.Tags)}
	for _, a := range rt.Associations {
		if sdkaws.ToBool(a.Main) {
			out.Main = true
		}
		if a.SubnetId != nil {
			out.SubnetIDs = append(out.SubnetIDs, *a.SubnetId)
		}
	}
	for _, r := range rt.Routes {
		out.Routes = append(out.Routes, toRoute(r))
	}
	return out
}

func toRoute(r types.Route) Route {
	return Route{
		DestinationCIDR: sdkaws.ToString(r.DestinationCidrBlock), TransitGatewayID: sdkaws.ToString(r.TransitGatewayId),
		GatewayID: sdkaws.ToString(r.GatewayId), State: string(r.State), Origin: string(r.Origin),
	}
}

// oldest picks the earliest created candidate so that, should a crash ever leave two
// resources with the same tags, every caller settles on the same one.
func oldest[T any](items []T, created func(T) int64, id func(T) string) (T, bool) {
	var zero T
	if len(items) == 0 {
		return zero, false
	}
	sort.SliceStable(items, func(i, j int) bool {
		ci, cj := created(items[i]), created(items[j])
		if ci != cj {
			return ci < cj
		}
		return id(items[i]) < id(items[j])
	})
	return items[0], true
}
