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

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/test/ec2sim"
	"github.com/opengsi/gsi/test/envtest"
	"github.com/opengsi/gsi/test/kubelet"
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
	dir        string
	bin        string
	ports      []int // webhook, webhook metrics, webhook probes, controller metrics, controller probes
	kubeconfig string
	env        *envtest.Env
	ec2        *ec2sim.Server
	lab        *lab
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
	d.dir = dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return d, fmt.Errorf("demo dir: %w", err)
	}
	for _, stage := range []struct {
		msg string
		fn  func(context.Context) error
	}{
		{"building gsi's binaries (go build ./cmd/...)", d.build},
		{"starting kube-apiserver and etcd (with gsi's CRDs and a minimal CN2)", d.startAPIServer},
		{"starting the EC2 simulator (the demo's AWS: one VPC, four subnets, two route tables)", d.startEC2},
		{"installing gsi (kubectl kustomize manifests | kubectl apply -f -)", d.install},
		{"starting gsi-webhook (self-managed certificate, caBundle patched into its configurations)", d.startWebhook},
		{"creating the CN2 side: nodes, a control node, virtual networks (test/demo/cluster.yaml)", d.createCluster},
		{"starting the network: FRR as the TGW, BIRD as the CN2 control node, vRouters (namespaces)", d.startLab},
		{"starting gsi-controller against the EC2 simulator, and a stand-in kubelet that runs router pods as gsi-router", d.startController},
		{"applying the CN2 guide's examples (kubectl apply -k manifests/examples)", d.applyExamples},
		{"exposing the web VN, following it until every VPC route table has it and the TGW learned it over BGP\n    (kubectl gsi expose web -n blue --transit-gateway tgw1 --wait)", d.expose},
		{"waiting for tgw1 to become available, the web VN's route to reach every VPC route table and BGP to come up", d.waitConverged},
	} {
		step(stage.msg)
		if err := stage.fn(ctx); err != nil {
			return d, err
		}
	}
	return d, nil
}

func (d *demo) build(ctx context.Context) error {
	var err error
	d.bin, err = buildBinaries(ctx, d.dir)
	return err
}

func (d *demo) startAPIServer(context.Context) error {
	var err error
	if d.env, err = envtest.StartEnv(); err != nil {
		return err
	}
	d.closers = append(d.closers, d.env.Stop)
	d.kubeconfig = filepath.Join(d.dir, "kubeconfig")
	kc, err := os.ReadFile(d.env.Kubeconfig)
	if err != nil {
		return fmt.Errorf("reading kubeconfig: %w", err)
	}
	if err := os.WriteFile(d.kubeconfig, kc, 0o600); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return nil
}

func (d *demo) startEC2(context.Context) error {
	stateDir := filepath.Join(d.dir, "ec2sim")
	if err := os.RemoveAll(stateDir); err != nil {
		return fmt.Errorf("clearing simulator state: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("simulator state dir: %w", err)
	}
	var err error
	if d.ec2, err = ec2sim.Start(d.o.ec2Addr, ec2sim.Options{Config: ec2sim.DefaultConfig(), StateDir: stateDir}); err != nil {
		return fmt.Errorf("starting the EC2 simulator: %w", err)
	}
	d.closers = append(d.closers, d.ec2.Close)
	return nil
}

func (d *demo) install(ctx context.Context) error {
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	d.ports = ports
	return d.installManifests(ctx, fmt.Sprintf("https://127.0.0.1:%d", d.ports[0]))
}

func (d *demo) startWebhook(ctx context.Context) error {
	p, err := startProcess("gsi-webhook", d.dir, []string{"KUBECONFIG=" + d.kubeconfig},
		filepath.Join(d.bin, "gsi-webhook"), "--host=127.0.0.1", fmt.Sprintf("--port=%d", d.ports[0]),
		"--cert-ips=127.0.0.1", fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", d.ports[1]),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", d.ports[2]))
	if err != nil {
		return err
	}
	d.closers = append(d.closers, p.stop)
	return p.waitHealthy(ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", d.ports[2]))
}

func (d *demo) createCluster(ctx context.Context) error {
	if err := d.kubectl(ctx, "apply", "-f", "test/demo/cluster.yaml"); err != nil {
		return err
	}
	// a kubelet reports its node's address; these nodes have none, so the demo does
	for name, ip := range demoNodeIPs {
		patch := fmt.Sprintf(`{"status":{"addresses":[{"type":"InternalIP","address":%q},{"type":"Hostname","address":%q}]}}`, ip, name)
		if _, err := d.kubectlOutput(ctx, "patch", "node", name, "--subresource=status", "--type=merge", "-p", patch); err != nil {
			return err
		}
	}
	return nil
}

// demoNodeIPs are the InternalIP addresses of test/demo/cluster.yaml's nodes.
var demoNodeIPs = map[string]string{
	"ip-10-0-1-10.ec2.internal":  "10.0.1.10",
	"ip-10-0-17-20.ec2.internal": "10.0.17.20",
}

func (d *demo) startController(ctx context.Context) error {
	p, err := startProcess("gsi-controller", d.dir, []string{
		"KUBECONFIG=" + d.kubeconfig, "AWS_ACCESS_KEY_ID=demo", "AWS_SECRET_ACCESS_KEY=demo",
	},
		filepath.Join(d.bin, "gsi-controller"), "--aws-endpoint="+d.ec2.URL(), "--aws-poll-interval=1s",
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", d.ports[3]),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", d.ports[4]))
	if err != nil {
		return err
	}
	d.closers = append(d.closers, p.stop)
	if err := p.waitHealthy(ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", d.ports[4])); err != nil {
		return err
	}
	kctx, cancel := context.WithCancel(context.Background())
	k := &kubelet.Kubelet{Client: d.env.Client, Namespace: gsiv1.DefaultNamespace,
		Selector: labels.SelectorFromSet(labels.Set{"app": gsiv1.RouterPodAppLabel}), Log: logr.Discard(),
		Start: d.lab.startRouter}
	done := make(chan struct{})
	go func() { k.Run(kctx); close(done) }()
	bridged := make(chan struct{})
	go func() { d.bridgeTGW(kctx); close(bridged) }()
	d.closers = append(d.closers, func() error { cancel(); <-done; <-bridged; return nil })
	return nil
}

func (d *demo) applyExamples(ctx context.Context) error {
	return d.kubectl(ctx, "apply", "-k", "manifests/examples")
}

func (d *demo) expose(ctx context.Context) error {
	return d.kubectl(ctx, "gsi", "expose", "web", "-n", "blue", "--transit-gateway", "tgw1", "--wait", "--timeout=3m")
}

// waitConverged follows tgw1 and the web VN's Route until they are ready, printing each
// change of state as a user watching `kubectl get -w` would see it.
func (d *demo) waitConverged(ctx context.Context) error {
	last := ""
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		var tgw gsiv1.TransitGateway
		if err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: gsiv1.DefaultNamespace, Name: "tgw1"}, &tgw); err != nil {
			return false, nil
		}
		var routes gsiv1.RouteList
		if err := d.env.Client.List(ctx, &routes, client.InNamespace(gsiv1.DefaultNamespace)); err != nil {
			return false, nil
		}
		routeState, advertised := "none", false
		if len(routes.Items) > 0 {
			routeState, advertised = string(routes.Items[0].Status.State), routes.Items[0].Status.Advertised
		}
		established := 0
		var cp gsiv1.ConnectedPeer
		if err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: gsiv1.DefaultNamespace, Name: "tgw1-0"}, &cp); err == nil {
			for _, s := range cp.Status.Sessions {
				if s.State == "established" {
					established++
				}
			}
		}
		now := fmt.Sprintf("tgw1 %s (%s), peers ready %d, BGP sessions established %d/3, web route %s, advertised %v",
			orDash(string(tgw.Status.State)), orDash(tgw.Status.TransitGatewayID), tgw.Status.PeersReady,
			established, orDash(routeState), advertised)
		if now != last {
			fmt.Println("    " + now)
			last = now
		}
		return tgw.Status.State == gsiv1.StateAvailable && routeState == string(gsiv1.RouteActive) &&
			established == 3 && advertised, nil
	})
	if err != nil {
		return fmt.Errorf("gsi did not converge: %w (see %s/gsi-controller.log)", err, d.dir)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
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

// kubectlCommand runs the real kubectl against the demo's API server from the repository
// root, with the gsi plugin on PATH (plugins take no flags before their name, hence
// KUBECONFIG rather than --kubeconfig).
func (d *demo) kubectlCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	cmd.Dir = envtest.RepoRoot()
	cmd.Env = append(os.Environ(), "KUBECONFIG="+d.kubeconfig,
		"PATH="+d.bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return cmd
}

func (d *demo) kubectlStdin(ctx context.Context, stdin string, args ...string) error {
	cmd := d.kubectlCommand(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	fmt.Print(indent(string(out)))
	return nil
}

func (d *demo) kubectlOutput(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	cmd := d.kubectlCommand(ctx, args...)
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
	fmt.Printf("    export PATH=%s:$PATH    # kubectl gsi\n\n", d.bin)
	d.labTour()
	for _, args := range [][]string{
		{"get", "gsiplugins,transitgateways,connectedpeers,routes", "-A"},
		{"gsi", "status"},
		{"gsi", "bgp"},
		{"gsi", "routes"},
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
