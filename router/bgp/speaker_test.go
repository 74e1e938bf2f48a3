package bgp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/go-logr/logr"
	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/fib"
)

// freePort finds a TCP port free on both loopback addresses (both speakers use it).
func freePort(t *testing.T, addrs ...string) int32 {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", addrs[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ok := true
		for _, a := range addrs[1:] {
			l2, err := net.Listen("tcp", fmt.Sprintf("%s:%d", a, port))
			if err != nil {
				ok = false
				break
			}
			l2.Close()
		}
		if ok {
			return int32(port)
		}
	}
	t.Fatal("no free port")
	return 0
}

// controlNode is a GoBGP speaking inet-vpn and RT constraint, as CN2's control nodes do.
func controlNode(t *testing.T, port int32) *server.BgpServer {
	t.Helper()
	s := server.NewBgpServer(server.LoggerOption(newLogger(logr.Discard())))
	go s.Serve()
	t.Cleanup(s.Stop)
	ctx := context.Background()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: 64512, RouterId: "127.0.0.2", ListenPort: port, ListenAddresses: []string{"127.0.0.2"}}}); err != nil {
		t.Fatal(err)
	}
	peer := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: 64512},
		Transport: &api.Transport{LocalAddress: "127.0.0.2", RemotePort: uint32(port)},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1, HoldTime: 9, KeepaliveInterval: 3}},
		AfiSafis:  []*api.AfiSafi{afiSafi(familyVPNv4), afiSafi(familyRTC)},
	}
	if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: peer}); err != nil {
		t.Fatal(err)
	}
	return s
}

func podPath(t *testing.T, rd, prefix string, label uint32, rt config.RouteTarget) *api.Path {
	t.Helper()
	d, err := bgp.ParseRouteDistinguisher(rd)
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix(prefix)
	nlri := bgp.NewLabeledVPNIPAddrPrefix(uint8(p.Bits()), p.Addr().String(), *bgp.NewMPLSLabelStack(label), d)
	path, err := apiutil.NewPath(nlri, false, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeMpReachNLRI("10.20.0.11", []bgp.AddrPrefixInterface{nlri}),
		bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{routeTarget(rt), bgp.NewEncapExtended(bgp.TUNNEL_TYPE_MPLS_IN_UDP)}),
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRouteTargetConstraint runs the speaker against an RTC-capable control node: the
// router asks for exactly the exposed VNs' route targets, so the control node sends it
// only their pod routes; exposing another VN makes the control node send that one too.
func TestRouteTargetConstraint(t *testing.T) {
	port := freePort(t, "127.0.0.1", "127.0.0.2")
	cn := controlNode(t, port)
	rt1, rt9 := config.RouteTarget{ASN: 64512, Value: 8000001}, config.RouteTarget{ASN: 64512, Value: 8000009}
	ctx := context.Background()
	for _, p := range []*api.Path{podPath(t, "10.20.0.11:1", "10.1.0.5/32", 30, rt1), podPath(t, "10.20.0.11:9", "10.9.0.5/32", 31, rt9)} {
		if _, err := cn.AddPath(ctx, &api.AddPathRequest{Path: p}); err != nil {
			t.Fatal(err)
		}
	}

	cfg := config.Config{
		RouterID: netip.MustParseAddr("127.0.0.1"), ASN: 64513, ListenPort: port,
		ListenAddresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		Timers:          config.Timers{Keepalive: config.Duration{Duration: 3 * time.Second}, Hold: config.Duration{Duration: 9 * time.Second}, ConnectRetry: config.Duration{Duration: time.Second}},
		TGW:             config.TGW{ASN: 64520},
		ControlNodes:    config.ControlNodes{ASN: 64512, LocalAddress: netip.MustParseAddr("127.0.0.1"), Peers: []netip.Addr{netip.MustParseAddr("127.0.0.2")}},
		VNs:             []config.VN{{Name: "default/vn1", Subnets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}, RouteTarget: rt1}},
	}
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	table := fib.New()
	grpcAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	sp, err := Start(ctx, cfg, Options{Log: logr.Discard(), FIB: table, GRPCListen: grpcAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Stop(context.Background()) })

	// the control node holds the router's membership for rt1 only, and sent one pod route
	waitFor(t, func() error {
		var rts []string
		err := cn.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_ADJ_IN, Name: "127.0.0.1", Family: familyRTC}, func(d *api.Destination) {
			rts = append(rts, d.Prefix)
		})
		if err != nil {
			return err
		}
		if len(rts) != 1 || rts[0] != "64512:64512:8000001" {
			return fmt.Errorf("control node holds memberships %v from the router", rts)
		}
		ses, err := sp.Sessions(ctx)
		if err != nil {
			return err
		}
		if len(ses) != 1 || ses[0].Received != 1 {
			// rt1's pod route only: the control node kept rt9's for itself
			return fmt.Errorf("router sessions %+v, want 1 received (rt1's pod route)", ses)
		}
		if n, _ := table.Len(); n != 1 {
			return fmt.Errorf("FIB has %d routes", n)
		}
		return nil
	})

	// GoBGP's gRPC API answers on localhost, as the gobgp CLI would ask it
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bgpResp, err := api.NewGobgpApiClient(conn).GetBgp(ctx, &api.GetBgpRequest{})
	if err != nil || bgpResp.Global.Asn != 64513 || bgpResp.Global.RouterId != "127.0.0.1" {
		t.Fatalf("gRPC GetBgp = %v, %v", bgpResp, err)
	}

	// expose the VN of rt9: the router asks for it and the control node sends its route
	cfg.VNs = append(cfg.VNs, config.VN{Name: "default/vn9", Subnets: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/24")}, RouteTarget: rt9})
	if err := sp.Apply(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() error {
		if r, ok := table.Route(netip.MustParsePrefix("10.9.0.5/32")); !ok || r.NextHops[0].Label != 31 {
			return fmt.Errorf("rt9's pod route not in the FIB: %+v", table.Routes())
		}
		return nil
	})
}

func waitFor(t *testing.T, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
