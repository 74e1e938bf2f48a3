// Package exposure turns labelled CN2 VirtualNetworks into Route objects (one per exposed
// subnet) and programs a transit gateway's Routes into the VPC: a route to the transit
// gateway in every route table and an ingress rule in the gsi security groups. The
// programming is set-based (describe once, change only the difference), so a resync
// with nothing changed makes no mutating call and a crash at any point leaves nothing
// that the next sync does not finish or remove.
package exposure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/opengsi/gsi/api/cn2"
	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

// +kubebuilder:rbac:groups=core.contrail.juniper.net,resources=virtualnetworks;subnets;routinginstances,verbs=get;list;watch
// +kubebuilder:rbac:groups=core.gsi.juniper.net,resources=routes,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=core.gsi.juniper.net,resources=routes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=core.gsi.juniper.net,resources=transitgateways,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// routeTargetPattern is what the Route CRD accepts as a route target.
var routeTargetPattern = regexp.MustCompile(`^target:[0-9.]+:[0-9]+$`)

// RouteName is the Route of a VirtualNetwork: "<namespace>.<name>", hashed down when
// longer than a Kubernetes name may be.
func RouteName(vnNamespace, vnName string) string {
	name := vnNamespace + "." + vnName
	if len(name) <= 253 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:253-11] + "-" + hex.EncodeToString(sum[:])[:10]
}

// VNReconciler keeps one Route per exposed VirtualNetwork.
type VNReconciler struct {
	Client   client.Client
	CN2      *cn2.Reader
	Recorder recorder.EventRecorder
	// Namespace is the gsi namespace, home of the TransitGateways and Routes.
	Namespace string
	// Now is the clock (tests).
	Now func() time.Time
}

// SetupWithManager registers the controller; CN2's kinds must be served.
func (r *VNReconciler) SetupWithManager(mgr ctrl.Manager) error {
	vn, err := r.CN2.Empty(cn2.KindVirtualNetwork)
	if err != nil {
		return err
	}
	subnet, err := r.CN2.Empty(cn2.KindSubnet)
	if err != nil {
		return err
	}
	ri, err := r.CN2.Empty(cn2.KindRoutingInstance)
	if err != nil {
		return err
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(vn, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(subnet, handler.EnqueueRequestsFromMapFunc(r.vnsOfSubnet), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(ri, handler.EnqueueRequestsFromMapFunc(sameName), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&gsiv1.Route{}, handler.EnqueueRequestsFromMapFunc(vnOfRoute), builder.WithPredicates(specOrDelete())).
		Watches(&gsiv1.TransitGateway{}, handler.EnqueueRequestsFromMapFunc(r.vnsOfTGW), builder.WithPredicates(tgwLifecycle())).
		Named("exposure").
		Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *VNReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	u, err := r.CN2.Empty(cn2.KindVirtualNetwork)
	if err != nil {
		return ctrl.Result{}, err
	}
	err = r.Client.Get(ctx, req.NamespacedName, u)
	if apierrors.IsNotFound(err) || (err == nil && !u.GetDeletionTimestamp().IsZero()) {
		return ctrl.Result{}, r.unexpose(ctx, req.Namespace, req.Name)
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("getting VirtualNetwork %s: %w", req, err)
	}
	tgwName := u.GetLabels()[gsiv1.ExposeLabel]
	if tgwName == "" {
		return ctrl.Result{}, r.unexpose(ctx, req.Namespace, req.Name)
	}
	var tgw gsiv1.TransitGateway
	err = r.Client.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: tgwName}, &tgw)
	if apierrors.IsNotFound(err) || (err == nil && !tgw.DeletionTimestamp.IsZero()) {
		r.Recorder.Eventf(u, nil, corev1.EventTypeWarning, "TransitGatewayNotFound", "Expose",
			"label %s names TransitGateway %s/%s, which does not exist or is being deleted", gsiv1.ExposeLabel, r.Namespace, tgwName)
		return ctrl.Result{}, r.unexpose(ctx, req.Namespace, req.Name)
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("getting TransitGateway %s/%s: %w", r.Namespace, tgwName, err)
	}
	return ctrl.Result{}, r.expose(ctx, u, &tgw)
}

// expose creates or updates the VN's Route.
func (r *VNReconciler) expose(ctx context.Context, u *unstructured.Unstructured, tgw *gsiv1.TransitGateway) error {
	vn := cn2.VirtualNetworkFrom(u)
	cidr, err := r.CN2.SubnetCIDR(ctx, vn)
	if err != nil {
		// The Subnet watch brings the VN back when it appears or changes; an existing
		// Route stays as it is meanwhile.
		r.Recorder.Eventf(u, nil, corev1.EventTypeWarning, "SubnetUnresolved", "Expose", "cannot resolve the VN's subnet: %v", err)
		return nil
	}
	rt := ""
	if rts, err := r.CN2.RouteTargets(ctx, vn); err == nil {
		for _, t := range rts {
			if routeTargetPattern.MatchString(t) {
				rt = t
				break
			}
		}
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading route targets of VirtualNetwork %s/%s: %w", vn.Namespace, vn.Name, err)
	}
	want := gsiv1.RouteSpec{DestinationCIDR: cidr.Masked().String(), TransitGatewayName: tgw.Name, RouteTarget: rt,
		VirtualNetwork: gsiv1.VirtualNetworkReference{Namespace: vn.Namespace, Name: vn.Name}}
	var route gsiv1.Route
	key := client.ObjectKey{Namespace: r.Namespace, Name: RouteName(vn.Namespace, vn.Name)}
	err = r.Client.Get(ctx, key, &route)
	switch {
	case apierrors.IsNotFound(err):
		return r.create(ctx, u, tgw, key, want)
	case err != nil:
		return fmt.Errorf("getting Route %s: %w", key, err)
	case route.Spec.TransitGatewayName != tgw.Name:
		// Moving to another transit gateway: the old one withdraws the prefix when its
		// Route is gone; the deletion event brings this VN back to create the new one.
		if err := r.Client.Delete(ctx, &route, client.Preconditions{UID: &route.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting Route %s of TransitGateway %s: %w", key, route.Spec.TransitGatewayName, err)
		}
		return nil
	case route.Spec == want:
		return nil
	}
	before := route.DeepCopy()
	route.Spec = want
	if err := r.Client.Patch(ctx, &route, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("updating Route %s: %w", key, err)
	}
	r.Recorder.Eventf(u, nil, corev1.EventTypeNormal, "ExposureChanged", "Expose", "Route %s now %s (was %s)", key.Name, want.DestinationCIDR, before.Spec.DestinationCIDR)
	return nil
}

func (r *VNReconciler) create(ctx context.Context, u *unstructured.Unstructured, tgw *gsiv1.TransitGateway, key client.ObjectKey, spec gsiv1.RouteSpec) error {
	route := &gsiv1.Route{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			Labels:      map[string]string{gsiv1.TransitGatewayLabel: tgw.Name},
			Annotations: map[string]string{ExposedAtAnnotation: r.Now().UTC().Format(time.RFC3339Nano)}},
		Spec: spec,
	}
	// Owned by the transit gateway so the garbage collector removes it with it; the
	// TransitGateway's own cleanup withdraws the prefix from AWS first.
	if err := controllerutil.SetOwnerReference(tgw, route, r.Client.Scheme()); err != nil {
		return fmt.Errorf("owner of Route %s: %w", key, err)
	}
	if err := r.Client.Create(ctx, route); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating Route %s: %w (retrying)", key, err)
		}
		return fmt.Errorf("creating Route %s: %w", key, err)
	}
	r.Recorder.Eventf(u, nil, corev1.EventTypeNormal, "Exposed", "Expose", "%s exposed through TransitGateway %s (Route %s/%s)",
		spec.DestinationCIDR, tgw.Name, key.Namespace, key.Name)
	log.FromContext(ctx).Info("exposing virtual network", "route", key, "cidr", spec.DestinationCIDR, "transitGateway", tgw.Name)
	return nil
}

// unexpose deletes the VN's Route.
func (r *VNReconciler) unexpose(ctx context.Context, vnNamespace, vnName string) error {
	var route gsiv1.Route
	key := client.ObjectKey{Namespace: r.Namespace, Name: RouteName(vnNamespace, vnName)}
	if err := r.Client.Get(ctx, key, &route); err != nil {
		return client.IgnoreNotFound(err)
	}
	if route.Spec.VirtualNetwork.Namespace != vnNamespace || route.Spec.VirtualNetwork.Name != vnName || !route.DeletionTimestamp.IsZero() {
		return nil
	}
	if err := r.Client.Delete(ctx, &route, client.Preconditions{UID: &route.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting Route %s: %w", key, err)
	}
	log.FromContext(ctx).Info("unexposed virtual network", "route", key, "cidr", route.Spec.DestinationCIDR)
	return nil
}

func sameName(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}}}
}

func vnOfRoute(_ context.Context, o client.Object) []reconcile.Request {
	route, ok := o.(*gsiv1.Route)
	if !ok || route.Spec.VirtualNetwork.Name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: route.Spec.VirtualNetwork.Namespace, Name: route.Spec.VirtualNetwork.Name}}}
}

// vnsOfSubnet finds the VNs whose v4 subnet is o.
func (r *VNReconciler) vnsOfSubnet(ctx context.Context, o client.Object) []reconcile.Request {
	vns, err := r.CN2.ListVirtualNetworks(ctx)
	if err != nil {
		log.FromContext(ctx).Error(err, "mapping Subnet to VirtualNetworks", "subnet", client.ObjectKeyFromObject(o))
		return nil
	}
	var out []reconcile.Request
	for _, vn := range vns {
		if vn.SubnetNamespace == o.GetNamespace() && vn.SubnetName == o.GetName() {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: vn.Namespace, Name: vn.Name}})
		}
	}
	return out
}

// vnsOfTGW finds the VNs labelled with the transit gateway's name.
func (r *VNReconciler) vnsOfTGW(ctx context.Context, o client.Object) []reconcile.Request {
	if o.GetNamespace() != r.Namespace {
		return nil
	}
	vns, err := r.CN2.ListVirtualNetworks(ctx, client.MatchingLabels{gsiv1.ExposeLabel: o.GetName()})
	if err != nil {
		log.FromContext(ctx).Error(err, "mapping TransitGateway to VirtualNetworks", "transitGateway", client.ObjectKeyFromObject(o))
		return nil
	}
	out := make([]reconcile.Request, 0, len(vns))
	for _, vn := range vns {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: vn.Namespace, Name: vn.Name}})
	}
	return out
}

// specOrDelete passes Route creations, deletions and spec changes (not status writes).
func specOrDelete() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
				!e.ObjectNew.GetDeletionTimestamp().IsZero()
		},
	}
}

// tgwLifecycle passes TransitGateway creations, deletions and the start of a deletion.
func tgwLifecycle() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero()
		},
	}
}
