// Package certs manages the webhook's own TLS: a self-signed CA and a serving certificate
// kept in a Secret (shared by every replica), the CA bundle patched into the webhook's
// Mutating/ValidatingWebhookConfigurations, and rotation before expiry. When the CA itself
// is renewed, the configurations trust the old and the new CA until the old one expires,
// and the caBundle is patched before the new certificate is served, so the API server
// never meets a certificate it cannot verify.
package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// +kubebuilder:rbac:groups="",resources=secrets,verbs=create,namespace=contrail-gsi
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;update,resourceNames=gsi-webhook-tls,namespace=contrail-gsi
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=get;update,resourceNames=gsi-webhook

// Keys of the Secret.
const (
	KeyCert     = corev1.TLSCertKey       // serving certificate
	KeyKey      = corev1.TLSPrivateKeyKey // its key
	KeyCA       = "ca.crt"                // the current CA
	KeyCAKey    = "ca.key"                // the current CA's key
	KeyCABundle = "ca-bundle.crt"         // CAs the API server must trust: current, then previous
)

// clockSkew backdates NotBefore so nodes whose clocks lag a little accept a new
// certificate; short-lived certificates (tests) are backdated by a tenth of their life.
const clockSkew = 5 * time.Minute

func backdate(now time.Time, validity time.Duration) time.Time {
	return now.Add(-min(clockSkew, validity/10))
}

// Options configure a Manager.
type Options struct {
	// Client reads and writes the Secret and the webhook configurations.
	Client client.Client
	// Namespace and SecretName locate the Secret holding the CA and certificate.
	Namespace, SecretName string
	// DNSNames and IPs are the serving certificate's names (the Service's DNS names).
	DNSNames []string
	IPs      []net.IP
	// MutatingConfigurations and ValidatingConfigurations are patched with the CA bundle.
	MutatingConfigurations, ValidatingConfigurations []string
	// CAValidity and CertValidity are the lifetimes; both are renewed when a third of
	// their life remains. Defaults: 3 years and 90 days.
	CAValidity, CertValidity time.Duration
	// CheckInterval is how often the Secret is re-read (another replica may have
	// rotated it) when no renewal is due sooner. Default 10 minutes.
	CheckInterval time.Duration
	// Now is the clock (tests move it). Default time.Now.
	Now func() time.Time
	// Log receives rotation events.
	Log logr.Logger
}

// Manager keeps the serving certificate valid and trusted.
type Manager struct {
	o       Options
	current atomic.Pointer[tls.Certificate]
	leaf    atomic.Pointer[x509.Certificate]
}

// New returns a Manager; call Ensure before serving, then Start.
func New(o Options) (*Manager, error) {
	if o.Client == nil || o.Namespace == "" || o.SecretName == "" || len(o.DNSNames) == 0 {
		return nil, errors.New("certs: Client, Namespace, SecretName and DNSNames are required")
	}
	if o.CAValidity == 0 {
		o.CAValidity = 3 * 365 * 24 * time.Hour
	}
	if o.CertValidity == 0 {
		o.CertValidity = 90 * 24 * time.Hour
	}
	if o.CertValidity > o.CAValidity {
		return nil, fmt.Errorf("certs: CertValidity %s exceeds CAValidity %s", o.CertValidity, o.CAValidity)
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Manager{o: o}, nil
}

// GetCertificate serves the current certificate (tls.Config.GetCertificate).
func (m *Manager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := m.current.Load()
	if c == nil {
		return nil, errors.New("certs: no serving certificate loaded yet")
	}
	return c, nil
}

// Leaf returns the certificate being served, nil before the first Ensure.
func (m *Manager) Leaf() *x509.Certificate { return m.leaf.Load() }

// NeedLeaderElection is false: every replica serves, so every replica keeps its
// certificate current (the Secret's resourceVersion arbitrates concurrent rotations).
func (m *Manager) NeedLeaderElection() bool { return false }

// Start re-checks until ctx ends: at the next renewal time, or every CheckInterval.
func (m *Manager) Start(ctx context.Context) error {
	for {
		wait := m.o.CheckInterval
		if err := m.Ensure(ctx); err != nil {
			m.o.Log.Error(err, "keeping the webhook certificate current; retrying")
			wait = min(wait, time.Minute)
		} else if leaf := m.Leaf(); leaf != nil {
			wait = min(wait, max(time.Second, renewAt(leaf).Sub(m.o.Now())))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Ensure makes the Secret hold a CA and a serving certificate that are not due for
// renewal, patches the CA bundle into the webhook configurations, and then serves the
// certificate. It is idempotent and safe to run from several replicas.
func (m *Manager) Ensure(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		secret, b, err := m.load(ctx)
		if err != nil {
			return err
		}
		next, changed, err := m.plan(b)
		if err != nil {
			return err
		}
		if changed {
			err = m.store(ctx, secret, next)
			if (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) && attempt < 3 {
				continue // another replica rotated first: adopt what it wrote
			}
			if err != nil {
				return err
			}
		}
		if err := m.patchConfigurations(ctx, next.bundlePEM); err != nil {
			if m.current.Load() == nil {
				// Nothing is served yet: serve anyway, so the pod can become ready and
				// the patch is retried; nobody calls a webhook that is not configured.
				err = errors.Join(err, m.serve(next))
			}
			return err
		}
		return m.serve(next)
	}
}

// bundle is the Secret's content, parsed.
type bundle struct {
	caPEM, caKeyPEM, certPEM, keyPEM, bundlePEM []byte
	ca, leaf                                    *x509.Certificate
	caKey                                       *ecdsa.PrivateKey
}

func (m *Manager) load(ctx context.Context) (*corev1.Secret, *bundle, error) {
	s := &corev1.Secret{}
	err := m.o.Client.Get(ctx, client.ObjectKey{Namespace: m.o.Namespace, Name: m.o.SecretName}, s)
	if apierrors.IsNotFound(err) {
		return nil, &bundle{}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading webhook certificate Secret %s/%s: %w", m.o.Namespace, m.o.SecretName, err)
	}
	b := &bundle{caPEM: s.Data[KeyCA], caKeyPEM: s.Data[KeyCAKey], certPEM: s.Data[KeyCert], keyPEM: s.Data[KeyKey], bundlePEM: s.Data[KeyCABundle]}
	b.ca, _ = parseCert(b.caPEM)
	b.leaf, _ = parseCert(b.certPEM)
	b.caKey, _ = parseKey(b.caKeyPEM)
	return s, b, nil
}

// plan decides what the Secret must hold now: the same bundle, a new serving
// certificate, or a new CA and certificate.
func (m *Manager) plan(b *bundle) (*bundle, bool, error) {
	now := m.o.Now()
	next := *b
	changed := false
	if b.ca == nil || b.caKey == nil || !now.Before(renewAt(b.ca)) {
		ca, caKey, err := newCA(now, m.o.CAValidity)
		if err != nil {
			return nil, false, err
		}
		m.o.Log.Info("issued a new webhook CA", "notAfter", ca.NotAfter, "previousCA", b.ca != nil)
		next.ca, next.caKey = ca, caKey
		next.caPEM = pemCert(ca)
		if next.caKeyPEM, err = pemKey(caKey); err != nil {
			return nil, false, err
		}
		next.leaf = nil // the serving certificate must come from the new CA
		changed = true
	}
	if !m.leafGood(next.leaf, next.ca, now) {
		leaf, key, err := newLeaf(now, m.o.CertValidity, next.ca, next.caKey, m.o.DNSNames, m.o.IPs)
		if err != nil {
			return nil, false, err
		}
		m.o.Log.Info("issued a new webhook serving certificate", "notAfter", leaf.NotAfter)
		next.leaf, next.certPEM = leaf, pemCert(leaf)
		if next.keyPEM, err = pemKey(key); err != nil {
			return nil, false, err
		}
		changed = true
	}
	trusted := trustBundle(next.ca, b.bundlePEM, now)
	if !bytes.Equal(trusted, b.bundlePEM) {
		next.bundlePEM, changed = trusted, true
	}
	return &next, changed, nil
}

// leafGood reports a serving certificate signed by ca, not due for renewal, with our names.
func (m *Manager) leafGood(leaf, ca *x509.Certificate, now time.Time) bool {
	if leaf == nil || ca == nil || !now.Before(renewAt(leaf)) || leaf.CheckSignatureFrom(ca) != nil {
		return false
	}
	if !slices.Equal(leaf.DNSNames, m.o.DNSNames) || len(leaf.IPAddresses) != len(m.o.IPs) {
		return false
	}
	for i, ip := range m.o.IPs {
		if !leaf.IPAddresses[i].Equal(ip) {
			return false
		}
	}
	return leaf.NotAfter.Before(ca.NotAfter) || leaf.NotAfter.Equal(ca.NotAfter)
}

// trustBundle is the current CA followed by the previous CAs that are still valid.
func trustBundle(ca *x509.Certificate, old []byte, now time.Time) []byte {
	out := pemCert(ca)
	for _, c := range parseCerts(old) {
		if c.Equal(ca) || now.After(c.NotAfter) {
			continue
		}
		out = append(out, pemCert(c)...)
	}
	return out
}

// renewAt is when a third of the certificate's life remains.
func renewAt(c *x509.Certificate) time.Time {
	return c.NotAfter.Add(-c.NotAfter.Sub(c.NotBefore) / 3)
}

func (m *Manager) store(ctx context.Context, s *corev1.Secret, b *bundle) error {
	data := map[string][]byte{KeyCert: b.certPEM, KeyKey: b.keyPEM, KeyCA: b.caPEM, KeyCAKey: b.caKeyPEM, KeyCABundle: b.bundlePEM}
	if s == nil {
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: m.o.Namespace, Name: m.o.SecretName, Labels: map[string]string{"app.kubernetes.io/name": "gsi-webhook"}},
			Type:       corev1.SecretTypeTLS,
			Data:       data,
		}
		if err := m.o.Client.Create(ctx, s); err != nil {
			return fmt.Errorf("creating webhook certificate Secret %s/%s: %w", m.o.Namespace, m.o.SecretName, err)
		}
		return nil
	}
	s.Data = data
	if err := m.o.Client.Update(ctx, s); err != nil {
		return fmt.Errorf("updating webhook certificate Secret %s/%s: %w", m.o.Namespace, m.o.SecretName, err)
	}
	return nil
}

// patchConfigurations puts caBundle into every webhook of the configurations. A missing
// configuration is an error: the webhook is not installed yet and Start retries.
func (m *Manager) patchConfigurations(ctx context.Context, caBundle []byte) error {
	for _, name := range m.o.MutatingConfigurations {
		c := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := m.o.Client.Get(ctx, client.ObjectKey{Name: name}, c); err != nil {
			return fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", name, err)
		}
		changed := false
		for i := range c.Webhooks {
			changed = setBundle(&c.Webhooks[i].ClientConfig, caBundle) || changed
		}
		if err := m.update(ctx, c, changed, "MutatingWebhookConfiguration "+name); err != nil {
			return err
		}
	}
	for _, name := range m.o.ValidatingConfigurations {
		c := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := m.o.Client.Get(ctx, client.ObjectKey{Name: name}, c); err != nil {
			return fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", name, err)
		}
		changed := false
		for i := range c.Webhooks {
			changed = setBundle(&c.Webhooks[i].ClientConfig, caBundle) || changed
		}
		if err := m.update(ctx, c, changed, "ValidatingWebhookConfiguration "+name); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) update(ctx context.Context, obj client.Object, changed bool, what string) error {
	if !changed {
		return nil
	}
	if err := m.o.Client.Update(ctx, obj); err != nil {
		return fmt.Errorf("patching the CA bundle into %s: %w", what, err)
	}
	m.o.Log.Info("patched the CA bundle", "configuration", what)
	return nil
}

func setBundle(cc *admissionregistrationv1.WebhookClientConfig, caBundle []byte) bool {
	if bytes.Equal(cc.CABundle, caBundle) {
		return false
	}
	cc.CABundle = slices.Clone(caBundle)
	return true
}

func (m *Manager) serve(b *bundle) error {
	pair, err := tls.X509KeyPair(b.certPEM, b.keyPEM)
	if err != nil {
		return fmt.Errorf("loading the webhook serving certificate: %w", err)
	}
	if old := m.leaf.Load(); old == nil || !old.Equal(b.leaf) {
		m.o.Log.Info("serving webhook certificate", "serial", b.leaf.SerialNumber.String(), "notAfter", b.leaf.NotAfter)
	}
	pair.Leaf = b.leaf
	m.current.Store(&pair)
	m.leaf.Store(b.leaf)
	return nil
}

func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return n, nil
}

func newCA(now time.Time, validity time.Duration) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("CA key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "gsi-webhook-ca", Organization: []string{"gsi"}},
		NotBefore:             backdate(now, validity),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing the new CA: %w", err)
	}
	return ca, key, nil
}

func newLeaf(now time.Time, validity time.Duration, ca *x509.Certificate, caKey *ecdsa.PrivateKey, dns []string, ips []net.IP) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("serving key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter // a certificate cannot outlive its CA
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: dns[0], Organization: []string{"gsi"}},
		NotBefore:    backdate(now, validity),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the serving certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing the new serving certificate: %w", err)
	}
	return leaf, key, nil
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func pemKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encoding key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func parseCert(p []byte) (*x509.Certificate, error) {
	certs := parseCerts(p)
	if len(certs) == 0 {
		return nil, errors.New("no certificate")
	}
	return certs[0], nil
}

func parseCerts(p []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, p = pem.Decode(p)
		if block == nil {
			return out
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil && block.Type == "CERTIFICATE" {
			out = append(out, c)
		}
	}
}

func parseKey(p []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(p)
	if block == nil {
		return nil, errors.New("no key")
	}
	k, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing CA key: %w", err)
	}
	return k, nil
}
