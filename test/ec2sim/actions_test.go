package ec2sim_test

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/opengsi/gsi/test/ec2sim"
)

func TestDescribeSeed(t *testing.T) {
	srv := ec2sim.StartForTest(t, ec2sim.Options{})
	c := newEC2(t, srv.URL(), 1)
	ctx := context.Background()

	vpcs, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpcID}})
	if err != nil {
		t.Fatal(err)
	}
	v := vpcs.Vpcs[0]
	var cidrs []string
	for _, a := range v.CidrBlockAssociationSet {
		cidrs = append(cidrs, *a.CidrBlock)
		if a.CidrBlockState.State != types.VpcCidrBlockStateCodeAssociated {
			t.Errorf("cidr %s state %s", *a.CidrBlock, a.CidrBlockState.State)
		}
	}
	if *v.CidrBlock != "10.0.0.0/16" || !slices.Equal(cidrs, []string{"10.0.0.0/16", "10.1.0.0/16"}) || v.State != types.VpcStateAvailable {
		t.Fatalf("vpc: %s %v %s", *v.CidrBlock, cidrs, v.State)
	}

	tests := []struct {
		name    string
		filters []types.Filter
		want    []string
	}{
		{"vpc-id", []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}, []string{subnetA, subnetB, "subnet-0a1b2c3d4e5f60003", subnetA2}},
		{"az", []types.Filter{{Name: aws.String("availability-zone"), Values: []string{"us-east-1a"}}}, []string{subnetA, subnetA2}},
		{"az-or", []types.Filter{{Name: aws.String("availability-zone"), Values: []string{"us-east-1b", "us-east-1c"}}}, []string{subnetB, "subnet-0a1b2c3d4e5f60003"}},
		{"tag", []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"private-b"}}}, []string{subnetB}},
		{"tag-wildcard", []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"public-*"}}}, []string{subnetA2}},
		{"tag-key", []types.Filter{{Name: aws.String("tag-key"), Values: []string{"Name"}}}, []string{subnetA, subnetB, "subnet-0a1b2c3d4e5f60003", subnetA2}},
		{"and", []types.Filter{{Name: aws.String("availability-zone"), Values: []string{"us-east-1a"}}, {Name: aws.String("tag:Name"), Values: []string{"private-?"}}}, []string{subnetA}},
		{"cidr", []types.Filter{{Name: aws.String("cidr-block"), Values: []string{"10.1.0.0/20"}}}, []string{subnetA2}},
		{"cidr-wildcard", []types.Filter{{Name: aws.String("cidr-block"), Values: []string{"10.1.*"}}}, []string{subnetA2}},
		{"none", []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"nope"}}}, nil},
	}
	for _, tc := range tests {
		t.Run("subnets/"+tc.name, func(t *testing.T) {
			out, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: tc.filters})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range out.Subnets {
				got = append(got, *s.SubnetId)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Fatalf("got %v want %v", got, want)
			}
		})
	}

	rts, err := c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{{Name: aws.String("association.main"), Values: []string{"true"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rts.RouteTables) != 1 || *rts.RouteTables[0].RouteTableId != rtbMain {
		t.Fatalf("main route table: %+v", rts.RouteTables)
	}
	var dests []string
	for _, r := range rts.RouteTables[0].Routes {
		dests = append(dests, *r.DestinationCidrBlock+"→"+aws.ToString(r.GatewayId))
	}
	if !slices.Equal(dests, []string{"10.0.0.0/16→local", "10.1.0.0/16→local", "0.0.0.0/0→igw-0a1b2c3d4e5f60001"}) {
		t.Fatalf("routes: %v", dests)
	}
}

func TestPagination(t *testing.T) {
	cfg := ec2sim.DefaultConfig()
	for i := range 23 {
		cfg.VPCs[0].Subnets = append(cfg.VPCs[0].Subnets, ec2sim.SubnetConfig{
			ID: "subnet-1000000000000" + string(rune('a'+i)), CIDR: "10.1." + itoa(16+i) + ".0/24", AvailabilityZone: "us-east-1d",
			Tags: map[string]string{"k": "v"},
		})
	}
	srv := ec2sim.StartForTest(t, ec2sim.Options{Config: cfg})
	c := newEC2(t, srv.URL(), 1)
	ctx := context.Background()

	seen := map[string]bool{}
	pages := 0
	p := ec2.NewDescribeSubnetsPaginator(c, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.Subnets) > 5 {
			t.Fatalf("page of %d", len(out.Subnets))
		}
		for _, s := range out.Subnets {
			if seen[*s.SubnetId] {
				t.Fatalf("%s twice", *s.SubnetId)
			}
			seen[*s.SubnetId] = true
		}
	}
	if len(seen) != 27 || pages != 6 {
		t.Fatalf("got %d subnets in %d pages, want 27 in 6", len(seen), pages)
	}

	// DescribeTags pages over (resource, key) rows; a filter applies before paging.
	n := 0
	tp := ec2.NewDescribeTagsPaginator(c, &ec2.DescribeTagsInput{MaxResults: aws.Int32(5), Filters: []types.Filter{{Name: aws.String("key"), Values: []string{"k"}}}})
	for tp.HasMorePages() {
		out, err := tp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.Tags)
	}
	if n != 23 {
		t.Fatalf("tags: %d rows, want 23", n)
	}

	_, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{NextToken: aws.String("bogus")})
	wantCode(t, err, "InvalidPaginationToken", 400)
	_, err = c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(4)})
	wantCode(t, err, "InvalidParameterValue", 400)
	// A token of another action is refused.
	first, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(5)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{NextToken: first.NextToken})
	wantCode(t, err, "InvalidPaginationToken", 400)
}

func itoa(i int) string {
	return string(rune('0'+i/10)) + string(rune('0'+i%10))
}

func TestTransitGatewayFlow(t *testing.T) {
	srv := ec2sim.StartForTest(t, ec2sim.Options{})
	c := newEC2(t, srv.URL(), 1)
	ctx := context.Background()
	f := newFixture(t, c)

	tgws, err := c.DescribeTransitGateways(ctx, &ec2.DescribeTransitGatewaysInput{TransitGatewayIds: []string{f.tgw}})
	if err != nil {
		t.Fatal(err)
	}
	tg := tgws.TransitGateways[0]
	if tg.State != types.TransitGatewayStateAvailable || *tg.Options.AmazonSideAsn != defaultAS || !slices.Equal(tg.Options.TransitGatewayCidrBlocks, []string{tgwBlock}) {
		t.Fatalf("tgw: %+v", tg)
	}

	// ModifyTransitGateway adds and removes CIDR blocks.
	mod, err := c.ModifyTransitGateway(ctx, &ec2.ModifyTransitGatewayInput{TransitGatewayId: aws.String(f.tgw),
		Options: &types.ModifyTransitGatewayOptions{AddTransitGatewayCidrBlocks: []string{"198.51.100.0/24"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(mod.TransitGateway.Options.TransitGatewayCidrBlocks, []string{tgwBlock, "198.51.100.0/24"}) {
		t.Fatalf("modify: %v", mod.TransitGateway.Options.TransitGatewayCidrBlocks)
	}
	if _, err := c.ModifyTransitGateway(ctx, &ec2.ModifyTransitGatewayInput{TransitGatewayId: aws.String(f.tgw),
		Options: &types.ModifyTransitGatewayOptions{RemoveTransitGatewayCidrBlocks: []string{"198.51.100.0/24"}}}); err != nil {
		t.Fatal(err)
	}

	va, err := c.DescribeTransitGatewayVpcAttachments(ctx, &ec2.DescribeTransitGatewayVpcAttachmentsInput{
		Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}, {Name: aws.String("transit-gateway-id"), Values: []string{f.tgw}}}})
	if err != nil || len(va.TransitGatewayVpcAttachments) != 1 || !slices.Equal(va.TransitGatewayVpcAttachments[0].SubnetIds, []string{subnetA, subnetB}) {
		t.Fatalf("vpc attachments: %v %+v", err, va)
	}
	cn, err := c.DescribeTransitGatewayConnects(ctx, &ec2.DescribeTransitGatewayConnectsInput{
		Filters: []types.Filter{{Name: aws.String("transport-transit-gateway-attachment-id"), Values: []string{f.vpcAtt}}}})
	if err != nil || len(cn.TransitGatewayConnects) != 1 || cn.TransitGatewayConnects[0].Options.Protocol != types.ProtocolValueGre {
		t.Fatalf("connects: %v %+v", err, cn)
	}

	// Four Connect peers: BGP addresses from the /29, TGW address from the CIDR block.
	var peers []string
	for i := range 4 {
		inside := "169.254." + itoa(10+i) + ".0/29"
		p, err := createPeer(ctx, c, f.connect, "10.0.0."+itoa(10+i), inside)
		if err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
		cfg := p.ConnectPeerConfiguration
		if p.State != types.TransitGatewayConnectPeerStateAvailable || len(cfg.BgpConfigurations) != 2 {
			t.Fatalf("peer %d: %+v", i, p)
		}
		b := cfg.BgpConfigurations
		wantPeer := "169.254." + itoa(10+i) + ".1"
		if *b[0].PeerAddress != wantPeer || *b[0].TransitGatewayAddress != "169.254."+itoa(10+i)+".2" || *b[1].TransitGatewayAddress != "169.254."+itoa(10+i)+".3" ||
			*b[0].PeerAsn != defaultAS || *b[0].TransitGatewayAsn != defaultAS || b[0].BgpStatus != types.BgpStatusDown {
			t.Fatalf("peer %d bgp: %+v %+v", i, b[0], b[1])
		}
		if *cfg.TransitGatewayAddress != "192.0.2."+string(rune('1'+i)) {
			t.Fatalf("peer %d tgw address %s", i, *cfg.TransitGatewayAddress)
		}
		peers = append(peers, *p.TransitGatewayConnectPeerId)
	}

	// The lab sets BGP status; the TGW learns a prefix over the Connect attachment.
	if err := srv.SetConnectPeerBGPStatus(peers[0], "169.254.10.2", "up"); err != nil {
		t.Fatal(err)
	}
	dp, err := c.DescribeTransitGatewayConnectPeers(ctx, &ec2.DescribeTransitGatewayConnectPeersInput{TransitGatewayConnectPeerIds: peers[:1]})
	if err != nil {
		t.Fatal(err)
	}
	if b := dp.TransitGatewayConnectPeers[0].ConnectPeerConfiguration.BgpConfigurations; b[0].BgpStatus != types.BgpStatusUp || b[1].BgpStatus != types.BgpStatusDown {
		t.Fatalf("bgp status: %+v", b)
	}
	if err := srv.AddTransitGatewayRoute(f.tgw, "10.244.0.0/16", f.connect); err != nil {
		t.Fatal(err)
	}
	search := func(filters ...types.Filter) []string {
		t.Helper()
		out, err := c.SearchTransitGatewayRoutes(ctx, &ec2.SearchTransitGatewayRoutesInput{TransitGatewayRouteTableId: aws.String(f.rtb), Filters: filters})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range out.Routes {
			got = append(got, *r.DestinationCidrBlock+"@"+string(r.TransitGatewayAttachments[0].ResourceType))
		}
		slices.Sort(got)
		return got
	}
	stateAny := types.Filter{Name: aws.String("state"), Values: []string{"active", "blackhole"}}
	if got := search(stateAny); !slices.Equal(got, []string{"10.0.0.0/16@vpc", "10.1.0.0/16@vpc", "10.244.0.0/16@connect"}) {
		t.Fatalf("search all: %v", got)
	}
	if got := search(types.Filter{Name: aws.String("attachment.transit-gateway-attachment-id"), Values: []string{f.connect}}); !slices.Equal(got, []string{"10.244.0.0/16@connect"}) {
		t.Fatalf("search connect: %v", got)
	}
	if got := search(types.Filter{Name: aws.String("route-search.subnet-of-match"), Values: []string{"10.0.0.0/8"}}, types.Filter{Name: aws.String("type"), Values: []string{"propagated"}}); len(got) != 3 {
		t.Fatalf("search subnet-of: %v", got)
	}
	if got := search(types.Filter{Name: aws.String("route-search.exact-match"), Values: []string{"10.1.0.0/16"}}); !slices.Equal(got, []string{"10.1.0.0/16@vpc"}) {
		t.Fatalf("search exact: %v", got)
	}

	// No pagination here (as in EC2): MaxResults caps the answer and flags the rest.
	for i := range 4 {
		if err := srv.AddTransitGatewayRoute(f.rtb, "10.24"+string(rune('5'+i))+".0.0/16", f.connect); err != nil {
			t.Fatal(err)
		}
	}
	capped, err := c.SearchTransitGatewayRoutes(ctx, &ec2.SearchTransitGatewayRoutesInput{TransitGatewayRouteTableId: aws.String(f.rtb), Filters: []types.Filter{stateAny}, MaxResults: aws.Int32(5)})
	if err != nil || len(capped.Routes) != 5 || !*capped.AdditionalRoutesAvailable || capped.NextToken != nil {
		t.Fatalf("capped search: %v %+v", err, capped)
	}
	for i := range 4 {
		if err := srv.RemoveTransitGatewayRoute(f.rtb, "10.24"+string(rune('5'+i))+".0.0/16", f.connect); err != nil {
			t.Fatal(err)
		}
	}

	// VPC route to the TGW is active while the VPC attachment is available.
	if _, err := c.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtbPriv), DestinationCidrBlock: aws.String("10.244.0.0/16"), TransitGatewayId: aws.String(f.tgw)}); err != nil {
		t.Fatal(err)
	}
	if st := routeState(t, c, rtbPriv, "10.244.0.0/16"); st != "active" {
		t.Fatalf("route state %s", st)
	}
	if _, err := c.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String(rtbPriv), DestinationCidrBlock: aws.String("10.244.0.0/16"), GatewayId: aws.String("igw-0a1b2c3d4e5f60001")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String(rtbPriv), DestinationCidrBlock: aws.String("10.244.0.0/16"), TransitGatewayId: aws.String(f.tgw)}); err != nil {
		t.Fatal(err)
	}

	// Teardown in dependency order.
	for _, id := range peers {
		if _, err := c.DeleteTransitGatewayConnectPeer(ctx, &ec2.DeleteTransitGatewayConnectPeerInput{TransitGatewayConnectPeerId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteTransitGatewayConnect(ctx, &ec2.DeleteTransitGatewayConnectInput{TransitGatewayAttachmentId: aws.String(f.connect)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTransitGatewayVpcAttachment(ctx, &ec2.DeleteTransitGatewayVpcAttachmentInput{TransitGatewayAttachmentId: aws.String(f.vpcAtt)}); err != nil {
		t.Fatal(err)
	}
	if st := routeState(t, c, rtbPriv, "10.244.0.0/16"); st != "blackhole" {
		t.Fatalf("route state after detach %s", st)
	}
	if _, err := c.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: aws.String(rtbPriv), DestinationCidrBlock: aws.String("10.244.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteTransitGateway(ctx, &ec2.DeleteTransitGatewayInput{TransitGatewayId: aws.String(f.tgw)})
	if err != nil {
		t.Fatal(err)
	}
	if del.TransitGateway.State != types.TransitGatewayStateDeleted {
		t.Fatalf("deleted tgw state %s", del.TransitGateway.State)
	}
	// Deleted resources stay visible for a while, as in AWS.
	tgws, err = c.DescribeTransitGateways(ctx, &ec2.DescribeTransitGatewaysInput{TransitGatewayIds: []string{f.tgw}})
	if err != nil || tgws.TransitGateways[0].State != types.TransitGatewayStateDeleted {
		t.Fatalf("describe deleted: %v %+v", err, tgws)
	}
}

func routeState(t testing.TB, c *ec2.Client, rtb, dest string) string {
	t.Helper()
	out, err := c.DescribeRouteTables(context.Background(), &ec2.DescribeRouteTablesInput{RouteTableIds: []string{rtb}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out.RouteTables[0].Routes {
		if *r.DestinationCidrBlock == dest {
			return string(r.State)
		}
	}
	return "absent"
}

func TestSecurityGroupsAndTags(t *testing.T) {
	srv := ec2sim.StartForTest(t, ec2sim.Options{})
	c := newEC2(t, srv.URL(), 1)
	ctx := context.Background()

	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("gsi-sg"), Description: aws.String("gsi"), VpcId: aws.String(vpcID),
		TagSpecifications: tagSpecs(types.ResourceTypeSecurityGroup, "gsi.juniper.net/cluster", "c1")})
	if err != nil {
		t.Fatal(err)
	}
	id := *sg.GroupId
	auth, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: []types.IpPermission{
		{IpProtocol: aws.String("47"), IpRanges: []types.IpRange{{CidrIp: aws.String("192.0.2.0/24"), Description: aws.String("GRE from TGW")}}},
		{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(179), ToPort: aws.Int32(179), IpRanges: []types.IpRange{{CidrIp: aws.String("169.254.0.0/16")}, {CidrIp: aws.String("10.0.0.0/16")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(auth.SecurityGroupRules) != 3 || !*auth.Return {
		t.Fatalf("authorize: %+v", auth)
	}
	out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("tag:gsi.juniper.net/cluster"), Values: []string{"c1"}}, {Name: aws.String("ip-permission.cidr"), Values: []string{"10.0.0.0/16"}}}})
	if err != nil || len(out.SecurityGroups) != 1 {
		t.Fatalf("describe: %v %+v", err, out)
	}
	g := out.SecurityGroups[0]
	if len(g.IpPermissions) != 2 || len(g.IpPermissions[1].IpRanges) != 2 || *g.IpPermissions[1].FromPort != 179 || g.IpPermissions[0].FromPort != nil ||
		*g.IpPermissions[0].IpRanges[0].Description != "GRE from TGW" || len(g.IpPermissionsEgress) != 1 {
		t.Fatalf("permissions: %+v", g)
	}
	rev, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: []types.IpPermission{
		{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(179), ToPort: aws.Int32(179), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/16")}, {CidrIp: aws.String("10.9.0.0/16")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rev.RevokedSecurityGroupRules) != 1 || len(rev.UnknownIpPermissions) != 1 {
		t.Fatalf("revoke: %+v", rev)
	}
	// Revoke by rule id.
	var greRule string
	for _, r := range auth.SecurityGroupRules {
		if *r.IpProtocol == "47" {
			greRule = *r.SecurityGroupRuleId
		}
	}
	if _, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(id), SecurityGroupRuleIds: []string{greRule}}); err != nil {
		t.Fatal(err)
	}

	// Tags: create, describe with filters, delete (with and without value).
	if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id, vpcID}, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("net")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("key"), Values: []string{"team"}}}})
	if err != nil || len(tags.Tags) != 2 {
		t.Fatalf("describe tags: %v %+v", err, tags)
	}
	types0 := []string{string(tags.Tags[0].ResourceType), string(tags.Tags[1].ResourceType)}
	slices.Sort(types0)
	if !slices.Equal(types0, []string{"security-group", "vpc"}) {
		t.Fatalf("resource types %v", types0)
	}
	if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("other")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{vpcID}, Tags: []types.Tag{{Key: aws.String("team")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err = c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("key"), Values: []string{"team"}}}})
	if err != nil || len(tags.Tags) != 1 || *tags.Tags[0].ResourceId != id {
		t.Fatalf("after delete tags: %v %+v", err, tags)
	}

	if _, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	wantCode(t, err, "InvalidGroup.NotFound", 400)
}
