package ec2sim_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/opengsi/gsi/test/ec2sim"
)

func newEC2(t testing.TB, srv *ec2sim.Server) *ec2.Client {
	t.Helper()
	return ec2.New(ec2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	})
}

func TestSmoke(t *testing.T) {
	srv := ec2sim.StartForTest(t, ec2sim.Options{})
	c := newEC2(t, srv)
	ctx := context.Background()
	out, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", out.Vpcs[0].CidrBlockAssociationSet)
	tg, err := c.CreateTransitGateway(ctx, &ec2.CreateTransitGatewayInput{
		Options:           &types.TransitGatewayRequestOptions{AmazonSideAsn: aws.Int64(64600), TransitGatewayCidrBlocks: []string{"192.0.2.0/24"}},
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeTransitGateway, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s %s %v %v", *tg.TransitGateway.TransitGatewayId, tg.TransitGateway.State, *tg.TransitGateway.Options.AmazonSideAsn, tg.TransitGateway.Tags)
	_, err = c.DescribeTransitGateways(ctx, &ec2.DescribeTransitGatewaysInput{TransitGatewayIds: []string{"tgw-0123"}})
	t.Logf("err: %v", err)
}
