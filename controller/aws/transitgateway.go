package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

var _ Interface = (*Client)(nil)

// FindTransitGateway returns the owner's TGW that is not deleted, or nil.
func (c *Client) FindTransitGateway(ctx context.Context, owner Owner) (*TransitGateway, error) {
	if err := owner.Validate(); err != nil {
		return nil, err
	}
	var found []*TransitGateway
	p := ec2.NewDescribeTransitGatewaysPaginator(c.ec2, &ec2.DescribeTransitGatewaysInput{
		Filters: tagFilters(owner.Selector(RoleTransitGateway, 0)),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrapErr("DescribeTransitGateways", err)
		}
		for _, t := range page.TransitGateways {
			if t.State != types.TransitGatewayStateDeleted {
				found = append(found, toTGW(t))
			}
		}
	}
	t, _ := oldest(found, func(t *TransitGateway) int64 { return t.CreationTime.UnixNano() }, func(t *TransitGateway) string { return t.ID })
	return t, nil
}

// EnsureTransitGateway finds or creates the owner's TGW and adds missing CIDR blocks.
// The ASN of an existing TGW is not changed (compare AmazonSideASN to detect drift).
func (c *Client) EnsureTransitGateway(ctx context.Context, spec TransitGatewaySpec) (*TransitGateway, error) {
	t, err := c.FindTransitGateway(ctx, spec.Owner)
	if err != nil {
		return nil, err
	}
	if t == nil {
		out, err := c.ec2.CreateTransitGateway(ctx, &ec2.CreateTransitGatewayInput{
			Description: sdkaws.String(spec.Description),
			Options: &types.TransitGatewayRequestOptions{
				AmazonSideAsn:                sdkaws.Int64(spec.AmazonSideASN),
				TransitGatewayCidrBlocks:     spec.CIDRBlocks,
				DefaultRouteTableAssociation: types.DefaultRouteTableAssociationValueEnable,
				DefaultRouteTablePropagation: types.DefaultRouteTablePropagationValueEnable,
			},
			TagSpecifications: tagSpec(types.ResourceTypeTransitGateway, spec.Owner.Tags(RoleTransitGateway, 0)),
		})
		if err != nil {
			return nil, wrapErr("CreateTransitGateway", err)
		}
		t = toTGW(*out.TransitGateway)
		c.log.Info("created transit gateway", "owner", spec.Owner.Key(), "id", t.ID, "state", t.State)
		return t, nil
	}
	var missing []string
	for _, b := range spec.CIDRBlocks {
		if !slices.Contains(t.CIDRBlocks, b) {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 || t.State != StateAvailable {
		return t, nil
	}
	out, err := c.ec2.ModifyTransitGateway(ctx, &ec2.ModifyTransitGatewayInput{
		TransitGatewayId: sdkaws.String(t.ID),
		Options:          &types.ModifyTransitGatewayOptions{AddTransitGatewayCidrBlocks: missing},
	})
	if err != nil {
		return nil, wrapErr("ModifyTransitGateway", err)
	}
	c.log.Info("added transit gateway CIDR blocks", "id", t.ID, "cidrs", missing)
	return toTGW(*out.TransitGateway), nil
}

// DeleteTransitGateway deletes the owner's TGW. Attachments must be gone first (EC2
// answers IncorrectState otherwise, returned as ErrIncorrectState).
func (c *Client) DeleteTransitGateway(ctx context.Context, owner Owner) (Gone, error) {
	t, err := c.FindTransitGateway(ctx, owner)
	if err != nil || t == nil {
		return t == nil && err == nil, err
	}
	if !deletableState(t.State) {
		return false, nil
	}
	out, err := c.ec2.DeleteTransitGateway(ctx, &ec2.DeleteTransitGatewayInput{TransitGatewayId: sdkaws.String(t.ID)})
	if err != nil {
		return goneOnNotFound("DeleteTransitGateway", err)
	}
	c.log.Info("deleting transit gateway", "owner", owner.Key(), "id", t.ID)
	return out.TransitGateway != nil && out.TransitGateway.State == types.TransitGatewayStateDeleted, nil
}

// deletableState: a delete call makes sense (not pending/modifying, not already going).
func deletableState(state string) bool {
	return state == StateAvailable || state == StateFailed || state == StateRejected
}

func goneOnNotFound(op string, err error) (Gone, error) {
	werr := wrapErr(op, err)
	if errors.Is(werr, ErrNotFound) {
		return true, nil
	}
	return false, werr
}

// FindVPCAttachment returns the owner's VPC attachment that is not deleted, or nil.
func (c *Client) FindVPCAttachment(ctx context.Context, owner Owner) (*VPCAttachment, error) {
	if err := owner.Validate(); err != nil {
		return nil, err
	}
	var found []*VPCAttachment
	p := ec2.NewDescribeTransitGatewayVpcAttachmentsPaginator(c.ec2, &ec2.DescribeTransitGatewayVpcAttachmentsInput{
		Filters: tagFilters(owner.Selector(RoleVPCAttachment, 0)),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrapErr("DescribeTransitGatewayVpcAttachments", err)
		}
		for _, a := range page.TransitGatewayVpcAttachments {
			if a.State != types.TransitGatewayAttachmentStateDeleted {
				found = append(found, toVPCAttachment(a))
			}
		}
	}
	a, _ := oldest(found, func(a *VPCAttachment) int64 { return a.CreationTime.UnixNano() }, func(a *VPCAttachment) string { return a.ID })
	return a, nil
}

// EnsureVPCAttachment finds or creates the owner's VPC attachment. The TGW must be
// available (ErrIncorrectState otherwise: requeue).
func (c *Client) EnsureVPCAttachment(ctx context.Context, spec VPCAttachmentSpec) (*VPCAttachment, error) {
	a, err := c.FindVPCAttachment(ctx, spec.Owner)
	if err != nil || a != nil {
		return a, err
	}
	out, err := c.ec2.CreateTransitGatewayVpcAttachment(ctx, &ec2.CreateTransitGatewayVpcAttachmentInput{
		TransitGatewayId:  sdkaws.String(spec.TransitGatewayID),
		VpcId:             sdkaws.String(spec.VPCID),
		SubnetIds:         spec.SubnetIDs,
		TagSpecifications: tagSpec(types.ResourceTypeTransitGatewayAttachment, spec.Owner.Tags(RoleVPCAttachment, 0)),
	})
	if err != nil {
		return nil, wrapErr("CreateTransitGatewayVpcAttachment", err)
	}
	a = toVPCAttachment(*out.TransitGatewayVpcAttachment)
	c.log.Info("created transit gateway VPC attachment", "owner", spec.Owner.Key(), "id", a.ID, "vpc", a.VPCID)
	return a, nil
}

// DeleteVPCAttachment deletes the owner's VPC attachment; the Connect attachment riding
// on it must be gone first (ErrDependencyViolation otherwise).
func (c *Client) DeleteVPCAttachment(ctx context.Context, owner Owner) (Gone, error) {
	a, err := c.FindVPCAttachment(ctx, owner)
	if err != nil || a == nil {
		return a == nil && err == nil, err
	}
	if !deletableState(a.State) {
		return false, nil
	}
	out, err := c.ec2.DeleteTransitGatewayVpcAttachment(ctx, &ec2.DeleteTransitGatewayVpcAttachmentInput{TransitGatewayAttachmentId: sdkaws.String(a.ID)})
	if err != nil {
		return goneOnNotFound("DeleteTransitGatewayVpcAttachment", err)
	}
	c.log.Info("deleting transit gateway VPC attachment", "owner", owner.Key(), "id", a.ID)
	return out.TransitGatewayVpcAttachment != nil && out.TransitGatewayVpcAttachment.State == types.TransitGatewayAttachmentStateDeleted, nil
}

// FindConnectAttachment returns the owner's Connect attachment that is not deleted, or nil.
func (c *Client) FindConnectAttachment(ctx context.Context, owner Owner) (*ConnectAttachment, error) {
	if err := owner.Validate(); err != nil {
		return nil, err
	}
	var found []*ConnectAttachment
	p := ec2.NewDescribeTransitGatewayConnectsPaginator(c.ec2, &ec2.DescribeTransitGatewayConnectsInput{
		Filters: tagFilters(owner.Selector(RoleConnectAttachment, 0)),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrapErr("DescribeTransitGatewayConnects", err)
		}
		for _, a := range page.TransitGatewayConnects {
			if a.State != types.TransitGatewayAttachmentStateDeleted {
				found = append(found, toConnect(a))
			}
		}
	}
	a, _ := oldest(found, func(a *ConnectAttachment) int64 { return a.CreationTime.UnixNano() }, func(a *ConnectAttachment) string { return a.ID })
	return a, nil
}

// EnsureConnectAttachment finds or creates the owner's Connect attachment (GRE). The
// transport attachment must be available (ErrIncorrectState otherwise: requeue).
func (c *Client) EnsureConnectAttachment(ctx context.Context, spec ConnectAttachmentSpec) (*ConnectAttachment, error) {
	a, err := c.FindConnectAttachment(ctx, spec.Owner)
	if err != nil || a != nil {
		return a, err
	}
	out, err := c.ec2.CreateTransitGatewayConnect(ctx, &ec2.CreateTransitGatewayConnectInput{
		TransportTransitGatewayAttachmentId: sdkaws.String(spec.TransportAttachmentID),
		Options:                             &types.CreateTransitGatewayConnectRequestOptions{Protocol: types.ProtocolValueGre},
		TagSpecifications:                   tagSpec(types.ResourceTypeTransitGatewayAttachment, spec.Owner.Tags(RoleConnectAttachment, 0)),
	})
	if err != nil {
		return nil, wrapErr("CreateTransitGatewayConnect", err)
	}
	a = toConnect(*out.TransitGatewayConnect)
	c.log.Info("created transit gateway Connect attachment", "owner", spec.Owner.Key(), "id", a.ID)
	return a, nil
}

// DeleteConnectAttachment deletes the owner's Connect attachment; its Connect peers
// must be gone first (ErrDependencyViolation otherwise).
func (c *Client) DeleteConnectAttachment(ctx context.Context, owner Owner) (Gone, error) {
	a, err := c.FindConnectAttachment(ctx, owner)
	if err != nil || a == nil {
		return a == nil && err == nil, err
	}
	if !deletableState(a.State) {
		return false, nil
	}
	out, err := c.ec2.DeleteTransitGatewayConnect(ctx, &ec2.DeleteTransitGatewayConnectInput{TransitGatewayAttachmentId: sdkaws.String(a.ID)})
	if err != nil {
		return goneOnNotFound("DeleteTransitGatewayConnect", err)
	}
	c.log.Info("deleting transit gateway Connect attachment", "owner", owner.Key(), "id", a.ID)
	return out.TransitGatewayConnect != nil && out.TransitGatewayConnect.State == types.TransitGatewayAttachmentStateDeleted, nil
}

// listPeers returns the owner's Connect peers that are not deleted; index < 0 means all.
func (c *Client) listPeers(ctx context.Context, owner Owner, index int) ([]ConnectPeer, error) {
	if err := owner.Validate(); err != nil {
		return nil, err
	}
	sel := owner.Selector(RoleConnectPeer, max(index, 0))
	if index < 0 {
		delete(sel, TagPeerIndex)
	}
	var found []ConnectPeer
	p := ec2.NewDescribeTransitGatewayConnectPeersPaginator(c.ec2, &ec2.DescribeTransitGatewayConnectPeersInput{Filters: tagFilters(sel)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrapErr("DescribeTransitGatewayConnectPeers", err)
		}
		for _, cp := range page.TransitGatewayConnectPeers {
			if cp.State != types.TransitGatewayConnectPeerStateDeleted {
				found = append(found, *toPeer(cp))
			}
		}
	}
	slices.SortStableFunc(found, func(a, b ConnectPeer) int {
		if ia, ib := peerIndex(a), peerIndex(b); ia != ib {
			return ia - ib
		}
		return a.CreationTime.Compare(b.CreationTime)
	})
	return found, nil
}

func peerIndex(p ConnectPeer) int {
	i, err := strconv.Atoi(p.Tags[TagPeerIndex])
	if err != nil {
		return MaxConnectPeers
	}
	return i
}

// ListConnectPeers returns the owner's Connect peers (not deleted) ordered by index.
func (c *Client) ListConnectPeers(ctx context.Context, owner Owner) ([]ConnectPeer, error) {
	return c.listPeers(ctx, owner, -1)
}

// FindConnectPeer returns the owner's Connect peer number index that is not deleted, or nil.
func (c *Client) FindConnectPeer(ctx context.Context, owner Owner, index int) (*ConnectPeer, error) {
	if index < 0 || index >= MaxConnectPeers {
		return nil, fmt.Errorf("connect peer index %d: want 0..%d: %w", index, MaxConnectPeers-1, ErrInvalidParameter)
	}
	peers, err := c.listPeers(ctx, owner, index)
	if err != nil || len(peers) == 0 {
		return nil, err
	}
	return &peers[0], nil
}

// EnsureConnectPeer finds or creates Connect peer spec.Index. Connect peers cannot be
// modified: when the existing one no longer matches the spec (the router moved to
// another node, the inside CIDR changed) it is deleted and returned in state deleting;
// once it is gone a later call creates the replacement.
func (c *Client) EnsureConnectPeer(ctx context.Context, spec ConnectPeerSpec) (*ConnectPeer, error) {
	cp, err := c.FindConnectPeer(ctx, spec.Owner, spec.Index)
	if err != nil {
		return nil, err
	}
	if cp != nil {
		if peerMatches(cp, spec) || cp.State != StateAvailable {
			return cp, nil
		}
		out, err := c.ec2.DeleteTransitGatewayConnectPeer(ctx, &ec2.DeleteTransitGatewayConnectPeerInput{TransitGatewayConnectPeerId: sdkaws.String(cp.ID)})
		if err != nil {
			return nil, wrapErr("DeleteTransitGatewayConnectPeer", err)
		}
		c.log.Info("replacing Connect peer that no longer matches", "owner", spec.Owner.Key(), "index", spec.Index, "id", cp.ID,
			"peerAddress", cp.PeerAddress, "wantPeerAddress", spec.PeerAddress)
		return toPeer(*out.TransitGatewayConnectPeer), nil
	}
	in := &ec2.CreateTransitGatewayConnectPeerInput{
		TransitGatewayAttachmentId: sdkaws.String(spec.ConnectAttachmentID),
		PeerAddress:                sdkaws.String(spec.PeerAddress),
		InsideCidrBlocks:           []string{spec.InsideCIDR},
		TagSpecifications:          tagSpec(types.ResourceTypeTransitGatewayConnectPeer, spec.Owner.Tags(RoleConnectPeer, spec.Index)),
	}
	if spec.TransitGatewayAddress != "" {
		in.TransitGatewayAddress = sdkaws.String(spec.TransitGatewayAddress)
	}
	if spec.PeerASN != 0 {
		in.BgpOptions = &types.TransitGatewayConnectRequestBgpOptions{PeerAsn: sdkaws.Int64(spec.PeerASN)}
	}
	out, err := c.ec2.CreateTransitGatewayConnectPeer(ctx, in)
	if err != nil {
		return nil, wrapErr("CreateTransitGatewayConnectPeer", err)
	}
	cp = toPeer(*out.TransitGatewayConnectPeer)
	c.log.Info("created Connect peer", "owner", spec.Owner.Key(), "index", spec.Index, "id", cp.ID, "peerAddress", cp.PeerAddress)
	return cp, nil
}

func peerMatches(cp *ConnectPeer, spec ConnectPeerSpec) bool {
	if cp.PeerAddress != spec.PeerAddress || !slices.Contains(cp.InsideCIDRs, spec.InsideCIDR) {
		return false
	}
	if spec.TransitGatewayAddress != "" && cp.TransitGatewayAddress != spec.TransitGatewayAddress {
		return false
	}
	if spec.PeerASN != 0 {
		for _, b := range cp.BGP {
			if b.PeerASN != spec.PeerASN {
				return false
			}
		}
	}
	return true
}

// DeleteConnectPeer deletes the owner's Connect peer number index.
func (c *Client) DeleteConnectPeer(ctx context.Context, owner Owner, index int) (Gone, error) {
	cp, err := c.FindConnectPeer(ctx, owner, index)
	if err != nil || cp == nil {
		return cp == nil && err == nil, err
	}
	if !deletableState(cp.State) {
		return false, nil
	}
	out, err := c.ec2.DeleteTransitGatewayConnectPeer(ctx, &ec2.DeleteTransitGatewayConnectPeerInput{TransitGatewayConnectPeerId: sdkaws.String(cp.ID)})
	if err != nil {
		return goneOnNotFound("DeleteTransitGatewayConnectPeer", err)
	}
	c.log.Info("deleting Connect peer", "owner", owner.Key(), "index", index, "id", cp.ID)
	return out.TransitGatewayConnectPeer != nil && out.TransitGatewayConnectPeer.State == types.TransitGatewayConnectPeerStateDeleted, nil
}

// SearchTransitGatewayRoutes lists the routes of a TGW route table matching the query.
func (c *Client) SearchTransitGatewayRoutes(ctx context.Context, q TGWRouteQuery) ([]TGWRoute, error) {
	if q.RouteTableID == "" {
		return nil, fmt.Errorf("search transit gateway routes: route table id is required: %w", ErrInvalidParameter)
	}
	// EC2 requires at least one filter; the state filter selects every route.
	filters := []types.Filter{{Name: sdkaws.String("state"), Values: []string{"active", "blackhole"}}}
	if q.State != "" {
		filters[0].Values = []string{q.State}
	}
	if q.Type != "" {
		filters = append(filters, types.Filter{Name: sdkaws.String("type"), Values: []string{q.Type}})
	}
	if q.AttachmentID != "" {
		filters = append(filters, types.Filter{Name: sdkaws.String("attachment.transit-gateway-attachment-id"), Values: []string{q.AttachmentID}})
	}
	// EC2 does not paginate this call: it answers at most 1000 routes and flags the rest.
	page, err := c.ec2.SearchTransitGatewayRoutes(ctx, &ec2.SearchTransitGatewayRoutesInput{
		TransitGatewayRouteTableId: sdkaws.String(q.RouteTableID), Filters: filters, MaxResults: sdkaws.Int32(1000),
	})
	if err != nil {
		return nil, wrapErr("SearchTransitGatewayRoutes", err)
	}
	if sdkaws.ToBool(page.AdditionalRoutesAvailable) {
		c.log.Info("transit gateway route table holds more routes than one search returns; narrow the query", "routeTable", q.RouteTableID, "returned", len(page.Routes))
	}
	out := make([]TGWRoute, 0, len(page.Routes))
	for _, r := range page.Routes {
		route := TGWRoute{DestinationCIDR: sdkaws.ToString(r.DestinationCidrBlock), Type: string(r.Type), State: string(r.State)}
		for _, a := range r.TransitGatewayAttachments {
			route.Attachments = append(route.Attachments, TGWRouteAttachment{
				AttachmentID: sdkaws.ToString(a.TransitGatewayAttachmentId), ResourceID: sdkaws.ToString(a.ResourceId), ResourceType: string(a.ResourceType),
			})
		}
		out = append(out, route)
	}
	return out, nil
}
