// Package connectedpeer reconciles ConnectedPeers: the router pod on a crpd node (host
// network, one per node, license mounted), then, once the pod's node and so its VPC
// address are known, the AWS Transit Gateway Connect peer (peer address = node IP, the
// peer's inside /29, peer ASN) and the CN2 BGPRouter that makes the control nodes peer
// with the router. When the pod lands on another node the Connect peer follows: AWS
// cannot change a peer address, so the old peer is deleted and a new one created.
package connectedpeer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	"github.com/opengsi/gsi/controller/cloud"
	"github.com/opengsi/gsi/controller/failure"
	"github.com/opengsi/gsi/controller/finalizer"
)

// +kubebuilder:rbac:groups=core.gsi.juniper.net,resources=connectedpeers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=core.gsi.juniper.net,resources=connectedpeers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=core.gsi.juniper.net,resources=connectedpeers/finalizers,verbs=update
// +kubebuilder:rbac:groups=core.gsi.juniper.net,resources=transitgateways,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=core.contrail.juniper.net,resources=bgprouters,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Condition reasons of a ConnectedPeer.
const (
	ReasonNoCRPDNode      = "NoCRPDNode"
	ReasonUnschedulable   = "Unschedulable"
	ReasonPodStarting     = "PodStarting"
	ReasonPodRunning      = "PodRunning"
	ReasonWaitingForTGW   = "WaitingForTransitGateway"
	ReasonWaitingForNode  = "WaitingForNodeAddress"
	ReasonProvisioning    = "Provisioning"
	ReasonMoving          = "MovingToNewNode"
	ReasonAvailable       = "Available"
	ReasonSessionsDown    = "SessionsNotEstablished"
	ReasonEstablished     = "Established"
	ReasonReady           = "Ready"
	ReasonNotReady        = "NotReady"
	ReasonPodNameConflict = "PodNameConflict"
)

// Reconciler reconciles ConnectedPeers.
type Reconciler struct {
	Client   client.Client
	Cloud    *cloud.Provider
	CN2      *cn2.Reader
	Recorder recorder.EventRecorder
	Pod      PodOptions
	// PollInterval is the wait while AWS resources are pending or deleting.
	PollInterval time.Duration
	// Resync is how often the Connect peer is described again when nothing changed.
	Resync time.Duration
	// RetryAfter is the wait after a failure only the user can fix.
	RetryAfter time.Duration
}

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&gsiv1.ConnectedPeer{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, sessionsChanged()))).
		Owns(&corev1.Pod{}).
		Watches(&gsiv1.TransitGateway{}, handler.EnqueueRequestsFromMapFunc(r.peersOfTGW), builder.WithPredicates(tgwAttachmentChanged())).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.allPeers), builder.WithPredicates(nodeChanged())).
		Named("connectedpeer").
		Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var cp gsiv1.ConnectedPeer
	if err := r.Client.Get(ctx, req.NamespacedName, &cp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cp.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, &cp)
	}
	if err := finalizer.Ensure(ctx, r.Client, &cp); err != nil {
		return ctrl.Result{}, err
	}
	var tgw gsiv1.TransitGateway
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: cp.Namespace, Name: cp.Spec.TransitGatewayName}, &tgw); err != nil {
		// The TransitGateway deletes its peers before it goes; nothing to build meanwhile.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !tgw.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := cp.DeepCopy()
	p := &pass{r: r, cp: &cp, tgw: &tgw, log: log.FromContext(ctx)}
	res, rerr := p.run(ctx)
	cp.Status.ObservedGeneration = cp.Generation
	if before.Status.State != cp.Status.State {
		kind := corev1.EventTypeNormal
		if cp.Status.State == gsiv1.StateFailed {
			kind = corev1.EventTypeWarning
		}
		msg := "ConnectedPeer is " + string(cp.Status.State)
		if c := meta.FindStatusCondition(cp.Status.Conditions, gsiv1.ConditionReady); c != nil && c.Status != metav1.ConditionTrue {
			msg += ": " + c.Message
		}
		r.Recorder.Eventf(&cp, nil, kind, "State", "Reconcile", "%s", msg)
	}
	if err := r.Client.Status().Patch(ctx, &cp, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("updating ConnectedPeer %s status: %w", req, err)
	}
	return res, rerr
}

// pass is one reconcile of a live ConnectedPeer.
type pass struct {
	r   *Reconciler
	cp  *gsiv1.ConnectedPeer
	tgw *gsiv1.TransitGateway
	log logr.Logger
}

func (p *pass) run(ctx context.Context) (ctrl.Result, error) {
	cp := p.cp
	if cp.Status.State == "" {
		cp.Status.State = gsiv1.StatePending
	}
	pod, res, err := p.ensurePod(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	addr, node, nres, err := p.nodeAddress(ctx, pod)
	if err != nil {
		return ctrl.Result{}, err
	}
	res = minResult(res, nres)
	awsRes, awsErr := p.connectPeer(ctx, addr)
	res = minResult(res, awsRes)
	if addr.IsValid() {
		if name, err := p.r.ensureBGPRouter(ctx, cp, addr); err != nil {
			p.log.Error(err, "CN2 BGPRouter for the router", "node", node)
			awsErr = errors.Join(awsErr, err)
		} else {
			cp.Status.BGPRouterName = name
		}
	}
	p.summarize()
	if awsErr != nil {
		return ctrl.Result{}, awsErr
	}
	return res, nil
}

// summarize sets BGPEstablished, Ready and the state.
func (p *pass) summarize() {
	cp := p.cp
	est, total := 0, 0
	for _, s := range cp.Status.Sessions {
		total++
		if s.State == "established" {
			est++
		}
	}
	if total > 0 && est == total {
		setCondition(cp, gsiv1.ConditionBGPEstablished, true, ReasonEstablished, fmt.Sprintf("%d BGP sessions established", est))
	} else {
		msg := fmt.Sprintf("%d of %d BGP sessions established (reported by the router)", est, total)
		if total == 0 {
			msg = "the router has not reported BGP sessions yet"
		}
		setCondition(cp, gsiv1.ConditionBGPEstablished, false, ReasonSessionsDown, msg)
	}
	awsOK := meta.IsStatusConditionTrue(cp.Status.Conditions, gsiv1.ConditionAWSReady)
	routerOK := meta.IsStatusConditionTrue(cp.Status.Conditions, gsiv1.ConditionRouterReady)
	switch {
	case awsOK && routerOK:
		cp.Status.State = gsiv1.StateAvailable
		setCondition(cp, gsiv1.ConditionReady, true, ReasonReady, "router pod running and Connect peer available")
	default:
		if cp.Status.State != gsiv1.StateFailed {
			cp.Status.State = gsiv1.StatePending
		}
		var msgs []string
		for _, t := range []string{gsiv1.ConditionRouterReady, gsiv1.ConditionAWSReady} {
			if c := meta.FindStatusCondition(cp.Status.Conditions, t); c != nil && c.Status != metav1.ConditionTrue {
				msgs = append(msgs, t+": "+c.Message)
			}
		}
		setCondition(cp, gsiv1.ConditionReady, false, ReasonNotReady, joined(msgs))
	}
}

func joined(parts []string) string {
	s := ""
	for i, p := range parts {
		if i > 0 {
			s += "; "
		}
		s += p
	}
	return s
}

func setCondition(cp *gsiv1.ConnectedPeer, typ string, ok bool, reason, msg string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&cp.Status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: cp.Generation})
}

func minResult(a, b ctrl.Result) ctrl.Result {
	switch {
	case a.RequeueAfter == 0:
		return b
	case b.RequeueAfter == 0:
		return a
	}
	return ctrl.Result{RequeueAfter: min(a.RequeueAfter, b.RequeueAfter)}
}

// finalize deletes the BGPRouter, the Connect peer (waiting until AWS has removed it)
// and the pod, then lets the ConnectedPeer go.
func (r *Reconciler) finalize(ctx context.Context, cp *gsiv1.ConnectedPeer) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(cp, gsiv1.Finalizer) {
		return ctrl.Result{}, nil
	}
	before := cp.DeepCopy()
	cp.Status.State = gsiv1.StateDeleting
	if err := r.deleteBGPRouters(ctx, cp); err != nil {
		return ctrl.Result{}, err
	}
	plugin, err := r.Cloud.Plugin(ctx, cp.Namespace)
	if err != nil {
		setCondition(cp, gsiv1.ConditionReady, false, "Deleting", "cannot reach AWS to delete the Connect peer: "+err.Error())
		return r.deletingStatus(ctx, before, cp, ctrl.Result{RequeueAfter: r.RetryAfter})
	}
	env, err := r.Cloud.EnvFor(ctx, plugin, true)
	if err != nil {
		return ctrl.Result{}, err
	}
	gone, err := env.AWS.DeleteConnectPeer(ctx, env.Owner(cp.Namespace, cp.Spec.TransitGatewayName), int(cp.Spec.Index))
	if err != nil {
		setCondition(cp, gsiv1.ConditionAWSReady, false, failure.Reason(err), "deleting the Connect peer: "+failure.Message(err))
		_, _ = r.deletingStatus(ctx, before, cp, ctrl.Result{})
		return ctrl.Result{}, fmt.Errorf("deleting Connect peer of %s/%s: %w", cp.Namespace, cp.Name, err)
	}
	if !gone {
		setCondition(cp, gsiv1.ConditionAWSReady, false, "Deleting", "waiting for AWS to delete Connect peer "+cp.Status.ConnectPeerID)
		return r.deletingStatus(ctx, before, cp, ctrl.Result{RequeueAfter: r.PollInterval})
	}
	pod := &corev1.Pod{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: cp.Namespace, Name: PodName(cp)}, pod); err == nil && metav1.IsControlledBy(pod, cp) {
		if err := r.Client.Delete(ctx, pod); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, fmt.Errorf("deleting router pod %s: %w", pod.Name, err)
		}
	}
	return ctrl.Result{}, finalizer.Remove(ctx, r.Client, cp)
}

func (r *Reconciler) deletingStatus(ctx context.Context, before, cp *gsiv1.ConnectedPeer, res ctrl.Result) (ctrl.Result, error) {
	if err := r.Client.Status().Patch(ctx, cp, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("updating ConnectedPeer %s/%s status: %w", cp.Namespace, cp.Name, err)
	}
	return res, nil
}

func (r *Reconciler) peersOfTGW(ctx context.Context, o client.Object) []reconcile.Request {
	var list gsiv1.ConnectedPeerList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingLabels{gsiv1.TransitGatewayLabel: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "mapping TransitGateway to ConnectedPeers")
		return nil
	}
	return requests(list.Items)
}

func (r *Reconciler) allPeers(ctx context.Context, _ client.Object) []reconcile.Request {
	var list gsiv1.ConnectedPeerList
	if err := r.Client.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "listing ConnectedPeers")
		return nil
	}
	return requests(list.Items)
}

func requests(cps []gsiv1.ConnectedPeer) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(cps))
	for _, cp := range cps {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: cp.Namespace, Name: cp.Name}})
	}
	return out
}

// sessionsChanged passes router status reports that change how many sessions are
// established (not every counter update).
func sessionsChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return true },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*gsiv1.ConnectedPeer)
			n, ok2 := e.ObjectNew.(*gsiv1.ConnectedPeer)
			return !ok1 || !ok2 || established(o) != established(n) || len(o.Status.Sessions) != len(n.Status.Sessions) ||
				!n.DeletionTimestamp.IsZero()
		},
	}
}

func established(cp *gsiv1.ConnectedPeer) int {
	n := 0
	for _, s := range cp.Status.Sessions {
		if s.State == "established" {
			n++
		}
	}
	return n
}

// tgwAttachmentChanged passes TransitGateway changes the peers wait for: the Connect
// attachment becoming known or available, spec changes (containers), deletion.
func tgwAttachmentChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*gsiv1.TransitGateway)
		n, ok2 := e.ObjectNew.(*gsiv1.TransitGateway)
		if !ok1 || !ok2 {
			return true
		}
		return o.Generation != n.Generation || o.Status.ConnectAttachmentID != n.Status.ConnectAttachmentID ||
			meta.IsStatusConditionTrue(o.Status.Conditions, gsiv1.ConditionAWSReady) != meta.IsStatusConditionTrue(n.Status.Conditions, gsiv1.ConditionAWSReady) ||
			o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
	}}
}

// nodeChanged passes node events that matter to routers: the crpd label and addresses
// (not the heartbeats).
func nodeChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*corev1.Node)
		n, ok2 := e.ObjectNew.(*corev1.Node)
		if !ok1 || !ok2 {
			return true
		}
		_, ol := o.Labels[gsiv1.CRPDNodeLabel]
		_, nl := n.Labels[gsiv1.CRPDNodeLabel]
		return ol != nl || internalIP(o) != internalIP(n)
	}}
}

// internalIP is the node's VPC address.
func internalIP(n *corev1.Node) netip.Addr {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Is4() {
				return ip
			}
		}
	}
	return netip.Addr{}
}
