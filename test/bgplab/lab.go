package bgplab

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/router/debug"
	"github.com/opengsi/gsi/router/status"
	"github.com/opengsi/gsi/test/netlab"
)

// The lab's addresses: the Connect peer's inside /29 between router and TGW, a link to
// the control node, and the vRouters' network behind the control node.
var (
	RouterTGWAddr  = netip.MustParseAddr("169.254.10.1")
	TGWAddrs       = []netip.Addr{netip.MustParseAddr("169.254.10.2"), netip.MustParseAddr("169.254.10.3")}
	RouterCtlAddr  = netip.MustParseAddr("10.10.0.1")
	CtlAddr        = netip.MustParseAddr("10.10.0.2")
	VRouterNetAddr = netip.MustParseAddr("10.20.0.1")
	VRouters       = []netip.Addr{netip.MustParseAddr("10.20.0.11"), netip.MustParseAddr("10.20.0.12")}
	// TunnelRemote stands for the TGW's GRE address (from the TGW CIDR block).
	TunnelRemote = netip.MustParseAddr("192.0.2.1")
)

// BuildRouter compiles cmd/gsi-router into dir and returns the binary's path. With
// GSI_ROUTER_RACE=1 the router is built with the race detector (its reports fail the
// process, and the log is printed with the failing test).
func BuildRouter(dir string) (string, error) {
	bin := filepath.Join(dir, "gsi-router")
	args := []string{"build", "-o", bin}
	if os.Getenv("GSI_ROUTER_RACE") == "1" {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/opengsi/gsi/cmd/gsi-router")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build gsi-router: %w: %s", err, out)
	}
	return bin, nil
}

// Router is gsi-router running in a namespace with a config file.
type Router struct {
	Host       *netlab.Host
	Bin        string
	ConfigPath string
	Proc       *netlab.Process
	t          testing.TB
}

// StartRouter writes cfg and starts gsi-router with it inside h.
func StartRouter(t testing.TB, h *netlab.Host, bin string, cfg config.Config) *Router {
	t.Helper()
	r := &Router{Host: h, Bin: bin, ConfigPath: filepath.Join(t.TempDir(), "router.yaml"), t: t}
	if err := r.Write(cfg); err != nil {
		t.Fatal(err)
	}
	r.Start()
	return r
}

// Start (re)starts the process and waits for its debug endpoint.
func (r *Router) Start() {
	r.t.Helper()
	r.Proc = r.Host.Start(r.t, "gsi-router", r.Bin, "run", "--config", r.ConfigPath)
	netlab.Eventually(r.t, 10*time.Second, 20*time.Millisecond, func() error {
		if r.Proc.Exited() {
			r.t.Fatalf("gsi-router exited: %v", r.Proc.Wait())
		}
		var vns []debug.VNView
		return r.Show("vns", &vns)
	})
}

// Write replaces the config file atomically; a running router picks it up.
func (r *Router) Write(cfg config.Config) error {
	b, err := cfg.Marshal()
	if err != nil {
		return err
	}
	tmp := r.ConfigPath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write router config: %w", err)
	}
	if err := os.Rename(tmp, r.ConfigPath); err != nil {
		return fmt.Errorf("replace router config: %w", err)
	}
	return nil
}

// Show reads one of the router's debug views with `gsi-router show VIEW --json`.
func (r *Router) Show(view string, v any) error {
	out, err := r.Host.Output(r.Bin, "show", view, "--json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("gsi-router show %s: %w", view, err)
	}
	return nil
}

// FIB returns the router's forwarding table.
func (r *Router) FIB() (debug.FIBView, error) {
	var v debug.FIBView
	return v, r.Show("fib", &v)
}

// Sessions returns the router's sessions.
func (r *Router) Sessions() ([]status.Session, error) {
	var s []status.Session
	return s, r.Show("sessions", &s)
}

// Metric reads one unlabelled gauge from the router's /metrics.
func (r *Router) Metric(name string) (float64, error) {
	out, err := r.Host.Output("curl", "-sf", "http://127.0.0.1:9179/metrics")
	if err != nil {
		return 0, err
	}
	var v float64
	for _, line := range splitLines(out) {
		if _, err := fmt.Sscanf(line, name+" %g", &v); err == nil {
			return v, nil
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// Topology is the lab: TGW (two bgpd), router, control node (BIRD), compute (vRouters).
type Topology struct {
	Net                           *netlab.Lab
	TGW, RouterHost, Ctl, Compute *netlab.Host
	// TGWIf is the TGW's interface towards the router.
	TGWIf string
}

// NewTopology creates the namespaces and links.
func NewTopology(t testing.TB) *Topology {
	t.Helper()
	lab := netlab.New(t)
	top := &Topology{Net: lab, TGW: lab.Host("tgw"), RouterHost: lab.Host("router"), Ctl: lab.Host("ctl"), Compute: lab.Host("compute")}
	_, top.TGWIf = lab.Link(top.RouterHost, top.TGW, RouterTGWAddr.String()+"/29", TGWAddrs[0].String()+"/29")
	top.TGW.Run(t, "ip", "addr", "add", TGWAddrs[1].String()+"/29", "dev", top.TGWIf)
	lab.Link(top.RouterHost, top.Ctl, RouterCtlAddr.String()+"/30", CtlAddr.String()+"/30")
	_, cmpIf := lab.Link(top.Ctl, top.Compute, VRouterNetAddr.String()+"/24", VRouters[0].String()+"/24")
	for _, v := range VRouters[1:] {
		top.Compute.Run(t, "ip", "addr", "add", v.String()+"/24", "dev", cmpIf)
	}
	return top
}

// RouterConfig is the router's lab config: both TGW addresses, the control node, vns.
func RouterConfig(routerASN, tgwASN, ctlASN uint32, timers config.Timers, vns []config.VN) config.Config {
	c := config.Config{
		RouterID: RouterTGWAddr,
		ASN:      routerASN,
		Timers:   timers,
		TGW: config.TGW{
			ASN: tgwASN, LocalAddress: RouterTGWAddr, Peers: TGWAddrs, TunnelRemote: TunnelRemote,
		},
		ControlNodes: config.ControlNodes{ASN: ctlASN, Peers: []netip.Addr{CtlAddr}, NextHop: RouterCtlAddr},
		VNs:          vns,
	}
	c.Default()
	return c
}

// BGPTTLs captures (tshark, an independent decoder) the BGP packets the router sends to
// the TGW for up to the given time and returns their IP TTLs.
func (top *Topology) BGPTTLs(t testing.TB, packets int, within time.Duration) []string {
	t.Helper()
	out := top.TGW.Run(t, "tshark", "-n", "-i", top.TGWIf, "-a", fmt.Sprintf("duration:%d", int(within.Seconds())),
		"-c", fmt.Sprint(packets), "-f", "tcp port 179 and src host "+RouterTGWAddr.String()+" and tcp[tcpflags] & tcp-push != 0",
		"-T", "fields", "-e", "ip.ttl")
	var ttls []string
	for _, l := range splitLines(out) {
		if l != "" {
			ttls = append(ttls, l)
		}
	}
	return ttls
}
