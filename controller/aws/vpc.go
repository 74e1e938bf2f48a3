package aws

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// DescribeVPC returns the VPC with its associated IPv4 CIDR blocks.
func (c *Client) DescribeVPC(ctx context.Context, vpcID string) (*VPC, error) {
	out, err := c.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpcID}})
	if err != nil {
		return nil, wrapErr("DescribeVpcs", err)
	}
	if len(out.Vpcs) == 0 {
		return nil, &APIError{Operation: "DescribeVpcs", Code: "InvalidVpcID.NotFound", Message: "no VPC " + vpcID, Kind: ErrNotFound}
	}
	v := out.Vpcs[0]
	vpc := &VPC{ID: sdkaws.ToString(v.VpcId), State: string(v.State), Tags: tagMap(v.Tags)}
	for _, a := range v.CidrBlockAssociationSet {
		if a.CidrBlockState == nil || a.CidrBlockState.State == types.VpcCidrBlockStateCodeAssociated {
			vpc.CIDRBlocks = append(vpc.CIDRBlocks, sdkaws.ToString(a.CidrBlock))
		}
	}
	if len(vpc.CIDRBlocks) == 0 && v.CidrBlock != nil {
		vpc.CIDRBlocks = []string{*v.CidrBlock}
	}
	return vpc, nil
}

// DescribeSubnets returns the given subnets (all pages).
func (c *Client) DescribeSubnets(ctx context.Context, subnetIDs []string) ([]Subnet, error) {
	var out []Subnet
	p := ec2.NewDescribeSubnetsPaginator(c.ec2, &ec2.DescribeSubnetsInput{SubnetIds: subnetIDs})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrapErr("DescribeSubnets", err)
		}
		for _, s := range page.Subnets {
			out = append(out, Subnet{
				ID: sdkaws.ToString(s.SubnetId), VPCID: sdkaws.ToString(s.VpcId), CIDRBlock: sdkaws.ToString(s.CidrBlock),
				AvailabilityZone: sdkaws.ToString(s.AvailabilityZone), AvailabilityZoneID: sdkaws.ToString(s.AvailabilityZoneId),
				State: string(s.State), Tags: tagMap(s.Tags),
			})
		}
	}
	return out, nil
}

// DescribeRouteTables returns every route table of the VPC (all pages).
func (c *Client) DescribeRouteTables(ctx context.Context, vpcID string) ([]RouteTable, error) {
	return c.routeTables(ctx, &ec2.DescribeRouteTablesInput{
		Filters: []types.Filter{{Name: sdkaws.String("vpc-id"), Values: []string{vpcID}}},
	})
}

func (c *Client) routeTables(ctx context.Context, in *ec2.DescribeRouteTablesInput) ([]RouteTable, error) {
	var out []RouteTable
	p := ec2.NewDescribeRouteTablesPaginator(c.ec2, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrapErr("DescribeRouteTables", err)
		}
		for _, rt := range page.RouteTables {
			out = append(out, toRouteTable(rt))
		}
	}
	return out, nil
}

// route returns the route for dest in the route table, or nil.
func (c *Client) route(ctx context.Context, routeTableID, dest string) (*Route, error) {
	rts, err := c.routeTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{routeTableID}})
	if err != nil {
		return nil, err
	}
	for _, rt := range rts {
		for _, r := range rt.Routes {
			if r.DestinationCIDR == dest {
				return &r, nil
			}
		}
	}
	return nil, nil
}

func (s RouteSpec) validate() (string, error) {
	p, err := netip.ParsePrefix(s.DestinationCIDR)
	if err != nil || s.RouteTableID == "" || s.TransitGatewayID == "" {
		return "", fmt.Errorf("route %+v: route table, TGW and a valid destination CIDR are required: %w", s, ErrInvalidParameter)
	}
	return p.Masked().String(), nil
}

// EnsureRoute makes the route table send spec.DestinationCIDR to the TGW.
func (c *Client) EnsureRoute(ctx context.Context, spec RouteSpec) (*Route, error) {
	dest, err := spec.validate()
	if err != nil {
		return nil, err
	}
	existing, err := c.route(ctx, spec.RouteTableID, dest)
	if err != nil {
		return nil, err
	}
	switch {
	case existing != nil && existing.TransitGatewayID == spec.TransitGatewayID:
		return existing, nil
	case existing != nil && (!spec.ReplaceForeign || existing.GatewayID == "local"):
		return existing, fmt.Errorf("route %s in %s points at %s: %w", dest, spec.RouteTableID, routeTarget(existing), ErrRouteConflict)
	case existing != nil:
		_, err := c.ec2.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{
			RouteTableId: sdkaws.String(spec.RouteTableID), DestinationCidrBlock: sdkaws.String(dest), TransitGatewayId: sdkaws.String(spec.TransitGatewayID),
		})
		if err != nil {
			return nil, wrapErr("ReplaceRoute", err)
		}
		c.log.Info("replaced VPC route", "routeTable", spec.RouteTableID, "destination", dest, "was", routeTarget(existing), "transitGateway", spec.TransitGatewayID)
	default:
		_, err := c.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{
			RouteTableId: sdkaws.String(spec.RouteTableID), DestinationCidrBlock: sdkaws.String(dest), TransitGatewayId: sdkaws.String(spec.TransitGatewayID),
		})
		// RouteAlreadyExists: another writer (or our own lost reply) got there first;
		// the describe below tells which target won.
		if err = wrapErr("CreateRoute", err); err != nil && !errors.Is(err, ErrAlreadyExists) {
			return nil, err
		}
		c.log.Info("created VPC route", "routeTable", spec.RouteTableID, "destination", dest, "transitGateway", spec.TransitGatewayID)
	}
	r, err := c.route(ctx, spec.RouteTableID, dest)
	if err != nil {
		return nil, err
	}
	if r == nil || r.TransitGatewayID != spec.TransitGatewayID {
		return r, fmt.Errorf("route %s in %s changed concurrently: %w", dest, spec.RouteTableID, ErrRouteConflict)
	}
	return r, nil
}

func routeTarget(r *Route) string {
	if r.TransitGatewayID != "" {
		return r.TransitGatewayID
	}
	return r.GatewayID
}

// DeleteRoute removes the route if it points at spec.TransitGatewayID.
func (c *Client) DeleteRoute(ctx context.Context, spec RouteSpec) error {
	dest, err := spec.validate()
	if err != nil {
		return err
	}
	existing, err := c.route(ctx, spec.RouteTableID, dest)
	if err != nil || existing == nil || existing.TransitGatewayID != spec.TransitGatewayID {
		return err
	}
	_, err = c.ec2.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: sdkaws.String(spec.RouteTableID), DestinationCidrBlock: sdkaws.String(dest)})
	if err = wrapErr("DeleteRoute", err); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	c.log.Info("deleted VPC route", "routeTable", spec.RouteTableID, "destination", dest, "transitGateway", spec.TransitGatewayID)
	return nil
}
