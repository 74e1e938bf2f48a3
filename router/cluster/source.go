// Package cluster derives the router's configuration from the cluster and reports its
// BGP sessions back. The router of ConnectedPeer P reads P (inside CIDR, ASNs, GRE
// addresses), the Routes of P's TransitGateway (exposed VN subnets and route targets)
// and CN2's control-node BGPRouters, through watches, and emits a config.Config each
// time that changes. Its sessions go into P's status.
package cluster

// The router pod's service account (gsi-router) needs exactly this:
// +kubebuilder:rbac:groups=core.gsi.juniper.net,namespace=contrail-gsi,resources=connectedpeers;routes,verbs=get;list;watch
// +kubebuilder:rbac:groups=core.gsi.juniper.net,namespace=contrail-gsi,resources=connectedpeers/status,verbs=patch
// +kubebuilder:rbac:groups=core.contrail.juniper.net,resources=bgprouters,verbs=get;list;watch

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opengsi/gsi/api/cn2"
	corev1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/router/config"
)

// Source watches the objects a router's config comes from.
type Source struct {
	Log logr.Logger
	// Namespace and Peer name the router's ConnectedPeer.
	Namespace, Peer string
	// NextHop overrides the address exported to the control nodes (the router's node
	// address, from the ConnectedPeer's status.peerAddress unless set).
	NextHop netip.Addr
	// Timers override the product defaults when set (tests).
	Timers config.Timers
	// Resync rebuilds the config this often even without events.
	Resync time.Duration

	reader client.Reader
	cn2    *cn2.Reader
}

// Build derives the config from the objects as they are now.
func (s *Source) Build(ctx context.Context) (config.Config, error) {
	var cp corev1.ConnectedPeer
	if err := s.reader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Peer}, &cp); err != nil {
		return config.Config{}, fmt.Errorf("reading ConnectedPeer %s/%s: %w", s.Namespace, s.Peer, err)
	}
	cfg, err := peerConfig(cp)
	if err != nil {
		return config.Config{}, err
	}
	cfg.Timers = s.Timers
	if s.NextHop.IsValid() {
		cfg.ControlNodes.NextHop = s.NextHop
	}
	var routes corev1.RouteList
	if err := s.reader.List(ctx, &routes, client.InNamespace(s.Namespace)); err != nil {
		return config.Config{}, fmt.Errorf("listing Routes: %w", err)
	}
	cfg.VNs = s.exposedVNs(cp.Spec.TransitGatewayName, routes.Items)
	nodes, err := s.cn2.ControlNodes(ctx)
	if err != nil {
		return config.Config{}, err
	}
	for _, n := range nodes {
		cfg.ControlNodes.Peers = append(cfg.ControlNodes.Peers, n.Address)
	}
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return config.Config{}, fmt.Errorf("config from ConnectedPeer %s/%s: %w", s.Namespace, s.Peer, err)
	}
	return cfg, nil
}

// peerConfig reads the sessions' parameters from the ConnectedPeer: the router takes
// the /29's first address, the TGW the second and third (DESIGN §3).
func peerConfig(cp corev1.ConnectedPeer) (config.Config, error) {
	inside, err := netip.ParsePrefix(cp.Spec.InsideCIDR)
	if err != nil || inside.Bits() != 29 || !inside.Addr().Is4() {
		return config.Config{}, fmt.Errorf("ConnectedPeer %s: inside CIDR %q is not an IPv4 /29", cp.Name, cp.Spec.InsideCIDR)
	}
	first := inside.Masked().Addr().Next()
	cfg := config.Config{
		RouterID: first,
		ASN:      uint32(cp.Spec.PeerASN),
		TGW: config.TGW{
			ASN:          uint32(cp.Spec.TransitASN),
			LocalAddress: first,
			Peers:        []netip.Addr{first.Next(), first.Next().Next()},
		},
		ControlNodes: config.ControlNodes{ASN: uint32(cp.Spec.ControlNodeASN)},
	}
	if a, err := netip.ParseAddr(cp.Status.TransitGatewayAddress); err == nil {
		cfg.TGW.TunnelRemote = a
	}
	if a, err := netip.ParseAddr(cp.Status.PeerAddress); err == nil {
		cfg.ControlNodes.NextHop = a
	}
	return cfg, nil
}

// exposedVNs groups the TGW's Routes by VN. Routes being deleted, in conflict or
// without a route target are left out: the controller does not program them either.
func (s *Source) exposedVNs(tgw string, routes []corev1.Route) []config.VN {
	byName := map[string]*config.VN{}
	for _, r := range routes {
		if r.Spec.TransitGatewayName != tgw || r.DeletionTimestamp != nil || r.Status.State == corev1.RouteConflict {
			continue
		}
		name := r.Spec.VirtualNetwork.Namespace + "/" + r.Spec.VirtualNetwork.Name
		p, err := netip.ParsePrefix(r.Spec.DestinationCIDR)
		if err != nil {
			s.Log.Info("Route skipped: bad destination", "route", r.Name, "cidr", r.Spec.DestinationCIDR)
			continue
		}
		rt, err := config.ParseRouteTarget(r.Spec.RouteTarget)
		if err != nil {
			s.Log.Info("Route skipped: no usable route target yet", "route", r.Name, "routeTarget", r.Spec.RouteTarget)
			continue
		}
		vn, ok := byName[name]
		if !ok {
			vn = &config.VN{Name: name, RouteTarget: rt}
			byName[name] = vn
		}
		if vn.RouteTarget != rt {
			s.Log.Info("Route skipped: its VN has another route target", "route", r.Name, "vn", name)
			continue
		}
		vn.Subnets = append(vn.Subnets, p.Masked())
	}
	out := make([]config.VN, 0, len(byName))
	for _, vn := range byName {
		slices.SortFunc(vn.Subnets, netip.Prefix.Compare)
		vn.Subnets = slices.Compact(vn.Subnets)
		out = append(out, *vn)
	}
	slices.SortFunc(out, func(a, b config.VN) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Start opens watches on the ConnectedPeer's namespace and on CN2's BGPRouters and
// returns the config stream (the first config once the caches are synced and the
// ConnectedPeer is readable). A config that cannot be built is logged and retried.
func (s *Source) Start(ctx context.Context, rc *rest.Config, scheme *runtime.Scheme) (<-chan config.Config, error) {
	c, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("cluster client: %w", err)
	}
	ca, err := cache.New(rc, cache.Options{
		Scheme: scheme, Mapper: c.RESTMapper(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.ConnectedPeer{}: {Namespaces: map[string]cache.Config{s.Namespace: {}}},
			&corev1.Route{}:         {Namespaces: map[string]cache.Config{s.Namespace: {}}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cluster cache: %w", err)
	}
	s.reader = ca
	s.cn2 = &cn2.Reader{Client: ca, Mapper: c.RESTMapper()}
	bgpRouter, err := s.cn2.Empty(cn2.KindBGPRouter)
	if err != nil {
		return nil, err
	}
	kick := make(chan struct{}, 1)
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { nudge(kick) },
		UpdateFunc: func(any, any) { nudge(kick) },
		DeleteFunc: func(any) { nudge(kick) },
	}
	for _, obj := range []client.Object{&corev1.ConnectedPeer{}, &corev1.Route{}, bgpRouter} {
		inf, err := ca.GetInformer(ctx, obj)
		if err != nil {
			return nil, fmt.Errorf("watching %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, fmt.Errorf("watching %T: %w", obj, err)
		}
	}
	go func() {
		if err := ca.Start(ctx); err != nil {
			s.Log.Error(err, "cluster cache stopped")
		}
	}()
	if !ca.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("cluster cache did not sync: %w", ctx.Err())
	}
	out := make(chan config.Config)
	go s.loop(ctx, kick, out)
	nudge(kick)
	return out, nil
}

func nudge(kick chan struct{}) {
	select {
	case kick <- struct{}{}:
	default:
	}
}

// loop rebuilds the config on every change and sends it when it differs.
func (s *Source) loop(ctx context.Context, kick <-chan struct{}, out chan<- config.Config) {
	defer close(out)
	resync := s.Resync
	if resync <= 0 {
		resync = time.Minute
	}
	tick := time.NewTicker(resync)
	defer tick.Stop()
	var last config.Config
	sent := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-tick.C:
		}
		cfg, err := s.Build(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.Log.Error(err, "router config not derived, keeping the running one")
			}
			continue
		}
		if sent && config.Equal(cfg, last) {
			continue
		}
		select {
		case out <- cfg:
			last, sent = cfg, true
		case <-ctx.Done():
			return
		}
	}
}
