// Package bgp is the router's BGP speaker: GoBGP embedded, with sessions towards the
// transit gateway (IPv4 unicast) and the CN2 control nodes (inet-vpn and route-target
// constraint). It feeds best-path changes to router/routesync and puts routesync's
// decisions (aggregates, exports, route-target memberships) on the wire.
package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/fib"
	"github.com/opengsi/gsi/router/routesync"
	"github.com/opengsi/gsi/router/status"
)

// Options are what a speaker needs besides its config.
type Options struct {
	Log logr.Logger
	FIB *fib.Table
	// GRPCListen exposes GoBGP's gRPC API (for the gobgp CLI); empty disables it.
	GRPCListen string
	// OnReject counts control-node paths the router cannot use, by reason.
	OnReject func(reason string)
}

// Speaker is one running GoBGP instance.
type Speaker struct {
	log  logr.Logger
	srv  *server.BgpServer
	sync *routesync.Syncer

	// mu serialises Apply and Stop.
	mu  sync.Mutex
	cfg config.Config
	// peers is what was added to GoBGP, by address, to diff against the next config.
	peers map[netip.Addr]*api.Peer

	// roles maps session peers to their role; read by the watcher without locks.
	roles atomic.Pointer[map[netip.Addr]status.Role]

	// advMu guards the paths this speaker originated (key → GoBGP UUID).
	advMu sync.Mutex
	paths map[string][]byte
	// perFamily counts the originated paths by family name, for the sessions' report.
	perFamily map[string]int

	stopWatch context.CancelFunc
}

// Start runs GoBGP with cfg's global settings, then applies cfg's peers and VNs.
func Start(ctx context.Context, cfg config.Config, opts Options) (*Speaker, error) {
	srvOpts := []server.ServerOption{server.LoggerOption(newLogger(opts.Log.WithName("gobgp")))}
	if opts.GRPCListen != "" {
		srvOpts = append(srvOpts, server.GrpcListenAddress(opts.GRPCListen))
	}
	s := &Speaker{
		log:       opts.Log,
		srv:       server.NewBgpServer(srvOpts...),
		peers:     map[netip.Addr]*api.Peer{},
		paths:     map[string][]byte{},
		perFamily: map[string]int{},
	}
	go s.srv.Serve()
	s.cfg = cfg
	s.sync = routesync.New(opts.Log.WithName("sync"), opts.FIB, s, cfg.RouterID, cfg.LabelBase, cfg.TunnelRemote)
	if opts.OnReject != nil {
		s.sync.OnReject = opts.OnReject
	}
	if err := s.startGlobal(ctx, cfg); err != nil {
		s.srv.Stop()
		return nil, err
	}
	if err := s.Apply(ctx, cfg); err != nil {
		s.Stop(context.Background())
		return nil, err
	}
	return s, nil
}

func (s *Speaker) startGlobal(ctx context.Context, cfg config.Config) error {
	global := &api.Global{
		Asn:        cfg.ASN,
		RouterId:   cfg.RouterID.String(),
		ListenPort: cfg.ListenPort,
	}
	for _, a := range cfg.ListenAddresses {
		global.ListenAddresses = append(global.ListenAddresses, a.String())
	}
	if err := s.srv.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		return fmt.Errorf("start BGP (AS %d, id %s, port %d): %w", cfg.ASN, cfg.RouterID, cfg.ListenPort, err)
	}
	if err := s.setExportPolicy(ctx); err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.stopWatch = cancel
	req := &api.WatchEventRequest{Table: &api.WatchEventRequest_Table{
		Filters: []*api.WatchEventRequest_Table_Filter{{Type: api.WatchEventRequest_Table_Filter_BEST, Init: true}},
	}}
	if err := s.srv.WatchEvent(wctx, req, s.onEvent); err != nil {
		cancel()
		return fmt.Errorf("watch best paths: %w", err)
	}
	return nil
}

// setExportPolicy makes the router announce only what it originates: VPC prefixes
// learned from one TGW session must never go back to the other (nor to the control
// nodes as IPv4), and pod routes never leave towards other control nodes.
func (s *Speaker) setExportPolicy(ctx context.Context) error {
	reject := &api.Actions{RouteAction: api.RouteAction_REJECT}
	pol := &api.Policy{Name: "gsi-originated-only", Statements: []*api.Statement{
		{Name: "gsi-no-ibgp-transit", Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_INTERNAL}, Actions: reject},
		{Name: "gsi-no-ebgp-transit", Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_EXTERNAL}, Actions: reject},
	}}
	if err := s.srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: pol}); err != nil {
		return fmt.Errorf("add export policy: %w", err)
	}
	err := s.srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: "global", Direction: api.PolicyDirection_EXPORT,
		Policies: []*api.Policy{{Name: pol.Name}}, DefaultAction: api.RouteAction_ACCEPT,
	}})
	if err != nil {
		return fmt.Errorf("assign export policy: %w", err)
	}
	return nil
}

// Apply moves the running speaker to cfg: sessions added, removed or changed, VNs
// exposed or unexposed. Global settings must match the running ones
// (config.SameSpeaker); the caller restarts the speaker otherwise.
func (s *Speaker) Apply(ctx context.Context, cfg config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !config.SameSpeaker(s.cfg, cfg) || s.cfg.ControlNodeNextHop() != cfg.ControlNodeNextHop() {
		return fmt.Errorf("apply router config: global settings changed, the speaker must restart")
	}
	s.cfg = cfg
	roles := map[netip.Addr]status.Role{}
	for _, a := range cfg.TGW.Peers {
		roles[a] = status.RoleTGW
	}
	for _, a := range cfg.ControlNodes.Peers {
		roles[a] = status.RoleControlNode
	}
	s.roles.Store(&roles)
	if err := s.sync.SetTunnel(cfg.TunnelRemote); err != nil {
		return err
	}
	added, err := s.sync.SetVNs(cfg.VNs)
	if err != nil {
		return err
	}
	if len(added) > 0 {
		if err := s.replayVPN(ctx); err != nil {
			return err
		}
	}
	return s.applyPeers(ctx, cfg)
}

// replayVPN feeds the control nodes' current best paths to the syncer: a newly exposed
// VN's pod routes may have arrived before it was exposed.
func (s *Speaker) replayVPN(ctx context.Context) error {
	var paths []routesync.VPNPath
	var decodeErr error
	err := s.srv.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: familyVPNv4}, func(d *api.Destination) {
		for _, p := range d.Paths {
			if !p.Best || !fromPeer(p) {
				continue
			}
			vp, err := decodeVPN(p)
			if err != nil {
				decodeErr = err
				continue
			}
			paths = append(paths, vp)
		}
	})
	if err != nil {
		return fmt.Errorf("list inet-vpn paths: %w", err)
	}
	if decodeErr != nil {
		s.log.Error(decodeErr, "ignoring undecodable inet-vpn path")
	}
	return s.sync.UpdateVPN(paths)
}

// onEvent runs on GoBGP's watcher goroutine, in the order best paths changed.
func (s *Speaker) onEvent(ev *api.WatchEventResponse) {
	tbl := ev.GetTable()
	if tbl == nil {
		return
	}
	var vpn []routesync.VPNPath
	var vpc []routesync.VPCPath
	for _, p := range tbl.Paths {
		if !fromPeer(p) {
			continue // our own aggregates, exports and memberships
		}
		switch {
		case sameFamily(p.Family, familyVPNv4):
			vp, err := decodeVPN(p)
			if err != nil {
				s.log.Error(err, "ignoring undecodable inet-vpn path", "peer", p.NeighborIp)
				continue
			}
			vpn = append(vpn, vp)
		case sameFamily(p.Family, familyIPv4):
			peer, _ := netip.ParseAddr(p.NeighborIp)
			vp, err := decodeVPC(p, peer)
			if err != nil {
				s.log.Error(err, "ignoring undecodable IPv4 path", "peer", p.NeighborIp)
				continue
			}
			vpc = append(vpc, vp)
		}
	}
	if len(vpn) > 0 {
		if err := s.sync.UpdateVPN(vpn); err != nil {
			s.log.Error(err, "applying control-node paths")
		}
	}
	if len(vpc) > 0 {
		if err := s.sync.UpdateVPC(vpc); err != nil {
			s.log.Error(err, "applying TGW paths")
		}
	}
}

// fromPeer tells learned paths from the ones this speaker originated (no neighbor).
func fromPeer(p *api.Path) bool {
	a, err := netip.ParseAddr(p.NeighborIp)
	return err == nil && !a.IsUnspecified()
}

func sameFamily(a, b *api.Family) bool {
	return a != nil && a.Afi == b.Afi && a.Safi == b.Safi
}

// Syncer exposes the route sync state for the debug view.
func (s *Speaker) Syncer() *routesync.Syncer { return s.sync }

// Server exposes the embedded GoBGP server (for tests and the debug view).
func (s *Speaker) Server() *server.BgpServer { return s.srv }

// Stop withdraws everything the router announced, closes the sessions with a Cease
// notification and stops GoBGP. The forwarding table is emptied of what BGP put there.
func (s *Speaker) Stop(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.sync.SetVNs(nil); err != nil {
		s.log.Error(err, "withdrawing VNs on shutdown")
	}
	if err := s.sync.Clear(); err != nil {
		s.log.Error(err, "clearing the forwarding table on shutdown")
	}
	s.waitOutQueues(ctx)
	if s.stopWatch != nil {
		s.stopWatch()
	}
	if err := s.srv.StopBgp(ctx, &api.StopBgpRequest{}); err != nil {
		s.log.Error(err, "stopping BGP")
	}
	s.srv.Stop()
}
