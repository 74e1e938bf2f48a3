// Package cn2 is gsi's read view of CN2's own resources (group core.contrail.juniper.net):
// VirtualNetwork, Subnet, RoutingInstance and BGPRouter. gsi never owns these types; it
// reads them with unstructured objects so it works with whichever version the cluster
// serves (v1alpha1, v3 and v4 are seen in the field), and writes only the BGPRouter that
// makes the CN2 control nodes peer with a gsi router.
//
// The shape gsi relies on:
//   - VirtualNetwork spec.v4SubnetReference{namespace,name} → Subnet spec.cidr
//   - RoutingInstance of the same namespace and name as its VirtualNetwork (CN2's
//     default instance), spec.routeTargetReferences[].name = "target:ASN:N"
//   - BGPRouter spec.bgpRouterParameters{routerType, address, autonomousSystem,
//     identifier, holdTime, port, addressFamilies.family[]}; control nodes have
//     routerType "control-node".
package cn2

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Group is CN2's API group.
const Group = "core.contrail.juniper.net"

// Kinds gsi reads.
const (
	KindVirtualNetwork  = "VirtualNetwork"
	KindSubnet          = "Subnet"
	KindRoutingInstance = "RoutingInstance"
	KindBGPRouter       = "BGPRouter"
)

// Router types of a BGPRouter.
const (
	RouterTypeControlNode = "control-node"
	RouterTypeRouter      = "router"
)

// GroupKind returns the GroupKind of a CN2 kind.
func GroupKind(kind string) schema.GroupKind { return schema.GroupKind{Group: Group, Kind: kind} }

// GVK returns the version of kind that the cluster prefers, found through mapper.
func GVK(mapper meta.RESTMapper, kind string) (schema.GroupVersionKind, error) {
	m, err := mapper.RESTMapping(GroupKind(kind))
	if err != nil {
		return schema.GroupVersionKind{}, fmt.Errorf("CN2 %s is not served by this cluster (is CN2 installed?): %w", kind, err)
	}
	return m.GroupVersionKind, nil
}

// Reader reads CN2 objects through a controller-runtime client (cached or not).
type Reader struct {
	Client client.Reader
	Mapper meta.RESTMapper
}

// New returns a Reader using c's RESTMapper.
func New(c client.Client) *Reader { return &Reader{Client: c, Mapper: c.RESTMapper()} }

// Empty returns an empty unstructured object of kind at the served version.
func (r *Reader) Empty(kind string) (*unstructured.Unstructured, error) {
	gvk, err := GVK(r.Mapper, kind)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// EmptyList returns an empty unstructured list of kind at the served version.
func (r *Reader) EmptyList(kind string) (*unstructured.UnstructuredList, error) {
	gvk, err := GVK(r.Mapper, kind)
	if err != nil {
		return nil, err
	}
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(gvk.GroupVersion().WithKind(kind + "List"))
	return l, nil
}

func (r *Reader) get(ctx context.Context, kind, namespace, name string) (*unstructured.Unstructured, error) {
	u, err := r.Empty(kind)
	if err != nil {
		return nil, err
	}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
		return nil, fmt.Errorf("getting CN2 %s %s/%s: %w", kind, namespace, name, err)
	}
	return u, nil
}

// VirtualNetwork is what gsi needs of a CN2 VirtualNetwork.
type VirtualNetwork struct {
	Namespace, Name string
	Labels          map[string]string
	// SubnetNamespace and SubnetName locate the VN's IPv4 Subnet.
	SubnetNamespace, SubnetName string
}

// VirtualNetworkFrom reads the fields gsi uses from an unstructured VirtualNetwork.
func VirtualNetworkFrom(u *unstructured.Unstructured) VirtualNetwork {
	vn := VirtualNetwork{Namespace: u.GetNamespace(), Name: u.GetName(), Labels: u.GetLabels()}
	vn.SubnetName, _, _ = unstructured.NestedString(u.Object, "spec", "v4SubnetReference", "name")
	vn.SubnetNamespace, _, _ = unstructured.NestedString(u.Object, "spec", "v4SubnetReference", "namespace")
	if vn.SubnetNamespace == "" {
		vn.SubnetNamespace = vn.Namespace
	}
	return vn
}

// GetVirtualNetwork reads one VirtualNetwork.
func (r *Reader) GetVirtualNetwork(ctx context.Context, namespace, name string) (VirtualNetwork, error) {
	u, err := r.get(ctx, KindVirtualNetwork, namespace, name)
	if err != nil {
		return VirtualNetwork{}, err
	}
	return VirtualNetworkFrom(u), nil
}

// ListVirtualNetworks lists VirtualNetworks, sorted by namespace and name.
func (r *Reader) ListVirtualNetworks(ctx context.Context, opts ...client.ListOption) ([]VirtualNetwork, error) {
	l, err := r.EmptyList(KindVirtualNetwork)
	if err != nil {
		return nil, err
	}
	if err := r.Client.List(ctx, l, opts...); err != nil {
		return nil, fmt.Errorf("listing CN2 VirtualNetworks: %w", err)
	}
	out := make([]VirtualNetwork, 0, len(l.Items))
	for i := range l.Items {
		out = append(out, VirtualNetworkFrom(&l.Items[i]))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// SubnetCIDR resolves the VN's IPv4 subnet.
func (r *Reader) SubnetCIDR(ctx context.Context, vn VirtualNetwork) (netip.Prefix, error) {
	if vn.SubnetName == "" {
		return netip.Prefix{}, fmt.Errorf("VirtualNetwork %s/%s has no spec.v4SubnetReference", vn.Namespace, vn.Name)
	}
	u, err := r.get(ctx, KindSubnet, vn.SubnetNamespace, vn.SubnetName)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("VirtualNetwork %s/%s: %w", vn.Namespace, vn.Name, err)
	}
	return SubnetCIDRFrom(u)
}

// SubnetCIDRFrom reads spec.cidr of an unstructured Subnet.
func SubnetCIDRFrom(u *unstructured.Unstructured) (netip.Prefix, error) {
	s, _, _ := unstructured.NestedString(u.Object, "spec", "cidr")
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("Subnet %s/%s: spec.cidr %q: %w", u.GetNamespace(), u.GetName(), s, err)
	}
	return p, nil
}

// RouteTargets returns the route targets of the VN's default RoutingInstance
// ("target:ASN:N"), sorted.
func (r *Reader) RouteTargets(ctx context.Context, vn VirtualNetwork) ([]string, error) {
	u, err := r.get(ctx, KindRoutingInstance, vn.Namespace, vn.Name)
	if err != nil {
		return nil, fmt.Errorf("VirtualNetwork %s/%s: %w", vn.Namespace, vn.Name, err)
	}
	return RouteTargetsFrom(u), nil
}

// RouteTargetsFrom reads spec.routeTargetReferences[].name of a RoutingInstance.
func RouteTargetsFrom(u *unstructured.Unstructured) []string {
	refs, _, _ := unstructured.NestedSlice(u.Object, "spec", "routeTargetReferences")
	var out []string
	for _, ref := range refs {
		m, ok := ref.(map[string]any)
		if !ok {
			continue
		}
		if name, ok := m["name"].(string); ok && strings.HasPrefix(name, "target:") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// BGPRouter is what gsi needs of a CN2 BGPRouter.
type BGPRouter struct {
	Namespace, Name string
	RouterType      string
	Address         netip.Addr
	ASN             int64
	Identifier      string
	HoldTime        int64
	Port            int64
	Families        []string
}

// BGPRouterFrom reads the fields gsi uses from an unstructured BGPRouter.
func BGPRouterFrom(u *unstructured.Unstructured) BGPRouter {
	b := BGPRouter{Namespace: u.GetNamespace(), Name: u.GetName()}
	p := []string{"spec", "bgpRouterParameters"}
	b.RouterType, _, _ = unstructured.NestedString(u.Object, append(p, "routerType")...)
	addr, _, _ := unstructured.NestedString(u.Object, append(p, "address")...)
	b.Address, _ = netip.ParseAddr(addr)
	b.ASN, _, _ = unstructured.NestedInt64(u.Object, append(p, "autonomousSystem")...)
	b.Identifier, _, _ = unstructured.NestedString(u.Object, append(p, "identifier")...)
	b.HoldTime, _, _ = unstructured.NestedInt64(u.Object, append(p, "holdTime")...)
	b.Port, _, _ = unstructured.NestedInt64(u.Object, append(p, "port")...)
	b.Families, _, _ = unstructured.NestedStringSlice(u.Object, append(p, "addressFamilies", "family")...)
	return b
}

// ControlNodes lists the BGPRouters of router type control-node that have an address.
func (r *Reader) ControlNodes(ctx context.Context) ([]BGPRouter, error) {
	l, err := r.EmptyList(KindBGPRouter)
	if err != nil {
		return nil, err
	}
	if err := r.Client.List(ctx, l); err != nil {
		return nil, fmt.Errorf("listing CN2 BGPRouters: %w", err)
	}
	var out []BGPRouter
	for i := range l.Items {
		b := BGPRouterFrom(&l.Items[i])
		if b.RouterType == RouterTypeControlNode && b.Address.IsValid() {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address.Less(out[j].Address) })
	return out, nil
}

// SetBGPRouterSpec fills u (an unstructured BGPRouter) with the parameters of b, keeping
// whatever else is there: the controller uses it to create or update the BGPRouter of a
// gsi router so the control nodes peer with it.
func SetBGPRouterSpec(u *unstructured.Unstructured, b BGPRouter) error {
	params := map[string]any{
		"routerType":       b.RouterType,
		"vendor":           "gsi",
		"address":          b.Address.String(),
		"identifier":       b.Identifier,
		"autonomousSystem": b.ASN,
	}
	if b.HoldTime > 0 {
		params["holdTime"] = b.HoldTime
	}
	if b.Port > 0 {
		params["port"] = b.Port
	}
	fams := make([]any, 0, len(b.Families))
	for _, f := range b.Families {
		fams = append(fams, f)
	}
	params["addressFamilies"] = map[string]any{"family": fams}
	for k, v := range params {
		if err := unstructured.SetNestedField(u.Object, v, "spec", "bgpRouterParameters", k); err != nil {
			return fmt.Errorf("BGPRouter %s: setting %s: %w", u.GetName(), k, err)
		}
	}
	return nil
}
