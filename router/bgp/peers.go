package bgp

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"

	"github.com/opengsi/gsi/router/config"
)

// desiredPeers builds GoBGP's view of every session in cfg.
func desiredPeers(cfg config.Config) map[netip.Addr]*api.Peer {
	out := map[netip.Addr]*api.Peer{}
	for _, a := range cfg.TGW.Peers {
		p := basePeer(cfg, a, cfg.TGW.ASN, cfg.ASN, cfg.TGW.LocalAddress, "tgw")
		// eBGP to the TGW runs between the /29's addresses across the GRE tunnel: TTL 2.
		if cfg.TGW.ASN != cfg.ASN {
			p.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: cfg.TGW.MultihopTTL}
		}
		p.AfiSafis = []*api.AfiSafi{afiSafi(familyIPv4)}
		out[a] = p
	}
	for _, a := range cfg.ControlNodes.Peers {
		p := basePeer(cfg, a, cfg.ControlNodes.ASN, cfg.ControlNodes.LocalASN, cfg.ControlNodes.LocalAddress, "control-node")
		p.AfiSafis = []*api.AfiSafi{afiSafi(familyVPNv4), afiSafi(familyRTC)}
		out[a] = p
	}
	return out
}

func basePeer(cfg config.Config, addr netip.Addr, peerASN, localASN uint32, local netip.Addr, role string) *api.Peer {
	p := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: addr.String(),
			PeerAsn:         peerASN,
			LocalAsn:        localASN,
			Description:     "gsi " + role,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:          seconds(cfg.Timers.Hold.Duration),
			KeepaliveInterval: seconds(cfg.Timers.Keepalive.Duration),
			ConnectRetry:      seconds(cfg.Timers.ConnectRetry.Duration),
			// after a reset, come back as soon as the connect-retry timer allows
			IdleHoldTimeAfterReset: seconds(cfg.Timers.ConnectRetry.Duration),
		}},
		Transport: &api.Transport{RemotePort: uint32(cfg.ListenPort)},
	}
	if local.IsValid() {
		p.Transport.LocalAddress = local.String()
	}
	return p
}

func afiSafi(f *api.Family) *api.AfiSafi {
	return &api.AfiSafi{Config: &api.AfiSafiConfig{Family: f, Enabled: true}}
}

func seconds(d time.Duration) uint64 {
	s := uint64(d.Round(time.Second) / time.Second)
	return max(s, 1)
}

// applyPeers adds, removes and replaces sessions so GoBGP matches cfg. A changed session
// is deleted and re-added: its parameters (ASN, timers, families) are negotiated at OPEN.
func (s *Speaker) applyPeers(ctx context.Context, cfg config.Config) error {
	want := desiredPeers(cfg)
	for _, a := range slices.SortedFunc(maps.Keys(s.peers), netip.Addr.Compare) {
		if w, ok := want[a]; ok && proto.Equal(w, s.peers[a]) {
			continue
		}
		if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: a.String()}); err != nil {
			return fmt.Errorf("delete BGP peer %s: %w", a, err)
		}
		delete(s.peers, a)
		s.log.Info("BGP peer removed", "peer", a)
	}
	for _, a := range slices.SortedFunc(maps.Keys(want), netip.Addr.Compare) {
		if _, ok := s.peers[a]; ok {
			continue
		}
		if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: want[a]}); err != nil {
			return fmt.Errorf("add BGP peer %s (AS %d): %w", a, want[a].Conf.PeerAsn, err)
		}
		s.peers[a] = want[a]
		s.log.Info("BGP peer added", "peer", a, "asn", want[a].Conf.PeerAsn, "description", want[a].Conf.Description)
	}
	return nil
}

// waitOutQueues gives queued withdrawals a chance to leave before the sessions close.
func (s *Speaker) waitOutQueues(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for {
		pending := uint32(0)
		err := s.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
			if p.State != nil {
				pending += p.State.OutQ
			}
		})
		if err != nil || pending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
