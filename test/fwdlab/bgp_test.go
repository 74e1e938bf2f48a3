package fwdlab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/debug"
	"github.com/opengsi/gsi/test/bgplab"
	"github.com/opengsi/gsi/test/netlab"
)

// TestBGPInsideGREProgramsTheForwarding is the whole router: gsi-router (GoBGP and the
// data plane, as a process in the router namespace) peers with FRR as the TGW through
// the GRE tunnel only, and with BIRD as a CN2 control node; what they announce is what
// the packets follow: the VPC prefix from FRR, pod routes with vRouter labels from BIRD.
func TestBGPInsideGREProgramsTheForwarding(t *testing.T) {
	requireTools(t)
	netlab.Require(t, bgplab.BGPD, "vtysh", "bird", "birdc", "curl")
	l := New(t, Options{ExternalRouter: true, TGWLinkMTU: 9001, VR1LinkMTU: 9001, VR2LinkMTU: 9001})
	tgwAddrs := []netip.Addr{TGWInside, TGWInside.Next()}
	tgwIf := strings.TrimSpace(l.TGW.Run(t, "sh", "-c", "ip -o addr show to "+TGWInside.String()+" | cut -d' ' -f2"))
	l.TGW.Run(t, "ip", "addr", "add", tgwAddrs[1].String()+"/29", "dev", tgwIf)

	// the control node: BGP over a plain link; the vRouters' addresses are on-link for
	// BIRD through a stub link, so it accepts them as next hops of its pod routes
	ctl := l.Net.Host("ctl")
	stub := l.Net.Host("stub")
	l.Net.Link(l.Router, ctl, "10.0.9.1/30", "10.0.9.2/30")
	l.Net.Link(ctl, stub, "10.0.2.100/23", "")

	const routerASN, tgwASN, ctlASN = 64513, 64512, 64600
	rt := config.RouteTarget{ASN: 64512, Value: 8000001}
	timers := config.Timers{Keepalive: config.Duration{Duration: 3 * time.Second}, Hold: config.Duration{Duration: 9 * time.Second}}
	var frrs []*bgplab.FRR
	for _, a := range tgwAddrs {
		frrs = append(frrs, bgplab.StartFRR(t, l.TGW, bgplab.TGWConfig{
			Address: a, ASN: tgwASN, Peer: Inside.Addr(), PeerASN: routerASN, Networks: []netip.Prefix{VPC},
			Keepalive: timers.Keepalive.Duration, Hold: timers.Hold.Duration,
		}))
	}
	bgplab.StartBIRD(t, ctl, "bird-ctl", bgplab.ControlNodeConfig{
		Address: netip.MustParseAddr("10.0.9.2"), ASN: ctlASN,
		Peers: []bgplab.BIRDPeer{{Name: "gsi", Address: netip.MustParseAddr("10.0.9.1"), ASN: ctlASN}},
		VNs: []bgplab.VNRoutes{{Name: "vn1", RouteTarget: rt, Encap: bgplab.EncapMPLSoUDP, Pods: []bgplab.Pod{
			{RD: "10.0.2.2:1", Prefix: netip.PrefixFrom(Pod1, 32), VRouter: VR1, Label: LabelPod1},
			{RD: "10.0.3.2:1", Prefix: netip.PrefixFrom(Pod2, 32), VRouter: VR2, Label: LabelPod2},
		}}},
		Keepalive: timers.Keepalive.Duration, Hold: timers.Hold.Duration,
	})

	cfg := config.Config{
		RouterID: Inside.Addr(), ASN: routerASN, Timers: timers,
		TGW:          config.TGW{ASN: tgwASN, LocalAddress: Inside.Addr(), Peers: tgwAddrs, TunnelRemote: TGWGRE},
		ControlNodes: config.ControlNodes{ASN: ctlASN, Peers: []netip.Addr{netip.MustParseAddr("10.0.9.2")}, NextHop: RouterNode},
		VNs:          []config.VN{{Name: "lab/vn1", Subnets: []netip.Prefix{PodNet}, RouteTarget: rt}},
		// the vRouter stand-ins put this label on traffic to the router
		LabelBase: LabelRouter,
	}
	cfg.Default()
	bin, err := bgplab.BuildRouter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &bgplab.Router{Host: l.Router, Bin: bin, ConfigPath: filepath.Join(t.TempDir(), "router.yaml")}
	if err := r.Write(cfg); err != nil {
		t.Fatal(err)
	}
	proc := l.Router.Start(t, "gsi-router", bin, "run", "--config", r.ConfigPath, "--grpc-listen=",
		"--dataplane-interfaces", strings.Join([]string{l.RouterTGWIf, l.RouterVR1If, l.RouterVR2If}, ","),
		"--dataplane-address", RouterNode.String(), "--dataplane-pin=")

	// both TGW sessions come up, carried only by GRE
	netlab.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		if proc.Exited() {
			t.Fatalf("gsi-router exited: %v", proc.Wait())
		}
		for _, f := range frrs {
			n, err := f.Neighbor()
			if err != nil {
				return err
			}
			if n.State != "Established" {
				return fmt.Errorf("TGW %s: session %s", f.Config.Address, n.State)
			}
			learned, err := f.Learned()
			if err != nil {
				return err
			}
			if _, ok := learned[PodNet]; !ok {
				return fmt.Errorf("TGW %s has not learnt %s: %v", f.Config.Address, PodNet, learned)
			}
		}
		return nil
	})
	// the data plane holds what BGP agreed on
	wantRoutes := []string{
		"10.1.0.0/16 -> gre via 192.0.2.1",
		"10.9.0.5/32 -> mpls-udp label 100 via 10.0.2.2",
		"10.9.0.6/32 -> mpls-udp label 200 via 10.0.3.2",
	}
	netlab.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		view, err := l.Router.Output("curl", "-sf", "http://127.0.0.1:9179/debug/dataplane")
		if err != nil {
			return err
		}
		for _, w := range append(wantRoutes, fmt.Sprintf("local labels (1): [%d]", LabelRouter)) {
			if !strings.Contains(view, w) {
				return fmt.Errorf("data plane view lacks %q:\n%s", w, view)
			}
		}
		return nil
	})
	var fibView debug.FIBView
	if err := r.Show("fib", &fibView); err != nil {
		t.Fatal(err)
	}
	t.Logf("router FIB: %+v", fibView)

	// from here on (the data plane attached: before, the router's kernel answered GRE
	// with protocol-unreachable) every frame between TGW and router must be GRE
	onTGW := StartCapture(t, l.Router, l.RouterTGWIf)
	bgpIn := dpCounter(t, l, "gre_to_local")
	onVR1 := StartCapture(t, l.Router, l.RouterVR1If)
	for _, pod := range []netip.Addr{Pod1, Pod2} {
		out := l.EC2.Run(t, "ping", "-c", "3", "-i", "0.2", "-W", "2", pod.String())
		if !strings.Contains(out, "3 received") {
			t.Fatalf("ping EC2 -> %s over BGP-learnt routes:\n%s", pod, out)
		}
	}
	checkMPLSLink(t, onVR1.Stop(t), LabelPod1, false)
	// a BGP message (keepalives every 3 s) has come through the tunnel meanwhile
	netlab.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		if n := dpCounter(t, l, "gre_to_local"); n <= bgpIn {
			return fmt.Errorf("no BGP from the TGW through GRE yet (%d)", n)
		}
		return nil
	})

	// every IPv4 frame between TGW and router was GRE, BGP (TCP 179) included
	var bgp int
	for i, f := range onTGW.Stop(t) {
		if f.Get("ip.src", 0) == "" {
			continue
		}
		if p := f.Get("frame.protocols", 0); !strings.HasPrefix(p, "eth:ethertype:ip:gre:ip:") {
			t.Fatalf("frame %d between TGW and router is not GRE: %s", i, p)
		}
		if f.Get("tcp.srcport", 0) == "179" || f.Get("tcp.dstport", 0) == "179" {
			bgp++
		}
	}
	if bgp == 0 {
		t.Fatal("no BGP inside GRE on the TGW link")
	}
	view := l.Router.Run(t, "curl", "-sf", "http://127.0.0.1:9179/debug/dataplane")
	for _, dir := range []string{"gre_to_local", "local_to_gre", "gre_to_mpls", "mpls_to_gre"} {
		if strings.Contains(view, fmt.Sprintf(" %-16s %12d pkts", dir, 0)) {
			t.Errorf("no %s packets:\n%s", dir, view)
		}
	}
	if t.Failed() {
		b, _ := os.ReadFile(proc.Log)
		t.Logf("gsi-router log:\n%s", b)
	}
}

// dpCounter reads one counter of gsi-router's data plane debug view.
func dpCounter(t *testing.T, l *Lab, name string) int {
	t.Helper()
	view := l.Router.Run(t, "curl", "-sf", "http://127.0.0.1:9179/debug/dataplane")
	for _, line := range strings.Split(view, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] == name && f[3] == "pkts" {
			n, err := strconv.Atoi(f[2])
			if err != nil {
				t.Fatalf("counter %s: %v", name, err)
			}
			return n
		}
	}
	t.Fatalf("no counter %s in the data plane view:\n%s", name, view)
	return 0
}
