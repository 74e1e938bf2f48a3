// Command ec2sim runs the EC2 simulator of test/ec2sim on its own, e.g. as the AWS of
// `make demo` or for the AWS CLI:
//
//	ec2sim -listen 127.0.0.1:8081 -state-dir /tmp/ec2sim
//	aws --endpoint-url http://127.0.0.1:8081 ec2 describe-vpcs
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/opengsi/gsi/test/ec2sim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ec2sim:", err)
		os.Exit(1)
	}
}

func run() error {
	// before serving: a SIGTERM that arrives as soon as the endpoint answers must still
	// shut down gracefully, not kill the process with the default action
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	listen := flag.String("listen", "127.0.0.1:8081", "address to serve the EC2 API on")
	configPath := flag.String("config", "", "seed config (JSON); empty uses the built-in default (one VPC, 4 subnets, 2 route tables)")
	stateDir := flag.String("state-dir", "", "directory keeping the state across restarts; empty keeps it in memory")
	delay := flag.Duration("delay", -1, "pending→available and deleting→deleted delay (overrides the config)")
	throttle := flag.Float64("throttle-rate", 0, "fraction of requests answered with RequestLimitExceeded")
	latency := flag.Duration("latency", 0, "latency added to every answer")
	var errorFaults multiFlag
	flag.Var(&errorFaults, "fail", "inject an error: Action=Code[:times], repeatable (e.g. CreateRoute=InternalError:2)")
	verbose := flag.Int("v", 0, "log verbosity (1: errors answered, 2: every request)")
	printConfig := flag.Bool("print-default-config", false, "print the built-in seed config and exit")
	flag.Parse()

	if *printConfig {
		_, err := os.Stdout.Write(ec2sim.DefaultConfigJSON())
		return err
	}
	cfg := ec2sim.DefaultConfig()
	if *configPath != "" {
		var err error
		if cfg, err = ec2sim.LoadConfig(*configPath); err != nil {
			return err
		}
	}
	if *delay >= 0 {
		cfg.Delay = ec2sim.Duration{Duration: *delay}
	}
	if *stateDir != "" {
		if err := os.MkdirAll(*stateDir, 0o755); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
	}
	handler := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(-*verbose)})
	log := logr.FromSlogHandler(handler)
	srv, err := ec2sim.Start(*listen, ec2sim.Options{Config: cfg, StateDir: *stateDir, Logger: log})
	if err != nil {
		return err
	}
	faults := ec2sim.Faults{ThrottleRate: *throttle, Latency: ec2sim.Duration{Duration: *latency}}
	for _, f := range errorFaults {
		ef, err := ec2sim.ParseErrorFault(f)
		if err != nil {
			return err
		}
		faults.Errors = append(faults.Errors, ef)
	}
	srv.SetFaults(faults)
	log.Info("ec2sim serving", "endpoint", srv.URL(), "region", cfg.Region, "stateDir", *stateDir, "admin", srv.URL()+"/_ec2sim/")

	<-ctx.Done()
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Close() }()
	select {
	case err := <-shutdown:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-time.After(5 * time.Second):
		return errors.New("shutdown timed out")
	}
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
