package bgplab

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	corev1k "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/test/envtest"
	"github.com/opengsi/gsi/test/netlab"
)

// TestRouterFromTheCluster runs `gsi-router run --cluster` in the lab against a real API
// server: its sessions come from the ConnectedPeer and CN2's BGPRouters, its VNs from the
// Routes, and it reports its sessions into the ConnectedPeer's status.
func TestRouterFromTheCluster(t *testing.T) {
	netlab.Require(t, BGPD, "vtysh", "bird", "birdc", "curl")
	apiEnv := envtest.Start(t)
	ctx := context.Background()
	e := &env{top: NewTopology(t)}
	for _, a := range TGWAddrs {
		e.tgws = append(e.tgws, StartFRR(t, e.top.TGW, TGWConfig{
			Address: a, ASN: routerASN, Peer: RouterTGWAddr, PeerASN: routerASN, Networks: vpc,
			Keepalive: labTimers.Keepalive.Duration, Hold: labTimers.Hold.Duration,
		}))
	}
	e.ctl = StartBIRD(t, e.top.Ctl, "bird-ctl", ControlNodeConfig{
		Address: CtlAddr, ASN: ctlASN, VNs: []VNRoutes{podsVN1},
		Peers:     []BIRDPeer{{Name: "gsi", Address: RouterCtlAddr, ASN: ctlASN}},
		Keepalive: labTimers.Keepalive.Duration, Hold: labTimers.Hold.Duration,
	})

	c := apiEnv.Client
	for _, n := range []string{corev1.DefaultNamespace, "contrail"} {
		must(t, c.Create(ctx, &corev1k.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}))
	}
	cp := &corev1.ConnectedPeer{
		ObjectMeta: metav1.ObjectMeta{Namespace: corev1.DefaultNamespace, Name: "tgw1-0"},
		Spec: corev1.ConnectedPeerSpec{TransitGatewayName: "tgw1", InsideCIDR: "169.254.10.0/29",
			PeerASN: routerASN, TransitASN: routerASN, ControlNodeASN: ctlASN},
	}
	must(t, c.Create(ctx, cp))
	cp.Status.TransitGatewayAddress, cp.Status.PeerAddress = TunnelRemote.String(), RouterCtlAddr.String()
	must(t, c.Status().Update(ctx, cp))
	rt := &corev1.Route{
		ObjectMeta: metav1.ObjectMeta{Namespace: corev1.DefaultNamespace, Name: "tgw1-vn1"},
		Spec: corev1.RouteSpec{DestinationCIDR: "10.1.0.0/24", TransitGatewayName: "tgw1", RouteTarget: rt1.String(),
			VirtualNetwork: corev1.VirtualNetworkReference{Namespace: "default", Name: "vn1"}},
	}
	must(t, c.Create(ctx, rt))
	bgpRouter := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"bgpRouterParameters": map[string]any{
		"routerType": "control-node", "address": CtlAddr.String(), "autonomousSystem": int64(ctlASN), "identifier": CtlAddr.String(),
	}}}}
	bgpRouter.SetGroupVersionKind(schema.GroupVersionKind{Group: "core.contrail.juniper.net", Version: "v1alpha1", Kind: "BGPRouter"})
	bgpRouter.SetNamespace("contrail")
	bgpRouter.SetName("control-node-1")
	must(t, c.Create(ctx, bgpRouter))

	// the API server listens on the test machine's loopback: relay it into the namespace
	api, err := url.Parse(apiEnv.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	e.top.RouterHost.Forward(t, api.Host, api.Host)
	e.top.RouterHost.Start(t, "gsi-router", routerBin, "run", "--cluster", "--kubeconfig", apiEnv.Kubeconfig,
		"--namespace", corev1.DefaultNamespace, "--connected-peer", "tgw1-0")

	netlab.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error { return e.tgwLearned(pfx("10.1.0.0/24")) })
	netlab.Eventually(t, 15*time.Second, 200*time.Millisecond, func() error {
		return e.checkExports(map[uint32]config.RouteTarget{1000: rt1})
	})
	netlab.Eventually(t, 20*time.Second, 500*time.Millisecond, func() error {
		var got corev1.ConnectedPeer
		if err := c.Get(ctx, client.ObjectKeyFromObject(cp), &got); err != nil {
			return err
		}
		up := 0
		for _, s := range got.Status.Sessions {
			if s.State == "established" {
				up++
			}
		}
		if up != 3 || got.Status.SessionsUpdated == nil || got.Status.TransitGatewayAddress != TunnelRemote.String() {
			return fmt.Errorf("ConnectedPeer status: %d sessions established, want 3: %+v", up, got.Status)
		}
		return nil
	})

	// the controller deletes the Route when the VN is unexposed
	must(t, c.Delete(ctx, rt))
	netlab.Eventually(t, 15*time.Second, 200*time.Millisecond, func() error { return e.tgwLearned() })
	netlab.Eventually(t, 15*time.Second, 200*time.Millisecond, func() error { return e.checkExports(nil) })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
