package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opengsi/gsi/api/cn2"
	corev1 "github.com/opengsi/gsi/api/core/v1"
)

type exposeOptions struct {
	*Options
	gateway   string
	wait      bool
	timeout   time.Duration
	overwrite bool
}

func newExposeCommand(o *Options) *cobra.Command {
	eo := &exposeOptions{Options: o}
	cmd := &cobra.Command{
		Use:   "expose VIRTUAL-NETWORK",
		Short: "Route a CN2 virtual network's subnet into the VPC through a transit gateway",
		Long: `Label the CN2 VirtualNetwork with core.gsi.juniper.net/expose=<transit gateway>. The
controller then routes the VN's subnet from every VPC route table to the transit gateway,
opens it in the gsi-sg security group, and the routers advertise it over BGP.

With --wait, follow the Route until it is active in every VPC route table and advertised
to the transit gateway, printing progress; a route that fails or conflicts ends the wait
with exit code 6, running out of --timeout with exit code 5. A change refused by an
admission webhook exits with code 4 and shows the webhook's message as it was given.`,
		Example: `  kubectl gsi expose blue -n team-a
  kubectl gsi expose blue -n team-a --transit-gateway tgw1 --wait --timeout 5m`,
		Args:              exactlyOneArg("VIRTUAL-NETWORK"),
		ValidArgsFunction: o.completeVNs(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eo.run(cmd.Context(), cmd.OutOrStdout(), args[0])
		},
	}
	cmd.Flags().StringVarP(&eo.gateway, "transit-gateway", "t", "",
		"TransitGateway to expose through (default: the only one in --gsi-namespace)")
	cmd.Flags().BoolVar(&eo.wait, "wait", false, "wait until the route is in every VPC route table and advertised")
	cmd.Flags().DurationVar(&eo.timeout, "timeout", 5*time.Minute, "how long --wait waits")
	cmd.Flags().BoolVar(&eo.overwrite, "overwrite", false, "move a VN already exposed through another transit gateway")
	_ = cmd.RegisterFlagCompletionFunc("transit-gateway", o.completeGateways)
	return cmd
}

func exactlyOneArg(name string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageError("expected exactly one %s, got %d arguments", name, len(args))
		}
		return nil
	}
}

func (eo *exposeOptions) run(ctx context.Context, w io.Writer, name string) error {
	ns, err := eo.Namespace()
	if err != nil {
		return err
	}
	gw, err := eo.resolveGateway(ctx, eo.gateway)
	if err != nil {
		return err
	}
	vn, err := eo.getVN(ctx, ns, name)
	if err != nil {
		return err
	}
	eo.warnNotAvailable(ctx, gw)
	current, labelled := vn.GetLabels()[corev1.ExposeLabel]
	switch {
	case labelled && current == gw:
		fmt.Fprintf(w, "virtualnetwork %s/%s is already exposed through transitgateway %s\n", ns, name, gw)
	case labelled && !eo.overwrite:
		return usageError("virtualnetwork %s/%s is exposed through transitgateway %s; use --overwrite to move it to %s",
			ns, name, current, gw)
	default:
		if err := eo.setExposeLabel(ctx, vn, &gw); err != nil {
			return refusal(fmt.Sprintf("exposing virtualnetwork %s/%s", ns, name), err)
		}
		fmt.Fprintf(w, "virtualnetwork %s/%s exposed through transitgateway %s\n", ns, name, gw)
	}
	if !eo.wait {
		return nil
	}
	return eo.waitExposed(ctx, w, ns, name, gw)
}

// resolveGateway checks that the named TransitGateway exists; with no name it picks the
// only one there is.
func (o *Options) resolveGateway(ctx context.Context, name string) (string, error) {
	names, err := o.gatewayNames(ctx)
	if err != nil {
		return "", err
	}
	if name != "" {
		for _, n := range names {
			if n == name {
				return name, nil
			}
		}
		return "", o.gatewayNotFound(ctx, name)
	}
	switch len(names) {
	case 0:
		return "", withCode(ExitNotFound, fmt.Errorf(
			"no TransitGateway in namespace %s: create one first (see manifests/examples), or set --gsi-namespace", o.GSINamespace))
	case 1:
		return names[0], nil
	}
	return "", usageError("there are %d TransitGateways in namespace %s (%s): choose one with --transit-gateway",
		len(names), o.GSINamespace, strings.Join(names, ", "))
}

// warnNotAvailable tells the user, on stderr, when the TransitGateway cannot route yet:
// exposing still works, the routes follow once it is available.
func (o *Options) warnNotAvailable(ctx context.Context, name string) {
	c, err := o.Client()
	if err != nil {
		return
	}
	var g corev1.TransitGateway
	if err := c.Get(ctx, client.ObjectKey{Namespace: o.GSINamespace, Name: name}, &g); err != nil {
		return
	}
	if g.Status.State != corev1.StateAvailable {
		why := notReadyReason(g.Status.Conditions, corev1.ConditionAWSReady, corev1.ConditionPeersReady,
			corev1.ConditionLicensed, corev1.ConditionReady)
		state := string(g.Status.State)
		if state == "" {
			state = "not reconciled yet"
		}
		fmt.Fprintf(o.ErrOut, "warning: transitgateway %s is %s%s; the routes follow once it is available\n",
			name, state, suffix(why))
	}
}

func (o *Options) getVN(ctx context.Context, ns, name string) (*unstructured.Unstructured, error) {
	r, err := o.CN2()
	if err != nil {
		return nil, err
	}
	u, err := r.Empty(cn2.KindVirtualNetwork)
	if err != nil {
		return nil, err
	}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, withCode(ExitNotFound, fmt.Errorf("virtualnetwork %q not found in namespace %s", name, ns))
		}
		return nil, fmt.Errorf("getting virtualnetwork %s/%s: %w", ns, name, err)
	}
	return u, nil
}

// setExposeLabel sets the expose label to *value, or removes it when value is nil, with a
// merge patch that touches nothing else (the VN belongs to CN2).
func (o *Options) setExposeLabel(ctx context.Context, vn *unstructured.Unstructured, value *string) error {
	var v any
	if value != nil {
		v = *value
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{corev1.ExposeLabel: v}}})
	if err != nil {
		return fmt.Errorf("encoding patch: %w", err)
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	return c.Patch(ctx, vn, client.RawPatch(types.MergePatchType, patch))
}

type unexposeOptions struct {
	*Options
	wait    bool
	timeout time.Duration
}

func newUnexposeCommand(o *Options) *cobra.Command {
	uo := &unexposeOptions{Options: o}
	cmd := &cobra.Command{
		Use:   "unexpose VIRTUAL-NETWORK",
		Short: "Stop routing a virtual network into the VPC",
		Long: `Remove the core.gsi.juniper.net/expose label from the CN2 VirtualNetwork; the controller
withdraws its routes from the VPC route tables, gsi-sg and BGP. With --wait, follow until
the Route is gone.`,
		Example:           `  kubectl gsi unexpose blue -n team-a --wait`,
		Args:              exactlyOneArg("VIRTUAL-NETWORK"),
		ValidArgsFunction: o.completeVNs(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			return uo.run(cmd.Context(), cmd.OutOrStdout(), args[0])
		},
	}
	cmd.Flags().BoolVar(&uo.wait, "wait", false, "wait until the route is withdrawn")
	cmd.Flags().DurationVar(&uo.timeout, "timeout", 5*time.Minute, "how long --wait waits")
	return cmd
}

func (uo *unexposeOptions) run(ctx context.Context, w io.Writer, name string) error {
	ns, err := uo.Namespace()
	if err != nil {
		return err
	}
	vn, err := uo.getVN(ctx, ns, name)
	if err != nil {
		return err
	}
	gw, labelled := vn.GetLabels()[corev1.ExposeLabel]
	if !labelled {
		fmt.Fprintf(w, "virtualnetwork %s/%s is not exposed\n", ns, name)
	} else {
		if err := uo.setExposeLabel(ctx, vn, nil); err != nil {
			return refusal(fmt.Sprintf("unexposing virtualnetwork %s/%s", ns, name), err)
		}
		fmt.Fprintf(w, "virtualnetwork %s/%s unexposed from transitgateway %s\n", ns, name, gw)
	}
	if !uo.wait {
		return nil
	}
	return uo.waitWithdrawn(ctx, w, ns, name, uo.timeout)
}
