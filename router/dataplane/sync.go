package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/opengsi/gsi/router/fib"
)

// Run programs the maps from the forwarding table until ctx ends. The subscription's
// first batch is the whole table; once it is applied, entries that an earlier run left
// in pinned maps and that the table no longer has are removed. A change the kernel
// refuses (a full map) is logged and counted, and does not stop the others.
func (d *Dataplane) Run(ctx context.Context, sub *fib.Subscription) error {
	for {
		changes, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dataplane: reading forwarding table changes: %w", err)
		}
		d.mu.Lock()
		if d.closed {
			// Close is the orderly end: nothing left to program
			d.mu.Unlock()
			return nil
		}
		for _, c := range changes {
			if err := d.apply(c); err != nil {
				d.syncErrs++
				d.log.Error(err, "programming the data plane")
			}
		}
		if !d.synced {
			if err := d.pruneStale(); err != nil {
				d.syncErrs++
				d.log.Error(err, "removing stale data plane entries")
			}
			d.synced = true
			d.log.Info("data plane in sync with the forwarding table", "routes", len(d.routes), "labels", len(d.labels))
		}
		d.mu.Unlock()
	}
}

// Synced reports whether the first full table has been programmed.
func (d *Dataplane) Synced() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.synced
}

func (d *Dataplane) apply(c fib.Change) error {
	switch {
	case c.Route != nil && c.Op == fib.OpUpsert:
		return d.putRoute(*c.Route)
	case c.Route != nil && c.Op == fib.OpDelete:
		return d.deleteRoute(c.Route.Prefix)
	case c.Label != nil && c.Op == fib.OpUpsert:
		if err := d.objs.Labels.Put(c.Label.Label, uint32(1)); err != nil {
			return fmt.Errorf("dataplane: label %d: %w", c.Label.Label, err)
		}
		d.labels[c.Label.Label] = struct{}{}
	case c.Label != nil && c.Op == fib.OpDelete:
		if err := ignoreNotExist(d.objs.Labels.Delete(c.Label.Label)); err != nil {
			return fmt.Errorf("dataplane: deleting label %d: %w", c.Label.Label, err)
		}
		delete(d.labels, c.Label.Label)
	}
	return nil
}

func (d *Dataplane) putRoute(r fib.Route) error {
	if !r.Prefix.Addr().Is4() {
		return fmt.Errorf("dataplane: route %s: only IPv4 is forwarded", r.Prefix)
	}
	v, err := routeValue(r)
	if err != nil {
		return err
	}
	if len(r.NextHops) > MaxECMP {
		d.log.Info("ECMP set cut to the data plane's width", "prefix", r.Prefix, "nexthops", len(r.NextHops), "used", MaxECMP)
	}
	// One map element holds the whole ECMP set: an update is atomic for the programs.
	if err := d.objs.Routes.Put(lpmKey(r.Prefix), v); err != nil {
		return fmt.Errorf("dataplane: route %s: %w", r.Prefix, err)
	}
	d.routes[r.Prefix] = v
	return nil
}

func (d *Dataplane) deleteRoute(p netip.Prefix) error {
	if !p.Addr().Is4() {
		return nil
	}
	if err := ignoreNotExist(d.objs.Routes.Delete(lpmKey(p))); err != nil {
		return fmt.Errorf("dataplane: deleting route %s: %w", p, err)
	}
	delete(d.routes, p)
	return nil
}

func routeValue(r fib.Route) (gsiRoute, error) {
	var v gsiRoute
	for i, nh := range r.NextHops {
		if i == MaxECMP {
			break
		}
		if !nh.Address.Is4() {
			return v, fmt.Errorf("dataplane: route %s: next hop %s is not IPv4", r.Prefix, nh.Address)
		}
		v.Nh[i] = gsiNexthop{Addr: be32(nh.Address), Label: nh.Label, Encap: uint8(nh.Encap)}
		v.Count++
	}
	if v.Count == 0 {
		return v, fmt.Errorf("dataplane: route %s has no next hop", r.Prefix)
	}
	return v, nil
}

func lpmKey(p netip.Prefix) gsiLpmKey {
	p = p.Masked()
	return gsiLpmKey{Prefixlen: uint32(p.Bits()), Addr: be32(p.Addr())}
}

// pruneStale deletes routes and labels present in the (possibly adopted) maps but not
// in the table just replayed.
func (d *Dataplane) pruneStale() error {
	var errs []error
	var key gsiLpmKey
	var val gsiRoute
	var staleRoutes []gsiLpmKey
	for it := d.objs.Routes.Iterate(); it.Next(&key, &val); {
		p := netip.PrefixFrom(addrFromBE32(key.Addr), int(key.Prefixlen))
		if _, ok := d.routes[p]; !ok {
			staleRoutes = append(staleRoutes, key)
		}
	}
	for _, k := range staleRoutes {
		errs = append(errs, ignoreNotExist(d.objs.Routes.Delete(k)))
	}
	var label, one uint32
	var staleLabels []uint32
	for it := d.objs.Labels.Iterate(); it.Next(&label, &one); {
		if _, ok := d.labels[label]; !ok {
			staleLabels = append(staleLabels, label)
		}
	}
	for _, l := range staleLabels {
		errs = append(errs, ignoreNotExist(d.objs.Labels.Delete(l)))
	}
	if len(staleRoutes)+len(staleLabels) > 0 {
		d.log.Info("removed entries the forwarding table no longer has", "routes", len(staleRoutes), "labels", len(staleLabels))
	}
	return errors.Join(errs...)
}
