package serve

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/opengsi/gsi/api/cn2"
	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/test/envtest"
	"github.com/opengsi/gsi/webhook/certs"
)

// TestServeEndToEnd runs gsi-webhook as the binary does, against a real API server with
// manifests/webhook's configurations (service references turned into a local URL, no
// caBundle): the webhook issues its certificate, patches the caBundle, and refusals come
// through. Then the webhook is stopped, and the failure policies are checked: gsi's own
// objects are refused, everything else (CN2's pods included) goes on.
func TestServeEndToEnd(t *testing.T) {
	ctrllog.SetLogger(logr.Discard())
	env := envtest.Start(t)
	c := env.Client
	ctx := t.Context()
	for _, ns := range []string{gsiv1.DefaultNamespace, "contrail", "apps"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	installConfigurations(t, c, fmt.Sprintf("https://127.0.0.1:%d", port))
	// The webhook runs as its ServiceAccount with nothing but the roles generated from
	// its +kubebuilder:rbac markers: a missing permission fails this test.
	cfg := asWebhookServiceAccount(t, env)

	stop := start(t, cfg, Options{
		Namespace: gsiv1.DefaultNamespace, ServiceName: "gsi-webhook", CertSecret: "gsi-webhook-tls", Configuration: "gsi-webhook",
		Host: "127.0.0.1", Port: port, ExtraIPs: []net.IP{net.ParseIP("127.0.0.1")},
		MetricsAddr: "0", ProbeAddr: "0", Log: testr.New(t),
	})

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: gsiv1.DefaultNamespace, Name: "crpd-license"}, Data: map[string][]byte{gsiv1.LicenseSecretKey: []byte("license")}}
	if err := c.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	bad := newTGW("bad", "169.254.5.0")
	err := waitForWebhook(t, func() error { return c.Create(ctx, bad.DeepCopy()) })
	if err == nil || !strings.Contains(err.Error(), "spec.bgpCidr") || !strings.Contains(err.Error(), "reserved by AWS") {
		t.Fatalf("the reserved inside block was not refused by the webhook: %v", err)
	}
	good := newTGW("tgw1", "169.254.10.0")
	if err := c.Create(ctx, good); err != nil {
		t.Fatalf("a valid TransitGateway was refused: %v", err)
	}
	if good.Spec.CrpdContainer == nil || good.Spec.CrpdContainer.Image != "gsi-router" {
		t.Fatalf("defaults not applied: %+v", good.Spec.CrpdContainer)
	}
	vn := &unstructured.Unstructured{}
	vn.SetGroupVersionKind(cn2.GroupKind(cn2.KindVirtualNetwork).WithVersion("v1alpha1"))
	vn.SetNamespace("apps")
	vn.SetName("blue")
	vn.SetLabels(map[string]string{gsiv1.ExposeLabel: "tgw-nope"})
	if err := c.Create(ctx, vn); err == nil || !strings.Contains(err.Error(), "no TransitGateway contrail-gsi/tgw-nope") {
		t.Fatalf("exposure through a missing TransitGateway: %v", err)
	}
	tlsSecret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: gsiv1.DefaultNamespace, Name: "gsi-webhook-tls"}, tlsSecret); err != nil || len(tlsSecret.Data[certs.KeyCABundle]) == 0 {
		t.Fatalf("certificate Secret: %v", err)
	}

	if err := stop(); err != nil {
		t.Fatalf("gsi-webhook stopped with %v", err)
	}

	// The cert-manager way: the same certificate from files (--cert-dir), no Secret or
	// configuration management.
	dir := t.TempDir()
	for name, key := range map[string]string{"tls.crt": certs.KeyCert, "tls.key": certs.KeyKey} {
		if err := os.WriteFile(filepath.Join(dir, name), tlsSecret.Data[key], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	stop = start(t, cfg, Options{
		Namespace: gsiv1.DefaultNamespace, ServiceName: "gsi-webhook", CertDir: dir,
		Host: "127.0.0.1", Port: port, MetricsAddr: "0", ProbeAddr: "0", Log: testr.New(t),
	})
	bad2 := newTGW("bad2", "169.254.5.0")
	if err := waitForWebhook(t, func() error { return c.Create(ctx, bad2.DeepCopy()) }); err == nil || !strings.Contains(err.Error(), "reserved by AWS") {
		t.Fatalf("--cert-dir: the reserved inside block was not refused by the webhook: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("gsi-webhook (--cert-dir) stopped with %v", err)
	}

	// Outage.
	err = c.Create(ctx, newTGW("during-outage", "169.254.30.0"))
	if err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
		t.Fatalf("a TransitGateway was admitted without its webhook (failurePolicy Fail): %v", err)
	}
	if err := c.Delete(ctx, secret); err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
		t.Fatalf("the license Secret was deleted without the webhook's check: %v", err)
	}
	for _, ns := range []string{"contrail", "apps"} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pod"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
		if err := c.Create(ctx, pod); err != nil {
			t.Fatalf("a pod in %s was blocked by the webhook outage: %v", ns, err)
		}
	}
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "db"}, StringData: map[string]string{"password": "x"}}
	if err := c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, other); err != nil {
		t.Fatalf("an unrelated Secret was blocked by the webhook outage: %v", err)
	}
}

// start runs gsi-webhook until the returned stop is called (or the test ends); stop
// returns Run's error.
func start(t *testing.T, cfg *rest.Config, o Options) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, o) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// asWebhookServiceAccount installs the generated RBAC (manifests/rbac/webhook/role.yaml,
// the bindings) and returns a config impersonating gsi-webhook's ServiceAccount.
func asWebhookServiceAccount(t *testing.T, env *envtest.Env) *rest.Config {
	t.Helper()
	root := envtest.RepoRoot()
	for _, f := range []string{"manifests/rbac/webhook/role.yaml", "manifests/webhook/rolebinding.yaml"} {
		createAll(t, env.Client, filepath.Join(root, f))
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "gsi-webhook"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "gsi-webhook"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "gsi-webhook", Namespace: gsiv1.DefaultNamespace}},
	}
	if err := env.Client.Create(t.Context(), crb); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + gsiv1.DefaultNamespace + ":gsi-webhook",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + gsiv1.DefaultNamespace, "system:authenticated"},
	}
	return cfg
}

// createAll creates every document of a YAML file.
func createAll(t *testing.T, c client.Client, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if err != nil {
			return
		}
		u := &unstructured.Unstructured{}
		if err := sigsyaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatal(err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := c.Create(t.Context(), u); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
}

func newTGW(name, bgpCidr string) *gsiv1.TransitGateway {
	return &gsiv1.TransitGateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: gsiv1.DefaultNamespace, Name: name},
		Spec: gsiv1.TransitGatewaySpec{
			SubnetIDs: []string{"subnet-0a1b2c3d"}, TransitASN: 64513, TransitCIDR: "192.0.2.0/24", BgpCidr: bgpCidr,
		},
	}
}

// waitForWebhook retries create until the webhook answers (the configuration's caBundle
// reaches the API server's webhook client asynchronously).
func waitForWebhook(t *testing.T, create func() error) error {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := create()
		if err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
			return err
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook never answered: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// installConfigurations creates manifests/webhook/webhooks.yaml's configurations, each
// service reference replaced by base+path, with no caBundle.
func installConfigurations(t *testing.T, c client.Client, base string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(envtest.RepoRoot(), "manifests", "webhook", "webhooks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := LocalConfigurations(b, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("%d configurations in webhooks.yaml, want 2", len(objs))
	}
	for _, o := range objs {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatalf("installing %s: %v", o.GetName(), err)
		}
	}
}
