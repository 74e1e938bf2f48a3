package controllertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
	"github.com/opengsi/gsi/controller/connectedpeer"
	"github.com/opengsi/gsi/test/ec2sim"
)

// TestInvalidInput: what the webhook would refuse, what AWS refuses and what is missing
// in the cluster all end in conditions that say why, with nothing half-made in AWS.
func TestInvalidInput(t *testing.T) {
	h := newHarness(t, harnessOptions{nodes: 0})
	h.startManager(nil)

	t.Run("spec refused before AWS", func(t *testing.T) {
		for i, c := range []struct{ field, value, want string }{
			{"bgpCidr", "169.254.4.248", "reserved by AWS"},
			{"transitCIDR", "10.1.7.0/24", "overlaps the VPC"},
		} {
			name := fmt.Sprintf("bad%d", i)
			tgw := h.sourceTGW(name, 2)
			if c.field == "bgpCidr" {
				tgw.Spec.BgpCidr = c.value
			} else {
				tgw.Spec.TransitCIDR = c.value
			}
			h.must(h.c.Create(h.ctx, tgw))
			h.waitCondition(t, name, gsiv1.ConditionAWSReady, "InvalidSpec", c.want, gsiv1.StateFailed)
		}
		owned, err := h.awsClient().FindOwned(h.ctx, h.cluster, nil)
		h.must(err)
		if len(owned) != 0 {
			t.Fatalf("refused specs created %d AWS resources", len(owned))
		}
		h.deleteTGW("bad0", 20*time.Second)
		h.deleteTGW("bad1", 20*time.Second)
	})
	t.Run("AWS refuses", func(t *testing.T) {
		h.sim.InjectError(ec2sim.ErrorFault{Action: "CreateTransitGateway", Code: "TransitGatewayLimitExceeded",
			Message: "You've reached the limit on the number of transit gateways you can create."})
		h.must(h.c.Create(h.ctx, h.sourceTGW("quota", 1)))
		h.waitCondition(t, "quota", gsiv1.ConditionAWSReady, "AWSLimitExceeded", "reached the limit on the number of transit gateways", gsiv1.StateFailed)
		// The quota is raised: the retry after --retry-after succeeds.
		h.sim.ClearFaults()
		h.waitCondition(t, "quota", gsiv1.ConditionAWSReady, "Available", "", gsiv1.StatePending)
	})
	t.Run("no crpd node", func(t *testing.T) {
		var cp gsiv1.ConnectedPeer
		eventually(t, 20*time.Second, "RouterReady says no crpd node", func() error {
			if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "quota-0"}, &cp); err != nil {
				return err
			}
			c := condition(cp.Status.Conditions, gsiv1.ConditionRouterReady)
			if c == nil || c.Reason != connectedpeer.ReasonNoCRPDNode || !strings.Contains(c.Message, "kubectl label node") {
				return fmt.Errorf("RouterReady %+v", c)
			}
			return nil
		})
		h.addNode("crpd-late-"+h.cluster, "10.0.9.9", true)
		h.waitAvailable("quota", 30*time.Second)
	})
	t.Run("license missing", func(t *testing.T) {
		h.must(h.c.Delete(h.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "crpd-license"}}))
		touch(t, h, "quota")
		h.waitCondition(t, "quota", gsiv1.ConditionLicensed, "LicenseMissing", "not found", gsiv1.StateAvailable)
		if conditionTrue(h.getTGW("quota").Status.Conditions, gsiv1.ConditionReady) {
			t.Fatal("Ready without a license")
		}
	})
	t.Run("no GSIPlugin", func(t *testing.T) {
		h.deleteTGW("quota", 30*time.Second)
		h.must(h.c.DeleteAllOf(h.ctx, &pluginsv1alpha1.GSIPlugin{}, client.InNamespace(h.ns)))
		h.must(h.c.Create(h.ctx, h.sourceTGW("orphan", 1)))
		h.waitCondition(t, "orphan", gsiv1.ConditionAWSReady, "GSIPluginNotReady", "kubectl get gsiplugins", gsiv1.StatePending)
		owned, err := h.awsClient().FindOwned(h.ctx, h.cluster, nil)
		h.must(err)
		if len(owned) != 0 {
			t.Fatalf("%d AWS resources without a GSIPlugin", len(owned))
		}
		h.must(h.c.Create(h.ctx, &pluginsv1alpha1.GSIPlugin{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "late"},
			Spec: pluginsv1alpha1.GSIPluginSpec{AWSRegion: region, VPCID: vpcID}}))
		h.waitCondition(t, "orphan", gsiv1.ConditionAWSReady, "Available", "", gsiv1.StatePending)
		h.deleteTGW("orphan", 30*time.Second)
		h.assertNothingOwned()
	})
}

// waitCondition waits for a TransitGateway condition's reason (and message part) and
// state (empty: any).
func (h *harness) waitCondition(t testing.TB, name, typ, reason, msg string, state gsiv1.TransitGatewayState) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%s %s=%s", name, typ, reason), func() error {
		tgw := h.getTGW(name)
		c := condition(tgw.Status.Conditions, typ)
		if c == nil || c.Reason != reason || !strings.Contains(c.Message, msg) {
			return fmt.Errorf("state %s, %s", tgw.Status.State, conditionSummary(tgw.Status.Conditions))
		}
		if state != gsiv1.StatePending && tgw.Status.State != state {
			return fmt.Errorf("state %s, want %s", tgw.Status.State, state)
		}
		return nil
	})
}

// touch changes an annotation, which makes the controller look again.
func touch(t testing.TB, h *harness, name string) {
	t.Helper()
	tgw := h.getTGW(name)
	before := tgw.DeepCopy()
	if tgw.Annotations == nil {
		tgw.Annotations = map[string]string{}
	}
	tgw.Annotations["test/touched"] = time.Now().Format(time.RFC3339Nano)
	h.must(h.c.Patch(h.ctx, tgw, client.MergeFrom(before)))
}
