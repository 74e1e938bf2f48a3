package transitgateway

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/controller/aws"
	"github.com/opengsi/gsi/controller/cloud"
	"github.com/opengsi/gsi/controller/exposure"
	"github.com/opengsi/gsi/controller/failure"
	"github.com/opengsi/gsi/controller/finalizer"
)

// step is one stage of the deletion; done reports it finished (else requeue).
type step struct {
	name string
	run  func(ctx context.Context) (done bool, err error)
}

// finalize deletes everything in the reverse order of creation: the exposures (VPC
// routes, rules, Routes), the ConnectedPeers (whose finalizers delete the Connect peers,
// BGPRouters and pods), the Connect attachment, the VPC attachment, the security groups,
// the transit gateway. Each step is idempotent and found through the tags, so a crash
// anywhere resumes where it stopped.
func (r *Reconciler) finalize(ctx context.Context, tgw *gsiv1.TransitGateway) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(tgw, gsiv1.Finalizer) {
		return ctrl.Result{}, nil
	}
	before := tgw.DeepCopy()
	tgw.Status.State = gsiv1.StateDeleting
	res, err := r.teardown(ctx, tgw)
	if err == nil && res.IsZero() {
		exposure.ForgetMetrics(tgw.Namespace, tgw.Name)
		r.forget(tgw.UID)
		if err := finalizer.Remove(ctx, r.Client, tgw); err != nil {
			return ctrl.Result{}, err
		}
		r.Recorder.Eventf(tgw, nil, corev1.EventTypeNormal, "Deleted", "Delete", "every AWS resource of the transit gateway is deleted")
		return ctrl.Result{}, nil
	}
	if werr := r.writeStatus(ctx, before, tgw); werr != nil {
		return ctrl.Result{}, werr
	}
	return res, err
}

func (r *Reconciler) teardown(ctx context.Context, tgw *gsiv1.TransitGateway) (ctrl.Result, error) {
	plugin, err := r.Cloud.Plugin(ctx, tgw.Namespace)
	if err != nil {
		setCondition(tgw, gsiv1.ConditionReady, false, ReasonDeleting, "cannot reach AWS to delete: "+err.Error())
		return ctrl.Result{RequeueAfter: r.RetryAfter}, nil
	}
	env, err := r.Cloud.EnvFor(ctx, plugin, true)
	if err != nil {
		setCondition(tgw, gsiv1.ConditionReady, false, ReasonDeleting, "cannot reach AWS to delete: "+err.Error())
		return ctrl.Result{RequeueAfter: r.RetryAfter}, nil
	}
	own := owner(env, tgw)
	steps := []step{
		{"exposures", func(ctx context.Context) (bool, error) { return r.withdraw(ctx, env, tgw) }},
		{"connected peers", func(ctx context.Context) (bool, error) { return r.deletePeers(ctx, env, tgw) }},
		{"Connect attachment", func(ctx context.Context) (bool, error) {
			gone, err := env.AWS.DeleteConnectAttachment(ctx, own)
			return bool(gone), err
		}},
		{"VPC attachment", func(ctx context.Context) (bool, error) {
			gone, err := env.AWS.DeleteVPCAttachment(ctx, own)
			return bool(gone), err
		}},
		{"security groups", func(ctx context.Context) (bool, error) { return deleteGroups(ctx, env, own) }},
		{"transit gateway", func(ctx context.Context) (bool, error) {
			gone, err := env.AWS.DeleteTransitGateway(ctx, own)
			return bool(gone), err
		}},
	}
	for _, s := range steps {
		done, err := s.run(ctx)
		if err != nil {
			setCondition(tgw, gsiv1.ConditionReady, false, failure.Reason(err), fmt.Sprintf("deleting %s: %s", s.name, failure.Message(err)))
			if errors.Is(err, aws.ErrDependencyViolation) || errors.Is(err, aws.ErrIncorrectState) {
				// Something still uses it (an instance in a security group, an
				// attachment finishing): poll rather than back off.
				return ctrl.Result{RequeueAfter: r.PollInterval}, nil
			}
			return ctrl.Result{}, fmt.Errorf("deleting %s of TransitGateway %s/%s: %w", s.name, tgw.Namespace, tgw.Name, err)
		}
		if !done {
			setCondition(tgw, gsiv1.ConditionReady, false, ReasonDeleting, "waiting for the "+s.name+" to be deleted")
			log.FromContext(ctx).V(1).Info("deleting", "step", s.name)
			return ctrl.Result{RequeueAfter: r.PollInterval}, nil
		}
	}
	return ctrl.Result{}, nil
}

// withdraw removes the Route objects and every VPC route and managed rule of the
// transit gateway.
func (r *Reconciler) withdraw(ctx context.Context, env *cloud.Env, tgw *gsiv1.TransitGateway) (bool, error) {
	mine, _, err := r.routes(ctx, tgw)
	if err != nil {
		return false, err
	}
	for i := range mine {
		if err := r.Client.Delete(ctx, &mine[i]); client.IgnoreNotFound(err) != nil {
			return false, fmt.Errorf("deleting Route %s: %w", mine[i].Name, err)
		}
	}
	own := owner(env, tgw)
	t, err := env.AWS.FindTransitGateway(ctx, own)
	if err != nil || t == nil {
		return err == nil, err
	}
	groups, err := env.AWS.ListSecurityGroups(ctx, own)
	if err != nil {
		return false, err
	}
	_, err = exposure.Sync(ctx, exposure.Plan{AWS: env.AWS, Owner: own, VPCID: env.VPCID, TransitGatewayID: t.ID,
		GroupName: SecurityGroupName(tgw), Groups: groups, Log: log.FromContext(ctx)})
	return err == nil, err
}

// deletePeers deletes the ConnectedPeers and waits until their finalizers are done,
// then deletes any Connect peer left without one.
func (r *Reconciler) deletePeers(ctx context.Context, env *cloud.Env, tgw *gsiv1.TransitGateway) (bool, error) {
	peers, err := r.listPeers(ctx, tgw)
	if err != nil {
		return false, err
	}
	for i := range peers {
		if peers[i].DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, &peers[i]); client.IgnoreNotFound(err) != nil {
				return false, fmt.Errorf("deleting ConnectedPeer %s: %w", peers[i].Name, err)
			}
		}
	}
	if len(peers) > 0 {
		return false, nil
	}
	own := owner(env, tgw)
	left, err := env.AWS.ListConnectPeers(ctx, own)
	if err != nil {
		return false, err
	}
	all := true
	for i := range aws.MaxConnectPeers {
		for _, cp := range left {
			if cp.Tags[aws.TagPeerIndex] == fmt.Sprint(i) {
				gone, err := env.AWS.DeleteConnectPeer(ctx, own, i)
				if err != nil {
					return false, err
				}
				all = all && bool(gone)
				break
			}
		}
	}
	return all, nil
}

// deleteGroups deletes every security group of the owner.
func deleteGroups(ctx context.Context, env *cloud.Env, own aws.Owner) (bool, error) {
	groups, err := env.AWS.ListSecurityGroups(ctx, own)
	if err != nil {
		return false, err
	}
	for _, g := range groups {
		if _, err := env.AWS.DeleteSecurityGroupID(ctx, g.ID); err != nil {
			return false, fmt.Errorf("security group %s: %w", g.ID, err)
		}
	}
	return true, nil
}
