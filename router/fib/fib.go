// Package fib is the router's forwarding table: what BGP agreed on, in the form the data
// plane programs. The control plane (router/bgp) writes it; the data plane
// (router/dataplane) subscribes to its changes. It knows nothing about BGP or eBPF.
package fib

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
)

// Encap says how a packet leaves the router towards a next hop.
type Encap uint8

const (
	// EncapMPLSoUDP sends to a vRouter: MPLS label inside UDP port 6635 (RFC 7510).
	EncapMPLSoUDP Encap = iota + 1
	// EncapGRE sends to the transit gateway through the Connect peer's GRE tunnel (RFC 2784).
	EncapGRE
)

func (e Encap) String() string {
	switch e {
	case EncapMPLSoUDP:
		return "mpls-udp"
	case EncapGRE:
		return "gre"
	default:
		return fmt.Sprintf("encap(%d)", uint8(e))
	}
}

// MaxLabel is the largest MPLS label value (20 bits).
const MaxLabel = 1<<20 - 1

// NextHop is one member of an ECMP set.
type NextHop struct {
	Encap Encap
	// Address is the tunnel's remote end: the vRouter for MPLSoUDP, the TGW's GRE
	// address for GRE.
	Address netip.Addr
	// Label is the MPLS label the vRouter announced; zero for GRE.
	Label uint32
}

func (n NextHop) String() string {
	if n.Encap == EncapMPLSoUDP {
		return fmt.Sprintf("%s label %d via %s", n.Encap, n.Label, n.Address)
	}
	return fmt.Sprintf("%s via %s", n.Encap, n.Address)
}

func compareNextHop(a, b NextHop) int {
	if a.Encap != b.Encap {
		return int(a.Encap) - int(b.Encap)
	}
	if c := a.Address.Compare(b.Address); c != 0 {
		return c
	}
	return int(a.Label) - int(b.Label)
}

// Route is a prefix and the ECMP set that reaches it.
type Route struct {
	Prefix netip.Prefix
	// NextHops is sorted and free of duplicates; flows are hashed across it.
	NextHops []NextHop
	// VN names the virtual network ("namespace/name") the route belongs to, for display.
	VN string
}

// LocalLabel is an MPLS label this router allocated and announced to the control nodes:
// MPLSoUDP packets from a vRouter carrying it are popped and routed by their inner
// destination (towards the TGW).
type LocalLabel struct {
	Label uint32
	// VN is the virtual network the label was allocated for ("namespace/name").
	VN string
}

// Op is the kind of a change.
type Op uint8

const (
	// OpUpsert adds or replaces a route or label.
	OpUpsert Op = iota + 1
	// OpDelete removes it.
	OpDelete
)

// Change is one edit of the table, delivered to subscribers in the order it was made.
// Exactly one of Route and Label is set.
type Change struct {
	Op    Op
	Route *Route
	Label *LocalLabel
}

// Table is safe for concurrent use.
type Table struct {
	mu     sync.RWMutex
	routes map[netip.Prefix]Route
	labels map[uint32]LocalLabel
	subs   map[*Subscription]struct{}
}

// New returns an empty table.
func New() *Table {
	return &Table{
		routes: make(map[netip.Prefix]Route),
		labels: make(map[uint32]LocalLabel),
		subs:   make(map[*Subscription]struct{}),
	}
}

// SetRoute installs or replaces the route for r.Prefix. An empty ECMP set deletes it.
// It reports whether the table changed.
func (t *Table) SetRoute(r Route) (bool, error) {
	if !r.Prefix.IsValid() {
		return false, fmt.Errorf("fib: invalid prefix %v", r.Prefix)
	}
	r.Prefix = r.Prefix.Masked()
	if len(r.NextHops) == 0 {
		return t.DeleteRoute(r.Prefix), nil
	}
	hops := slices.Clone(r.NextHops)
	for _, h := range hops {
		if err := validateNextHop(h); err != nil {
			return false, fmt.Errorf("fib: route %s: %w", r.Prefix, err)
		}
	}
	slices.SortFunc(hops, compareNextHop)
	r.NextHops = slices.CompactFunc(hops, func(a, b NextHop) bool { return compareNextHop(a, b) == 0 })

	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.routes[r.Prefix]; ok && old.VN == r.VN && slices.Equal(old.NextHops, r.NextHops) {
		return false, nil
	}
	t.routes[r.Prefix] = r
	rc := r
	t.publish(Change{Op: OpUpsert, Route: &rc})
	return true, nil
}

func validateNextHop(h NextHop) error {
	if !h.Address.IsValid() {
		return fmt.Errorf("next hop without an address")
	}
	switch h.Encap {
	case EncapMPLSoUDP:
		if h.Label > MaxLabel {
			return fmt.Errorf("next hop %s: label %d exceeds 20 bits", h.Address, h.Label)
		}
	case EncapGRE:
		if h.Label != 0 {
			return fmt.Errorf("next hop %s: GRE next hops carry no label", h.Address)
		}
	default:
		return fmt.Errorf("next hop %s: unknown encapsulation %v", h.Address, h.Encap)
	}
	return nil
}

// DeleteRoute removes the route for p, reporting whether there was one.
func (t *Table) DeleteRoute(p netip.Prefix) bool {
	p = p.Masked()
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.routes[p]
	if !ok {
		return false
	}
	delete(t.routes, p)
	t.publish(Change{Op: OpDelete, Route: &old})
	return true
}

// SetLabel installs a local label, reporting whether the table changed.
func (t *Table) SetLabel(l LocalLabel) (bool, error) {
	if l.Label > MaxLabel || l.Label < 16 {
		return false, fmt.Errorf("fib: local label %d outside 16..%d (0-15 are reserved)", l.Label, MaxLabel)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.labels[l.Label]; ok && old == l {
		return false, nil
	}
	t.labels[l.Label] = l
	lc := l
	t.publish(Change{Op: OpUpsert, Label: &lc})
	return true, nil
}

// DeleteLabel removes a local label, reporting whether there was one.
func (t *Table) DeleteLabel(label uint32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.labels[label]
	if !ok {
		return false
	}
	delete(t.labels, label)
	t.publish(Change{Op: OpDelete, Label: &old})
	return true
}

// Lookup returns the longest-prefix match for addr.
func (t *Table) Lookup(addr netip.Addr) (Route, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for bits := addr.BitLen(); bits >= 0; bits-- {
		p, err := addr.Prefix(bits)
		if err != nil {
			return Route{}, false
		}
		if r, ok := t.routes[p]; ok {
			return r, true
		}
	}
	return Route{}, false
}

// Route returns the route for exactly p.
func (t *Table) Route(p netip.Prefix) (Route, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.routes[p.Masked()]
	return r, ok
}

// Routes returns every route, sorted by prefix.
func (t *Table) Routes() []Route {
	t.mu.RLock()
	out := make([]Route, 0, len(t.routes))
	for _, r := range t.routes {
		out = append(out, r)
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b Route) int { return comparePrefix(a.Prefix, b.Prefix) })
	return out
}

// Labels returns every local label, sorted.
func (t *Table) Labels() []LocalLabel {
	t.mu.RLock()
	out := make([]LocalLabel, 0, len(t.labels))
	for _, l := range t.labels {
		out = append(out, l)
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b LocalLabel) int { return int(a.Label) - int(b.Label) })
	return out
}

// Len returns the number of routes and labels.
func (t *Table) Len() (routes, labels int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.routes), len(t.labels)
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// publish queues c for every subscriber; t.mu is held.
func (t *Table) publish(c Change) {
	for s := range t.subs {
		s.push(c)
	}
}

// Subscription delivers the table's changes in order. It starts with the table's whole
// content as upserts, so a subscriber never misses state. Producers never block on a
// slow subscriber: changes queue up and are handed over in batches.
type Subscription struct {
	t       *Table
	mu      sync.Mutex
	pending []Change
	ready   chan struct{}
}

// Subscribe returns a subscription primed with the current content.
func (t *Table) Subscribe() *Subscription {
	s := &Subscription{t: t, ready: make(chan struct{}, 1)}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range t.routes {
		rc := r
		s.push(Change{Op: OpUpsert, Route: &rc})
	}
	for _, l := range t.labels {
		lc := l
		s.push(Change{Op: OpUpsert, Label: &lc})
	}
	t.subs[s] = struct{}{}
	return s
}

func (s *Subscription) push(c Change) {
	s.mu.Lock()
	s.pending = append(s.pending, c)
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Next blocks until at least one change is queued (or ctx ends) and returns all queued
// changes, oldest first.
func (s *Subscription) Next(ctx context.Context) ([]Change, error) {
	for {
		s.mu.Lock()
		if len(s.pending) > 0 {
			out := s.pending
			s.pending = nil
			s.mu.Unlock()
			return out, nil
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("fib: waiting for changes: %w", ctx.Err())
		case <-s.ready:
		}
	}
}

// Close stops the subscription.
func (s *Subscription) Close() {
	s.t.mu.Lock()
	delete(s.t.subs, s)
	s.t.mu.Unlock()
}
