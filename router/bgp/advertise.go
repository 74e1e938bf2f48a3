package bgp

import (
	"context"
	"fmt"
	"net/netip"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/routesync"
)

// Aggregate implements routesync.Advertiser.
func (s *Speaker) Aggregate(p netip.Prefix, announce bool) error {
	return s.originate("aggregate "+p.String(), familyIPv4, announce, func() (*api.Path, error) {
		return aggregatePath(p)
	})
}

// Export implements routesync.Advertiser.
func (s *Speaker) Export(e routesync.Export, announce bool) error {
	nh := s.cfg.ControlNodeNextHop() // fixed for the speaker's life (see Apply)
	return s.originate(fmt.Sprintf("export %s:%s", e.RD, e.Prefix), familyVPNv4, announce, func() (*api.Path, error) {
		return exportPath(e, nh)
	})
}

// Membership implements routesync.Advertiser.
func (s *Speaker) Membership(rt config.RouteTarget, announce bool) error {
	asn := s.cfg.ControlNodes.LocalASN
	return s.originate("membership "+rt.String(), familyRTC, announce, func() (*api.Path, error) {
		return membershipPath(asn, rt)
	})
}

// originate adds or deletes one local path, remembered by key so deletion is exact.
func (s *Speaker) originate(key string, family *api.Family, announce bool, build func() (*api.Path, error)) error {
	s.advMu.Lock()
	defer s.advMu.Unlock()
	ctx := context.Background()
	uuid, have := s.paths[key]
	if !announce {
		if !have {
			return nil
		}
		if err := s.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: family, Uuid: uuid}); err != nil {
			return fmt.Errorf("withdraw %s: %w", key, err)
		}
		delete(s.paths, key)
		s.perFamily[familyName(family)]--
		return nil
	}
	if have {
		return nil
	}
	p, err := build()
	if err != nil {
		return err
	}
	resp, err := s.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
	if err != nil {
		return fmt.Errorf("announce %s: %w", key, err)
	}
	s.paths[key] = resp.Uuid
	s.perFamily[familyName(family)]++
	return nil
}

// originatedIn returns how many paths the speaker announces in family.
func (s *Speaker) originatedIn(family string) uint64 {
	s.advMu.Lock()
	defer s.advMu.Unlock()
	return uint64(s.perFamily[family])
}

// Originated returns how many paths the speaker announces (aggregates, exports,
// memberships together).
func (s *Speaker) Originated() int {
	s.advMu.Lock()
	defer s.advMu.Unlock()
	return len(s.paths)
}
