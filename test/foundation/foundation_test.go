// Package foundation tests what every other part stands on: the generated CRDs and RBAC
// are current, the manifests render and grant no wildcard, and the API server accepts the
// CN2 guide's manifests unchanged while refusing objects that break a schema rule with a
// message naming the field.
package foundation

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/opengsi/gsi/test/envtest"
)

var env *envtest.Env

func TestMain(m *testing.M) {
	os.Exit(envtest.Main(m, &env))
}

func needEnv(t *testing.T) { t.Helper(); envtest.Need(t, env) }

func root() string { return envtest.RepoRoot() }

// kubectl runs the real kubectl against the test API server.
func kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	if env != nil {
		args = append([]string{"--kubeconfig", env.Kubeconfig}, args...)
	}
	cmd := exec.Command("kubectl", args...)
	cmd.Dir = root()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func TestGeneratedManifestsAreCurrent(t *testing.T) {
	gen := os.Getenv("CONTROLLER_GEN")
	if gen == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CONTROLLER_GEN is not set: run the tests with `make test`")
		}
		t.Skip("CONTROLLER_GEN is not set: run the tests with `make test`")
	}
	out := t.TempDir()
	cmd := exec.Command("bash", "hack/generate.sh", out)
	cmd.Dir = root()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/generate.sh: %v\n%s", err, b)
	}
	generated, err := filepath.Glob(filepath.Join(out, "*", "*", "*.yaml"))
	if err != nil || len(generated) == 0 {
		t.Fatalf("nothing generated: %v", err)
	}
	generated2, _ := filepath.Glob(filepath.Join(out, "crd", "bases", "*.yaml"))
	for _, g := range append(generated, generated2...) {
		rel, _ := filepath.Rel(out, g)
		want, _ := os.ReadFile(g)
		got, err := os.ReadFile(filepath.Join(root(), "manifests", rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("manifests/%s is stale or missing: run `make manifests` and commit the result", rel)
		}
	}
}

// renderedObjects renders every kustomization under manifests/ and reads each YAML file
// there, so no rule anywhere escapes the check.
func TestNoRBACRuleUsesAWildcard(t *testing.T) {
	var docs [][]byte
	err := filepath.Walk(filepath.Join(root(), "manifests"), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		docs = append(docs, splitYAML(t, b)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	roles := 0
	for _, d := range docs {
		var r rbacv1.ClusterRole // Role has the same shape
		if err := yaml.Unmarshal(d, &r); err != nil || (r.Kind != "ClusterRole" && r.Kind != "Role") {
			continue
		}
		roles++
		for i, rule := range r.Rules {
			for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames, rule.NonResourceURLs} {
				for _, v := range list {
					if strings.Contains(v, "*") {
						t.Errorf("%s %s rule %d grants %q: list exactly what the component needs", r.Kind, r.Name, i, v)
					}
				}
			}
		}
	}
	if roles < 4 {
		t.Fatalf("found only %d roles under manifests/; the walk is broken", roles)
	}
}

func splitYAML(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	r := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if err != nil {
			return out
		}
		if len(bytes.TrimSpace(doc)) > 0 {
			out = append(out, doc)
		}
	}
}

func TestKustomizationsRender(t *testing.T) {
	for _, dir := range []string{"manifests", "manifests/examples"} {
		out, err := kubectlNoCluster(t, "kustomize", dir)
		if err != nil {
			t.Fatalf("%s does not render: %v", dir, err)
		}
		if len(splitYAML(t, []byte(out))) < 3 {
			t.Errorf("%s rendered almost nothing:\n%s", dir, out)
		}
	}
}

func kubectlNoCluster(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("kubectl", args...)
	cmd.Dir = root()
	b, err := cmd.CombinedOutput()
	if err != nil {
		return string(b), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, b)
	}
	return string(b), nil
}

func TestInstallAndSourceDocumentManifestsApplyUnchanged(t *testing.T) {
	needEnv(t)
	// gsi's own installation, the way users install it (client-side apply: the CRDs
	// must fit in the last-applied annotation)
	if out, err := kubectl(t, "", "apply", "-k", "manifests"); err != nil {
		t.Fatalf("installing manifests/: %v\n%s", err, out)
	}
	// No gsi-webhook runs here (webhook/ tests it through a real API server), and its
	// configurations fail closed for TransitGateways: take them out for the schema's turn.
	if out, err := kubectl(t, "", "delete", "mutatingwebhookconfiguration,validatingwebhookconfiguration", "gsi-webhook"); err != nil {
		t.Fatalf("removing the webhook configurations: %v\n%s", err, out)
	}
	// then the guide's manifests, as users have them
	for _, f := range []string{"gsi.yaml", "license.yaml", "transitgateway.yaml"} {
		path := filepath.Join("test", "foundation", "testdata", "source", f)
		if out, err := kubectl(t, "", "apply", "--validate=strict", "-f", path); err != nil {
			t.Fatalf("the CN2 guide's %s was refused: %v\n%s", f, err, out)
		}
	}
	// and the examples shipped in manifests/examples
	if out, err := kubectl(t, "", "apply", "--validate=strict", "-k", "manifests/examples"); err != nil {
		t.Fatalf("manifests/examples: %v\n%s", err, out)
	}
	out, err := kubectl(t, "", "get", "transitgateway", "tgw1", "-n", "contrail-gsi", "-o", "jsonpath={.spec.bgpCidr} {.spec.connectedPeerScale} {.spec.licenseSecretName}")
	if err != nil {
		t.Fatal(err)
	}
	if out != "169.254.10.0 1 crpd-license" {
		t.Errorf("stored spec = %q", out)
	}
}

func TestExplainTeachesTheSpec(t *testing.T) {
	needEnv(t)
	// explain reads the OpenAPI the API server publishes, which follows CRD
	// registration by a moment
	var out string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) {
			var err error
			out, err = kubectl(t, "", "explain", "transitgateway.spec")
			return err == nil, nil
		})
	if err != nil {
		t.Fatalf("kubectl explain transitgateway.spec never succeeded: %v\n%s", err, out)
	}
	for _, want := range []string{
		"subnetIDs", "connectedPeerScale", "transitASN", "peerASN", "transitCIDR", "bgpCidr",
		"controlNodeASN", "licenseSecretName", "crpdContainer",
		"64512-65534 or 4200000000-4294967294", "base + 8*i", "1 to 4",
	} {
		// explain wraps lines wherever the terminal width falls
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("kubectl explain transitgateway.spec does not mention %q", want)
		}
	}
	t.Logf("kubectl explain transitgateway.spec:\n%s", out)
}
