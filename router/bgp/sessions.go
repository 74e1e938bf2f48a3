package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/opengsi/gsi/router/status"
)

// Sessions implements status.Source. Advertised counts what the router originates in
// the session's families while it is up: asking GoBGP (EnableAdvertised) walks every
// best path through the export policy inside its main loop, which at 100k pod routes
// stalls route processing once per poll.
func (s *Speaker) Sessions(ctx context.Context) ([]status.Session, error) {
	roles := *s.roles.Load()
	var out []status.Session
	err := s.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		ses := toSession(p, roles)
		if ses.Established() {
			for _, f := range ses.Families {
				ses.Advertised += s.originatedIn(f)
			}
		}
		out = append(out, ses)
	})
	if err != nil {
		return nil, fmt.Errorf("list BGP peers: %w", err)
	}
	slices.SortFunc(out, func(a, b status.Session) int { return strings.Compare(a.Peer, b.Peer) })
	return out, nil
}

func toSession(p *api.Peer, roles map[netip.Addr]status.Role) status.Session {
	addr, _ := netip.ParseAddr(p.GetConf().GetNeighborAddress())
	st := p.GetState()
	ses := status.Session{
		Peer:     addr.String(),
		ASN:      p.GetConf().GetPeerAsn(),
		LocalASN: p.GetConf().GetLocalAsn(),
		Role:     roles[addr],
		State:    strings.ToLower(strings.TrimPrefix(st.GetSessionState().String(), "SESSION_STATE_")),
	}
	if t := p.GetTimers().GetState(); t != nil {
		if ses.Established() && t.Uptime != nil {
			ses.Since = t.Uptime.AsTime()
		} else if !ses.Established() && t.Downtime != nil {
			ses.Since = t.Downtime.AsTime()
		}
	}
	for _, af := range p.GetAfiSafis() {
		if f := af.GetConfig().GetFamily(); f != nil {
			ses.Families = append(ses.Families, familyName(f))
		}
		if a := af.GetState(); a != nil {
			ses.Received += a.Received
		}
	}
	return ses
}

func familyName(f *api.Family) string {
	switch {
	case sameFamily(f, familyIPv4):
		return "ipv4-unicast"
	case sameFamily(f, familyVPNv4):
		return "l3vpn-ipv4-unicast"
	case sameFamily(f, familyRTC):
		return "rtc"
	}
	return fmt.Sprintf("afi-%d-safi-%d", f.Afi, f.Safi)
}
