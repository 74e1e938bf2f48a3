// Package routesync decides what the router forwards and advertises from what BGP
// learned: the control nodes' pod routes become forwarding-table entries (MPLS over UDP
// to the vRouter) and make their VN's aggregates advertisable to the TGW; the TGW's VPC
// prefixes become forwarding-table entries (GRE to the TGW) and are exported into every
// exposed VN. It knows nothing about GoBGP: paths come in as plain values and the
// decisions go out through the Advertiser interface, so it is tested without sessions.
package routesync

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"

	"github.com/go-logr/logr"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/fib"
)

// RD is a route distinguisher in its text form ("10.0.0.1:1000", "64512:7").
type RD string

// VPNPath is a control node's best inet-vpn path for one RD:prefix.
type VPNPath struct {
	RD     RD
	Prefix netip.Prefix
	// Withdrawn means the RD:prefix has no path any more.
	Withdrawn bool
	NextHop   netip.Addr
	Label     uint32
	// RouteTargets are the path's route-target extended communities.
	RouteTargets []config.RouteTarget
	// MPLSoUDP is set when the path carries the tunnel encapsulation community
	// MPLS-in-UDP (type 13), the only encapsulation the data plane speaks to vRouters.
	MPLSoUDP bool
}

// VPCPath is the TGW's best path for a VPC prefix.
type VPCPath struct {
	Prefix    netip.Prefix
	Withdrawn bool
	// Peer is the TGW session it was learned from.
	Peer netip.Addr
}

// Export is one VPC prefix exported into one VN as an inet-vpn route.
type Export struct {
	Prefix      netip.Prefix
	RD          RD
	Label       uint32
	RouteTarget config.RouteTarget
}

// Advertiser puts the decisions on the wire. Calls are idempotent per key and made with
// the syncer's lock held, in the order the decisions were taken.
type Advertiser interface {
	// Aggregate announces (or withdraws) a VN subnet to the TGW.
	Aggregate(p netip.Prefix, announce bool) error
	// Export announces (or withdraws) a VPC prefix into a VN towards the control nodes.
	Export(e Export, announce bool) error
	// Membership asks the control nodes for (or stops asking for) a route target (RFC 4684).
	Membership(rt config.RouteTarget, announce bool) error
}

// Rejection reasons, for metrics.
const (
	RejectEncap   = "no-mpls-in-udp"
	RejectNextHop = "no-next-hop"
	RejectLabel   = "bad-label"
	// RejectPrefixLimit counts subnets held back because the TGW already has
	// MaxAggregates from this router.
	RejectPrefixLimit = "tgw-prefix-limit"
)

// MaxAggregates is how many prefixes a TGW accepts from one Connect peer (DESIGN §5);
// announcing more would get the session torn down, so the surplus waits for room.
const MaxAggregates = 1000

type vpnKey struct {
	rd     RD
	prefix netip.Prefix
}

type podRoute struct {
	vn  string
	hop fib.NextHop
}

type vnState struct {
	cfg   config.VN
	label uint32
	rd    RD
	// pods counts imported routes inside each subnet: a subnet is advertised while > 0.
	pods map[netip.Prefix]int
	// routes counts the VN's imported paths.
	routes int
}

// Syncer is safe for concurrent use.
type Syncer struct {
	mu       sync.Mutex
	log      logr.Logger
	fib      *fib.Table
	adv      Advertiser
	routerID netip.Addr
	base     uint32
	tunnel   func(peer netip.Addr) netip.Addr

	vns  map[string]*vnState
	byRT map[config.RouteTarget]string
	pods map[vpnKey]podRoute
	// byPrefix lists the RDs carrying each prefix (usually one): its ECMP set.
	byPrefix map[netip.Prefix][]vpnKey
	vpc      map[netip.Prefix]netip.Addr
	// advertised are the aggregates announced; heldBack the reachable ones over the limit.
	advertised, heldBack map[netip.Prefix]bool
	// MaxAggregates caps the announced aggregates; MaxAggregates unless changed.
	MaxAggregates int
	// OnReject is called for every path ignored, with a reason (metrics hook).
	OnReject func(reason string)
}

// New returns a syncer writing to table and adv. tunnel maps a TGW session peer to the
// GRE remote the forwarding table points VPC prefixes at.
func New(log logr.Logger, table *fib.Table, adv Advertiser, routerID netip.Addr, labelBase uint32, tunnel func(netip.Addr) netip.Addr) *Syncer {
	return &Syncer{
		log: log, fib: table, adv: adv, routerID: routerID, base: labelBase, tunnel: tunnel,
		vns:           map[string]*vnState{},
		byRT:          map[config.RouteTarget]string{},
		pods:          map[vpnKey]podRoute{},
		byPrefix:      map[netip.Prefix][]vpnKey{},
		vpc:           map[netip.Prefix]netip.Addr{},
		advertised:    map[netip.Prefix]bool{},
		heldBack:      map[netip.Prefix]bool{},
		MaxAggregates: MaxAggregates,
		OnReject:      func(string) {},
	}
}

// SetTunnel changes where VPC prefixes point and reprograms them.
func (s *Syncer) SetTunnel(tunnel func(netip.Addr) netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tunnel = tunnel
	for p, peer := range s.vpc {
		if err := s.setVPCRoute(p, peer); err != nil {
			return err
		}
	}
	return nil
}

// SetVNs makes vns the exposed set. It returns the VNs that were added: their pod
// routes may already be in BGP's table, and the caller replays those (UpdateVPN).
func (s *Syncer) SetVNs(vns []config.VN) (added []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]config.VN{}
	for _, vn := range vns {
		want[vn.Name] = vn
	}
	for _, name := range slices.Sorted(maps.Keys(s.vns)) {
		if w, ok := want[name]; !ok || !sameVN(w, s.vns[name].cfg) {
			if err := s.removeVN(name); err != nil {
				return nil, err
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if _, ok := s.vns[name]; ok {
			continue
		}
		if err := s.addVN(want[name]); err != nil {
			return nil, err
		}
		added = append(added, name)
	}
	return added, nil
}

func sameVN(a, b config.VN) bool {
	return a.RouteTarget == b.RouteTarget && slices.Equal(a.Subnets, b.Subnets)
}

func (s *Syncer) allocLabel() uint32 {
	used := map[uint32]bool{}
	for _, v := range s.vns {
		used[v.label] = true
	}
	l := s.base
	for used[l] {
		l++
	}
	return l
}

func (s *Syncer) addVN(cfg config.VN) error {
	label := s.allocLabel()
	if label > config.MaxLabel {
		return fmt.Errorf("routesync: no free label for VN %s", cfg.Name)
	}
	vn := &vnState{cfg: cfg, label: label, rd: RD(fmt.Sprintf("%s:%d", s.routerID, label)), pods: map[netip.Prefix]int{}}
	s.vns[cfg.Name] = vn
	s.byRT[cfg.RouteTarget] = cfg.Name
	if _, err := s.fib.SetLabel(fib.LocalLabel{Label: label, VN: cfg.Name}); err != nil {
		return fmt.Errorf("routesync: VN %s: %w", cfg.Name, err)
	}
	if err := s.adv.Membership(cfg.RouteTarget, true); err != nil {
		return fmt.Errorf("routesync: VN %s: ask for %s: %w", cfg.Name, cfg.RouteTarget, err)
	}
	for _, p := range slices.SortedFunc(maps.Keys(s.vpc), comparePrefix) {
		if err := s.adv.Export(vn.export(p), true); err != nil {
			return fmt.Errorf("routesync: VN %s: export %s: %w", cfg.Name, p, err)
		}
	}
	s.log.Info("VN exposed", "vn", cfg.Name, "routeTarget", cfg.RouteTarget.String(), "label", label, "rd", vn.rd)
	return nil
}

func (vn *vnState) export(p netip.Prefix) Export {
	return Export{Prefix: p, RD: vn.rd, Label: vn.label, RouteTarget: vn.cfg.RouteTarget}
}

// removeVN withdraws everything the VN caused: pod routes, aggregates, exports, label.
func (s *Syncer) removeVN(name string) error {
	vn := s.vns[name]
	var drop []vpnKey
	for k, r := range s.pods {
		if r.vn == name {
			drop = append(drop, k)
		}
	}
	slices.SortFunc(drop, compareKey)
	for _, k := range drop {
		if err := s.dropPod(k); err != nil {
			return err
		}
	}
	for _, p := range slices.SortedFunc(maps.Keys(s.vpc), comparePrefix) {
		if err := s.adv.Export(vn.export(p), false); err != nil {
			return fmt.Errorf("routesync: VN %s: withdraw export %s: %w", name, p, err)
		}
	}
	if err := s.adv.Membership(vn.cfg.RouteTarget, false); err != nil {
		return fmt.Errorf("routesync: VN %s: withdraw membership: %w", name, err)
	}
	s.fib.DeleteLabel(vn.label)
	delete(s.byRT, vn.cfg.RouteTarget)
	delete(s.vns, name)
	s.log.Info("VN unexposed", "vn", name)
	return nil
}

// UpdateVPN applies control-node paths (best-path changes or a table replay).
func (s *Syncer) UpdateVPN(paths []VPNPath) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range paths {
		if err := s.updateVPN(p); err != nil {
			return err
		}
	}
	return nil
}

func (s *Syncer) updateVPN(p VPNPath) error {
	k := vpnKey{rd: p.RD, prefix: p.Prefix.Masked()}
	vnName := ""
	for _, rt := range p.RouteTargets {
		if n, ok := s.byRT[rt]; ok {
			vnName = n
			break
		}
	}
	if p.Withdrawn || vnName == "" {
		// A path that lost its exposed route target is a withdrawal for us.
		if _, ok := s.pods[k]; ok {
			return s.dropPod(k)
		}
		return nil
	}
	if reason := rejectReason(p); reason != "" {
		s.OnReject(reason)
		if _, ok := s.pods[k]; ok {
			return s.dropPod(k)
		}
		return nil
	}
	hop := fib.NextHop{Encap: fib.EncapMPLSoUDP, Address: p.NextHop, Label: p.Label}
	if old, ok := s.pods[k]; ok {
		if old.vn == vnName && old.hop == hop {
			return nil
		}
		if old.vn != vnName {
			if err := s.dropPod(k); err != nil {
				return err
			}
		}
	}
	return s.addPod(k, podRoute{vn: vnName, hop: hop})
}

func rejectReason(p VPNPath) string {
	switch {
	case !p.MPLSoUDP:
		return RejectEncap
	case !p.NextHop.Is4() || p.NextHop.IsUnspecified():
		return RejectNextHop
	case p.Label > fib.MaxLabel:
		return RejectLabel
	}
	return ""
}

func (s *Syncer) addPod(k vpnKey, r podRoute) error {
	_, existed := s.pods[k]
	if !existed {
		s.byPrefix[k.prefix] = append(s.byPrefix[k.prefix], k)
	}
	s.pods[k] = r
	if err := s.programPrefix(k.prefix); err != nil {
		return err
	}
	if existed {
		return nil
	}
	if vn, ok := s.vns[r.vn]; ok {
		vn.routes++
	}
	return s.countPod(r.vn, k.prefix, +1)
}

func (s *Syncer) dropPod(k vpnKey) error {
	r := s.pods[k]
	delete(s.pods, k)
	if vn, ok := s.vns[r.vn]; ok {
		vn.routes--
	}
	if keys := slices.DeleteFunc(s.byPrefix[k.prefix], func(o vpnKey) bool { return o == k }); len(keys) > 0 {
		s.byPrefix[k.prefix] = keys
	} else {
		delete(s.byPrefix, k.prefix)
	}
	if err := s.programPrefix(k.prefix); err != nil {
		return err
	}
	return s.countPod(r.vn, k.prefix, -1)
}

// programPrefix writes the ECMP set of every RD that carries the prefix.
func (s *Syncer) programPrefix(p netip.Prefix) error {
	set := s.byPrefix[p]
	if len(set) == 0 {
		if _, ok := s.vpc[p]; ok {
			return s.setVPCRoute(p, s.vpc[p])
		}
		s.fib.DeleteRoute(p)
		return nil
	}
	hops := make([]fib.NextHop, 0, len(set))
	vn := ""
	for _, k := range set {
		r := s.pods[k]
		hops = append(hops, r.hop)
		if vn == "" || r.vn < vn {
			vn = r.vn
		}
	}
	if _, err := s.fib.SetRoute(fib.Route{Prefix: p, NextHops: hops, VN: vn}); err != nil {
		return fmt.Errorf("routesync: program %s: %w", p, err)
	}
	return nil
}

// countPod tracks reachability per subnet and (un)announces the aggregate on 0↔1.
func (s *Syncer) countPod(vnName string, p netip.Prefix, delta int) error {
	vn, ok := s.vns[vnName]
	if !ok {
		return nil
	}
	for _, sub := range vn.cfg.Subnets {
		if !sub.Contains(p.Addr()) || p.Bits() < sub.Bits() {
			continue
		}
		before := vn.pods[sub]
		vn.pods[sub] = before + delta
		switch {
		case before == 0 && delta > 0:
			s.log.Info("subnet reachable, advertising aggregate", "vn", vnName, "subnet", sub)
			if err := s.announce(sub); err != nil {
				return err
			}
		case before+delta == 0:
			delete(vn.pods, sub)
			s.log.Info("subnet unreachable, withdrawing aggregate", "vn", vnName, "subnet", sub)
			if err := s.withdraw(sub); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Syncer) announce(sub netip.Prefix) error {
	if len(s.advertised) >= s.MaxAggregates {
		s.heldBack[sub] = true
		s.OnReject(RejectPrefixLimit)
		s.log.Error(nil, "TGW prefix limit reached, aggregate held back until another is withdrawn", "subnet", sub, "limit", s.MaxAggregates)
		return nil
	}
	if err := s.adv.Aggregate(sub, true); err != nil {
		return fmt.Errorf("routesync: announce %s: %w", sub, err)
	}
	s.advertised[sub] = true
	return nil
}

// withdraw takes sub off the TGW and gives its place to the first held-back subnet.
func (s *Syncer) withdraw(sub netip.Prefix) error {
	if s.heldBack[sub] {
		delete(s.heldBack, sub)
		return nil
	}
	if err := s.adv.Aggregate(sub, false); err != nil {
		return fmt.Errorf("routesync: withdraw %s: %w", sub, err)
	}
	delete(s.advertised, sub)
	if len(s.heldBack) == 0 {
		return nil
	}
	next := slices.MinFunc(slices.Collect(maps.Keys(s.heldBack)), comparePrefix)
	delete(s.heldBack, next)
	return s.announce(next)
}

// UpdateVPC applies TGW paths.
func (s *Syncer) UpdateVPC(paths []VPCPath) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range paths {
		if err := s.updateVPC(p); err != nil {
			return err
		}
	}
	return nil
}

func (s *Syncer) updateVPC(p VPCPath) error {
	pfx := p.Prefix.Masked()
	old, had := s.vpc[pfx]
	if p.Withdrawn {
		if !had {
			return nil
		}
		delete(s.vpc, pfx)
		if _, pod := s.byPrefix[pfx]; !pod {
			s.fib.DeleteRoute(pfx)
		}
		return s.exportAll(pfx, false)
	}
	s.vpc[pfx] = p.Peer
	if had && old == p.Peer {
		return nil
	}
	if err := s.setVPCRoute(pfx, p.Peer); err != nil {
		return err
	}
	if had {
		return nil
	}
	return s.exportAll(pfx, true)
}

// setVPCRoute programs a VPC prefix unless a pod route for the same prefix exists (the
// VN's own routes win: they are more specific in intent).
func (s *Syncer) setVPCRoute(p netip.Prefix, peer netip.Addr) error {
	if _, pod := s.byPrefix[p]; pod {
		return nil
	}
	hop := fib.NextHop{Encap: fib.EncapGRE, Address: s.tunnel(peer)}
	if _, err := s.fib.SetRoute(fib.Route{Prefix: p, NextHops: []fib.NextHop{hop}}); err != nil {
		return fmt.Errorf("routesync: program VPC prefix %s: %w", p, err)
	}
	return nil
}

func (s *Syncer) exportAll(p netip.Prefix, announce bool) error {
	for _, name := range slices.Sorted(maps.Keys(s.vns)) {
		if err := s.adv.Export(s.vns[name].export(p), announce); err != nil {
			return fmt.Errorf("routesync: export %s into %s: %w", p, name, err)
		}
	}
	return nil
}

// VNStatus is one VN as the syncer sees it, for the debug view and metrics.
type VNStatus struct {
	Name        string
	RouteTarget config.RouteTarget
	Label       uint32
	RD          RD
	// Reachable lists the subnets advertised to the TGW.
	Reachable []netip.Prefix
	PodRoutes int
}

// VNs returns the exposed VNs, sorted by name.
func (s *Syncer) VNs() []VNStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]VNStatus, 0, len(s.vns))
	for _, name := range slices.Sorted(maps.Keys(s.vns)) {
		vn := s.vns[name]
		out = append(out, VNStatus{
			Name: name, RouteTarget: vn.cfg.RouteTarget, Label: vn.label, RD: vn.rd,
			Reachable: slices.SortedFunc(maps.Keys(vn.pods), comparePrefix),
			PodRoutes: vn.routes,
		})
	}
	return out
}

// VPCPrefixes returns the prefixes learned from the TGW, sorted.
func (s *Syncer) VPCPrefixes() []netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.SortedFunc(maps.Keys(s.vpc), comparePrefix)
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func compareKey(a, b vpnKey) int {
	if a.rd != b.rd {
		if a.rd < b.rd {
			return -1
		}
		return 1
	}
	return comparePrefix(a.prefix, b.prefix)
}

// Clear removes from the forwarding table everything the syncer put there and forgets
// the learned paths (the speaker is stopping; its sessions take the routes with them).
func (s *Syncer) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range slices.SortedFunc(maps.Keys(s.pods), compareKey) {
		if err := s.dropPod(k); err != nil {
			return err
		}
	}
	for _, p := range slices.SortedFunc(maps.Keys(s.vpc), comparePrefix) {
		if err := s.updateVPC(VPCPath{Prefix: p, Withdrawn: true}); err != nil {
			return err
		}
	}
	return nil
}
