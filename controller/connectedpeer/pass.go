package connectedpeer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/controller/aws"
	"github.com/opengsi/gsi/controller/cloud"
	"github.com/opengsi/gsi/controller/failure"
)

// ensurePod creates the router pod, or replaces one that finished or was built from an
// older template. It returns the live pod, or nil while there is none.
func (p *pass) ensurePod(ctx context.Context) (*corev1.Pod, ctrl.Result, error) {
	cp := p.cp
	want := RouterPod(p.tgw, cp, p.r.Pod)
	if err := controllerutil.SetControllerReference(cp, want, p.r.Client.Scheme()); err != nil {
		return nil, ctrl.Result{}, fmt.Errorf("owner of pod %s: %w", want.Name, err)
	}
	cp.Status.PodName = want.Name
	var pod corev1.Pod
	err := p.r.Client.Get(ctx, client.ObjectKeyFromObject(want), &pod)
	switch {
	case apierrors.IsNotFound(err):
		if err := p.r.Client.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, ctrl.Result{}, fmt.Errorf("creating router pod %s: %w", want.Name, err)
		}
		p.log.Info("created router pod", "pod", want.Name)
		p.r.Recorder.Eventf(cp, want, corev1.EventTypeNormal, "PodCreated", "CreatePod", "router pod %s created", want.Name)
		return want, ctrl.Result{}, nil
	case err != nil:
		return nil, ctrl.Result{}, fmt.Errorf("getting router pod %s: %w", want.Name, err)
	case !metav1.IsControlledBy(&pod, cp):
		setCondition(cp, gsiv1.ConditionRouterReady, false, ReasonPodNameConflict,
			fmt.Sprintf("pod %s exists and is not this ConnectedPeer's; delete it", pod.Name))
		return nil, ctrl.Result{RequeueAfter: p.r.RetryAfter}, nil
	case !pod.DeletionTimestamp.IsZero():
		setCondition(cp, gsiv1.ConditionRouterReady, false, ReasonPodStarting, fmt.Sprintf("pod %s is terminating; a new one follows", pod.Name))
		return nil, ctrl.Result{}, nil
	}
	stale := pod.Annotations[TemplateHashAnnotation] != want.Annotations[TemplateHashAnnotation]
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded || stale {
		why := "it ended (" + string(pod.Status.Phase) + ")"
		if stale {
			why = "the TransitGateway's container specs changed"
		}
		if err := p.r.Client.Delete(ctx, &pod, client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(err) != nil {
			return nil, ctrl.Result{}, fmt.Errorf("replacing router pod %s: %w", pod.Name, err)
		}
		p.r.Recorder.Eventf(cp, &pod, corev1.EventTypeNormal, "PodReplaced", "DeletePod", "router pod %s replaced: %s", pod.Name, why)
		setCondition(cp, gsiv1.ConditionRouterReady, false, ReasonPodStarting, "router pod replaced: "+why)
		return nil, ctrl.Result{}, nil
	}
	return &pod, ctrl.Result{}, nil
}

// nodeAddress finds where the pod runs and its node's VPC address, and sets RouterReady.
func (p *pass) nodeAddress(ctx context.Context, pod *corev1.Pod) (netip.Addr, string, ctrl.Result, error) {
	cp := p.cp
	if pod == nil {
		return netip.Addr{}, "", ctrl.Result{}, nil
	}
	if pod.Spec.NodeName == "" {
		cp.Status.NodeName = ""
		return netip.Addr{}, "", ctrl.Result{}, p.unscheduled(ctx, pod)
	}
	var node corev1.Node
	if err := p.r.Client.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, &node); err != nil {
		if apierrors.IsNotFound(err) {
			setCondition(cp, gsiv1.ConditionRouterReady, false, ReasonPodStarting, fmt.Sprintf("node %s of pod %s is gone", pod.Spec.NodeName, pod.Name))
			return netip.Addr{}, "", ctrl.Result{RequeueAfter: p.r.PollInterval}, nil
		}
		return netip.Addr{}, "", ctrl.Result{}, fmt.Errorf("getting node %s: %w", pod.Spec.NodeName, err)
	}
	cp.Status.NodeName = node.Name
	addr, _ := netip.ParseAddr(pod.Status.HostIP)
	if !addr.IsValid() || !addr.Is4() {
		addr = internalIP(&node)
	}
	if addr.IsValid() {
		cp.Status.PeerAddress = addr.String()
	}
	if ready, why := podReady(pod); ready {
		setCondition(cp, gsiv1.ConditionRouterReady, true, ReasonPodRunning, fmt.Sprintf("router pod %s running on node %s (%s)", pod.Name, node.Name, addr))
	} else {
		setCondition(cp, gsiv1.ConditionRouterReady, false, ReasonPodStarting, fmt.Sprintf("router pod %s on node %s: %s", pod.Name, node.Name, why))
	}
	if !addr.IsValid() {
		setCondition(cp, gsiv1.ConditionAWSReady, false, ReasonWaitingForNode, fmt.Sprintf("node %s has no IPv4 InternalIP address yet", node.Name))
	}
	return addr, node.Name, ctrl.Result{}, nil
}

// unscheduled explains a pod without a node: no crpd node at all, or the scheduler's own
// message (e.g. every crpd node already runs a router).
func (p *pass) unscheduled(ctx context.Context, pod *corev1.Pod) error {
	var nodes corev1.NodeList
	if err := p.r.Client.List(ctx, &nodes, client.HasLabels{gsiv1.CRPDNodeLabel}); err != nil {
		return fmt.Errorf("listing crpd nodes: %w", err)
	}
	if len(nodes.Items) == 0 {
		setCondition(p.cp, gsiv1.ConditionRouterReady, false, ReasonNoCRPDNode, fmt.Sprintf(
			"no node is labelled %s, so router pod %s cannot be scheduled: kubectl label node <node> %s=", gsiv1.CRPDNodeLabel, pod.Name, gsiv1.CRPDNodeLabel))
		return nil
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			setCondition(p.cp, gsiv1.ConditionRouterReady, false, ReasonUnschedulable, fmt.Sprintf("router pod %s: %s", pod.Name, c.Message))
			return nil
		}
	}
	setCondition(p.cp, gsiv1.ConditionRouterReady, false, ReasonPodStarting, fmt.Sprintf("router pod %s is waiting for the scheduler (%d crpd nodes)", pod.Name, len(nodes.Items)))
	return nil
}

// podReady reports a running, ready pod, or what its containers wait for.
func podReady(pod *corev1.Pod) (bool, string) {
	if pod.Status.Phase == corev1.PodRunning {
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, ""
			}
		}
	}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, s := range list {
			if w := s.State.Waiting; w != nil && w.Reason != "" {
				return false, fmt.Sprintf("container %s %s: %s", s.Name, w.Reason, w.Message)
			}
			if t := s.State.Terminated; t != nil && t.ExitCode != 0 {
				return false, fmt.Sprintf("container %s exited %d (%s): %s", s.Name, t.ExitCode, t.Reason, t.Message)
			}
		}
	}
	phase := string(pod.Status.Phase)
	if phase == "" {
		phase = string(corev1.PodPending)
	}
	return false, "pod " + phase + ", not ready yet"
}

// connectPeer makes the AWS Connect peer match the router's node address.
func (p *pass) connectPeer(ctx context.Context, addr netip.Addr) (ctrl.Result, error) {
	cp, tgw := p.cp, p.tgw
	if !addr.IsValid() {
		if c := meta.FindStatusCondition(cp.Status.Conditions, gsiv1.ConditionAWSReady); c == nil || c.Reason != ReasonWaitingForNode {
			setCondition(cp, gsiv1.ConditionAWSReady, false, ReasonWaitingForNode, "waiting for the router pod's node (its VPC address is the Connect peer's address)")
		}
		return ctrl.Result{}, nil
	}
	if tgw.Status.ConnectAttachmentID == "" || !meta.IsStatusConditionTrue(tgw.Status.Conditions, gsiv1.ConditionAWSReady) {
		msg := "TransitGateway " + tgw.Name + " has no available Connect attachment yet"
		if c := meta.FindStatusCondition(tgw.Status.Conditions, gsiv1.ConditionAWSReady); c != nil {
			msg += ": " + c.Message
		}
		setCondition(cp, gsiv1.ConditionAWSReady, false, ReasonWaitingForTGW, msg)
		return ctrl.Result{}, nil
	}
	env, err := p.r.Cloud.Env(ctx, cp.Namespace)
	if err != nil {
		setCondition(cp, gsiv1.ConditionAWSReady, false, "GSIPluginNotReady", failure.Message(err))
		if errors.Is(err, cloud.ErrNoPlugin) || errors.Is(err, cloud.ErrPluginNotReady) || errors.Is(err, cloud.ErrNoRegion) {
			return ctrl.Result{RequeueAfter: p.r.RetryAfter}, nil
		}
		return ctrl.Result{}, err
	}
	peer, err := env.AWS.EnsureConnectPeer(ctx, aws.ConnectPeerSpec{Owner: env.Owner(cp.Namespace, cp.Spec.TransitGatewayName),
		Index: int(cp.Spec.Index), ConnectAttachmentID: tgw.Status.ConnectAttachmentID, PeerAddress: addr.String(),
		InsideCIDR: cp.Spec.InsideCIDR, PeerASN: cp.Spec.PeerASN})
	if err != nil {
		return p.awsFail(err)
	}
	return p.record(peer, addr), nil
}

func (p *pass) awsFail(err error) (ctrl.Result, error) {
	cp := p.cp
	setCondition(cp, gsiv1.ConditionAWSReady, false, failure.Reason(err), "Connect peer: "+failure.Message(err))
	if failure.Permanent(err) {
		cp.Status.State = gsiv1.StateFailed
		p.r.Recorder.Eventf(cp, nil, corev1.EventTypeWarning, failure.Reason(err), "ConnectPeer", "%s", failure.Message(err))
		return ctrl.Result{RequeueAfter: p.r.RetryAfter}, nil
	}
	return ctrl.Result{}, fmt.Errorf("Connect peer of %s/%s: %w", cp.Namespace, cp.Name, err)
}

// record copies the Connect peer into the status and says what to wait for.
func (p *pass) record(peer *aws.ConnectPeer, addr netip.Addr) ctrl.Result {
	cp := p.cp
	if cp.Status.ConnectPeerID != peer.ID {
		p.r.Recorder.Eventf(cp, nil, corev1.EventTypeNormal, "AWSResource", "ConnectPeer", "Connect peer %s (%s → %s, inside %v) is %s",
			peer.ID, peer.PeerAddress, peer.TransitGatewayAddress, peer.InsideCIDRs, peer.State)
		cp.Status.ConnectPeerID = peer.ID
	}
	if peer.PeerAddress != addr.String() {
		setCondition(cp, gsiv1.ConditionAWSReady, false, ReasonMoving, fmt.Sprintf(
			"the router moved to %s: Connect peer %s at %s is being replaced (AWS cannot change a peer address)", addr, peer.ID, peer.PeerAddress))
		return ctrl.Result{RequeueAfter: p.r.PollInterval}
	}
	cp.Status.TransitGatewayAddress = peer.TransitGatewayAddress
	cp.Status.TransitGatewayInsideAddresses = nil
	for _, b := range peer.BGP {
		cp.Status.InsideAddress = b.PeerAddress
		cp.Status.TransitGatewayInsideAddresses = append(cp.Status.TransitGatewayInsideAddresses, b.TransitGatewayAddress)
	}
	switch peer.State {
	case aws.StateAvailable:
		up := 0
		for _, b := range peer.BGP {
			if b.Status == aws.BGPStatusUp {
				up++
			}
		}
		setCondition(cp, gsiv1.ConditionAWSReady, true, ReasonAvailable, fmt.Sprintf(
			"Connect peer %s available: GRE %s → %s, BGP %s ↔ %v (AWS sees %d of %d sessions up)",
			peer.ID, peer.PeerAddress, peer.TransitGatewayAddress, cp.Status.InsideAddress, cp.Status.TransitGatewayInsideAddresses, up, len(peer.BGP)))
		if cp.Status.State == gsiv1.StateFailed {
			cp.Status.State = gsiv1.StatePending
		}
		return ctrl.Result{RequeueAfter: p.r.Resync}
	case aws.StateFailed, aws.StateFailing, aws.StateRejected:
		cp.Status.State = gsiv1.StateFailed
		setCondition(cp, gsiv1.ConditionAWSReady, false, "AWSResourceFailed", fmt.Sprintf("AWS reports Connect peer %s %s", peer.ID, peer.State))
		return ctrl.Result{RequeueAfter: p.r.RetryAfter}
	}
	setCondition(cp, gsiv1.ConditionAWSReady, false, ReasonProvisioning, fmt.Sprintf("Connect peer %s is %s", peer.ID, peer.State))
	return ctrl.Result{RequeueAfter: p.r.PollInterval}
}
