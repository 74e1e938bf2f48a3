package ec2sim_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/opengsi/gsi/test/ec2sim"
)

// TestRules drives each AWS rule and error code the simulator enforces through the
// real SDK. Each case gets a fresh simulator with a TGW, VPC and Connect attachments.
func TestRules(t *testing.T) {
	type env struct {
		c   *ec2.Client
		f   fixture
		srv *ec2sim.Server
	}
	ctx := context.Background()
	peer := func(e env, inside string) error {
		_, err := createPeer(ctx, e.c, e.f.connect, "10.0.0.10", inside)
		return err
	}
	tgwWith := func(e env, asn int64, cidrs ...string) error {
		_, err := e.c.CreateTransitGateway(ctx, &ec2.CreateTransitGatewayInput{Options: &types.TransitGatewayRequestOptions{AmazonSideAsn: aws.Int64(asn), TransitGatewayCidrBlocks: cidrs}})
		return err
	}
	route := func(e env, rtb, dest string) error {
		_, err := e.c.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtb), DestinationCidrBlock: aws.String(dest), TransitGatewayId: aws.String(e.f.tgw)})
		return err
	}
	sg := func(e env, name string) (string, error) {
		out, err := e.c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String("d"), VpcId: aws.String(vpcID)})
		if err != nil {
			return "", err
		}
		return *out.GroupId, nil
	}
	ingress := func(e env, id string, cidrs ...string) error {
		var ranges []types.IpRange
		for _, c := range cidrs {
			ranges = append(ranges, types.IpRange{CidrIp: aws.String(c)})
		}
		_, err := e.c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id),
			IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(179), ToPort: aws.Int32(179), IpRanges: ranges}}})
		return err
	}

	cases := []struct {
		name string
		run  func(e env) error
		code string
	}{
		// Connect peer inside CIDR rules.
		{"inside ok", func(e env) error { return peer(e, "169.254.6.0/29") }, ""},
		{"inside ok with ipv6", func(e env) error {
			_, err := e.c.CreateTransitGatewayConnectPeer(ctx, &ec2.CreateTransitGatewayConnectPeerInput{TransitGatewayAttachmentId: aws.String(e.f.connect),
				PeerAddress: aws.String("10.0.0.10"), InsideCidrBlocks: []string{"169.254.6.0/29", "fd00::/125"}})
			return err
		}, ""},
		{"inside /28", func(e env) error { return peer(e, "169.254.6.0/28") }, "InvalidParameterValue"},
		{"inside not link-local", func(e env) error { return peer(e, "10.9.0.0/29") }, "InvalidParameterValue"},
		{"inside host bits", func(e env) error { return peer(e, "169.254.6.1/29") }, "InvalidParameterValue"},
		{"inside ipv6 /64", func(e env) error {
			_, err := e.c.CreateTransitGatewayConnectPeer(ctx, &ec2.CreateTransitGatewayConnectPeerInput{TransitGatewayAttachmentId: aws.String(e.f.connect),
				PeerAddress: aws.String("10.0.0.10"), InsideCidrBlocks: []string{"169.254.6.0/29", "fd00::/64"}})
			return err
		}, "InvalidParameterValue"},
		{"inside overlaps another peer", func(e env) error {
			if err := peer(e, "169.254.6.0/29"); err != nil {
				return err
			}
			return peer(e, "169.254.6.0/29")
		}, "InvalidParameterValue"},
		{"fifth peer", func(e env) error {
			for i := range 5 {
				if err := peer(e, fmt.Sprintf("169.254.%d.0/29", 10+i)); err != nil {
					return err
				}
			}
			return nil
		}, "TransitGatewayConnectPeerLimitExceeded"},
		{"tgw address outside blocks", func(e env) error {
			_, err := e.c.CreateTransitGatewayConnectPeer(ctx, &ec2.CreateTransitGatewayConnectPeerInput{TransitGatewayAttachmentId: aws.String(e.f.connect),
				PeerAddress: aws.String("10.0.0.10"), InsideCidrBlocks: []string{"169.254.6.0/29"}, TransitGatewayAddress: aws.String("203.0.113.1")})
			return err
		}, "InvalidParameterValue"},
		{"reserved peer asn", func(e env) error {
			_, err := e.c.CreateTransitGatewayConnectPeer(ctx, &ec2.CreateTransitGatewayConnectPeerInput{TransitGatewayAttachmentId: aws.String(e.f.connect),
				PeerAddress: aws.String("10.0.0.10"), InsideCidrBlocks: []string{"169.254.6.0/29"}, BgpOptions: &types.TransitGatewayConnectRequestBgpOptions{PeerAsn: aws.Int64(7224)}})
			return err
		}, "InvalidParameterValue"},
		{"peer on vpc attachment", func(e env) error {
			_, err := createPeer(ctx, e.c, e.f.vpcAtt, "10.0.0.10", "169.254.6.0/29")
			return err
		}, "InvalidTransitGatewayAttachmentID.NotFound"},

		// TGW: ASN ranges, CIDR block rules, quota.
		{"asn 64511", func(e env) error { return tgwWith(e, 64511) }, "InvalidParameterValue"},
		{"asn 65535", func(e env) error { return tgwWith(e, 65535) }, "InvalidParameterValue"},
		{"asn 4200000000", func(e env) error { return tgwWith(e, 4200000000) }, ""},
		{"asn 4294967295", func(e env) error { return tgwWith(e, 4294967295) }, "InvalidParameterValue"},
		{"cidr /25", func(e env) error { return tgwWith(e, 64512, "198.51.100.0/25") }, "InvalidParameterValue"},
		{"cidr /16 ok", func(e env) error { return tgwWith(e, 64512, "172.16.0.0/16") }, ""},
		{"cidr link-local", func(e env) error { return tgwWith(e, 64512, "169.254.100.0/24") }, "InvalidParameterValue"},
		{"cidr ipv6 /64 ok", func(e env) error { return tgwWith(e, 64512, "2001:db8::/64") }, ""},
		{"cidr ipv6 /96", func(e env) error { return tgwWith(e, 64512, "2001:db8::/96") }, "InvalidParameterValue"},
		{"cidrs overlap", func(e env) error { return tgwWith(e, 64512, "172.16.0.0/16", "172.16.1.0/24") }, "InvalidParameterValue"},
		{"six cidrs", func(e env) error {
			return tgwWith(e, 64512, "172.16.0.0/24", "172.16.1.0/24", "172.16.2.0/24", "172.16.3.0/24", "172.16.4.0/24", "172.16.5.0/24")
		}, "InvalidParameterValue"},
		{"modify adds cidr overlapping vpc", func(e env) error {
			_, err := e.c.ModifyTransitGateway(ctx, &ec2.ModifyTransitGatewayInput{TransitGatewayId: aws.String(e.f.tgw),
				Options: &types.ModifyTransitGatewayOptions{AddTransitGatewayCidrBlocks: []string{"10.0.5.0/24"}}})
			return err
		}, "InvalidParameterValue"},
		{"modify removes cidr in use", func(e env) error {
			if err := peer(e, "169.254.6.0/29"); err != nil {
				return err
			}
			_, err := e.c.ModifyTransitGateway(ctx, &ec2.ModifyTransitGatewayInput{TransitGatewayId: aws.String(e.f.tgw),
				Options: &types.ModifyTransitGatewayOptions{RemoveTransitGatewayCidrBlocks: []string{tgwBlock}}})
			return err
		}, "InvalidParameterValue"},
		{"sixth tgw", func(e env) error {
			for range 5 {
				if err := tgwWith(e, 64512); err != nil {
					return err
				}
			}
			return nil
		}, "TransitGatewayLimitExceeded"},
		{"tgw malformed id", func(e env) error {
			_, err := e.c.DeleteTransitGateway(ctx, &ec2.DeleteTransitGatewayInput{TransitGatewayId: aws.String("igw-1")})
			return err
		}, "InvalidTransitGatewayID.Malformed"},

		// Attachments.
		{"two subnets in one az", func(e env) error {
			tg := createTGW(t, e.c)
			_, err := e.c.CreateTransitGatewayVpcAttachment(ctx, &ec2.CreateTransitGatewayVpcAttachmentInput{TransitGatewayId: tg.TransitGatewayId, VpcId: aws.String(vpcID), SubnetIds: []string{subnetA, subnetA2}})
			return err
		}, "DuplicateSubnetsInSameZone"},
		{"second attachment of the vpc", func(e env) error {
			_, err := e.c.CreateTransitGatewayVpcAttachment(ctx, &ec2.CreateTransitGatewayVpcAttachmentInput{TransitGatewayId: aws.String(e.f.tgw), VpcId: aws.String(vpcID), SubnetIds: []string{subnetA}})
			return err
		}, "DuplicateTransitGatewayAttachment"},
		{"attach unknown subnet", func(e env) error {
			tg := createTGW(t, e.c)
			_, err := e.c.CreateTransitGatewayVpcAttachment(ctx, &ec2.CreateTransitGatewayVpcAttachmentInput{TransitGatewayId: tg.TransitGatewayId, VpcId: aws.String(vpcID), SubnetIds: []string{"subnet-0000000000000dead"}})
			return err
		}, "InvalidSubnetID.NotFound"},
		{"attach unknown vpc", func(e env) error {
			_, err := e.c.CreateTransitGatewayVpcAttachment(ctx, &ec2.CreateTransitGatewayVpcAttachmentInput{TransitGatewayId: aws.String(e.f.tgw), VpcId: aws.String("vpc-0000000000000dead"), SubnetIds: []string{subnetA}})
			return err
		}, "InvalidVpcID.NotFound"},
		{"attach vpc overlapping tgw cidr", func(e env) error {
			tg := createTGW(t, e.c, "10.0.200.0/24")
			_, err := e.c.CreateTransitGatewayVpcAttachment(ctx, &ec2.CreateTransitGatewayVpcAttachmentInput{TransitGatewayId: tg.TransitGatewayId, VpcId: aws.String(vpcID), SubnetIds: []string{subnetA}})
			return err
		}, "InvalidParameterValue"},
		{"connect protocol not gre", func(e env) error {
			_, err := e.c.CreateTransitGatewayConnect(ctx, &ec2.CreateTransitGatewayConnectInput{TransportTransitGatewayAttachmentId: aws.String(e.f.vpcAtt),
				Options: &types.CreateTransitGatewayConnectRequestOptions{Protocol: "ipip"}})
			return err
		}, "InvalidParameterValue"},
		{"connect on unknown transport", func(e env) error {
			_, err := e.c.CreateTransitGatewayConnect(ctx, &ec2.CreateTransitGatewayConnectInput{TransportTransitGatewayAttachmentId: aws.String("tgw-attach-0000000000000dead"),
				Options: &types.CreateTransitGatewayConnectRequestOptions{Protocol: types.ProtocolValueGre}})
			return err
		}, "InvalidTransitGatewayAttachmentID.NotFound"},

		// Dependency order on delete.
		{"delete tgw with attachments", func(e env) error {
			_, err := e.c.DeleteTransitGateway(ctx, &ec2.DeleteTransitGatewayInput{TransitGatewayId: aws.String(e.f.tgw)})
			return err
		}, "IncorrectState"},
		{"delete vpc attachment under connect", func(e env) error {
			_, err := e.c.DeleteTransitGatewayVpcAttachment(ctx, &ec2.DeleteTransitGatewayVpcAttachmentInput{TransitGatewayAttachmentId: aws.String(e.f.vpcAtt)})
			return err
		}, "DependencyViolation"},
		{"delete connect with peers", func(e env) error {
			if err := peer(e, "169.254.6.0/29"); err != nil {
				return err
			}
			_, err := e.c.DeleteTransitGatewayConnect(ctx, &ec2.DeleteTransitGatewayConnectInput{TransitGatewayAttachmentId: aws.String(e.f.connect)})
			return err
		}, "DependencyViolation"},
		{"delete peer twice", func(e env) error {
			p, err := createPeer(ctx, e.c, e.f.connect, "10.0.0.10", "169.254.6.0/29")
			if err != nil {
				return err
			}
			for range 2 {
				if _, err := e.c.DeleteTransitGatewayConnectPeer(ctx, &ec2.DeleteTransitGatewayConnectPeerInput{TransitGatewayConnectPeerId: p.TransitGatewayConnectPeerId}); err != nil {
					return err
				}
			}
			return nil
		}, "InvalidTransitGatewayConnectPeerID.NotFound"},
		{"describe unknown peer", func(e env) error {
			_, err := e.c.DescribeTransitGatewayConnectPeers(ctx, &ec2.DescribeTransitGatewayConnectPeersInput{TransitGatewayConnectPeerIds: []string{"tgw-connect-peer-0000000000000dead"}})
			return err
		}, "InvalidTransitGatewayConnectPeerID.NotFound"},
		{"describe malformed tgw id", func(e env) error {
			_, err := e.c.DescribeTransitGateways(ctx, &ec2.DescribeTransitGatewaysInput{TransitGatewayIds: []string{"igw-1"}})
			return err
		}, "InvalidTransitGatewayID.Malformed"},
		{"describe malformed vpc id", func(e env) error {
			_, err := e.c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{"subnet-0a1b2c3d4e5f60001"}})
			return err
		}, "InvalidVpcID.Malformed"},
		{"describe malformed group id", func(e env) error {
			_, err := e.c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"gsi-sg"}})
			return err
		}, "InvalidGroupId.Malformed"},
		{"describe unknown tgw", func(e env) error {
			_, err := e.c.DescribeTransitGateways(ctx, &ec2.DescribeTransitGatewaysInput{TransitGatewayIds: []string{"tgw-0000000000000dead"}})
			return err
		}, "InvalidTransitGatewayID.NotFound"},
		{"describe unknown attachment", func(e env) error {
			_, err := e.c.DescribeTransitGatewayVpcAttachments(ctx, &ec2.DescribeTransitGatewayVpcAttachmentsInput{TransitGatewayAttachmentIds: []string{e.f.connect}})
			return err
		}, "InvalidTransitGatewayAttachmentID.NotFound"},
		{"describe unknown vpc", func(e env) error {
			_, err := e.c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-0000000000000dead"}})
			return err
		}, "InvalidVpcID.NotFound"},
		{"describe unknown subnet", func(e env) error {
			_, err := e.c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{"subnet-0000000000000dead"}})
			return err
		}, "InvalidSubnetID.NotFound"},
		{"describe unknown route table", func(e env) error {
			_, err := e.c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{"rtb-0000000000000dead"}})
			return err
		}, "InvalidRouteTableID.NotFound"},
		{"search unknown tgw route table", func(e env) error {
			_, err := e.c.SearchTransitGatewayRoutes(ctx, &ec2.SearchTransitGatewayRoutesInput{TransitGatewayRouteTableId: aws.String("tgw-rtb-0000000000000dead"),
				Filters: []types.Filter{{Name: aws.String("type"), Values: []string{"static"}}}})
			return err
		}, "InvalidRouteTableID.NotFound"},
		{"unknown filter", func(e env) error {
			_, err := e.c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("colour"), Values: []string{"red"}}}})
			return err
		}, "InvalidParameterValue"},

		// VPC routes.
		{"route duplicate", func(e env) error {
			if err := route(e, rtbPriv, "10.244.0.0/16"); err != nil {
				return err
			}
			return route(e, rtbPriv, "10.244.0.0/16")
		}, "RouteAlreadyExists"},
		{"route equal to local", func(e env) error { return route(e, rtbPriv, "10.0.0.0/16") }, "RouteAlreadyExists"},
		{"route table full", func(e env) error {
			for i := range 49 { // 2 local routes + 48 = 50
				if err := route(e, rtbPriv, fmt.Sprintf("172.%d.0.0/16", 16+i)); err != nil {
					return fmt.Errorf("route %d: %w", i, err)
				}
			}
			return nil
		}, "RouteLimitExceeded"},
		{"route to unknown tgw", func(e env) error {
			_, err := e.c.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtbPriv), DestinationCidrBlock: aws.String("10.244.0.0/16"), TransitGatewayId: aws.String("tgw-0000000000000dead")})
			return err
		}, "InvalidTransitGatewayID.NotFound"},
		{"route in unknown table", func(e env) error { return route(e, "rtb-0000000000000dead", "10.244.0.0/16") }, "InvalidRouteTableID.NotFound"},
		{"route bad cidr", func(e env) error { return route(e, rtbPriv, "10.244.0.0/33") }, "InvalidParameterValue"},
		{"route two targets", func(e env) error {
			_, err := e.c.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtbPriv), DestinationCidrBlock: aws.String("10.244.0.0/16"), TransitGatewayId: aws.String(e.f.tgw), GatewayId: aws.String("igw-1")})
			return err
		}, "InvalidParameterCombination"},
		{"delete missing route", func(e env) error {
			_, err := e.c.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: aws.String(rtbPriv), DestinationCidrBlock: aws.String("10.244.0.0/16")})
			return err
		}, "InvalidRoute.NotFound"},
		{"delete local route", func(e env) error {
			_, err := e.c.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: aws.String(rtbPriv), DestinationCidrBlock: aws.String("10.0.0.0/16")})
			return err
		}, "InvalidParameterValue"},
		{"replace missing route", func(e env) error {
			_, err := e.c.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String(rtbPriv), DestinationCidrBlock: aws.String("10.244.0.0/16"), TransitGatewayId: aws.String(e.f.tgw)})
			return err
		}, "InvalidParameterValue"},

		// Security groups.
		{"sg duplicate name", func(e env) error {
			if _, err := sg(e, "gsi-sg"); err != nil {
				return err
			}
			_, err := sg(e, "gsi-sg")
			return err
		}, "InvalidGroup.Duplicate"},
		{"sg name sg-", func(e env) error { _, err := sg(e, "sg-x"); return err }, "InvalidParameterValue"},
		{"sg unknown vpc", func(e env) error {
			_, err := e.c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("x"), Description: aws.String("d"), VpcId: aws.String("vpc-0000000000000dead")})
			return err
		}, "InvalidVpcID.NotFound"},
		{"sg duplicate rule", func(e env) error {
			id, err := sg(e, "gsi-sg")
			if err != nil {
				return err
			}
			if err := ingress(e, id, "10.0.0.0/16"); err != nil {
				return err
			}
			return ingress(e, id, "10.0.0.0/16")
		}, "InvalidPermission.Duplicate"},
		{"sg 60 rules ok", func(e env) error {
			id, err := sg(e, "gsi-sg")
			if err != nil {
				return err
			}
			var cidrs []string
			for i := range 60 {
				cidrs = append(cidrs, fmt.Sprintf("10.%d.0.0/16", 100+i))
			}
			return ingress(e, id, cidrs...)
		}, ""},
		{"sg 61st rule", func(e env) error {
			id, err := sg(e, "gsi-sg")
			if err != nil {
				return err
			}
			for i := range 61 {
				if err := ingress(e, id, fmt.Sprintf("10.%d.0.0/16", 100+i)); err != nil {
					return err
				}
			}
			return nil
		}, "RulesPerSecurityGroupLimitExceeded"},
		{"revoke missing rule", func(e env) error {
			id, err := sg(e, "gsi-sg")
			if err != nil {
				return err
			}
			_, err = e.c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(id),
				IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(179), ToPort: aws.Int32(179), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/16")}}}}})
			return err
		}, "InvalidPermission.NotFound"},
		{"ingress unknown group", func(e env) error { return ingress(e, "sg-0000000000000dead", "10.0.0.0/16") }, "InvalidGroup.NotFound"},
		{"ingress malformed group", func(e env) error { return ingress(e, "nope", "10.0.0.0/16") }, "InvalidGroupId.Malformed"},
		{"ingress bad ports", func(e env) error {
			id, err := sg(e, "gsi-sg")
			if err != nil {
				return err
			}
			_, err = e.c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id),
				IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(200), ToPort: aws.Int32(100), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/16")}}}}})
			return err
		}, "InvalidParameterValue"},

		// Tags and tag specifications.
		{"tag aws: prefix", func(e env) error {
			_, err := e.c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{e.f.tgw}, Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}})
			return err
		}, "InvalidParameterValue"},
		{"tag unknown resource", func(e env) error {
			_, err := e.c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"tgw-0000000000000dead"}, Tags: []types.Tag{{Key: aws.String("x"), Value: aws.String("y")}}})
			return err
		}, "InvalidTransitGatewayID.NotFound"},
		{"tag limit", func(e env) error {
			var tags []types.Tag
			for i := range 51 {
				tags = append(tags, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
			}
			_, err := e.c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{e.f.tgw}, Tags: tags})
			return err
		}, "TagLimitExceeded"},
		{"tag spec wrong resource type", func(e env) error {
			_, err := e.c.CreateTransitGateway(ctx, &ec2.CreateTransitGatewayInput{TagSpecifications: tagSpecs(types.ResourceTypeVpc, "a", "b")})
			return err
		}, "InvalidParameterValue"},
		{"dry run", func(e env) error {
			_, err := e.c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{DryRun: aws.Bool(true)})
			return err
		}, "DryRunOperation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := ec2sim.StartForTest(t, ec2sim.Options{})
			c := newEC2(t, srv.URL(), 1)
			e := env{c: c, f: newFixture(t, c), srv: srv}
			wantCode(t, tc.run(e), tc.code, 0)
		})
	}
}
