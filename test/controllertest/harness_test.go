package controllertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
	"github.com/opengsi/gsi/controller/aws"
	"github.com/opengsi/gsi/controller/connectedpeer"
	"github.com/opengsi/gsi/controller/manager"
	"github.com/opengsi/gsi/test/ec2sim"
	"github.com/opengsi/gsi/test/envtest"
	"github.com/opengsi/gsi/test/kubelet"
)

// The seeded VPC of ec2sim's default config.
const (
	vpcID   = "vpc-0a1b2c3d4e5f60001"
	rtbMain = "rtb-0a1b2c3d4e5f60001"
	rtbPriv = "rtb-0a1b2c3d4e5f60002"
	region  = "us-east-1"
)

var subnets = []string{"subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"}

// env is the package's one API server (TestMain).
var env *envtest.Env

func TestMain(m *testing.M) {
	if _, err := envtest.Assets(); err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "controllertest:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "controllertest: skipping:", err)
		os.Exit(0)
	}
	ctrllog.SetLogger(logr.Discard())
	var err error
	env, err = envtest.StartEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "controllertest:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "controllertest:", err)
	}
	os.Exit(code)
}

func randSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// harness is one test's world: a namespace (the gsi namespace of its controller), crpd
// nodes, a GSIPlugin and license, a CN2 control node, an EC2 simulator, the controller
// and a stand-in for the scheduler and kubelet.
type harness struct {
	t        testing.TB
	ctx      context.Context
	c        client.Client
	ns       string
	cluster  string
	nodes    []string
	stateDir string
	simAddr  string
	sim      *ec2sim.Server
	opts     manager.Options

	mu   sync.Mutex
	stop func()
}

type harnessOptions struct {
	nodes  int
	config func(*ec2sim.Config)
	opts   func(*manager.Options)
}

func newHarness(t testing.TB, ho harnessOptions) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	suffix := randSuffix()
	h := &harness{t: t, ctx: ctx, c: env.Client, ns: "gsi-" + suffix, cluster: "test-" + suffix, stateDir: t.TempDir()}
	h.must(h.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns}}))
	h.startSim(ho.config)
	for i := range ho.nodes {
		h.addNode(fmt.Sprintf("crpd-%s-%d", suffix, i), fmt.Sprintf("10.0.%d.%d", i, 10+i), true)
	}
	h.must(h.c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "crpd-license"},
		Data: map[string][]byte{gsiv1.LicenseSecretKey: []byte("test-license")}}))
	h.must(h.c.Create(ctx, &pluginsv1alpha1.GSIPlugin{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "contrail-gsi-plugin"},
		Spec: pluginsv1alpha1.GSIPluginSpec{AWSRegion: region, IAMRoleARN: "arn:aws:iam::123456789012:role/gsi", VPCID: vpcID}}))
	h.createCN2("BGPRouter", h.ns, "control-node-1", map[string]any{
		"parent":              map[string]any{"apiVersion": "core.contrail.juniper.net/v1alpha1", "kind": "RoutingInstance", "namespace": h.ns, "name": "ip-fabric"},
		"bgpRouterParameters": map[string]any{"routerType": "control-node", "address": "10.0.200.1", "autonomousSystem": int64(64512), "identifier": "10.0.200.1"},
	})
	h.opts = manager.Options{
		MetricsAddr: "0", ProbeAddr: "0", Namespace: h.ns, ClusterName: h.cluster,
		AWSEndpoint: "", AWSMaxBackoff: 100 * time.Millisecond,
		AWSCredentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		PollInterval:   100 * time.Millisecond, Resync: time.Minute, RetryAfter: 500 * time.Millisecond,
		SkipNameValidation: true, Logger: logr.Discard(), Scheme: env.Scheme, MaxConcurrentReconciles: 2,
	}
	if testing.Verbose() && os.Getenv("GSI_TEST_LOG") != "" {
		h.opts.Logger = testLogger(t)
	}
	if ho.opts != nil {
		ho.opts(&h.opts)
	}
	// the test API server has no scheduler and no kubelet
	k := &kubelet.Kubelet{Client: h.c, Namespace: h.ns, Nodes: h.nodeNames, Interval: 30 * time.Millisecond, Log: logr.Discard()}
	go k.Run(ctx)
	t.Cleanup(h.cleanup)
	return h
}

func (h *harness) must(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

// startSim starts (or, with the same state directory and address, restarts) the simulator.
func (h *harness) startSim(config func(*ec2sim.Config)) {
	h.t.Helper()
	cfg := ec2sim.DefaultConfig()
	cfg.Quotas.RoutesPerRouteTable = 500
	if config != nil {
		config(&cfg)
	}
	addr := h.simAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var srv *ec2sim.Server
	var err error
	// The port of a just-closed listener can take a moment to be free again.
	for attempt := 0; attempt < 50; attempt++ {
		srv, err = ec2sim.Start(addr, ec2sim.Options{Config: cfg, StateDir: h.stateDir})
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.must(err)
	h.mu.Lock()
	first := h.sim == nil && h.simAddr == ""
	h.sim, h.simAddr = srv, srv.Addr()
	h.mu.Unlock()
	if first {
		// Close whichever simulator runs at the end (restartSim replaces it).
		h.t.Cleanup(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.sim != nil {
				_ = h.sim.Close()
				h.sim = nil
			}
		})
	}
}

// restartSim kills the simulator and starts it again from its saved state.
func (h *harness) restartSim() {
	h.t.Helper()
	h.mu.Lock()
	old := h.sim
	h.sim = nil
	h.mu.Unlock()
	if err := old.Close(); err != nil {
		h.t.Logf("closing ec2sim: %v", err)
	}
	h.startSim(nil)
}

// startManager runs the controller until stopManager; via (optional) is a transport
// between the controller and the simulator (the killer), run as a proxy so the
// controller's own EC2 client stays as in production.
func (h *harness) startManager(via http.RoundTripper) {
	h.t.Helper()
	o := h.opts
	o.AWSEndpoint = "http://" + h.simAddr
	if via != nil {
		target := &url.URL{Scheme: "http", Host: h.simAddr}
		proxy := httptest.NewServer(&httputil.ReverseProxy{
			Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
			Transport: via,
		})
		h.t.Cleanup(proxy.Close)
		o.AWSEndpoint = proxy.URL
	}
	mgr, err := manager.New(env.Config, o)
	h.must(err)
	h.run(mgr.Start)
}

func (h *harness) run(start func(context.Context) error) {
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan error, 1)
	go func() { done <- start(ctx) }()
	h.mu.Lock()
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Logf("manager: %v", err)
		}
	}
	h.mu.Unlock()
}

// stopManager stops the controller and waits until it has.
func (h *harness) stopManager() {
	h.mu.Lock()
	stop := h.stop
	h.stop = nil
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// cleanup stops the controller and removes what the test left in the shared API server
// (finalizers included, since no controller will remove them any more).
func (h *harness) cleanup() {
	h.stopManager()
	ctx := context.Background()
	for _, list := range []client.ObjectList{&gsiv1.TransitGatewayList{}, &gsiv1.ConnectedPeerList{}, &gsiv1.RouteList{}} {
		if err := h.c.List(ctx, list, client.InNamespace(h.ns)); err != nil {
			continue
		}
		items, _ := metaItems(list)
		for _, o := range items {
			o.SetFinalizers(nil)
			_ = h.c.Update(ctx, o)
			_ = h.c.Delete(ctx, o)
		}
	}
	for _, kind := range []string{"VirtualNetwork", "Subnet", "RoutingInstance", "BGPRouter"} {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(cn2Group.WithKind(kind))
		_ = h.c.DeleteAllOf(ctx, u, client.InNamespace(h.ns))
	}
	_ = h.c.DeleteAllOf(ctx, &pluginsv1alpha1.GSIPlugin{}, client.InNamespace(h.ns))
	_ = h.c.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(h.ns), client.GracePeriodSeconds(0))
	for _, n := range h.nodeNames() {
		_ = h.c.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	_ = h.c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns}})
}

func metaItems(list client.ObjectList) ([]client.Object, error) {
	var out []client.Object
	switch l := list.(type) {
	case *gsiv1.TransitGatewayList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *gsiv1.ConnectedPeerList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *gsiv1.RouteList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out, nil
}

// addNode creates a node with an InternalIP, labelled for routers when crpd.
func (h *harness) addNode(name, ip string, crpd bool) {
	h.t.Helper()
	labels := map[string]string{"kubernetes.io/hostname": name}
	if crpd {
		labels[gsiv1.CRPDNodeLabel] = ""
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	h.must(h.c.Create(h.ctx, n))
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	h.must(h.c.Status().Update(h.ctx, n))
	h.mu.Lock()
	h.nodes = append(h.nodes, name)
	h.mu.Unlock()
}

// setNodeLabel adds or removes the crpd label of a node.
func (h *harness) setCRPD(name string, on bool) {
	h.t.Helper()
	var n corev1.Node
	h.must(h.c.Get(h.ctx, client.ObjectKey{Name: name}, &n))
	before := n.DeepCopy()
	if on {
		n.Labels[gsiv1.CRPDNodeLabel] = ""
	} else {
		delete(n.Labels, gsiv1.CRPDNodeLabel)
	}
	h.must(h.c.Patch(h.ctx, &n, client.MergeFrom(before)))
}

var cn2Group = schema.GroupVersion{Group: "core.contrail.juniper.net", Version: "v1alpha1"}

func (h *harness) createCN2(kind, ns, name string, spec map[string]any) {
	h.t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(cn2Group.WithKind(kind))
	u.SetNamespace(ns)
	u.SetName(name)
	h.must(h.c.Create(h.ctx, u))
}

// addVN creates a Subnet, a VirtualNetwork and its RoutingInstance in namespace ns.
func (h *harness) addVN(ns, name, cidr string, rt int) {
	h.t.Helper()
	h.createCN2("Subnet", ns, name+"-v4", map[string]any{"cidr": cidr})
	h.createCN2("VirtualNetwork", ns, name, map[string]any{"v4SubnetReference": map[string]any{
		"apiVersion": "core.contrail.juniper.net/v1alpha1", "kind": "Subnet", "namespace": ns, "name": name + "-v4"}})
	h.createCN2("RoutingInstance", ns, name, map[string]any{"routeTargetReferences": []any{
		map[string]any{"name": fmt.Sprintf("target:64512:%d", 8000000+rt)}}})
}

func (h *harness) cn2Object(kind, ns, name string) *unstructured.Unstructured {
	h.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(cn2Group.WithKind(kind))
	h.must(h.c.Get(h.ctx, client.ObjectKey{Namespace: ns, Name: name}, u))
	return u
}

// label sets (tgw != "") or removes the expose label of a VN.
func (h *harness) label(ns, name, tgw string) {
	h.t.Helper()
	u := h.cn2Object("VirtualNetwork", ns, name)
	before := u.DeepCopy()
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	if tgw == "" {
		delete(labels, gsiv1.ExposeLabel)
	} else {
		labels[gsiv1.ExposeLabel] = tgw
	}
	u.SetLabels(labels)
	h.must(h.c.Patch(h.ctx, u, client.MergeFrom(before)))
}

// setSubnetCIDR changes a VN's subnet.
func (h *harness) setSubnetCIDR(ns, vn, cidr string) {
	h.t.Helper()
	u := h.cn2Object("Subnet", ns, vn+"-v4")
	before := u.DeepCopy()
	h.must(unstructured.SetNestedField(u.Object, cidr, "spec", "cidr"))
	h.must(h.c.Patch(h.ctx, u, client.MergeFrom(before)))
}

// sourceTGW is the CN2 guide's TransitGateway manifest, placeholders filled.
func (h *harness) sourceTGW(name string, scale int32) *gsiv1.TransitGateway {
	return &gsiv1.TransitGateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec: gsiv1.TransitGatewaySpec{
			SubnetIDs: subnets, ConnectedPeerScale: scale, TransitASN: 64513, PeerASN: ptr.To[int64](64513),
			TransitCIDR: "192.0.2.0/24", BgpCidr: "169.254.10.0", ControlNodeASN: 64512, LicenseSecretName: "crpd-license",
			ControllerContainer: &corev1.Container{Name: "controller", Command: []string{"/manager", "-mode=client"},
				Image: "ghcr.io/opengsi/gsi-controller:v0.1.0", ImagePullPolicy: corev1.PullAlways},
			CrpdContainer: &corev1.Container{Name: "crpd", Image: "ghcr.io/opengsi/gsi-router:v0.1.0"},
			InitContainer: &corev1.Container{Name: "init", Image: "docker.io/library/busybox:1.36"},
		},
	}
}

// awsClient reads the simulator as the tests' independent observer.
func (h *harness) awsClient() *aws.Client {
	h.t.Helper()
	c, err := aws.New(h.ctx, aws.Config{Region: region, Endpoint: "http://" + h.simAddr,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""), MaxBackoff: 100 * time.Millisecond,
		RateLimits: map[string]aws.RateLimit{"DescribeTags": {QPS: 1000, Burst: 1000}, "DescribeRouteTables": {QPS: 1000, Burst: 1000}}})
	h.must(err)
	return c
}

func (h *harness) owner(tgw string) aws.Owner {
	return aws.Owner{Cluster: h.cluster, Namespace: h.ns, Name: tgw}
}

// eventually polls cond until it returns nil or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) getTGW(name string) *gsiv1.TransitGateway {
	h.t.Helper()
	var tgw gsiv1.TransitGateway
	h.must(h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, &tgw))
	return &tgw
}

// waitAvailable waits for the TransitGateway to be available with every peer ready.
func (h *harness) waitAvailable(name string, timeout time.Duration) *gsiv1.TransitGateway {
	h.t.Helper()
	var tgw gsiv1.TransitGateway
	eventually(h.t, timeout, "TransitGateway "+name+" available and ready", func() error {
		if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, &tgw); err != nil {
			return err
		}
		ready := conditionTrue(tgw.Status.Conditions, gsiv1.ConditionReady)
		if tgw.Status.State != gsiv1.StateAvailable || !ready || tgw.Status.ObservedGeneration != tgw.Generation {
			return fmt.Errorf("state %q, conditions %s", tgw.Status.State, conditionSummary(tgw.Status.Conditions))
		}
		return nil
	})
	return &tgw
}

func conditionTrue(cs []metav1.Condition, t string) bool {
	for _, c := range cs {
		if c.Type == t {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

func condition(cs []metav1.Condition, t string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}

func conditionSummary(cs []metav1.Condition) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return strings.Join(parts, "; ")
}

// deleteTGW deletes a TransitGateway and waits until it is gone.
func (h *harness) deleteTGW(name string, timeout time.Duration) {
	h.t.Helper()
	h.must(client.IgnoreNotFound(h.c.Delete(h.ctx, &gsiv1.TransitGateway{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name}})))
	eventually(h.t, timeout, "TransitGateway "+name+" deleted", func() error {
		var tgw gsiv1.TransitGateway
		err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, &tgw)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("still there: state %q, %s", tgw.Status.State, conditionSummary(tgw.Status.Conditions))
	})
}

// assertNothingOwned checks the simulator holds no live resource tagged for the cluster.
func (h *harness) assertNothingOwned() {
	h.t.Helper()
	owned, err := h.awsClient().FindOwned(h.ctx, h.cluster, nil)
	h.must(err)
	var live []string
	for _, r := range owned {
		live = append(live, fmt.Sprintf("%s (%s)", r.ID, r.Tags[aws.TagRole]))
	}
	if len(live) > 0 {
		h.t.Fatalf("gsi-owned resources left in AWS: %v", live)
	}
	rts, err := h.awsClient().DescribeRouteTables(h.ctx, vpcID)
	h.must(err)
	for _, rt := range rts {
		for _, r := range rt.Routes {
			if r.TransitGatewayID != "" {
				h.t.Fatalf("route %s → %s left in %s", r.DestinationCIDR, r.TransitGatewayID, rt.ID)
			}
		}
	}
}

// killer is an EC2 transport that, once a chosen action has succeeded, fails every
// later request and calls kill: the controller dies between two AWS steps.
type killer struct {
	base   http.RoundTripper
	action string
	after  int
	kill   func()

	mu     sync.Mutex
	seen   int
	killed bool
}

func (k *killer) RoundTrip(req *http.Request) (*http.Response, error) {
	k.mu.Lock()
	dead := k.killed
	k.mu.Unlock()
	if dead {
		return nil, errors.New("killer: the controller is dead")
	}
	action := ""
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, fmt.Errorf("killer: reading body: %w", err)
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
		if v, err := url.ParseQuery(string(body)); err == nil {
			action = v.Get("Action")
		}
	}
	resp, err := k.base.RoundTrip(req)
	if err == nil && action == k.action && resp.StatusCode < 300 {
		k.mu.Lock()
		k.seen++
		fire := k.seen > k.after && !k.killed
		if fire {
			k.killed = true
		}
		k.mu.Unlock()
		if fire {
			go k.kill()
		}
	}
	return resp, err
}

func (k *killer) fired() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.killed
}

func (h *harness) nodeNames() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.nodes...)
}

// bgpRouters lists the BGPRouters gsi made for this test's peers.
func (h *harness) bgpRouters(t testing.TB) []unstructured.Unstructured {
	t.Helper()
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(cn2Group.WithKind("BGPRouterList"))
	h.must(h.c.List(h.ctx, l, client.MatchingLabels{connectedpeer.BGPRouterNamespaceLabel: h.ns}))
	return l.Items
}

// testLogger logs the controller into the test log (GSI_TEST_LOG=1 with -v).
func testLogger(t testing.TB) logr.Logger {
	return funcr.New(func(prefix, args string) { t.Log(prefix, args) }, funcr.Options{Verbosity: 1})
}
