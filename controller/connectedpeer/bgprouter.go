package connectedpeer

import (
	"context"
	"fmt"
	"net/netip"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opengsi/gsi/api/cn2"
	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

// Labels on the BGPRouters gsi creates (they live in CN2's namespace, so no owner
// reference can point at the ConnectedPeer).
const (
	BGPRouterPeerLabel      = "core.gsi.juniper.net/connected-peer"
	BGPRouterNamespaceLabel = "core.gsi.juniper.net/connected-peer-namespace"
)

// bgpRouterFamilies: MP-BGP inet-vpn with route-target constraint, as the control nodes
// expect of an SDN gateway.
var bgpRouterFamilies = []string{"inet-vpn", "route-target"}

// BGPRouterName is the BGPRouter of a ConnectedPeer.
func BGPRouterName(cp *gsiv1.ConnectedPeer) string { return "gsi-" + cp.Namespace + "-" + cp.Name }

// bgpRouterLocation: the namespace and parent routing instance of the control nodes'
// BGPRouters (CN2 keeps them together), or the ConnectedPeer's namespace when none.
func bgpRouterLocation(ctx context.Context, reader *cn2.Reader, cp *gsiv1.ConnectedPeer) (string, map[string]any, error) {
	list, err := reader.EmptyList(cn2.KindBGPRouter)
	if err != nil {
		return "", nil, err
	}
	if err := reader.Client.List(ctx, list); err != nil {
		return "", nil, fmt.Errorf("listing CN2 BGPRouters: %w", err)
	}
	for i := range list.Items {
		u := &list.Items[i]
		if cn2.BGPRouterFrom(u).RouterType == cn2.RouterTypeControlNode {
			parent, _, _ := unstructured.NestedMap(u.Object, "spec", "parent")
			return u.GetNamespace(), parent, nil
		}
	}
	return cp.Namespace, nil, nil
}

// ensureBGPRouter creates or updates the BGPRouter that makes the control nodes peer
// with the router at addr; it returns the BGPRouter's namespace/name.
func (r *Reconciler) ensureBGPRouter(ctx context.Context, cp *gsiv1.ConnectedPeer, addr netip.Addr) (string, error) {
	ns, parent, err := bgpRouterLocation(ctx, r.CN2, cp)
	if err != nil {
		return "", err
	}
	u, err := r.CN2.Empty(cn2.KindBGPRouter)
	if err != nil {
		return "", err
	}
	key := client.ObjectKey{Namespace: ns, Name: BGPRouterName(cp)}
	err = r.Client.Get(ctx, key, u)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("getting BGPRouter %s: %w", key, err)
	}
	before := u.DeepCopy()
	u.SetNamespace(ns)
	u.SetName(key.Name)
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[BGPRouterPeerLabel], labels[BGPRouterNamespaceLabel] = cp.Name, cp.Namespace
	labels[gsiv1.TransitGatewayLabel] = cp.Spec.TransitGatewayName
	u.SetLabels(labels)
	if parent != nil {
		if err := unstructured.SetNestedMap(u.Object, parent, "spec", "parent"); err != nil {
			return "", fmt.Errorf("BGPRouter %s parent: %w", key, err)
		}
	}
	// The router's AS towards the control nodes is theirs (iBGP), as gsi-router uses.
	if err := cn2.SetBGPRouterSpec(u, cn2.BGPRouter{RouterType: cn2.RouterTypeRouter, Address: addr, Identifier: addr.String(),
		ASN: cp.Spec.ControlNodeASN, HoldTime: 90, Port: 179, Families: bgpRouterFamilies}); err != nil {
		return "", err
	}
	switch {
	case !exists:
		if err := r.Client.Create(ctx, u); err != nil {
			return "", fmt.Errorf("creating BGPRouter %s: %w", key, err)
		}
	case !equalObjects(before, u):
		if err := r.Client.Update(ctx, u); err != nil {
			return "", fmt.Errorf("updating BGPRouter %s: %w", key, err)
		}
	}
	return key.String(), nil
}

func equalObjects(a, b *unstructured.Unstructured) bool {
	sa, _, _ := unstructured.NestedMap(a.Object, "spec")
	sb, _, _ := unstructured.NestedMap(b.Object, "spec")
	return fmt.Sprint(sa) == fmt.Sprint(sb) && fmt.Sprint(a.GetLabels()) == fmt.Sprint(b.GetLabels())
}

// deleteBGPRouters deletes the ConnectedPeer's BGPRouters wherever they are.
func (r *Reconciler) deleteBGPRouters(ctx context.Context, cp *gsiv1.ConnectedPeer) error {
	list, err := r.CN2.EmptyList(cn2.KindBGPRouter)
	if meta.IsNoMatchError(err) || (err != nil && isNotServed(err)) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := r.Client.List(ctx, list, client.MatchingLabels{BGPRouterPeerLabel: cp.Name, BGPRouterNamespaceLabel: cp.Namespace}); err != nil {
		return fmt.Errorf("listing BGPRouters of %s/%s: %w", cp.Namespace, cp.Name, err)
	}
	for i := range list.Items {
		if err := r.Client.Delete(ctx, &list.Items[i]); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting BGPRouter %s/%s: %w", list.Items[i].GetNamespace(), list.Items[i].GetName(), err)
		}
	}
	return nil
}

// isNotServed: CN2's BGPRouter kind is not in the cluster (no CN2, nothing to delete).
func isNotServed(err error) bool {
	return meta.IsNoMatchError(err) || apierrors.IsNotFound(err)
}
