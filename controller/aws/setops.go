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

// TagGroupIndex numbers the security groups of one TransitGateway: the first group
// (gsi-sg) has none or "0"; when it is full the controller spills rules into groups 1, 2…
const TagGroupIndex = "gsi.juniper.net/group-index"

// SetOps are the calls of the controller's set-based reconcilers: they describe the route
// tables and security groups once, compute the difference with what is wanted and issue
// only the mutating calls needed, so these calls never describe first (unlike the Ensure
// calls of Interface, which look before every create). *Client implements it.
type SetOps interface {
	// CreateVPCRoute adds a route CIDR → TGW. An existing route for the destination is
	// ErrAlreadyExists.
	CreateVPCRoute(ctx context.Context, spec RouteSpec) error
	// DeleteVPCRoute removes the route for the destination; an absent one is not an error.
	// The caller checks it points at its TGW (from a describe) before calling.
	DeleteVPCRoute(ctx context.Context, spec RouteSpec) error
	// ListSecurityGroups returns the owner's security groups, ordered by group index.
	ListSecurityGroups(ctx context.Context, owner Owner) ([]SecurityGroup, error)
	// CreateSecurityGroupIndex creates the owner's security group number index. A group
	// of that name already in the VPC is returned when it carries the owner's tags, and is
	// ErrAlreadyExists otherwise.
	CreateSecurityGroupIndex(ctx context.Context, spec SecurityGroupSpec, index int) (*SecurityGroup, error)
	// AuthorizeIngress adds the rules in one call (rules already present are skipped).
	AuthorizeIngress(ctx context.Context, groupID string, rules []IngressRule) error
	// RevokeIngress removes the rules in one call (rules already absent are skipped).
	RevokeIngress(ctx context.Context, groupID string, rules []IngressRule) error
	// DeleteSecurityGroupID deletes a group by id; gone when AWS no longer has it.
	DeleteSecurityGroupID(ctx context.Context, groupID string) (Gone, error)
}

var _ SetOps = (*Client)(nil)

// GroupIndex is the index of a gsi security group (0 for the first).
func GroupIndex(g SecurityGroup) int {
	i, err := strconv.Atoi(g.Tags[TagGroupIndex])
	if err != nil || i < 0 {
		return 0
	}
	return i
}

// SameRule reports whether two ingress rules are the same rule for EC2 (protocol, ports
// and CIDR; the description is not part of a rule's identity).
func SameRule(a, b IngressRule) bool { return sameRule(a, b) }

// CreateVPCRoute implements SetOps.
func (c *Client) CreateVPCRoute(ctx context.Context, spec RouteSpec) error {
	dest, err := spec.validate()
	if err != nil {
		return err
	}
	_, err = c.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{
		RouteTableId: sdkaws.String(spec.RouteTableID), DestinationCidrBlock: sdkaws.String(dest), TransitGatewayId: sdkaws.String(spec.TransitGatewayID),
	})
	if err != nil {
		return wrapErr("CreateRoute", err)
	}
	c.log.V(1).Info("created VPC route", "routeTable", spec.RouteTableID, "destination", dest, "transitGateway", spec.TransitGatewayID)
	return nil
}

// DeleteVPCRoute implements SetOps.
func (c *Client) DeleteVPCRoute(ctx context.Context, spec RouteSpec) error {
	dest, err := spec.validate()
	if err != nil {
		return err
	}
	_, err = c.ec2.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: sdkaws.String(spec.RouteTableID), DestinationCidrBlock: sdkaws.String(dest)})
	if err = wrapErr("DeleteRoute", err); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	c.log.V(1).Info("deleted VPC route", "routeTable", spec.RouteTableID, "destination", dest)
	return nil
}

// ListSecurityGroups implements SetOps.
func (c *Client) ListSecurityGroups(ctx context.Context, owner Owner) ([]SecurityGroup, error) {
	if err := owner.Validate(); err != nil {
		return nil, err
	}
	groups, err := c.groups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: tagFilters(owner.Selector(RoleSecurityGroup, 0))})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(groups, func(a, b SecurityGroup) int {
		if ia, ib := GroupIndex(a), GroupIndex(b); ia != ib {
			return ia - ib
		}
		return compareStrings(a.ID, b.ID)
	})
	return groups, nil
}

// CreateSecurityGroupIndex implements SetOps.
func (c *Client) CreateSecurityGroupIndex(ctx context.Context, spec SecurityGroupSpec, index int) (*SecurityGroup, error) {
	tags := spec.Owner.Tags(RoleSecurityGroup, 0)
	if index > 0 {
		tags[TagGroupIndex] = strconv.Itoa(index)
		tags[TagName] += "-" + strconv.Itoa(index)
	}
	desc := spec.Description
	if desc == "" {
		desc = "gsi: Transit Gateway Connect for " + spec.Owner.Key()
	}
	out, err := c.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: sdkaws.String(spec.Name), Description: sdkaws.String(desc), VpcId: sdkaws.String(spec.VPCID),
		TagSpecifications: tagSpec(types.ResourceTypeSecurityGroup, tags),
	})
	err = wrapErr("CreateSecurityGroup", err)
	if errors.Is(err, ErrAlreadyExists) {
		return c.adoptGroupByName(ctx, spec, index, err)
	}
	if err != nil {
		return nil, err
	}
	c.log.Info("created security group", "owner", spec.Owner.Key(), "id", sdkaws.ToString(out.GroupId), "name", spec.Name, "index", index)
	return &SecurityGroup{ID: sdkaws.ToString(out.GroupId), ARN: sdkaws.ToString(out.SecurityGroupArn), Name: spec.Name,
		Description: desc, VPCID: spec.VPCID, Tags: tags}, nil
}

// adoptGroupByName returns the group that made the create fail as a duplicate when it is
// the owner's (a create whose reply was lost), and the duplicate error otherwise.
func (c *Client) adoptGroupByName(ctx context.Context, spec SecurityGroupSpec, index int, dup error) (*SecurityGroup, error) {
	groups, err := c.groups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: sdkaws.String("vpc-id"), Values: []string{spec.VPCID}},
		{Name: sdkaws.String("group-name"), Values: []string{spec.Name}},
	}})
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		owner, role, ok := OwnerFromTags(g.Tags)
		if ok && role == RoleSecurityGroup && owner == spec.Owner && GroupIndex(g) == index {
			return &g, nil
		}
	}
	return nil, fmt.Errorf("security group %q exists in %s and is not gsi's for %s: %w", spec.Name, spec.VPCID, spec.Owner.Key(), dup)
}

// AuthorizeIngress implements SetOps.
func (c *Client) AuthorizeIngress(ctx context.Context, groupID string, rules []IngressRule) error {
	if len(rules) == 0 {
		return nil
	}
	perms := make([]types.IpPermission, 0, len(rules))
	for _, r := range rules {
		perms = append(perms, ipPermission(r))
	}
	_, err := c.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sdkaws.String(groupID), IpPermissions: perms})
	err = wrapErr("AuthorizeSecurityGroupIngress", err)
	if errors.Is(err, ErrAlreadyExists) && len(rules) > 1 {
		// EC2 refuses the whole batch when one rule exists (a retried lost reply):
		// add them one by one, skipping duplicates.
		for _, r := range rules {
			if err := c.AuthorizeIngress(ctx, groupID, []IngressRule{r}); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil && !errors.Is(err, ErrAlreadyExists) {
		return err
	}
	c.log.V(1).Info("authorized ingress rules", "group", groupID, "count", len(rules))
	return nil
}

// RevokeIngress implements SetOps.
func (c *Client) RevokeIngress(ctx context.Context, groupID string, rules []IngressRule) error {
	if len(rules) == 0 {
		return nil
	}
	perms := make([]types.IpPermission, 0, len(rules))
	for _, r := range rules {
		p := ipPermission(r)
		p.IpRanges[0].Description = nil
		perms = append(perms, p)
	}
	_, err := c.ec2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: sdkaws.String(groupID), IpPermissions: perms})
	err = wrapErr("RevokeSecurityGroupIngress", err)
	if errors.Is(err, ErrNotFound) && len(rules) > 1 {
		for _, r := range rules {
			if err := c.RevokeIngress(ctx, groupID, []IngressRule{r}); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	c.log.V(1).Info("revoked ingress rules", "group", groupID, "count", len(rules))
	return nil
}

// DeleteSecurityGroupID implements SetOps.
func (c *Client) DeleteSecurityGroupID(ctx context.Context, groupID string) (Gone, error) {
	_, err := c.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: sdkaws.String(groupID)})
	if err != nil {
		return goneOnNotFound("DeleteSecurityGroup", err)
	}
	c.log.Info("deleted security group", "id", groupID)
	return true, nil
}
