package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	coordinationv1 "k8s.io/api/coordination/v1"
	k8scorev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
)

// Check results.
const (
	checkPass = "pass"
	checkWarn = "warn"
	checkFail = "fail"
	checkSkip = "skip"
)

// pendingGrace is how long a TransitGateway may stay pending (AWS takes minutes to make
// a transit gateway and its attachments) before doctor calls it a failure.
const pendingGrace = 15 * time.Minute

// check is one line of the doctor's report.
type check struct {
	Name   string   `json:"name"`
	Result string   `json:"result"`
	Detail []string `json:"detail,omitempty"`
	Next   []string `json:"next,omitempty"`
}

// doctorReport is what `doctor -o json|yaml` prints.
type doctorReport struct {
	Namespace string  `json:"namespace"`
	Checks    []check `json:"checks"`
	Passed    int     `json:"passed"`
	Warnings  int     `json:"warnings"`
	Failed    int     `json:"failed"`
}

type doctorOptions struct {
	*Options
	output string
}

func newDoctorCommand(o *Options) *cobra.Command {
	do := &doctorOptions{Options: o}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Run the CN2 GSI troubleshooting checks and say what to do next",
		Long: `Run the checks of the CN2 GSI troubleshooting guide from the cluster's objects and their
status: controller pods active, GSIPlugin installed, TransitGateways available, router
(ConnectedPeer) pods on crpd nodes, license present, BGP established to the transit
gateway and to the CN2 control nodes, exposed networks in every VPC route table and
advertised, gsi-sg rules. Each check passes, warns or fails with what to do next; the
command exits 6 when one fails. Exposed networks of every namespace are checked, or of
the -n namespace only when it is given.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(do.output, outputJSON, outputYAML); err != nil {
				return err
			}
			return do.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&do.output, "output", "o", "", "output format: json or yaml")
	return cmd
}

func (do *doctorOptions) run(ctx context.Context, w io.Writer) error {
	f, err := do.gatherFacts(ctx)
	if err != nil {
		return err
	}
	rep := doctorReport{Namespace: do.GSINamespace, Checks: f.checks(time.Now())}
	for _, c := range rep.Checks {
		switch c.Result {
		case checkPass:
			rep.Passed++
		case checkWarn:
			rep.Warnings++
		case checkFail:
			rep.Failed++
		}
	}
	if do.output != "" {
		err = printData(w, do.output, rep)
	} else {
		err = printReport(w, painter{on: do.colorEnabled(w)}, rep)
	}
	if err != nil {
		return err
	}
	if rep.Failed > 0 {
		return withCode(ExitUnhealthy, fmt.Errorf("%d of %d checks failed", rep.Failed, len(rep.Checks)))
	}
	return nil
}

func printReport(w io.Writer, p painter, rep doctorReport) error {
	fmt.Fprintf(w, "Checking the Gateway Service Instance in namespace %s\n\n", rep.Namespace)
	for _, c := range rep.Checks {
		tag := map[string]string{checkPass: "PASS", checkWarn: "WARN", checkFail: "FAIL", checkSkip: "SKIP"}[c.Result]
		fmt.Fprintf(w, "[%s] %s\n", p.state(tag), p.bold(c.Name))
		for _, d := range c.Detail {
			fmt.Fprintf(w, "       %s\n", d)
		}
		for _, n := range c.Next {
			fmt.Fprintf(w, "       -> %s\n", n)
		}
	}
	_, err := fmt.Fprintf(w, "\n%d checks: %d passed, %d warnings, %d failed\n",
		len(rep.Checks), rep.Passed, rep.Warnings, rep.Failed)
	return err
}

// facts is everything the checks look at, read once. An error reading one kind is kept
// with it so that only the checks needing it fail.
type facts struct {
	ns          string
	pods        []k8scorev1.Pod
	podsErr     error
	nodes       map[string]*k8scorev1.Node
	nodesErr    error
	leases      []coordinationv1.Lease
	plugins     []pluginsv1alpha1.GSIPlugin
	pluginsErr  error
	snap        *snapshot
	secrets     map[string]*k8scorev1.Secret
	secretErrs  map[string]error
	controlN    int
	controlErr  error
	routeTables []string
}

func (do *doctorOptions) gatherFacts(ctx context.Context) (*facts, error) {
	c, err := do.Client()
	if err != nil {
		return nil, err
	}
	f := &facts{ns: do.GSINamespace, secrets: map[string]*k8scorev1.Secret{}, secretErrs: map[string]error{}}
	// The custom resources are the heart of every check: without them there is no report.
	q := snapshotQuery{peers: true, routes: true, vns: true}
	if do.namespaceSet() {
		if q.vnNamespace, err = do.Namespace(); err != nil {
			return nil, err
		}
	}
	f.snap, err = do.loadSnapshot(ctx, q)
	if err != nil {
		return nil, err
	}
	var pods k8scorev1.PodList
	f.podsErr = c.List(ctx, &pods, client.InNamespace(f.ns))
	f.pods = pods.Items
	var nodes k8scorev1.NodeList
	f.nodesErr = c.List(ctx, &nodes)
	f.nodes = map[string]*k8scorev1.Node{}
	for i := range nodes.Items {
		f.nodes[nodes.Items[i].Name] = &nodes.Items[i]
	}
	var leases coordinationv1.LeaseList
	if err := c.List(ctx, &leases, client.InNamespace(f.ns)); err == nil {
		f.leases = leases.Items
	}
	var plugins pluginsv1alpha1.GSIPluginList
	f.pluginsErr = c.List(ctx, &plugins, client.InNamespace(f.ns))
	f.plugins = plugins.Items
	for _, p := range f.plugins {
		f.routeTables = append(f.routeTables, p.Status.RouteTableIDs...)
	}
	for _, g := range f.snap.gateways {
		name := licenseSecretName(&g)
		if _, done := f.secrets[name]; done {
			continue
		}
		var s k8scorev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: name}, &s); err != nil {
			f.secretErrs[name] = err
			f.secrets[name] = nil
		} else {
			f.secrets[name] = &s
		}
	}
	r, err := do.CN2()
	if err != nil {
		return nil, err
	}
	cns, err := r.ControlNodes(ctx)
	f.controlN, f.controlErr = len(cns), err
	return f, nil
}

func licenseSecretName(g *corev1.TransitGateway) string {
	if g.Spec.LicenseSecretName != "" {
		return g.Spec.LicenseSecretName
	}
	return corev1.DefaultLicenseSecretName
}

func (f *facts) checks(now time.Time) []check {
	return []check{
		f.checkControllerPods(),
		f.checkGSIPlugin(),
		f.checkGateways(now),
		f.checkRouterPods(),
		f.checkLicense(),
		f.checkBGP(now, corev1.RoleTGW),
		f.checkBGP(now, corev1.RoleControlNode),
		f.checkRoutes(),
		f.checkSecurityGroup(),
	}
}

func podReady(p *k8scorev1.Pod) bool {
	if p.Status.Phase != k8scorev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == k8scorev1.PodReady {
			return c.Status == k8scorev1.ConditionTrue
		}
	}
	return false
}

// podState is a short reason a pod is not ready.
func podState(p *k8scorev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "terminating"
	}
	for _, c := range p.Status.Conditions {
		if c.Type == k8scorev1.PodScheduled && c.Status != k8scorev1.ConditionTrue {
			return fmt.Sprintf("not scheduled: %s", orDash(c.Message))
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Waiting != nil {
			return fmt.Sprintf("%s %s", cs.Name, cs.State.Waiting.Reason)
		}
	}
	return strings.ToLower(string(p.Status.Phase))
}

func (f *facts) checkControllerPods() check {
	c := check{Name: "controller pods active"}
	if f.podsErr != nil {
		return failed(c, fmt.Sprintf("cannot list pods in %s: %v", f.ns, f.podsErr),
			"you need permission to list pods in "+f.ns)
	}
	var ready, total int
	var names []string
	for i := range f.pods {
		p := &f.pods[i]
		l := p.Labels
		if l["app"] != controllerAppLabel && l["app.kubernetes.io/name"] != "gsi-controller" {
			continue
		}
		total++
		if podReady(p) {
			ready++
			names = append(names, p.Name)
		} else {
			c.Detail = append(c.Detail, fmt.Sprintf("%s: %s", p.Name, podState(p)))
		}
	}
	if total == 0 {
		return failed(c, fmt.Sprintf("no pod labelled app=%s in %s", controllerAppLabel, f.ns),
			"check that the GSI is installed: kubectl get gsiplugins -n "+f.ns,
			"install the controller: kubectl apply -k manifests (Deployment gsi-controller)")
	}
	summary := fmt.Sprintf("%d/%d ready (app=%s)", ready, total, controllerAppLabel)
	if leader := f.leader(names); leader != "" {
		summary += "; active (leader): " + leader
	}
	c.Detail = append([]string{summary}, c.Detail...)
	switch {
	case ready == 0:
		c.Result = checkFail
		c.Next = []string{"kubectl describe pods -n " + f.ns + " -l app=" + controllerAppLabel,
			"kubectl logs -n " + f.ns + " -l app=" + controllerAppLabel + " (look for AWS API errors: IAM role, IRSA)"}
	case ready < total:
		c.Result = checkWarn
		c.Next = []string{"kubectl describe pods -n " + f.ns + " -l app=" + controllerAppLabel}
	default:
		c.Result = checkPass
	}
	return c
}

// leader is the ready controller pod holding a leader-election Lease, if any.
func (f *facts) leader(ready []string) string {
	for _, l := range f.leases {
		if l.Spec.HolderIdentity == nil {
			continue
		}
		for _, p := range ready {
			if strings.HasPrefix(*l.Spec.HolderIdentity, p) {
				return p
			}
		}
	}
	return ""
}

func failed(c check, detail string, next ...string) check {
	c.Result, c.Detail, c.Next = checkFail, append(c.Detail, detail), next
	return c
}

func (f *facts) checkGSIPlugin() check {
	c := check{Name: "GSIPlugin installed"}
	if f.pluginsErr != nil {
		return failed(c, fmt.Sprintf("cannot list GSIPlugins: %v", f.pluginsErr),
			"install the CRDs: kubectl apply -k manifests")
	}
	if len(f.plugins) == 0 {
		return failed(c, "no GSIPlugin in "+f.ns,
			"apply the GSI manifest (GSIPlugin with awsRegion, iamRoleARN, vpcID): see manifests/examples")
	}
	c.Result = checkPass
	for _, p := range f.plugins {
		cond := meta.FindStatusCondition(p.Status.Conditions, corev1.ConditionReady)
		line := fmt.Sprintf("%s: region %s, %s, VPC CIDRs %s, %d route tables", p.Name, p.Spec.AWSRegion,
			p.Spec.VPCID, orDash(strings.Join(p.Status.VPCCIDRs, ",")), len(p.Status.RouteTableIDs))
		switch {
		case cond == nil || cond.Status == metav1.ConditionUnknown:
			c.Result = worse(c.Result, checkWarn)
			line += "; the controller has not described the VPC yet"
			c.Next = append(c.Next, "kubectl logs -n "+f.ns+" -l app="+controllerAppLabel)
		case cond.Status == metav1.ConditionFalse:
			c.Result = checkFail
			line += fmt.Sprintf("; not ready: %s: %s", cond.Reason, cond.Message)
			c.Next = append(c.Next, "check iamRoleARN and the IAM role's trust (IRSA) for the controller's service account",
				"kubectl logs -n "+f.ns+" -l app="+controllerAppLabel)
		}
		c.Detail = append(c.Detail, line)
	}
	return c
}

// worse returns the more serious of two results.
func worse(a, b string) string {
	rank := map[string]int{checkSkip: 0, checkPass: 1, checkWarn: 2, checkFail: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func (f *facts) checkGateways(now time.Time) check {
	c := check{Name: "TransitGateway available"}
	if len(f.snap.gateways) == 0 {
		return failed(c, "no TransitGateway in "+f.ns,
			"create one: kubectl apply -f manifests/examples (kubectl explain transitgateway.spec)")
	}
	c.Result = checkPass
	for _, g := range f.snap.gateways {
		line := fmt.Sprintf("%s: %s %s, %d/%d peers ready", g.Name, orDash(string(g.Status.State)),
			orDash(g.Status.TransitGatewayID), g.Status.PeersReady, g.Spec.ConnectedPeerScale)
		why := notReadyReason(g.Status.Conditions, corev1.ConditionAWSReady, corev1.ConditionPeersReady,
			corev1.ConditionLicensed, corev1.ConditionReady)
		if why != "" {
			line += "; " + why
		}
		switch g.Status.State {
		case corev1.StateAvailable:
		case corev1.StateFailed:
			c.Result = checkFail
			c.Next = append(c.Next, fmt.Sprintf("kubectl describe transitgateway -n %s %s; kubectl logs -n %s -l app=%s",
				f.ns, g.Name, f.ns, controllerAppLabel))
		default:
			pending := now.Sub(g.CreationTimestamp.Time)
			if pending > pendingGrace {
				c.Result = checkFail
				c.Next = append(c.Next, fmt.Sprintf("%s has not become available in %s: check the controller logs for AWS errors",
					g.Name, age(now, g.CreationTimestamp.Time)))
			} else {
				c.Result = worse(c.Result, checkWarn)
				c.Next = append(c.Next, fmt.Sprintf("%s is still being created; AWS takes a few minutes", g.Name))
			}
		}
		c.Detail = append(c.Detail, line)
	}
	return c
}

func (f *facts) checkRouterPods() check {
	c := check{Name: "ConnectedPeer pods scheduled on crpd nodes"}
	if f.podsErr != nil {
		return failed(c, fmt.Sprintf("cannot list pods in %s: %v", f.ns, f.podsErr))
	}
	if len(f.snap.gateways) == 0 {
		c.Result, c.Detail = checkSkip, []string{"no TransitGateway"}
		return c
	}
	crpdNodes := 0
	for _, n := range f.nodes {
		if _, ok := n.Labels[corev1.CRPDNodeLabel]; ok {
			crpdNodes++
		}
	}
	c.Result = checkPass
	for _, g := range f.snap.gateways {
		var running int
		for i := range f.pods {
			p := &f.pods[i]
			if p.Labels["app"] != corev1.RouterPodAppLabel || p.Labels[corev1.TransitGatewayLabel] != g.Name {
				continue
			}
			line, ok := f.routerPodLine(p)
			c.Detail = append(c.Detail, line)
			if ok {
				running++
			}
		}
		if running < int(g.Spec.ConnectedPeerScale) {
			c.Result = checkFail
			c.Detail = append(c.Detail, fmt.Sprintf("%s: %d/%d router pods running on crpd nodes", g.Name, running, g.Spec.ConnectedPeerScale))
			c.Next = append(c.Next, "kubectl get pods -n "+f.ns+" -l app="+corev1.RouterPodAppLabel+" -o wide")
			if f.nodesErr == nil && crpdNodes < int(g.Spec.ConnectedPeerScale) {
				c.Next = append(c.Next, fmt.Sprintf("%d node(s) labelled %s, %d needed (one router per node): kubectl label node NODE %s=\"\"",
					crpdNodes, corev1.CRPDNodeLabel, g.Spec.ConnectedPeerScale, corev1.CRPDNodeLabel))
			}
		}
	}
	return c
}

// routerPodLine describes a router pod and says whether it runs, ready, on a crpd node.
func (f *facts) routerPodLine(p *k8scorev1.Pod) (string, bool) {
	if p.Spec.NodeName == "" {
		return fmt.Sprintf("%s: %s", p.Name, podState(p)), false
	}
	node, known := f.nodes[p.Spec.NodeName]
	if f.nodesErr == nil {
		if !known {
			return fmt.Sprintf("%s: on node %s, which does not exist", p.Name, p.Spec.NodeName), false
		}
		if _, crpd := node.Labels[corev1.CRPDNodeLabel]; !crpd {
			return fmt.Sprintf("%s: on node %s, which lacks the %s label", p.Name, p.Spec.NodeName, corev1.CRPDNodeLabel), false
		}
	}
	if !podReady(p) {
		return fmt.Sprintf("%s: on %s, %s", p.Name, p.Spec.NodeName, podState(p)), false
	}
	return fmt.Sprintf("%s: running on crpd node %s", p.Name, p.Spec.NodeName), true
}

func (f *facts) checkLicense() check {
	c := check{Name: "license present"}
	if len(f.snap.gateways) == 0 {
		c.Result, c.Detail = checkSkip, []string{"no TransitGateway"}
		return c
	}
	c.Result = checkPass
	for name, s := range f.secrets {
		err := f.secretErrs[name]
		switch {
		case apierrors.IsNotFound(err):
			c.Result = checkFail
			c.Detail = append(c.Detail, fmt.Sprintf("Secret %s/%s does not exist", f.ns, name))
			c.Next = append(c.Next, fmt.Sprintf("kubectl create secret generic %s -n %s --from-file=%s=LICENSE-FILE",
				name, f.ns, corev1.LicenseSecretKey))
		case apierrors.IsForbidden(err):
			c.Result = worse(c.Result, f.licensedByCondition(&c, name))
		case err != nil:
			c.Result = checkFail
			c.Detail = append(c.Detail, fmt.Sprintf("reading Secret %s/%s: %v", f.ns, name, err))
		case len(s.Data[corev1.LicenseSecretKey]) == 0:
			c.Result = checkFail
			c.Detail = append(c.Detail, fmt.Sprintf("Secret %s/%s has no %q key (or it is empty)", f.ns, name, corev1.LicenseSecretKey))
			c.Next = append(c.Next, fmt.Sprintf("put the base64 cRPD license under data.%s", corev1.LicenseSecretKey))
		default:
			c.Detail = append(c.Detail, fmt.Sprintf("Secret %s/%s has a %d-byte %s", f.ns, name,
				len(s.Data[corev1.LicenseSecretKey]), corev1.LicenseSecretKey))
		}
	}
	return c
}

// licensedByCondition falls back on the TransitGateways' Licensed condition when the user
// may not read Secrets.
func (f *facts) licensedByCondition(c *check, secret string) string {
	result := checkWarn
	c.Detail = append(c.Detail, fmt.Sprintf("cannot read Secret %s/%s (forbidden)", f.ns, secret))
	for _, g := range f.snap.gateways {
		if licenseSecretName(&g) != secret {
			continue
		}
		if cond := meta.FindStatusCondition(g.Status.Conditions, corev1.ConditionLicensed); cond != nil {
			c.Detail = append(c.Detail, fmt.Sprintf("%s reports Licensed=%s %s", g.Name, cond.Status, cond.Message))
			if cond.Status == metav1.ConditionFalse {
				result = checkFail
			}
		}
	}
	return result
}

func (f *facts) checkBGP(now time.Time, role corev1.BGPRole) check {
	c := check{Name: "BGP established to the transit gateway"}
	want := 2 // a Connect peer has two BGP sessions, to the TGW's two inside addresses
	if role == corev1.RoleControlNode {
		c.Name = "BGP established to the CN2 control nodes"
		want = f.controlN
	}
	if len(f.snap.peers) == 0 {
		c.Result, c.Detail = checkSkip, []string{"no ConnectedPeer yet"}
		return c
	}
	c.Result = checkPass
	for i := range f.snap.peers {
		p := &f.snap.peers[i]
		up, total := sessionCount(p, role)
		expect := want
		if expect == 0 {
			expect = max(total, 1) // control nodes unknown: every reported session must be up
		}
		line := fmt.Sprintf("%s: %d/%d established%s", p.Name, up, expect, sessionStates(p, role))
		// The router reports only when a session changes, so an old report is normal;
		// it is stale only when the router that made it no longer runs.
		if stale := f.routerDown(p); stale != "" && up > 0 {
			line += fmt.Sprintf(" (reported %s ago, but %s)", age(now, reportTime(p)), stale)
			c.Result = worse(c.Result, checkWarn)
			c.Next = appendOnce(c.Next, fmt.Sprintf("kubectl get pods -n %s -l app=%s -o wide", f.ns, corev1.RouterPodAppLabel))
		}
		c.Detail = append(c.Detail, line)
		if up < expect {
			c.Result = checkFail
			c.Next = appendOnce(c.Next, f.bgpAdvice(role, p)...)
		}
	}
	if role == corev1.RoleControlNode && f.controlErr != nil {
		c.Detail = append(c.Detail, fmt.Sprintf("cannot list CN2 control nodes: %v", f.controlErr))
	}
	return c
}

// routerDown says why the router pod of p is not running, or "" when it runs (or pods
// cannot be read).
func (f *facts) routerDown(p *corev1.ConnectedPeer) string {
	if f.podsErr != nil || p.Status.PodName == "" {
		return ""
	}
	for i := range f.pods {
		if f.pods[i].Name == p.Status.PodName {
			if podReady(&f.pods[i]) {
				return ""
			}
			return "router pod " + p.Status.PodName + " is " + podState(&f.pods[i])
		}
	}
	return "router pod " + p.Status.PodName + " does not exist"
}

func reportTime(p *corev1.ConnectedPeer) time.Time {
	if p.Status.SessionsUpdated == nil {
		return time.Time{}
	}
	return p.Status.SessionsUpdated.Time
}

// licenseOK says whether every license Secret is readable and holds a license.
func (f *facts) licenseOK() bool {
	for name, s := range f.secrets {
		if f.secretErrs[name] != nil || len(s.Data[corev1.LicenseSecretKey]) == 0 {
			return false
		}
	}
	return true
}

func sessionStates(p *corev1.ConnectedPeer, role corev1.BGPRole) string {
	var parts []string
	for _, s := range p.Status.Sessions {
		if s.Role == role && !isEstablished(s.State) {
			parts = append(parts, s.PeerAddress+" "+strings.ToLower(s.State))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func (f *facts) bgpAdvice(role corev1.BGPRole, p *corev1.ConnectedPeer) []string {
	if role == corev1.RoleTGW {
		var advice []string
		if !f.licenseOK() {
			advice = append(advice, "a valid, active cRPD license must be installed (see \"license present\")")
		}
		return append(advice,
			fmt.Sprintf("GRE between node %s (%s) and the TGW (%s) must pass: gsi-sg allows GRE from the transit CIDR; the Connect peer %s must be available",
				orDash(p.Status.NodeName), orDash(p.Status.PeerAddress), orDash(p.Status.TransitGatewayAddress), orDash(p.Status.ConnectPeerID)),
			"kubectl gsi bgp --peer "+p.Name+" -o wide",
		)
	}
	return []string{
		fmt.Sprintf("the control nodes must peer with the router: BGPRouter %s (router type router, address %s) must exist in CN2",
			orDash(p.Status.BGPRouterName), orDash(p.Status.PeerAddress)),
		fmt.Sprintf("controlNodeASN (%d) must match the control nodes' AS, and TCP 179 from the control nodes to %s must pass",
			p.Spec.ControlNodeASN, orDash(p.Status.PeerAddress)),
	}
}

func appendOnce(list []string, items ...string) []string {
	for _, it := range items {
		dup := false
		for _, l := range list {
			dup = dup || l == it
		}
		if !dup {
			list = append(list, it)
		}
	}
	return list
}

func (f *facts) checkRoutes() check {
	c := check{Name: "exposed networks in every VPC route table and advertised"}
	rows := exposedRows(f.snap, f.routeTables)
	if len(rows) == 0 {
		c.Result, c.Detail = checkSkip, []string{"no VirtualNetwork is exposed"}
		return c
	}
	c.Result = checkPass
	ok := 0
	for _, r := range rows {
		switch {
		case r.route == nil:
			c.Result = checkFail
			c.Detail = append(c.Detail, fmt.Sprintf("%s: exposed through %s but has no Route (%s)", r.vn, r.gateway, r.state))
			if r.state == "unknown TGW" {
				c.Next = append(c.Next, fmt.Sprintf("%s names TransitGateway %q, which does not exist: kubectl gsi expose %s --overwrite -t TGW",
					r.vn, r.gateway, r.vn[strings.Index(r.vn, "/")+1:]))
			} else {
				c.Next = appendOnce(c.Next, "the controller makes a Route per exposed VN: kubectl logs -n "+f.ns+" -l app="+controllerAppLabel)
			}
		case routeDone(r.route, f.routeTables):
			ok++
		default:
			c.Result = checkFail
			c.Detail = append(c.Detail, fmt.Sprintf("%s %s: %s, route tables %s, advertised %s%s", r.vn, r.route.Spec.DestinationCIDR,
				r.state, tablesDetail(r.tables), yesNo(r.route.Status.Advertised), suffix(routeMessage(r.route))))
			if !r.route.Status.Advertised {
				c.Next = appendOnce(c.Next, "a route is advertised once a router has BGP up to the TGW and the VN's routes from the control nodes: kubectl gsi bgp")
			}
			if tablesActive(r.tables) < len(r.tables) {
				c.Next = appendOnce(c.Next, "a route missing from a VPC route table: see the MESSAGE column of kubectl gsi routes -o wide (AWS's reason)")
			}
		}
	}
	c.Detail = append([]string{fmt.Sprintf("%d/%d exposed networks routed and advertised", ok, len(rows))}, c.Detail...)
	return c
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return "; " + msg
}

func (f *facts) checkSecurityGroup() check {
	c := check{Name: "gsi-sg rules for the exposed networks"}
	if len(f.snap.gateways) == 0 {
		c.Result, c.Detail = checkSkip, []string{"no TransitGateway"}
		return c
	}
	c.Result = checkPass
	for _, g := range f.snap.gateways {
		groups := map[string]bool{}
		for _, id := range g.Status.SecurityGroupIDs {
			groups[id] = true
		}
		var rules, missing int
		for i := range f.snap.routes {
			r := &f.snap.routes[i]
			if r.Spec.TransitGatewayName != g.Name {
				continue
			}
			if r.Status.SecurityGroupRuleID == "" || !groups[r.Status.SecurityGroupID] {
				missing++
				c.Detail = append(c.Detail, fmt.Sprintf("%s: no gsi-sg rule for %s", g.Name, r.Spec.DestinationCIDR))
				continue
			}
			rules++
		}
		switch {
		case len(groups) == 0 && g.Status.State == corev1.StateAvailable:
			c.Result = checkFail
			c.Detail = append(c.Detail, g.Name+": no gsi-sg security group recorded")
		case len(groups) == 0:
			c.Result = worse(c.Result, checkWarn)
			c.Detail = append(c.Detail, g.Name+": gsi-sg not created yet")
		default:
			c.Detail = append(c.Detail, fmt.Sprintf("%s: %s holds %d rules for %d exposed prefixes", g.Name,
				strings.Join(g.Status.SecurityGroupIDs, ","), rules, rules+missing))
			c.Next = appendOnce(c.Next, fmt.Sprintf("EC2 instances reach the exposed networks when they carry %s (or their own groups allow the VN CIDRs)",
				strings.Join(g.Status.SecurityGroupIDs, ",")))
		}
		if missing > 0 {
			c.Result = checkFail
		}
	}
	if c.Result == checkPass {
		c.Next = nil
		c.Detail = append(c.Detail, "attach the group to the EC2 instances that must reach the VNs")
	}
	return c
}
