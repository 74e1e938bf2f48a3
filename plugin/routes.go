package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"

	corev1 "github.com/opengsi/gsi/api/core/v1"
)

type routesOptions struct {
	*Options
	output string
}

func newRoutesCommand(o *Options) *cobra.Command {
	ro := &routesOptions{Options: o}
	cmd := &cobra.Command{
		Use:   "routes [TRANSIT-GATEWAY]",
		Short: "Show the exposed prefixes and where they are programmed (VPC route tables, gsi-sg, BGP)",
		Example: `  kubectl gsi routes
  kubectl gsi routes tgw1 -o wide`,
		Args:              usageArgs(cobra.MaximumNArgs(1)),
		ValidArgsFunction: o.completeGateways,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(ro.output, outputWide, outputJSON, outputYAML); err != nil {
				return err
			}
			return ro.run(cmd.Context(), cmd.OutOrStdout(), firstArg(args))
		},
	}
	addOutputFlag(cmd, &ro.output)
	return cmd
}

func (ro *routesOptions) run(ctx context.Context, w io.Writer, gateway string) error {
	s, err := ro.loadSnapshot(ctx, snapshotQuery{gateway: gateway, routes: true})
	if err != nil {
		return err
	}
	if gateway != "" && len(s.gateways) == 0 {
		return ro.gatewayNotFound(ctx, gateway)
	}
	if ro.output == outputJSON || ro.output == outputYAML {
		objs := make([]k8sruntime.Object, 0, len(s.routes))
		for i := range s.routes {
			objs = append(objs, &s.routes[i])
		}
		return ro.printList(w, ro.output, objs)
	}
	if len(s.routes) == 0 {
		_, err := fmt.Fprintf(w, "No Routes in namespace %s: expose a VirtualNetwork with `kubectl gsi expose VN`.\n", ro.GSINamespace)
		return err
	}
	expected, err := ro.routeTableIDs(ctx)
	if err != nil {
		return err
	}
	return routesTable(w, painter{on: ro.colorEnabled(w)}, s.routes, expected, time.Now(), ro.output == outputWide)
}

func routesTable(w io.Writer, p painter, routes []corev1.Route, expected []string, now time.Time, wide bool) error {
	h := []string{"DESTINATION", "VIRTUAL-NETWORK", "TGW", "STATE", "ROUTE-TABLES", "ADVERTISED", "SECURITY-GROUP"}
	if wide {
		h = append(h, "RULE", "ROUTE-TARGET", "AGE", "MESSAGE")
	}
	t := newTable(w, h...)
	for i := range routes {
		r := &routes[i]
		ts := routeTables(r, expected)
		row := []string{r.Spec.DestinationCIDR, vnKey(r.Spec.VirtualNetwork), r.Spec.TransitGatewayName,
			p.state(orDash(string(r.Status.State))), paintTables(p, ts), p.state(yesNo(r.Status.Advertised)),
			orDash(r.Status.SecurityGroupID)}
		if wide {
			row = append(row, orDash(r.Status.SecurityGroupRuleID), orDash(r.Spec.RouteTarget),
				age(now, r.CreationTimestamp.Time), orDash(routeMessage(r)))
		}
		t.add(row...)
	}
	return t.render()
}

// paintTables renders each table's state, coloured.
func paintTables(p painter, ts []corev1.RouteTableStatus) string {
	if len(ts) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		parts = append(parts, t.RouteTableID+":"+p.state(string(t.State)))
	}
	return strings.Join(parts, ",")
}

// routeMessage says why a route is not active: AWS's message for a failed table, else
// the first condition that is not true.
func routeMessage(r *corev1.Route) string {
	for _, t := range r.Status.RouteTables {
		if t.Message != "" && t.State != corev1.RouteTableActive {
			return t.RouteTableID + ": " + t.Message
		}
	}
	return notReadyReason(r.Status.Conditions, corev1.ConditionProgrammed, corev1.ConditionReady)
}
