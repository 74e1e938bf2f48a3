// Package cloud gives the reconcilers the AWS context of a namespace: the GSIPlugin that
// names the region and VPC, an EC2 client for that region (one per region, shared), and
// the cluster name every gsi resource is tagged with.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
	"github.com/opengsi/gsi/controller/aws"
)

// Client is the EC2 surface the reconcilers use.
type Client interface {
	aws.Interface
	aws.SetOps
}

// NewClientFunc builds a Client for a region (tests substitute wrappers).
type NewClientFunc func(ctx context.Context, cfg aws.Config) (Client, error)

// Errors the reconcilers turn into conditions.
var (
	// ErrNoPlugin: no GSIPlugin in the namespace (nor in the gsi namespace).
	ErrNoPlugin = errors.New("no GSIPlugin installed")
	// ErrPluginNotReady: the GSIPlugin's VPC has not been described yet.
	ErrPluginNotReady = errors.New("GSIPlugin not ready")
	// ErrNoRegion: neither the GSIPlugin nor the --aws-region flag gives a region.
	ErrNoRegion = errors.New("no AWS region")
)

// Config is the static part of the AWS context (flags).
type Config struct {
	// Namespace is the gsi namespace (contrail-gsi), where the GSIPlugin is looked for
	// when an object's own namespace has none.
	Namespace string
	// ClusterName is the value of the cluster tag; empty means the UID of the
	// kube-system namespace, which is unique per cluster and survives restarts.
	ClusterName string
	// Region is used when the GSIPlugin names none.
	Region string
	// AWS is the template of every EC2 client (endpoint override, retries, limits,
	// metrics registerer, logger); its Region is set per client.
	AWS aws.Config
	// NewClient builds clients; nil means aws.New.
	NewClient NewClientFunc
}

// Provider resolves the AWS context. It is safe for concurrent use.
type Provider struct {
	cfg       Config
	reader    client.Reader
	apiReader client.Reader

	mu      sync.Mutex
	clients map[string]Client
	cluster string
}

// New returns a Provider reading GSIPlugins through reader (the manager's cached client)
// and the kube-system namespace once through apiReader (no namespace informer for that).
func New(cfg Config, reader, apiReader client.Reader) *Provider {
	if cfg.Namespace == "" {
		cfg.Namespace = gsiv1.DefaultNamespace
	}
	if cfg.NewClient == nil {
		cfg.NewClient = func(ctx context.Context, c aws.Config) (Client, error) { return aws.New(ctx, c) }
	}
	return &Provider{cfg: cfg, reader: reader, apiReader: apiReader, clients: map[string]Client{}}
}

// Namespace is the gsi namespace.
func (p *Provider) Namespace() string { return p.cfg.Namespace }

// Env is the AWS context of one namespace.
type Env struct {
	Plugin  *pluginsv1alpha1.GSIPlugin
	AWS     Client
	Cluster string
	Region  string
	VPCID   string
	// VPCCIDRs and RouteTableIDs come from the GSIPlugin's status.
	VPCCIDRs      []netip.Prefix
	RouteTableIDs []string
}

// Owner is the tag owner of a TransitGateway object.
func (e *Env) Owner(namespace, name string) aws.Owner {
	return aws.Owner{Cluster: e.Cluster, Namespace: namespace, Name: name}
}

// Plugin returns the GSIPlugin governing namespace: the oldest in the namespace, else
// the oldest in the gsi namespace.
func (p *Provider) Plugin(ctx context.Context, namespace string) (*pluginsv1alpha1.GSIPlugin, error) {
	for _, ns := range []string{namespace, p.cfg.Namespace} {
		var list pluginsv1alpha1.GSIPluginList
		if err := p.reader.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("listing GSIPlugins in %s: %w", ns, err)
		}
		if len(list.Items) == 0 {
			continue
		}
		sort.Slice(list.Items, func(i, j int) bool {
			a, b := list.Items[i], list.Items[j]
			if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
				return a.CreationTimestamp.Before(&b.CreationTimestamp)
			}
			return a.Name < b.Name
		})
		return &list.Items[0], nil
	}
	return nil, fmt.Errorf("%w in namespace %s or %s: apply the GSI manifest (kubectl get gsiplugins -n %s)",
		ErrNoPlugin, namespace, p.cfg.Namespace, p.cfg.Namespace)
}

// Env resolves the AWS context of namespace; the GSIPlugin must be ready (its VPC
// described).
func (p *Provider) Env(ctx context.Context, namespace string) (*Env, error) {
	plugin, err := p.Plugin(ctx, namespace)
	if err != nil {
		return nil, err
	}
	return p.EnvFor(ctx, plugin, false)
}

// EnvFor builds the Env of a given GSIPlugin; allowUnready is for the GSIPlugin
// reconciler, which is what makes it ready.
func (p *Provider) EnvFor(ctx context.Context, plugin *pluginsv1alpha1.GSIPlugin, allowUnready bool) (*Env, error) {
	region := plugin.Spec.AWSRegion
	if region == "" {
		region = p.cfg.Region
	}
	if region == "" {
		return nil, fmt.Errorf("GSIPlugin %s/%s: %w: set spec.awsRegion or --aws-region", plugin.Namespace, plugin.Name, ErrNoRegion)
	}
	cl, err := p.Client(ctx, region)
	if err != nil {
		return nil, err
	}
	cluster, err := p.ClusterName(ctx)
	if err != nil {
		return nil, err
	}
	env := &Env{Plugin: plugin, AWS: cl, Cluster: cluster, Region: region, VPCID: plugin.Spec.VPCID,
		RouteTableIDs: append([]string(nil), plugin.Status.RouteTableIDs...)}
	for _, s := range plugin.Status.VPCCIDRs {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("GSIPlugin %s/%s: status.vpcCIDRs %q: %w", plugin.Namespace, plugin.Name, s, err)
		}
		env.VPCCIDRs = append(env.VPCCIDRs, pfx.Masked())
	}
	if !allowUnready && !PluginReady(plugin) {
		return env, fmt.Errorf("GSIPlugin %s/%s: %w: its VPC %s has not been described yet (see its Ready condition)",
			plugin.Namespace, plugin.Name, ErrPluginNotReady, plugin.Spec.VPCID)
	}
	return env, nil
}

// PluginReady reports a GSIPlugin whose status describes its current VPC.
func PluginReady(plugin *pluginsv1alpha1.GSIPlugin) bool {
	c := meta.FindStatusCondition(plugin.Status.Conditions, gsiv1.ConditionReady)
	return c != nil && c.Status == "True" && plugin.Status.ObservedGeneration == plugin.Generation &&
		len(plugin.Status.VPCCIDRs) > 0
}

// Client returns the shared EC2 client of region.
func (p *Provider) Client(ctx context.Context, region string) (Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[region]; ok {
		return c, nil
	}
	cfg := p.cfg.AWS
	cfg.Region = region
	c, err := p.cfg.NewClient(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("EC2 client for %s: %w", region, err)
	}
	p.clients[region] = c
	return c, nil
}

// ClusterName is the cluster tag value.
func (p *Provider) ClusterName(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.ClusterName != "" {
		return p.cfg.ClusterName, nil
	}
	if p.cluster != "" {
		return p.cluster, nil
	}
	var ns corev1.Namespace
	if err := p.apiReader.Get(ctx, client.ObjectKey{Name: "kube-system"}, &ns); err != nil {
		return "", fmt.Errorf("reading the kube-system namespace for the cluster tag (or set --cluster-name): %w", err)
	}
	p.cluster = string(ns.UID)
	return p.cluster, nil
}
