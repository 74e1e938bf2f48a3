// Command gsi-controller runs gsi's reconcilers: GSIPlugin, TransitGateway,
// ConnectedPeer and the exposure of CN2 VirtualNetworks into the VPC (docs/controller.md).
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/controller/manager"
)

func main() {
	var o manager.Options
	var verbose bool
	var pullPolicy string
	fs := flag.CommandLine
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus /metrics endpoint (0 disables it)")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz probes")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "elect one active replica through a Lease (run several replicas for availability)")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: --namespace)")
	fs.StringVar(&o.Namespace, "namespace", gsiv1.DefaultNamespace, "the gsi namespace: TransitGateways, Routes, the GSIPlugin")
	fs.StringVar(&o.ClusterName, "cluster-name", "", "value of the gsi.juniper.net/cluster tag on AWS resources (default: the kube-system namespace's UID)")
	fs.StringVar(&o.AWSRegion, "aws-region", os.Getenv("AWS_REGION"), "AWS region when the GSIPlugin names none")
	fs.StringVar(&o.AWSEndpoint, "aws-endpoint", "", "override the EC2 endpoint (e.g. the simulator, http://127.0.0.1:8081)")
	fs.IntVar(&o.AWSMaxAttempts, "aws-max-attempts", 0, "attempts per EC2 call, throttling and 5xx retried with backoff (default 10)")
	fs.DurationVar(&o.PollInterval, "aws-poll-interval", 0, "wait between checks of pending or deleting AWS resources (default 10s)")
	fs.DurationVar(&o.Resync, "resync-period", 0, "how often AWS is described again when nothing changed (default 10m)")
	fs.DurationVar(&o.RetryAfter, "retry-after", 0, "wait after a failure only the user can fix: IAM, quota, invalid spec (default 1m)")
	fs.IntVar(&o.RuleLimit, "sg-rule-limit", 0, "inbound rules per security group before spilling into another group (default 60, AWS's quota)")
	fs.StringVar(&o.Pod.RouterImage, "router-image", "gsi-router", "router image when the TransitGateway's crpdContainer names none")
	fs.StringVar(&o.Pod.InitImage, "init-image", "busybox:1.36", "license-check init image when the TransitGateway's initContainer names none")
	fs.StringVar(&o.Pod.ServiceAccount, "router-service-account", "gsi-router", "service account of the router pods")
	fs.StringVar(&pullPolicy, "image-pull-policy", string(corev1.PullIfNotPresent), "pull policy of the default router and init images")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 2, "reconciles run in parallel per controller")
	fs.BoolVar(&verbose, "v", false, "debug logging")
	flag.Parse()
	o.Pod.PullPolicy = corev1.PullPolicy(pullPolicy)

	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug - 1
	}
	log := logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctrl.SetLogger(log)
	o.Logger = log
	if err := run(o); err != nil {
		log.Error(err, "gsi-controller stopped")
		os.Exit(1)
	}
}

func run(o manager.Options) error {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubernetes client config: %w", err)
	}
	mgr, err := manager.New(cfg, o)
	if err != nil {
		return err
	}
	o.Logger.Info("starting gsi-controller", "namespace", o.Namespace, "leaderElection", o.LeaderElect,
		"awsEndpoint", o.AWSEndpoint, "awsRegionFallback", o.AWSRegion)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}
