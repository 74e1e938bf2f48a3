// Package agent runs the router: it keeps one BGP speaker in step with the config
// stream (applying changes in place, restarting the speaker when global settings
// change) and answers what the debug view and the status reporter ask.
package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengsi/gsi/router/bgp"
	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/fib"
	"github.com/opengsi/gsi/router/routesync"
	"github.com/opengsi/gsi/router/status"
)

// ErrNotRunning is returned while no speaker runs (before the first config).
var ErrNotRunning = status.ErrNotRunning

// Agent owns the speaker.
type Agent struct {
	Log        logr.Logger
	FIB        *fib.Table
	GRPCListen string

	mu       sync.Mutex
	speaker  *bgp.Speaker
	rejected *prometheus.CounterVec
}

// New returns an agent writing into table and registering its metrics on reg.
func New(log logr.Logger, table *fib.Table, grpcListen string, reg prometheus.Registerer) (*Agent, error) {
	a := &Agent{Log: log, FIB: table, GRPCListen: grpcListen}
	a.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gsi_router_paths_rejected_total",
		Help: "Control-node paths of exposed VNs the router could not use, by reason.",
	}, []string{"reason"})
	collectors := []prometheus.Collector{
		a.rejected,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gsi_router_fib_routes", Help: "Routes in the forwarding table."},
			func() float64 { n, _ := table.Len(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gsi_router_fib_labels", Help: "Local MPLS labels in the forwarding table."},
			func() float64 { _, n := table.Len(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gsi_router_paths_originated", Help: "Paths the router announces (aggregates, exports, route-target memberships)."},
			func() float64 {
				if s := a.current(); s != nil {
					return float64(s.Originated())
				}
				return 0
			}),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register router metrics: %w", err)
		}
	}
	return a, nil
}

func (a *Agent) current() *bgp.Speaker {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.speaker
}

// Run applies every config from configs until ctx ends or the stream closes, then stops
// the speaker (withdrawing what it announced).
func (a *Agent) Run(ctx context.Context, configs <-chan config.Config) error {
	defer a.stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case cfg, ok := <-configs:
			if !ok {
				return nil
			}
			if err := a.apply(ctx, cfg); err != nil {
				return err
			}
		}
	}
}

func (a *Agent) apply(ctx context.Context, cfg config.Config) error {
	s := a.current()
	if s != nil {
		err := s.Apply(ctx, cfg)
		if err == nil {
			a.Log.Info("router config applied", "vns", len(cfg.VNs), "tgwPeers", len(cfg.TGW.Peers), "controlNodes", len(cfg.ControlNodes.Peers))
			return nil
		}
		a.Log.Info("restarting the BGP speaker", "reason", err.Error())
		a.stop()
	}
	s, err := bgp.Start(ctx, cfg, bgp.Options{
		Log: a.Log.WithName("bgp"), FIB: a.FIB, GRPCListen: a.GRPCListen,
		OnReject: func(reason string) { a.rejected.WithLabelValues(reason).Inc() },
	})
	if err != nil {
		return fmt.Errorf("start BGP speaker: %w", err)
	}
	a.mu.Lock()
	a.speaker = s
	a.mu.Unlock()
	a.Log.Info("BGP speaker started", "routerID", cfg.RouterID, "asn", cfg.ASN, "vns", len(cfg.VNs))
	return nil
}

func (a *Agent) stop() {
	a.mu.Lock()
	s := a.speaker
	a.speaker = nil
	a.mu.Unlock()
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Stop(ctx)
	a.Log.Info("BGP speaker stopped, announcements withdrawn")
}

// Sessions implements status.Source.
func (a *Agent) Sessions(ctx context.Context) ([]status.Session, error) {
	s := a.current()
	if s == nil {
		return nil, ErrNotRunning
	}
	return s.Sessions(ctx)
}

// VNs returns the exposed VNs as the route sync sees them.
func (a *Agent) VNs() ([]routesync.VNStatus, error) {
	s := a.current()
	if s == nil {
		return nil, ErrNotRunning
	}
	return s.Syncer().VNs(), nil
}
