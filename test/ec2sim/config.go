package ec2sim

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"time"
)

// Config seeds the simulator: the region and the user's VPC(s) gsi attaches to, plus the
// quotas it enforces. The file format is JSON (see default.json).
type Config struct {
	Region    string      `json:"region"`
	AccountID string      `json:"accountId"`
	VPCs      []VPCConfig `json:"vpcs"`
	// Delay is how long resources stay pending (and deleting, modifying) before they
	// become available (deleted). Go duration syntax ("2s"); "" or "0s" means at once.
	Delay Duration `json:"delay"`
	// DeletedRetention is how long deleted resources remain visible to describes (AWS
	// keeps showing them for a while). Default 10m.
	DeletedRetention Duration `json:"deletedRetention"`
	Quotas           Quotas   `json:"quotas"`
}

// Quotas are AWS's limits the simulator enforces; zero values take the defaults.
type Quotas struct {
	TransitGatewaysPerRegion int `json:"transitGatewaysPerRegion"` // default 5
	RulesPerSecurityGroup    int `json:"rulesPerSecurityGroup"`    // inbound, default 60
	RoutesPerRouteTable      int `json:"routesPerRouteTable"`      // default 50
	ConnectPeersPerConnect   int `json:"connectPeersPerConnect"`   // default 4
	CIDRBlocksPerTGW         int `json:"cidrBlocksPerTransitGateway"`
	TagsPerResource          int `json:"tagsPerResource"` // default 50
}

// VPCConfig is one seeded VPC.
type VPCConfig struct {
	ID          string             `json:"id"`
	CIDRs       []string           `json:"cidrs"`
	Tags        map[string]string  `json:"tags,omitempty"`
	Subnets     []SubnetConfig     `json:"subnets"`
	RouteTables []RouteTableConfig `json:"routeTables"`
}

// SubnetConfig is one seeded subnet.
type SubnetConfig struct {
	ID               string            `json:"id"`
	CIDR             string            `json:"cidr"`
	AvailabilityZone string            `json:"availabilityZone"`
	Tags             map[string]string `json:"tags,omitempty"`
}

// RouteTableConfig is one seeded route table; the local routes of the VPC CIDRs are
// added by the simulator.
type RouteTableConfig struct {
	ID      string            `json:"id"`
	Main    bool              `json:"main"`
	Subnets []string          `json:"subnets"`
	Routes  []RouteConfig     `json:"routes,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
}

// RouteConfig is a seeded non-local route (e.g. 0.0.0.0/0 → igw-…).
type RouteConfig struct {
	Destination string `json:"destination"`
	GatewayID   string `json:"gatewayId"`
}

// Duration is a time.Duration written as "1.5s" in JSON.
type Duration struct{ time.Duration }

// MarshalJSON writes the Go duration syntax.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads the Go duration syntax.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	if s == "" {
		d.Duration = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	d.Duration = v
	return nil
}

//go:embed default.json
var defaultConfig []byte

// DefaultConfig is the seed used by `make demo` and most tests: one VPC with two CIDRs,
// three subnets in three AZs, a main and a private route table.
func DefaultConfig() Config {
	var c Config
	if err := json.Unmarshal(defaultConfig, &c); err != nil {
		panic(fmt.Sprintf("ec2sim: embedded default.json is invalid: %v", err))
	}
	return c
}

// LoadConfig reads a JSON config file.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read ec2sim config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("parse ec2sim config %s: %w", path, err)
	}
	return c, nil
}

func (c *Config) withDefaults() {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.AccountID == "" {
		c.AccountID = "123456789012"
	}
	if c.DeletedRetention.Duration == 0 {
		c.DeletedRetention.Duration = 10 * time.Minute
	}
	q := &c.Quotas
	setDefault(&q.TransitGatewaysPerRegion, 5)
	setDefault(&q.RulesPerSecurityGroup, 60)
	setDefault(&q.RoutesPerRouteTable, 50)
	setDefault(&q.ConnectPeersPerConnect, 4)
	setDefault(&q.CIDRBlocksPerTGW, 5)
	setDefault(&q.TagsPerResource, 50)
}

func setDefault(v *int, d int) {
	if *v == 0 {
		*v = d
	}
}

// validate checks the seed so a typo fails at start, not at the first describe.
func (c *Config) validate() error {
	for _, v := range c.VPCs {
		if len(v.CIDRs) == 0 {
			return fmt.Errorf("vpc %s: no cidrs", v.ID)
		}
		var prefixes []netip.Prefix
		for _, s := range v.CIDRs {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return fmt.Errorf("vpc %s: cidr %q: %w", v.ID, s, err)
			}
			prefixes = append(prefixes, p.Masked())
		}
		for _, sn := range v.Subnets {
			p, err := netip.ParsePrefix(sn.CIDR)
			if err != nil {
				return fmt.Errorf("subnet %s: cidr %q: %w", sn.ID, sn.CIDR, err)
			}
			if !anyContains(prefixes, p) {
				return fmt.Errorf("subnet %s: %s is outside vpc %s", sn.ID, sn.CIDR, v.ID)
			}
		}
		for _, rt := range v.RouteTables {
			for _, r := range rt.Routes {
				if _, err := netip.ParsePrefix(r.Destination); err != nil {
					return fmt.Errorf("route table %s: route %q: %w", rt.ID, r.Destination, err)
				}
			}
		}
	}
	return nil
}

func anyContains(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// DefaultConfigJSON is the built-in seed config file.
func DefaultConfigJSON() []byte { return append([]byte(nil), defaultConfig...) }
