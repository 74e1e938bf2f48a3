package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/opengsi/gsi/test/envtest"
)

var env *envtest.Env

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	os.Exit(envtest.Main(m, &env))
}

func needEnv(t *testing.T) { t.Helper(); envtest.Need(t, env) }

// clock is a movable time source.
type clock struct{ now atomic.Pointer[time.Time] }

func (c *clock) Now() time.Time          { return *c.now.Load() }
func (c *clock) Set(t time.Time)         { c.now.Store(&t) }
func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.Set(t)
	return c
}

func serialOf(m *Manager) string        { return m.Leaf().SerialNumber.String() }
func bundleCerts(b []byte) int          { return len(parseCerts(b)) }
func ctxT(t *testing.T) context.Context { return t.Context() }
func strPtr(s string) *string           { return &s }
func failPolicy() *admissionregistrationv1.FailurePolicyType {
	p := admissionregistrationv1.Fail
	return &p
}

// serveWebhook serves an admission webhook over TLS with m's certificate: it refuses
// ConfigMaps named "deny-*" and counts calls.
func serveWebhook(t *testing.T, m *Manager) (url string, calls *atomic.Int64) {
	t.Helper()
	calls = &atomic.Int64{}
	hook := &admission.Webhook{Handler: admission.HandlerFunc(func(_ context.Context, req admission.Request) admission.Response {
		calls.Add(1)
		if strings.HasPrefix(req.Name, "deny-") {
			return admission.Denied("refused by the test webhook")
		}
		return admission.Allowed("")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: hook, TLSConfig: &tls.Config{GetCertificate: m.GetCertificate}, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("webhook server: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String() + "/check", calls
}

// installConfigurations registers name as a mutating and a validating configuration for
// ConfigMaps in namespace ns, pointing at url, with no CA bundle yet.
func installConfigurations(t *testing.T, name, ns, url string) {
	t.Helper()
	c := env.Client
	none := admissionregistrationv1.SideEffectClassNone
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
	}}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
	cc := admissionregistrationv1.WebhookClientConfig{URL: strPtr(url)}
	timeout := int32(5)
	mut := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "mutate.certs.test", ClientConfig: cc, Rules: rules, NamespaceSelector: sel, FailurePolicy: failPolicy(),
			SideEffects: &none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: &timeout,
		}},
	}
	val := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "validate.certs.test", ClientConfig: cc, Rules: rules, NamespaceSelector: sel, FailurePolicy: failPolicy(),
			SideEffects: &none, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: &timeout,
		}},
	}
	for _, o := range []client.Object{mut, val} {
		if err := c.Create(ctxT(t), o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), o) })
	}
}

func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	if err := env.Client.Create(ctxT(t), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), ns) })
	return ns.Name
}

// createConfigMap creates a ConfigMap through the webhooks and returns the error.
func createConfigMap(t *testing.T, ns, name string) error {
	t.Helper()
	return env.Client.Create(ctxT(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
}

// TestRotationThroughAPIServer issues, rotates the serving certificate, then the CA, and
// checks at each step that the real API server reaches the webhook over TLS with the
// patched caBundle. The clock is moved, not waited on: certificates live 2h (CA 3h) and
// the fake clock starts 1h55m in the past so every certificate is valid in real time.
func TestRotationThroughAPIServer(t *testing.T) {
	needEnv(t)
	real := time.Now()
	clk := newClock(real.Add(-115 * time.Minute))
	ns := newNamespace(t, "certs-")
	cfgName, secretName := "gsi-webhook-test-"+ns, "gsi-webhook-tls"
	m, err := New(Options{
		Client: env.Client, Namespace: ns, SecretName: secretName,
		DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")},
		MutatingConfigurations: []string{cfgName}, ValidatingConfigurations: []string{cfgName},
		CAValidity: 3 * time.Hour, CertValidity: 2 * time.Hour, Now: clk.Now, Log: testr.New(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	url, calls := serveWebhook(t, m)
	installConfigurations(t, cfgName, ns, url)

	if err := Ensure0(t, m); err != nil {
		t.Fatal(err)
	}
	step := func(name string) {
		t.Helper()
		before := calls.Load()
		if err := createConfigMap(t, ns, "ok-"+name); err != nil {
			t.Fatalf("%s: allowed ConfigMap refused: %v", name, err)
		}
		if err := createConfigMap(t, ns, "deny-"+name); err == nil || !strings.Contains(err.Error(), "refused by the test webhook") {
			t.Fatalf("%s: the webhook's refusal did not come through: %v", name, err)
		}
		// The allowed create passes the mutating and the validating webhook; the refused
		// one stops at the mutating webhook.
		if n := calls.Load() - before; n != 3 {
			t.Fatalf("%s: webhook called %d times, want 3", name, n)
		}
	}
	step("issued")
	caSerial, leafSerial := caOf(t, ns, secretName).SerialNumber.String(), serialOf(m)

	// Nothing is due: a second replica adopts the same certificate.
	replica, err := New(m.o)
	if err != nil {
		t.Fatal(err)
	}
	if err := replica.Ensure(ctxT(t)); err != nil || serialOf(replica) != leafSerial {
		t.Fatalf("replica: %v, serial %s want %s", err, serialOf(replica), leafSerial)
	}

	// 80 minutes on, a third of the serving certificate's life remains: new certificate,
	// same CA, same bundle.
	clk.Advance(80 * time.Minute)
	if err := m.Ensure(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if serialOf(m) == leafSerial || caOf(t, ns, secretName).SerialNumber.String() != caSerial {
		t.Fatalf("leaf rotation: serial %s (was %s), CA changed: %v", serialOf(m), leafSerial, caOf(t, ns, secretName).SerialNumber.String() != caSerial)
	}
	step("leaf-rotated")

	// 40 more minutes: the CA is due. New CA, bundle trusts old and new, new certificate.
	clk.Advance(40 * time.Minute)
	if err := m.Ensure(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if caOf(t, ns, secretName).SerialNumber.String() == caSerial {
		t.Fatal("CA not rotated")
	}
	if n := bundleCerts(bundleOf(t, cfgName)); n != 2 {
		t.Fatalf("caBundle during CA rotation holds %d CAs, want old and new", n)
	}
	step("ca-rotated")

	// The replica picks the rotation up from the Secret instead of issuing its own.
	if err := replica.Ensure(ctxT(t)); err != nil || serialOf(replica) != serialOf(m) {
		t.Fatalf("replica after rotation: %v, serial %s want %s", err, serialOf(replica), serialOf(m))
	}

	// Once the old CA has expired it leaves the bundle.
	clk.Advance(70 * time.Minute)
	if err := m.Ensure(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := bundleCerts(bundleOf(t, cfgName)); n != 1 {
		t.Fatalf("caBundle after the old CA expired holds %d CAs, want 1", n)
	}
	verify(t, m, clk.Now(), bundleOf(t, cfgName))
}

// Ensure0 checks the webhook refuses to serve before the first Ensure, then runs it.
func Ensure0(t *testing.T, m *Manager) error {
	t.Helper()
	if _, err := m.GetCertificate(nil); err == nil {
		t.Fatal("a certificate is served before Ensure")
	}
	return m.Ensure(ctxT(t))
}

func caOf(t *testing.T, ns, name string) *x509.Certificate {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(ctxT(t), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	ca, err := parseCert(s.Data[KeyCA])
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func bundleOf(t *testing.T, name string) []byte {
	t.Helper()
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := env.Client.Get(ctxT(t), client.ObjectKey{Name: name}, v); err != nil {
		t.Fatal(err)
	}
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := env.Client.Get(ctxT(t), client.ObjectKey{Name: name}, m); err != nil {
		t.Fatal(err)
	}
	if string(v.Webhooks[0].ClientConfig.CABundle) != string(m.Webhooks[0].ClientConfig.CABundle) {
		t.Fatal("mutating and validating configurations carry different CA bundles")
	}
	return v.Webhooks[0].ClientConfig.CABundle
}

// verify checks the served certificate chains to the bundle at time now.
func verify(t *testing.T, m *Manager, now time.Time, bundle []byte) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		t.Fatal("bundle holds no certificate")
	}
	if _, err := m.Leaf().Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, DNSName: "localhost"}); err != nil {
		t.Fatalf("served certificate does not verify against the bundle: %v", err)
	}
}

// TestPlanWithoutAPIServer covers the renewal decisions on their own.
func TestPlanWithoutAPIServer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := newClock(t0)
	m := &Manager{o: Options{DNSNames: []string{"gsi-webhook.contrail-gsi.svc"}, CAValidity: 30 * time.Second, CertValidity: 9 * time.Second, Now: clk.Now, Log: testr.New(t)}}
	b, changed, err := m.plan(&bundle{})
	if err != nil || !changed || b.ca == nil || b.leaf == nil || bundleCerts(b.bundlePEM) != 1 {
		t.Fatalf("first plan: %v %v %+v", err, changed, b)
	}
	clk.Advance(6 * time.Second) // a third of the leaf's 9.9s life is left at 5.7s
	b2, changed, err := m.plan(b)
	if err != nil || !changed || b2.ca != b.ca || b2.leaf.Equal(b.leaf) {
		t.Fatalf("leaf renewal: %v changed=%v sameCA=%v sameLeaf=%v", err, changed, b2.ca == b.ca, b2.leaf.Equal(b.leaf))
	}
	if _, changed, _ := m.plan(b2); changed {
		t.Fatal("a fresh bundle was changed")
	}
	// A certificate for other names is reissued.
	m.o.DNSNames = []string{"other.svc"}
	if b3, changed, _ := m.plan(b2); !changed || b3.leaf.DNSNames[0] != "other.svc" {
		t.Fatal("names change did not reissue")
	}
	m.o.DNSNames = []string{"gsi-webhook.contrail-gsi.svc"}
	// A leaf never outlives its CA.
	clk.Advance(15 * time.Second)
	b4, _, err := m.plan(b2)
	if err != nil || b4.leaf.NotAfter.After(b4.ca.NotAfter) {
		t.Fatalf("leaf %v outlives CA %v (%v)", b4.leaf.NotAfter, b4.ca.NotAfter, err)
	}
}

// TestStartRotatesWhileServing: the background loop picks up a due renewal by itself and
// the next TLS handshake gets the new certificate.
func TestStartRotatesWhileServing(t *testing.T) {
	needEnv(t)
	ns := newNamespace(t, "certs-loop-")
	clk := newClock(time.Now())
	m, err := New(Options{
		Client: env.Client, Namespace: ns, SecretName: "gsi-webhook-tls", DNSNames: []string{"localhost"},
		CAValidity: 3 * time.Hour, CertValidity: time.Hour, CheckInterval: 20 * time.Millisecond, Now: clk.Now, Log: testr.New(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	first := waitForLeaf(t, m, "")
	clk.Advance(45 * time.Minute) // past two thirds of the hour
	second := waitForLeaf(t, m, first)
	cert, err := m.GetCertificate(nil)
	if err != nil || cert.Leaf.SerialNumber.String() != second {
		t.Fatalf("handshakes still get the old certificate: %v", err)
	}
}

// waitForLeaf polls until the served certificate's serial differs from not.
func waitForLeaf(t *testing.T, m *Manager, not string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if l := m.Leaf(); l != nil && l.SerialNumber.String() != not {
			return l.SerialNumber.String()
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no new certificate served within 20s (still %q)", not)
	return ""
}
