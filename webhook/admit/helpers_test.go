package admit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opengsi/gsi/api/cn2"
	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
)

func ptr[T any](v T) *T { return &v }

// suffix makes names unique per test run.
func suffix() string { return fmt.Sprintf("%06x", rand.IntN(1<<24)) }

// namespace returns a fresh namespace (or ensures a fixed one exists).
func namespace(t *testing.T, name string) string {
	t.Helper()
	if name == "" {
		name = "t-" + suffix()
	}
	err := env.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return name
}

// create creates obj and deletes it when the test ends (t.Cleanup runs last-in first-out,
// so a TransitGateway goes before the license Secret it uses).
func create(t *testing.T, obj client.Object) error {
	t.Helper()
	err := env.Client.Create(t.Context(), obj)
	if err == nil {
		cleanup(t, obj)
	}
	return err
}

func mustCreate(t *testing.T, obj client.Object) {
	t.Helper()
	if err := create(t, obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func cleanup(t *testing.T, obj client.Object) {
	t.Cleanup(func() {
		if err := env.Client.Delete(context.Background(), obj); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("cleanup of %T %s: %v", obj, obj.GetName(), err)
		}
	})
}

// licenseSecret creates a Secret with data under the license key (nil: no key).
func licenseSecret(t *testing.T, ns, name string, data []byte) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{"other": []byte("x")}}
	if data != nil {
		s.Data[gsiv1.LicenseSecretKey] = data
	}
	mustCreate(t, s)
}

// vpc records cidrs as a VPC's CIDRs in a GSIPlugin's status, as the controller does.
func vpc(t *testing.T, cidrs ...string) {
	t.Helper()
	ns := namespace(t, "")
	p := &pluginsv1alpha1.GSIPlugin{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gsi"},
		Spec:       pluginsv1alpha1.GSIPluginSpec{AWSRegion: "us-east-1", VPCID: "vpc-0a1b2c3d4e5f60001"},
	}
	mustCreate(t, p)
	p.Status.VPCCIDRs = cidrs
	if err := env.Client.Status().Update(t.Context(), p); err != nil {
		t.Fatal(err)
	}
}

// tgw is a valid TransitGateway (the CN2 guide's example) in ns.
func tgw(ns, name, transitCIDR, bgpCidr string) *gsiv1.TransitGateway {
	return &gsiv1.TransitGateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gsiv1.TransitGatewaySpec{
			SubnetIDs:          []string{"subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"},
			ConnectedPeerScale: 1,
			TransitASN:         64513,
			PeerASN:            ptr(int64(64513)),
			TransitCIDR:        transitCIDR,
			BgpCidr:            bgpCidr,
			ControlNodeASN:     64512,
			LicenseSecretName:  "crpd-license",
		},
	}
}

// wantRefused asserts err is a refusal whose message has every part.
func wantRefused(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want a refusal mentioning %q", parts)
	}
	if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) && !apierrors.IsBadRequest(err) {
		t.Fatalf("want a refusal, got %v", err)
	}
	t.Logf("refused: %v", err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("refusal lacks %q:\n%v", p, err)
		}
	}
}

// applyFile creates every object of a YAML file (several documents) as unstructured.
func applyFile(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	r := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if err != nil {
			break
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) == 0 || u.GetKind() == "Kustomization" {
			continue
		}
		if u.GetKind() == "Namespace" {
			namespace(t, u.GetName()) // kept: envtest has no controller to finish deleting one
			continue
		}
		if err := create(t, u); err != nil {
			t.Fatalf("%s: %s %s refused: %v", path, u.GetKind(), u.GetName(), err)
		}
		out = append(out, u)
	}
	return out
}

// subnet creates a CN2 Subnet with cidr and a VirtualNetwork using it, labelled with
// labels, and returns the VN (created or not) and the error.
func virtualNetwork(t *testing.T, ns, name, cidr string, labels map[string]string) (*unstructured.Unstructured, error) {
	t.Helper()
	s := &unstructured.Unstructured{}
	s.SetGroupVersionKind(cn2.GroupKind(cn2.KindSubnet).WithVersion("v1alpha1"))
	s.SetNamespace(ns)
	s.SetName(name + "-v4")
	if err := unstructured.SetNestedField(s.Object, cidr, "spec", "cidr"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s)
	vn := &unstructured.Unstructured{}
	vn.SetGroupVersionKind(cn2.GroupKind(cn2.KindVirtualNetwork).WithVersion("v1alpha1"))
	vn.SetNamespace(ns)
	vn.SetName(name)
	vn.SetLabels(labels)
	ref := map[string]any{"apiVersion": "core.contrail.juniper.net/v1alpha1", "kind": "Subnet", "namespace": ns, "name": name + "-v4"}
	if err := unstructured.SetNestedMap(vn.Object, ref, "spec", "v4SubnetReference"); err != nil {
		t.Fatal(err)
	}
	return vn, create(t, vn)
}

func schemaVN() schema.GroupVersionKind {
	return cn2.GroupKind(cn2.KindVirtualNetwork).WithVersion("v1alpha1")
}
