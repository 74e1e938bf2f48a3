package aws_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	gsiaws "github.com/opengsi/gsi/controller/aws"
	"github.com/opengsi/gsi/test/ec2sim"
)

// TestThrottled30Percent: with 30% of requests throttled the whole create and delete
// paths still converge through the standard retryer, and the metrics show the retries.
func TestThrottled30Percent(t *testing.T) {
	h := newHarness(t, ec2sim.Options{Seed: 42})
	h.sim.SetThrottleRate(0.3)
	ctx := context.Background()
	nodes := []string{"10.0.0.10", "10.0.16.10", "10.0.32.10", "10.0.0.11"}
	ids, err := converge(ctx, h.client, owner, nodes)
	if err != nil {
		t.Fatalf("converge under throttling: %v", err)
	}
	if _, err := converge(ctx, h.client, owner, nodes); err != nil {
		t.Fatalf("second pass under throttling: %v", err)
	}
	if gone, err := teardown(ctx, h.client, owner, ids["tgw"], len(nodes)); err != nil || !gone {
		t.Fatalf("teardown under throttling: %v %v", gone, err)
	}
	st := h.sim.Stats()
	if st.Throttled == 0 {
		t.Fatal("nothing was throttled")
	}
	h.sim.ClearFaults()
	if left := must(h.client.FindOwned(ctx, "demo", nil))(t); len(left) != 0 {
		t.Fatalf("left behind: %+v", left)
	}
	throttledAttempts := attempts(t, h.reg, "RequestLimitExceeded")
	if throttledAttempts != float64(st.Throttled) {
		t.Fatalf("metrics count %v throttled attempts, simulator %d", throttledAttempts, st.Throttled)
	}
	// Idempotency held under retries: one TGW, one of each attachment, four peers.
	for action, want := range map[string]int{"CreateTransitGateway": 1, "CreateTransitGatewayVpcAttachment": 1, "CreateTransitGatewayConnect": 1, "CreateTransitGatewayConnectPeer": 4, "CreateSecurityGroup": 1} {
		if got := float64(st.ByAction[action]) - throttledFor(t, h.reg, action); got != float64(want) {
			t.Fatalf("%s answered %v times, want %d", action, got, want)
		}
	}
	t.Logf("%d requests, %d throttled (%.0f%%)", st.Requests, st.Throttled, 100*float64(st.Throttled)/float64(st.Requests))
}

// throttledFor is the number of attempts of one operation answered with
// RequestLimitExceeded, from the client's metrics.
func throttledFor(t testing.TB, reg *prometheus.Registry, op string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gsi_aws_api_attempts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["operation"] == op && labels["result"] == "RequestLimitExceeded" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// attempts sums gsi_aws_api_attempts_total for a result across operations.
func attempts(t testing.TB, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "gsi_aws_api_attempts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// TestSimulatorRestartMidFlow kills the simulator in the middle of the create path and
// restarts it from its state directory on the same address: the next pass adopts
// everything by tags and creates nothing twice.
func TestSimulatorRestartMidFlow(t *testing.T) {
	dir := t.TempDir()
	cfg := ec2sim.DefaultConfig()
	sim, err := ec2sim.Start("127.0.0.1:0", ec2sim.Options{Config: cfg, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addr := sim.Addr()
	c, err := gsiaws.New(context.Background(), gsiaws.Config{Region: "us-east-1", Endpoint: sim.URL(), Credentials: staticCreds(), MaxBackoff: 20 * time.Millisecond, RateLimits: fastLimits()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tg := must(c.EnsureTransitGateway(ctx, gsiaws.TransitGatewaySpec{Owner: owner, AmazonSideASN: 64512, CIDRBlocks: []string{"192.0.2.0/24"}}))(t)
	va := must(c.EnsureVPCAttachment(ctx, gsiaws.VPCAttachmentSpec{Owner: owner, TransitGatewayID: tg.ID, VPCID: vpcID, SubnetIDs: []string{subnetA}}))(t)
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}

	// While it is down, calls fail with a transport error (no AWS code): requeue.
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = c.FindTransitGateway(short, owner)
	cancel()
	if err == nil || gsiaws.ErrorCode(err) != "" {
		t.Fatalf("call to a dead simulator: %v", err)
	}

	sim2, err := ec2sim.Start(addr, ec2sim.Options{Config: cfg, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sim2.Close(); err != nil {
			t.Error(err)
		}
	})
	ids, err := converge(ctx, c, owner, []string{"10.0.0.10"})
	if err != nil {
		t.Fatal(err)
	}
	if ids["tgw"] != tg.ID || ids["vpc-attachment"] != va.ID {
		t.Fatalf("after restart: %v, before tgw %s attachment %s", ids, tg.ID, va.ID)
	}
	if n := sim2.Stats().ByAction["CreateTransitGateway"] + sim2.Stats().ByAction["CreateTransitGatewayVpcAttachment"]; n != 0 {
		t.Fatalf("recreated %d resources after restart", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "ec2sim-state.json")); err != nil {
		t.Fatal(err)
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, ec2sim.Options{})
	ctx := context.Background()
	must(h.client.EnsureTransitGateway(ctx, gsiaws.TransitGatewaySpec{Owner: owner, AmazonSideASN: 64512}))(t)
	h.sim.InjectError(ec2sim.ErrorFault{Action: "DescribeVpcs", Code: "UnauthorizedOperation", Times: 1})
	if _, err := h.client.DescribeVPC(ctx, vpcID); err == nil {
		t.Fatal("want an error")
	}
	want := `
# HELP gsi_aws_api_calls_total EC2 API calls by operation and final result (success or the AWS error code).
# TYPE gsi_aws_api_calls_total counter
gsi_aws_api_calls_total{operation="CreateTransitGateway",result="success"} 1
gsi_aws_api_calls_total{operation="DescribeTransitGateways",result="success"} 1
gsi_aws_api_calls_total{operation="DescribeVpcs",result="UnauthorizedOperation"} 1
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want), "gsi_aws_api_calls_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(h.reg, "gsi_aws_api_call_duration_seconds"); n != 3 {
		t.Fatalf("duration series: %d", n)
	}
	// A second client on the same registry shares the collectors instead of failing.
	if _, err := gsiaws.New(ctx, gsiaws.Config{Region: "us-east-1", Endpoint: h.sim.URL(), Credentials: staticCreds(), Registerer: h.reg}); err != nil {
		t.Fatal(err)
	}
}

// TestRateLimitPerOperation: a limit on one operation paces it and leaves the others.
func TestRateLimitPerOperation(t *testing.T) {
	h := newHarness(t, ec2sim.Options{}, func(c *gsiaws.Config) {
		c.RateLimits["DescribeVpcs"] = gsiaws.RateLimit{QPS: 20, Burst: 1}
	})
	ctx := context.Background()
	start := time.Now()
	for range 6 {
		if _, err := h.client.DescribeVPC(ctx, vpcID); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 240*time.Millisecond {
		t.Fatalf("6 calls at 20/s burst 1 took %v", d)
	}
	start = time.Now()
	for range 6 {
		if _, err := h.client.DescribeSubnets(ctx, []string{subnetA}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("unlimited operation took %v", d)
	}
	// Waiting honours the context.
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	for range 3 {
		if _, err := h.client.DescribeVPC(short, vpcID); err != nil {
			return
		}
	}
	t.Fatal("rate-limited calls ignored the context deadline")
}

// TestWebIdentityCredentials runs the default credential chain the way IRSA sets it up
// on EKS (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE) against a local STS stand-in, and
// checks the EC2 requests are signed with the credentials STS returned.
func TestWebIdentityCredentials(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("eyJhbGciOiJSUzI1NiJ9.payload.sig"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var stsCalls int
	var gotToken string
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		stsCalls++
		gotToken = r.Form.Get("WebIdentityToken")
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials><AccessKeyId>ASIAIRSATEST</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>%s</Expiration></Credentials>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/gsi/x</Arn><AssumedRoleId>AROA:x</AssumedRoleId></AssumedRoleUser>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	t.Cleanup(sts.Close)

	sim, err := ec2sim.New(ec2sim.Options{Config: ec2sim.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	var authHeaders []string
	ec2srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		authHeaders = append(authHeaders, r.Header.Get("Authorization"))
		mu.Unlock()
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(ec2srv.Close)

	home := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/gsi-controller", "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
		"AWS_ENDPOINT_URL_STS": sts.URL, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	c, err := gsiaws.New(context.Background(), gsiaws.Config{Region: "eu-west-1", Endpoint: ec2srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeVPC(context.Background(), vpcID); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if stsCalls != 1 || gotToken != "eyJhbGciOiJSUzI1NiJ9.payload.sig" {
		t.Fatalf("sts calls %d, token %q", stsCalls, gotToken)
	}
	if len(authHeaders) != 1 || !strings.Contains(authHeaders[0], "Credential=ASIAIRSATEST/") || !strings.Contains(authHeaders[0], "/eu-west-1/ec2/aws4_request") {
		t.Fatalf("ec2 signed with %v", authHeaders)
	}
}
