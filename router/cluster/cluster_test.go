package cluster

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1k "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/status"
	"github.com/opengsi/gsi/test/envtest"
)

const ns = "contrail-gsi"

func route(name, cidr, vn, tgw, rt string) *corev1.Route {
	return &corev1.Route{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.RouteSpec{DestinationCIDR: cidr, TransitGatewayName: tgw, RouteTarget: rt,
			VirtualNetwork: corev1.VirtualNetworkReference{Namespace: "default", Name: vn}},
	}
}

func bgpRouter(name, routerType, addr string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{"bgpRouterParameters": map[string]any{
			"routerType": routerType, "address": addr, "autonomousSystem": int64(64512), "identifier": addr,
		}},
	}}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "core.contrail.juniper.net", Version: "v1alpha1", Kind: "BGPRouter"})
	u.SetNamespace("contrail")
	u.SetName(name)
	return u
}

// TestSourceAndSink runs against a real API server: the config follows the objects,
// and reported sessions land in the ConnectedPeer's status without touching the rest.
func TestSourceAndSink(t *testing.T) {
	env := envtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := env.Client
	for _, n := range []string{ns, "contrail"} {
		if err := c.Create(ctx, &corev1k.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	cp := &corev1.ConnectedPeer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tgw1-0"},
		Spec: corev1.ConnectedPeerSpec{TransitGatewayName: "tgw1", Index: 0, InsideCIDR: "169.254.10.0/29",
			PeerASN: 64513, TransitASN: 64513, ControlNodeASN: 64512},
	}
	if err := c.Create(ctx, cp); err != nil {
		t.Fatal(err)
	}
	cp.Status.TransitGatewayAddress, cp.Status.PeerAddress, cp.Status.NodeName = "192.0.2.10", "10.0.1.10", "node-a"
	if err := c.Status().Update(ctx, cp); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []*corev1.Route{
		route("vn1-a", "10.1.0.0/24", "vn1", "tgw1", "target:64512:8000001"),
		route("vn1-b", "10.1.1.0/24", "vn1", "tgw1", "target:64512:8000001"),
		route("other-tgw", "10.5.0.0/24", "vn5", "tgw2", "target:64512:8000005"),
		route("no-rt-yet", "10.6.0.0/24", "vn6", "tgw1", ""),
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	for _, obj := range []*unstructured.Unstructured{
		bgpRouter("cn-a", "control-node", "10.0.0.5"),
		bgpRouter("cn-b", "control-node", "10.0.0.6"),
		bgpRouter("gsi-other", "router", "10.0.1.20"),
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	src := &Source{Log: logr.Discard(), Namespace: ns, Peer: "tgw1-0", Resync: time.Hour}
	configs, err := src.Start(ctx, env.Config, env.Scheme)
	if err != nil {
		t.Fatal(err)
	}
	got := next(t, configs)
	want := config.Config{
		RouterID: netip.MustParseAddr("169.254.10.1"), ASN: 64513,
		TGW: config.TGW{ASN: 64513, LocalAddress: netip.MustParseAddr("169.254.10.1"),
			Peers:        []netip.Addr{netip.MustParseAddr("169.254.10.2"), netip.MustParseAddr("169.254.10.3")},
			TunnelRemote: netip.MustParseAddr("192.0.2.10")},
		ControlNodes: config.ControlNodes{ASN: 64512, NextHop: netip.MustParseAddr("10.0.1.10"),
			Peers: []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.6")}},
		VNs: []config.VN{{Name: "default/vn1", RouteTarget: config.RouteTarget{ASN: 64512, Value: 8000001},
			Subnets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24"), netip.MustParsePrefix("10.1.1.0/24")}}},
	}
	want.Default()
	if !config.Equal(got, want) {
		a, _ := got.Marshal()
		b, _ := want.Marshal()
		t.Fatalf("config from the cluster:\n%s\nwant:\n%s", a, b)
	}

	// unexposing (the controller deletes the Routes) reaches the router
	for _, name := range []string{"vn1-a", "vn1-b"} {
		if err := c.Delete(ctx, &corev1.Route{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	for got = next(t, configs); len(got.VNs) != 0; got = next(t, configs) {
		t.Logf("intermediate config with %d VNs", len(got.VNs))
	}

	sink := &Sink{Client: c, Namespace: ns, Peer: "tgw1-0"}
	since := time.Now().Add(-time.Minute).Truncate(time.Second)
	sessions := []status.Session{
		{Peer: "10.0.0.5", ASN: 64512, LocalASN: 64512, Role: status.RoleControlNode, State: "established", Since: since,
			Families: []string{"l3vpn-ipv4-unicast", "rtc"}, Received: 1000, Advertised: 4},
		{Peer: "169.254.10.2", ASN: 64513, LocalASN: 64513, Role: status.RoleTGW, State: "active", Families: []string{"ipv4-unicast"}},
	}
	if err := sink.Report(ctx, sessions); err != nil {
		t.Fatal(err)
	}
	var back corev1.ConnectedPeer
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tgw1-0"}, &back); err != nil {
		t.Fatal(err)
	}
	s := back.Status
	if len(s.Sessions) != 2 || s.SessionsUpdated == nil || s.NodeName != "node-a" || s.TransitGatewayAddress != "192.0.2.10" {
		t.Fatalf("status after report: %+v", s)
	}
	if g := s.Sessions[0]; g.PeerAddress != "10.0.0.5" || g.Role != corev1.RoleControlNode || g.State != "established" ||
		g.PrefixesReceived != 1000 || g.PrefixesAdvertised != 4 || g.Since == nil || !g.Since.Time.Equal(since) ||
		!slices.Equal(g.Families, []string{"l3vpn-ipv4-unicast", "rtc"}) {
		t.Errorf("control-node session = %+v", g)
	}
	if g := s.Sessions[1]; g.Role != corev1.RoleTGW || g.State != "active" || g.Since != nil {
		t.Errorf("TGW session = %+v", g)
	}
}

func next(t *testing.T, configs <-chan config.Config) config.Config {
	t.Helper()
	select {
	case c, ok := <-configs:
		if !ok {
			t.Fatal("config stream closed")
		}
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("no config from the cluster within 20s")
	}
	return config.Config{}
}
