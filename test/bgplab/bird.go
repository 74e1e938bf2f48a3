package bgplab

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/opengsi/gsi/router/config"
	"github.com/opengsi/gsi/test/netlab"
)

// Tunnel encapsulation types of the BGP encapsulation extended community (RFC 9012).
const (
	EncapMPLSoGRE = 2
	EncapMPLSoUDP = 13
)

// Pod is one pod route a control node announces: RD:prefix via a vRouter with a label.
type Pod struct {
	RD      string
	Prefix  netip.Prefix
	VRouter netip.Addr
	Label   uint32
}

// VNRoutes are the pod routes of one VN, all carrying its route target and encapsulation.
type VNRoutes struct {
	// Name names the VN's static protocol ("pods_NAME"): letters, digits, underscores.
	Name        string
	RouteTarget config.RouteTarget
	// Encap is the tunnel type put in the encapsulation community; 0 for none.
	Encap uint16
	Pods  []Pod
}

// BIRDPeer is a BGP session of a BIRD instance.
type BIRDPeer struct {
	Name    string
	Address netip.Addr
	ASN     uint32
	// Local is BIRD's address on the session; the config's Address unless set.
	Local netip.Addr
}

// ControlNodeConfig is a BIRD acting as a CN2 control node (or, with no VNs, as a plain
// vpn4 receiver).
type ControlNodeConfig struct {
	Address netip.Addr
	ASN     uint32
	Peers   []BIRDPeer
	VNs     []VNRoutes
	// Keepalive and Hold are the session timers.
	Keepalive, Hold time.Duration
	// Disabled starts the sessions administratively down (`birdc enable NAME` starts them).
	Disabled bool
	// Resolve, when set, makes the sessions resolve next hops recursively through these
	// static routes (a receiver that is not on the vRouters' network); otherwise next
	// hops must be directly connected.
	Resolve []StaticRoute
}

// StaticRoute is an IPv4 route for next-hop resolution.
type StaticRoute struct {
	Prefix netip.Prefix
	Via    netip.Addr
}

var birdTemplate = template.Must(template.New("bird").Parse(`router id {{.Address}};
log stderr { info, remote, warning, error, auth, fatal, bug };
protocol device {}
vpn4 table vpntab;
{{- if .Resolve}}
protocol static nexthops {
  ipv4;
{{- range .Resolve}}
  route {{.Prefix}} via {{.Via}};
{{- end}}
}
{{- end}}
{{range .VNs}}
protocol static pods_{{.Name}} {
  vpn4 {
    table vpntab;
    import filter {
      bgp_ext_community.add((rt, {{.RouteTarget.ASN}}, {{.RouteTarget.Value}}));
{{- if .Encap}}
      bgp_ext_community.add((generic, 0x030c0000, {{.Encap}}));
{{- end}}
      accept;
    };
  };
{{- range .Pods}}
  route {{.RD}} {{.Prefix}} via {{.VRouter}} mpls {{.Label}};
{{- end}}
}
{{end}}
{{- range .Peers}}
protocol bgp {{.Name}} {
  local {{if .Local.IsValid}}{{.Local}}{{else}}{{$.Address}}{{end}} as {{$.ASN}};
  neighbor {{.Address}} as {{.ASN}};
  direct;
{{- if $.Disabled}}
  disabled;
{{- end}}
  hold time {{$.HoldSec}}; keepalive time {{$.KeepaliveSec}}; connect retry time 1;
  vpn4 mpls { table vpntab; import all; export all; {{if $.Resolve}}gateway recursive; igp table master4;{{else}}gateway direct;{{end}} };
}
{{end}}`))

// RenderBIRD writes BIRD's configuration for c. Pod routes are static vpn4 routes whose
// gateway is a vRouter on a directly connected network: towards an internal peer BIRD
// announces such a gateway as the next hop with the route's own MPLS label (an external
// peer would get BIRD itself and label 3), which is what a CN2 control node does.
func RenderBIRD(c ControlNodeConfig) (string, error) {
	var b strings.Builder
	err := birdTemplate.Execute(&b, struct {
		ControlNodeConfig
		KeepaliveSec, HoldSec int
	}{c, int(c.Keepalive / time.Second), int(c.Hold / time.Second)})
	if err != nil {
		return "", fmt.Errorf("render BIRD config: %w", err)
	}
	return b.String(), nil
}

// BIRD is one running bird.
type BIRD struct {
	Host *netlab.Host
	Proc *netlab.Process
	dir  string
	sock string
}

// StartBIRD runs bird for c inside h.
func StartBIRD(t testing.TB, h *netlab.Host, name string, c ControlNodeConfig) *BIRD {
	t.Helper()
	netlab.Require(t, "bird", "birdc")
	b := &BIRD{Host: h, dir: t.TempDir()}
	b.sock = filepath.Join(b.dir, "bird.ctl")
	if err := b.write(c); err != nil {
		t.Fatal(err)
	}
	b.Proc = h.Start(t, name, "bird", "-f", "-c", b.conf(), "-s", b.sock, "-P", filepath.Join(b.dir, "bird.pid"))
	netlab.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if b.Proc.Exited() {
			t.Fatalf("bird exited: %v", b.Proc.Wait())
		}
		_, err := b.Birdc("show status")
		return err
	})
	return b
}

func (b *BIRD) conf() string { return filepath.Join(b.dir, "bird.conf") }

func (b *BIRD) write(c ControlNodeConfig) error {
	conf, err := RenderBIRD(c)
	if err != nil {
		return err
	}
	if err := os.WriteFile(b.conf(), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("write BIRD config: %w", err)
	}
	return nil
}

// Reconfigure replaces the running configuration (routes added and removed in place).
func (b *BIRD) Reconfigure(c ControlNodeConfig) error {
	if err := b.write(c); err != nil {
		return err
	}
	out, err := b.Birdc("configure")
	if err != nil {
		return err
	}
	if !strings.Contains(out, "Reconfigured") && !strings.Contains(out, "Reconfiguration in progress") {
		return fmt.Errorf("birdc configure: %s", out)
	}
	return nil
}

// Birdc runs a birdc command.
func (b *BIRD) Birdc(args ...string) (string, error) {
	return b.Host.Output("birdc", append([]string{"-s", b.sock}, args...)...)
}

// BIRDRoute is one route of `show route all`.
type BIRDRoute struct {
	RD     string
	Prefix netip.Prefix
	// Proto is the protocol the route came from (the BGP session's name).
	Proto          string
	NextHop        netip.Addr
	Labels         []uint32
	ASPath         string
	LocalPref      int
	ExtCommunities []string
}

var (
	netLine   = regexp.MustCompile(`^(\S+) (\S+/\d+)\s+\S+ \[(\S+) `)
	altLine   = regexp.MustCompile(`^\s+\S+ \[(\S+) `)
	viaLine   = regexp.MustCompile(`^\s+via (\S+) on \S+(?: mpls ([\d/]+))?`)
	attrLine  = regexp.MustCompile(`^\s+BGP\.(\w+): ?(.*)$`)
	extCommRe = regexp.MustCompile(`\([^)]*\)`)
)

// Routes parses `show route all table vpntab`.
func (b *BIRD) Routes() ([]BIRDRoute, error) {
	out, err := b.Birdc("show", "route", "all", "table", "vpntab")
	if err != nil {
		return nil, err
	}
	return ParseBIRDRoutes(out)
}

// ParseBIRDRoutes parses the output of `birdc show route all` for a vpn4 table.
func ParseBIRDRoutes(out string) ([]BIRDRoute, error) {
	var routes []BIRDRoute
	var rd string
	var prefix netip.Prefix
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := netLine.FindStringSubmatch(line); m != nil {
			p, err := netip.ParsePrefix(m[2])
			if err != nil {
				return nil, fmt.Errorf("BIRD route %q: %w", line, err)
			}
			rd, prefix = m[1], p
			routes = append(routes, BIRDRoute{RD: rd, Prefix: prefix, Proto: m[3]})
			continue
		}
		if len(routes) == 0 {
			continue
		}
		if m := altLine.FindStringSubmatch(line); m != nil && !strings.HasPrefix(line, "\t") {
			routes = append(routes, BIRDRoute{RD: rd, Prefix: prefix, Proto: m[1]})
			continue
		}
		if err := parseRouteDetail(line, &routes[len(routes)-1]); err != nil {
			return nil, err
		}
	}
	return routes, sc.Err()
}

func parseRouteDetail(line string, r *BIRDRoute) error {
	if m := viaLine.FindStringSubmatch(line); m != nil {
		a, err := netip.ParseAddr(m[1])
		if err != nil {
			return fmt.Errorf("BIRD next hop %q: %w", line, err)
		}
		r.NextHop = a
		if m[2] != "" {
			for _, l := range strings.Split(m[2], "/") {
				v, err := strconv.ParseUint(l, 10, 32)
				if err != nil {
					return fmt.Errorf("BIRD label %q: %w", line, err)
				}
				r.Labels = append(r.Labels, uint32(v))
			}
		}
		return nil
	}
	m := attrLine.FindStringSubmatch(line)
	if m == nil {
		return nil
	}
	switch m[1] {
	case "as_path":
		r.ASPath = strings.TrimSpace(m[2])
	case "local_pref":
		v, err := strconv.Atoi(strings.TrimSpace(m[2]))
		if err != nil {
			return fmt.Errorf("BIRD local_pref %q: %w", line, err)
		}
		r.LocalPref = v
	case "ext_community":
		r.ExtCommunities = extCommRe.FindAllString(m[2], -1)
	}
	return nil
}

// Count returns how many routes the vpn4 table holds.
func (b *BIRD) Count() (int, error) {
	out, err := b.Birdc("show", "route", "table", "vpntab", "count")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(out, "\n") {
		var n, total, nets int
		if _, err := fmt.Sscanf(line, "%d of %d routes for %d networks", &n, &total, &nets); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("birdc count: unexpected output %q", out)
}
