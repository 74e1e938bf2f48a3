package plugin

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1 "github.com/opengsi/gsi/api/core/v1"
)

// Derived facts shared by status, bgp, routes, expose --wait and doctor.

// sessionCount counts a peer's sessions of role, and how many are established.
func sessionCount(p *corev1.ConnectedPeer, role corev1.BGPRole) (up, total int) {
	for _, s := range p.Status.Sessions {
		if s.Role != role {
			continue
		}
		total++
		if isEstablished(s.State) {
			up++
		}
	}
	return up, total
}

func isEstablished(state string) bool { return strings.EqualFold(state, "established") }

// sessionSummary renders "2/2 up" for a peer's sessions of role.
func sessionSummary(p *corev1.ConnectedPeer, role corev1.BGPRole) string {
	up, total := sessionCount(p, role)
	if total == 0 {
		return "none"
	}
	return fmt.Sprintf("%d/%d up", up, total)
}

// routeTables returns the route's state per table, including the tables the route is
// expected in (the VPC's, from GSIPlugin status) but not yet reported, as pending.
func routeTables(r *corev1.Route, expected []string) []corev1.RouteTableStatus {
	out := append([]corev1.RouteTableStatus(nil), r.Status.RouteTables...)
	seen := map[string]bool{}
	for _, t := range out {
		seen[t.RouteTableID] = true
	}
	for _, id := range expected {
		if !seen[id] {
			out = append(out, corev1.RouteTableStatus{RouteTableID: id, State: corev1.RouteTablePending})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RouteTableID < out[j].RouteTableID })
	return out
}

// tablesActive counts the active tables among ts.
func tablesActive(ts []corev1.RouteTableStatus) int {
	n := 0
	for _, t := range ts {
		if t.State == corev1.RouteTableActive {
			n++
		}
	}
	return n
}

// tablesSummary renders "2/2 active".
func tablesSummary(ts []corev1.RouteTableStatus) string {
	if len(ts) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d/%d active", tablesActive(ts), len(ts))
}

// tablesDetail renders "rtb-1:active,rtb-2:pending".
func tablesDetail(ts []corev1.RouteTableStatus) string {
	if len(ts) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		parts = append(parts, t.RouteTableID+":"+string(t.State))
	}
	return strings.Join(parts, ",")
}

// routeDone says whether the route is in every table and advertised to the TGW: what
// `expose --wait` waits for.
func routeDone(r *corev1.Route, expected []string) bool {
	ts := routeTables(r, expected)
	return len(ts) > 0 && tablesActive(ts) == len(ts) && r.Status.Advertised
}

// notReadyReason is the message of the first condition that is not True, or "".
func notReadyReason(conds []metav1.Condition, order ...string) string {
	for _, t := range order {
		c := meta.FindStatusCondition(conds, t)
		if c != nil && c.Status != metav1.ConditionTrue {
			if c.Message != "" {
				return fmt.Sprintf("%s: %s", c.Type, c.Message)
			}
			return fmt.Sprintf("%s: %s", c.Type, c.Reason)
		}
	}
	return ""
}

// uptime is how long an established session has been up, "-" otherwise.
func uptime(now time.Time, s corev1.BGPSession) string {
	if !isEstablished(s.State) || s.Since == nil {
		return "-"
	}
	return age(now, s.Since.Time)
}

// localASN is the router's AS on a session: reported, else what the spec says.
func localASN(p *corev1.ConnectedPeer, s corev1.BGPSession) int64 {
	if s.LocalASN != 0 {
		return s.LocalASN
	}
	if s.Role == corev1.RoleTGW {
		return p.Spec.PeerASN
	}
	return p.Spec.ControlNodeASN
}
