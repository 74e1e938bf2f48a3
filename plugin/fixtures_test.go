package plugin

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	k8scorev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
)

// Route tables of the fixtures' VPC.
const (
	rtbA = "rtb-0a1b2c3d4e5f60718"
	rtbB = "rtb-0b2c3d4e5f6071829"
	sgID = "sg-0c3d4e5f607182930"
)

var testBuild = BuildInfo{Version: "v0.1.0-test", GitCommit: "abc1234", BuildDate: "2026-11-21T00:00:00Z", GoVersion: "go1.26", Platform: "linux/amd64"}

// fixture is a Gateway Service Instance as the controller and the routers would have
// left it: a GSIPlugin, a TransitGateway with two connected peers whose routers have BGP
// up, controller and router pods, the license, and VirtualNetworks, two of them exposed
// with their Routes active.
type fixture struct {
	t      testing.TB
	ctx    context.Context
	gsiNS  string // namespace of the GSI objects (--gsi-namespace)
	vnNS   string // namespace of the VirtualNetworks
	tgw    string
	now    time.Time
	client client.Client
}

func suffix5() string { return fmt.Sprintf("%05d", rand.IntN(100000)) }

// newFixture makes namespaces of its own, and removes them when the test ends.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), gsiNS: "gsi-" + suffix5(), vnNS: "team-" + suffix5(),
		tgw: "tgw1", now: time.Now().Truncate(time.Second), client: env.Client}
	for _, ns := range []string{f.gsiNS, f.vnNS} {
		f.create(&k8scorev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		t.Cleanup(func() {
			_ = env.Client.Delete(context.Background(), &k8scorev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		})
	}
	return f
}

func (f *fixture) create(obj client.Object) {
	f.t.Helper()
	if err := f.client.Create(f.ctx, obj); err != nil {
		f.t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// createWithStatus creates obj and then writes its status, as a controller would.
func (f *fixture) createWithStatus(obj client.Object, setStatus func()) {
	f.t.Helper()
	f.create(obj)
	setStatus()
	if err := f.client.Status().Update(f.ctx, obj); err != nil {
		f.t.Fatalf("status of %T %s: %v", obj, obj.GetName(), err)
	}
}

func ready(reason string) []metav1.Condition {
	return []metav1.Condition{{Type: corev1.ConditionReady, Status: metav1.ConditionTrue, Reason: reason,
		LastTransitionTime: metav1.Now()}}
}

// healthy builds the whole healthy GSI.
func (f *fixture) healthy() *fixture {
	f.plugin()
	f.gateway(f.tgw, 2, corev1.StateAvailable)
	f.license()
	f.controllerPods()
	for i := 0; i < 2; i++ {
		f.peer(i, []string{crpdNode0, crpdNode1}[i], "established", "established")
	}
	f.vn("blue", "10.20.0.0/16", f.tgw)
	f.vn("green", "10.30.0.0/16", f.tgw)
	f.vn("red", "10.40.0.0/16", "")
	f.route("blue", "10.20.0.0/16", corev1.RouteActive, true, corev1.RouteTableActive, corev1.RouteTableActive)
	f.route("green", "10.30.0.0/16", corev1.RouteActive, true, corev1.RouteTableActive, corev1.RouteTableActive)
	f.exposedOn(f.tgw, "blue", "10.20.0.0/16", "green", "10.30.0.0/16")
	return f
}

// exposedOn records in the TransitGateway's status the networks routed through it, as
// the controller does: pairs of VN name and CIDR.
func (f *fixture) exposedOn(tgw string, nameCIDR ...string) {
	f.t.Helper()
	g := &corev1.TransitGateway{}
	if err := f.client.Get(f.ctx, client.ObjectKey{Namespace: f.gsiNS, Name: tgw}, g); err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(nameCIDR); i += 2 {
		g.Status.ExposedNetworks = append(g.Status.ExposedNetworks,
			corev1.ExposedNetwork{Namespace: f.vnNS, Name: nameCIDR[i], CIDR: nameCIDR[i+1]})
	}
	if err := f.client.Status().Update(f.ctx, g); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) plugin() {
	p := &pluginsv1alpha1.GSIPlugin{
		ObjectMeta: metav1.ObjectMeta{Name: "contrail-gsi-plugin", Namespace: f.gsiNS},
		Spec: pluginsv1alpha1.GSIPluginSpec{AWSRegion: "us-east-2", IAMRoleARN: "arn:aws:iam::123456789012:role/gsi",
			VPCID: "vpc-0123456789abcdef0"},
	}
	f.createWithStatus(p, func() {
		p.Status = pluginsv1alpha1.GSIPluginStatus{VPCCIDRs: []string{"10.0.0.0/16"}, RouteTableIDs: []string{rtbA, rtbB},
			ObservedGeneration: 1, Conditions: ready("VPCDescribed")}
	})
}

func (f *fixture) gateway(name string, scale int32, state corev1.TransitGatewayState) {
	g := &corev1.TransitGateway{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.gsiNS},
		Spec: corev1.TransitGatewaySpec{
			SubnetIDs:          []string{"subnet-0a1b2c3d4e5f60718", "subnet-0b2c3d4e5f6071829"},
			ConnectedPeerScale: scale, TransitASN: 64513, PeerASN: ptr.To[int64](64513),
			TransitCIDR: "192.0.2.0/24", BgpCidr: "169.254.10.0", ControlNodeASN: 64512,
			LicenseSecretName: corev1.DefaultLicenseSecretName,
		},
	}
	f.createWithStatus(g, func() {
		g.Status = corev1.TransitGatewayStatus{State: state, TransitGatewayID: "tgw-0f1e2d3c4b5a69788",
			VPCAttachmentID: "tgw-attach-0a0b0c0d0e0f10111", ConnectAttachmentID: "tgw-attach-0c0d0e0f1011121314",
			SecurityGroupIDs: []string{sgID}, PeersReady: scale, ObservedGeneration: 1}
		if state == corev1.StateAvailable {
			g.Status.Conditions = ready("Available")
		} else {
			g.Status.PeersReady = 0
			g.Status.Conditions = []metav1.Condition{{Type: corev1.ConditionAWSReady, Status: metav1.ConditionFalse,
				Reason: "TransitGatewayPending", Message: "transit gateway tgw-0f1e2d3c4b5a69788 is pending", LastTransitionTime: metav1.Now()}}
		}
	})
}

func (f *fixture) license() {
	f.create(&k8scorev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: corev1.DefaultLicenseSecretName, Namespace: f.gsiNS},
		Data: map[string][]byte{corev1.LicenseSecretKey: []byte("--- cRPD license ---")}})
}

// controllerPods are the gsi-controller Deployment's three replicas, one the leader.
func (f *fixture) controllerPods() {
	labels := map[string]string{"app": controllerAppLabel, "app.kubernetes.io/name": "gsi-controller"}
	for i, node := range []string{workerNode, workerNode, workerNode} {
		name := fmt.Sprintf("gsi-controller-7d9c5b-%c%c%c", 'a'+i, 'x', 'z')
		f.pod(name, labels, node, true)
	}
	f.create(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "gsi-controller.gsi.juniper.net", Namespace: f.gsiNS},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("gsi-controller-7d9c5b-axz_4f1c0e2a")}})
}

func (f *fixture) pod(name string, labels map[string]string, node string, isReady bool) {
	p := &k8scorev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.gsiNS, Labels: labels},
		Spec:       k8scorev1.PodSpec{NodeName: node, Containers: []k8scorev1.Container{{Name: "main", Image: "gsi"}}},
	}
	f.createWithStatus(p, func() {
		status := k8scorev1.ConditionTrue
		if !isReady {
			status = k8scorev1.ConditionFalse
		}
		p.Status = k8scorev1.PodStatus{Phase: k8scorev1.PodRunning, Conditions: []k8scorev1.PodCondition{
			{Type: k8scorev1.PodScheduled, Status: k8scorev1.ConditionTrue},
			{Type: k8scorev1.PodReady, Status: status}}}
	})
}

// peer makes ConnectedPeer <tgw>-<index> with its router pod on node and the BGP
// sessions its router reported: two to the TGW (first in tgwState0, second in tgwState1)
// and one to each control node.
func (f *fixture) peer(index int, node, tgwState0, tgwState1 string) {
	name := fmt.Sprintf("%s-%d", f.tgw, index)
	pod := fmt.Sprintf("%s-peer-%d", f.tgw, index)
	f.pod(pod, map[string]string{"app": corev1.RouterPodAppLabel, corev1.TransitGatewayLabel: f.tgw,
		corev1.PeerIndexLabel: fmt.Sprint(index)}, node, true)
	base := 8 * index
	nodeIP := fmt.Sprintf("10.0.1.%d", 10+index)
	cp := &corev1.ConnectedPeer{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.gsiNS,
			Labels: map[string]string{corev1.TransitGatewayLabel: f.tgw, corev1.PeerIndexLabel: fmt.Sprint(index)}},
		Spec: corev1.ConnectedPeerSpec{TransitGatewayName: f.tgw, Index: int32(index),
			InsideCIDR: fmt.Sprintf("169.254.10.%d/29", base), PeerASN: 64513, TransitASN: 64513, ControlNodeASN: 64512},
	}
	up := metav1.NewTime(f.now.Add(-3 * time.Hour))
	session := func(addr string, asn int64, role corev1.BGPRole, state string, fams []string, rx, tx int64) corev1.BGPSession {
		s := corev1.BGPSession{PeerAddress: addr, PeerASN: asn, Role: role, State: state, Since: &up, Families: fams}
		if state == "established" {
			s.PrefixesReceived, s.PrefixesAdvertised = rx, tx
		}
		return s
	}
	f.createWithStatus(cp, func() {
		cp.Status = corev1.ConnectedPeerStatus{
			State: corev1.StateAvailable, NodeName: node, PodName: pod, PeerAddress: nodeIP,
			TransitGatewayAddress: fmt.Sprintf("192.0.2.%d", 1+index), InsideAddress: fmt.Sprintf("169.254.10.%d", base+1),
			TransitGatewayInsideAddresses: []string{fmt.Sprintf("169.254.10.%d", base+2), fmt.Sprintf("169.254.10.%d", base+3)},
			ConnectPeerID:                 fmt.Sprintf("tgw-connect-peer-0a1b2c3d4e5f6071%d", index),
			BGPRouterName:                 "gsi-" + name,
			SessionsUpdated:               &metav1.Time{Time: f.now},
			Sessions: []corev1.BGPSession{
				session(fmt.Sprintf("169.254.10.%d", base+2), 64513, corev1.RoleTGW, tgwState0, []string{"ipv4-unicast"}, 1, 2),
				session(fmt.Sprintf("169.254.10.%d", base+3), 64513, corev1.RoleTGW, tgwState1, []string{"ipv4-unicast"}, 1, 2),
				session("10.0.2.10", 64512, corev1.RoleControlNode, "established", []string{"l3vpn-ipv4-unicast", "rtc"}, 24, 1),
				session("10.0.2.11", 64512, corev1.RoleControlNode, "established", []string{"l3vpn-ipv4-unicast", "rtc"}, 24, 1),
			},
			Conditions: ready("RouterReady"),
		}
	})
}

// vn makes a CN2 VirtualNetwork with its Subnet and RoutingInstance, exposed through
// exposeTo when that is set.
func (f *fixture) vn(name, cidr, exposeTo string) {
	obj := func(kind string, spec map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "core.contrail.juniper.net/v1alpha1", "kind": kind,
			"metadata": map[string]any{"name": name, "namespace": f.vnNS}, "spec": spec}}
	}
	f.create(obj("Subnet", map[string]any{"cidr": cidr}))
	f.create(obj("RoutingInstance", map[string]any{"routeTargetReferences": []any{map[string]any{"name": "target:64512:8000001"}}}))
	vn := obj("VirtualNetwork", map[string]any{"v4SubnetReference": map[string]any{"namespace": f.vnNS, "name": name}})
	if exposeTo != "" {
		vn.SetLabels(map[string]string{corev1.ExposeLabel: exposeTo})
	}
	f.create(vn)
}

// route makes the Route the controller would have made for VN name, in state with the
// given per-table states (rtbA, rtbB order).
func (f *fixture) route(name, cidr string, state corev1.RouteState, advertised bool, tables ...corev1.RouteTableState) *corev1.Route {
	r := &corev1.Route{
		ObjectMeta: metav1.ObjectMeta{Name: f.vnNS + "." + name, Namespace: f.gsiNS,
			Labels: map[string]string{corev1.TransitGatewayLabel: f.tgw}},
		Spec: corev1.RouteSpec{DestinationCIDR: cidr, TransitGatewayName: f.tgw, RouteTarget: "target:64512:8000001",
			VirtualNetwork: corev1.VirtualNetworkReference{Namespace: f.vnNS, Name: name}},
	}
	f.createWithStatus(r, func() {
		r.Status = corev1.RouteStatus{State: state, Advertised: advertised, SecurityGroupID: sgID,
			SecurityGroupRuleID: "sgr-0" + strings.ReplaceAll(strings.Split(cidr, "/")[0], ".", ""), ObservedGeneration: 1}
		for i, ts := range tables {
			r.Status.RouteTables = append(r.Status.RouteTables, corev1.RouteTableStatus{RouteTableID: []string{rtbA, rtbB}[i], State: ts})
		}
	})
	return r
}

// result of one kubectl gsi run.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// globalFlags point a run at the test API server and the fixture's namespaces.
func (f *fixture) globalFlags() []string {
	return []string{"--kubeconfig", env.Kubeconfig, "--cache-dir", cacheDir, "--gsi-namespace", f.gsiNS, "-n", f.vnNS}
}

// run runs kubectl gsi in-process, the way cmd/kubectl-gsi does.
func (f *fixture) run(args ...string) result {
	f.t.Helper()
	var out, errOut bytes.Buffer
	code := Run(f.withFlags(args), genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, testBuild)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// withFlags puts the global flags after the arguments, or right after __complete so the
// partial word stays last.
func (f *fixture) withFlags(args []string) []string {
	if len(args) > 0 && args[0] == "__complete" {
		return append(append([]string{args[0]}, f.globalFlags()...), args[1:]...)
	}
	return append(append([]string{}, args...), f.globalFlags()...)
}

// mustRun runs and checks the exit code.
func (f *fixture) mustRun(code int, args ...string) result {
	f.t.Helper()
	r := f.run(args...)
	if r.code != code {
		f.t.Fatalf("kubectl gsi %s: want exit %d, got\n%s", strings.Join(args, " "), code, r)
	}
	return r
}

func contains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s: missing %q in\n%s", what, w, text)
		}
	}
}
