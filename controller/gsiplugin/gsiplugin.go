// Package gsiplugin reconciles GSIPlugin: it describes the cluster's VPC in the plugin's
// region and records the VPC's CIDR blocks and route tables in the status, where the
// webhook checks overlaps and the other reconcilers find the route tables to program.
package gsiplugin

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
	"github.com/opengsi/gsi/controller/cloud"
	"github.com/opengsi/gsi/controller/failure"
)

// +kubebuilder:rbac:groups=plugins.juniper.net,resources=gsiplugins,verbs=get;list;watch
// +kubebuilder:rbac:groups=plugins.juniper.net,resources=gsiplugins/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconciler records what AWS says about the GSIPlugin's VPC.
type Reconciler struct {
	Client   client.Client
	Cloud    *cloud.Provider
	Recorder recorder.EventRecorder
	// Resync is how often the VPC is described again (route tables come and go).
	Resync time.Duration
	// RetryAfter is the wait after a permanent failure (e.g. missing IAM permissions).
	RetryAfter time.Duration
}

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&pluginsv1alpha1.GSIPlugin{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("gsiplugin").
		Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var plugin pluginsv1alpha1.GSIPlugin
	if err := r.Client.Get(ctx, req.NamespacedName, &plugin); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := plugin.DeepCopy()
	result, rerr := r.describe(ctx, &plugin)
	plugin.Status.ObservedGeneration = plugin.Generation
	if err := r.Client.Status().Patch(ctx, &plugin, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("updating GSIPlugin %s status: %w", req, err)
	}
	return result, rerr
}

// describe fills the status from AWS; errors become the Ready condition.
func (r *Reconciler) describe(ctx context.Context, plugin *pluginsv1alpha1.GSIPlugin) (ctrl.Result, error) {
	env, err := r.Cloud.EnvFor(ctx, plugin, true)
	if err == nil {
		err = r.fill(ctx, env, plugin)
	}
	if err != nil {
		return r.fail(ctx, plugin, err)
	}
	msg := fmt.Sprintf("VPC %s in %s: %d CIDR blocks, %d route tables", plugin.Spec.VPCID, env.Region,
		len(plugin.Status.VPCCIDRs), len(plugin.Status.RouteTableIDs))
	r.setReady(ctx, plugin, metav1.ConditionTrue, "VPCDescribed", msg)
	return ctrl.Result{RequeueAfter: r.Resync}, nil
}

func (r *Reconciler) fill(ctx context.Context, env *cloud.Env, plugin *pluginsv1alpha1.GSIPlugin) error {
	vpc, err := env.AWS.DescribeVPC(ctx, plugin.Spec.VPCID)
	if err != nil {
		return fmt.Errorf("describing VPC %s: %w", plugin.Spec.VPCID, err)
	}
	tables, err := env.AWS.DescribeRouteTables(ctx, plugin.Spec.VPCID)
	if err != nil {
		return fmt.Errorf("describing route tables of VPC %s: %w", plugin.Spec.VPCID, err)
	}
	cidrs := make([]string, 0, len(vpc.CIDRBlocks))
	for _, c := range vpc.CIDRBlocks {
		if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is4() {
			cidrs = append(cidrs, p.Masked().String())
		}
	}
	sort.Strings(cidrs)
	ids := make([]string, 0, len(tables))
	for _, t := range tables {
		ids = append(ids, t.ID)
	}
	sort.Strings(ids)
	plugin.Status.VPCCIDRs = slices.Compact(cidrs)
	plugin.Status.RouteTableIDs = ids
	return nil
}

func (r *Reconciler) fail(ctx context.Context, plugin *pluginsv1alpha1.GSIPlugin, err error) (ctrl.Result, error) {
	reason := failure.Reason(err)
	if errors.Is(err, cloud.ErrNoRegion) {
		reason = "NoRegion"
	}
	r.setReady(ctx, plugin, metav1.ConditionFalse, reason, failure.Message(err))
	if failure.Permanent(err) || errors.Is(err, cloud.ErrNoRegion) {
		log.FromContext(ctx).Error(err, "GSIPlugin not ready")
		return ctrl.Result{RequeueAfter: r.RetryAfter}, nil
	}
	return ctrl.Result{}, err
}

// setReady sets the Ready condition and emits an event when it changes.
func (r *Reconciler) setReady(ctx context.Context, plugin *pluginsv1alpha1.GSIPlugin, status metav1.ConditionStatus, reason, msg string) {
	changed := meta.SetStatusCondition(&plugin.Status.Conditions, metav1.Condition{
		Type: gsiv1.ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: plugin.Generation,
	})
	if !changed || r.Recorder == nil {
		return
	}
	kind := corev1.EventTypeNormal
	if status != metav1.ConditionTrue {
		kind = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(plugin, nil, kind, reason, "DescribeVPC", "%s", msg)
	log.FromContext(ctx).Info("GSIPlugin readiness changed", "ready", status, "reason", reason, "message", msg)
}
