package transitgateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/controller/cloud"
	"github.com/opengsi/gsi/controller/failure"
)

// Condition reasons of a TransitGateway.
const (
	ReasonInvalidSpec       = "InvalidSpec"
	ReasonGSIPluginNotReady = "GSIPluginNotReady"
	ReasonProvisioning      = "Provisioning"
	ReasonAvailable         = "Available"
	ReasonDeleting          = "Deleting"
	ReasonPeersNotReady     = "PeersNotReady"
	ReasonPeersReady        = "PeersReady"
	ReasonLicenseMissing    = "LicenseMissing"
	ReasonLicensed          = "LicenseFound"
	ReasonReady             = "Ready"
)

// pass is one reconcile of a TransitGateway that is not being deleted.
type pass struct {
	r     *Reconciler
	tgw   *gsiv1.TransitGateway
	log   logr.Logger
	env   *cloud.Env
	p     params
	peers []gsiv1.ConnectedPeer
}

func (ps *pass) run(ctx context.Context) (ctrl.Result, error) {
	tgw := ps.tgw
	if tgw.Status.State == "" {
		tgw.Status.State = gsiv1.StatePending
	}
	env, envErr := ps.r.Cloud.Env(ctx, tgw.Namespace)
	ps.env = env
	p, err := parseSpec(tgw, envCIDRs(env))
	if err != nil {
		return ps.refuse(err)
	}
	ps.p = p
	ps.license(ctx)
	if envErr != nil {
		return ps.waitPlugin(envErr)
	}
	peersErr := ps.syncPeers(ctx)
	inf, res, err := ps.infra(ctx)
	if err != nil || inf == nil || !inf.ready {
		ps.summarize(inf)
		ps.pendingRoutes(ctx, "WaitingForTransitGateway", "the transit gateway's AWS resources are not available yet")
		return res, errors.Join(err, peersErr)
	}
	res2, err := ps.expose(ctx, inf)
	ps.summarize(inf)
	if err != nil || peersErr != nil {
		return ctrl.Result{}, errors.Join(err, peersErr)
	}
	return minResult(res, res2), nil
}

// refuse marks a spec the controller will not act on; nothing is created in AWS.
func (ps *pass) refuse(err error) (ctrl.Result, error) {
	tgw := ps.tgw
	msg := err.Error()
	tgw.Status.State = gsiv1.StateFailed
	setCondition(tgw, gsiv1.ConditionAWSReady, false, ReasonInvalidSpec, msg)
	setCondition(tgw, gsiv1.ConditionReady, false, ReasonInvalidSpec, msg)
	ps.log.Info("refusing invalid TransitGateway spec", "reason", msg)
	return ctrl.Result{}, nil
}

// waitPlugin reports the missing AWS context; the GSIPlugin watch brings the object back.
func (ps *pass) waitPlugin(err error) (ctrl.Result, error) {
	tgw := ps.tgw
	msg := failure.Message(err)
	if !errors.Is(err, cloud.ErrNoPlugin) && !errors.Is(err, cloud.ErrPluginNotReady) && !errors.Is(err, cloud.ErrNoRegion) {
		return ctrl.Result{}, err
	}
	tgw.Status.State = gsiv1.StatePending
	setCondition(tgw, gsiv1.ConditionAWSReady, false, ReasonGSIPluginNotReady, msg)
	setCondition(tgw, gsiv1.ConditionReady, false, ReasonGSIPluginNotReady, msg)
	return ctrl.Result{RequeueAfter: ps.r.RetryAfter}, nil
}

// license checks the router license Secret: the router pods mount it, so a missing
// license is the first thing the CN2 guide says to check when BGP does not come up.
func (ps *pass) license(ctx context.Context) {
	tgw := ps.tgw
	var s corev1.Secret
	key := types.NamespacedName{Namespace: tgw.Namespace, Name: ps.p.license}
	err := ps.r.APIReader.Get(ctx, key, &s)
	switch {
	case apierrors.IsNotFound(err):
		setCondition(tgw, gsiv1.ConditionLicensed, false, ReasonLicenseMissing,
			fmt.Sprintf("Secret %s not found: create it with the router license under key %q", key, gsiv1.LicenseSecretKey))
	case err != nil:
		setCondition(tgw, gsiv1.ConditionLicensed, false, ReasonLicenseMissing, fmt.Sprintf("reading Secret %s: %v", key, err))
	case len(s.Data[gsiv1.LicenseSecretKey]) == 0:
		setCondition(tgw, gsiv1.ConditionLicensed, false, ReasonLicenseMissing,
			fmt.Sprintf("Secret %s has no %q key (or it is empty)", key, gsiv1.LicenseSecretKey))
	default:
		setCondition(tgw, gsiv1.ConditionLicensed, true, ReasonLicensed, fmt.Sprintf("Secret %s holds a license", key))
	}
}

// summarize sets the state, PeersReady, PeersReady count and Ready from what the pass found.
func (ps *pass) summarize(inf *infra) {
	tgw := ps.tgw
	peers, ready, firstProblem := ps.peerCounts()
	tgw.Status.PeersReady = int32(ready)
	if ready == ps.p.scale {
		setCondition(tgw, gsiv1.ConditionPeersReady, true, ReasonPeersReady, fmt.Sprintf("%d of %d connected peers ready", ready, ps.p.scale))
	} else {
		msg := fmt.Sprintf("%d of %d connected peers ready", ready, ps.p.scale)
		if firstProblem != "" {
			msg += "; " + firstProblem
		}
		setCondition(tgw, gsiv1.ConditionPeersReady, false, ReasonPeersNotReady, msg)
	}
	awsOK := inf != nil && inf.ready
	switch {
	case inf != nil && inf.failed:
		tgw.Status.State = gsiv1.StateFailed
	case awsOK && peers == ps.p.scale:
		tgw.Status.State = gsiv1.StateAvailable
	case tgw.Status.State != gsiv1.StateFailed || inf != nil:
		tgw.Status.State = gsiv1.StatePending
	}
	var notReady []string
	for _, t := range []string{gsiv1.ConditionAWSReady, gsiv1.ConditionPeersReady, gsiv1.ConditionLicensed} {
		if c := meta.FindStatusCondition(tgw.Status.Conditions, t); c == nil || c.Status != "True" {
			msg := t
			if c != nil {
				msg = t + ": " + c.Message
			}
			notReady = append(notReady, msg)
		}
	}
	if len(notReady) == 0 {
		setCondition(tgw, gsiv1.ConditionReady, true, ReasonReady, "transit gateway available, every connected peer ready, license present")
		return
	}
	reason := ReasonProvisioning
	if tgw.Status.State == gsiv1.StateFailed {
		reason = "Failed"
	}
	setCondition(tgw, gsiv1.ConditionReady, false, reason, joinMax(notReady, 900))
}

func joinMax(parts []string, n int) string {
	s := ""
	for i, p := range parts {
		if i > 0 {
			s += "; "
		}
		s += p
	}
	if len(s) > n {
		s = s[:n-3] + "..."
	}
	return s
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

func envCIDRs(env *cloud.Env) []netip.Prefix {
	if env == nil {
		return nil
	}
	return slices.Clone(env.VPCCIDRs)
}

// since is the age of t, or "forever" when t is zero.
func since(t time.Time) time.Duration {
	if t.IsZero() {
		return time.Duration(1<<63 - 1)
	}
	return time.Since(t)
}
