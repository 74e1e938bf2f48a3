package plugin

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	k8scorev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "github.com/opengsi/gsi/api/core/v1"
)

// Shell completion of the names users type: TransitGateways, ConnectedPeers,
// VirtualNetworks and namespaces. Completion must never hang a shell, so each lookup
// has a short deadline, and failures complete nothing.

const completionTimeout = 5 * time.Second

type completeFunc = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective)

func completionContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, completionTimeout)
}

func matching(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// completeGateways completes TransitGateway names (first positional argument or flag).
func (o *Options) completeGateways(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 && cmd.Flags().Lookup("transit-gateway") == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := completionContext(cmd)
	defer cancel()
	names, err := o.gatewayNames(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return matching(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completePeers completes ConnectedPeer names.
func (o *Options) completePeers(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	ctx, cancel := completionContext(cmd)
	defer cancel()
	c, err := o.Client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var l corev1.ConnectedPeerList
	if err := c.List(ctx, &l, client.InNamespace(o.GSINamespace)); err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	names := make([]string, 0, len(l.Items))
	for _, p := range l.Items {
		names = append(names, p.Name)
	}
	return matching(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeVNs completes VirtualNetwork names in the -n namespace: those not exposed yet
// (for expose) or those exposed (for unexpose).
func (o *Options) completeVNs(exposed bool) completeFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := completionContext(cmd)
		defer cancel()
		ns, err := o.Namespace()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		r, err := o.CN2()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		vns, err := r.ListVirtualNetworks(ctx, client.InNamespace(ns))
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []string
		for _, vn := range vns {
			if _, labelled := vn.Labels[corev1.ExposeLabel]; labelled == exposed {
				names = append(names, vn.Name)
			}
		}
		return matching(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// registerNamespaceCompletion completes -n and --gsi-namespace with namespace names.
func registerNamespaceCompletion(cmd *cobra.Command, o *Options) {
	complete := func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		ctx, cancel := completionContext(cmd)
		defer cancel()
		c, err := o.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var l k8scorev1.NamespaceList
		if err := c.List(ctx, &l); err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		names := make([]string, 0, len(l.Items))
		for _, n := range l.Items {
			names = append(names, n.Name)
		}
		return matching(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	_ = cmd.RegisterFlagCompletionFunc("namespace", complete)
	_ = cmd.RegisterFlagCompletionFunc("gsi-namespace", complete)
}
