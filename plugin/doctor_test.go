package plugin

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	k8scorev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "github.com/opengsi/gsi/api/core/v1"
)

func TestDoctorHealthy(t *testing.T) {
	f := newFixture(t).healthy()
	r := f.mustRun(ExitOK, "doctor")
	for _, name := range []string{"controller pods active", "GSIPlugin installed", "TransitGateway available",
		"ConnectedPeer pods scheduled on crpd nodes", "license present", "BGP established to the transit gateway",
		"BGP established to the CN2 control nodes", "exposed networks in every VPC route table and advertised",
		"gsi-sg rules for the exposed networks"} {
		if !strings.Contains(r.stdout, "[PASS] "+name+"\n") {
			t.Errorf("want [PASS] %s in\n%s", name, r.stdout)
		}
	}
	contains(t, "doctor", r.stdout, "3/3 ready (app=contrail-gsi-plugin); active (leader): gsi-controller-7d9c5b-axz",
		"tgw1-peer-0: running on crpd node "+crpdNode0, "tgw1-0: 2/2 established", "2/2 exposed networks routed and advertised",
		"tgw1: "+sgID+" holds 2 rules for 2 exposed prefixes", "9 checks: 9 passed, 0 warnings, 0 failed")
}

// A GSI with the faults the CN2 guide's troubleshooting section walks through.
func TestDoctorFindsFaults(t *testing.T) {
	f := newFixture(t)
	f.plugin()
	f.gateway(f.tgw, 2, corev1.StateAvailable) // no license Secret, no controller pods
	f.peer(0, crpdNode0, "established", "established")
	f.peer(1, workerNode, "active", "connect") // router on a node without the crpd label, BGP down
	f.vn("blue", "10.20.0.0/16", f.tgw)
	f.vn("ghost", "10.80.0.0/16", "tgw-gone")
	pending := f.route("blue", "10.20.0.0/16", corev1.RoutePending, false, corev1.RouteTableActive, corev1.RouteTableFailed)
	f.updateRouteStatus(pending, func(s *corev1.RouteStatus) {
		s.RouteTables[1].Message = "RouteLimitExceeded: The maximum number of routes has been reached"
		s.SecurityGroupRuleID = ""
	})

	r := f.mustRun(ExitUnhealthy, "doctor")
	results := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\[(PASS|WARN|FAIL|SKIP)\] (.+)$`).FindAllStringSubmatch(r.stdout, -1) {
		results[m[2]] = m[1]
	}
	for name, want := range map[string]string{
		"controller pods active":                                   "FAIL",
		"GSIPlugin installed":                                      "PASS",
		"TransitGateway available":                                 "PASS",
		"ConnectedPeer pods scheduled on crpd nodes":               "FAIL",
		"license present":                                          "FAIL",
		"BGP established to the transit gateway":                   "FAIL",
		"BGP established to the CN2 control nodes":                 "PASS",
		"exposed networks in every VPC route table and advertised": "FAIL",
		"gsi-sg rules for the exposed networks":                    "FAIL",
	} {
		if results[name] != want {
			t.Errorf("%s: %q, want %s", name, results[name], want)
		}
	}
	contains(t, "doctor", r.stdout,
		"no pod labelled app=contrail-gsi-plugin in "+f.gsiNS,
		"tgw1-peer-1: on node "+workerNode+", which lacks the core.juniper.net/crpd-node label",
		"Secret "+f.gsiNS+"/crpd-license does not exist",
		"kubectl create secret generic crpd-license -n "+f.gsiNS+" --from-file=crpd-license=LICENSE-FILE",
		"tgw1-1: 0/2 established (169.254.10.10 active, 169.254.10.11 connect)",
		"GRE between node "+workerNode+" (10.0.1.11) and the TGW (192.0.2.2) must pass",
		f.vnNS+"/ghost: exposed through tgw-gone but has no Route (unknown TGW)",
		f.vnNS+"/blue 10.20.0.0/16: pending, route tables "+rtbA+":active,"+rtbB+":failed, advertised no; "+rtbB+": RouteLimitExceeded",
		"tgw1: no gsi-sg rule for 10.20.0.0/16",
		"9 checks: 3 passed, 0 warnings, 6 failed")
	contains(t, "doctor stderr", r.stderr, "6 of 9 checks failed")

	out := f.mustRun(ExitUnhealthy, "doctor", "-o", "json")
	var rep doctorReport
	if err := json.Unmarshal([]byte(out.stdout), &rep); err != nil {
		t.Fatalf("doctor -o json: %v\n%s", err, out.stdout)
	}
	if rep.Failed != 6 || rep.Passed != 3 || len(rep.Checks) != 9 || rep.Namespace != f.gsiNS {
		t.Errorf("doctor -o json: %+v", rep)
	}
	for _, c := range rep.Checks {
		if c.Result == checkFail && len(c.Next) == 0 && c.Name != "gsi-sg rules for the exposed networks" {
			t.Errorf("failing check %q says nothing about what to do next", c.Name)
		}
	}
}

// Sessions reported by a router that is going away are suspect: a warning, not a pass.
func TestDoctorStaleSessions(t *testing.T) {
	f := newFixture(t).healthy()
	var pod k8scorev1.Pod
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: f.gsiNS, Name: "tgw1-peer-1"}, &pod); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(t.Context(), &pod); err != nil {
		t.Fatal(err)
	}
	// no kubelet here: the pod stays, terminating
	r := f.mustRun(ExitUnhealthy, "doctor") // the router pod going away fails the placement check
	contains(t, "doctor", r.stdout, "[WARN] BGP established to the transit gateway",
		"[FAIL] ConnectedPeer pods scheduled on crpd nodes", "tgw1-peer-1: on "+crpdNode1+", terminating")
	stale := regexp.MustCompile(`tgw1-1: 2/2 established \(reported \d+s ago, but router pod tgw1-peer-1 is terminating\)`)
	if !stale.MatchString(r.stdout) {
		t.Errorf("no stale-session line in\n%s", r.stdout)
	}
}

func TestDoctorEmpty(t *testing.T) {
	f := newFixture(t)
	r := f.mustRun(ExitUnhealthy, "doctor")
	contains(t, "doctor", r.stdout, "[FAIL] GSIPlugin installed", "apply the GSI manifest",
		"[FAIL] TransitGateway available", "[SKIP] license present", "[SKIP] BGP established to the transit gateway")
}
