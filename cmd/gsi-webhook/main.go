// Command gsi-webhook serves gsi's admission webhooks: TransitGateway defaults and
// validation, VirtualNetwork exposure checks, router and CN2 pod placement and license
// Secret protection. It manages its own TLS certificate (docs/webhook.md).
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/webhook/rules"
	"github.com/opengsi/gsi/webhook/serve"
)

func main() {
	var o serve.Options
	var verbose bool
	var cn2Namespaces, extraIPs string
	fs := flag.CommandLine
	fs.StringVar(&o.Namespace, "namespace", gsiv1.DefaultNamespace, "the webhook's namespace (Service, certificate Secret) and the TransitGateways' for expose labels")
	fs.StringVar(&o.ServiceName, "service", "gsi-webhook", "Service the API server calls; the certificate carries its DNS names")
	fs.StringVar(&o.CertSecret, "cert-secret", "gsi-webhook-tls", "Secret holding the webhook's CA and serving certificate (created and rotated by the webhook)")
	fs.StringVar(&o.CertDir, "cert-dir", "", "serve tls.crt/tls.key from this directory (cert-manager) instead of managing the certificate")
	fs.StringVar(&o.Configuration, "configuration", "gsi-webhook", "name of the Mutating- and ValidatingWebhookConfiguration whose caBundle is kept current")
	fs.StringVar(&cn2Namespaces, "cn2-namespaces", strings.Join(rules.DefaultCN2Namespaces, ","), "comma-separated namespaces of CN2's own pods, kept off crpd nodes (keep in sync with the MutatingWebhookConfiguration's namespaceSelector)")
	fs.StringVar(&o.RouterImage, "router-image", "gsi-router", "router image a TransitGateway's crpdContainer gets when it names none")
	fs.StringVar(&o.Host, "host", "", "address the webhook listens on (default: all)")
	fs.IntVar(&o.Port, "port", 9443, "port the webhook listens on")
	fs.StringVar(&extraIPs, "cert-ips", "", "comma-separated IP addresses added to the certificate (a webhook reached by URL)")
	fs.DurationVar(&o.CertValidity, "cert-validity", 0, "serving certificate lifetime, renewed with a third left (default 90 days)")
	fs.DurationVar(&o.CAValidity, "ca-validity", 0, "CA lifetime, renewed with a third left (default 3 years)")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus /metrics endpoint (0 disables it)")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz probes")
	fs.BoolVar(&verbose, "v", false, "debug logging")
	flag.Parse()

	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug - 1
	}
	log := logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctrl.SetLogger(log)
	o.Log = log
	if err := run(o, cn2Namespaces, extraIPs); err != nil {
		log.Error(err, "gsi-webhook stopped")
		os.Exit(1)
	}
}

func run(o serve.Options, cn2Namespaces, extraIPs string) error {
	o.CN2Namespaces = splitList(cn2Namespaces)
	for _, s := range splitList(extraIPs) {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("--cert-ips: %q is not an IP address", s)
		}
		o.ExtraIPs = append(o.ExtraIPs, ip)
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubernetes client config: %w", err)
	}
	return serve.Run(ctrl.SetupSignalHandler(), cfg, o)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
