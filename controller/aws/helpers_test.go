package aws_test

import (
	"context"
	"errors"
	clocktesting "k8s.io/utils/clock/testing"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus"

	gsiaws "github.com/opengsi/gsi/controller/aws"
	"github.com/opengsi/gsi/test/ec2sim"
)

const (
	vpcID   = "vpc-0a1b2c3d4e5f60001"
	subnetA = "subnet-0a1b2c3d4e5f60001"
	subnetB = "subnet-0a1b2c3d4e5f60002"
	rtbMain = "rtb-0a1b2c3d4e5f60001"
	rtbPriv = "rtb-0a1b2c3d4e5f60002"
	igw     = "igw-0a1b2c3d4e5f60001"
)

var owner = gsiaws.Owner{Cluster: "demo", Namespace: "contrail-gsi", Name: "tgw1"}

// newClock is a settable clock for stepping through the simulator's delays.
func newClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

type harness struct {
	sim    *ec2sim.Server
	client *gsiaws.Client
	reg    *prometheus.Registry
}

// newHarness starts a simulator and a layer client against it. Backoff is kept short
// so throttled runs converge quickly; the client-side limits are generous unless the
// test sets its own.
func newHarness(t testing.TB, opts ec2sim.Options, mutate ...func(*gsiaws.Config)) *harness {
	t.Helper()
	sim := ec2sim.StartForTest(t, opts)
	reg := prometheus.NewRegistry()
	cfg := gsiaws.Config{
		Region: "us-east-1", Endpoint: sim.URL(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		MaxBackoff:  10 * time.Millisecond, Registerer: reg,
		RateLimits: fastLimits(),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := gsiaws.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{sim: sim, client: c, reg: reg}
}

func fastLimits() map[string]gsiaws.RateLimit {
	m := map[string]gsiaws.RateLimit{}
	for _, op := range []string{"CreateTransitGateway", "CreateTransitGatewayVpcAttachment", "CreateTransitGatewayConnect", "CreateTransitGatewayConnectPeer",
		"DeleteTransitGateway", "DeleteTransitGatewayVpcAttachment", "DeleteTransitGatewayConnect", "DeleteTransitGatewayConnectPeer", "ModifyTransitGateway",
		"CreateSecurityGroup", "DeleteSecurityGroup", "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "CreateRoute", "ReplaceRoute", "DeleteRoute"} {
		m[op] = gsiaws.RateLimit{QPS: 1000, Burst: 100}
	}
	return m
}

// must(f())(t) returns f's value or fails the test with its error.
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func wantKind(t testing.TB, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("want %v, got %v", kind, err)
	}
}

func staticCreds() credentials.StaticCredentialsProvider {
	return credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
}
