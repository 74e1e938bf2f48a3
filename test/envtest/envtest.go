// Package envtest starts a real kube-apiserver and etcd for tests (controller-runtime's
// envtest) with gsi's CRDs and a minimal copy of CN2's installed. The binaries come from
// `make setup`, which builds kube-apiserver from the Go module proxy into $GSI_CACHE.
package envtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	corev1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
)

// Env is a running API server.
type Env struct {
	// Config reaches the API server as a cluster admin.
	Config *rest.Config
	// Client is a controller-runtime client (no cache) using Scheme.
	Client client.Client
	// Scheme knows the Kubernetes, apiextensions and gsi types.
	Scheme *k8sruntime.Scheme
	// Kubeconfig is the path of a kubeconfig file for the admin user (for kubectl).
	Kubeconfig string
	// Environment is the underlying controller-runtime envtest environment.
	Environment *crenvtest.Environment
}

// Option adjusts the environment before it starts.
type Option func(*crenvtest.Environment)

// WithWebhooks installs webhook configurations; envtest serves them on a local port
// with a generated certificate (see crenvtest.WebhookInstallOptions).
func WithWebhooks(o crenvtest.WebhookInstallOptions) Option {
	return func(e *crenvtest.Environment) { e.WebhookInstallOptions = o }
}

// RepoRoot returns the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// CRDDirs are the directories holding the CRDs installed into every test API server.
func CRDDirs() []string {
	root := RepoRoot()
	return []string{
		filepath.Join(root, "manifests", "crd", "bases"),
		filepath.Join(root, "test", "cn2", "crds"),
	}
}

// NewScheme returns a scheme with the Kubernetes, apiextensions and gsi types.
func NewScheme() (*k8sruntime.Scheme, error) {
	s := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{
		clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme,
		corev1.AddToScheme, pluginsv1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building scheme: %w", err)
		}
	}
	return s, nil
}

// Assets returns the directory holding kube-apiserver and etcd, or an error telling how
// to get them.
func Assets() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		cache := os.Getenv("GSI_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "gsi")
		}
		version := os.Getenv("KUBE_VERSION")
		if version == "" {
			version = DefaultKubeVersion
		}
		dir = filepath.Join(cache, "kube-"+version)
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%s not found in %s: run `make setup`", bin, dir)
		}
	}
	return dir, nil
}

// DefaultKubeVersion is the kube-apiserver version `make setup` builds (see Makefile).
const DefaultKubeVersion = "v1.37.1"

// StartEnv starts an API server; call Stop when done. For TestMain and benchmarks.
func StartEnv(opts ...Option) (*Env, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	e := &crenvtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     CRDDirs(),
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	for _, o := range opts {
		o(e)
	}
	cfg, err := e.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	env := &Env{Config: cfg, Scheme: scheme, Environment: e}
	if err := env.finish(); err != nil {
		_ = e.Stop()
		return nil, err
	}
	return env, nil
}

func (env *Env) finish() error {
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	env.Client = c
	user, err := env.Environment.AddUser(crenvtest.User{Name: "gsi-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("rendering kubeconfig: %w", err)
	}
	dir, err := os.MkdirTemp("", "gsi-envtest-")
	if err != nil {
		return fmt.Errorf("kubeconfig dir: %w", err)
	}
	env.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(env.Kubeconfig, kc, 0o600); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return nil
}

// Stop stops the API server and etcd and removes the kubeconfig.
func (env *Env) Stop() error {
	if env.Kubeconfig != "" {
		_ = os.RemoveAll(filepath.Dir(env.Kubeconfig))
	}
	if err := env.Environment.Stop(); err != nil {
		return fmt.Errorf("stopping envtest: %w", err)
	}
	return nil
}

// Start starts an API server for t and stops it when t ends. Without the binaries it
// fails under CI and skips elsewhere, saying to run `make setup`.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	if _, err := Assets(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	env, err := StartEnv(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("envtest: %v", err)
		}
	})
	return env
}

// Main runs a test package against one shared API server, stored in *env for the tests;
// use it from TestMain as os.Exit(envtest.Main(m, &env)). Without the binaries it fails
// under CI and otherwise runs the tests with *env nil (they skip, see Need).
func Main(m *testing.M, env **Env, opts ...Option) int {
	if _, err := Assets(); err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "skipping API server tests:", err)
		return m.Run()
	}
	e, err := StartEnv(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*env = e
	defer func() {
		if err := e.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	return m.Run()
}

// Need skips a test when Main found no API server to start.
func Need(t testing.TB, env *Env) {
	t.Helper()
	if env == nil {
		t.Skip("no API server: run `make setup`")
	}
}
