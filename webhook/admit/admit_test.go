package admit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/test/envtest"
)

// The CN2 guide's manifests go through the webhooks unchanged: verbatim but for the
// placeholders (test/foundation/testdata/source, with the guide's '*' ClusterRole), and
// as gsi ships them (manifests/examples). bgpCidr is written without a prefix in both.
func TestSourceDocumentManifestsAccepted(t *testing.T) {
	needEnv(t)
	root := envtest.RepoRoot()
	for _, set := range []struct{ dir, gsi, license, tgw, image string }{
		{"test/foundation/testdata/source", "gsi.yaml", "license.yaml", "transitgateway.yaml", "registry.example.com/crpd:23.1"},
		{"manifests/examples", "gsi.yaml", "license-secret.yaml", "transitgateway.yaml", "ghcr.io/opengsi/gsi-router:v0.1.0"},
	} {
		t.Run(set.dir, func(t *testing.T) {
			for _, f := range []string{set.gsi, set.license, set.tgw} {
				applyFile(t, filepath.Join(root, set.dir, f))
			}
			got := &gsiv1.TransitGateway{}
			if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: "contrail-gsi", Name: "tgw1"}, got); err != nil {
				t.Fatal(err)
			}
			if got.Spec.BgpCidr != "169.254.10.0" || got.Spec.CrpdContainer.Image != set.image {
				t.Fatalf("the user's values were changed: %+v", got.Spec)
			}
		})
	}
}

// TestTransitGatewayRules applies a refused case and an accepted neighbour for every
// rule, through the API server. Some rules are the CRD schema's (it runs between the
// mutating and validating webhooks); the refusal still names the field.
func TestTransitGatewayRules(t *testing.T) {
	needEnv(t)
	ns := namespace(t, "")
	licenseSecret(t, ns, "crpd-license", []byte("license"))
	licenseSecret(t, ns, "empty-license", []byte{})
	licenseSecret(t, ns, "keyless-license", nil)
	vpc(t, "10.0.0.0/16")
	other := tgw(ns, "other", "198.51.100.0/24", "169.254.20.0")
	other.Spec.ConnectedPeerScale = 2
	mustCreate(t, other)

	cases := []struct {
		name   string
		mutate func(*gsiv1.TransitGateway)
		want   []string // nil: accepted
	}{
		{"bgpCidr on AWS's reserved 169.254.5.0/29", func(g *gsiv1.TransitGateway) { g.Spec.BgpCidr = "169.254.5.0" },
			[]string{"spec.bgpCidr", `"169.254.5.0"`, "169.254.5.0/29 (peer 0) is reserved by AWS"}},
		{"bgpCidr next to it, 169.254.6.0", func(g *gsiv1.TransitGateway) { g.Spec.BgpCidr = "169.254.6.0" }, nil},
		{"bgpCidr whose peer 1 is the metadata block", func(g *gsiv1.TransitGateway) {
			g.Spec.BgpCidr, g.Spec.ConnectedPeerScale = "169.254.169.240/29", 2
		}, []string{"spec.bgpCidr", "169.254.169.248/29 (peer 1)", "instance metadata"}},
		{"bgpCidr just below the metadata block, one peer", func(g *gsiv1.TransitGateway) { g.Spec.BgpCidr = "169.254.169.240/29" }, nil},
		{"bgpCidr on another TGW's peer 1", func(g *gsiv1.TransitGateway) { g.Spec.BgpCidr = "169.254.20.8" },
			[]string{"spec.bgpCidr", "already used by TransitGateway " + ns + "/other (its peer 1)"}},
		{"bgpCidr after another TGW's blocks", func(g *gsiv1.TransitGateway) { g.Spec.BgpCidr = "169.254.20.16" }, nil},
		{"bgpCidr not a /29 (schema)", func(g *gsiv1.TransitGateway) { g.Spec.BgpCidr = "169.254.40.0/30" }, []string{"spec.bgpCidr"}},
		{"transitCIDR overlapping the VPC", func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "10.0.1.0/24" },
			[]string{"spec.transitCIDR", `"10.0.1.0/24"`, "overlaps VPC vpc-0a1b2c3d4e5f60001's CIDR 10.0.0.0/16"}},
		{"transitCIDR beside the VPC", func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "10.1.0.0/24" }, nil},
		{"transitCIDR overlapping another TGW's", func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "198.51.100.0/23" },
			[]string{"spec.transitCIDR", "TransitGateway " + ns + "/other's transitCIDR 198.51.100.0/24"}},
		{"transitCIDR smaller than /24 (schema)", func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "198.18.0.0/25" }, []string{"spec.transitCIDR", "/24 or larger"}},
		{"peerASN 65535, reserved", func(g *gsiv1.TransitGateway) { g.Spec.PeerASN = ptr(int64(65535)) }, []string{"spec.peerASN", "65535", "reserved"}},
		{"peerASN 65000, eBGP", func(g *gsiv1.TransitGateway) { g.Spec.PeerASN = ptr(int64(65000)) }, nil},
		{"controlNodeASN 100000, IANA reserved", func(g *gsiv1.TransitGateway) { g.Spec.ControlNodeASN = 100000 }, []string{"spec.controlNodeASN", "65552-131071"}},
		{"controlNodeASN 4200000001", func(g *gsiv1.TransitGateway) { g.Spec.ControlNodeASN = 4200000001 }, nil},
		{"transitASN outside Amazon's ranges (schema)", func(g *gsiv1.TransitGateway) { g.Spec.TransitASN = 64511 }, []string{"spec.transitASN", "64512-65534"}},
		{"connectedPeerScale 5 (schema)", func(g *gsiv1.TransitGateway) { g.Spec.ConnectedPeerScale = 5 }, []string{"spec.connectedPeerScale"}},
		{"connectedPeerScale 4", func(g *gsiv1.TransitGateway) { g.Spec.ConnectedPeerScale = 4 }, nil},
		{"subnetIDs with a duplicate (schema)", func(g *gsiv1.TransitGateway) { g.Spec.SubnetIDs[1] = g.Spec.SubnetIDs[0] }, []string{"spec.subnetIDs[1]"}},
		{"subnetIDs empty (schema)", func(g *gsiv1.TransitGateway) { g.Spec.SubnetIDs = nil }, []string{"spec.subnetIDs"}},
		{"transitCIDR in 169.254/16 (schema)", func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "169.254.128.0/24" }, []string{"spec.transitCIDR", "169.254.0.0/16"}},
		{"subnetIDs malformed (schema)", func(g *gsiv1.TransitGateway) { g.Spec.SubnetIDs[1] = "subnet-XYZ" }, []string{"spec.subnetIDs[1]"}},
		{"license Secret missing", func(g *gsiv1.TransitGateway) { g.Spec.LicenseSecretName = "nope" },
			[]string{"spec.licenseSecretName", `"nope"`, "no Secret " + ns + "/nope"}},
		{"license key empty", func(g *gsiv1.TransitGateway) { g.Spec.LicenseSecretName = "empty-license" }, []string{"spec.licenseSecretName", "empty"}},
		{"license key absent", func(g *gsiv1.TransitGateway) { g.Spec.LicenseSecretName = "keyless-license" }, []string{"spec.licenseSecretName", `no key "crpd-license"`}},
		{"license defaulted to crpd-license", func(g *gsiv1.TransitGateway) { g.Spec.LicenseSecretName = "" }, nil},
		{"every violation at once", func(g *gsiv1.TransitGateway) {
			g.Spec.BgpCidr, g.Spec.TransitCIDR, g.Spec.PeerASN, g.Spec.LicenseSecretName = "169.254.0.0", "10.0.0.0/24", ptr(int64(65535)), "nope"
		}, []string{"spec.bgpCidr", "spec.transitCIDR", "spec.peerASN", "spec.licenseSecretName"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := tgw(ns, fmt.Sprintf("tgw-%d", i), "198.18.0.0/24", "169.254.40.0")
			tc.mutate(g)
			err := create(t, g)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantRefused(t, err, tc.want...)
		})
	}
	if n := testutil.ToFloat64(denials.WithLabelValues("transitgateway", "spec.bgpCidr")); n < 3 {
		t.Errorf("gsi_webhook_denials_total{webhook=transitgateway,field=spec.bgpCidr} = %v, want at least 3", n)
	}
}

// TestTransitGatewayDefaults: what the user leaves out is filled in.
func TestTransitGatewayDefaults(t *testing.T) {
	needEnv(t)
	ns := namespace(t, "")
	licenseSecret(t, ns, "crpd-license", []byte("license"))
	g := &gsiv1.TransitGateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "minimal"},
		Spec: gsiv1.TransitGatewaySpec{
			SubnetIDs: []string{"subnet-0a1b2c3d"}, TransitASN: 64600, TransitCIDR: "198.18.5.0/24", BgpCidr: "169.254.45.0",
		},
	}
	mustCreate(t, g)
	got := &gsiv1.TransitGateway{}
	if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(g), got); err != nil {
		t.Fatal(err)
	}
	s := got.Spec
	if s.PeerASN == nil || *s.PeerASN != 64600 || s.ConnectedPeerScale != 1 || s.LicenseSecretName != "crpd-license" || s.ControlNodeASN != 64512 {
		t.Fatalf("defaults not applied: %+v", s)
	}
	if s.CrpdContainer == nil || s.CrpdContainer.Name != "crpd" || s.CrpdContainer.Image != "gsi-router" {
		t.Fatalf("crpdContainer defaults: %+v", s.CrpdContainer)
	}
}

// TestTransitGatewayUpdates: scale changes are checked like a create, immutable fields
// are refused with the reason, and metadata-only updates always pass.
func TestTransitGatewayUpdates(t *testing.T) {
	needEnv(t)
	ns := namespace(t, "")
	licenseSecret(t, ns, "crpd-license", []byte("license"))
	g := tgw(ns, "grow", "198.18.10.0/24", "169.254.169.224")
	mustCreate(t, g)
	update := func(mutate func(*gsiv1.TransitGateway)) error {
		cur := &gsiv1.TransitGateway{}
		if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(g), cur); err != nil {
			t.Fatal(err)
		}
		mutate(cur)
		return env.Client.Update(t.Context(), cur)
	}
	if err := update(func(c *gsiv1.TransitGateway) { c.Spec.ConnectedPeerScale = 3 }); err != nil {
		t.Fatalf("scale 1→3 (blocks .224, .232, .240) refused: %v", err)
	}
	wantRefused(t, update(func(c *gsiv1.TransitGateway) { c.Spec.ConnectedPeerScale = 4 }),
		"spec.bgpCidr", "169.254.169.248/29 (peer 3) is reserved by AWS")
	wantRefused(t, update(func(c *gsiv1.TransitGateway) { c.Spec.TransitCIDR = "198.18.11.0/24" }), "spec.transitCIDR", "immutable")
	wantRefused(t, update(func(c *gsiv1.TransitGateway) { c.Spec.PeerASN = ptr(int64(65001)) }), "spec.peerASN", "immutable")
	// Omitting the immutable peer ASN on an update keeps the stored one.
	if err := update(func(c *gsiv1.TransitGateway) { c.Spec.PeerASN = nil; c.Spec.SubnetIDs = c.Spec.SubnetIDs[:1] }); err != nil {
		t.Fatalf("update without peerASN refused: %v", err)
	}

	// The VPC grows over the transit CIDR: spec changes are refused from now on, but the
	// controller's metadata updates (finalizers) still pass, so deletion never wedges.
	vpc(t, "198.18.0.0/16")
	wantRefused(t, update(func(c *gsiv1.TransitGateway) { c.Spec.ConnectedPeerScale = 2 }), "spec.transitCIDR", "overlaps VPC")
	if err := update(func(c *gsiv1.TransitGateway) { c.Finalizers = append(c.Finalizers, gsiv1.Finalizer) }); err != nil {
		t.Fatalf("adding a finalizer refused: %v", err)
	}
	if err := update(func(c *gsiv1.TransitGateway) { c.Finalizers = nil }); err != nil {
		t.Fatalf("removing the finalizer refused: %v", err)
	}
}

// TestExposure: labelling a VN for a TGW is refused when the TGW does not exist or the
// VN's subnet overlaps what it must not; CN2's own updates of an exposed VN pass.
func TestExposure(t *testing.T) {
	needEnv(t)
	gsi := namespace(t, gsiv1.DefaultNamespace)
	licenseSecret(t, gsi, "expose-license", []byte("license"))
	target := tgw(gsi, "tgw-expose", "198.18.20.0/24", "169.254.50.0")
	target.Spec.LicenseSecretName = "expose-license"
	mustCreate(t, target)
	vpc(t, "10.0.0.0/16")
	ns := namespace(t, "")
	expose := func(name string) map[string]string { return map[string]string{gsiv1.ExposeLabel: name} }
	if _, err := virtualNetwork(t, ns, "exposed", "172.16.1.0/24", expose("tgw-expose")); err != nil {
		t.Fatalf("a valid exposure was refused: %v", err)
	}

	cases := []struct {
		name, cidr, tgw string
		want            []string
	}{
		{"TGW that does not exist", "172.16.2.0/24", "tgw-nope", []string{"metadata.labels[core.gsi.juniper.net/expose]", `"tgw-nope"`, "no TransitGateway contrail-gsi/tgw-nope"}},
		{"existing TGW", "172.16.2.0/24", "tgw-expose", nil},
		{"subnet overlapping the VPC", "10.0.64.0/18", "tgw-expose", []string{"spec.v4SubnetReference", "10.0.64.0/18", "overlaps VPC vpc-0a1b2c3d4e5f60001's CIDR 10.0.0.0/16"}},
		{"subnet beside the VPC", "10.1.64.0/18", "tgw-expose", nil},
		{"subnet overlapping the TGW's transitCIDR", "198.18.20.128/25", "tgw-expose", []string{"spec.v4SubnetReference", "transitCIDR 198.18.20.0/24"}},
		{"subnet in 169.254/16", "169.254.100.0/24", "tgw-expose", []string{"spec.v4SubnetReference", "169.254.0.0/16"}},
		{"subnet overlapping an exposed VN", "172.16.0.0/16", "tgw-expose", []string{"spec.v4SubnetReference", "VirtualNetwork " + ns + "/exposed"}},
		{"subnet beside the exposed VN", "172.17.0.0/16", "tgw-expose", nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := virtualNetwork(t, ns, fmt.Sprintf("vn-%d", i), tc.cidr, expose(tc.tgw))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantRefused(t, err, tc.want...)
		})
	}

	t.Run("label added on update", func(t *testing.T) {
		vn, err := virtualNetwork(t, ns, "later", "10.0.200.0/24", nil)
		if err != nil {
			t.Fatalf("an unlabelled VN was refused: %v", err)
		}
		vn.SetLabels(expose("tgw-expose"))
		wantRefused(t, env.Client.Update(t.Context(), vn), "spec.v4SubnetReference", "overlaps VPC")
	})

	t.Run("CN2 updates an exposed VN whose TGW is gone", func(t *testing.T) {
		vn := &unstructured.Unstructured{}
		vn.SetGroupVersionKind(schemaVN())
		if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "exposed"}, vn); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Delete(t.Context(), target); err != nil {
			t.Fatal(err)
		}
		if err := unstructured.SetNestedField(vn.Object, "updated by CN2", "spec", "note"); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Update(t.Context(), vn); err != nil {
			t.Fatalf("an update that keeps the expose label was refused: %v", err)
		}
	})
}

// TestRouterPods: router pods get the crpd-node affinity, and one that contradicts it is
// refused; other pods are not touched.
func TestRouterPods(t *testing.T) {
	needEnv(t)
	ns := namespace(t, "")
	router := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": gsiv1.RouterPodAppLabel, gsiv1.TransitGatewayLabel: "tgw1", gsiv1.PeerIndexLabel: "0"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "crpd", Image: "gsi-router"}}},
		}
	}
	p := router("tgw1-peer-0")
	mustCreate(t, p)
	if !requires(p, gsiv1.CRPDNodeLabel, corev1.NodeSelectorOpExists) {
		t.Fatalf("router pod created without the crpd-node affinity: %+v", p.Spec.Affinity)
	}

	bad := router("tgw1-peer-1")
	bad.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: gsiv1.CRPDNodeLabel, Operator: corev1.NodeSelectorOpDoesNotExist}}}},
	}}}
	wantRefused(t, create(t, bad), "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]", "core.juniper.net/crpd-node DoesNotExist", "must run on a node labelled core.juniper.net/crpd-node")

	plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plain"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	mustCreate(t, plain)
	if plain.Spec.Affinity != nil {
		t.Fatalf("an unrelated pod was mutated: %+v", plain.Spec.Affinity)
	}
}

// TestCN2Pods: pods in CN2's namespaces are kept off crpd nodes, router pods there too
// are still put on them, pods elsewhere are untouched.
func TestCN2Pods(t *testing.T) {
	needEnv(t)
	contrail := namespace(t, "contrail")
	other := namespace(t, "")
	pod := func(ns, name string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-" + suffix(), Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	}
	vrouter := pod(contrail, "contrail-vrouter-nodes", map[string]string{"app": "contrail-vrouter-nodes"})
	// As a DaemonSet pod: pinned to its node by a matchFields term.
	vrouter.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-1"}}}}},
	}}}
	mustCreate(t, vrouter)
	if !requires(vrouter, gsiv1.CRPDNodeLabel, corev1.NodeSelectorOpDoesNotExist) || len(vrouter.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields) != 1 {
		t.Fatalf("vRouter pod not kept off crpd nodes: %+v", vrouter.Spec.Affinity)
	}
	control := pod(contrail, "contrail-control", nil)
	mustCreate(t, control)
	if !requires(control, gsiv1.CRPDNodeLabel, corev1.NodeSelectorOpDoesNotExist) {
		t.Fatalf("control node pod not kept off crpd nodes: %+v", control.Spec.Affinity)
	}
	routerThere := pod(contrail, "router", map[string]string{"app": gsiv1.RouterPodAppLabel})
	mustCreate(t, routerThere)
	if !requires(routerThere, gsiv1.CRPDNodeLabel, corev1.NodeSelectorOpExists) || requires(routerThere, gsiv1.CRPDNodeLabel, corev1.NodeSelectorOpDoesNotExist) {
		t.Fatalf("router pod in a CN2 namespace: %+v", routerThere.Spec.Affinity)
	}
	elsewhere := pod(other, "contrail-lookalike", map[string]string{"app": "contrail-vrouter-nodes"})
	mustCreate(t, elsewhere)
	if elsewhere.Spec.Affinity != nil {
		t.Fatalf("a pod outside CN2's namespaces was mutated: %+v", elsewhere.Spec.Affinity)
	}
}

// requires reports whether every required node selector term has key op.
func requires(p *corev1.Pod, key string, op corev1.NodeSelectorOperator) bool {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for _, term := range terms {
		found := false
		for _, e := range term.MatchExpressions {
			found = found || (e.Key == key && e.Operator == op)
		}
		if !found {
			return false
		}
	}
	return len(terms) > 0
}

// TestLicenseSecret: a license in use cannot be deleted or emptied; replacing it, or
// deleting it once unused, is fine; other Secrets are never involved.
func TestLicenseSecret(t *testing.T) {
	needEnv(t)
	ns := namespace(t, "")
	licenseSecret(t, ns, "crpd-license", []byte("license"))
	licenseSecret(t, ns, "spare-license", []byte("license"))
	unrelated := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unrelated"}, StringData: map[string]string{"password": "x"}}
	mustCreate(t, unrelated)
	user := tgw(ns, "licensed", "198.18.30.0/24", "169.254.60.0")
	mustCreate(t, user)
	get := func(name string) *corev1.Secret {
		s := &corev1.Secret{}
		if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	wantRefused(t, env.Client.Delete(t.Context(), get("crpd-license")), "metadata.name", "holds the router license of TransitGateway "+ns+"/licensed")
	s := get("crpd-license")
	s.Data[gsiv1.LicenseSecretKey] = []byte{}
	wantRefused(t, env.Client.Update(t.Context(), s), "data[crpd-license]", "cannot be emptied")
	s = get("crpd-license")
	delete(s.Data, gsiv1.LicenseSecretKey)
	wantRefused(t, env.Client.Update(t.Context(), s), "data[crpd-license]", "cannot be removed")
	s = get("crpd-license")
	s.Data[gsiv1.LicenseSecretKey] = []byte("renewed license")
	if err := env.Client.Update(t.Context(), s); err != nil {
		t.Fatalf("renewing the license refused: %v", err)
	}
	if err := env.Client.Delete(t.Context(), get("spare-license")); err != nil {
		t.Fatalf("deleting an unused license refused: %v", err)
	}
	if err := env.Client.Delete(t.Context(), get("unrelated")); err != nil {
		t.Fatalf("deleting an unrelated Secret refused: %v", err)
	}
	if err := env.Client.Delete(t.Context(), user); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(t.Context(), get("crpd-license")); err != nil {
		t.Fatalf("deleting the license after its TransitGateway refused: %v", err)
	}
}

// TestKubectlApplyShowsEveryViolation is what a user sees: kubectl apply of a manifest
// with several mistakes prints every one, each with its field, value and rule.
func TestKubectlApplyShowsEveryViolation(t *testing.T) {
	needEnv(t)
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl not found (run `make setup`): %v", err)
	}
	ns := namespace(t, "")
	licenseSecret(t, ns, "crpd-license", []byte("license"))
	vpc(t, "10.0.0.0/16")
	manifest := filepath.Join(t.TempDir(), "tgw.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: core.gsi.juniper.net/v1
kind: TransitGateway
metadata:
  name: tgw1
  namespace: `+ns+`
spec:
  subnetIDs: [subnet-0a1b2c3d]
  transitASN: 64513
  transitCIDR: 10.0.0.0/24
  bgpCidr: 169.254.5.0
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), kubectl, "--kubeconfig", env.Kubeconfig, "apply", "-f", manifest).CombinedOutput()
	if err == nil {
		t.Fatalf("kubectl apply succeeded:\n%s", out)
	}
	t.Logf("kubectl apply:\n%s", out)
	for _, want := range []string{
		`spec.transitCIDR: Invalid value: "10.0.0.0/24": overlaps VPC`,
		`spec.bgpCidr: Invalid value: "169.254.5.0": 169.254.5.0/29 (peer 0) is reserved by AWS`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kubectl output lacks %q", want)
		}
	}
}
