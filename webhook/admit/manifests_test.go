package admit

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/opengsi/gsi/test/envtest"
	"github.com/opengsi/gsi/webhook/rules"
)

// hookSpec is what the policy check needs of a mutating or validating webhook.
type hookSpec struct {
	name              string
	path              string
	policy            admissionregistrationv1.FailurePolicyType
	rules             []admissionregistrationv1.RuleWithOperations
	objectSelector    *metav1.LabelSelector
	namespaceSelector *metav1.LabelSelector
	matchConditions   int
	sideEffects       *admissionregistrationv1.SideEffectClass
	timeout           *int32
}

func readManifest(t *testing.T, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(envtest.RepoRoot(), "manifests", "webhook", name))
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	r := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if err != nil {
			return docs
		}
		docs = append(docs, doc)
	}
}

func manifestHooks(t *testing.T) []hookSpec {
	t.Helper()
	var out []hookSpec
	for _, doc := range readManifest(t, "webhooks.yaml") {
		var tm metav1.TypeMeta
		if err := sigsyaml.Unmarshal(doc, &tm); err != nil {
			t.Fatal(err)
		}
		switch tm.Kind {
		case "MutatingWebhookConfiguration":
			m := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := sigsyaml.UnmarshalStrict(doc, m); err != nil {
				t.Fatal(err)
			}
			for _, w := range m.Webhooks {
				out = append(out, hookSpec{w.Name, *w.ClientConfig.Service.Path, *w.FailurePolicy, w.Rules, w.ObjectSelector, w.NamespaceSelector, len(w.MatchConditions), w.SideEffects, w.TimeoutSeconds})
			}
		case "ValidatingWebhookConfiguration":
			v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := sigsyaml.UnmarshalStrict(doc, v); err != nil {
				t.Fatal(err)
			}
			for _, w := range v.Webhooks {
				out = append(out, hookSpec{w.Name, *w.ClientConfig.Service.Path, *w.FailurePolicy, w.Rules, w.ObjectSelector, w.NamespaceSelector, len(w.MatchConditions), w.SideEffects, w.TimeoutSeconds})
			}
		}
	}
	return out
}

// TestManifestPolicies guards the promise that an outage of gsi-webhook cannot stop
// unrelated objects: failurePolicy Fail only for gsi's own kinds or behind a narrow
// selector or match condition, Ignore for the broad CN2-pod mutation; and every path the
// configurations call is served.
func TestManifestPolicies(t *testing.T) {
	hooks := manifestHooks(t)
	scheme, err := envtest.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	served := Hooks(Config{Scheme: scheme})
	if len(hooks) != len(served) {
		t.Errorf("%d webhooks configured, %d served", len(hooks), len(served))
	}
	for _, h := range hooks {
		if _, ok := served[h.path]; !ok {
			t.Errorf("%s calls %s, which is not served", h.name, h.path)
		}
		if h.sideEffects == nil || *h.sideEffects != admissionregistrationv1.SideEffectClassNone || h.timeout == nil || *h.timeout > 5 {
			t.Errorf("%s: want sideEffects None (dry-run works) and a timeout of 5s or less", h.name)
		}
		ownKinds := true
		for _, r := range h.rules {
			ownKinds = ownKinds && slices.Equal(r.APIGroups, []string{"core.gsi.juniper.net"})
		}
		narrow := h.objectSelector != nil || h.matchConditions > 0
		if h.policy == admissionregistrationv1.Fail && !ownKinds && !narrow {
			t.Errorf("%s: failurePolicy Fail on objects that are not gsi's, without an object selector or match condition", h.name)
		}
		if h.namespaceSelector != nil && h.policy != admissionregistrationv1.Ignore {
			t.Errorf("%s: a namespace-wide webhook must be Ignore", h.name)
		}
	}
}

// TestCN2NamespacesInSync: the configuration's namespaceSelector, the Deployment's flag
// and the handler's default name the same CN2 namespaces.
func TestCN2NamespacesInSync(t *testing.T) {
	var selector []string
	for _, h := range manifestHooks(t) {
		if h.path == PathMutateCN2Pod {
			selector = h.namespaceSelector.MatchExpressions[0].Values
		}
	}
	var flag string
	for _, doc := range readManifest(t, "deployment.yaml") {
		d := &appsv1.Deployment{}
		if err := sigsyaml.Unmarshal(doc, d); err != nil || d.Kind != "Deployment" {
			continue
		}
		for _, a := range d.Spec.Template.Spec.Containers[0].Args {
			if v, ok := strings.CutPrefix(a, "--cn2-namespaces="); ok {
				flag = v
			}
		}
	}
	want := strings.Join(rules.DefaultCN2Namespaces, ",")
	if strings.Join(selector, ",") != want || flag != want {
		t.Fatalf("CN2 namespaces: selector %v, --cn2-namespaces %q, default %q", selector, flag, want)
	}
}

// TestCertManagerComponentRenders: the cert-manager alternative, added to an overlay of
// manifests/webhook, mounts cert-manager's Secret, serves it with --cert-dir and asks the
// CA injector for both configurations.
func TestCertManagerComponentRenders(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl not found (run `make setup`): %v", err)
	}
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, filepath.Join(envtest.RepoRoot(), "manifests", "webhook"))
	if err != nil {
		t.Fatal(err)
	}
	overlay := "resources: [" + rel + "]\ncomponents: [" + rel + "/cert-manager]\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(overlay), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), kubectl, "kustomize", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, out)
	}
	for _, want := range []string{"--cert-dir=/certs", "secretName: gsi-webhook-cert", "kind: Certificate", "kind: Issuer"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rendered overlay lacks %q", want)
		}
	}
	if n := strings.Count(string(out), "cert-manager.io/inject-ca-from: contrail-gsi/gsi-webhook"); n != 2 {
		t.Errorf("inject-ca-from on %d configurations, want 2", n)
	}
}
