package ec2sim_test

import (
	"context"
	"errors"
	clocktesting "k8s.io/utils/clock/testing"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

const (
	vpcID     = "vpc-0a1b2c3d4e5f60001"
	subnetA   = "subnet-0a1b2c3d4e5f60001"
	subnetB   = "subnet-0a1b2c3d4e5f60002"
	subnetA2  = "subnet-0a1b2c3d4e5f60004"
	rtbMain   = "rtb-0a1b2c3d4e5f60001"
	rtbPriv   = "rtb-0a1b2c3d4e5f60002"
	tgwBlock  = "192.0.2.0/24"
	defaultAS = 64512
)

// newClock is a settable clock for stepping through the simulator's delays.
func newClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

// newEC2 is the real SDK client pointed at the simulator; retries off unless attempts>1.
func newEC2(t testing.TB, url string, attempts int) *ec2.Client {
	t.Helper()
	return ec2.New(ec2.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: attempts,
	})
}

// wantCode asserts an EC2 error code (and HTTP status when status != 0).
func wantCode(t testing.TB, err error, code string, status int) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want code %s, got %s (%s)", code, ae.ErrorCode(), ae.ErrorMessage())
	}
	if status != 0 {
		var re *awshttp.ResponseError
		if !errors.As(err, &re) || re.HTTPStatusCode() != status {
			t.Fatalf("want HTTP %d for %s, got %v", status, code, err)
		}
	}
}

// fixture is a TGW with a VPC attachment and a Connect attachment, all available.
type fixture struct {
	tgw, rtb, vpcAtt, connect string
}

func tagSpecs(rt types.ResourceType, kv ...string) []types.TagSpecification {
	spec := types.TagSpecification{ResourceType: rt}
	for i := 0; i+1 < len(kv); i += 2 {
		spec.Tags = append(spec.Tags, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return []types.TagSpecification{spec}
}

func createTGW(t testing.TB, c *ec2.Client, cidrs ...string) *types.TransitGateway {
	t.Helper()
	out, err := c.CreateTransitGateway(context.Background(), &ec2.CreateTransitGatewayInput{
		Options: &types.TransitGatewayRequestOptions{AmazonSideAsn: aws.Int64(defaultAS), TransitGatewayCidrBlocks: cidrs},
	})
	if err != nil {
		t.Fatalf("create tgw: %v", err)
	}
	return out.TransitGateway
}

func newFixture(t testing.TB, c *ec2.Client) fixture {
	t.Helper()
	ctx := context.Background()
	tg := createTGW(t, c, tgwBlock)
	va, err := c.CreateTransitGatewayVpcAttachment(ctx, &ec2.CreateTransitGatewayVpcAttachmentInput{
		TransitGatewayId: tg.TransitGatewayId, VpcId: aws.String(vpcID), SubnetIds: []string{subnetA, subnetB},
	})
	if err != nil {
		t.Fatalf("create vpc attachment: %v", err)
	}
	ca, err := c.CreateTransitGatewayConnect(ctx, &ec2.CreateTransitGatewayConnectInput{
		TransportTransitGatewayAttachmentId: va.TransitGatewayVpcAttachment.TransitGatewayAttachmentId,
		Options:                             &types.CreateTransitGatewayConnectRequestOptions{Protocol: types.ProtocolValueGre},
	})
	if err != nil {
		t.Fatalf("create connect: %v", err)
	}
	return fixture{
		tgw: *tg.TransitGatewayId, rtb: *tg.Options.AssociationDefaultRouteTableId,
		vpcAtt: *va.TransitGatewayVpcAttachment.TransitGatewayAttachmentId, connect: *ca.TransitGatewayConnect.TransitGatewayAttachmentId,
	}
}

func createPeer(ctx context.Context, c *ec2.Client, attachment, peerAddr, inside string) (*types.TransitGatewayConnectPeer, error) {
	out, err := c.CreateTransitGatewayConnectPeer(ctx, &ec2.CreateTransitGatewayConnectPeerInput{
		TransitGatewayAttachmentId: aws.String(attachment), PeerAddress: aws.String(peerAddr), InsideCidrBlocks: []string{inside},
	})
	if err != nil {
		return nil, err
	}
	return out.TransitGatewayConnectPeer, nil
}
