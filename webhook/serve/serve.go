// Package serve runs gsi-webhook: a controller-runtime manager whose webhook server
// serves the handlers of webhook/admit with the certificate webhook/certs keeps current.
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/go-logr/logr"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
	"github.com/opengsi/gsi/webhook/admit"
	"github.com/opengsi/gsi/webhook/certs"
	"github.com/opengsi/gsi/webhook/rules"
)

// Options configure gsi-webhook.
type Options struct {
	// Namespace is the webhook's own namespace (Service, certificate Secret) and where
	// expose labels' TransitGateways live.
	Namespace string
	// ServiceName is the Service the API server calls; the certificate is for its names.
	ServiceName string
	// CertSecret is the Secret holding the CA and serving certificate.
	CertSecret string
	// CertDir, when set, serves tls.crt/tls.key from this directory (mounted by
	// cert-manager, which also injects the caBundle) instead of managing certificates.
	CertDir string
	// Configuration names the Mutating- and ValidatingWebhookConfiguration to patch.
	Configuration string
	// CN2Namespaces are the namespaces of CN2's own pods.
	CN2Namespaces []string
	// RouterImage is the default router image of TransitGateways.
	RouterImage string
	// Host and Port are where the webhook listens.
	Host string
	Port int
	// ExtraIPs are added to the certificate (a webhook reached by URL, as in tests).
	ExtraIPs []net.IP
	// CertValidity and CAValidity are the certificate lifetimes (defaults in webhook/certs).
	CertValidity, CAValidity time.Duration
	// MetricsAddr and ProbeAddr are the /metrics and /healthz,/readyz addresses ("0": off).
	MetricsAddr, ProbeAddr string
	// Log is the logger.
	Log logr.Logger
}

// Scheme knows the Kubernetes and gsi types the webhook decodes and reads.
func Scheme() (*k8sruntime.Scheme, error) {
	s := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{clientgoscheme.AddToScheme, gsiv1.AddToScheme, pluginsv1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building scheme: %w", err)
		}
	}
	return s, nil
}

// ServiceDNSNames are the names a Service answers to inside the cluster.
func ServiceDNSNames(service, namespace string) []string {
	return []string{
		service + "." + namespace + ".svc",
		service + "." + namespace + ".svc.cluster.local",
		service + "." + namespace,
		service,
	}
}

// Run serves until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	if o.Namespace == "" || o.ServiceName == "" || (o.CertDir == "" && (o.CertSecret == "" || o.Configuration == "")) {
		return errors.New("namespace and service names are required, and cert secret and configuration names unless a cert dir is given")
	}
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	var cm *certs.Manager
	if o.CertDir == "" {
		if cm, err = selfManaged(ctx, cfg, scheme, o); err != nil {
			return err
		}
	}
	mgr, err := newManager(cfg, scheme, cm, o)
	if err != nil {
		return err
	}
	admit.Register(mgr.GetWebhookServer(), admit.Config{
		Reader: mgr.GetAPIReader(), Mapper: mgr.GetRESTMapper(), Scheme: scheme,
		GSINamespace: o.Namespace, CN2Namespaces: o.CN2Namespaces,
		Defaults: rules.Defaults{RouterImage: o.RouterImage}, Log: o.Log.WithName("admit"),
	})
	o.Log.Info("starting gsi-webhook", "namespace", o.Namespace, "service", o.ServiceName, "port", o.Port,
		"cn2Namespaces", o.CN2Namespaces, "selfManagedCertificates", cm != nil)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the webhook server: %w", err)
	}
	return nil
}

// selfManaged prepares the webhook's own certificate before anything is served.
func selfManaged(ctx context.Context, cfg *rest.Config, scheme *k8sruntime.Scheme, o Options) (*certs.Manager, error) {
	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("creating API client: %w", err)
	}
	cm, err := certs.New(certs.Options{
		Client: direct, Namespace: o.Namespace, SecretName: o.CertSecret,
		DNSNames: ServiceDNSNames(o.ServiceName, o.Namespace), IPs: o.ExtraIPs,
		MutatingConfigurations: []string{o.Configuration}, ValidatingConfigurations: []string{o.Configuration},
		CertValidity: o.CertValidity, CAValidity: o.CAValidity, Log: o.Log.WithName("certs"),
	})
	if err != nil {
		return nil, err
	}
	// A failure to patch the configurations is retried by the certificate manager's loop;
	// a certificate that could not be made or loaded at all is fatal.
	if err := cm.Ensure(ctx); err != nil {
		if cm.Leaf() == nil {
			return nil, fmt.Errorf("preparing the serving certificate: %w", err)
		}
		o.Log.Error(err, "the CA bundle is not in the webhook configurations yet; retrying in the background")
	}
	return cm, nil
}

func newManager(cfg *rest.Config, scheme *k8sruntime.Scheme, cm *certs.Manager, o Options) (manager.Manager, error) {
	srv := webhook.NewServer(webhook.Options{
		Host:    o.Host,
		Port:    o.Port,
		CertDir: o.CertDir, // used only without self-managed certificates
		TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			if cm != nil {
				c.GetCertificate = cm.GetCertificate
			}
			c.MinVersion = tls.VersionTLS12
			// HTTP/1.1 only: the API server does not need HTTP/2, and this keeps the
			// server out of reach of HTTP/2 rapid-reset floods (CVE-2023-44487).
			c.NextProtos = []string{"http/1.1"}
		}},
	})
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                 scheme,
		Logger:                 o.Log,
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress: o.ProbeAddr,
		WebhookServer:          srv,
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if cm != nil {
		if err := mgr.Add(cm); err != nil {
			return nil, fmt.Errorf("adding the certificate manager: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return nil, fmt.Errorf("adding readiness check: %w", err)
	}
	return mgr, nil
}
