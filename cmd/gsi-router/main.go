// Command gsi-router is gsi's router pod: BGP with the transit gateway and the CN2
// control nodes (GoBGP embedded), feeding the forwarding table the data plane programs.
//
//	gsi-router run --config router.yaml          # lab, debugging
//	gsi-router run --cluster --connected-peer tgw1-0 --namespace contrail-gsi
//	gsi-router show fib|sessions|vns             # asks a running router
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/opengsi/gsi/router/agent"
	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/debug"
	"github.com/opengsi/gsi/router/fib"
	"github.com/opengsi/gsi/router/status"
)

const defaultDebugAddr = "127.0.0.1:9179"

func main() {
	root := &cobra.Command{Use: "gsi-router", Short: "gsi's router: BGP towards the TGW and the CN2 control nodes", SilenceUsage: true}
	root.AddCommand(runCmd(), showCmd())
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}

type runFlags struct {
	configPath string
	grpcListen string
	debugAddr  string
	verbose    bool
	dataplane  dataplaneFlags
	cluster    clusterFlags
}

func runCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "run the router with its config from a file or from the cluster",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (f.configPath == "") == !f.cluster.enabled {
				return errors.New("give exactly one of --config FILE and --cluster")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, f)
		},
	}
	cmd.Flags().StringVar(&f.configPath, "config", "", "router config file (YAML); reloaded when it changes or on SIGHUP")
	cmd.Flags().StringVar(&f.grpcListen, "grpc-listen", "127.0.0.1:50051", "GoBGP gRPC API address for the gobgp CLI; empty disables it")
	cmd.Flags().StringVar(&f.debugAddr, "debug-listen", defaultDebugAddr, "address of the debug views and /metrics")
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "debug logging")
	f.cluster.register(cmd)
	f.dataplane.register(cmd.Flags())
	return cmd
}

func newLogger(verbose bool) logr.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func run(ctx context.Context, f runFlags) error {
	log := newLogger(f.verbose)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	table := fib.New()
	a, err := agent.New(log.WithName("router"), table, f.grpcListen, reg)
	if err != nil {
		return err
	}
	metrics, err := status.NewMetrics(reg)
	if err != nil {
		return err
	}

	var configs <-chan config.Config
	var sink status.Sink
	if f.cluster.enabled {
		configs, sink, err = f.cluster.start(ctx, log.WithName("cluster"))
	} else {
		configs, err = config.WatchFile(ctx, log.WithName("config"), f.configPath)
	}
	if err != nil {
		return err
	}

	dp, configs, err := startDataplane(ctx, log.WithName("dataplane"), f.dataplane, table, reg, configs)
	if err != nil {
		return err
	}
	handler := debug.Handler(table, a, reg)
	if dp != nil {
		defer func() {
			if err := dp.Close(); err != nil {
				log.Error(err, "removing the data plane")
			}
		}()
		handler = withDataplane(handler, dp)
	}

	ln, err := net.Listen("tcp", f.debugAddr)
	if err != nil {
		return fmt.Errorf("debug listener: %w", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "debug server")
		}
	}()
	defer srv.Close()

	rep := &status.Reporter{Log: log.WithName("status"), Source: a, Metrics: metrics, Sink: sink, Poll: time.Second, MinInterval: 5 * time.Second}
	go func() { _ = rep.Run(ctx) }()
	log.Info("gsi-router running", "debug", ln.Addr().String(), "grpc", f.grpcListen)
	return a.Run(ctx, configs)
}

func showCmd() *cobra.Command {
	var addr string
	var asJSON bool
	cmd := &cobra.Command{
		Use:       "show fib|sessions|vns",
		Short:     "print a running router's forwarding table, BGP sessions or exposed VNs",
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"fib", "sessions", "vns"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(cmd.Context(), cmd.OutOrStdout(), addr, args[0], asJSON)
		},
	}
	cmd.Flags().StringVar(&addr, "debug-addr", defaultDebugAddr, "the router's --debug-listen address")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
