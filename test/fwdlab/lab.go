// Package fwdlab is the forwarding lab of the router's data plane: an "EC2 instance", a
// transit gateway stand-in with its own GRE end, the router running router/dataplane,
// and two vRouter nodes with MPLS-over-UDP ends and a pod each, all network namespaces
// joined by veth links (test/netlab).
//
//	ec2 ──── tgw ══GRE══ router ══MPLSoUDP══ vr1 ──── pod1 (10.9.0.5, 10.9.0.100)
//	                            ══MPLSoUDP══ vr2 ──── pod2 (10.9.0.6, 10.9.0.100)
//
// With Options.Kernel the same hosts and links forward plain IP with kernel routes
// instead (the benchmark's baseline).
package fwdlab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/go-logr/logr/testr"

	"github.com/opengsi/gsi/router/dataplane"
	"github.com/opengsi/gsi/router/fib"
	"github.com/opengsi/gsi/test/netlab"
)

// Addresses of the lab.
var (
	EC2        = netip.MustParseAddr("10.1.0.10")
	VPC        = netip.MustParsePrefix("10.1.0.0/16")
	TGWGRE     = netip.MustParseAddr("192.0.2.1") // in the TGW CIDR block
	RouterNode = netip.MustParseAddr("10.0.0.2")  // node IP: GRE and MPLSoUDP end
	Inside     = netip.MustParsePrefix("169.254.6.1/29")
	TGWInside  = netip.MustParseAddr("169.254.6.2")
	VR1        = netip.MustParseAddr("10.0.2.2")
	VR2        = netip.MustParseAddr("10.0.3.2")
	Pod1       = netip.MustParseAddr("10.9.0.5")
	Pod2       = netip.MustParseAddr("10.9.0.6")
	Service    = netip.MustParseAddr("10.9.0.100") // on both pods: ECMP
	PodNet     = netip.MustParsePrefix("10.9.0.0/16")
)

// Labels: the vRouters' (in the FIB, on packets to them) and the router's own.
const (
	LabelPod1    = 100
	LabelSvcVR1  = 101
	LabelPod2    = 200
	LabelSvcVR2  = 201
	LabelRouter  = 30
	vr1BaseLabel = 100
	vr2BaseLabel = 200
)

// Options shape a lab.
type Options struct {
	// Kernel forwards plain IP with kernel routes: no tunnels, no BPF.
	Kernel bool
	// MTUs of the links; zero means 1500.
	EndpointMTU  int // ec2-tgw and vrN-podN
	TGWLinkMTU   int // tgw-router
	VR1LinkMTU   int // router-vr1
	VR2LinkMTU   int // router-vr2
	Pod2MTU      int // vr2-pod2, default EndpointMTU
	RouterTGWMTU int // route MTU on the router towards the TGW CIDR; zero: the link's
	// Attach is how the router's data plane attaches (TCX, or tc on older kernels).
	Attach dataplane.AttachMode
	// ExternalRouter leaves the router namespace without a data plane: the test runs
	// one itself (e.g. as a separate process, to restart it).
	ExternalRouter bool
	// Offloads keeps TSO/GSO and checksum offload on the endpoints (faster, but the
	// frames on the links then carry partial checksums and super-packets).
	Offloads bool
}

func (o *Options) defaults() {
	for _, p := range []*int{&o.EndpointMTU, &o.TGWLinkMTU, &o.VR1LinkMTU, &o.VR2LinkMTU} {
		if *p == 0 {
			*p = 1500
		}
	}
	if o.Pod2MTU == 0 {
		o.Pod2MTU = o.EndpointMTU
	}
}

// Lab is a built forwarding lab.
type Lab struct {
	Net                                   *netlab.Lab
	EC2, TGW, Router, VR1, VR2, P1, P2    *netlab.Host
	RouterTGWIf, RouterVR1If, RouterVR2If string
	// FIB is the router's forwarding table; DP its data plane (nil with Kernel).
	FIB *fib.Table
	DP  *dataplane.Dataplane
	// Standins holds the GRE and MPLSoUDP ends: "tgw", "vr1", "vr2".
	Standins map[string]*Standin
	opts     Options
}

// New builds the lab; everything is removed when t ends.
func New(t testing.TB, o Options) *Lab {
	t.Helper()
	o.defaults()
	n := netlab.New(t)
	l := &Lab{Net: n, opts: o, Standins: map[string]*Standin{}}
	l.EC2, l.TGW, l.Router = n.Host("ec2"), n.Host("tgw"), n.Host("router")
	l.VR1, l.VR2, l.P1, l.P2 = n.Host("vr1"), n.Host("vr2"), n.Host("pod1"), n.Host("pod2")

	ec2If, tgwEC2If := n.Link(l.EC2, l.TGW, "10.1.0.10/24", "10.1.0.1/24")
	tgwIf, rTGW := n.Link(l.TGW, l.Router, "10.0.1.1/30", "10.0.1.2/30")
	rVR1, vr1If := n.Link(l.Router, l.VR1, "10.0.2.1/30", "10.0.2.2/30")
	rVR2, vr2If := n.Link(l.Router, l.VR2, "10.0.3.1/30", "10.0.3.2/30")
	vr1Pod, p1If := n.Link(l.VR1, l.P1, "10.9.0.1/24", "10.9.0.5/24")
	vr2Pod, p2If := n.Link(l.VR2, l.P2, "10.9.0.1/24", "10.9.0.6/24")
	l.RouterTGWIf, l.RouterVR1If, l.RouterVR2If = rTGW, rVR1, rVR2

	setMTU(t, l.EC2, ec2If, o.EndpointMTU)
	setMTU(t, l.TGW, tgwEC2If, o.EndpointMTU)
	setMTU(t, l.TGW, tgwIf, o.TGWLinkMTU)
	setMTU(t, l.Router, rTGW, o.TGWLinkMTU)
	setMTU(t, l.Router, rVR1, o.VR1LinkMTU)
	setMTU(t, l.VR1, vr1If, o.VR1LinkMTU)
	setMTU(t, l.Router, rVR2, o.VR2LinkMTU)
	setMTU(t, l.VR2, vr2If, o.VR2LinkMTU)
	setMTU(t, l.VR1, vr1Pod, o.EndpointMTU)
	setMTU(t, l.P1, p1If, o.EndpointMTU)
	setMTU(t, l.VR2, vr2Pod, o.Pod2MTU)
	setMTU(t, l.P2, p2If, o.Pod2MTU)
	if !o.Offloads {
		// wire-like frames: full checksums, no super-packets from the endpoints
		for _, e := range []struct {
			h   *netlab.Host
			if_ string
		}{{l.EC2, ec2If}, {l.P1, p1If}, {l.P2, p2If}} {
			e.h.Run(t, "ethtool", "-K", e.if_, "tx", "off", "tso", "off", "gso", "off")
		}
	}
	for _, h := range []*netlab.Host{l.TGW, l.Router, l.VR1, l.VR2} {
		h.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	}
	l.EC2.AddRoute(t, "default", "10.1.0.1")
	l.P1.AddRoute(t, "default", "10.9.0.1")
	l.P2.AddRoute(t, "default", "10.9.0.1")
	l.P1.Run(t, "ip", "addr", "add", Service.String()+"/32", "dev", "lo")
	l.P2.Run(t, "ip", "addr", "add", Service.String()+"/32", "dev", "lo")
	l.VR1.Run(t, "ip", "route", "add", Service.String()+"/32", "via", Pod1.String())
	l.VR2.Run(t, "ip", "route", "add", Service.String()+"/32", "via", Pod2.String())

	if o.Kernel {
		l.kernelRoutes(t)
		return l
	}
	l.tunnelRoutes(t, tgwIf, vr1If, vr2If)
	if !o.ExternalRouter {
		l.startRouter(t)
	}
	return l
}

func setMTU(t testing.TB, h *netlab.Host, ifc string, mtu int) {
	t.Helper()
	h.Run(t, "ip", "link", "set", ifc, "mtu", strconv.Itoa(mtu))
}

// kernelRoutes makes every hop forward plain IP.
func (l *Lab) kernelRoutes(t testing.TB) {
	l.TGW.AddRoute(t, PodNet.String(), "10.0.1.2")
	l.Router.AddRoute(t, "10.9.0.5/32", "10.0.2.2")
	l.Router.AddRoute(t, "10.9.0.6/32", "10.0.3.2")
	l.Router.AddRoute(t, Service.String()+"/32", "10.0.2.2")
	l.Router.AddRoute(t, VPC.String(), "10.0.1.1")
	l.VR1.AddRoute(t, VPC.String(), "10.0.2.1")
	l.VR2.AddRoute(t, VPC.String(), "10.0.3.1")
}

// tunnelRoutes sets up the underlay and the stand-ins' tunnel routes: each host routes
// into its tunnel like into a point-to-point device with the tunnel's MTU.
func (l *Lab) tunnelRoutes(t testing.TB, tgwIf, vr1If, vr2If string) {
	o := l.opts
	l.Router.Run(t, "ip", "addr", "add", RouterNode.String()+"/32", "dev", "lo")
	routerTGW := []string{"route", "add", "192.0.2.0/24", "via", "10.0.1.1"}
	if o.RouterTGWMTU != 0 {
		// locked: forwarding (and bpf_fib_lookup) only honours a locked route MTU
		routerTGW = append(routerTGW, "mtu", "lock", strconv.Itoa(o.RouterTGWMTU))
	}
	l.Router.Run(t, "ip", routerTGW...)

	l.TGW.Run(t, "ip", "addr", "add", TGWGRE.String()+"/32", "dev", "lo")
	l.TGW.Run(t, "ip", "addr", "add", TGWInside.String()+"/29", "dev", tgwIf)
	l.TGW.AddRoute(t, RouterNode.String()+"/32", "10.0.1.2")
	mac := strings.TrimSpace(l.Router.Run(t, "cat", "/sys/class/net/"+l.RouterTGWIf+"/address"))
	l.TGW.Run(t, "ip", "neigh", "replace", Inside.Addr().String(), "lladdr", mac, "dev", tgwIf, "nud", "permanent")
	l.TGW.Run(t, "ip", "route", "add", PodNet.String(), "via", Inside.Addr().String(), "dev", tgwIf,
		"mtu", strconv.Itoa(o.TGWLinkMTU-dataplane.GREOverhead))
	l.Standins["tgw"] = attachStandin(t, l.TGW, tgwIf, TGWGRE, RouterNode, 0, 0, true)

	for _, v := range []struct {
		h           *netlab.Host
		ifc, router string
		addr        netip.Addr
		mtu, base   int
		name        string
	}{{l.VR1, vr1If, "10.0.2.1", VR1, o.VR1LinkMTU, vr1BaseLabel, "vr1"}, {l.VR2, vr2If, "10.0.3.1", VR2, o.VR2LinkMTU, vr2BaseLabel, "vr2"}} {
		v.h.AddRoute(t, RouterNode.String()+"/32", v.router)
		v.h.Run(t, "ip", "route", "add", VPC.String(), "via", v.router, "mtu", strconv.Itoa(v.mtu-dataplane.MPLSoUDPOverhead))
		l.Standins[v.name] = attachStandin(t, v.h, v.ifc, v.addr, RouterNode, LabelRouter, uint32(v.base), false)
	}
}

// RouterTunnel is the router's GRE tunnel to the TGW stand-in.
func (l *Lab) RouterTunnel() dataplane.Tunnel {
	return dataplane.Tunnel{Remote: TGWGRE, Local: RouterNode, Inside: Inside, Device: l.RouterTGWIf}
}

// startRouter loads the data plane in the router namespace and fills the FIB as BGP
// would have: pod routes to the vRouters, the VPC through the TGW, the router's label.
func (l *Lab) startRouter(t testing.TB) {
	t.Helper()
	tab, err := LabFIB()
	if err != nil {
		t.Fatal(err)
	}
	l.FIB = tab
	dp, err := dataplane.New(dataplane.Config{Address: RouterNode, Attach: l.opts.Attach, Log: testr.NewWithInterface(t, testr.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	l.DP = dp
	if err := l.Router.Do(func() error {
		if err := dp.Attach(l.RouterTGWIf, l.RouterVR1If, l.RouterVR2If); err != nil {
			return err
		}
		return dp.SetTunnels(l.RouterTunnel())
	}); err != nil {
		dp.Close()
		t.Fatal(err)
	}
	sub := l.FIB.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dp.Run(ctx, sub) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("data plane Run: %v", err)
		}
		sub.Close()
		// Close removes the inside route and address: do it inside the namespace
		if err := l.Router.Do(dp.Close); err != nil {
			t.Errorf("data plane Close: %v", err)
		}
	})
	netlab.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !dp.Synced() {
			return errors.New("data plane not synced")
		}
		return nil
	})
}

// LabFIB is the router's forwarding table as BGP would have filled it: pod routes to
// the vRouters (the service address on both), the VPC through the TGW, and the label
// the router allocated.
func LabFIB() (*fib.Table, error) {
	tab := fib.New()
	for _, r := range []fib.Route{
		{Prefix: netip.PrefixFrom(Pod1, 32), NextHops: []fib.NextHop{mplsHop(VR1, LabelPod1)}},
		{Prefix: netip.PrefixFrom(Pod2, 32), NextHops: []fib.NextHop{mplsHop(VR2, LabelPod2)}},
		{Prefix: netip.PrefixFrom(Service, 32), NextHops: []fib.NextHop{mplsHop(VR1, LabelSvcVR1), mplsHop(VR2, LabelSvcVR2)}},
		{Prefix: VPC, NextHops: []fib.NextHop{{Encap: fib.EncapGRE, Address: TGWGRE}}},
	} {
		if _, err := tab.SetRoute(r); err != nil {
			return nil, err
		}
	}
	if _, err := tab.SetLabel(fib.LocalLabel{Label: LabelRouter, VN: "lab/vn"}); err != nil {
		return nil, err
	}
	return tab, nil
}

func mplsHop(a netip.Addr, label uint32) fib.NextHop {
	return fib.NextHop{Encap: fib.EncapMPLSoUDP, Address: a, Label: label}
}

// Standin is one tunnel end of the lab (TGW GRE or vRouter MPLSoUDP).
type Standin struct {
	objs standinObjects
}

// Stats returns the stand-in's packet counts: encapsulated, decapsulated, rejected.
func (s *Standin) Stats() (encap, decap, reject uint64, err error) {
	var v [3]uint64
	for i := range v {
		if err := s.objs.Stats.Lookup(uint32(i), &v[i]); err != nil {
			return 0, 0, 0, fmt.Errorf("stand-in stats: %w", err)
		}
	}
	return v[0], v[1], v[2], nil
}

func attachStandin(t testing.TB, h *netlab.Host, ifc string, local, remote netip.Addr, txLabel, rxLabel uint32, gre bool) *Standin {
	t.Helper()
	spec, err := loadStandin()
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]uint32{
		"local_addr": be32(local), "remote_addr": be32(remote), "tx_label": txLabel, "rx_label": rxLabel,
	} {
		if err := spec.Variables[name].Set(v); err != nil {
			t.Fatalf("stand-in %s: %v", name, err)
		}
	}
	s := &Standin{}
	if err := spec.LoadAndAssign(&s.objs, nil); err != nil {
		t.Fatalf("loading stand-in: %v", err)
	}
	t.Cleanup(func() { s.objs.Close() })
	enc, dec := s.objs.MplsEncap, s.objs.MplsDecap
	if gre {
		enc, dec = s.objs.GreEncap, s.objs.GreDecap
	}
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifc)
		if err != nil {
			return err
		}
		for _, a := range []struct {
			p  *ebpf.Program
			at ebpf.AttachType
		}{{enc, ebpf.AttachTCXEgress}, {dec, ebpf.AttachTCXIngress}} {
			lk, err := link.AttachTCX(link.TCXOptions{Interface: ifi.Index, Program: a.p, Attach: a.at})
			if err != nil {
				return fmt.Errorf("attaching stand-in on %s: %w", ifc, err)
			}
			t.Cleanup(func() { lk.Close() })
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

func be32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:])
}
