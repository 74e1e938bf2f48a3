package fwdlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opengsi/gsi/router/dataplane"
	"github.com/opengsi/gsi/router/fib"
	"github.com/opengsi/gsi/test/netlab"
)

func requireTools(t *testing.T) {
	t.Helper()
	netlab.Require(t, "ip", "ethtool", "ping", "tshark", "iperf3")
}

// functionalLab: jumbo underlay towards the TGW with a 1500 route MTU on the router
// (GRE MTU 1476), vr1 behind a 1500 link (MPLSoUDP MTU 1468), vr2 behind a jumbo link.
func functionalLab(t *testing.T) *Lab {
	return New(t, Options{EndpointMTU: 9001, TGWLinkMTU: 9001, RouterTGWMTU: 1500, VR1LinkMTU: 1500, VR2LinkMTU: 9001, Pod2MTU: 9001})
}

func TestPingAndTCPThroughGREAndMPLSoUDP(t *testing.T) {
	requireTools(t)
	l := functionalLab(t)
	onTGW := StartCapture(t, l.Router, l.RouterTGWIf)
	onVR1 := StartCapture(t, l.Router, l.RouterVR1If)

	out := l.EC2.Run(t, "ping", "-c", "3", "-i", "0.2", "-W", "2", Pod1.String())
	if !strings.Contains(out, "3 received") {
		t.Fatalf("ping EC2 -> pod1:\n%s", out)
	}
	// 4 MiB each way over one TCP connection, compared by digest: the first full-size
	// segments also meet the 1468-byte MPLSoUDP MTU and path MTU discovery
	transferTCP(t, l.EC2, l.P1, netip.AddrPortFrom(Pod1, 17000), 4<<20)

	greFrames := onTGW.Stop(t)
	mplsFrames := onVR1.Stop(t)
	checkGRELink(t, greFrames)
	checkMPLSLink(t, mplsFrames, LabelPod1, true)

	s, err := l.DP.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Forwarded["gre_to_mpls"].Packets == 0 || s.Forwarded["mpls_to_gre"].Packets == 0 {
		t.Fatalf("forwarding counters: %+v", s.Forwarded)
	}
	for reason, c := range s.Dropped {
		// TCP's first full-size segments meet the 1468-byte MPLSoUDP MTU: too_big is
		// path MTU discovery at work; nothing else may be dropped.
		if c.Packets != 0 && reason != "too_big" {
			t.Errorf("dropped %d packets: %s", c.Packets, reason)
		}
	}
	t.Logf("counters: forwarded %+v dropped %+v icmp %+v", s.Forwarded, s.Dropped, s.ICMPSent)
}

// checkGRELink: every IPv4 frame between the router and the TGW stand-in is GRE
// (RFC 2784, no options, version 0) between the tunnel ends, carrying IPv4.
func checkGRELink(t *testing.T, frames []Frame) {
	t.Helper()
	var echoReq, echoRep, tcp int
	for i, f := range frames {
		if f.Get("ip.src", 0) == "" {
			continue // ARP
		}
		if f["_ws.malformed"] != nil {
			t.Fatalf("frame %d malformed: %v", i, f)
		}
		if got := f.Get("frame.protocols", 0); !strings.HasPrefix(got, "eth:ethertype:ip:gre:ip:") {
			t.Fatalf("frame %d on the GRE link is %q, want GRE carrying IPv4", i, got)
		}
		if f.Get("gre.proto", 0) != "0x0800" || f.Get("gre.flags_and_version", 0) != "0x0000" {
			t.Fatalf("frame %d: GRE proto %s flags %s", i, f.Get("gre.proto", 0), f.Get("gre.flags_and_version", 0))
		}
		if f.Get("ip.checksum.status", 0) != "1" || f.Get("ip.checksum.status", 1) != "1" {
			// tshark: 0 bad, 1 good, 2 unverified
			t.Fatalf("frame %d: outer IP checksum status %s", i, f.Get("ip.checksum.status", 0))
		}
		outer := [2]string{f.Get("ip.src", 0), f.Get("ip.dst", 0)}
		inner := [2]string{f.Get("ip.src", 1), f.Get("ip.dst", 1)}
		switch outer {
		case [2]string{TGWGRE.String(), RouterNode.String()}:
			if inner == [2]string{EC2.String(), Pod1.String()} && f.Get("icmp.type", 0) == "8" {
				echoReq++
				// EC2 sends TTL 64, the TGW stand-in forwards it: 63 inside
				if f.Get("ip.ttl", 1) != "63" {
					t.Errorf("echo request inner TTL %s, want 63", f.Get("ip.ttl", 1))
				}
			}
		case [2]string{RouterNode.String(), TGWGRE.String()}:
			if inner == [2]string{Pod1.String(), EC2.String()} && f.Get("icmp.type", 0) == "0" {
				echoRep++
				// pod 64, vRouter 63, router 62
				if f.Get("ip.ttl", 1) != "62" {
					t.Errorf("echo reply inner TTL %s, want 62 (decremented by the router)", f.Get("ip.ttl", 1))
				}
			}
		default:
			t.Fatalf("frame %d: GRE between %v, want %s <-> %s", i, outer, TGWGRE, RouterNode)
		}
		if f.Get("tcp.len", 0) != "" {
			tcp++
			if st := f.Get("tcp.checksum.status", 0); st != "1" {
				t.Fatalf("frame %d: inner TCP checksum status %s, want good", i, st)
			}
		}
	}
	if echoReq != 3 || echoRep != 3 || tcp == 0 {
		t.Fatalf("GRE link: %d echo requests, %d replies, %d TCP segments; want 3, 3, >0", echoReq, echoRep, tcp)
	}
}

// checkMPLSLink: every IPv4 frame between the router and vr1 is MPLS-in-UDP to port
// 6635 with one label (S bit set), the FIB's label towards the vRouter and the router's
// own label back, and the MPLS TTL equal to the inner TTL.
func checkMPLSLink(t *testing.T, frames []Frame, podLabel int, wantTCP bool) {
	t.Helper()
	var toVR, fromVR, tcp int
	for i, f := range frames {
		if f.Get("ip.src", 0) == "" {
			continue
		}
		if f["_ws.malformed"] != nil {
			t.Fatalf("frame %d malformed: %v", i, f)
		}
		if got := f.Get("frame.protocols", 0); !strings.HasPrefix(got, "eth:ethertype:ip:udp:mpls:ip:") {
			t.Fatalf("frame %d on the MPLSoUDP link is %q", i, got)
		}
		if f.Get("udp.dstport", 0) != "6635" || len(f["mpls.label"]) != 1 || f.Get("mpls.bottom", 0) != "1" {
			t.Fatalf("frame %d: UDP dst %s labels %v bottom %v", i, f.Get("udp.dstport", 0), f["mpls.label"], f["mpls.bottom"])
		}
		if f.Get("mpls.ttl", 0) != f.Get("ip.ttl", 1) {
			t.Fatalf("frame %d: MPLS TTL %s, inner TTL %s", i, f.Get("mpls.ttl", 0), f.Get("ip.ttl", 1))
		}
		label, _ := strconv.Atoi(f.Get("mpls.label", 0))
		switch [2]string{f.Get("ip.src", 0), f.Get("ip.dst", 0)} {
		case [2]string{RouterNode.String(), VR1.String()}:
			toVR++
			if label != podLabel {
				t.Fatalf("frame %d to vr1 carries label %d, want the FIB's %d", i, label, podLabel)
			}
			sport, _ := strconv.Atoi(f.Get("udp.srcport", 0))
			if sport < 49152 {
				t.Fatalf("frame %d: UDP source port %d outside the RFC 7510 entropy range", i, sport)
			}
			if f.Get("icmp.type", 0) == "8" && f.Get("ip.ttl", 1) != "62" {
				t.Errorf("echo request to the pod: inner TTL %s, want 62", f.Get("ip.ttl", 1))
			}
		case [2]string{VR1.String(), RouterNode.String()}:
			fromVR++
			if label != LabelRouter {
				t.Fatalf("frame %d from vr1 carries label %d, want the router's %d", i, label, LabelRouter)
			}
		default:
			t.Fatalf("frame %d: MPLSoUDP between %s and %s", i, f.Get("ip.src", 0), f.Get("ip.dst", 0))
		}
		if f.Get("tcp.len", 0) != "" {
			tcp++
			if st := f.Get("tcp.checksum.status", 0); st != "1" {
				t.Fatalf("frame %d: inner TCP checksum status %s, want good", i, st)
			}
		}
	}
	if toVR == 0 || fromVR == 0 || (wantTCP && tcp == 0) {
		t.Fatalf("MPLSoUDP link: %d frames to vr1, %d from, %d TCP; want all > 0", toVR, fromVR, tcp)
	}
}

// transferTCP sends size random bytes from client to server and back over one TCP
// connection and checks both copies by SHA-256.
func transferTCP(t *testing.T, client, server *netlab.Host, at netip.AddrPort, size int) {
	t.Helper()
	var ln net.Listener
	if err := server.Do(func() (err error) {
		ln, err = net.Listen("tcp4", at.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// the server echoes everything back
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c)
		srvErr <- err
	}()
	var conn net.Conn
	if err := client.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp4", at.String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	sendErr := make(chan error, 1)
	go func() {
		_, err := conn.Write(data)
		if err == nil {
			err = conn.(*net.TCPConn).CloseWrite()
		}
		sendErr <- err
	}()
	h := sha256.New()
	n, err := io.Copy(h, conn)
	if err != nil {
		t.Fatalf("receiving the echo after %d bytes: %v", n, err)
	}
	if err := <-sendErr; err != nil {
		t.Fatalf("sending: %v", err)
	}
	if err := <-srvErr; err != nil {
		t.Fatalf("server: %v", err)
	}
	if want := sha256.Sum256(data); n != int64(size) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("echoed %d bytes with digest %x, want %d bytes %x", n, h.Sum(nil), size, want)
	}
}

func waitListening(t testing.TB, h *netlab.Host, port string) {
	t.Helper()
	netlab.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		out, err := h.Output("ss", "-Hltn", "sport", "= :"+port)
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) == "" {
			return fmt.Errorf("nothing listening on %s in %s", port, h.Name)
		}
		return nil
	})
}

// iperfResult is the part of iperf3's JSON report the lab reads.
type iperfResult struct {
	End struct {
		SumReceived struct {
			Bytes         float64 `json:"bytes"`
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
		Sum struct {
			Packets       float64 `json:"packets"`
			BitsPerSecond float64 `json:"bits_per_second"`
			LostPackets   float64 `json:"lost_packets"`
			Seconds       float64 `json:"seconds"`
		} `json:"sum"`
	} `json:"end"`
	Error string `json:"error"`
}

func runIperf(t testing.TB, h *netlab.Host, reverse bool, args ...string) iperfResult {
	t.Helper()
	args = append([]string{"-J"}, args...)
	if reverse {
		args = append(args, "-R")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := h.Command(ctx, "iperf3", args...)
	outb, err := cmd.Output()
	out := string(outb)
	var r iperfResult
	if jerr := json.Unmarshal([]byte(out), &r); jerr != nil {
		t.Fatalf("iperf3 %v: %v (%v)\n%s", args, jerr, err, out)
	}
	if r.Error != "" || err != nil {
		t.Fatalf("iperf3 %v: %s %v", args, r.Error, err)
	}
	return r
}

func TestOversizePacketsGetFragmentationNeeded(t *testing.T) {
	requireTools(t)
	l := functionalLab(t)
	for _, tc := range []struct {
		name    string
		from    *netlab.Host
		to      netip.Addr
		wantMTU int
	}{
		// EC2 -> pod1: vr1's link is 1500, MPLSoUDP adds 32
		{"gre to mpls-udp", l.EC2, Pod1, 1500 - 32},
		// pod2 -> EC2: the router's route to the TGW has MTU 1500, GRE adds 24
		{"mpls-udp to gre", l.P2, EC2, 1500 - 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := tc.from.Output("ping", "-M", "do", "-s", "2000", "-c", "1", "-W", "2", tc.to.String())
			want := regexp.MustCompile(fmt.Sprintf(`From %s .*Frag needed and DF set \(mtu = %d\)`, regexp.QuoteMeta(RouterNode.String()), tc.wantMTU))
			if !want.MatchString(out) {
				t.Fatalf("ping -M do -s 2000 %s:\n%s\nwant %s", tc.to, out, want)
			}
			// the sender learnt the path MTU, and packets that fit it pass
			route := tc.from.Run(t, "ip", "route", "get", tc.to.String())
			if !strings.Contains(route, fmt.Sprintf("mtu %d", tc.wantMTU)) {
				t.Fatalf("path MTU not learnt: %s", route)
			}
			size := tc.wantMTU - 28
			if out, err := tc.from.Output("ping", "-M", "do", "-s", strconv.Itoa(size), "-c", "1", "-W", "2", tc.to.String()); err != nil {
				t.Fatalf("ping of %d bytes: %v\n%s", size, err, out)
			}
		})
	}
	s, err := l.DP.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.ICMPSent["frag_needed"].Packets < 2 || s.Dropped["too_big"].Packets < 2 {
		t.Fatalf("counters: icmp %+v dropped %+v", s.ICMPSent, s.Dropped)
	}
}

func TestECMPSpreadsFlowsAcrossVRouters(t *testing.T) {
	requireTools(t)
	l := functionalLab(t)
	c1 := StartCapture(t, l.Router, l.RouterVR1If)
	c2 := StartCapture(t, l.Router, l.RouterVR2If)
	const flows = 64
	// two packets per flow, each flow from its own source port
	if err := l.EC2.Do(func() error { return sendFlows(flows, 2) }); err != nil {
		t.Fatal(err)
	}
	netlab.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		_, d1, _, err := l.Standins["vr1"].Stats()
		if err != nil {
			return err
		}
		_, d2, _, err := l.Standins["vr2"].Stats()
		if err != nil {
			return err
		}
		if d1+d2 < 2*flows {
			return fmt.Errorf("vRouters decapsulated %d+%d packets, want %d", d1, d2, 2*flows)
		}
		return nil
	})
	byLink := map[string]map[string]int{"vr1": {}, "vr2": {}}
	for name, c := range map[string]*Capture{"vr1": c1, "vr2": c2} {
		for _, f := range c.Stop(t) {
			if f.Get("udp.dstport", 1) != "9" || f.Get("ip.dst", 1) != Service.String() {
				continue
			}
			want := map[string]string{"vr1": strconv.Itoa(LabelSvcVR1), "vr2": strconv.Itoa(LabelSvcVR2)}[name]
			if f.Get("mpls.label", 0) != want {
				t.Fatalf("service packet to %s with label %s, want %s", name, f.Get("mpls.label", 0), want)
			}
			byLink[name][f.Get("udp.srcport", 1)]++
		}
	}
	for port := range byLink["vr1"] {
		if byLink["vr2"][port] > 0 {
			t.Errorf("flow from port %s went to both vRouters", port)
		}
	}
	n1, n2 := len(byLink["vr1"]), len(byLink["vr2"])
	t.Logf("flows: vr1 %d, vr2 %d", n1, n2)
	if n1+n2 != flows {
		t.Fatalf("saw %d flows, want %d", n1+n2, flows)
	}
	// binomial(64, 1/2): fewer than 16 on one side has probability < 1e-4
	if n1 < 16 || n2 < 16 {
		t.Fatalf("flows not spread: vr1 %d, vr2 %d", n1, n2)
	}
}

// sendFlows sends n UDP flows of per packets each to the service address, port 9.
// The sockets are unconnected: the pods' port-unreachable replies must not stop them.
func sendFlows(n, per int) error {
	dst := &net.UDPAddr{IP: net.IP(Service.AsSlice()), Port: 9}
	for i := 0; i < n; i++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IP(EC2.AsSlice()), Port: 40000 + i})
		if err != nil {
			return fmt.Errorf("flow %d: %w", i, err)
		}
		for j := 0; j < per; j++ {
			if _, err := c.WriteTo([]byte("ecmp"), dst); err != nil {
				c.Close()
				return fmt.Errorf("flow %d: %w", i, err)
			}
		}
		c.Close()
	}
	return nil
}

func TestBGPInsideAddressIsReachedOnlyThroughGRE(t *testing.T) {
	requireTools(t)
	l := functionalLab(t)
	// the TGW reaches the router's inside address through its GRE end; the router
	// answers from the inside address through the LWT route (locally generated GRE)
	out := l.TGW.Run(t, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-I", TGWInside.String(), Inside.Addr().String())
	if !strings.Contains(out, "2 received") {
		t.Fatalf("ping TGW inside -> router inside:\n%s", out)
	}
	s, err := l.DP.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Forwarded["gre_to_local"].Packets < 2 || s.Forwarded["local_to_gre"].Packets < 2 {
		t.Fatalf("counters: %+v", s.Forwarded)
	}
	// without the tunnel, the inside address is unreachable
	if err := l.Router.Do(func() error { return l.DP.SetTunnels() }); err != nil {
		t.Fatal(err)
	}
	if out, err := l.TGW.Output("ping", "-c", "1", "-W", "1", Inside.Addr().String()); err == nil {
		t.Fatalf("inside address answered without a tunnel:\n%s", out)
	}
}

func TestRouteChangesReachTheDataPlane(t *testing.T) {
	requireTools(t)
	l := functionalLab(t)
	// move pod1's route to vr2's label range: vr2 has no pod1, vr1 no longer sees it
	if _, err := l.FIB.SetRoute(fib.Route{Prefix: netip.PrefixFrom(Pod1, 32), NextHops: []fib.NextHop{mplsHop(VR2, 202)}}); err != nil {
		t.Fatal(err)
	}
	netlab.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		routes, err := l.DP.ProgrammedRoutes()
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r == "10.9.0.5/32 -> mpls-udp label 202 via 10.0.3.2" {
				return nil
			}
		}
		return fmt.Errorf("routes: %q", routes)
	})
	l.FIB.DeleteRoute(netip.PrefixFrom(Pod1, 32))
	out, _ := l.EC2.Output("ping", "-c", "1", "-W", "2", Pod1.String())
	if !strings.Contains(out, "Destination Net Unreachable") {
		t.Fatalf("ping to a withdrawn pod:\n%s", out)
	}
}

// TestLegacyTCAttachmentForwards runs the lab with the tc (cls_bpf) attachment used on
// kernels without TCX, and checks it is replaced in place and removed on Close.
func TestLegacyTCAttachmentForwards(t *testing.T) {
	requireTools(t)
	netlab.Require(t, "tc")
	l := New(t, Options{Attach: dataplane.AttachTC})
	for _, pod := range []netip.Addr{Pod1, Pod2} {
		if out, err := l.EC2.Output("ping", "-c", "2", "-i", "0.2", "-W", "2", pod.String()); err != nil {
			t.Fatalf("ping %s: %v\n%s", pod, err, out)
		}
	}
	filters := func() string { return l.Router.Run(t, "tc", "filter", "show", "dev", l.RouterTGWIf, "ingress") }
	if f := filters(); !strings.Contains(f, "gsi_ingress") || !strings.Contains(f, "direct-action") || strings.Count(f, "direct-action") != 1 {
		t.Fatalf("tc filter:\n%s", f)
	}
	// attaching again replaces the program in place: still one filter, still forwarding
	if err := l.Router.Do(func() error { return l.DP.Attach(l.RouterTGWIf) }); err != nil {
		t.Fatal(err)
	}
	if f := filters(); strings.Count(f, "direct-action") != 1 {
		t.Fatalf("tc filter after re-attach:\n%s", f)
	}
	if out, err := l.EC2.Output("ping", "-c", "1", "-W", "2", Pod1.String()); err != nil {
		t.Fatalf("ping after re-attach: %v\n%s", err, out)
	}
	if err := l.Router.Do(l.DP.Close); err != nil {
		t.Fatal(err)
	}
	if f := filters(); strings.Contains(f, "gsi_ingress") {
		t.Fatalf("tc filter left after Close:\n%s", f)
	}
}
