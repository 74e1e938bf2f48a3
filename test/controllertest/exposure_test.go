package controllertest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/controller/exposure"
	"github.com/opengsi/gsi/controller/manager"
	"github.com/opengsi/gsi/test/ec2sim"
)

// TestExposure labels, relabels, changes and unlabels VNs and checks the VPC routes and
// security group rules follow, that conflicts program nothing, that a full group spills
// into a second one, and that a resync with nothing changed mutates nothing.
func TestExposure(t *testing.T) {
	h := newHarness(t, harnessOptions{nodes: 1,
		config: func(c *ec2sim.Config) {
			// A route the user made: exposing the same prefix must not touch it.
			c.VPCs[0].RouteTables[0].Routes = append(c.VPCs[0].RouteTables[0].Routes, ec2sim.RouteConfig{Destination: "10.50.0.0/16", GatewayID: "igw-0a1b2c3d4e5f60001"})
		},
		opts: func(o *manager.Options) { o.RuleLimit = 4 }})
	h.startManager(nil)
	h.must(h.c.Create(h.ctx, h.sourceTGW("tgw1", 1)))
	tgw := h.waitAvailable("tgw1", 60*time.Second)
	tgwID := tgw.Status.TransitGatewayID

	h.addVN(h.ns, "web", "10.20.0.0/16", 1)
	t.Run("expose", func(t *testing.T) {
		before := h.sim.Stats()
		h.label(h.ns, "web", "tgw1")
		route := h.waitRoute(t, "web", gsiv1.RouteActive)
		h.waitAWS(t, tgwID, map[string]bool{"10.20.0.0/16": true})
		calls := diffStats(before, h.sim.Stats())
		if calls["CreateRoute"] != 2 || calls["AuthorizeSecurityGroupIngress"] != 1 || mutating(calls) != 3 {
			t.Fatalf("one exposure cost %v; want one CreateRoute per route table (2) and one rule", calls)
		}
		if route.Spec.RouteTarget != "target:64512:8000001" || len(route.Status.RouteTables) != 2 || route.Status.SecurityGroupID == "" ||
			!conditionTrue(route.Status.Conditions, gsiv1.ConditionProgrammed) {
			t.Fatalf("route %+v", route)
		}
		eventually(t, 10*time.Second, "exposed networks in the TransitGateway status", func() error {
			got := h.getTGW("tgw1").Status.ExposedNetworks
			if len(got) != 1 || got[0].Name != "web" || got[0].CIDR != "10.20.0.0/16" {
				return fmt.Errorf("exposedNetworks %+v", got)
			}
			return nil
		})
	})
	t.Run("advertisement follows the routes the TGW learns", func(t *testing.T) {
		if r := h.waitRoute(t, "web", gsiv1.RouteActive); r.Status.Advertised {
			t.Fatal("advertised before any router announced the prefix")
		}
		// what a router's BGP announcement does to the TGW's route table on AWS
		h.must(h.sim.AddTransitGatewayRoute(tgwID, "10.20.0.0/16", h.getTGW("tgw1").Status.ConnectAttachmentID))
		eventually(t, 10*time.Second, "status.advertised", func() error {
			if r := h.waitRoute(t, "web", gsiv1.RouteActive); !r.Status.Advertised {
				return fmt.Errorf("route %s not advertised yet", r.Name)
			}
			return nil
		})
	})
	t.Run("resync without change mutates nothing", func(t *testing.T) {
		h.stopManager()
		before := h.sim.Stats()
		h.startManager(nil)
		eventually(t, 20*time.Second, "a full sync after the restart", func() error {
			if d := diffStats(before, h.sim.Stats()); d["SearchTransitGatewayRoutes"] == 0 || d["DescribeTransitGateways"] == 0 {
				return fmt.Errorf("calls so far %v", d)
			}
			return nil
		})
		calls := diffStats(before, h.sim.Stats())
		if mutating(calls) != 0 {
			t.Fatalf("resync made mutating calls: %v", calls)
		}
		describes := 0
		for k, v := range calls {
			if !isMutating(k) {
				describes += v
			}
		}
		t.Logf("full resync: %d describes (%v)", describes, calls)
		if describes > 12 {
			t.Fatalf("resync made %d describes: %v", describes, calls)
		}
	})
	t.Run("change CIDR", func(t *testing.T) {
		h.setSubnetCIDR(h.ns, "web", "10.21.0.0/16")
		h.waitAWS(t, tgwID, map[string]bool{"10.21.0.0/16": true})
		if r := h.waitRoute(t, "web", gsiv1.RouteActive); r.Spec.DestinationCIDR != "10.21.0.0/16" {
			t.Fatalf("route %s", r.Spec.DestinationCIDR)
		}
	})
	conflicts := []struct{ vn, cidr, reason string }{
		{"in-vpc", "10.0.5.0/24", exposure.ReasonOverlapsVPC},
		{"link-local", "169.254.100.0/24", exposure.ReasonLinkLocal},
		{"overlapping", "10.21.128.0/24", exposure.ReasonOverlapsExposure},
		{"transit", "192.0.2.128/25", exposure.ReasonOverlapsTransitCIDR},
		{"foreign", "10.50.0.0/16", exposure.ReasonForeignRoute},
	}
	for i, c := range conflicts {
		t.Run("conflict "+c.vn, func(t *testing.T) {
			h.addVN(h.ns, c.vn, c.cidr, 10+i)
			h.label(h.ns, c.vn, "tgw1")
			r := h.waitRoute(t, c.vn, gsiv1.RouteConflict)
			if cond := condition(r.Status.Conditions, gsiv1.ConditionProgrammed); cond == nil || cond.Reason != c.reason || cond.Message == "" {
				t.Fatalf("Programmed condition %+v, want reason %s", cond, c.reason)
			}
			h.waitAWS(t, tgwID, map[string]bool{"10.21.0.0/16": true})
		})
	}
	t.Run("spill into a second security group", func(t *testing.T) {
		for i := range 4 {
			name := fmt.Sprintf("spill%d", i)
			h.addVN(h.ns, name, fmt.Sprintf("10.%d.0.0/16", 60+i), 20+i)
			h.label(h.ns, name, "tgw1")
		}
		want := map[string]bool{"10.21.0.0/16": true, "10.60.0.0/16": true, "10.61.0.0/16": true, "10.62.0.0/16": true, "10.63.0.0/16": true}
		h.waitAWS(t, tgwID, want)
		eventually(t, 10*time.Second, "two groups in the status", func() error {
			if ids := h.getTGW("tgw1").Status.SecurityGroupIDs; len(ids) != 2 {
				return fmt.Errorf("security groups %v", ids)
			}
			return nil
		})
		for i := range 4 {
			h.label(h.ns, fmt.Sprintf("spill%d", i), "")
		}
		h.waitAWS(t, tgwID, map[string]bool{"10.21.0.0/16": true})
		eventually(t, 10*time.Second, "the empty spill group deleted", func() error {
			groups, err := h.awsClient().ListSecurityGroups(h.ctx, h.owner("tgw1"))
			if err != nil {
				return err
			}
			if ids := h.getTGW("tgw1").Status.SecurityGroupIDs; len(groups) != 1 || len(ids) != 1 {
				return fmt.Errorf("%d groups in AWS, status %v", len(groups), ids)
			}
			return nil
		})
	})
	t.Run("unexpose", func(t *testing.T) {
		// With web gone, the VN that overlapped it is no longer in conflict.
		h.label(h.ns, "web", "")
		h.waitAWS(t, tgwID, map[string]bool{"10.21.128.0/24": true})
		h.waitRoute(t, "overlapping", gsiv1.RouteActive)
		eventually(t, 10*time.Second, "Route deleted", func() error {
			var r gsiv1.Route
			if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: exposure.RouteName(h.ns, "web")}, &r); !apierrors.IsNotFound(err) {
				return fmt.Errorf("route still there (%v)", err)
			}
			return nil
		})
	})
	t.Run("delete", func(t *testing.T) {
		// web comes back second now: the older exposure keeps the prefix.
		h.label(h.ns, "web", "tgw1")
		h.waitRoute(t, "web", gsiv1.RouteConflict)
		h.waitAWS(t, tgwID, map[string]bool{"10.21.128.0/24": true})
		h.deleteTGW("tgw1", 60*time.Second)
		h.assertNothingOwned()
	})
}

// waitRoute waits for the VN's Route to reach state.
func (h *harness) waitRoute(t testing.TB, vn string, state gsiv1.RouteState) *gsiv1.Route {
	t.Helper()
	var r gsiv1.Route
	eventually(t, 20*time.Second, "Route of "+vn+" "+string(state), func() error {
		if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: exposure.RouteName(h.ns, vn)}, &r); err != nil {
			return err
		}
		if r.Status.State != state {
			return fmt.Errorf("state %q: %s", r.Status.State, conditionSummary(r.Status.Conditions))
		}
		return nil
	})
	return &r
}

// waitAWS waits until exactly the given prefixes are routed to the TGW in both route
// tables and allowed by one managed rule each in the TGW's groups.
func (h *harness) waitAWS(t testing.TB, tgwID string, want map[string]bool) {
	t.Helper()
	wantList := sortedSet(want)
	eventually(t, 20*time.Second, fmt.Sprintf("AWS routes and rules exactly %v", wantList), func() error {
		return h.checkAWS(tgwID, wantList)
	})
}

func (h *harness) checkAWS(tgwID string, want []string) error {
	ac := h.awsClient()
	rts, err := ac.DescribeRouteTables(h.ctx, vpcID)
	if err != nil {
		return err
	}
	for _, rt := range rts {
		var got []string
		for _, r := range rt.Routes {
			if r.TransitGatewayID == tgwID {
				got = append(got, r.DestinationCIDR)
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("route table %s routes %v to the TGW", rt.ID, got)
		}
	}
	groups, err := ac.ListSecurityGroups(h.ctx, h.owner("tgw1"))
	if err != nil {
		return err
	}
	var rules []string
	for _, g := range groups {
		for _, r := range g.Ingress {
			if r.Protocol == "-1" && strings.HasPrefix(r.Description, exposure.RuleDescriptionPrefix) {
				rules = append(rules, r.CIDR)
			}
		}
	}
	sort.Strings(rules)
	if !slices.Equal(rules, want) {
		return fmt.Errorf("managed rules %v", rules)
	}
	return nil
}

func sortedSet(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func diffStats(a, b ec2sim.Stats) map[string]int {
	out := map[string]int{}
	for k, v := range b.ByAction {
		if d := v - a.ByAction[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func isMutating(action string) bool {
	for _, p := range []string{"Create", "Delete", "Authorize", "Revoke", "Modify", "Replace", "Associate", "Disassociate"} {
		if strings.HasPrefix(action, p) {
			return true
		}
	}
	return false
}

func mutating(calls map[string]int) int {
	n := 0
	for k, v := range calls {
		if isMutating(k) {
			n += v
		}
	}
	return n
}
