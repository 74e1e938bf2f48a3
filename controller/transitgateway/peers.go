package transitgateway

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

// PeerName is the ConnectedPeer of index i of a transit gateway.
func PeerName(tgw string, i int) string { return tgw + "-" + strconv.Itoa(i) }

// listPeers returns the transit gateway's ConnectedPeers, by index.
func (r *Reconciler) listPeers(ctx context.Context, tgw *gsiv1.TransitGateway) ([]gsiv1.ConnectedPeer, error) {
	var list gsiv1.ConnectedPeerList
	if err := r.Client.List(ctx, &list, client.InNamespace(tgw.Namespace), client.MatchingLabels{gsiv1.TransitGatewayLabel: tgw.Name}); err != nil {
		return nil, fmt.Errorf("listing ConnectedPeers of %s/%s: %w", tgw.Namespace, tgw.Name, err)
	}
	out := list.Items[:0]
	for _, cp := range list.Items {
		if cp.Spec.TransitGatewayName == tgw.Name {
			out = append(out, cp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Index < out[j].Spec.Index })
	return out, nil
}

// syncPeers creates the ConnectedPeers of indices 0..scale-1, updates their spec and
// deletes those beyond the scale (their finalizer removes the Connect peer and pod):
// scaling touches exactly the peers concerned.
func (ps *pass) syncPeers(ctx context.Context) error {
	tgw := ps.tgw
	peers, err := ps.r.listPeers(ctx, tgw)
	if err != nil {
		return err
	}
	ps.peers = peers
	have := map[int]*gsiv1.ConnectedPeer{}
	var errs error
	for i := range peers {
		cp := &peers[i]
		idx := int(cp.Spec.Index)
		if idx >= ps.p.scale {
			errs = errors.Join(errs, ps.dropPeer(ctx, cp))
			continue
		}
		have[idx] = cp
	}
	for i := range ps.p.scale {
		spec := ps.peerSpec(i)
		cp, ok := have[i]
		switch {
		case !ok:
			errs = errors.Join(errs, ps.createPeer(ctx, i, spec))
		case cp.Spec != spec && cp.DeletionTimestamp.IsZero():
			before := cp.DeepCopy()
			cp.Spec = spec
			if err := ps.r.Client.Patch(ctx, cp, client.MergeFrom(before)); err != nil {
				errs = errors.Join(errs, fmt.Errorf("updating ConnectedPeer %s: %w", cp.Name, err))
			}
		}
	}
	return errs
}

func (ps *pass) peerSpec(i int) gsiv1.ConnectedPeerSpec {
	return gsiv1.ConnectedPeerSpec{TransitGatewayName: ps.tgw.Name, Index: int32(i), InsideCIDR: ps.p.inside[i].String(),
		PeerASN: ps.p.peerASN, TransitASN: ps.p.transitASN, ControlNodeASN: ps.p.controlNodeASN}
}

func (ps *pass) createPeer(ctx context.Context, i int, spec gsiv1.ConnectedPeerSpec) error {
	tgw := ps.tgw
	cp := &gsiv1.ConnectedPeer{
		ObjectMeta: metav1.ObjectMeta{Namespace: tgw.Namespace, Name: PeerName(tgw.Name, i),
			Labels: map[string]string{gsiv1.TransitGatewayLabel: tgw.Name, gsiv1.PeerIndexLabel: strconv.Itoa(i)}},
		Spec: spec,
	}
	if err := controllerutil.SetControllerReference(tgw, cp, ps.r.Client.Scheme()); err != nil {
		return fmt.Errorf("owner of ConnectedPeer %s: %w", cp.Name, err)
	}
	if err := ps.r.Client.Create(ctx, cp); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// A ConnectedPeer of that name that is not this transit gateway's (an old one
			// still finishing its deletion): wait for it to go.
			return fmt.Errorf("ConnectedPeer %s/%s exists but does not belong to this TransitGateway yet: %w", cp.Namespace, cp.Name, err)
		}
		return fmt.Errorf("creating ConnectedPeer %s: %w", cp.Name, err)
	}
	ps.peers = append(ps.peers, *cp)
	ps.log.Info("created connected peer", "name", cp.Name, "insideCIDR", spec.InsideCIDR)
	return nil
}

func (ps *pass) dropPeer(ctx context.Context, cp *gsiv1.ConnectedPeer) error {
	if !cp.DeletionTimestamp.IsZero() {
		return nil
	}
	if err := ps.r.Client.Delete(ctx, cp, client.Preconditions{UID: &cp.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting ConnectedPeer %s (scale %d): %w", cp.Name, ps.p.scale, err)
	}
	ps.log.Info("scaling down: deleting connected peer", "name", cp.Name)
	return nil
}

func (ps *pass) hasPeerObject(idx int) bool {
	for _, cp := range ps.peers {
		if int(cp.Spec.Index) == idx {
			return true
		}
	}
	return false
}

// peerCounts: peers present for the wanted indices, those ready, and why the first
// one that is not ready is not.
func (ps *pass) peerCounts() (present, ready int, problem string) {
	for _, cp := range ps.peers {
		if int(cp.Spec.Index) >= ps.p.scale || !cp.DeletionTimestamp.IsZero() {
			continue
		}
		present++
		if peerReady(&cp) {
			ready++
			continue
		}
		if problem == "" {
			problem = cp.Name + ": waiting for the controller"
			if c := meta.FindStatusCondition(cp.Status.Conditions, gsiv1.ConditionReady); c != nil {
				problem = cp.Name + ": " + c.Message
			}
		}
	}
	return present, ready, problem
}
