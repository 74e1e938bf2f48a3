package bgp

import (
	"fmt"
	"sort"

	"github.com/go-logr/logr"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// logger adapts GoBGP's logger to logr; GoBGP's debug level maps to V(1).
type logger struct {
	l     logr.Logger
	level gobgplog.LogLevel
}

func newLogger(l logr.Logger) *logger { return &logger{l: l, level: gobgplog.InfoLevel} }

func kv(f gobgplog.Fields) []any {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		out = append(out, k, f[k])
	}
	return out
}

func (g *logger) Panic(msg string, f gobgplog.Fields) {
	g.l.Error(nil, msg, kv(f)...)
	panic(fmt.Sprintf("gobgp: %s", msg))
}

// Fatal is what GoBGP calls when it cannot go on (its gRPC listener failed): the
// process cannot be a router without it, so it panics rather than limp.
func (g *logger) Fatal(msg string, f gobgplog.Fields) {
	g.l.Error(nil, msg, kv(f)...)
	panic(fmt.Sprintf("gobgp fatal: %s", msg))
}

func (g *logger) Error(msg string, f gobgplog.Fields) { g.l.Error(nil, msg, kv(f)...) }
func (g *logger) Warn(msg string, f gobgplog.Fields)  { g.l.Info(msg, kv(f)...) }
func (g *logger) Info(msg string, f gobgplog.Fields) {
	if g.level >= gobgplog.InfoLevel {
		g.l.Info(msg, kv(f)...)
	}
}
func (g *logger) Debug(msg string, f gobgplog.Fields) {
	if g.level >= gobgplog.DebugLevel {
		g.l.V(1).Info(msg, kv(f)...)
	}
}
func (g *logger) SetLevel(level gobgplog.LogLevel) { g.level = level }
func (g *logger) GetLevel() gobgplog.LogLevel      { return g.level }
