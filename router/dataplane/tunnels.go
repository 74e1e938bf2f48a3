package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// SetTunnels makes the set of GRE tunnels to the TGW exactly ts: GRE is accepted only
// from these remotes, decapsulated packets for an inside address are delivered to the
// stack, and (with Tunnel.Device) locally generated packets to the inside /29 are put
// into the tunnel. Calling it again with the same set changes nothing.
func (d *Dataplane) SetTunnels(ts ...Tunnel) error {
	want := make(map[netip.Addr]Tunnel, len(ts))
	for _, t := range ts {
		if !t.Local.IsValid() {
			t.Local = d.cfg.Address
		}
		if err := validateTunnel(t); err != nil {
			return err
		}
		if _, dup := want[t.Remote]; dup {
			return fmt.Errorf("dataplane: two tunnels to %s", t.Remote)
		}
		want[t.Remote] = t
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("dataplane: set tunnels after close")
	}
	for remote, old := range d.tunnels {
		if t, ok := want[remote]; ok && t == old {
			continue
		}
		if err := d.removeTunnel(old); err != nil {
			return err
		}
	}
	for _, t := range want {
		if err := d.addTunnel(t); err != nil {
			return err
		}
	}
	return d.pruneTunnelMaps(want)
}

func validateTunnel(t Tunnel) error {
	if !t.Remote.Is4() || !t.Local.Is4() {
		return fmt.Errorf("dataplane: tunnel %s <-> %s: GRE addresses must be IPv4", t.Local, t.Remote)
	}
	if !t.Inside.Addr().Is4() || t.Inside.Bits() < 8 || t.Inside.Bits() > 31 {
		return fmt.Errorf("dataplane: tunnel to %s: inside %v must be an IPv4 address with its prefix (e.g. 169.254.6.1/29)", t.Remote, t.Inside)
	}
	return nil
}

func (d *Dataplane) addTunnel(t Tunnel) error {
	if err := d.objs.Tunnels.Put(be32(t.Remote), gsiTunnel{Local: be32(t.Local)}); err != nil {
		return fmt.Errorf("dataplane: tunnel to %s: %w", t.Remote, err)
	}
	if err := d.objs.Locals.Put(be32(t.Local), uint32(localOuter)); err != nil {
		return fmt.Errorf("dataplane: tunnel to %s: local address: %w", t.Remote, err)
	}
	if err := d.objs.Locals.Put(be32(t.Inside.Addr()), uint32(localInside)); err != nil {
		return fmt.Errorf("dataplane: tunnel to %s: inside address: %w", t.Remote, err)
	}
	net := t.Inside.Masked()
	key := gsiLpmKey{Prefixlen: uint32(net.Bits()), Addr: be32(net.Addr())}
	if err := d.objs.InsideNets.Put(key, be32(t.Remote)); err != nil {
		return fmt.Errorf("dataplane: tunnel to %s: inside prefix: %w", t.Remote, err)
	}
	if t.Device != "" {
		if err := installInside(t, d.objs.GsiLwtGre.FD()); err != nil {
			return err
		}
	}
	d.tunnels[t.Remote] = t
	return nil
}

func (d *Dataplane) removeTunnel(t Tunnel) error {
	if err := removeInside(t); err != nil {
		return err
	}
	delete(d.tunnels, t.Remote)
	return nil
}

// pruneTunnelMaps removes map entries of tunnels that are not wanted, including those
// an earlier run left in pinned maps.
func (d *Dataplane) pruneTunnelMaps(want map[netip.Addr]Tunnel) error {
	locals := map[uint32]bool{be32(d.cfg.Address): true}
	nets := map[gsiLpmKey]bool{}
	for _, t := range want {
		locals[be32(t.Local)] = true
		locals[be32(t.Inside.Addr())] = true
		n := t.Inside.Masked()
		nets[gsiLpmKey{Prefixlen: uint32(n.Bits()), Addr: be32(n.Addr())}] = true
	}
	var errs []error
	var remote uint32
	var tun gsiTunnel
	var stale []uint32
	for it := d.objs.Tunnels.Iterate(); it.Next(&remote, &tun); {
		if _, ok := want[addrFromBE32(remote)]; !ok {
			stale = append(stale, remote)
		}
	}
	for _, k := range stale {
		errs = append(errs, ignoreNotExist(d.objs.Tunnels.Delete(k)))
	}
	stale = stale[:0]
	var kind uint32
	for it := d.objs.Locals.Iterate(); it.Next(&remote, &kind); {
		if !locals[remote] {
			stale = append(stale, remote)
		}
	}
	for _, k := range stale {
		errs = append(errs, ignoreNotExist(d.objs.Locals.Delete(k)))
	}
	var key gsiLpmKey
	var staleNets []gsiLpmKey
	for it := d.objs.InsideNets.Iterate(); it.Next(&key, &remote); {
		if !nets[key] {
			staleNets = append(staleNets, key)
		}
	}
	for _, k := range staleNets {
		errs = append(errs, ignoreNotExist(d.objs.InsideNets.Delete(k)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dataplane: removing stale tunnel entries: %w", err)
	}
	return nil
}

// Tunnels returns the configured tunnels, sorted by remote.
func (d *Dataplane) Tunnels() []Tunnel {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Tunnel, 0, len(d.tunnels))
	for _, t := range d.tunnels {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Tunnel) int { return a.Remote.Compare(b.Remote) })
	return out
}
