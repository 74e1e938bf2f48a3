package transitgateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/controller/aws"
	"github.com/opengsi/gsi/controller/exposure"
)

// routes returns the transit gateway's Routes and every Route (for overlaps).
func (r *Reconciler) routes(ctx context.Context, tgw *gsiv1.TransitGateway) (mine, all []gsiv1.Route, err error) {
	var list gsiv1.RouteList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil, nil, fmt.Errorf("listing Routes: %w", err)
	}
	for _, route := range list.Items {
		if route.Namespace == tgw.Namespace && route.Spec.TransitGatewayName == tgw.Name {
			mine = append(mine, route)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].Name < mine[j].Name })
	return mine, list.Items, nil
}

// conflictContext is what this transit gateway's prefixes must not overlap.
func (ps *pass) conflictContext() exposure.Context {
	c := exposure.Context{TransitCIDR: ps.p.transitCIDR}
	if ps.env != nil {
		c.VPCCIDRs = ps.env.VPCCIDRs
	}
	return c
}

// expose programs the Routes into the VPC route tables and the security groups, unless
// nothing changed since the last successful sync (and it is not time to resync).
func (ps *pass) expose(ctx context.Context, inf *infra) (ctrl.Result, error) {
	tgw := ps.tgw
	mine, all, err := ps.r.routes(ctx, tgw)
	if err != nil {
		return ctrl.Result{}, err
	}
	ps.exposed(mine)
	conflicts := exposure.Conflicts(mine, all, ps.conflictContext())
	m := ps.r.memoFor(tgw.UID)
	hash := exposureHash(mine, conflicts, inf, ps.env.RouteTableIDs, ps.peers)
	plan := exposure.Plan{AWS: ps.env.AWS, Owner: owner(ps.env, tgw), VPCID: ps.env.VPCID, TransitGatewayID: inf.tgw.ID,
		TGWRouteTableID: inf.tgw.AssociationDefaultRouteTableID, ConnectAttachmentID: inf.connect.ID,
		GroupName: SecurityGroupName(tgw), Groups: inf.groups, Base: ps.baseRules(), Routes: mine, Conflicts: conflicts,
		RuleLimit: ps.r.RuleLimit, Log: ps.log}
	if m.exposureHash == hash && since(m.exposureAt) < ps.r.Resync {
		if !exposure.AwaitingAdvertisement(mine) {
			return ctrl.Result{RequeueAfter: ps.r.Resync - since(m.exposureAt)}, nil
		}
		// Nothing to program; only the TGW's learned routes can have changed.
		if err := exposure.RefreshAdvertised(ctx, ps.r.Client, plan, mine); err != nil {
			return ctrl.Result{}, fmt.Errorf("refreshing advertisement: %w", err)
		}
		return ctrl.Result{RequeueAfter: min(ps.r.PollInterval, ps.r.Resync-since(m.exposureAt))}, nil
	}
	out, serr := exposure.Sync(ctx, plan)
	if out.Groups != nil {
		inf.groups = out.Groups
		tgw.Status.SecurityGroupIDs = groupIDs(out.Groups)
	}
	werr := exposure.WriteStatuses(ctx, ps.r.Client, mine, out.Statuses)
	if out.Mutations > 0 {
		ps.log.Info("synced exposures", "routes", len(mine), "mutations", out.Mutations)
	}
	if serr != nil || werr != nil {
		return ctrl.Result{}, fmt.Errorf("syncing exposures: %w", joinErr(serr, werr))
	}
	if foreign(out.Statuses) {
		// A route the user owns blocks a prefix: look again later, they may remove it.
		return ctrl.Result{RequeueAfter: ps.r.RetryAfter}, nil
	}
	// Remember the state after the sync (the groups' rules changed with it).
	m.exposureHash, m.exposureAt = exposureHash(mine, conflicts, inf, ps.env.RouteTableIDs, ps.peers), time.Now()
	if awaitingAdvertisement(mine, out.Statuses) {
		// follow the routers' BGP announcements reaching the TGW (kubectl gsi expose --wait)
		return ctrl.Result{RequeueAfter: ps.r.PollInterval}, nil
	}
	return ctrl.Result{RequeueAfter: ps.r.Resync}, nil
}

func joinErr(a, b error) error {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return fmt.Errorf("%w; %w", a, b)
}

// baseRules are the rules of the first group besides the exposures: GRE from the
// transit gateway's CIDR block, so nodes carrying gsi-sg accept the Connect tunnels.
func (ps *pass) baseRules() []aws.IngressRule {
	return []aws.IngressRule{{Protocol: exposure.GREProtocol, FromPort: -1, ToPort: -1, CIDR: ps.p.transitCIDR.String(),
		Description: exposure.RuleDescriptionPrefix + " GRE from the transit gateway (Connect peers)"}}
}

func groupIDs(groups []aws.SecurityGroup) []string {
	ids := make([]string, 0, len(groups))
	for _, g := range groups {
		ids = append(ids, g.ID)
	}
	return ids
}

func foreign(statuses map[string]gsiv1.RouteStatus) bool {
	for _, st := range statuses {
		for _, c := range st.Conditions {
			if c.Type == gsiv1.ConditionProgrammed && c.Reason == exposure.ReasonForeignRoute {
				return true
			}
		}
	}
	return false
}

// exposed fills status.exposedNetworks from the Routes.
func (ps *pass) exposed(routes []gsiv1.Route) {
	out := make([]gsiv1.ExposedNetwork, 0, len(routes))
	for _, r := range routes {
		if r.DeletionTimestamp.IsZero() {
			out = append(out, gsiv1.ExposedNetwork{Namespace: r.Spec.VirtualNetwork.Namespace, Name: r.Spec.VirtualNetwork.Name, CIDR: r.Spec.DestinationCIDR})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	if len(out) == 0 {
		out = nil
	}
	ps.tgw.Status.ExposedNetworks = out
}

// pendingRoutes reports the Routes as waiting while the transit gateway is not ready
// (conflicts are reported already: they do not depend on AWS).
func (ps *pass) pendingRoutes(ctx context.Context, reason, msg string) {
	mine, all, err := ps.r.routes(ctx, ps.tgw)
	if err != nil {
		ps.log.Error(err, "listing routes")
		return
	}
	ps.exposed(mine)
	conflicts := exposure.Conflicts(mine, all, ps.conflictContext())
	statuses := map[string]gsiv1.RouteStatus{}
	for i := range mine {
		var c *exposure.Conflict
		if cf, ok := conflicts[mine[i].Name]; ok {
			c = &cf
		}
		statuses[mine[i].Name] = exposure.PendingStatus(&mine[i], c, reason, msg)
	}
	if err := exposure.WriteStatuses(ctx, ps.r.Client, mine, statuses); err != nil {
		ps.log.Error(err, "writing route statuses")
	}
}

// exposureHash summarizes everything a sync depends on besides AWS itself.
func exposureHash(routes []gsiv1.Route, conflicts map[string]exposure.Conflict, inf *infra, tables []string, peers []gsiv1.ConnectedPeer) string {
	h := sha256.New()
	for _, r := range routes {
		fmt.Fprintf(h, "r %s %d %s %s %v|", r.Name, r.Generation, r.Spec.DestinationCIDR, conflicts[r.Name].Reason, r.DeletionTimestamp.IsZero())
	}
	fmt.Fprintf(h, "t %s %s %v|", inf.tgw.ID, inf.connect.ID, tables)
	for _, g := range inf.groups {
		fmt.Fprintf(h, "g %s %d|", g.ID, len(g.Ingress))
	}
	for _, cp := range peers {
		fmt.Fprintf(h, "p %s %d|", cp.Name, establishedTGW(&cp))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// awaitingAdvertisement is exposure.AwaitingAdvertisement on the statuses just written.
func awaitingAdvertisement(routes []gsiv1.Route, statuses map[string]gsiv1.RouteStatus) bool {
	updated := make([]gsiv1.Route, 0, len(routes))
	for _, r := range routes {
		if st, ok := statuses[r.Name]; ok {
			r.Status = st
		}
		updated = append(updated, r)
	}
	return exposure.AwaitingAdvertisement(updated)
}
