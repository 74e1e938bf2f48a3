package transitgateway

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/controller/aws"
	"github.com/opengsi/gsi/controller/failure"
)

// infra is the transit gateway's AWS resources as the last pass found them.
type infra struct {
	tgw     *aws.TransitGateway
	vpcAtt  *aws.VPCAttachment
	connect *aws.ConnectAttachment
	groups  []aws.SecurityGroup
	// ready: every resource is available; failed: AWS refused or failed one of them.
	ready  bool
	failed bool
}

// infra brings the AWS resources into being in order, each only once the previous one
// is available. It describes AWS only when the memo of the last pass does not cover it.
func (ps *pass) infra(ctx context.Context) (*infra, ctrl.Result, error) {
	tgw := ps.tgw
	m := ps.r.memoFor(tgw.UID)
	if m.infra != nil && m.infra.ready && m.generation == tgw.Generation && since(m.infraAt) < ps.r.Resync {
		// Set every owned field again: the cached object this pass started from may
		// predate the last status write.
		ps.recordIDs(m.infra)
		setCondition(tgw, gsiv1.ConditionAWSReady, true, ReasonAvailable, availableMessage(m.infra))
		return m.infra, ctrl.Result{}, nil
	}
	inf, res, err := ps.provision(ctx)
	if err == nil && inf != nil && inf.ready {
		m.generation, m.infraAt, m.infra = tgw.Generation, time.Now(), inf
		m.exposureHash = "" // describe the routes again too after a full check
		setCondition(tgw, gsiv1.ConditionAWSReady, true, ReasonAvailable, availableMessage(inf))
	}
	return inf, res, err
}

func availableMessage(inf *infra) string {
	return fmt.Sprintf("transit gateway %s, VPC attachment %s and Connect attachment %s available; security group %s",
		inf.tgw.ID, inf.vpcAtt.ID, inf.connect.ID, inf.groups[0].ID)
}

// recordIDs puts the AWS ids of a verified infra into the status.
func (ps *pass) recordIDs(inf *infra) {
	st := &ps.tgw.Status
	st.TransitGatewayID, st.VPCAttachmentID, st.ConnectAttachmentID = inf.tgw.ID, inf.vpcAtt.ID, inf.connect.ID
	st.SecurityGroupIDs = groupIDs(inf.groups)
}

func (ps *pass) provision(ctx context.Context) (*infra, ctrl.Result, error) {
	tgw, env, p := ps.tgw, ps.env, ps.p
	own := owner(env, tgw)
	inf := &infra{}
	t, err := env.AWS.EnsureTransitGateway(ctx, aws.TransitGatewaySpec{Owner: own, AmazonSideASN: p.transitASN,
		CIDRBlocks: []string{p.transitCIDR.String()}, Description: "gsi: " + own.Key()})
	if err != nil {
		return ps.awsFail(inf, "transit gateway", err)
	}
	inf.tgw = t
	ps.recordID(&tgw.Status.TransitGatewayID, t.ID, "transit gateway")
	if t.AmazonSideASN != 0 && t.AmazonSideASN != p.transitASN {
		return ps.permanent(inf, "ASNMismatch", fmt.Sprintf("transit gateway %s has Amazon side ASN %d but transitASN is %d; AWS cannot change it: delete and re-create the TransitGateway",
			t.ID, t.AmazonSideASN, p.transitASN))
	}
	if res, done := ps.checkState(inf, "transit gateway", t.ID, t.State); !done {
		return inf, res, nil
	}
	a, err := env.AWS.EnsureVPCAttachment(ctx, aws.VPCAttachmentSpec{Owner: own, TransitGatewayID: t.ID, VPCID: env.VPCID, SubnetIDs: tgw.Spec.SubnetIDs})
	if err != nil {
		return ps.awsFail(inf, "VPC attachment", err)
	}
	inf.vpcAtt = a
	ps.recordID(&tgw.Status.VPCAttachmentID, a.ID, "VPC attachment")
	ps.subnetDrift(a)
	if res, done := ps.checkState(inf, "VPC attachment", a.ID, a.State); !done {
		return inf, res, nil
	}
	c, err := env.AWS.EnsureConnectAttachment(ctx, aws.ConnectAttachmentSpec{Owner: own, TransportAttachmentID: a.ID})
	if err != nil {
		return ps.awsFail(inf, "Connect attachment", err)
	}
	inf.connect = c
	ps.recordID(&tgw.Status.ConnectAttachmentID, c.ID, "Connect attachment")
	if res, done := ps.checkState(inf, "Connect attachment", c.ID, c.State); !done {
		return inf, res, nil
	}
	if inf.groups, err = ps.securityGroup(ctx); err != nil {
		return ps.awsFail(inf, "security group", err)
	}
	if err := ps.sweepPeers(ctx); err != nil {
		return ps.awsFail(inf, "stray Connect peers", err)
	}
	inf.ready = true
	return inf, ctrl.Result{}, nil
}

// recordID stores an AWS id in the status and tells the user about a new resource.
func (ps *pass) recordID(field *string, id, what string) {
	if *field == id {
		return
	}
	*field = id
	ps.r.Recorder.Eventf(ps.tgw, nil, corev1.EventTypeNormal, "AWSResource", "Provision", "%s %s", what, id)
	ps.log.Info("AWS resource", "what", what, "id", id)
}

// checkState says whether a resource is available; otherwise it sets the condition and
// the requeue (pending: poll; failed: wait for the user).
func (ps *pass) checkState(inf *infra, what, id, state string) (ctrl.Result, bool) {
	switch state {
	case aws.StateAvailable:
		return ctrl.Result{}, true
	case aws.StateFailed, aws.StateFailing, aws.StateRejected:
		ps.markFailed(inf, "AWSResourceFailed", fmt.Sprintf("AWS reports %s %s %s; delete the TransitGateway to clean up", what, id, state))
		return ctrl.Result{RequeueAfter: ps.r.RetryAfter}, false
	}
	setCondition(ps.tgw, gsiv1.ConditionAWSReady, false, ReasonProvisioning, fmt.Sprintf("%s %s is %s", what, id, state))
	return ctrl.Result{RequeueAfter: ps.r.PollInterval}, false
}

// awsFail handles an AWS error: permanent ones fail the object (AWS's message in the
// condition), transient ones (throttling, 5xx) are retried with backoff.
func (ps *pass) awsFail(inf *infra, what string, err error) (*infra, ctrl.Result, error) {
	err = fmt.Errorf("%s: %w", what, err)
	if failure.Permanent(err) {
		return ps.permanent(inf, failure.Reason(err), failure.Message(err))
	}
	setCondition(ps.tgw, gsiv1.ConditionAWSReady, false, failure.Reason(err), failure.Message(err))
	return inf, ctrl.Result{}, err
}

func (ps *pass) permanent(inf *infra, reason, msg string) (*infra, ctrl.Result, error) {
	ps.markFailed(inf, reason, msg)
	return inf, ctrl.Result{RequeueAfter: ps.r.RetryAfter}, nil
}

// markFailed records a failure only the user (or AWS support) can cure.
func (ps *pass) markFailed(inf *infra, reason, msg string) {
	inf.failed = true
	setCondition(ps.tgw, gsiv1.ConditionAWSReady, false, reason, msg)
	ps.r.Recorder.Eventf(ps.tgw, nil, corev1.EventTypeWarning, reason, "Provision", "%s", msg)
	ps.log.Info("AWS refused", "reason", reason, "message", msg)
}

// subnetDrift warns when the VPC attachment's subnets differ from spec.subnetIDs: AWS
// attaches at most one subnet per zone and gsi does not move a live attachment.
func (ps *pass) subnetDrift(a *aws.VPCAttachment) {
	want, have := slices.Sorted(slices.Values(ps.tgw.Spec.SubnetIDs)), slices.Sorted(slices.Values(a.SubnetIDs))
	if len(have) == 0 || slices.Equal(want, have) {
		return
	}
	ps.r.Recorder.Eventf(ps.tgw, nil, corev1.EventTypeWarning, "SubnetIDsDrift", "Provision",
		"VPC attachment %s uses subnets %v, spec.subnetIDs are %v; re-create the TransitGateway to move the attachment", a.ID, have, want)
}

// securityGroup finds or creates the first security group (gsi-sg-<name>).
func (ps *pass) securityGroup(ctx context.Context) ([]aws.SecurityGroup, error) {
	tgw, env := ps.tgw, ps.env
	own := owner(env, tgw)
	groups, err := env.AWS.ListSecurityGroups(ctx, own)
	if err != nil {
		return nil, err
	}
	if len(groups) == 0 || aws.GroupIndex(groups[0]) != 0 {
		g, err := env.AWS.CreateSecurityGroupIndex(ctx, aws.SecurityGroupSpec{Owner: own, VPCID: env.VPCID, Name: SecurityGroupName(tgw),
			Description: "gsi-sg: lets the networks exposed through TransitGateway " + own.Key() + " reach the instances carrying it"}, 0)
		if err != nil {
			return nil, err
		}
		groups = append([]aws.SecurityGroup{*g}, groups...)
	}
	ids := make([]string, 0, len(groups))
	for _, g := range groups {
		ids = append(ids, g.ID)
	}
	if !slices.Equal(tgw.Status.SecurityGroupIDs, ids) {
		ps.recordID(new(string), ids[0], "security group")
		tgw.Status.SecurityGroupIDs = ids
	}
	return groups, nil
}

// sweepPeers deletes Connect peers of indices without a ConnectedPeer (left by a crash
// during a scale-down whose ConnectedPeer was force-removed).
func (ps *pass) sweepPeers(ctx context.Context) error {
	own := owner(ps.env, ps.tgw)
	peers, err := ps.env.AWS.ListConnectPeers(ctx, own)
	if err != nil {
		return err
	}
	for _, cp := range peers {
		idx, err := strconv.Atoi(cp.Tags[aws.TagPeerIndex])
		if err != nil || ps.hasPeerObject(idx) {
			continue
		}
		if _, err := ps.env.AWS.DeleteConnectPeer(ctx, own, idx); err != nil {
			return fmt.Errorf("deleting stray Connect peer %s (index %d): %w", cp.ID, idx, err)
		}
		ps.log.Info("deleted stray Connect peer", "id", cp.ID, "index", idx)
	}
	return nil
}
