// Package plugin implements `kubectl gsi`: exposing CN2 virtual networks through a
// TransitGateway and reading the state of the Gateway Service Instance (transit
// gateways, connected peers and their BGP sessions, routes) from its custom resources.
// It never execs into pods: everything it shows comes from objects and their status.
package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opengsi/gsi/api/cn2"
	corev1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"

	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// BuildInfo describes the binary; cmd/kubectl-gsi fills it from -ldflags -X.
type BuildInfo struct {
	Version   string `json:"version"`
	GitCommit string `json:"gitCommit"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Options are shared by every command.
type Options struct {
	ConfigFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
	// GSINamespace is where the GSIPlugin, TransitGateways, ConnectedPeers, Routes, the
	// license Secret and the controller live.
	GSINamespace string
	Build        BuildInfo
	// Color is auto (colour on a terminal, unless NO_COLOR is set), always or never.
	Color string

	client client.Client
	scheme *k8sruntime.Scheme
	mapper meta.RESTMapper
	config *rest.Config
}

// Run executes kubectl gsi with args and returns the process exit code.
func Run(args []string, streams genericiooptions.IOStreams, build BuildInfo) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := NewRootCommand(streams, build)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
	}
	return ExitCode(err)
}

// NewRootCommand builds the `kubectl gsi` command tree.
func NewRootCommand(streams genericiooptions.IOStreams, build BuildInfo) *cobra.Command {
	o := &Options{
		ConfigFlags:  genericclioptions.NewConfigFlags(true),
		IOStreams:    streams,
		GSINamespace: corev1.DefaultNamespace,
		Build:        build,
	}
	cmd := &cobra.Command{
		Use:   "kubectl-gsi",
		Short: "Expose CN2 virtual networks to the VPC and inspect the Gateway Service Instance",
		Long: `kubectl gsi exposes CN2 virtual networks to the cluster's VPC through an AWS Transit
Gateway and shows the state of the Gateway Service Instance: transit gateways, connected
peers and their BGP sessions, and the routes programmed in the VPC route tables.

Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 refused by the API server (admission
webhook, validation, RBAC), 5 --wait timed out, 6 unhealthy (doctor check failed, route
failed while waiting).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		CompletionOptions: cobra.CompletionOptions{
			HiddenDefaultCmd: false,
		},
		Annotations: map[string]string{
			// cobra names the command "kubectl gsi" in help and completion scripts.
			cobra.CommandDisplayNameAnnotation: "kubectl gsi",
		},
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return withCode(ExitUsage, err) })

	flags := cmd.PersistentFlags()
	o.ConfigFlags.AddFlags(flags)
	flags.StringVar(&o.GSINamespace, "gsi-namespace", o.GSINamespace,
		"namespace of the GSIPlugin, TransitGateways, ConnectedPeers, Routes and the controller")
	flags.StringVar(&o.Color, "color", "auto", "colour output: auto (only on a terminal), always or never")
	registerNamespaceCompletion(cmd, o)

	cmd.AddCommand(
		newExposeCommand(o),
		newUnexposeCommand(o),
		newStatusCommand(o),
		newBGPCommand(o),
		newRoutesCommand(o),
		newDoctorCommand(o),
		newVersionCommand(o),
	)
	return cmd
}

// Client returns the API client, built once from the kubeconfig flags. The REST mapper
// is kubectl's own (discovery cached on disk), so the plugin costs what kubectl costs.
func (o *Options) Client() (client.Client, error) {
	if o.client != nil {
		return o.client, nil
	}
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}
	mapper, err := o.ConfigFlags.ToRESTMapper()
	if err != nil {
		return nil, fmt.Errorf("discovering the API: %w", err)
	}
	scheme, err := newScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("creating API client: %w", err)
	}
	o.client, o.scheme, o.mapper, o.config = c, scheme, mapper, cfg
	return c, nil
}

// CN2 returns a reader of CN2's VirtualNetworks and friends.
func (o *Options) CN2() (*cn2.Reader, error) {
	c, err := o.Client()
	if err != nil {
		return nil, err
	}
	return &cn2.Reader{Client: c, Mapper: o.mapper}, nil
}

// Namespace is the namespace for VirtualNetworks: -n, else the kubeconfig context's.
func (o *Options) Namespace() (string, error) {
	ns, _, err := o.ConfigFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("reading the namespace from kubeconfig: %w", err)
	}
	return ns, nil
}

// namespaceSet says whether -n was given explicitly.
func (o *Options) namespaceSet() bool {
	return o.ConfigFlags.Namespace != nil && *o.ConfigFlags.Namespace != ""
}

func newScheme() (*k8sruntime.Scheme, error) {
	s := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{
		clientgoscheme.AddToScheme, corev1.AddToScheme, pluginsv1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building scheme: %w", err)
		}
	}
	return s, nil
}

// colorEnabled decides on ANSI colour for w.
func (o *Options) colorEnabled(w io.Writer) bool {
	switch o.Color {
	case "always":
		return true
	case "never":
		return false
	}
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}
