package exposure

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/controller/aws"
	"github.com/opengsi/gsi/controller/cloud"
	"github.com/opengsi/gsi/controller/failure"
)

// RuleDescriptionPrefix marks the ingress rules gsi manages in its security groups;
// rules without it (added by hand) are left alone.
const RuleDescriptionPrefix = "gsi:"

// DefaultRuleLimit is AWS's default quota of inbound rules per security group.
const DefaultRuleLimit = 60

// GREProtocol is IP protocol 47: the Connect peers' tunnels.
const GREProtocol = "47"

// Plan is everything one sync of a transit gateway's exposures needs.
type Plan struct {
	AWS                 cloud.Client
	Owner               aws.Owner
	VPCID               string
	TransitGatewayID    string
	TGWRouteTableID     string
	ConnectAttachmentID string
	// GroupName is the first security group's name; spill groups add "-<index+1>".
	GroupName string
	// Groups are the owner's security groups as just described (index order).
	Groups []aws.SecurityGroup
	// Base are the rules always in the first group (GRE from the transit CIDR).
	Base []aws.IngressRule
	// Routes are the transit gateway's Routes; Conflicts those that must not be programmed.
	Routes    []gsiv1.Route
	Conflicts map[string]Conflict
	RuleLimit int
	Log       logr.Logger
}

// Outcome is what a sync did and found.
type Outcome struct {
	// Statuses are the new statuses of the Routes, by name.
	Statuses map[string]gsiv1.RouteStatus
	// Groups are the owner's security groups after the sync.
	Groups []aws.SecurityGroup
	// Mutations counts the mutating calls made (zero when nothing changed).
	Mutations int
}

// tableState is one route table as described, reduced to what gsi cares about.
type tableState struct {
	id      string
	ours    map[string]string // destination → state, routes to our TGW
	foreign map[string]string // destination → target, routes elsewhere
}

// Sync makes the VPC route tables and the security groups match the Routes: one
// describe of the route tables, the groups given, one TGW route search, then only the
// mutating calls needed. Errors of single routes end up in their statuses; the error
// returned is the first one that should make the caller retry.
func Sync(ctx context.Context, p Plan) (Outcome, error) {
	tables, err := p.describeTables(ctx)
	if err != nil {
		return Outcome{}, err
	}
	conflicts := p.withForeign(tables)
	want := p.wanted(conflicts)
	out := Outcome{Statuses: map[string]gsiv1.RouteStatus{}}
	routeErrs, rerr := p.syncRoutes(ctx, tables, want, &out)
	groupOf, gerr := p.syncRules(ctx, want, &out)
	advertised := p.Advertised(ctx)
	for i := range p.Routes {
		r := &p.Routes[i]
		out.Statuses[r.Name] = p.status(r, conflicts, tables, routeErrs, groupOf, advertised, gerr)
	}
	return out, errors.Join(rerr, gerr)
}

func (p *Plan) describeTables(ctx context.Context) ([]tableState, error) {
	rts, err := p.AWS.DescribeRouteTables(ctx, p.VPCID)
	if err != nil {
		return nil, fmt.Errorf("describing route tables of %s: %w", p.VPCID, err)
	}
	out := make([]tableState, 0, len(rts))
	for _, rt := range rts {
		t := tableState{id: rt.ID, ours: map[string]string{}, foreign: map[string]string{}}
		for _, r := range rt.Routes {
			switch {
			case r.TransitGatewayID == p.TransitGatewayID:
				t.ours[r.DestinationCIDR] = r.State
			case r.TransitGatewayID != "":
				t.foreign[r.DestinationCIDR] = r.TransitGatewayID
			case r.GatewayID != "":
				t.foreign[r.DestinationCIDR] = r.GatewayID
			default:
				t.foreign[r.DestinationCIDR] = "another target"
			}
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// withForeign adds to the conflicts the Routes whose destination some route table
// already sends elsewhere: nothing of such a Route is programmed in any table.
func (p *Plan) withForeign(tables []tableState) map[string]Conflict {
	out := make(map[string]Conflict, len(p.Conflicts))
	for k, v := range p.Conflicts {
		out[k] = v
	}
	for _, r := range p.Routes {
		if _, bad := out[r.Name]; bad {
			continue
		}
		for _, t := range tables {
			if target, ok := t.foreign[r.Spec.DestinationCIDR]; ok {
				out[r.Name] = Conflict{ReasonForeignRoute, fmt.Sprintf("route table %s already sends %s to %s; gsi does not replace routes it did not create",
					t.id, r.Spec.DestinationCIDR, target)}
				break
			}
		}
	}
	return out
}

// wanted maps each programmable destination to its Route.
func (p *Plan) wanted(conflicts map[string]Conflict) map[string]*gsiv1.Route {
	want := map[string]*gsiv1.Route{}
	for i := range p.Routes {
		r := &p.Routes[i]
		if _, bad := conflicts[r.Name]; bad || !r.DeletionTimestamp.IsZero() {
			continue
		}
		want[r.Spec.DestinationCIDR] = r
	}
	return want
}

// syncRoutes removes our routes nobody wants, then adds the missing ones. It returns the
// per table and destination errors, and an error when the caller should retry.
func (p *Plan) syncRoutes(ctx context.Context, tables []tableState, want map[string]*gsiv1.Route, out *Outcome) (map[string]error, error) {
	errs := map[string]error{}
	var retry error
	for ti := range tables {
		t := &tables[ti]
		for _, dest := range sortedKeys(t.ours) {
			if _, ok := want[dest]; ok {
				continue
			}
			out.Mutations++
			if err := p.AWS.DeleteVPCRoute(ctx, aws.RouteSpec{RouteTableID: t.id, DestinationCIDR: dest, TransitGatewayID: p.TransitGatewayID}); err != nil {
				retry = errors.Join(retry, fmt.Errorf("removing route %s from %s: %w", dest, t.id, err))
				continue
			}
			delete(t.ours, dest)
		}
		for _, dest := range sortedKeys(want) {
			if _, ok := t.ours[dest]; ok {
				continue
			}
			out.Mutations++
			err := p.AWS.CreateVPCRoute(ctx, aws.RouteSpec{RouteTableID: t.id, DestinationCIDR: dest, TransitGatewayID: p.TransitGatewayID})
			if err != nil && !errors.Is(err, aws.ErrAlreadyExists) {
				errs[t.id+" "+dest] = err
				if !failure.Permanent(err) {
					retry = errors.Join(retry, fmt.Errorf("adding route %s to %s: %w", dest, t.id, err))
				}
				continue
			}
			// RouteAlreadyExists: our own earlier create whose reply was lost, or a
			// foreign one that appeared since the describe; the next sync tells which.
			t.ours[dest] = aws.StateAvailable
		}
	}
	return errs, retry
}

// managed reports a rule gsi put in one of its groups.
func managed(r aws.IngressRule) bool { return strings.HasPrefix(r.Description, RuleDescriptionPrefix) }

// desiredRules are the base rules plus one all-traffic rule per exposed prefix.
func (p *Plan) desiredRules(want map[string]*gsiv1.Route) []aws.IngressRule {
	rules := append([]aws.IngressRule(nil), p.Base...)
	for _, dest := range sortedKeys(want) {
		r := want[dest]
		rules = append(rules, aws.IngressRule{Protocol: "-1", FromPort: -1, ToPort: -1, CIDR: dest,
			Description: fmt.Sprintf("%s %s/%s", RuleDescriptionPrefix, r.Spec.VirtualNetwork.Namespace, r.Spec.VirtualNetwork.Name)})
	}
	return rules
}

// syncRules revokes the managed rules nobody wants and authorizes the missing ones,
// filling groups in index order and creating a spill group when all are full. It returns
// the group holding each destination's rule.
func (p *Plan) syncRules(ctx context.Context, want map[string]*gsiv1.Route, out *Outcome) (map[string]string, error) {
	limit := p.RuleLimit
	if limit <= 0 {
		limit = DefaultRuleLimit
	}
	desired := p.desiredRules(want)
	groups := slices.Clone(p.Groups)
	var retry error
	for gi := range groups {
		g := &groups[gi]
		var stale []aws.IngressRule
		for _, r := range g.Ingress {
			if managed(r) && !slices.ContainsFunc(desired, func(d aws.IngressRule) bool { return aws.SameRule(d, r) }) {
				stale = append(stale, r)
			}
		}
		if len(stale) == 0 {
			continue
		}
		out.Mutations++
		if err := p.AWS.RevokeIngress(ctx, g.ID, stale); err != nil {
			retry = errors.Join(retry, fmt.Errorf("revoking %d rules of %s: %w", len(stale), g.ID, err))
			continue
		}
		g.Ingress = slices.DeleteFunc(g.Ingress, func(r aws.IngressRule) bool {
			return slices.ContainsFunc(stale, func(s aws.IngressRule) bool { return aws.SameRule(s, r) })
		})
	}
	missing := missingRules(groups, desired)
	groups, err := p.place(ctx, groups, missing, limit, out)
	retry = errors.Join(retry, err)
	groups, err = p.dropEmptySpill(ctx, groups, out)
	retry = errors.Join(retry, err)
	out.Groups = groups
	groupOf := map[string]string{}
	for _, g := range groups {
		for _, r := range g.Ingress {
			if managed(r) {
				groupOf[r.CIDR+"/"+r.Protocol] = g.ID
			}
		}
	}
	return groupOf, retry
}

func missingRules(groups []aws.SecurityGroup, desired []aws.IngressRule) []aws.IngressRule {
	var out []aws.IngressRule
	for _, d := range desired {
		present := false
		for _, g := range groups {
			if slices.ContainsFunc(g.Ingress, func(r aws.IngressRule) bool { return aws.SameRule(r, d) }) {
				present = true
				break
			}
		}
		if !present {
			out = append(out, d)
		}
	}
	return out
}

// place authorizes the missing rules: base rules go to the first group, the others to
// the first groups with room, one call per group; new spill groups are created on demand.
func (p *Plan) place(ctx context.Context, groups []aws.SecurityGroup, missing []aws.IngressRule, limit int, out *Outcome) ([]aws.SecurityGroup, error) {
	for len(missing) > 0 {
		gi := slices.IndexFunc(groups, func(g aws.SecurityGroup) bool { return len(g.Ingress) < limit })
		if gi < 0 {
			g, err := p.createSpill(ctx, groups, out)
			if err != nil {
				return groups, err
			}
			groups = append(groups, *g)
			gi = len(groups) - 1
		}
		g := &groups[gi]
		n := min(limit-len(g.Ingress), len(missing))
		batch := missing[:n]
		out.Mutations++
		if err := p.AWS.AuthorizeIngress(ctx, g.ID, batch); err != nil {
			return groups, fmt.Errorf("authorizing %d rules in %s: %w", len(batch), g.ID, err)
		}
		g.Ingress = append(g.Ingress, batch...)
		missing = missing[n:]
	}
	return groups, nil
}

func (p *Plan) createSpill(ctx context.Context, groups []aws.SecurityGroup, out *Outcome) (*aws.SecurityGroup, error) {
	index := 0
	for _, g := range groups {
		index = max(index, aws.GroupIndex(g)+1)
	}
	name := p.GroupName
	if index > 0 {
		name += "-" + strconv.Itoa(index+1)
	}
	out.Mutations++
	g, err := p.AWS.CreateSecurityGroupIndex(ctx, aws.SecurityGroupSpec{Owner: p.Owner, VPCID: p.VPCID, Name: name,
		Description: fmt.Sprintf("gsi: networks exposed through %s (%d)", p.Owner.Key(), index+1)}, index)
	if err != nil {
		return nil, fmt.Errorf("creating spill security group %s: %w", name, err)
	}
	p.Log.Info("security group full, spilling into a new group", "group", g.ID, "name", name, "index", index)
	return g, nil
}

// dropEmptySpill deletes spill groups left without any rule.
func (p *Plan) dropEmptySpill(ctx context.Context, groups []aws.SecurityGroup, out *Outcome) ([]aws.SecurityGroup, error) {
	kept := groups[:0]
	var retry error
	for _, g := range groups {
		if aws.GroupIndex(g) == 0 || len(g.Ingress) > 0 {
			kept = append(kept, g)
			continue
		}
		out.Mutations++
		if _, err := p.AWS.DeleteSecurityGroupID(ctx, g.ID); err != nil {
			// In use by an instance (DependencyViolation): keep it, empty, and retry later.
			retry = errors.Join(retry, fmt.Errorf("deleting empty spill group %s: %w", g.ID, err))
			kept = append(kept, g)
		}
	}
	return kept, retry
}

// Advertised returns the prefixes the TGW learned from the Connect attachment over BGP;
// nil when unknown (the search failed: the statuses keep what they had).
func (p *Plan) Advertised(ctx context.Context) map[string]bool {
	if p.TGWRouteTableID == "" || p.ConnectAttachmentID == "" || len(p.Routes) == 0 {
		return nil
	}
	routes, err := p.AWS.SearchTransitGatewayRoutes(ctx, aws.TGWRouteQuery{RouteTableID: p.TGWRouteTableID, AttachmentID: p.ConnectAttachmentID})
	if err != nil {
		p.Log.Error(err, "searching the transit gateway's learned routes")
		return nil
	}
	out := map[string]bool{}
	for _, r := range routes {
		if r.State == "active" {
			out[r.DestinationCIDR] = true
		}
	}
	return out
}

// status builds a Route's status from the sync's result.
func (p *Plan) status(r *gsiv1.Route, conflicts map[string]Conflict, tables []tableState, errs map[string]error,
	groupOf map[string]string, advertised map[string]bool, gerr error) gsiv1.RouteStatus {
	st := gsiv1.RouteStatus{ObservedGeneration: r.Generation, Conditions: slices.Clone(r.Status.Conditions), Advertised: r.Status.Advertised}
	if advertised != nil {
		st.Advertised = advertised[r.Spec.DestinationCIDR]
	}
	if c, bad := conflicts[r.Name]; bad {
		st.State = gsiv1.RouteConflict
		setProgrammed(&st, r.Generation, metav1.ConditionFalse, c.Reason, c.Message)
		return st
	}
	dest := r.Spec.DestinationCIDR
	allActive, failed := true, ""
	for _, t := range tables {
		ts := gsiv1.RouteTableStatus{RouteTableID: t.id, State: gsiv1.RouteTablePending}
		if state, ok := t.ours[dest]; ok {
			ts.State = gsiv1.RouteTableActive
			if state == "blackhole" {
				ts.State = gsiv1.RouteTableBlackhole
			}
		}
		if err := errs[t.id+" "+dest]; err != nil {
			ts.State, ts.Message = gsiv1.RouteTableFailed, failure.Message(err)
			failed = ts.Message
		}
		allActive = allActive && ts.State == gsiv1.RouteTableActive
		st.RouteTables = append(st.RouteTables, ts)
	}
	st.SecurityGroupID = groupOf[dest+"/-1"]
	switch {
	case failed != "":
		st.State = gsiv1.RouteFailed
		setProgrammed(&st, r.Generation, metav1.ConditionFalse, "RouteRefused", failed)
	case st.SecurityGroupID == "" && gerr != nil:
		st.State = gsiv1.RoutePending
		setProgrammed(&st, r.Generation, metav1.ConditionFalse, failure.Reason(gerr), failure.Message(gerr))
	case allActive && st.SecurityGroupID != "":
		st.State = gsiv1.RouteActive
		setProgrammed(&st, r.Generation, metav1.ConditionTrue, "Programmed",
			fmt.Sprintf("%s → %s in %d route tables, ingress allowed by %s", dest, p.TransitGatewayID, len(tables), st.SecurityGroupID))
	default:
		st.State = gsiv1.RoutePending
		setProgrammed(&st, r.Generation, metav1.ConditionFalse, "Programming", "waiting for the VPC routes and the security group rule")
	}
	return st
}

// setProgrammed sets Programmed and mirrors it in Ready.
func setProgrammed(st *gsiv1.RouteStatus, gen int64, status metav1.ConditionStatus, reason, msg string) {
	for _, t := range []string{gsiv1.ConditionProgrammed, gsiv1.ConditionReady} {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
	}
}

// PendingStatus is the status of a Route whose transit gateway is not ready yet.
func PendingStatus(r *gsiv1.Route, conflict *Conflict, reason, msg string) gsiv1.RouteStatus {
	st := gsiv1.RouteStatus{ObservedGeneration: r.Generation, Conditions: slices.Clone(r.Status.Conditions), State: gsiv1.RoutePending,
		RouteTables: r.Status.RouteTables, SecurityGroupID: r.Status.SecurityGroupID, Advertised: r.Status.Advertised}
	if conflict != nil {
		st.State = gsiv1.RouteConflict
		reason, msg = conflict.Reason, conflict.Message
	}
	setProgrammed(&st, r.Generation, metav1.ConditionFalse, reason, msg)
	return st
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Prefix parses a Route's destination (callers have checked it with Conflicts).
func Prefix(r *gsiv1.Route) netip.Prefix {
	p, _ := netip.ParsePrefix(r.Spec.DestinationCIDR)
	return p
}
