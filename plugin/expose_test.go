package plugin

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "github.com/opengsi/gsi/api/core/v1"
)

func (f *fixture) vnLabel(name string) (string, bool) {
	f.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("core.contrail.juniper.net/v1alpha1")
	u.SetKind("VirtualNetwork")
	if err := env.Client.Get(f.ctx, client.ObjectKey{Namespace: f.vnNS, Name: name}, u); err != nil {
		f.t.Fatalf("getting VN %s: %v", name, err)
	}
	v, ok := u.GetLabels()[corev1.ExposeLabel]
	return v, ok
}

func TestExpose(t *testing.T) {
	f := newFixture(t)
	f.plugin()
	f.gateway(f.tgw, 1, corev1.StateAvailable)
	f.vn("red", "10.40.0.0/16", "")
	f.vn("overlap", "10.0.128.0/20", "")
	overlap := &unstructured.Unstructured{}
	overlap.SetAPIVersion("core.contrail.juniper.net/v1alpha1")
	overlap.SetKind("VirtualNetwork")
	overlap.SetNamespace(f.vnNS)
	overlap.SetName("overlap")
	patch := []byte(`{"metadata":{"annotations":{"` + denyAnnotation + `":"10.0.0.0/16"}}}`)
	if err := env.Client.Patch(t.Context(), overlap, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		t.Fatal(err)
	}

	// the only TransitGateway is the default
	r := f.mustRun(ExitOK, "expose", "red")
	contains(t, "expose", r.stdout, "virtualnetwork "+f.vnNS+"/red exposed through transitgateway tgw1")
	if v, _ := f.vnLabel("red"); v != "tgw1" {
		t.Errorf("label = %q, want tgw1", v)
	}
	again := f.mustRun(ExitOK, "expose", "red", "--transit-gateway", "tgw1")
	contains(t, "expose again", again.stdout, "already exposed through transitgateway tgw1")

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown TGW", []string{"expose", "red", "-t", "tgw9"}, ExitNotFound,
			`TransitGateway "tgw9" not found in namespace ` + f.gsiNS + "; available: tgw1"},
		{"unknown VN", []string{"expose", "nope"}, ExitNotFound, `virtualnetwork "nope" not found in namespace ` + f.vnNS},
		{"webhook refuses", []string{"expose", "overlap"}, ExitRefused,
			`exposing virtualnetwork ` + f.vnNS + `/overlap: refused by the API server: ` +
				`admission webhook "vvirtualnetwork.gsi.juniper.net" denied the request: VirtualNetwork.core.contrail.juniper.net "overlap" is invalid: ` +
				`spec.v4SubnetReference: Invalid value: "` + f.vnNS + `/overlap": cannot be exposed through TransitGateway tgw1: overlaps the VPC's CIDR 10.0.0.0/16: ` +
				`the VPC would keep its local route and never send this traffic to the transit gateway`},
		{"unexpose unknown VN", []string{"unexpose", "nope"}, ExitNotFound, `virtualnetwork "nope" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.run(tc.args...)
			if r.code != tc.code {
				t.Fatalf("want exit %d, got %s", tc.code, r)
			}
			contains(t, tc.name, r.stderr, tc.want)
		})
	}
	if _, labelled := f.vnLabel("overlap"); labelled {
		t.Error("refused VN got labelled")
	}

	// a second TransitGateway: the choice must be explicit, and moving needs --overwrite
	f.gateway("tgw2", 1, corev1.StateAvailable)
	amb := f.mustRun(ExitUsage, "expose", "overlap")
	contains(t, "ambiguous", amb.stderr, "there are 2 TransitGateways", "choose one with --transit-gateway")
	move := f.mustRun(ExitUsage, "expose", "red", "-t", "tgw2")
	contains(t, "move", move.stderr, "exposed through transitgateway tgw1; use --overwrite")
	f.mustRun(ExitOK, "expose", "red", "-t", "tgw2", "--overwrite")
	if v, _ := f.vnLabel("red"); v != "tgw2" {
		t.Errorf("label after --overwrite = %q, want tgw2", v)
	}

	un := f.mustRun(ExitOK, "unexpose", "red")
	contains(t, "unexpose", un.stdout, "unexposed from transitgateway tgw2")
	if _, labelled := f.vnLabel("red"); labelled {
		t.Error("label still there after unexpose")
	}
	f.mustRun(ExitOK, "unexpose", "red")
}

func TestExposePendingGatewayWarns(t *testing.T) {
	f := newFixture(t)
	f.gateway(f.tgw, 1, corev1.StatePending)
	f.vn("red", "10.40.0.0/16", "")
	r := f.mustRun(ExitOK, "expose", "red")
	contains(t, "pending TGW", r.stderr, "warning: transitgateway tgw1 is pending; AWSReady: transit gateway tgw-0f1e2d3c4b5a69788 is pending")
}

func TestExposeNoGateway(t *testing.T) {
	f := newFixture(t)
	f.vn("red", "10.40.0.0/16", "")
	r := f.mustRun(ExitNotFound, "expose", "red")
	contains(t, "no TGW", r.stderr, "no TransitGateway in namespace "+f.gsiNS)
}

// stepper plays the controller in a --wait test: it reads kubectl gsi's progress lines
// and, on a line containing a step's trigger, makes that step's change. Steps follow the
// plugin's output rather than the clock, so the test needs no sleeps and sees every state.
type step struct {
	trigger string
	do      func()
}

func (f *fixture) runStepped(steps []step, args ...string) (result, []string) {
	f.t.Helper()
	pr, pw := io.Pipe()
	var errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := Run(f.withFlags(args), genericiooptions.IOStreams{In: strings.NewReader(""), Out: pw, ErrOut: &errOut}, testBuild)
		pw.Close()
		done <- code
	}()
	var lines []string
	sc := bufio.NewScanner(pr)
	next := 0
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if next < len(steps) && strings.Contains(line, steps[next].trigger) {
			steps[next].do()
			next++
		}
	}
	code := <-done
	if next != len(steps) {
		f.t.Errorf("only %d of %d steps were triggered", next, len(steps))
	}
	return result{stdout: strings.Join(lines, "\n") + "\n", stderr: errOut.String(), code: code}, lines
}

func (f *fixture) updateRouteStatus(r *corev1.Route, change func(*corev1.RouteStatus)) {
	f.t.Helper()
	if err := env.Client.Get(f.ctx, client.ObjectKeyFromObject(r), r); err != nil {
		f.t.Fatal(err)
	}
	change(&r.Status)
	if err := env.Client.Status().Update(f.ctx, r); err != nil {
		f.t.Fatalf("updating Route status: %v", err)
	}
}

func TestExposeWait(t *testing.T) {
	f := newFixture(t)
	f.plugin()
	f.gateway(f.tgw, 1, corev1.StateAvailable)
	f.vn("blue", "10.20.0.0/16", "")
	var route *corev1.Route
	steps := []step{
		{"waiting for the controller to create the Route", func() {
			route = f.route("blue", "10.20.0.0/16", corev1.RoutePending, false, corev1.RouteTablePending, corev1.RouteTablePending)
		}},
		{"pending, route tables 0/2 active", func() {
			f.updateRouteStatus(route, func(s *corev1.RouteStatus) { s.RouteTables[0].State = corev1.RouteTableActive })
		}},
		{"1/2 active", func() {
			f.updateRouteStatus(route, func(s *corev1.RouteStatus) {
				s.RouteTables[1].State = corev1.RouteTableActive
				s.State = corev1.RouteActive
			})
		}},
		{"2/2 active", func() {
			f.updateRouteStatus(route, func(s *corev1.RouteStatus) { s.Advertised = true })
		}},
	}
	r, lines := f.runStepped(steps, "expose", "blue", "--wait", "--timeout", "1m")
	if r.code != ExitOK {
		t.Fatalf("expose --wait: %s", r)
	}
	t.Logf("$ kubectl gsi expose blue --wait\n%s", r.stdout)
	want := []string{
		"virtualnetwork " + f.vnNS + "/blue exposed through transitgateway tgw1",
		"waiting for the controller to create the Route for " + f.vnNS + "/blue",
		"route 10.20.0.0/16: created, route tables 0/2 active (" + rtbA + ":pending," + rtbB + ":pending), advertised no",
		"route 10.20.0.0/16: pending, route tables 0/2 active (" + rtbA + ":pending," + rtbB + ":pending), advertised no",
		"route 10.20.0.0/16: pending, route tables 1/2 active (" + rtbA + ":active," + rtbB + ":pending), advertised no",
		"route 10.20.0.0/16: active, route tables 2/2 active (" + rtbA + ":active," + rtbB + ":active), advertised no",
		"route 10.20.0.0/16 is active in 2/2 VPC route tables and advertised to transitgateway tgw1",
	}
	if len(lines) != len(want) {
		t.Fatalf("want %d lines, got:\n%s", len(want), r.stdout)
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("line %d = %q, want it to end with %q", i, lines[i], w)
		}
	}

	// and back: unexpose --wait follows the withdrawal
	steps = []step{
		{"to be withdrawn (active)", func() {
			f.updateRouteStatus(route, func(s *corev1.RouteStatus) { s.State = corev1.RouteDeleting })
		}},
		{"to be withdrawn (deleting)", func() {
			if err := env.Client.Delete(f.ctx, route); err != nil {
				t.Fatal(err)
			}
		}},
	}
	r, _ = f.runStepped(steps, "unexpose", "blue", "--wait", "--timeout", "1m")
	if r.code != ExitOK {
		t.Fatalf("unexpose --wait: %s", r)
	}
	contains(t, "unexpose --wait", r.stdout, "routes of "+f.vnNS+"/blue withdrawn")
}

func TestExposeWaitConflict(t *testing.T) {
	f := newFixture(t)
	f.plugin()
	f.gateway(f.tgw, 1, corev1.StateAvailable)
	f.vn("clash", "10.0.64.0/18", "")
	steps := []step{{"waiting for the controller", func() {
		r := f.route("clash", "10.0.64.0/18", corev1.RoutePending, false)
		f.updateRouteStatus(r, func(s *corev1.RouteStatus) {
			s.State = corev1.RouteConflict
			s.Conditions = []metav1.Condition{{Type: corev1.ConditionProgrammed, Status: metav1.ConditionFalse,
				Reason: "Overlap", Message: "10.0.64.0/18 overlaps the VPC CIDR 10.0.0.0/16", LastTransitionTime: metav1.Now()}}
		})
	}}}
	r, _ := f.runStepped(steps, "expose", "clash", "--wait")
	if r.code != ExitUnhealthy {
		t.Fatalf("want exit %d, got %s", ExitUnhealthy, r)
	}
	contains(t, "conflict", r.stderr, "route 10.0.64.0/18 for "+f.vnNS+"/clash is conflict: Programmed: 10.0.64.0/18 overlaps the VPC CIDR 10.0.0.0/16")
}

func TestExposeWaitTimeout(t *testing.T) {
	f := newFixture(t)
	f.plugin()
	f.gateway(f.tgw, 1, corev1.StateAvailable)
	f.vn("slow", "10.70.0.0/16", "")
	r := f.mustRun(ExitTimeout, "expose", "slow", "--wait", "--timeout", "1s")
	contains(t, "timeout", r.stderr, "timed out after 1s waiting for virtualnetwork "+f.vnNS+"/slow",
		"last: waiting for the controller to create the Route")
}
