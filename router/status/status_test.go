package status

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// script returns its states in turn (the last one forever) and signals after n polls.
type script struct {
	mu     sync.Mutex
	states [][]Session
	polls  int
	n      int
	done   chan struct{}
}

func (s *script) Sessions(context.Context) ([]Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := min(s.polls, len(s.states)-1)
	s.polls++
	if s.polls == s.n {
		close(s.done)
	}
	return slices.Clone(s.states[i]), nil
}

type recorder struct {
	mu      sync.Mutex
	reports [][]Session
}

func (r *recorder) Report(_ context.Context, s []Session) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, s)
	return nil
}

func TestReporterSendsChangesRateLimited(t *testing.T) {
	up := []Session{{Peer: "169.254.10.2", Role: RoleTGW, State: "established", Received: 2, Advertised: 1}}
	down := []Session{{Peer: "169.254.10.2", Role: RoleTGW, State: "active"}}
	for name, tc := range map[string]struct {
		minInterval time.Duration
		want        [][]Session
	}{
		"every change":             {0, [][]Session{down, up, down}},
		"at most one per interval": {time.Hour, [][]Session{down}},
	} {
		t.Run(name, func(t *testing.T) {
			src := &script{states: [][]Session{down, down, up, up, down}, n: 20, done: make(chan struct{})}
			sink := &recorder{}
			reg := prometheus.NewRegistry()
			m, err := NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			r := &Reporter{Log: logr.Discard(), Source: src, Sink: sink, Metrics: m, Poll: time.Millisecond, MinInterval: tc.minInterval}
			finished := make(chan struct{})
			go func() { _ = r.Run(ctx); close(finished) }()
			<-src.done
			cancel()
			<-finished
			if len(sink.reports) != len(tc.want) {
				t.Fatalf("%d reports %+v, want %+v", len(sink.reports), sink.reports, tc.want)
			}
			for i := range tc.want {
				if !slices.EqualFunc(sink.reports[i], tc.want[i], sameReport) {
					t.Errorf("report %d = %+v, want %+v", i, sink.reports[i], tc.want[i])
				}
			}
			if v := testutil.ToFloat64(m.up.WithLabelValues("169.254.10.2", "tgw")); v != 0 {
				t.Errorf("established gauge = %v after the session went down", v)
			}
		})
	}
}
