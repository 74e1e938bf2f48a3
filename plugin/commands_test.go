package plugin

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	corev1 "github.com/opengsi/gsi/api/core/v1"
)

// decodeList decodes -o json|yaml output into its items.
func decodeList(t *testing.T, out string) []unstructured.Unstructured {
	t.Helper()
	var l unstructured.UnstructuredList
	b, err := yaml.YAMLToJSON([]byte(out))
	if err != nil {
		t.Fatalf("output is not YAML/JSON: %v\n%s", err, out)
	}
	if err := l.UnmarshalJSON(b); err != nil {
		t.Fatalf("output is not a List: %v\n%s", err, out)
	}
	if l.GetKind() != "List" {
		t.Errorf("kind %q, want List", l.GetKind())
	}
	return l.Items
}

// roundTrip checks that every typed item of the output equals the object in the API server.
func roundTrip(t *testing.T, items []unstructured.Unstructured) map[string]int {
	t.Helper()
	kinds := map[string]int{}
	for _, it := range items {
		kinds[it.GetKind()]++
		var typed, live client.Object
		switch it.GetKind() {
		case "TransitGateway":
			typed, live = &corev1.TransitGateway{}, &corev1.TransitGateway{}
		case "ConnectedPeer":
			typed, live = &corev1.ConnectedPeer{}, &corev1.ConnectedPeer{}
		case "Route":
			typed, live = &corev1.Route{}, &corev1.Route{}
		default:
			continue
		}
		if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(it.Object, typed); err != nil {
			t.Fatalf("decoding %s %s: %v", it.GetKind(), it.GetName(), err)
		}
		if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(typed), live); err != nil {
			t.Fatalf("getting %s: %v", it.GetName(), err)
		}
		typed.GetObjectKind().SetGroupVersionKind(live.GetObjectKind().GroupVersionKind())
		if !equality.Semantic.DeepEqual(typed, live) {
			t.Errorf("%s %s from -o differs from the API server's:\n%+v\n%+v", it.GetKind(), it.GetName(), typed, live)
		}
	}
	return kinds
}

func TestStatus(t *testing.T) {
	f := newFixture(t).healthy()
	r := f.mustRun(ExitOK, "status")
	contains(t, "status", r.stdout,
		"TRANSIT GATEWAYS", "CONNECTED PEERS", "EXPOSED NETWORKS",
		"tgw-0f1e2d3c4b5a69788", "tgw-attach-0c0d0e0f1011121314",
		"tgw1-0", crpdNode0, "tgw1-peer-1", "10.0.1.10>192.0.2.1", "169.254.10.8/29",
		f.vnNS+"/blue", "10.20.0.0/16", f.vnNS+"/green", "2/2 active")
	if strings.Contains(r.stdout, f.vnNS+"/red") {
		t.Errorf("unexposed VN red listed:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("colour on a non-terminal:\n%q", r.stdout)
	}
	// one table row per peer: name, TGW, state, both session summaries up
	row := regexp.MustCompile(`(?m)^tgw1-1\s+tgw1\s+available\s+` + regexp.QuoteMeta(crpdNode1) + `\s+tgw1-peer-1\s+10\.0\.1\.11>192\.0\.2\.2\s+169\.254\.10\.8/29\s+2/2 up\s+2/2 up$`)
	if !row.MatchString(r.stdout) {
		t.Errorf("peer row not as expected:\n%s", r.stdout)
	}
	gw := regexp.MustCompile(`(?m)^tgw1\s+available\s+tgw-0f1e2d3c4b5a69788\s+tgw-attach-0c0d0e0f1011121314\s+2/2\s+2\s+\S+$`)
	if !gw.MatchString(r.stdout) {
		t.Errorf("gateway row not as expected:\n%s", r.stdout)
	}

	wide := f.mustRun(ExitOK, "status", "-o", "wide")
	contains(t, "status -o wide", wide.stdout, "tgw-connect-peer-0a1b2c3d4e5f60710", sgID, rtbA+":active,"+rtbB+":active",
		"target:64512:8000001", "169.254.10.10,169.254.10.11")

	for _, format := range []string{"json", "yaml"} {
		out := f.mustRun(ExitOK, "status", "-o", format)
		kinds := roundTrip(t, decodeList(t, out.stdout))
		want := map[string]int{"TransitGateway": 1, "ConnectedPeer": 2, "Route": 2, "VirtualNetwork": 2}
		for k, n := range want {
			if kinds[k] != n {
				t.Errorf("-o %s: %d %s items, want %d (%v)", format, kinds[k], k, n, kinds)
			}
		}
	}

	missing := f.mustRun(ExitNotFound, "status", "tgw9")
	contains(t, "status tgw9", missing.stderr, `TransitGateway "tgw9" not found in namespace `+f.gsiNS, "available: tgw1")
	colour := f.mustRun(ExitOK, "status", "--color", "always")
	contains(t, "--color always", colour.stdout, "\x1b[32mavailable\x1b[0m")
}

// The JSON of status is a List kubectl itself accepts.
func TestStatusOutputFeedsKubectl(t *testing.T) {
	kubectl := requireKubectl(t)
	f := newFixture(t).healthy()
	out := f.mustRun(ExitOK, "status", "tgw1", "-o", "yaml")
	cmd := exec.Command(kubectl, "--kubeconfig", env.Kubeconfig, "--cache-dir", cacheDir, "get", "-f", "-", "-o", "name")
	cmd.Stdin = strings.NewReader(out.stdout)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get -f: %v\n%s", err, b)
	}
	contains(t, "kubectl get -f", string(b), "transitgateway.core.gsi.juniper.net/tgw1",
		"connectedpeer.core.gsi.juniper.net/tgw1-0", "route.core.gsi.juniper.net/"+f.vnNS+".blue",
		"virtualnetwork.core.contrail.juniper.net/green")
}

func TestStatusEmpty(t *testing.T) {
	f := newFixture(t)
	r := f.mustRun(ExitOK, "status")
	contains(t, "status", r.stdout, "No TransitGateways.", "No ConnectedPeers.", "No exposed VirtualNetworks")
}

func TestBGP(t *testing.T) {
	f := newFixture(t)
	f.plugin()
	f.gateway(f.tgw, 2, corev1.StateAvailable)
	f.peer(0, crpdNode0, "established", "established")
	f.peer(1, crpdNode1, "established", "active")
	r := f.mustRun(ExitOK, "bgp")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 1+8 {
		t.Fatalf("want a header and 8 sessions, got\n%s", r.stdout)
	}
	header := strings.Fields(lines[0])
	wantHeader := []string{"PEER", "NODE", "LOCAL-AS", "PEER-AS", "PEER-ADDRESS", "ROLE", "SESSION", "UPTIME", "FAMILY", "RECEIVED", "ADVERTISED"}
	if strings.Join(header, " ") != strings.Join(wantHeader, " ") {
		t.Errorf("header %v, want %v", header, wantHeader)
	}
	tgwUp := regexp.MustCompile(`(?m)^tgw1-0\s+` + regexp.QuoteMeta(crpdNode0) + `\s+64513\s+64513\s+169\.254\.10\.2\s+tgw\s+established\s+3h\s+ipv4-unicast\s+1\s+2$`)
	cnUp := regexp.MustCompile(`(?m)^tgw1-0\s+\S+\s+64512\s+64512\s+10\.0\.2\.11\s+control-node\s+established\s+3h\s+l3vpn-ipv4-unicast,rtc\s+24\s+1$`)
	down := regexp.MustCompile(`(?m)^tgw1-1\s+\S+\s+64513\s+64513\s+169\.254\.10\.11\s+tgw\s+active\s+-\s+ipv4-unicast\s+0\s+0$`)
	for _, re := range []*regexp.Regexp{tgwUp, cnUp, down} {
		if !re.MatchString(r.stdout) {
			t.Errorf("no row matching %s in\n%s", re, r.stdout)
		}
	}
	one := f.mustRun(ExitOK, "bgp", "tgw1", "--peer", "tgw1-1", "-o", "wide")
	if strings.Contains(one.stdout, "tgw1-0") {
		t.Errorf("--peer tgw1-1 shows tgw1-0:\n%s", one.stdout)
	}
	contains(t, "bgp -o wide", one.stdout, "LAST-CHANGE", "tgw1-peer-1", "169.254.10.9", "3h ago")
	items := decodeList(t, f.mustRun(ExitOK, "bgp", "-o", "json").stdout)
	if kinds := roundTrip(t, items); kinds["ConnectedPeer"] != 2 {
		t.Errorf("bgp -o json: %v", kinds)
	}
	f.mustRun(ExitNotFound, "bgp", "--peer", "tgw1-7")
	f.mustRun(ExitNotFound, "bgp", "nope")
}

func TestRoutes(t *testing.T) {
	f := newFixture(t)
	f.plugin()
	f.gateway(f.tgw, 1, corev1.StateAvailable)
	f.route("blue", "10.20.0.0/16", corev1.RouteActive, true, corev1.RouteTableActive, corev1.RouteTableActive)
	failed := f.route("amber", "10.60.0.0/16", corev1.RoutePending, false, corev1.RouteTableActive, corev1.RouteTableFailed)
	failed.Status.RouteTables[1].Message = "RouteLimitExceeded: The maximum number of routes has been reached"
	if err := env.Client.Status().Update(t.Context(), failed); err != nil {
		t.Fatal(err)
	}
	r := f.mustRun(ExitOK, "routes")
	blue := regexp.MustCompile(`(?m)^10\.20\.0\.0/16\s+` + f.vnNS + `/blue\s+tgw1\s+active\s+` + rtbA + `:active,` + rtbB + `:active\s+yes\s+` + sgID + `$`)
	amber := regexp.MustCompile(`(?m)^10\.60\.0\.0/16\s+` + f.vnNS + `/amber\s+tgw1\s+pending\s+` + rtbA + `:active,` + rtbB + `:failed\s+no\s+` + sgID + `$`)
	for _, re := range []*regexp.Regexp{blue, amber} {
		if !re.MatchString(r.stdout) {
			t.Errorf("no row matching %s in\n%s", re, r.stdout)
		}
	}
	wide := f.mustRun(ExitOK, "routes", "-o", "wide")
	contains(t, "routes -o wide", wide.stdout, rtbB+": RouteLimitExceeded: The maximum number of routes has been reached", "target:64512:8000001")
	items := decodeList(t, f.mustRun(ExitOK, "routes", "tgw1", "-o", "json").stdout)
	if kinds := roundTrip(t, items); kinds["Route"] != 2 {
		t.Errorf("routes -o json: %v", kinds)
	}
}

func TestUsageErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"expose"}, "expected exactly one VIRTUAL-NETWORK"},
		{[]string{"status", "-o", "xml"}, `unknown output format "xml"`},
		{[]string{"status", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"bgp", "a", "b"}, "accepts at most 1 arg"},
		{[]string{"frobnicate"}, "unknown command"},
	} {
		r := f.run(tc.args...)
		if r.code != ExitUsage {
			t.Errorf("%v: want exit %d, got %s", tc.args, ExitUsage, r)
		}
		contains(t, strings.Join(tc.args, " "), r.stderr, tc.want)
	}
}

func TestVersion(t *testing.T) {
	f := newFixture(t)
	r := f.mustRun(ExitOK, "version")
	contains(t, "version", r.stdout, "kubectl-gsi: v0.1.0-test (commit abc1234", "Kubernetes: v1.37", "gsi controller: not installed")
	var rep versionReport
	out := f.mustRun(ExitOK, "version", "--client", "-o", "json")
	if err := json.Unmarshal([]byte(out.stdout), &rep); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out.stdout)
	}
	if rep.Client != testBuild || rep.Server != "" {
		t.Errorf("version -o json = %+v", rep)
	}
}

func TestCompletion(t *testing.T) {
	f := newFixture(t).healthy()
	for _, tc := range []struct {
		args       []string
		want, deny []string
	}{
		{[]string{"__complete", "expose", ""}, []string{"red"}, []string{"blue"}},
		{[]string{"__complete", "unexpose", ""}, []string{"blue", "green"}, []string{"red"}},
		{[]string{"__complete", "status", ""}, []string{"tgw1"}, nil},
		{[]string{"__complete", "expose", "red", "--transit-gateway", ""}, []string{"tgw1"}, nil},
		{[]string{"__complete", "bgp", "--peer", "tgw1-"}, []string{"tgw1-0", "tgw1-1"}, nil},
		{[]string{"__complete", "status", "--gsi-namespace", "gsi-"}, []string{f.gsiNS}, []string{f.vnNS}},
	} {
		r := f.mustRun(ExitOK, tc.args...)
		lines := strings.Split(r.stdout, "\n")
		has := map[string]bool{}
		for _, l := range lines {
			has[l] = true
		}
		for _, w := range tc.want {
			if !has[w] {
				t.Errorf("%v: missing %q in\n%s", tc.args, w, r.stdout)
			}
		}
		for _, d := range tc.deny {
			if has[d] {
				t.Errorf("%v: unexpected %q in\n%s", tc.args, d, r.stdout)
			}
		}
	}
}

func requireKubectl(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl not found (run make setup): %v", err)
	}
	return path
}
