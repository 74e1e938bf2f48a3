package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/router/cluster"
	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/status"
)

// clusterFlags select the cluster as the config source (the router pod's mode).
type clusterFlags struct {
	enabled    bool
	kubeconfig string
	namespace  string
	peer       string
	nextHop    string
}

func (f *clusterFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.enabled, "cluster", false, "derive the config from the ConnectedPeer, its Routes and CN2's BGPRouters, and report sessions into the ConnectedPeer")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file; in-cluster config unless set")
	cmd.Flags().StringVar(&f.namespace, "namespace", envOr("GSI_NAMESPACE", corev1.DefaultNamespace), "namespace of the ConnectedPeer")
	cmd.Flags().StringVar(&f.peer, "connected-peer", os.Getenv("GSI_CONNECTED_PEER"), "name of this router's ConnectedPeer")
	cmd.Flags().StringVar(&f.nextHop, "next-hop", os.Getenv("GSI_NEXT_HOP"), "address exported to the control nodes; the ConnectedPeer's status.peerAddress unless set")
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// start opens the watches and returns the config stream and the status sink.
func (f *clusterFlags) start(ctx context.Context, log logr.Logger) (<-chan config.Config, status.Sink, error) {
	if f.peer == "" {
		return nil, nil, errors.New("--cluster needs --connected-peer (or GSI_CONNECTED_PEER)")
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client config: %w", err)
	}
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, nil, fmt.Errorf("scheme: %w", err)
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, nil, fmt.Errorf("scheme: %w", err)
	}
	src := &cluster.Source{Log: log, Namespace: f.namespace, Peer: f.peer}
	if f.nextHop != "" {
		if src.NextHop, err = netip.ParseAddr(f.nextHop); err != nil {
			return nil, nil, fmt.Errorf("--next-hop: %w", err)
		}
	}
	configs, err := src.Start(ctx, rc, scheme)
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		return nil, nil, fmt.Errorf("cluster client: %w", err)
	}
	return configs, &cluster.Sink{Client: c, Namespace: f.namespace, Peer: f.peer}, nil
}
