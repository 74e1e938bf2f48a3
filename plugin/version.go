package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// controllerSelector finds the gsi controller: the label the CN2 guide's troubleshooting
// uses, which gsi's Deployment carries for compatibility.
const controllerAppLabel = "contrail-gsi-plugin"

type versionOptions struct {
	*Options
	output     string
	clientOnly bool
}

// versionReport is what `version -o json|yaml` prints.
type versionReport struct {
	Client      BuildInfo `json:"client"`
	Server      string    `json:"kubernetesVersion,omitempty"`
	Controllers []string  `json:"controllerImages,omitempty"`
}

func newVersionCommand(o *Options) *cobra.Command {
	vo := &versionOptions{Options: o}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version, and the cluster's and gsi controller's when reachable",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(vo.output, outputJSON, outputYAML); err != nil {
				return err
			}
			return vo.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&vo.output, "output", "o", "", "output format: json or yaml")
	cmd.Flags().BoolVar(&vo.clientOnly, "client", false, "only the plugin's version; do not contact the cluster")
	return cmd
}

func (vo *versionOptions) run(ctx context.Context, w io.Writer) error {
	rep := versionReport{Client: vo.Build}
	var serverErr error
	if !vo.clientOnly {
		rep.Server, rep.Controllers, serverErr = vo.serverVersions(ctx)
	}
	if vo.output != "" {
		if err := printData(w, vo.output, rep); err != nil {
			return err
		}
		return serverErr
	}
	b := vo.Build
	fmt.Fprintf(w, "kubectl-gsi: %s (commit %s, built %s, %s, %s)\n", b.Version, b.GitCommit, b.BuildDate, b.GoVersion, b.Platform)
	if vo.clientOnly || serverErr != nil {
		return serverErr
	}
	fmt.Fprintf(w, "Kubernetes: %s\n", rep.Server)
	controllers := "not installed in " + vo.GSINamespace
	if len(rep.Controllers) > 0 {
		controllers = strings.Join(rep.Controllers, ", ")
	}
	_, err := fmt.Fprintf(w, "gsi controller: %s\n", controllers)
	return err
}

// serverVersions returns the API server's version and the images of the gsi controller
// Deployments.
func (vo *versionOptions) serverVersions(ctx context.Context) (string, []string, error) {
	c, err := vo.Client()
	if err != nil {
		return "", nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(vo.config)
	if err != nil {
		return "", nil, fmt.Errorf("creating discovery client: %w", err)
	}
	info, err := dc.ServerVersion()
	if err != nil {
		return "", nil, fmt.Errorf("reading the server version: %w", err)
	}
	var l appsv1.DeploymentList
	if err := c.List(ctx, &l, client.InNamespace(vo.GSINamespace), client.MatchingLabels{"app": controllerAppLabel}); err != nil {
		return info.GitVersion, nil, fmt.Errorf("listing the gsi controller Deployment: %w", err)
	}
	var images []string
	for _, d := range l.Items {
		for _, ct := range d.Spec.Template.Spec.Containers {
			images = append(images, ct.Image)
		}
	}
	return info.GitVersion, images, nil
}
