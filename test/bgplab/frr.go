// Package bgplab runs the router's third-party BGP peers in network namespaces: FRR as
// the transit gateway (one bgpd per TGW session address, no zebra) and BIRD 2 as a CN2
// control node originating labelled vpn4 pod routes. It renders their configs, starts
// them, and reads back what they hold (FRR's JSON, BIRD's `show route all`), so tests
// assert on the peers' view rather than on the router's own.
package bgplab

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/opengsi/gsi/test/netlab"
)

// BGPD is FRR's BGP daemon as packaged by Debian.
const BGPD = "/usr/lib/frr/bgpd"

// TGWConfig is one TGW session address played by one bgpd.
type TGWConfig struct {
	Address netip.Addr
	ASN     uint32
	// Peer is the router's session address and AS.
	Peer    netip.Addr
	PeerASN uint32
	// Networks are the VPC prefixes this TGW announces.
	Networks []netip.Prefix
	// Keepalive and Hold are the session timers.
	Keepalive, Hold time.Duration
}

var frrTemplate = template.Must(template.New("frr").Parse(`frr defaults traditional
hostname tgw-{{.Address}}
log stdout informational
!
router bgp {{.ASN}}
 bgp router-id {{.Address}}
 no bgp ebgp-requires-policy
 no bgp network import-check
 timers bgp {{.KeepaliveSec}} {{.HoldSec}}
 neighbor {{.Peer}} remote-as {{.PeerASN}}
 neighbor {{.Peer}} update-source {{.Address}}
{{- if ne .ASN .PeerASN}}
 neighbor {{.Peer}} ebgp-multihop 2
{{- end}}
 neighbor {{.Peer}} timers connect 1
 !
 address-family ipv4 unicast
{{- range .Networks}}
  network {{.}}
{{- end}}
 exit-address-family
!
`))

// RenderFRR writes bgpd's configuration for c.
func RenderFRR(c TGWConfig) (string, error) {
	var b strings.Builder
	err := frrTemplate.Execute(&b, struct {
		TGWConfig
		KeepaliveSec, HoldSec int
	}{c, int(c.Keepalive / time.Second), int(c.Hold / time.Second)})
	if err != nil {
		return "", fmt.Errorf("render FRR config: %w", err)
	}
	return b.String(), nil
}

// FRR is one running bgpd.
type FRR struct {
	Config TGWConfig
	Host   *netlab.Host
	Proc   *netlab.Process
	dir    string
}

// StartFRR runs bgpd for c inside h, listening only on c.Address.
func StartFRR(t testing.TB, h *netlab.Host, c TGWConfig) *FRR {
	t.Helper()
	netlab.Require(t, BGPD, "vtysh")
	dir := t.TempDir()
	conf, err := RenderFRR(c)
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &FRR{Config: c, Host: h, dir: dir}
	f.Proc = h.Start(t, "bgpd-"+c.Address.String(), BGPD,
		"--no_zebra", "--skip_runas", "-f", confPath, "-i", filepath.Join(dir, "bgpd.pid"),
		"--vty_socket", dir, "-l", c.Address.String(), "-P", "0", "--log", "stdout")
	netlab.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if f.Proc.Exited() {
			t.Fatalf("bgpd exited: %v", f.Proc.Wait())
		}
		_, err := os.Stat(filepath.Join(dir, "bgpd.vty"))
		return err
	})
	return f
}

// VTY runs a vtysh command against this bgpd and returns its output.
func (f *FRR) VTY(command string) (string, error) {
	return f.Host.Output("vtysh", "--vty_socket", f.dir, "-c", command)
}

// FRRPath is one path of FRR's `show bgp ipv4 unicast json`.
type FRRPath struct {
	Valid     bool   `json:"valid"`
	Best      bool   `json:"bestpath"`
	PathFrom  string `json:"pathFrom"`
	PeerID    string `json:"peerId"`
	ASPath    string `json:"path"`
	Origin    string `json:"origin"`
	LocalPref *int   `json:"locPrf"`
	MED       *int   `json:"metric"`
	NextHops  []struct {
		IP string `json:"ip"`
	} `json:"nexthops"`
}

// Routes returns the IPv4 unicast table by prefix.
func (f *FRR) Routes() (map[netip.Prefix][]FRRPath, error) {
	out, err := f.VTY("show bgp ipv4 unicast json")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Routes map[string][]FRRPath `json:"routes"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("FRR %s: decode routes: %w: %.200s", f.Config.Address, err, out)
	}
	routes := map[netip.Prefix][]FRRPath{}
	for k, v := range doc.Routes {
		p, err := netip.ParsePrefix(k)
		if err != nil {
			return nil, fmt.Errorf("FRR %s: prefix %q: %w", f.Config.Address, k, err)
		}
		routes[p] = v
	}
	return routes, nil
}

// Learned returns the prefixes FRR learned from the router (not its own networks).
func (f *FRR) Learned() (map[netip.Prefix]FRRPath, error) {
	routes, err := f.Routes()
	if err != nil {
		return nil, err
	}
	out := map[netip.Prefix]FRRPath{}
	for p, paths := range routes {
		for _, path := range paths {
			if path.PeerID == f.Config.Peer.String() {
				out[p] = path
			}
		}
	}
	return out, nil
}

// Neighbor is FRR's view of the session to the router.
type Neighbor struct {
	State   string `json:"bgpState"`
	Dropped int    `json:"connectionsDropped"`
}

// Neighbor returns the session to the router as FRR sees it.
func (f *FRR) Neighbor() (Neighbor, error) {
	out, err := f.VTY("show bgp neighbors " + f.Config.Peer.String() + " json")
	if err != nil {
		return Neighbor{}, err
	}
	var doc map[string]Neighbor
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return Neighbor{}, fmt.Errorf("FRR %s: decode neighbor: %w: %.200s", f.Config.Address, err, out)
	}
	return doc[f.Config.Peer.String()], nil
}
