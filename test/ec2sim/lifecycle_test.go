package ec2sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/opengsi/gsi/test/ec2sim"
)

func tgwState(t testing.TB, c *ec2.Client, id string) string {
	t.Helper()
	out, err := c.DescribeTransitGateways(context.Background(), &ec2.DescribeTransitGatewaysInput{TransitGatewayIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	return string(out.TransitGateways[0].State)
}

// TestLifecycleDelay steps a fake clock through pending → available, modifying →
// available and deleting → deleted → gone, and checks the rules that depend on states.
func TestLifecycleDelay(t *testing.T) {
	clock := newClock()
	cfg := ec2sim.DefaultConfig()
	cfg.Delay = ec2sim.Duration{Duration: time.Minute}
	cfg.DeletedRetention = ec2sim.Duration{Duration: time.Hour}
	srv := ec2sim.StartForTest(t, ec2sim.Options{Config: cfg, Clock: clock.Now})
	c := newEC2(t, srv.URL(), 1)
	ctx := context.Background()

	tg := createTGW(t, c, tgwBlock)
	id := *tg.TransitGatewayId
	if tg.State != types.TransitGatewayStatePending {
		t.Fatalf("new tgw %s", tg.State)
	}
	_, err := c.CreateTransitGatewayVpcAttachment(ctx, &ec2.CreateTransitGatewayVpcAttachmentInput{TransitGatewayId: aws.String(id), VpcId: aws.String(vpcID), SubnetIds: []string{subnetA}})
	wantCode(t, err, "IncorrectState", 400)
	_, err = c.DeleteTransitGateway(ctx, &ec2.DeleteTransitGatewayInput{TransitGatewayId: aws.String(id)})
	wantCode(t, err, "IncorrectState", 400)

	clock.Step(59 * time.Second)
	if st := tgwState(t, c, id); st != "pending" {
		t.Fatalf("at 59s: %s", st)
	}
	clock.Step(time.Second)
	if st := tgwState(t, c, id); st != "available" {
		t.Fatalf("at 60s: %s", st)
	}
	if _, err := c.ModifyTransitGateway(ctx, &ec2.ModifyTransitGatewayInput{TransitGatewayId: aws.String(id), Options: &types.ModifyTransitGatewayOptions{AddTransitGatewayCidrBlocks: []string{"198.51.100.0/24"}}}); err != nil {
		t.Fatal(err)
	}
	if st := tgwState(t, c, id); st != "modifying" {
		t.Fatalf("after modify: %s", st)
	}
	clock.Step(time.Minute)

	va, err := c.CreateTransitGatewayVpcAttachment(ctx, &ec2.CreateTransitGatewayVpcAttachmentInput{TransitGatewayId: aws.String(id), VpcId: aws.String(vpcID), SubnetIds: []string{subnetA}})
	if err != nil {
		t.Fatal(err)
	}
	attID := va.TransitGatewayVpcAttachment.TransitGatewayAttachmentId
	_, err = c.CreateTransitGatewayConnect(ctx, &ec2.CreateTransitGatewayConnectInput{TransportTransitGatewayAttachmentId: attID, Options: &types.CreateTransitGatewayConnectRequestOptions{Protocol: types.ProtocolValueGre}})
	wantCode(t, err, "IncorrectState", 400)
	// A route to the TGW is a blackhole until the attachment is available.
	if _, err := c.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtbPriv), DestinationCidrBlock: aws.String("10.244.0.0/16"), TransitGatewayId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if st := routeState(t, c, rtbPriv, "10.244.0.0/16"); st != "blackhole" {
		t.Fatalf("route with pending attachment: %s", st)
	}
	clock.Step(time.Minute)
	if st := routeState(t, c, rtbPriv, "10.244.0.0/16"); st != "active" {
		t.Fatalf("route with available attachment: %s", st)
	}

	if _, err := c.DeleteTransitGatewayVpcAttachment(ctx, &ec2.DeleteTransitGatewayVpcAttachmentInput{TransitGatewayAttachmentId: attID}); err != nil {
		t.Fatal(err)
	}
	// Deleting attachments still block the TGW delete.
	_, err = c.DeleteTransitGateway(ctx, &ec2.DeleteTransitGatewayInput{TransitGatewayId: aws.String(id)})
	wantCode(t, err, "IncorrectState", 400)
	clock.Step(time.Minute)
	del, err := c.DeleteTransitGateway(ctx, &ec2.DeleteTransitGatewayInput{TransitGatewayId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if del.TransitGateway.State != types.TransitGatewayStateDeleting {
		t.Fatalf("delete: %s", del.TransitGateway.State)
	}
	clock.Step(time.Minute)
	if st := tgwState(t, c, id); st != "deleted" {
		t.Fatalf("after delete delay: %s", st)
	}
	clock.Step(time.Hour)
	_, err = c.DescribeTransitGateways(ctx, &ec2.DescribeTransitGatewaysInput{TransitGatewayIds: []string{id}})
	wantCode(t, err, "InvalidTransitGatewayID.NotFound", 400)
}

// TestRestart kills the simulator and starts a new one on the same state directory:
// nothing is lost, ids keep being unique and pending resources keep their timing.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	cfg := ec2sim.DefaultConfig()
	cfg.Delay = ec2sim.Duration{Duration: time.Minute}
	srv, err := ec2sim.Start("127.0.0.1:0", ec2sim.Options{Config: cfg, StateDir: dir, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	c := newEC2(t, srv.URL(), 1)
	ctx := context.Background()
	tg := createTGW(t, c, tgwBlock)
	clock.Step(time.Minute)
	va, err := c.CreateTransitGatewayVpcAttachment(ctx, &ec2.CreateTransitGatewayVpcAttachmentInput{TransitGatewayId: tg.TransitGatewayId, VpcId: aws.String(vpcID), SubnetIds: []string{subnetA},
		TagSpecifications: tagSpecs(types.ResourceTypeTransitGatewayAttachment, "gsi.juniper.net/role", "vpc-attachment")})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("gsi-sg"), Description: aws.String("d"), VpcId: aws.String(vpcID)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtbPriv), DestinationCidrBlock: aws.String("10.244.0.0/16"), TransitGatewayId: tg.TransitGatewayId}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Step(30 * time.Second)
	srv2 := ec2sim.StartForTest(t, ec2sim.Options{Config: cfg, StateDir: dir, Clock: clock.Now})
	c2 := newEC2(t, srv2.URL(), 1)
	atts, err := c2.DescribeTransitGatewayVpcAttachments(ctx, &ec2.DescribeTransitGatewayVpcAttachmentsInput{Filters: []types.Filter{{Name: aws.String("tag:gsi.juniper.net/role"), Values: []string{"vpc-attachment"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(atts.TransitGatewayVpcAttachments) != 1 || *atts.TransitGatewayVpcAttachments[0].TransitGatewayAttachmentId != *va.TransitGatewayVpcAttachment.TransitGatewayAttachmentId ||
		atts.TransitGatewayVpcAttachments[0].State != types.TransitGatewayAttachmentStatePending {
		t.Fatalf("attachment after restart: %+v", atts.TransitGatewayVpcAttachments)
	}
	clock.Step(30 * time.Second)
	atts, err = c2.DescribeTransitGatewayVpcAttachments(ctx, &ec2.DescribeTransitGatewayVpcAttachmentsInput{})
	if err != nil || atts.TransitGatewayVpcAttachments[0].State != types.TransitGatewayAttachmentStateAvailable {
		t.Fatalf("attachment 60s after create: %v %+v", err, atts)
	}
	if st := tgwState(t, c2, *tg.TransitGatewayId); st != "available" {
		t.Fatalf("tgw after restart: %s", st)
	}
	if _, err := c2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*sg.GroupId}}); err != nil {
		t.Fatal(err)
	}
	if st := routeState(t, c2, rtbPriv, "10.244.0.0/16"); st != "active" {
		t.Fatalf("route after restart: %s", st)
	}
	// The id sequence survived: a new TGW gets a new id.
	tg2 := createTGW(t, c2)
	if *tg2.TransitGatewayId == *tg.TransitGatewayId {
		t.Fatalf("id reused: %s", *tg2.TransitGatewayId)
	}
}

func TestFaults(t *testing.T) {
	srv := ec2sim.StartForTest(t, ec2sim.Options{Seed: 7})
	ctx := context.Background()
	noRetry := newEC2(t, srv.URL(), 1)

	t.Run("throttle all", func(t *testing.T) {
		srv.SetThrottleRate(1)
		defer srv.ClearFaults()
		_, err := noRetry.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
		wantCode(t, err, "RequestLimitExceeded", 503)
	})
	t.Run("throttle 30% converges with the standard retryer", func(t *testing.T) {
		srv.SetThrottleRate(0.3)
		defer srv.ClearFaults()
		c := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()), Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
			Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 10; o.MaxBackoff = 5 * time.Millisecond })})
		before := srv.Stats()
		for i := range 100 {
			if _, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		after := srv.Stats()
		throttled := after.Throttled - before.Throttled
		if throttled < 10 || throttled > 80 {
			t.Fatalf("throttled %d of %d requests", throttled, after.Requests-before.Requests)
		}
		t.Logf("100 calls took %d requests, %d throttled", after.Requests-before.Requests, throttled)
	})
	t.Run("error for action, twice", func(t *testing.T) {
		srv.InjectError(ec2sim.ErrorFault{Action: "DescribeSubnets", Code: "InternalError", Times: 2})
		for i, want := range []string{"InternalError", "InternalError", ""} {
			_, err := noRetry.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
			if want == "" && err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			if want != "" {
				wantCode(t, err, want, 500)
			}
		}
		// Other actions were never affected.
		if _, err := noRetry.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("latency", func(t *testing.T) {
		srv.SetLatency(150 * time.Millisecond)
		defer srv.ClearFaults()
		start := time.Now()
		if _, err := noRetry.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Fatalf("answered in %v", d)
		}
		// A client deadline shorter than the latency fails the call.
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if _, err := noRetry.DescribeVpcs(short, &ec2.DescribeVpcsInput{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("want deadline exceeded, got %v", err)
		}
	})
	t.Run("admin endpoint", func(t *testing.T) {
		body, _ := json.Marshal(ec2sim.Faults{Errors: []ec2sim.ErrorFault{{Action: "CreateTransitGateway", Code: "UnauthorizedOperation", Times: 1}}})
		req, _ := http.NewRequest(http.MethodPut, srv.URL()+"/_ec2sim/faults", bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("put faults: %v %v", err, resp)
		}
		resp.Body.Close()
		_, err = noRetry.CreateTransitGateway(ctx, &ec2.CreateTransitGatewayInput{})
		wantCode(t, err, "UnauthorizedOperation", 403)
		tg, err := noRetry.CreateTransitGateway(ctx, &ec2.CreateTransitGatewayInput{})
		if err != nil {
			t.Fatal(err)
		}
		peerReq := `{"connectPeerId":"tgw-connect-peer-0000000000000dead","status":"up"}`
		resp, err = http.Post(srv.URL()+"/_ec2sim/bgp", "application/json", bytes.NewReader([]byte(peerReq)))
		if err != nil || resp.StatusCode != 400 {
			t.Fatalf("bgp for unknown peer: %v %v", err, resp)
		}
		resp.Body.Close()
		resp, err = http.Get(srv.URL() + "/_ec2sim/stats")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st ec2sim.Stats
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Errors["UnauthorizedOperation"] != 1 || st.ByAction["CreateTransitGateway"] != 2 {
			t.Fatalf("stats: %v %+v (tgw %s)", err, st, *tg.TransitGateway.TransitGatewayId)
		}
	})
}
