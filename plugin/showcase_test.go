package plugin

import (
	"strings"
	"testing"

	corev1 "github.com/opengsi/gsi/api/core/v1"
)

// TestShowcase runs the everyday commands on a realistic GSI (one peer's second TGW
// session down) and logs their output; the README's examples are taken from it
// (go test ./plugin -run Showcase -v).
func TestShowcase(t *testing.T) {
	f := newFixture(t)
	f.plugin()
	f.gateway(f.tgw, 2, corev1.StateAvailable)
	f.license()
	f.controllerPods()
	f.peer(0, crpdNode0, "established", "established")
	f.peer(1, crpdNode1, "established", "active")
	f.vn("blue", "10.20.0.0/16", f.tgw)
	f.vn("green", "10.30.0.0/16", f.tgw)
	f.route("blue", "10.20.0.0/16", corev1.RouteActive, true, corev1.RouteTableActive, corev1.RouteTableActive)
	f.route("green", "10.30.0.0/16", corev1.RoutePending, true, corev1.RouteTableActive, corev1.RouteTablePending)
	f.exposedOn(f.tgw, "blue", "10.20.0.0/16", "green", "10.30.0.0/16")
	for _, args := range [][]string{{"status"}, {"bgp"}, {"routes"}, {"doctor"}} {
		r := f.run(args...)
		t.Logf("$ kubectl gsi %s   (exit %d)\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		if r.code != ExitOK && args[0] != "doctor" {
			t.Errorf("%v: %s", args, r)
		}
	}
}
