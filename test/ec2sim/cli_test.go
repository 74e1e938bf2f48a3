package ec2sim_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/opengsi/gsi/test/ec2sim"
)

// awsCLI finds Debian's AWS CLI (hack/packages/aws.txt), else any aws on PATH.
func awsCLI(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		return "/usr/bin/aws"
	}
	if p, err := exec.LookPath("aws"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the AWS CLI (Debian package awscli) is missing: run make setup")
	}
	t.Skip("the AWS CLI is not installed (run make setup)")
	return ""
}

// TestAWSCLI drives the simulator with a client that is not aws-sdk-go-v2: the AWS CLI
// (botocore) runs one create → describe → delete sequence (testdata/cli-session.sh).
func TestAWSCLI(t *testing.T) {
	bin := awsCLI(t)
	srv := ec2sim.StartForTest(t, ec2sim.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "testdata/cli-session.sh", srv.URL(), bin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("cli session: %v\n%s", err, out.String())
	}
	transcript := out.String()
	for _, want := range []string{
		`"State": "available"`,
		`"PeerAddress": "169.254.100.1"`,
		`"TransitGatewayAddress": "169.254.100.3"`,
		`"BgpStatus": "down"`,
		"InvalidParameterValue",
		"10.244.0.0/16\ttgw-",
		"10.0.0.0/16\tpropagated\tactive\tvpc-0a1b2c3d4e5f60001",
		`"Tags": []`,
	} {
		if !strings.Contains(transcript, want) {
			t.Fatalf("transcript lacks %q:\n%s", want, transcript)
		}
	}
	st := srv.Stats()
	for _, action := range []string{"CreateTransitGateway", "DescribeTransitGateways", "CreateTransitGatewayVpcAttachment", "CreateTransitGatewayConnect",
		"CreateTransitGatewayConnectPeer", "DescribeTransitGatewayConnectPeers", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "CreateRoute",
		"DescribeRouteTables", "SearchTransitGatewayRoutes", "DescribeTags", "DeleteRoute", "DeleteSecurityGroup", "DeleteTransitGatewayConnectPeer",
		"DeleteTransitGatewayConnect", "DeleteTransitGatewayVpcAttachment", "DeleteTransitGateway"} {
		if st.ByAction[action] == 0 {
			t.Errorf("the CLI never called %s", action)
		}
	}
	if testing.Verbose() {
		t.Log("\n" + transcript)
	}
}
