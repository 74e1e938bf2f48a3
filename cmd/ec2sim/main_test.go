package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// startBinary runs the built ec2sim and returns its endpoint (read from its log).
func startBinary(t *testing.T, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("ec2sim exited before serving")
			}
			if _, rest, found := strings.Cut(line, "endpoint="); found {
				go func() {
					for range lines { // keep draining so the process never blocks on stderr
					}
				}()
				return cmd, strings.Fields(rest)[0]
			}
		case <-timeout:
			t.Fatal("ec2sim did not report its endpoint")
		}
	}
}

func client(endpoint string) *ec2.Client {
	return ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
}

// TestKillAndRestart builds the binary, creates resources, kills it with SIGKILL and
// restarts it on the same state directory: everything is still there. It also checks
// the fault flags.
func TestKillAndRestart(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "ec2sim")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	state := t.TempDir()
	ctx := context.Background()

	cmd, ep := startBinary(t, bin, "-state-dir", state, "-fail", "DescribeVpcs=UnauthorizedOperation:1")
	c := client(ep)
	_, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnauthorizedOperation" {
		t.Fatalf("-fail flag: %v", err)
	}
	if _, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); err != nil {
		t.Fatalf("after the injected failure: %v", err)
	}
	var ids []string
	for range 3 {
		out, err := c.CreateTransitGateway(ctx, &ec2.CreateTransitGatewayInput{TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeTransitGateway, Tags: []types.Tag{{Key: aws.String("gsi.juniper.net/cluster"), Value: aws.String("demo")}}}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *out.TransitGateway.TransitGatewayId)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	cmd2, ep2 := startBinary(t, bin, "-state-dir", state, "-throttle-rate", "1")
	c2 := client(ep2)
	_, err = c2.DescribeTransitGateways(ctx, &ec2.DescribeTransitGatewaysInput{})
	if !errors.As(err, &ae) || ae.ErrorCode() != "RequestLimitExceeded" {
		t.Fatalf("-throttle-rate 1: %v", err)
	}
	if err := cmd2.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd2.Wait(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	_, ep3 := startBinary(t, bin, "-state-dir", state)
	out, err := client(ep3).DescribeTransitGateways(ctx, &ec2.DescribeTransitGatewaysInput{
		Filters: []types.Filter{{Name: aws.String("tag:gsi.juniper.net/cluster"), Values: []string{"demo"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range out.TransitGateways {
		got = append(got, *tg.TransitGatewayId)
	}
	if strings.Join(got, ",") != strings.Join(slices.Sorted(slices.Values(ids)), ",") {
		t.Fatalf("after SIGKILL and restart: %v, created %v", got, ids)
	}
	if entries, err := os.ReadDir(state); err != nil || len(entries) != 1 {
		t.Fatalf("state dir holds %v (%v), want only the state file", entries, err)
	}
}
