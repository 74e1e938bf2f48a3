// Package manager assembles the gsi controller: a controller-runtime manager (leader
// election, health and readiness probes, Prometheus metrics) running the GSIPlugin,
// TransitGateway, ConnectedPeer and exposure reconcilers over one shared AWS provider.
package manager

import (
	"fmt"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/opengsi/gsi/api/cn2"
	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
	"github.com/opengsi/gsi/controller/aws"
	"github.com/opengsi/gsi/controller/cloud"
	"github.com/opengsi/gsi/controller/connectedpeer"
	"github.com/opengsi/gsi/controller/exposure"
	"github.com/opengsi/gsi/controller/gsiplugin"
	"github.com/opengsi/gsi/controller/transitgateway"
)

// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete,namespace=contrail-gsi
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// LeaderElectionID is the Lease the replicas compete for.
const LeaderElectionID = "gsi-controller.core.gsi.juniper.net"

// Options configure the controller (the flags of cmd/gsi-controller).
type Options struct {
	MetricsAddr             string
	ProbeAddr               string
	LeaderElect             bool
	LeaderElectionNamespace string

	// Namespace is the gsi namespace (TransitGateways, Routes, the GSIPlugin).
	Namespace   string
	ClusterName string

	// AWSRegion is the region when the GSIPlugin names none; AWSEndpoint overrides the
	// EC2 endpoint (the simulator); AWSCredentials overrides the default chain (tests).
	AWSRegion      string
	AWSEndpoint    string
	AWSMaxAttempts int
	AWSMaxBackoff  time.Duration
	AWSCredentials sdkaws.CredentialsProvider
	AWSRateLimits  map[string]aws.RateLimit

	PollInterval time.Duration
	Resync       time.Duration
	RetryAfter   time.Duration
	RuleLimit    int
	Pod          connectedpeer.PodOptions

	// NewAWSClient builds the EC2 clients (nil: aws.New); tests wrap the transport.
	NewAWSClient cloud.NewClientFunc

	MaxConcurrentReconciles int
	// SkipNameValidation lets tests run several managers in one process.
	SkipNameValidation bool
	Logger             logr.Logger
	Scheme             *runtime.Scheme
}

// Defaults fills unset options.
func (o *Options) Defaults() {
	if o.Namespace == "" {
		o.Namespace = gsiv1.DefaultNamespace
	}
	if o.LeaderElectionNamespace == "" {
		o.LeaderElectionNamespace = o.Namespace
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 10 * time.Second
	}
	if o.Resync <= 0 {
		o.Resync = 10 * time.Minute
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Minute
	}
	if o.RuleLimit <= 0 {
		o.RuleLimit = exposure.DefaultRuleLimit
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = 2
	}
	if o.Pod.RouterImage == "" {
		o.Pod.RouterImage = "gsi-router"
	}
	if o.Pod.InitImage == "" {
		o.Pod.InitImage = "busybox:1.36"
	}
	if o.Pod.ServiceAccount == "" {
		o.Pod.ServiceAccount = "gsi-router"
	}
	if o.Pod.PullPolicy == "" {
		o.Pod.PullPolicy = corev1.PullIfNotPresent
	}
}

// New builds the manager with every reconciler registered.
func New(cfg *rest.Config, o Options) (manager.Manager, error) {
	o.Defaults()
	if o.Scheme == nil {
		s, err := NewScheme()
		if err != nil {
			return nil, err
		}
		o.Scheme = s
	}
	routerPods, err := labels.Parse("app=" + gsiv1.RouterPodAppLabel)
	if err != nil {
		return nil, fmt.Errorf("router pod selector: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  o.Scheme,
		Logger:                  o.Logger,
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		// Step down cleanly on SIGTERM so a standby takes over without waiting out the lease.
		LeaderElectionReleaseOnCancel: true,
		// Only router pods are cached, not every pod of the cluster.
		Cache:  cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Pod{}: {Label: routerPods}}},
		Client: client.Options{Cache: &client.CacheOptions{Unstructured: true}},
		Controller: config.Controller{
			MaxConcurrentReconciles: o.MaxConcurrentReconciles,
			SkipNameValidation:      &o.SkipNameValidation,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := setup(mgr, o); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("readiness check: %w", err)
	}
	return mgr, nil
}

func setup(mgr manager.Manager, o Options) error {
	log := o.Logger.WithName("setup")
	provider := cloud.New(cloud.Config{
		Namespace: o.Namespace, ClusterName: o.ClusterName, Region: o.AWSRegion,
		AWS: aws.Config{Endpoint: o.AWSEndpoint, Credentials: o.AWSCredentials, MaxAttempts: o.AWSMaxAttempts, MaxBackoff: o.AWSMaxBackoff,
			RateLimits: o.AWSRateLimits, Registerer: ctrlmetrics.Registry, Logger: o.Logger.WithName("aws")},
		NewClient: o.NewAWSClient,
	}, mgr.GetClient(), mgr.GetAPIReader())
	reader := cn2.New(mgr.GetClient())
	if err := (&gsiplugin.Reconciler{Client: mgr.GetClient(), Cloud: provider, Recorder: mgr.GetEventRecorder("gsi-gsiplugin"),
		Resync: o.Resync, RetryAfter: o.RetryAfter}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("GSIPlugin controller: %w", err)
	}
	if err := (&transitgateway.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Cloud: provider,
		Recorder: mgr.GetEventRecorder("gsi-transitgateway"), PollInterval: o.PollInterval, Resync: o.Resync,
		RetryAfter: o.RetryAfter, RuleLimit: o.RuleLimit}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("TransitGateway controller: %w", err)
	}
	if err := (&connectedpeer.Reconciler{Client: mgr.GetClient(), Cloud: provider, CN2: reader,
		Recorder: mgr.GetEventRecorder("gsi-connectedpeer"), Pod: o.Pod, PollInterval: o.PollInterval, Resync: o.Resync,
		RetryAfter: o.RetryAfter}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("ConnectedPeer controller: %w", err)
	}
	if _, err := cn2.GVK(mgr.GetRESTMapper(), cn2.KindVirtualNetwork); err != nil {
		// Without CN2 there is nothing to expose; the rest of gsi still works.
		log.Error(err, "CN2 VirtualNetworks are not served: exposure is disabled until the controller restarts with CN2 installed")
		return nil
	}
	if err := (&exposure.VNReconciler{Client: mgr.GetClient(), CN2: reader, Recorder: mgr.GetEventRecorder("gsi-exposure"),
		Namespace: o.Namespace}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("exposure controller: %w", err)
	}
	return nil
}

// NewScheme knows the Kubernetes types and gsi's (CN2's are read as unstructured).
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, gsiv1.AddToScheme, pluginsv1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building scheme: %w", err)
		}
	}
	return s, nil
}
