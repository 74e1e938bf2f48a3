// Command demo runs gsi on its embedded default, on one machine with no cloud account:
// a local kube-apiserver with gsi's CRDs and a minimal CN2, the EC2 simulator as AWS,
// gsi installed from manifests/ with the CN2 guide's examples applied, and a small CN2
// cluster (nodes, a control node, two virtual networks). It prints what to look at with
// kubectl and keeps running until interrupted (or exits at once with -once).
//
//	make demo                  # or: go run ./test/demo
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/opengsi/gsi/test/ec2sim"
	"github.com/opengsi/gsi/test/envtest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	once    bool
	dir     string
	ec2Addr string
}

func run() error {
	var o options
	flag.BoolVar(&o.once, "once", false, "set everything up, print the tour, then stop (for tests and CI)")
	flag.StringVar(&o.dir, "dir", ".demo", "directory for the demo's kubeconfig and state")
	flag.StringVar(&o.ec2Addr, "ec2-listen", "127.0.0.1:0", "address of the EC2 simulator")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	d, err := start(ctx, o)
	if d != nil {
		defer d.close()
	}
	if err != nil {
		return err
	}
	d.tour()
	if o.once {
		return nil
	}
	fmt.Println("\nThe demo runs until you press Ctrl-C.")
	<-ctx.Done()
	fmt.Println("\nstopping the demo")
	return nil
}

// demo holds what the demo started, in start order.
type demo struct {
	o          options
	kubeconfig string
	env        *envtest.Env
	ec2        *ec2sim.Server
	closers    []func() error
}

func (d *demo) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		if err := d.closers[i](); err != nil {
			fmt.Fprintln(os.Stderr, "demo: stopping:", err)
		}
	}
}

func start(ctx context.Context, o options) (*demo, error) {
	d := &demo{o: o}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return d, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return d, fmt.Errorf("demo dir: %w", err)
	}

	step("starting kube-apiserver and etcd (with gsi's CRDs and a minimal CN2)")
	if d.env, err = envtest.StartEnv(); err != nil {
		return d, err
	}
	d.closers = append(d.closers, d.env.Stop)
	d.kubeconfig = filepath.Join(dir, "kubeconfig")
	kc, err := os.ReadFile(d.env.Kubeconfig)
	if err != nil {
		return d, fmt.Errorf("reading kubeconfig: %w", err)
	}
	if err := os.WriteFile(d.kubeconfig, kc, 0o600); err != nil {
		return d, fmt.Errorf("writing kubeconfig: %w", err)
	}

	step("starting the EC2 simulator (the demo's AWS: one VPC, four subnets, two route tables)")
	stateDir := filepath.Join(dir, "ec2sim")
	if err := os.RemoveAll(stateDir); err != nil {
		return d, fmt.Errorf("clearing simulator state: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return d, fmt.Errorf("simulator state dir: %w", err)
	}
	if d.ec2, err = ec2sim.Start(o.ec2Addr, ec2sim.Options{Config: ec2sim.DefaultConfig(), StateDir: stateDir}); err != nil {
		return d, fmt.Errorf("starting the EC2 simulator: %w", err)
	}
	d.closers = append(d.closers, d.ec2.Close)

	step("installing gsi (kubectl apply -k manifests)")
	if err := d.kubectl(ctx, "apply", "-k", "manifests"); err != nil {
		return d, err
	}
	step("creating the CN2 side: nodes, a control node, virtual networks (test/demo/cluster.yaml)")
	if err := d.kubectl(ctx, "apply", "-f", "test/demo/cluster.yaml"); err != nil {
		return d, err
	}
	step("applying the CN2 guide's examples (kubectl apply -k manifests/examples)")
	if err := d.kubectl(ctx, "apply", "-k", "manifests/examples"); err != nil {
		return d, err
	}
	return d, nil
}

func step(msg string) { fmt.Printf("==> %s\n", msg) }

// kubectl runs the real kubectl against the demo's API server from the repository root.
func (d *demo) kubectl(ctx context.Context, args ...string) error {
	out, err := d.kubectlOutput(ctx, args...)
	if err != nil {
		return err
	}
	fmt.Print(indent(out))
	return nil
}

func (d *demo) kubectlOutput(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", d.kubeconfig}, args...)...)
	cmd.Dir = envtest.RepoRoot()
	out, err := cmd.CombinedOutput()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return "", fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "    " + strings.Join(lines, "\n    ") + "\n"
}

// tour prints what a user looks at, with the live output.
func (d *demo) tour() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fmt.Printf("\ngsi is running. In another shell:\n\n    export KUBECONFIG=%s\n", d.kubeconfig)
	fmt.Printf("    export AWS_ENDPOINT_URL_EC2=%s AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo\n\n", d.ec2.URL())
	for _, args := range [][]string{
		{"get", "gsiplugins,transitgateways,connectedpeers,routes", "-A"},
		{"get", "virtualnetworks", "-A", "-L", "core.gsi.juniper.net/expose"},
		{"explain", "transitgateway.spec.bgpCidr"},
	} {
		fmt.Printf("$ kubectl %s\n", strings.Join(args, " "))
		out, err := d.kubectlOutput(ctx, args...)
		if err != nil {
			fmt.Printf("    (%v)\n", err)
			continue
		}
		fmt.Print(indent(out))
	}
}
