package aws_test

import (
	"context"
	"errors"
	"testing"

	gsiaws "github.com/opengsi/gsi/controller/aws"
	"github.com/opengsi/gsi/test/ec2sim"
)

// TestSetOps covers the set-based calls the exposure and TGW reconcilers use: no
// describe before the mutation, duplicates and absences tolerated, overflow groups.
func TestSetOps(t *testing.T) {
	h := newHarness(t, ec2sim.Options{})
	ctx := context.Background()
	tg := must(h.client.EnsureTransitGateway(ctx, gsiaws.TransitGatewaySpec{Owner: owner, AmazonSideASN: 64512}))(t)
	route := gsiaws.RouteSpec{RouteTableID: rtbPriv, DestinationCIDR: "10.244.0.0/16", TransitGatewayID: tg.ID}

	t.Run("routes", func(t *testing.T) {
		if err := h.client.CreateVPCRoute(ctx, route); err != nil {
			t.Fatal(err)
		}
		wantKind(t, h.client.CreateVPCRoute(ctx, route), gsiaws.ErrAlreadyExists)
		for range 2 {
			if err := h.client.DeleteVPCRoute(ctx, route); err != nil {
				t.Fatalf("delete (absent is fine): %v", err)
			}
		}
		wantKind(t, h.client.CreateVPCRoute(ctx, gsiaws.RouteSpec{RouteTableID: rtbPriv, DestinationCIDR: "nope", TransitGatewayID: tg.ID}), gsiaws.ErrInvalidParameter)
	})

	t.Run("security groups", func(t *testing.T) {
		spec := func(name string) gsiaws.SecurityGroupSpec {
			return gsiaws.SecurityGroupSpec{Owner: owner, VPCID: vpcID, Name: name}
		}
		g0 := must(h.client.CreateSecurityGroupIndex(ctx, spec("gsi-sg"), 0))(t)
		g1 := must(h.client.CreateSecurityGroupIndex(ctx, spec("gsi-sg-1"), 1))(t)
		// A create whose reply was lost is adopted by name when the tags are ours.
		again := must(h.client.CreateSecurityGroupIndex(ctx, spec("gsi-sg-1"), 1))(t)
		if again.ID != g1.ID {
			t.Fatalf("adopted %s, want %s", again.ID, g1.ID)
		}
		// The same name under another owner is not adopted.
		other := gsiaws.SecurityGroupSpec{Owner: gsiaws.Owner{Cluster: "demo", Namespace: "x", Name: "y"}, VPCID: vpcID, Name: "gsi-sg"}
		if _, err := h.client.CreateSecurityGroupIndex(ctx, other, 0); !errors.Is(err, gsiaws.ErrAlreadyExists) {
			t.Fatalf("foreign name: %v", err)
		}
		groups := must(h.client.ListSecurityGroups(ctx, owner))(t)
		if len(groups) != 2 || groups[0].ID != g0.ID || gsiaws.GroupIndex(groups[1]) != 1 || groups[1].Tags[gsiaws.TagName] != "gsi-demo-contrail-gsi-tgw1-security-group-1" {
			t.Fatalf("groups: %+v", groups)
		}
		if first := must(h.client.FindSecurityGroup(ctx, owner))(t); first.ID != g0.ID {
			t.Fatalf("FindSecurityGroup gave %s, want the index-0 group %s", first.ID, g0.ID)
		}

		r := func(cidr string) gsiaws.IngressRule { return gsiaws.IngressRule{Protocol: "-1", CIDR: cidr} }
		if err := h.client.AuthorizeIngress(ctx, g0.ID, []gsiaws.IngressRule{r("10.244.0.0/16"), r("10.245.0.0/16")}); err != nil {
			t.Fatal(err)
		}
		// One already present: EC2 refuses the batch, the call falls back to one by one.
		if err := h.client.AuthorizeIngress(ctx, g0.ID, []gsiaws.IngressRule{r("10.245.0.0/16"), r("10.246.0.0/16")}); err != nil {
			t.Fatal(err)
		}
		if n := len(must(h.client.FindSecurityGroup(ctx, owner))(t).Ingress); n != 3 {
			t.Fatalf("%d rules, want 3", n)
		}
		if err := h.client.RevokeIngress(ctx, g0.ID, []gsiaws.IngressRule{r("10.244.0.0/16"), r("10.99.0.0/16")}); err != nil {
			t.Fatal(err)
		}
		if err := h.client.RevokeIngress(ctx, g0.ID, []gsiaws.IngressRule{r("10.98.0.0/16"), r("10.99.0.0/16")}); err != nil {
			t.Fatalf("revoke of absent rules: %v", err)
		}
		if n := len(must(h.client.FindSecurityGroup(ctx, owner))(t).Ingress); n != 2 {
			t.Fatalf("%d rules, want 2", n)
		}
		if !gsiaws.SameRule(gsiaws.IngressRule{Protocol: "6", FromPort: 179, ToPort: 179, CIDR: "10.0.0.1/16"}, gsiaws.IngressRule{Protocol: "tcp", FromPort: 179, ToPort: 179, CIDR: "10.0.0.0/16", Description: "x"}) {
			t.Fatal("SameRule: 6/tcp with masked CIDR should be the same rule")
		}

		if gone := must(h.client.DeleteSecurityGroupID(ctx, g1.ID))(t); !gone {
			t.Fatal("not gone")
		}
		if gone := must(h.client.DeleteSecurityGroupID(ctx, g1.ID))(t); !gone {
			t.Fatal("deleting an absent group is gone too")
		}
		must(h.client.CreateSecurityGroupIndex(ctx, spec("gsi-sg-2"), 2))(t)
		if gone := must(h.client.DeleteSecurityGroup(ctx, owner))(t); !gone {
			t.Fatal("DeleteSecurityGroup(owner) not gone")
		}
		if left := must(h.client.ListSecurityGroups(ctx, owner))(t); len(left) != 0 {
			t.Fatalf("left: %+v", left)
		}
	})
}
