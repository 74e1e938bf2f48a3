package aws_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	gsiaws "github.com/opengsi/gsi/controller/aws"
	"github.com/opengsi/gsi/test/ec2sim"
)

// converge runs what a reconciler does for one TransitGateway object until every
// resource is available: each step is one Ensure, a not-ready answer means "requeue".
func converge(ctx context.Context, c gsiaws.Interface, owner gsiaws.Owner, nodes []string) (map[string]string, error) {
	ids := map[string]string{}
	tg, err := c.EnsureTransitGateway(ctx, gsiaws.TransitGatewaySpec{Owner: owner, AmazonSideASN: 64512, CIDRBlocks: []string{"192.0.2.0/24"}})
	if err != nil || tg.State != gsiaws.StateAvailable {
		return ids, notReady("tgw", tg, err)
	}
	ids["tgw"], ids["tgw-rtb"] = tg.ID, tg.AssociationDefaultRouteTableID
	va, err := c.EnsureVPCAttachment(ctx, gsiaws.VPCAttachmentSpec{Owner: owner, TransitGatewayID: tg.ID, VPCID: vpcID, SubnetIDs: []string{subnetA, subnetB}})
	if err != nil || va.State != gsiaws.StateAvailable {
		return ids, notReady("vpc attachment", va, err)
	}
	ids["vpc-attachment"] = va.ID
	ca, err := c.EnsureConnectAttachment(ctx, gsiaws.ConnectAttachmentSpec{Owner: owner, TransportAttachmentID: va.ID})
	if err != nil || ca.State != gsiaws.StateAvailable {
		return ids, notReady("connect", ca, err)
	}
	ids["connect"] = ca.ID
	sg, err := c.EnsureSecurityGroup(ctx, gsiaws.SecurityGroupSpec{Owner: owner, VPCID: vpcID, Name: "gsi-sg"})
	if err != nil {
		return ids, err
	}
	ids["sg"] = sg.ID
	if _, err := c.EnsureIngressRules(ctx, sg.ID, []gsiaws.IngressRule{
		{Protocol: "47", CIDR: "192.0.2.0/24", Description: "GRE from the TGW"},
		{Protocol: "tcp", FromPort: 179, ToPort: 179, CIDR: "169.254.0.0/16"},
		{Protocol: "-1", CIDR: "10.0.0.0/16"},
	}); err != nil {
		return ids, err
	}
	for i, node := range nodes {
		cp, err := c.EnsureConnectPeer(ctx, gsiaws.ConnectPeerSpec{Owner: owner, Index: i, ConnectAttachmentID: ca.ID, PeerAddress: node,
			InsideCIDR: fmt.Sprintf("169.254.100.%d/29", 8*i)})
		if err != nil || cp.State != gsiaws.StateAvailable || cp.PeerAddress != node {
			return ids, notReady(fmt.Sprint("peer ", i), cp, err)
		}
		ids[fmt.Sprint("peer", i)] = cp.ID
	}
	for _, rtb := range []string{rtbMain, rtbPriv} {
		if _, err := c.EnsureRoute(ctx, gsiaws.RouteSpec{RouteTableID: rtb, DestinationCIDR: "10.244.0.0/16", TransitGatewayID: tg.ID}); err != nil {
			return ids, err
		}
	}
	return ids, nil
}

func notReady(what string, v any, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s not ready: %+v", what, v)
}

// teardown runs the delete path backwards; it reports whether everything is gone.
func teardown(ctx context.Context, c gsiaws.Interface, owner gsiaws.Owner, tgwID string, peers int) (bool, error) {
	for _, rtb := range []string{rtbMain, rtbPriv} {
		if err := c.DeleteRoute(ctx, gsiaws.RouteSpec{RouteTableID: rtb, DestinationCIDR: "10.244.0.0/16", TransitGatewayID: tgwID}); err != nil {
			return false, err
		}
	}
	allGone := true
	for i := range peers {
		gone, err := c.DeleteConnectPeer(ctx, owner, i)
		if err != nil {
			return false, err
		}
		allGone = allGone && bool(gone)
	}
	if !allGone {
		return false, nil
	}
	steps := []func() (gsiaws.Gone, error){
		func() (gsiaws.Gone, error) { return c.DeleteConnectAttachment(ctx, owner) },
		func() (gsiaws.Gone, error) { return c.DeleteVPCAttachment(ctx, owner) },
		func() (gsiaws.Gone, error) { return c.DeleteSecurityGroup(ctx, owner) },
		func() (gsiaws.Gone, error) { return c.DeleteTransitGateway(ctx, owner) },
	}
	for _, step := range steps {
		gone, err := step()
		if err != nil || !gone {
			return false, err
		}
	}
	return true, nil
}

func TestEnsureFlowIdempotent(t *testing.T) {
	h := newHarness(t, ec2sim.Options{})
	ctx := context.Background()
	nodes := []string{"10.0.0.10", "10.0.16.10"}
	ids, err := converge(ctx, h.client, owner, nodes)
	if err != nil {
		t.Fatal(err)
	}
	before := h.sim.Stats()
	again, err := converge(ctx, h.client, owner, nodes)
	if err != nil {
		t.Fatal(err)
	}
	after := h.sim.Stats()
	for k, v := range ids {
		if again[k] != v {
			t.Fatalf("second pass changed %s: %s → %s", k, v, again[k])
		}
	}
	for action, n := range after.ByAction {
		if isMutating(action) && n != before.ByAction[action] {
			t.Fatalf("second pass called %s %d times", action, n-before.ByAction[action])
		}
	}

	tg := must(h.client.FindTransitGateway(ctx, owner))(t)
	wantTags := owner.Tags(gsiaws.RoleTransitGateway, 0)
	for k, v := range wantTags {
		if tg.Tags[k] != v {
			t.Fatalf("tgw tag %s=%q, want %q", k, tg.Tags[k], v)
		}
	}
	if tg.Tags[gsiaws.TagName] != "gsi-demo-contrail-gsi-tgw1" {
		t.Fatalf("Name tag %q", tg.Tags[gsiaws.TagName])
	}
	peers := must(h.client.ListConnectPeers(ctx, owner))(t)
	if len(peers) != 2 || peers[0].Tags[gsiaws.TagPeerIndex] != "0" || peers[1].BGP[0].PeerAddress != "169.254.100.9" {
		t.Fatalf("peers: %+v", peers)
	}
	sg := must(h.client.FindSecurityGroup(ctx, owner))(t)
	if len(sg.Ingress) != 3 {
		t.Fatalf("ingress: %+v", sg.Ingress)
	}
	vpc := must(h.client.DescribeVPC(ctx, vpcID))(t)
	if !slices.Equal(vpc.CIDRBlocks, []string{"10.0.0.0/16", "10.1.0.0/16"}) {
		t.Fatalf("vpc cidrs %v", vpc.CIDRBlocks)
	}
	subnets := must(h.client.DescribeSubnets(ctx, []string{subnetA, subnetB}))(t)
	if len(subnets) != 2 || subnets[0].AvailabilityZone == subnets[1].AvailabilityZone {
		t.Fatalf("subnets %+v", subnets)
	}
	rts := must(h.client.DescribeRouteTables(ctx, vpcID))(t)
	for _, rt := range rts {
		i := slices.IndexFunc(rt.Routes, func(r gsiaws.Route) bool { return r.DestinationCIDR == "10.244.0.0/16" })
		if i < 0 || rt.Routes[i].TransitGatewayID != ids["tgw"] || rt.Routes[i].State != "active" {
			t.Fatalf("route table %s: %+v", rt.ID, rt.Routes)
		}
	}

	// The TGW learns the VN aggregate over BGP; the controller sees it by searching.
	if err := h.sim.AddTransitGatewayRoute(ids["tgw"], "10.244.0.0/16", ids["connect"]); err != nil {
		t.Fatal(err)
	}
	learned := must(h.client.SearchTransitGatewayRoutes(ctx, gsiaws.TGWRouteQuery{RouteTableID: ids["tgw-rtb"], AttachmentID: ids["connect"]}))(t)
	if len(learned) != 1 || learned[0].DestinationCIDR != "10.244.0.0/16" || learned[0].Type != "propagated" || learned[0].Attachments[0].AttachmentID != ids["connect"] {
		t.Fatalf("learned routes: %+v", learned)
	}
	all := must(h.client.SearchTransitGatewayRoutes(ctx, gsiaws.TGWRouteQuery{RouteTableID: ids["tgw-rtb"]}))(t)
	if len(all) != 3 {
		t.Fatalf("all tgw routes: %+v", all)
	}
	if err := h.sim.SetConnectPeerBGPStatus(ids["peer0"], "", "up"); err != nil {
		t.Fatal(err)
	}
	p0 := must(h.client.FindConnectPeer(ctx, owner, 0))(t)
	if p0.BGP[0].Status != gsiaws.BGPStatusUp || p0.BGP[1].Status != gsiaws.BGPStatusUp {
		t.Fatalf("bgp: %+v", p0.BGP)
	}

	owned := must(h.client.FindOwned(ctx, "demo", &owner))(t)
	var kinds []string
	for _, r := range owned {
		kinds = append(kinds, r.ResourceType+"/"+r.Tags[gsiaws.TagRole])
	}
	slices.Sort(kinds)
	want := []string{"security-group/security-group", "transit-gateway-attachment/connect-attachment", "transit-gateway-attachment/vpc-attachment",
		"transit-gateway-connect-peer/connect-peer", "transit-gateway-connect-peer/connect-peer", "transit-gateway/transit-gateway"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("owned: %v", kinds)
	}
	if other := must(h.client.FindOwned(ctx, "other-cluster", nil))(t); len(other) != 0 {
		t.Fatalf("other cluster owns %v", other)
	}

	gone, err := teardown(ctx, h.client, owner, ids["tgw"], len(nodes))
	if err != nil || !gone {
		t.Fatalf("teardown: %v %v", gone, err)
	}
	if left := must(h.client.FindOwned(ctx, "demo", nil))(t); len(left) != 0 {
		t.Fatalf("left behind: %+v", left)
	}
	for _, rt := range must(h.client.DescribeRouteTables(ctx, vpcID))(t) {
		if slices.ContainsFunc(rt.Routes, func(r gsiaws.Route) bool { return r.TransitGatewayID != "" }) {
			t.Fatalf("route left in %s", rt.ID)
		}
	}
	// Deleting again is a no-op that reports gone.
	if gone, err := teardown(ctx, h.client, owner, ids["tgw"], len(nodes)); err != nil || !gone {
		t.Fatalf("second teardown: %v %v", gone, err)
	}
}

func isMutating(action string) bool {
	for _, p := range []string{"Create", "Delete", "Modify", "Authorize", "Revoke", "Replace"} {
		if len(action) >= len(p) && action[:len(p)] == p {
			return true
		}
	}
	return false
}

// TestRequeueOnDelay: with a real delay the calls never block; they return pending
// resources or ErrIncorrectState and converge once the clock moves.
func TestRequeueOnDelay(t *testing.T) {
	clock := newClock()
	cfg := ec2sim.DefaultConfig()
	cfg.Delay = ec2sim.Duration{Duration: 30 * time.Second}
	h := newHarness(t, ec2sim.Options{Config: cfg, Clock: clock.Now})
	ctx := context.Background()

	tg := must(h.client.EnsureTransitGateway(ctx, gsiaws.TransitGatewaySpec{Owner: owner, AmazonSideASN: 64512, CIDRBlocks: []string{"192.0.2.0/24"}}))(t)
	if tg.State != gsiaws.StatePending {
		t.Fatalf("tgw %s", tg.State)
	}
	_, err := h.client.EnsureVPCAttachment(ctx, gsiaws.VPCAttachmentSpec{Owner: owner, TransitGatewayID: tg.ID, VPCID: vpcID, SubnetIDs: []string{subnetA}})
	wantKind(t, err, gsiaws.ErrIncorrectState)

	passes := 0
	for {
		passes++
		if passes > 20 {
			t.Fatal("no convergence")
		}
		if _, err := converge(ctx, h.client, owner, []string{"10.0.0.10"}); err == nil {
			break
		}
		clock.Step(10 * time.Second)
	}
	t.Logf("converged after %d passes", passes)
	// Adding a CIDR block to the spec modifies the TGW (state modifying for a while).
	tg = must(h.client.EnsureTransitGateway(ctx, gsiaws.TransitGatewaySpec{Owner: owner, AmazonSideASN: 64512, CIDRBlocks: []string{"192.0.2.0/24", "198.51.100.0/24"}}))(t)
	if tg.State != gsiaws.StateModifying || !slices.Contains(tg.CIDRBlocks, "198.51.100.0/24") {
		t.Fatalf("after adding a block: %s %v", tg.State, tg.CIDRBlocks)
	}

	for passes = 1; ; passes++ {
		if passes > 30 {
			t.Fatal("teardown did not converge")
		}
		gone, err := teardown(ctx, h.client, owner, tg.ID, 1)
		if err != nil && !isRequeue(err) {
			t.Fatal(err)
		}
		if gone {
			break
		}
		clock.Step(10 * time.Second)
	}
	t.Logf("torn down after %d passes", passes)
}

func isRequeue(err error) bool {
	return errorsIs(err, gsiaws.ErrIncorrectState) || errorsIs(err, gsiaws.ErrDependencyViolation)
}
