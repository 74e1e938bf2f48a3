package admit

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/opengsi/gsi/test/envtest"
)

// env is one API server for the package, with manifests/webhook's configurations
// installed (envtest points them at the local server below, with its own certificate).
var env *envtest.Env

// hooks is what the server serves, for the handler-only benchmark.
var testConfig Config

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctrllog.SetLogger(logr.Discard()) // controller-runtime's own logs are noise here
	if _, err := envtest.Assets(); err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "no API server, the admission tests will skip:", err)
		return m.Run()
	}
	var err error
	env, err = envtest.StartEnv(envtest.WithWebhooks(crenvtest.WebhookInstallOptions{
		Paths: []string{filepath.Join(envtest.RepoRoot(), "manifests", "webhook")},
	}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	if err := serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// serve runs controller-runtime's webhook server with every gsi handler on envtest's
// host, port and certificate, and waits until it accepts TLS.
func serve(ctx context.Context) error {
	o := &env.Environment.WebhookInstallOptions
	srv := webhook.NewServer(webhook.Options{Host: o.LocalServingHost, Port: o.LocalServingPort, CertDir: o.LocalServingCertDir})
	testConfig = Config{Reader: env.Client, Mapper: env.Client.RESTMapper(), Scheme: env.Scheme, Log: logr.Discard()}
	Register(srv, testConfig)
	errc := make(chan error, 1)
	go func() { errc <- srv.Start(ctx) }()
	addr := net.JoinHostPort(o.LocalServingHost, strconv.Itoa(o.LocalServingPort))
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness probe only
		if err == nil {
			return conn.Close()
		}
		select {
		case err := <-errc:
			return fmt.Errorf("webhook server stopped: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook server not reachable at %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func needEnv(t testing.TB) {
	t.Helper()
	if env == nil {
		t.Skip("no API server: run `make setup`")
	}
}
