package controllertest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/opengsi/gsi/controller/aws"
)

// TestCrashBetweenAWSSteps kills the controller right after each AWS step of creating and
// of deleting a TransitGateway with an exposed VN, restarts the simulator from its saved
// state and a fresh controller, and checks it converges with no duplicate and no orphan.
func TestCrashBetweenAWSSteps(t *testing.T) {
	cases := []struct {
		action string
		after  int // successful calls of action let through before the kill
		delete bool
	}{
		{action: "CreateTransitGateway"},
		{action: "CreateTransitGatewayVpcAttachment"},
		{action: "CreateTransitGatewayConnect"},
		{action: "CreateSecurityGroup"},
		{action: "AuthorizeSecurityGroupIngress"},
		{action: "CreateTransitGatewayConnectPeer"},
		{action: "CreateRoute"},
		{action: "DeleteRoute", delete: true},
		{action: "RevokeSecurityGroupIngress", delete: true},
		{action: "DeleteTransitGatewayConnectPeer", delete: true},
		{action: "DeleteTransitGatewayConnect", delete: true},
		{action: "DeleteTransitGatewayVpcAttachment", delete: true},
		{action: "DeleteSecurityGroup", delete: true},
		{action: "DeleteTransitGateway", delete: true},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s#%d", c.action, c.after+1)
		if c.delete {
			name = "delete/" + name
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{nodes: 1})
			h.addVN(h.ns, "web", "10.20.0.0/16", 1)
			h.label(h.ns, "web", "tgw1")
			k := &killer{base: http.DefaultTransport, action: c.action, after: c.after}
			k.kill = func() {}
			if !c.delete {
				h.startManager(k)
				h.must(h.c.Create(h.ctx, h.sourceTGW("tgw1", 1)))
			} else {
				h.startManager(nil)
				h.must(h.c.Create(h.ctx, h.sourceTGW("tgw1", 1)))
				h.converged(t)
				h.stopManager()
				h.startManager(k)
				h.deleteAsync("tgw1")
			}
			eventually(t, 30*time.Second, "the controller killed after "+c.action, func() error {
				if !k.fired() {
					return fmt.Errorf("not yet")
				}
				return nil
			})
			h.stopManager()
			h.restartSim()
			h.startManager(nil)
			if !c.delete {
				h.converged(t)
				h.assertOwnedOnce(t)
				h.deleteTGW("tgw1", 60*time.Second)
			} else {
				h.deleteTGW("tgw1", 60*time.Second)
			}
			h.assertNothingOwned()
		})
	}
}

// TestThrottling runs the whole lifecycle while the simulator throttles 30% of requests.
func TestThrottling(t *testing.T) {
	h := newHarness(t, harnessOptions{nodes: 2})
	h.sim.SetThrottleRate(0.3)
	h.addVN(h.ns, "web", "10.20.0.0/16", 1)
	h.addVN(h.ns, "db", "10.30.0.0/16", 2)
	h.label(h.ns, "web", "tgw1")
	h.label(h.ns, "db", "tgw1")
	h.startManager(nil)
	h.must(h.c.Create(h.ctx, h.sourceTGW("tgw1", 2)))
	tgw := h.waitAvailable("tgw1", 90*time.Second)
	h.sim.SetThrottleRate(0) // the observer's own reads need no retries
	h.waitAWS(t, tgw.Status.TransitGatewayID, map[string]bool{"10.20.0.0/16": true, "10.30.0.0/16": true})
	h.assertOwnedOnceN(t, 2)
	h.sim.SetThrottleRate(0.3)
	h.deleteTGW("tgw1", 90*time.Second)
	h.sim.SetThrottleRate(0)
	st := h.sim.Stats()
	t.Logf("throttled %d of %d requests", st.Throttled, st.Requests)
	if st.Throttled == 0 {
		t.Fatal("the simulator throttled nothing")
	}
	h.assertNothingOwned()
}

// converged waits for the TransitGateway and the exposure of web.
func (h *harness) converged(t testing.TB) {
	t.Helper()
	tgw := h.waitAvailable("tgw1", 60*time.Second)
	h.waitAWS(t, tgw.Status.TransitGatewayID, map[string]bool{"10.20.0.0/16": true})
}

func (h *harness) deleteAsync(name string) {
	h.t.Helper()
	tgw := h.getTGW(name)
	h.must(h.c.Delete(h.ctx, tgw))
}

// assertOwnedOnce checks there is exactly one live resource of each role.
func (h *harness) assertOwnedOnce(t testing.TB) { h.assertOwnedOnceN(t, 1) }

func (h *harness) assertOwnedOnceN(t testing.TB, peers int) {
	t.Helper()
	own := h.owner("tgw1")
	owned, err := h.awsClient().FindOwned(h.ctx, h.cluster, &own)
	h.must(err)
	roles := map[string]int{}
	for _, r := range owned {
		roles[r.Tags[aws.TagRole]]++
	}
	want := map[string]int{"transit-gateway": 1, "vpc-attachment": 1, "connect-attachment": 1, "security-group": 1, "connect-peer": peers}
	if fmt.Sprint(roles) != fmt.Sprint(want) {
		t.Fatalf("owned resources by role %v, want %v", roles, want)
	}
}
