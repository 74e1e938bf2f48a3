// Package config is the router's desired state: who it peers with and which virtual
// networks it exposes. It comes from a file (lab, debugging) or is derived from the
// cluster's objects (router/cluster); both produce the same Config.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Product defaults (DESIGN §3: keepalive 10 s, hold 30 s, eBGP multihop TTL 2).
const (
	DefaultKeepalive    = 10 * time.Second
	DefaultHold         = 30 * time.Second
	DefaultConnectRetry = 5 * time.Second
	DefaultMultihopTTL  = 2
	DefaultListenPort   = 179
	DefaultLabelBase    = 1000
	// MaxLabel bounds the local labels: each VN's route distinguisher is
	// <router-id>:<label>, and a type-1 RD carries 16 bits.
	MaxLabel = 65535
)

// Config is everything the router needs.
type Config struct {
	// RouterID is the BGP identifier; by convention the router's inside address.
	RouterID netip.Addr `json:"routerID"`
	// ASN is the router's AS (TransitGateway spec.peerASN).
	ASN uint32 `json:"asn"`
	// ListenAddresses restricts where BGP listens; empty means every address.
	ListenAddresses []netip.Addr `json:"listenAddresses,omitempty"`
	// ListenPort is BGP's TCP port; 179 unless set.
	ListenPort int32  `json:"listenPort,omitempty"`
	Timers     Timers `json:"timers,omitempty"`
	// TGW is the transit gateway side: two sessions per Connect peer.
	TGW TGW `json:"tgw"`
	// ControlNodes are the CN2 control nodes (MP-BGP inet-vpn and route-target).
	ControlNodes ControlNodes `json:"controlNodes"`
	// VNs are the exposed virtual networks.
	VNs []VN `json:"vns,omitempty"`
	// LabelBase is the first MPLS label the router allocates for its VNs.
	LabelBase uint32 `json:"labelBase,omitempty"`
}

// Timers are the BGP session timers, the same for every session.
type Timers struct {
	Keepalive    Duration `json:"keepalive,omitempty"`
	Hold         Duration `json:"hold,omitempty"`
	ConnectRetry Duration `json:"connectRetry,omitempty"`
}

// TGW describes the sessions towards the transit gateway.
type TGW struct {
	// ASN is the transit gateway's AS (TransitGateway spec.transitASN).
	ASN uint32 `json:"asn"`
	// LocalAddress is the router's session address: the first address of the /29.
	LocalAddress netip.Addr `json:"localAddress"`
	// Peers are the TGW's session addresses: the second and third of the /29.
	Peers []netip.Addr `json:"peers"`
	// TunnelRemote is the TGW end of the GRE tunnel that carries these sessions; the
	// forwarding table points VPC prefixes at it. Unset, the BGP peer address is used.
	TunnelRemote netip.Addr `json:"tunnelRemote,omitzero"`
	// MultihopTTL is used when the ASNs differ (eBGP); 2 unless set.
	MultihopTTL uint32 `json:"multihopTTL,omitempty"`
}

// ControlNodes describes the sessions towards the CN2 control nodes.
type ControlNodes struct {
	// ASN is the control nodes' AS (TransitGateway spec.controlNodeASN).
	ASN uint32 `json:"asn"`
	// LocalASN is the router's AS on these sessions; the control nodes' own AS unless
	// set: iBGP, because control nodes (and BIRD standing in for them) keep the
	// vRouter next hop and label of a pod route only towards internal peers.
	LocalASN uint32 `json:"localASN,omitempty"`
	// LocalAddress pins the sessions' source address; the kernel picks one unless set.
	LocalAddress netip.Addr   `json:"localAddress,omitzero"`
	Peers        []netip.Addr `json:"peers"`
	// NextHop is the address vRouters send MPLS-over-UDP to for VPC prefixes (the
	// router's node address); the session's local address unless set.
	NextHop netip.Addr `json:"nextHop,omitzero"`
}

// VN is one exposed virtual network.
type VN struct {
	// Name is "namespace/name" of the VirtualNetwork.
	Name string `json:"name"`
	// Subnets are the VN's CIDRs, advertised to the TGW as aggregates.
	Subnets []netip.Prefix `json:"subnets"`
	// RouteTarget is the VN's route target, "target:<asn>:<n>" or "<asn>:<n>".
	RouteTarget RouteTarget `json:"routeTarget"`
}

// RouteTarget is a two-octet or four-octet AS-specific route target.
type RouteTarget struct {
	ASN   uint32
	Value uint32
}

// ParseRouteTarget parses "target:64512:8000001" or "64512:8000001".
func ParseRouteTarget(s string) (RouteTarget, error) {
	parts := strings.Split(strings.TrimPrefix(s, "target:"), ":")
	if len(parts) != 2 {
		return RouteTarget{}, fmt.Errorf("route target %q: want target:<asn>:<number>", s)
	}
	asn, err := strconv.ParseUint(parts[0], 10, 32)
	if err != nil {
		return RouteTarget{}, fmt.Errorf("route target %q: asn: %w", s, err)
	}
	val, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return RouteTarget{}, fmt.Errorf("route target %q: number: %w", s, err)
	}
	rt := RouteTarget{ASN: uint32(asn), Value: uint32(val)}
	if asn > 0xffff && val > 0xffff {
		return RouteTarget{}, fmt.Errorf("route target %q: a four-octet ASN leaves 16 bits for the number", s)
	}
	return rt, nil
}

func (r RouteTarget) String() string { return fmt.Sprintf("target:%d:%d", r.ASN, r.Value) }

// MarshalJSON writes the "target:asn:n" form.
func (r RouteTarget) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// UnmarshalJSON reads the "target:asn:n" form.
func (r *RouteTarget) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("route target: %w", err)
	}
	rt, err := ParseRouteTarget(s)
	if err != nil {
		return err
	}
	*r = rt
	return nil
}

// Duration is a time.Duration written as "10s" in files.
type Duration struct{ time.Duration }

// MarshalJSON writes the Go duration form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "10s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return fmt.Errorf("duration: %w", err)
		}
		d.Duration = time.Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	d.Duration = v
	return nil
}

// Load reads a YAML or JSON file, applies defaults and validates it.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read router config: %w", err)
	}
	return Parse(b)
}

// Parse decodes YAML or JSON, applies defaults and validates.
func Parse(b []byte) (Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return Config{}, fmt.Errorf("decode router config: %w", err)
	}
	c.Default()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Marshal writes the config as YAML (what Load reads).
func (c Config) Marshal() ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode router config: %w", err)
	}
	return b, nil
}

// Default fills unset fields with the product defaults.
func (c *Config) Default() {
	if c.ListenPort == 0 {
		c.ListenPort = DefaultListenPort
	}
	if c.Timers.Keepalive.Duration == 0 {
		c.Timers.Keepalive.Duration = DefaultKeepalive
	}
	if c.Timers.Hold.Duration == 0 {
		c.Timers.Hold.Duration = DefaultHold
	}
	if c.Timers.ConnectRetry.Duration == 0 {
		c.Timers.ConnectRetry.Duration = DefaultConnectRetry
	}
	if c.TGW.MultihopTTL == 0 {
		c.TGW.MultihopTTL = DefaultMultihopTTL
	}
	if c.ControlNodes.LocalASN == 0 {
		c.ControlNodes.LocalASN = c.ControlNodes.ASN
	}
	if c.LabelBase == 0 {
		c.LabelBase = DefaultLabelBase
	}
	for i := range c.VNs {
		for j, p := range c.VNs[i].Subnets {
			c.VNs[i].Subnets[j] = p.Masked()
		}
	}
}

// Validate reports the first thing that would make the router misbehave.
func (c Config) Validate() error {
	switch {
	case !c.RouterID.Is4():
		return fmt.Errorf("router config: routerID must be an IPv4 address")
	case c.ASN == 0:
		return fmt.Errorf("router config: asn is required")
	case c.TGW.ASN == 0:
		return fmt.Errorf("router config: tgw.asn is required")
	case c.Timers.Hold.Duration < 3*time.Second || c.Timers.Keepalive.Duration <= 0 ||
		c.Timers.Keepalive.Duration > c.Timers.Hold.Duration/3:
		return fmt.Errorf("router config: timers: hold %s must be ≥ 3s and ≥ 3×keepalive %s", c.Timers.Hold, c.Timers.Keepalive)
	case c.LabelBase < 16 || c.LabelBase > MaxLabel:
		return fmt.Errorf("router config: labelBase %d outside 16..%d", c.LabelBase, MaxLabel)
	}
	if err := checkAddrs("tgw.peers", c.TGW.Peers); err != nil {
		return err
	}
	if err := checkAddrs("controlNodes.peers", c.ControlNodes.Peers); err != nil {
		return err
	}
	if len(c.ControlNodes.Peers) > 0 && c.ControlNodes.ASN == 0 {
		return fmt.Errorf("router config: controlNodes.asn is required")
	}
	for _, a := range c.TGW.Peers {
		if slices.Contains(c.ControlNodes.Peers, a) {
			return fmt.Errorf("router config: %s is both a TGW peer and a control node", a)
		}
	}
	return c.validateVNs()
}

func checkAddrs(field string, addrs []netip.Addr) error {
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		if !a.Is4() {
			return fmt.Errorf("router config: %s: %v is not an IPv4 address", field, a)
		}
		if seen[a] {
			return fmt.Errorf("router config: %s: %s listed twice", field, a)
		}
		seen[a] = true
	}
	return nil
}

func (c Config) validateVNs() error {
	names := map[string]bool{}
	rts := map[RouteTarget]string{}
	for _, vn := range c.VNs {
		if vn.Name == "" {
			return fmt.Errorf("router config: a VN without a name")
		}
		if names[vn.Name] {
			return fmt.Errorf("router config: VN %s listed twice", vn.Name)
		}
		names[vn.Name] = true
		if vn.RouteTarget == (RouteTarget{}) {
			return fmt.Errorf("router config: VN %s: routeTarget is required", vn.Name)
		}
		if other, ok := rts[vn.RouteTarget]; ok {
			return fmt.Errorf("router config: VNs %s and %s share route target %s", other, vn.Name, vn.RouteTarget)
		}
		rts[vn.RouteTarget] = vn.Name
		if len(vn.Subnets) == 0 {
			return fmt.Errorf("router config: VN %s: no subnets", vn.Name)
		}
		for _, p := range vn.Subnets {
			if !p.Addr().Is4() {
				return fmt.Errorf("router config: VN %s: subnet %v is not IPv4", vn.Name, p)
			}
		}
	}
	if len(c.VNs) > MaxLabel-int(c.LabelBase)+1 {
		return fmt.Errorf("router config: %d VNs do not fit the labels from %d", len(c.VNs), c.LabelBase)
	}
	return nil
}

// SameSpeaker reports whether b can be applied to a running speaker configured with a
// (only peers and VNs differ); otherwise the speaker must restart.
func SameSpeaker(a, b Config) bool {
	return a.RouterID == b.RouterID && a.ASN == b.ASN && a.ListenPort == b.ListenPort &&
		slices.Equal(a.ListenAddresses, b.ListenAddresses) && a.LabelBase == b.LabelBase
}

// Equal compares two configs by their canonical encoding.
func Equal(a, b Config) bool {
	ab, err1 := json.Marshal(a)
	bb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ab, bb)
}

// ControlNodeNextHop returns the next hop for exported routes, if configured.
func (c Config) ControlNodeNextHop() netip.Addr {
	if c.ControlNodes.NextHop.IsValid() {
		return c.ControlNodes.NextHop
	}
	return c.ControlNodes.LocalAddress
}

// TunnelRemote returns where VPC prefixes learned from peer are forwarded.
func (c Config) TunnelRemote(peer netip.Addr) netip.Addr {
	if c.TGW.TunnelRemote.IsValid() {
		return c.TGW.TunnelRemote
	}
	return peer
}
