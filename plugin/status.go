package plugin

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
)

type statusOptions struct {
	*Options
	output        string
	allNamespaces bool
}

func newStatusCommand(o *Options) *cobra.Command {
	so := &statusOptions{Options: o}
	cmd := &cobra.Command{
		Use:   "status [TRANSIT-GATEWAY]",
		Short: "Show transit gateways, connected peers with their BGP sessions, and exposed networks",
		Example: `  kubectl gsi status
  kubectl gsi status tgw1 -o wide
  kubectl gsi status -o json`,
		Args:              usageArgs(cobra.MaximumNArgs(1)),
		ValidArgsFunction: o.completeGateways,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(so.output, outputWide, outputJSON, outputYAML); err != nil {
				return err
			}
			return so.run(cmd.Context(), cmd.OutOrStdout(), firstArg(args))
		},
	}
	addOutputFlag(cmd, &so.output)
	cmd.Flags().BoolVarP(&so.allNamespaces, "all-namespaces", "A", false,
		"exposed networks of every namespace (the default unless -n is given)")
	return cmd
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

func (so *statusOptions) run(ctx context.Context, w io.Writer, gateway string) error {
	q := snapshotQuery{gateway: gateway, peers: true, routes: true, vns: true}
	if so.namespaceSet() && !so.allNamespaces {
		ns, err := so.Namespace()
		if err != nil {
			return err
		}
		q.vnNamespace = ns
	}
	s, err := so.loadSnapshot(ctx, q)
	if err != nil {
		return err
	}
	if gateway != "" && len(s.gateways) == 0 {
		return so.gatewayNotFound(ctx, gateway)
	}
	switch so.output {
	case outputJSON, outputYAML:
		return so.printList(w, so.output, s.objects())
	}
	tables, err := so.routeTableIDs(ctx)
	if err != nil {
		return err
	}
	p := painter{on: so.colorEnabled(w)}
	wide := so.output == outputWide
	now := time.Now()
	fmt.Fprintln(w, p.bold("TRANSIT GATEWAYS"))
	if err := gatewaysTable(w, p, s, now, wide); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, p.bold("CONNECTED PEERS"))
	if err := peersTable(w, p, s, now, wide); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, p.bold("EXPOSED NETWORKS"))
	return exposedTable(w, p, s, tables, wide)
}

// objects returns everything in the snapshot, for -o json|yaml.
func (s *snapshot) objects() []k8sruntime.Object {
	var objs []k8sruntime.Object
	for i := range s.gateways {
		objs = append(objs, &s.gateways[i])
	}
	for i := range s.peers {
		objs = append(objs, &s.peers[i])
	}
	for i := range s.routes {
		objs = append(objs, &s.routes[i])
	}
	for i := range s.vns {
		objs = append(objs, &s.vns[i])
	}
	return objs
}

// routeTableIDs are the VPC's route tables as the controller learned them (GSIPlugin
// status); empty when no GSIPlugin is installed yet.
func (o *Options) routeTableIDs(ctx context.Context) ([]string, error) {
	c, err := o.Client()
	if err != nil {
		return nil, err
	}
	var l pluginsv1alpha1.GSIPluginList
	if err := c.List(ctx, &l, client.InNamespace(o.GSINamespace)); err != nil {
		if apierrors.IsForbidden(err) {
			// Without the VPC's table list, routes show the tables they report.
			return nil, nil
		}
		return nil, fmt.Errorf("listing GSIPlugins in %s: %w", o.GSINamespace, err)
	}
	var ids []string
	for _, g := range l.Items {
		ids = append(ids, g.Status.RouteTableIDs...)
	}
	return ids, nil
}

// gatewayNotFound is the error for a TransitGateway that does not exist, naming the
// ones that do.
func (o *Options) gatewayNotFound(ctx context.Context, name string) error {
	names, err := o.gatewayNames(ctx)
	if err != nil {
		return err
	}
	have := "there are none: create one first (see manifests/examples)"
	if len(names) > 0 {
		have = "available: " + strings.Join(names, ", ")
	}
	return withCode(ExitNotFound, fmt.Errorf("TransitGateway %q not found in namespace %s; %s", name, o.GSINamespace, have))
}

func (o *Options) gatewayNames(ctx context.Context) ([]string, error) {
	c, err := o.Client()
	if err != nil {
		return nil, err
	}
	var l corev1.TransitGatewayList
	if err := c.List(ctx, &l, client.InNamespace(o.GSINamespace)); err != nil {
		return nil, fmt.Errorf("listing TransitGateways in %s: %w", o.GSINamespace, err)
	}
	names := make([]string, 0, len(l.Items))
	for _, t := range l.Items {
		names = append(names, t.Name)
	}
	return names, nil
}

func gatewaysTable(w io.Writer, p painter, s *snapshot, now time.Time, wide bool) error {
	if len(s.gateways) == 0 {
		_, err := fmt.Fprintln(w, "No TransitGateways.")
		return err
	}
	h := []string{"NAME", "STATE", "TGW-ID", "CONNECT-ATTACHMENT", "PEERS-READY", "EXPOSED", "AGE"}
	if wide {
		h = append(h, "VPC-ATTACHMENT", "SECURITY-GROUPS", "ASN", "TRANSIT-CIDR", "MESSAGE")
	}
	t := newTable(w, h...)
	for _, g := range s.gateways {
		row := []string{g.Name, p.state(orDash(string(g.Status.State))), orDash(g.Status.TransitGatewayID),
			orDash(g.Status.ConnectAttachmentID),
			fmt.Sprintf("%d/%d", g.Status.PeersReady, g.Spec.ConnectedPeerScale),
			strconv.Itoa(len(g.Status.ExposedNetworks)), age(now, g.CreationTimestamp.Time)}
		if wide {
			row = append(row, orDash(g.Status.VPCAttachmentID), orDash(strings.Join(g.Status.SecurityGroupIDs, ",")),
				strconv.FormatInt(g.Spec.TransitASN, 10), g.Spec.TransitCIDR,
				orDash(notReadyReason(g.Status.Conditions, corev1.ConditionReady, corev1.ConditionAWSReady,
					corev1.ConditionPeersReady, corev1.ConditionLicensed)))
		}
		t.add(row...)
	}
	return t.render()
}

func peersTable(w io.Writer, p painter, s *snapshot, now time.Time, wide bool) error {
	if len(s.peers) == 0 {
		_, err := fmt.Fprintln(w, "No ConnectedPeers.")
		return err
	}
	h := []string{"NAME", "TGW", "STATE", "NODE", "POD", "GRE (LOCAL>TGW)", "INSIDE", "BGP-TGW", "BGP-CONTROL"}
	if wide {
		h = append(h, "CONNECT-PEER", "TGW-INSIDE", "REPORTED")
	}
	t := newTable(w, h...)
	for i := range s.peers {
		cp := &s.peers[i]
		gre := "-"
		if cp.Status.PeerAddress != "" || cp.Status.TransitGatewayAddress != "" {
			gre = orDash(cp.Status.PeerAddress) + ">" + orDash(cp.Status.TransitGatewayAddress)
		}
		row := []string{cp.Name, cp.Spec.TransitGatewayName, p.state(orDash(string(cp.Status.State))),
			orDash(cp.Status.NodeName), orDash(cp.Status.PodName), gre, cp.Spec.InsideCIDR,
			colourSummary(p, cp, corev1.RoleTGW), colourSummary(p, cp, corev1.RoleControlNode)}
		if wide {
			reported := "-"
			if cp.Status.SessionsUpdated != nil {
				reported = age(now, cp.Status.SessionsUpdated.Time) + " ago"
			}
			row = append(row, orDash(cp.Status.ConnectPeerID),
				orDash(strings.Join(cp.Status.TransitGatewayInsideAddresses, ",")), reported)
		}
		t.add(row...)
	}
	return t.render()
}

func colourSummary(p painter, cp *corev1.ConnectedPeer, role corev1.BGPRole) string {
	up, total := sessionCount(cp, role)
	s := sessionSummary(cp, role)
	switch {
	case total > 0 && up == total:
		return p.paint(ansiGreen, s)
	case up == 0:
		return p.paint(ansiRed, s)
	}
	return p.paint(ansiYellow, s)
}

// exposedRow is one exposed VirtualNetwork joined with its Route.
type exposedRow struct {
	vn      string
	gateway string
	route   *corev1.Route
	tables  []corev1.RouteTableStatus
	state   string
}

// exposedRows joins exposed VNs and Routes: a VN may be labelled before the controller
// made its Route, and a Route may outlive its label while it is being deleted.
func exposedRows(s *snapshot, expectedTables []string) []exposedRow {
	byVN := s.routesByVN()
	var rows []exposedRow
	seen := map[string]bool{}
	for i := range s.vns {
		vn := &s.vns[i]
		key := vn.GetNamespace() + "/" + vn.GetName()
		seen[key] = true
		gw := vn.GetLabels()[corev1.ExposeLabel]
		rs := byVN[key]
		if len(rs) == 0 {
			state := "waiting for controller"
			if s.gateway(gw) == nil {
				state = "unknown TGW"
			}
			rows = append(rows, exposedRow{vn: key, gateway: gw, state: state})
			continue
		}
		for _, r := range rs {
			rows = append(rows, routeRow(key, r, expectedTables))
		}
	}
	for i := range s.routes {
		r := &s.routes[i]
		key := vnKey(r.Spec.VirtualNetwork)
		if !seen[key] {
			rows = append(rows, routeRow(key, r, expectedTables))
		}
	}
	return rows
}

func routeRow(key string, r *corev1.Route, expected []string) exposedRow {
	return exposedRow{vn: key, gateway: r.Spec.TransitGatewayName, route: r,
		tables: routeTables(r, expected), state: orDash(string(r.Status.State))}
}

func exposedTable(w io.Writer, p painter, s *snapshot, expected []string, wide bool) error {
	rows := exposedRows(s, expected)
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "No exposed VirtualNetworks: expose one with `kubectl gsi expose VN`.")
		return err
	}
	h := []string{"VIRTUAL-NETWORK", "CIDR", "TGW", "STATE", "ROUTE-TABLES", "ADVERTISED"}
	if wide {
		h = append(h, "TABLES", "SECURITY-GROUP", "ROUTE-TARGET")
	}
	t := newTable(w, h...)
	for _, r := range rows {
		cidr, adv, tables := "-", "-", "-"
		if r.route != nil {
			cidr, adv, tables = r.route.Spec.DestinationCIDR, p.state(yesNo(r.route.Status.Advertised)), tablesSummary(r.tables)
		}
		row := []string{r.vn, r.gateway, p.state(r.state), tables, adv}
		row = append(row[:1], append([]string{cidr}, row[1:]...)...)
		if wide {
			sg, rt := "-", "-"
			if r.route != nil {
				sg, rt = orDash(r.route.Status.SecurityGroupID), orDash(r.route.Spec.RouteTarget)
			}
			row = append(row, tablesDetail(r.tables), sg, rt)
		}
		t.add(row...)
	}
	return t.render()
}
