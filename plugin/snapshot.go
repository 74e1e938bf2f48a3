package plugin

import (
	"context"
	"fmt"
	"sort"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opengsi/gsi/api/cn2"
	corev1 "github.com/opengsi/gsi/api/core/v1"
)

// snapshot is the GSI's state as its custom resources tell it, read in one go.
type snapshot struct {
	gateways []corev1.TransitGateway
	peers    []corev1.ConnectedPeer
	routes   []corev1.Route
	// vns are the exposed VirtualNetworks (those carrying the expose label).
	vns []unstructured.Unstructured
}

// snapshotQuery says what to read.
type snapshotQuery struct {
	// gateway limits everything to one TransitGateway when set.
	gateway string
	// vnNamespace limits exposed VNs to one namespace when set.
	vnNamespace string
	peers       bool
	routes      bool
	vns         bool
}

// loadSnapshot lists what q asks for, concurrently: one request per kind, which is what
// `kubectl get` of the same objects costs.
func (o *Options) loadSnapshot(ctx context.Context, q snapshotQuery) (*snapshot, error) {
	c, err := o.Client()
	if err != nil {
		return nil, err
	}
	s := &snapshot{}
	inGSI := []client.ListOption{client.InNamespace(o.GSINamespace)}
	if q.gateway != "" {
		inGSI = append(inGSI, client.MatchingLabels{corev1.TransitGatewayLabel: q.gateway})
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var l corev1.TransitGatewayList
		if err := c.List(ctx, &l, client.InNamespace(o.GSINamespace)); err != nil {
			return fmt.Errorf("listing TransitGateways in %s: %w", o.GSINamespace, err)
		}
		for _, tgw := range l.Items {
			if q.gateway == "" || tgw.Name == q.gateway {
				s.gateways = append(s.gateways, tgw)
			}
		}
		return nil
	})
	if q.peers {
		g.Go(func() error {
			var l corev1.ConnectedPeerList
			if err := c.List(ctx, &l, inGSI...); err != nil {
				return fmt.Errorf("listing ConnectedPeers in %s: %w", o.GSINamespace, err)
			}
			s.peers = l.Items
			return nil
		})
	}
	if q.routes {
		g.Go(func() error {
			var l corev1.RouteList
			if err := c.List(ctx, &l, inGSI...); err != nil {
				return fmt.Errorf("listing Routes in %s: %w", o.GSINamespace, err)
			}
			s.routes = l.Items
			return nil
		})
	}
	if q.vns {
		g.Go(func() error {
			vns, err := o.listExposedVNs(ctx, q.vnNamespace, q.gateway)
			s.vns = vns
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	s.sort()
	return s, nil
}

// listExposedVNs lists the VirtualNetworks carrying the expose label (for gateway only,
// when set).
func (o *Options) listExposedVNs(ctx context.Context, namespace, gateway string) ([]unstructured.Unstructured, error) {
	r, err := o.CN2()
	if err != nil {
		return nil, err
	}
	l, err := r.EmptyList(cn2.KindVirtualNetwork)
	if err != nil {
		return nil, err
	}
	op, vals := selection.Exists, []string(nil)
	if gateway != "" {
		op, vals = selection.Equals, []string{gateway}
	}
	req, err := labels.NewRequirement(corev1.ExposeLabel, op, vals)
	if err != nil {
		return nil, fmt.Errorf("building label selector: %w", err)
	}
	opts := []client.ListOption{client.MatchingLabelsSelector{Selector: labels.NewSelector().Add(*req)}}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := r.Client.List(ctx, l, opts...); err != nil {
		return nil, fmt.Errorf("listing exposed VirtualNetworks: %w", err)
	}
	return l.Items, nil
}

func (s *snapshot) sort() {
	sort.Slice(s.gateways, func(i, j int) bool { return s.gateways[i].Name < s.gateways[j].Name })
	sort.Slice(s.peers, func(i, j int) bool {
		a, b := s.peers[i], s.peers[j]
		if a.Spec.TransitGatewayName != b.Spec.TransitGatewayName {
			return a.Spec.TransitGatewayName < b.Spec.TransitGatewayName
		}
		return a.Spec.Index < b.Spec.Index
	})
	sort.Slice(s.routes, func(i, j int) bool {
		return vnKey(s.routes[i].Spec.VirtualNetwork) < vnKey(s.routes[j].Spec.VirtualNetwork)
	})
	sort.Slice(s.vns, func(i, j int) bool {
		return s.vns[i].GetNamespace()+"/"+s.vns[i].GetName() < s.vns[j].GetNamespace()+"/"+s.vns[j].GetName()
	})
}

func vnKey(r corev1.VirtualNetworkReference) string { return r.Namespace + "/" + r.Name }

// routesByVN indexes routes by "namespace/name" of their VirtualNetwork.
func (s *snapshot) routesByVN() map[string][]*corev1.Route {
	m := make(map[string][]*corev1.Route, len(s.routes))
	for i := range s.routes {
		k := vnKey(s.routes[i].Spec.VirtualNetwork)
		m[k] = append(m[k], &s.routes[i])
	}
	return m
}

// gateway returns the TransitGateway named name, or nil.
func (s *snapshot) gateway(name string) *corev1.TransitGateway {
	for i := range s.gateways {
		if s.gateways[i].Name == name {
			return &s.gateways[i]
		}
	}
	return nil
}
