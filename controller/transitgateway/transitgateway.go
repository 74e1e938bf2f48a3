// Package transitgateway reconciles TransitGateway objects: in order, the AWS transit
// gateway (Amazon side ASN, CIDR block), its VPC attachment, the Connect attachment (GRE),
// the gsi-sg security group, one ConnectedPeer per peer index, and the programming of
// the exposed networks (Routes) into the VPC. Deletion runs backwards behind a finalizer
// until AWS holds nothing of it.
package transitgateway

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
	"github.com/opengsi/gsi/controller/aws"
	"github.com/opengsi/gsi/controller/cloud"
	"github.com/opengsi/gsi/controller/finalizer"
)

// +kubebuilder:rbac:groups=core.gsi.juniper.net,resources=transitgateways,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.gsi.juniper.net,resources=transitgateways/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=core.gsi.juniper.net,resources=transitgateways/finalizers,verbs=update
// +kubebuilder:rbac:groups=core.gsi.juniper.net,resources=connectedpeers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=core.gsi.juniper.net,resources=routes,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=core.gsi.juniper.net,resources=routes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=plugins.juniper.net,resources=gsiplugins,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconciler reconciles TransitGateways.
type Reconciler struct {
	Client client.Client
	// APIReader reads the license Secret without caching every Secret of the cluster.
	APIReader client.Reader
	Cloud     *cloud.Provider
	Recorder  recorder.EventRecorder
	// PollInterval is the wait while AWS resources are pending or deleting.
	PollInterval time.Duration
	// Resync is how often AWS is described again when nothing changed.
	Resync time.Duration
	// RetryAfter is the wait after a failure only the user can fix.
	RetryAfter time.Duration
	// RuleLimit is the inbound rules per security group before spilling (AWS: 60).
	RuleLimit int

	mu    sync.Mutex
	memos map[types.UID]*memo
}

// memo remembers, per TransitGateway, what the last successful pass verified in AWS, so
// that a reconcile caused by a change elsewhere (a Route, a peer) does not describe the
// transit gateway and its attachments again: AWS is described again on a spec change,
// after an error and every Resync.
type memo struct {
	generation   int64
	infraAt      time.Time
	infra        *infra
	exposureHash string
	exposureAt   time.Time
}

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.memos = map[types.UID]*memo{}
	return ctrl.NewControllerManagedBy(mgr).
		For(&gsiv1.TransitGateway{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&gsiv1.ConnectedPeer{}, builder.WithPredicates(peerChanged())).
		Watches(&gsiv1.Route{}, handler.EnqueueRequestsFromMapFunc(tgwOfRoute), builder.WithPredicates(routeSpecChanged())).
		Watches(&pluginsv1alpha1.GSIPlugin{}, handler.EnqueueRequestsFromMapFunc(r.tgwsOfPlugin)).
		Named("transitgateway").
		Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var tgw gsiv1.TransitGateway
	if err := r.Client.Get(ctx, req.NamespacedName, &tgw); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !tgw.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, &tgw)
	}
	if err := finalizer.Ensure(ctx, r.Client, &tgw); err != nil {
		return ctrl.Result{}, err
	}
	before := tgw.DeepCopy()
	p := &pass{r: r, tgw: &tgw, log: log.FromContext(ctx)}
	result, rerr := p.run(ctx)
	if err := r.writeStatus(ctx, before, &tgw); err != nil {
		return ctrl.Result{}, err
	}
	if rerr != nil {
		r.forget(tgw.UID)
	}
	return result, rerr
}

// writeStatus patches the status when it changed and emits an event on state changes.
func (r *Reconciler) writeStatus(ctx context.Context, before, tgw *gsiv1.TransitGateway) error {
	tgw.Status.ObservedGeneration = tgw.Generation
	if before.Status.State != tgw.Status.State {
		kind, msg := corev1.EventTypeNormal, "TransitGateway is "+string(tgw.Status.State)
		if c := meta.FindStatusCondition(tgw.Status.Conditions, gsiv1.ConditionReady); c != nil && c.Status != metav1.ConditionTrue {
			msg += ": " + c.Message
		}
		if tgw.Status.State == gsiv1.StateFailed {
			kind = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(tgw, nil, kind, "State"+titled(string(tgw.Status.State)), "Reconcile", "%s", msg)
	}
	if err := r.Client.Status().Patch(ctx, tgw, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("updating TransitGateway %s/%s status: %w", tgw.Namespace, tgw.Name, err)
	}
	return nil
}

func titled(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func (r *Reconciler) memoFor(uid types.UID) *memo {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.memos[uid]
	if !ok {
		m = &memo{}
		r.memos[uid] = m
	}
	return m
}

func (r *Reconciler) forget(uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.memos, uid)
}

// setCondition sets a condition of the TransitGateway.
func setCondition(tgw *gsiv1.TransitGateway, typ string, ok bool, reason, msg string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&tgw.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: tgw.Generation,
	})
}

func tgwOfRoute(_ context.Context, o client.Object) []reconcile.Request {
	route, ok := o.(*gsiv1.Route)
	if !ok || route.Spec.TransitGatewayName == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: route.Namespace, Name: route.Spec.TransitGatewayName}}}
}

// tgwsOfPlugin enqueues the TransitGateways a GSIPlugin governs (its namespace; every
// namespace for the gsi namespace's plugin, the fallback).
func (r *Reconciler) tgwsOfPlugin(ctx context.Context, o client.Object) []reconcile.Request {
	var list gsiv1.TransitGatewayList
	opts := []client.ListOption{}
	if o.GetNamespace() != r.Cloud.Namespace() {
		opts = append(opts, client.InNamespace(o.GetNamespace()))
	}
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		log.FromContext(ctx).Error(err, "mapping GSIPlugin to TransitGateways")
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, t := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: t.Namespace, Name: t.Name}})
	}
	return out
}

// peerChanged passes ConnectedPeer events that change the TransitGateway's status:
// creation, deletion, state, readiness and established TGW sessions (not every
// rate-limited session counter update of the router).
func peerChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*gsiv1.ConnectedPeer)
		n, ok2 := e.ObjectNew.(*gsiv1.ConnectedPeer)
		if !ok1 || !ok2 {
			return true
		}
		return o.Status.State != n.Status.State || peerReady(o) != peerReady(n) ||
			establishedTGW(o) != establishedTGW(n) || !n.DeletionTimestamp.IsZero() || o.Generation != n.Generation
	}}
}

// routeSpecChanged passes Route creations, deletions and spec changes; the controller's
// own status writes are not a reason to sync again.
func routeSpecChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() || !e.ObjectNew.GetDeletionTimestamp().IsZero()
	}}
}

func peerReady(cp *gsiv1.ConnectedPeer) bool {
	return meta.IsStatusConditionTrue(cp.Status.Conditions, gsiv1.ConditionReady)
}

func establishedTGW(cp *gsiv1.ConnectedPeer) int {
	n := 0
	for _, s := range cp.Status.Sessions {
		if s.Role == gsiv1.RoleTGW && s.State == "established" {
			n++
		}
	}
	return n
}

// owner is the AWS tag owner of tgw.
func owner(env *cloud.Env, tgw *gsiv1.TransitGateway) aws.Owner {
	return env.Owner(tgw.Namespace, tgw.Name)
}
