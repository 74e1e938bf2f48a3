package main

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/dataplane"
	"github.com/opengsi/gsi/router/fib"
)

// dataplaneFlags turn on the eBPF forwarding (router/dataplane): off unless
// --dataplane-interfaces is given.
type dataplaneFlags struct {
	interfaces []string
	address    string
	pin        string
}

func (f *dataplaneFlags) register(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.interfaces, "dataplane-interfaces", nil, "underlay interfaces GRE from the TGW and MPLS-over-UDP from the vRouters arrive on (the first also carries the BGP inside route); empty: no forwarding")
	fs.StringVar(&f.address, "dataplane-address", "", "the node's underlay address: GRE and MPLS-over-UDP end (the Connect peer's PeerAddress)")
	fs.StringVar(&f.pin, "dataplane-pin", "/sys/fs/bpf/gsi", "bpffs directory for pinned maps and attachments, so a crashed router is replaced without a forwarding gap; empty: no pins")
}

// startDataplane loads and attaches the data plane, keeps it in sync with table and its
// GRE tunnels with the configs passing through (the returned channel). With no
// interfaces it returns configs unchanged and a nil data plane.
func startDataplane(ctx context.Context, log logr.Logger, f dataplaneFlags, table *fib.Table, reg prometheus.Registerer, configs <-chan config.Config) (*dataplane.Dataplane, <-chan config.Config, error) {
	if len(f.interfaces) == 0 {
		return nil, configs, nil
	}
	addr, err := netip.ParseAddr(f.address)
	if err != nil {
		return nil, nil, fmt.Errorf("--dataplane-address: %w", err)
	}
	dp, err := dataplane.New(dataplane.Config{Address: addr, PinPath: f.pin, Log: log})
	if err != nil {
		return nil, nil, err
	}
	if err := dp.Attach(f.interfaces...); err != nil {
		dp.Close()
		return nil, nil, err
	}
	if err := reg.Register(dp); err != nil {
		dp.Close()
		return nil, nil, fmt.Errorf("registering data plane metrics: %w", err)
	}
	sub := table.Subscribe()
	go func() {
		defer sub.Close()
		if err := dp.Run(ctx, sub); err != nil {
			log.Error(err, "data plane sync stopped")
		}
	}()
	out := make(chan config.Config)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case c, ok := <-configs:
				if !ok {
					return
				}
				if err := dp.SetTunnels(tunnelsOf(c, addr, f.interfaces[0])...); err != nil {
					log.Error(err, "setting GRE tunnels")
				}
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return dp, out, nil
}

// tunnelsOf is the GRE tunnel the config's TGW sessions run in: the router's inside
// address is the first of the Connect peer's /29.
func tunnelsOf(c config.Config, local netip.Addr, dev string) []dataplane.Tunnel {
	if !c.TGW.TunnelRemote.IsValid() || !c.TGW.LocalAddress.IsValid() {
		return nil
	}
	return []dataplane.Tunnel{{
		Remote: c.TGW.TunnelRemote,
		Local:  local,
		Inside: netip.PrefixFrom(c.TGW.LocalAddress, 29),
		Device: dev,
	}}
}

// withDataplane adds the data plane's debug view at /debug/dataplane.
func withDataplane(h http.Handler, dp *dataplane.Dataplane) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/debug/dataplane", dp)
	mux.Handle("/", h)
	return mux
}
