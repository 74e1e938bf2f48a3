package main

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/test/bgplab"
	"github.com/opengsi/gsi/test/netlab"
)

// The demo's network, one namespace per host, addressed as test/demo/cluster.yaml says:
//
//	tgw  (FRR: the TGW's two BGP addresses 169.254.10.2 and .3, announcing the VPC)
//	 │ 169.254.10.0/29 (tgw1-0's inside block)
//	node ip-10-0-1-10 (crpd node: gsi-router, 169.254.10.1 and 10.0.1.10)
//	 │ 10.0.0.0/16
//	control ip-10-0-17-20 (BIRD as the CN2 control node, AS 64512)
//	 │ 10.0.32.0/20
//	compute (the vRouters 10.0.32.11 and .12 holding the pods)
var (
	labNodeAddr    = netip.MustParseAddr("10.0.1.10")
	labControlAddr = netip.MustParseAddr("10.0.17.20")
	labRouterIn    = netip.MustParseAddr("169.254.10.1")
	labTGWAddrs    = []netip.Addr{netip.MustParseAddr("169.254.10.2"), netip.MustParseAddr("169.254.10.3")}
	labVRouters    = []netip.Addr{netip.MustParseAddr("10.0.32.11"), netip.MustParseAddr("10.0.32.12")}
	labVPC         = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("10.1.0.0/16")}
)

// lab is the running network.
type lab struct {
	tb      *labTB
	node    *netlab.Host
	tgw     []*bgplab.FRR
	control *bgplab.BIRD
	bin     string
	// kubeconfig reaches the API server from inside the node's namespace
	kubeconfig string
}

// startLab builds the namespaces and starts FRR and BIRD; the router starts later,
// when the stand-in kubelet runs the router pod.
func (d *demo) startLab(context.Context) (err error) {
	defer catch(&err)
	tb, err := newLabTB(d.dir)
	if err != nil {
		return err
	}
	d.closers = append(d.closers, tb.close)
	net := netlab.New(tb)
	tgw, node, control, compute := net.Host("tgw"), net.Host("node"), net.Host("control"), net.Host("compute")
	_, tgwIf := net.Link(node, tgw, labRouterIn.String()+"/29", labTGWAddrs[0].String()+"/29")
	tgw.Run(tb, "ip", "addr", "add", labTGWAddrs[1].String()+"/29", "dev", tgwIf)
	net.Link(node, control, labNodeAddr.String()+"/16", labControlAddr.String()+"/16")
	_, cIf := net.Link(control, compute, "10.0.32.1/20", labVRouters[0].String()+"/20")
	compute.Run(tb, "ip", "addr", "add", labVRouters[1].String()+"/20", "dev", cIf)

	l := &lab{tb: tb, node: node, bin: d.bin, kubeconfig: d.kubeconfig}
	for _, a := range labTGWAddrs {
		l.tgw = append(l.tgw, bgplab.StartFRR(tb, tgw, bgplab.TGWConfig{
			Address: a, ASN: 64513, Peer: labRouterIn, PeerASN: 64513, Networks: labVPC,
			Keepalive: 10 * time.Second, Hold: 30 * time.Second,
		}))
	}
	l.control = bgplab.StartBIRD(tb, control, "bird-control", bgplab.ControlNodeConfig{
		Address: labControlAddr, ASN: 64512,
		Peers:     []bgplab.BIRDPeer{{Name: "gsi_tgw1_0", Address: labNodeAddr, ASN: 64512}}, // iBGP, as gsi-router speaks to control nodes
		Keepalive: 10 * time.Second, Hold: 30 * time.Second,
		VNs: []bgplab.VNRoutes{
			demoVNRoutes("web", 8000001, "172.16.0.10/32", "172.16.0.11/32"),
			demoVNRoutes("db", 8000002, "172.17.0.10/32"),
		},
	})
	// the router pod reaches the API server as it would in a cluster: the kubeconfig's
	// address, here 127.0.0.1 forwarded from the node's namespace
	api, err := url.Parse(d.env.Config.Host)
	if err != nil {
		return fmt.Errorf("API server address %q: %w", d.env.Config.Host, err)
	}
	node.Forward(tb, api.Host, api.Host)
	d.lab = l
	return nil
}

// demoVNRoutes are a VN's pod routes as a CN2 control node announces them: one /32 per
// pod, next hop a vRouter, its label, the VN's route target and MPLS-over-UDP.
func demoVNRoutes(name string, rt uint32, pods ...string) bgplab.VNRoutes {
	vn := bgplab.VNRoutes{Name: name, RouteTarget: config.RouteTarget{ASN: 64512, Value: rt}, Encap: bgplab.EncapMPLSoUDP}
	for i, p := range pods {
		vn.Pods = append(vn.Pods, bgplab.Pod{
			RD: fmt.Sprintf("%s:%d", labVRouters[i%2], rt-8000000), Prefix: netip.MustParsePrefix(p),
			VRouter: labVRouters[i%2], Label: uint32(25 + i),
		})
	}
	return vn
}

// startRouter is the stand-in kubelet's StartFunc: it runs gsi-router for a router pod
// inside the node's namespace, with the pod's arguments.
func (l *lab) startRouter(_ context.Context, pod *corev1.Pod, _ *corev1.Node) (stop func(), err error) {
	defer catch(&err)
	var args []string
	for _, c := range pod.Spec.Containers {
		if len(c.Args) > 0 && c.Args[0] == "run" {
			args = c.Args
		}
	}
	if args == nil {
		return nil, fmt.Errorf("pod %s has no gsi-router container", pod.Name)
	}
	// what the pod's service account token gives a real router
	if err := os.Setenv("KUBECONFIG", l.kubeconfig); err != nil {
		return nil, err
	}
	p := l.node.Start(l.tb, pod.Name, append([]string{filepath.Join(l.bin, "gsi-router")}, args...)...)
	return p.Stop, nil
}

// labTour shows the network's side: what the TGW learned from the routers, and what the
// control node learned of the VPC.
func (d *demo) labTour() {
	fmt.Printf("$ vtysh -c 'show bgp ipv4 unicast'        # on the TGW (FRR, %s)\n", labTGWAddrs[0])
	if out, err := d.lab.tgw[0].VTY("show bgp ipv4 unicast"); err == nil {
		fmt.Print(indent(out))
	} else {
		fmt.Printf("    (%v)\n", err)
	}
	fmt.Printf("$ birdc show route table vpntab            # on the CN2 control node (BIRD, %s)\n", labControlAddr)
	if out, err := d.lab.control.Birdc("show", "route", "table", "vpntab"); err == nil {
		fmt.Print(indent(out))
	} else {
		fmt.Printf("    (%v)\n", err)
	}
}
