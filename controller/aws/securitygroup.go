package aws

import (
	"context"
	"errors"
	"slices"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// FindSecurityGroup returns the owner's first security group (group index 0), or nil.
func (c *Client) FindSecurityGroup(ctx context.Context, owner Owner) (*SecurityGroup, error) {
	groups, err := c.ListSecurityGroups(ctx, owner)
	if err != nil || len(groups) == 0 || GroupIndex(groups[0]) != 0 {
		return nil, err
	}
	// Security groups carry no creation time; ListSecurityGroups orders by index, then
	// by id, which is stable across callers.
	return &groups[0], nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (c *Client) groups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput) ([]SecurityGroup, error) {
	var out []SecurityGroup
	p := ec2.NewDescribeSecurityGroupsPaginator(c.ec2, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrapErr("DescribeSecurityGroups", err)
		}
		for _, g := range page.SecurityGroups {
			out = append(out, *toSG(g))
		}
	}
	return out, nil
}

func (c *Client) group(ctx context.Context, id string) (*SecurityGroup, error) {
	gs, err := c.groups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	if err != nil {
		return nil, err
	}
	if len(gs) == 0 {
		return nil, &APIError{Operation: "DescribeSecurityGroups", Code: "InvalidGroup.NotFound", Message: "no security group " + id, Kind: ErrNotFound}
	}
	return &gs[0], nil
}

// EnsureSecurityGroup finds or creates the owner's security group. A group of the same
// name in the VPC that is not gsi's is ErrAlreadyExists (gsi does not adopt it).
func (c *Client) EnsureSecurityGroup(ctx context.Context, spec SecurityGroupSpec) (*SecurityGroup, error) {
	g, err := c.FindSecurityGroup(ctx, spec.Owner)
	if err != nil || g != nil {
		return g, err
	}
	desc := spec.Description
	if desc == "" {
		desc = "gsi: Transit Gateway Connect for " + spec.Owner.Key()
	}
	out, err := c.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: sdkaws.String(spec.Name), Description: sdkaws.String(desc), VpcId: sdkaws.String(spec.VPCID),
		TagSpecifications: tagSpec(types.ResourceTypeSecurityGroup, spec.Owner.Tags(RoleSecurityGroup, 0)),
	})
	if err != nil {
		return nil, wrapErr("CreateSecurityGroup", err)
	}
	c.log.Info("created security group", "owner", spec.Owner.Key(), "id", sdkaws.ToString(out.GroupId), "name", spec.Name)
	return c.group(ctx, sdkaws.ToString(out.GroupId))
}

// EnsureIngressRules authorizes the rules the group lacks.
func (c *Client) EnsureIngressRules(ctx context.Context, groupID string, rules []IngressRule) (*SecurityGroup, error) {
	g, err := c.group(ctx, groupID)
	if err != nil {
		return nil, err
	}
	missing := missingRules(g.Ingress, rules)
	if len(missing) == 0 {
		return g, nil
	}
	perms := make([]types.IpPermission, 0, len(missing))
	for _, r := range missing {
		perms = append(perms, ipPermission(r))
	}
	_, err = c.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sdkaws.String(groupID), IpPermissions: perms})
	err = wrapErr("AuthorizeSecurityGroupIngress", err)
	if errors.Is(err, ErrAlreadyExists) {
		// One of them appeared meanwhile (a lost reply retried): add the rest one by one.
		return c.authorizeEach(ctx, groupID, rules)
	}
	if err != nil {
		return nil, err
	}
	c.log.Info("authorized ingress rules", "group", groupID, "count", len(missing))
	return c.group(ctx, groupID)
}

func (c *Client) authorizeEach(ctx context.Context, groupID string, rules []IngressRule) (*SecurityGroup, error) {
	g, err := c.group(ctx, groupID)
	if err != nil {
		return nil, err
	}
	for _, r := range missingRules(g.Ingress, rules) {
		_, err := c.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
			GroupId: sdkaws.String(groupID), IpPermissions: []types.IpPermission{ipPermission(r)},
		})
		if err = wrapErr("AuthorizeSecurityGroupIngress", err); err != nil && !errors.Is(err, ErrAlreadyExists) {
			return nil, err
		}
	}
	return c.group(ctx, groupID)
}

func missingRules(have, want []IngressRule) []IngressRule {
	var out []IngressRule
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h IngressRule) bool { return sameRule(h, w) }) &&
			!slices.ContainsFunc(out, func(o IngressRule) bool { return sameRule(o, w) }) {
			out = append(out, w)
		}
	}
	return out
}

// RevokeIngressRules revokes the rules the group has among rules.
func (c *Client) RevokeIngressRules(ctx context.Context, groupID string, rules []IngressRule) (*SecurityGroup, error) {
	g, err := c.group(ctx, groupID)
	if err != nil {
		return nil, err
	}
	var perms []types.IpPermission
	for _, r := range rules {
		if slices.ContainsFunc(g.Ingress, func(h IngressRule) bool { return sameRule(h, r) }) {
			p := ipPermission(r)
			p.IpRanges[0].Description = nil
			perms = append(perms, p)
		}
	}
	if len(perms) == 0 {
		return g, nil
	}
	_, err = c.ec2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: sdkaws.String(groupID), IpPermissions: perms})
	if err = wrapErr("RevokeSecurityGroupIngress", err); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	c.log.Info("revoked ingress rules", "group", groupID, "count", len(perms))
	return c.group(ctx, groupID)
}

// DeleteSecurityGroup deletes every security group of the owner (gsi-sg and the
// overflow groups of SetOps). While network interfaces still use one EC2 answers
// DependencyViolation (ErrDependencyViolation): requeue.
func (c *Client) DeleteSecurityGroup(ctx context.Context, owner Owner) (Gone, error) {
	groups, err := c.ListSecurityGroups(ctx, owner)
	if err != nil {
		return false, err
	}
	for _, g := range groups {
		if _, err := c.DeleteSecurityGroupID(ctx, g.ID); err != nil {
			return false, err
		}
		c.log.Info("deleted security group", "owner", owner.Key(), "id", g.ID, "index", GroupIndex(g))
	}
	return true, nil
}
