// Package status reports the router's BGP sessions: as Prometheus metrics, and to a
// Sink (the ConnectedPeer's status in the cluster) when they change, rate-limited so a
// flapping session cannot flood the API server.
package status

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// Role says who is at the other end of a session.
type Role string

const (
	RoleTGW         Role = "tgw"
	RoleControlNode Role = "control-node"
)

// Session is one BGP session as reported.
type Session struct {
	Peer string `json:"peer"`
	ASN  uint32 `json:"asn"`
	// LocalASN is the router's AS on the session.
	LocalASN uint32 `json:"localASN,omitempty"`
	Role     Role   `json:"role"`
	// Families are the address families configured on the session.
	Families []string `json:"families,omitempty"`
	// State is the BGP FSM state in lower case: idle, connect, active, opensent,
	// openconfirm, established.
	State string `json:"state"`
	// Since is when the session entered its current up/down state.
	Since time.Time `json:"since,omitzero"`
	// Received and Advertised count prefixes over every family of the session.
	Received   uint64 `json:"received"`
	Advertised uint64 `json:"advertised"`
}

// Established reports whether the session is up.
func (s Session) Established() bool { return s.State == "established" }

// ErrNotRunning is what a Source returns before it has sessions to list (the router has
// no config yet); the Reporter waits quietly.
var ErrNotRunning = errors.New("router: BGP speaker not running")

// Source lists the sessions now.
type Source interface {
	Sessions(ctx context.Context) ([]Session, error)
}

// Sink receives the sessions when they change.
type Sink interface {
	Report(ctx context.Context, sessions []Session) error
}

// Metrics are the session gauges.
type Metrics struct {
	up         *prometheus.GaugeVec
	received   *prometheus.GaugeVec
	advertised *prometheus.GaugeVec
}

// NewMetrics registers the session gauges on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	labels := []string{"peer", "role"}
	m := &Metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gsi_router_bgp_session_established", Help: "1 while the BGP session is established.",
		}, labels),
		received: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gsi_router_bgp_prefixes_received", Help: "Prefixes received on the session.",
		}, labels),
		advertised: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gsi_router_bgp_prefixes_advertised", Help: "Prefixes advertised on the session.",
		}, labels),
	}
	for _, c := range []prometheus.Collector{m.up, m.received, m.advertised} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register session metrics: %w", err)
		}
	}
	return m, nil
}

// Set replaces the gauges with sessions (peers gone are removed).
func (m *Metrics) Set(sessions []Session) {
	m.up.Reset()
	m.received.Reset()
	m.advertised.Reset()
	for _, s := range sessions {
		l := prometheus.Labels{"peer": s.Peer, "role": string(s.Role)}
		up := 0.0
		if s.Established() {
			up = 1
		}
		m.up.With(l).Set(up)
		m.received.With(l).Set(float64(s.Received))
		m.advertised.With(l).Set(float64(s.Advertised))
	}
}

// Reporter polls a Source and pushes changes to its sinks.
type Reporter struct {
	Log    logr.Logger
	Source Source
	// Metrics, when set, is refreshed on every poll.
	Metrics *Metrics
	Sink    Sink
	// Poll is how often the sessions are read; MinInterval is the least time between
	// two reports to the sink (a state change waits at most that long).
	Poll, MinInterval time.Duration
}

// Run polls until ctx ends.
func (r *Reporter) Run(ctx context.Context) error {
	tick := time.NewTicker(r.Poll)
	defer tick.Stop()
	var last []Session
	var lastSent time.Time
	pending := false
	for {
		sessions, err := r.Source.Sessions(ctx)
		if err != nil && ctx.Err() == nil && !errors.Is(err, ErrNotRunning) {
			r.Log.Error(err, "listing BGP sessions")
		}
		if err == nil {
			if r.Metrics != nil {
				r.Metrics.Set(sessions)
			}
			if !slices.EqualFunc(sessions, last, sameReport) {
				pending = true
				last = sessions
			}
		}
		if pending && r.Sink != nil && time.Since(lastSent) >= r.MinInterval {
			if err := r.Sink.Report(ctx, last); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				r.Log.Error(err, "reporting BGP sessions")
			} else {
				pending = false
				lastSent = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func sameReport(a, b Session) bool {
	return a.Peer == b.Peer && a.ASN == b.ASN && a.LocalASN == b.LocalASN && a.Role == b.Role && a.State == b.State &&
		slices.Equal(a.Families, b.Families) &&
		a.Since.Equal(b.Since) && a.Received == b.Received && a.Advertised == b.Advertised
}
