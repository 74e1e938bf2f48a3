package plugin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	k8scorev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	corev1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/test/envtest"
)

const (
	benchVNs       = 1000
	benchPeers     = 4
	benchNamespace = 10 // VNs spread over this many namespaces
)

// BenchmarkStatusVsKubectlGet runs `kubectl gsi status` and `kubectl get` of the same
// objects (TransitGateway, 4 ConnectedPeers, 1,000 Routes, 1,000 exposed VirtualNetworks)
// as processes, alternately, against the same API server with the same discovery cache,
// and reports both medians and their ratio.
func BenchmarkStatusVsKubectlGet(b *testing.B) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		b.Fatalf("kubectl not found (run make setup): %v", err)
	}
	gsiNS := seedBench(b)
	bin := filepath.Join(b.TempDir(), "kubectl-gsi")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kubectl-gsi")
	build.Dir = envtest.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building kubectl-gsi: %v\n%s", err, out)
	}
	cache := filepath.Join(b.TempDir(), "cache")
	gsi := []string{bin, "status", "--kubeconfig", env.Kubeconfig, "--cache-dir", cache, "--gsi-namespace", gsiNS}
	get := []string{kubectl, "get", "transitgateways,connectedpeers,routes.core.gsi.juniper.net,virtualnetworks",
		"-A", "--kubeconfig", env.Kubeconfig, "--cache-dir", cache}
	// warm the discovery cache both share, and check both see everything
	for _, argv := range [][]string{gsi, get} {
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil {
			b.Fatalf("%v: %v", argv[:2], err)
		}
		if lines := countLines(out); lines < benchVNs {
			b.Fatalf("%v printed %d lines, want at least %d", argv[:2], lines, benchVNs)
		}
	}
	var gsiTimes, getTimes []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		gsiTimes = append(gsiTimes, timeRun(b, gsi))
		getTimes = append(getTimes, timeRun(b, get))
	}
	b.StopTimer()
	g, k := median(gsiTimes), median(getTimes)
	b.ReportMetric(float64(g.Milliseconds()), "gsi-status-ms")
	b.ReportMetric(float64(k.Milliseconds()), "kubectl-get-ms")
	b.ReportMetric(float64(g)/float64(k), "ratio")
	b.Logf("%d VNs, %d peers: kubectl gsi status %v, kubectl get %v (median of %d), ratio %.2f",
		benchVNs, benchPeers, g, k, b.N, float64(g)/float64(k))
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

func timeRun(b *testing.B, argv []string) time.Duration {
	start := time.Now()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("%v: %v", argv[:2], err)
	}
	return time.Since(start)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// seedBench creates the benchmark's GSI once: a TransitGateway, 4 peers with their
// sessions, 1,000 exposed VNs over 10 namespaces, and a Route per VN with its status.
func seedBench(b *testing.B) string {
	b.Helper()
	f := &fixture{t: b, ctx: context.Background(), gsiNS: "gsi-bench-" + suffix5(), tgw: "tgw1",
		now: time.Now().Truncate(time.Second), client: env.Client}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(env.Client.Create(f.ctx, &k8scorev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.gsiNS}}))
	f.plugin()
	f.gateway(f.tgw, benchPeers, corev1.StateAvailable)
	f.license()
	f.controllerPods()
	for i := 0; i < benchPeers; i++ {
		f.peer(i, []string{crpdNode0, crpdNode1, crpdNode0, crpdNode1}[i], "established", "established")
	}
	var namespaces []string
	for i := 0; i < benchNamespace; i++ {
		ns := fmt.Sprintf("bench-%s-%d", suffix5(), i)
		must(env.Client.Create(f.ctx, &k8scorev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		namespaces = append(namespaces, ns)
	}
	work := make(chan int)
	errs := make(chan error, benchVNs)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				errs <- createBenchVN(f, namespaces[i%benchNamespace], i)
			}
		}()
	}
	for i := 0; i < benchVNs; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		must(err)
	}
	return f.gsiNS
}

func createBenchVN(f *fixture, ns string, i int) error {
	name := fmt.Sprintf("vn-%04d", i)
	cidr := fmt.Sprintf("10.%d.%d.0/24", 64+i/256, i%256)
	vn := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "core.contrail.juniper.net/v1alpha1", "kind": "VirtualNetwork",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{corev1.ExposeLabel: f.tgw}},
		"spec":     map[string]any{"v4SubnetReference": map[string]any{"namespace": ns, "name": name}},
	}}
	if err := env.Client.Create(f.ctx, vn); err != nil {
		return fmt.Errorf("VN %s: %w", name, err)
	}
	r := &corev1.Route{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "." + name, Namespace: f.gsiNS, Labels: map[string]string{corev1.TransitGatewayLabel: f.tgw}},
		Spec: corev1.RouteSpec{DestinationCIDR: cidr, TransitGatewayName: f.tgw, RouteTarget: fmt.Sprintf("target:64512:%d", 8000001+i),
			VirtualNetwork: corev1.VirtualNetworkReference{Namespace: ns, Name: name}},
	}
	if err := env.Client.Create(f.ctx, r); err != nil {
		return fmt.Errorf("Route %s: %w", r.Name, err)
	}
	r.Status = corev1.RouteStatus{State: corev1.RouteActive, Advertised: true, SecurityGroupID: sgID,
		SecurityGroupRuleID: fmt.Sprintf("sgr-%017x", i), RouteTables: []corev1.RouteTableStatus{
			{RouteTableID: rtbA, State: corev1.RouteTableActive}, {RouteTableID: rtbB, State: corev1.RouteTableActive}}}
	if err := env.Client.Status().Update(f.ctx, r); err != nil {
		return fmt.Errorf("Route %s status: %w", r.Name, err)
	}
	return nil
}
