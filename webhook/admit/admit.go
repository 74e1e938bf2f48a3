// Package admit holds gsi's admission handlers (controller-runtime webhooks). They read
// what the rules need straight from the API server (never a cache, so a TransitGateway
// created a moment ago is seen by the next request) and hand it to webhook/rules, which
// decides. Every refusal is a 422 Invalid carrying all violations as field causes.
package admit

import (
	"net/http"
	"strings"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/webhook/rules"
)

// Paths the handlers are served at; manifests/webhook's configurations name them.
const (
	PathDefaultTransitGateway  = "/mutate-transitgateway"
	PathValidateTransitGateway = "/validate-transitgateway"
	PathValidateExposure       = "/validate-exposure"
	PathMutateRouterPod        = "/mutate-router-pod"
	PathValidateRouterPod      = "/validate-router-pod"
	PathMutateCN2Pod           = "/mutate-cn2-pod"
	PathValidateLicenseSecret  = "/validate-license-secret"
)

// Config is what the handlers need.
type Config struct {
	// Reader reads from the API server directly (a manager's APIReader, or a client).
	Reader client.Reader
	// Mapper finds the served version of CN2's kinds.
	Mapper meta.RESTMapper
	// Scheme decodes the admitted objects (Kubernetes and gsi types).
	Scheme *runtime.Scheme
	// GSINamespace is where the TransitGateways named by expose labels live.
	GSINamespace string
	// CN2Namespaces are the namespaces whose pods are CN2's own (kept off crpd nodes).
	CN2Namespaces []string
	// Defaults are filled into TransitGateways.
	Defaults rules.Defaults
	// Log is the handlers' logger.
	Log logr.Logger
}

func (c *Config) setDefaults() {
	if c.GSINamespace == "" {
		c.GSINamespace = gsiv1.DefaultNamespace
	}
	if c.CN2Namespaces == nil {
		c.CN2Namespaces = rules.DefaultCN2Namespaces
	}
	if c.Defaults.RouterImage == "" {
		c.Defaults.RouterImage = "gsi-router"
	}
}

// Hooks returns every webhook by path.
func Hooks(c Config) map[string]*admission.Webhook {
	c.setDefaults()
	return map[string]*admission.Webhook{
		PathDefaultTransitGateway:  admission.WithDefaulter[*gsiv1.TransitGateway](c.Scheme, &tgwDefaulter{c}),
		PathValidateTransitGateway: admission.WithValidator[*gsiv1.TransitGateway](c.Scheme, &tgwValidator{c}),
		PathValidateExposure:       newExposureWebhook(c),
		PathMutateRouterPod:        admission.WithDefaulter(c.Scheme, &routerPodDefaulter{}),
		PathValidateRouterPod:      admission.WithValidator(c.Scheme, &routerPodValidator{c}),
		PathMutateCN2Pod:           admission.WithDefaulter(c.Scheme, &cn2PodDefaulter{c}),
		PathValidateLicenseSecret:  admission.WithValidator(c.Scheme, &licenseValidator{c}),
	}
}

// Registrar is the part of a webhook.Server the handlers need.
type Registrar interface {
	Register(path string, hook http.Handler)
}

// Register serves every webhook on srv.
func Register(srv Registrar, c Config) {
	for path, hook := range Hooks(c) {
		srv.Register(path, hook)
	}
}

var denials = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "gsi_webhook_denials_total",
	Help: "Admission requests refused by gsi's webhook, by webhook and by the first field at fault.",
}, []string{"webhook", "field"})

func init() { metrics.Registry.MustRegister(denials) }

// invalid turns violations into the API's 422 Invalid (kubectl prints each field's
// message), or nil; it counts and logs the refusal.
func invalid(log logr.Logger, webhook string, gk schema.GroupKind, name string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	denials.WithLabelValues(webhook, fieldRoot(errs[0].Field)).Inc()
	fields := make([]string, 0, len(errs))
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	log.Info("refused", "webhook", webhook, "kind", gk.Kind, "name", name, "fields", fields)
	return apierrors.NewInvalid(gk, name, errs)
}

// fieldRoot keeps a metric label's cardinality low: spec.subnetIDs[3] → spec.subnetIDs.
func fieldRoot(f string) string {
	if i := strings.IndexAny(f, "["); i > 0 {
		return f[:i]
	}
	return f
}
