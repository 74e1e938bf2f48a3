package ec2sim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The state is plain data so it can be written to disk as one JSON document. Lifecycle
// states are not stored: each resource stores when it was created / modified / deleted
// and the state is computed on read from the clock and the configured delay, so a
// simulator restarted from disk reports the same states it would have without the crash.
type state struct {
	Seq            uint64                       `json:"seq"`
	VPCs           map[string]*vpc              `json:"vpcs"`
	Subnets        map[string]*subnet           `json:"subnets"`
	RouteTables    map[string]*routeTable       `json:"routeTables"`
	TGWs           map[string]*tgw              `json:"transitGateways"`
	TGWRouteTables map[string]*tgwRouteTable    `json:"transitGatewayRouteTables"`
	Attachments    map[string]*attachment       `json:"attachments"`
	Peers          map[string]*connectPeer      `json:"connectPeers"`
	Groups         map[string]*securityGroup    `json:"securityGroups"`
	Tags           map[string]map[string]string `json:"tags"`
}

func newState() *state {
	return &state{
		VPCs:           map[string]*vpc{},
		Subnets:        map[string]*subnet{},
		RouteTables:    map[string]*routeTable{},
		TGWs:           map[string]*tgw{},
		TGWRouteTables: map[string]*tgwRouteTable{},
		Attachments:    map[string]*attachment{},
		Peers:          map[string]*connectPeer{},
		Groups:         map[string]*securityGroup{},
		Tags:           map[string]map[string]string{},
	}
}

// lifecycle is the time-based state machine shared by the TGW resources.
type lifecycle struct {
	Created  time.Time  `json:"created"`
	Modified *time.Time `json:"modified,omitempty"`
	Deleted  *time.Time `json:"deleted,omitempty"`
	// Failed pins the state to "failed" (set through fault injection).
	Failed bool `json:"failed,omitempty"`
}

// status computes the state: pending → available (modifying → available) and
// deleting → deleted, each transition taking delay.
func (l *lifecycle) status(now time.Time, delay time.Duration) string {
	switch {
	case l.Deleted != nil && now.Sub(*l.Deleted) >= delay:
		return "deleted"
	case l.Deleted != nil:
		return "deleting"
	case l.Failed:
		return "failed"
	case now.Sub(l.Created) < delay:
		return "pending"
	case l.Modified != nil && now.Sub(*l.Modified) < delay:
		return "modifying"
	}
	return "available"
}

// gone reports a deleted resource past its retention: describes no longer show it.
func (l *lifecycle) gone(now time.Time, delay, retention time.Duration) bool {
	return l.Deleted != nil && now.Sub(*l.Deleted) >= delay+retention
}

type vpc struct {
	ID    string   `json:"id"`
	CIDRs []string `json:"cidrs"`
}

type subnet struct {
	ID    string `json:"id"`
	VPCID string `json:"vpcId"`
	CIDR  string `json:"cidr"`
	AZ    string `json:"az"`
}

type routeTable struct {
	ID      string   `json:"id"`
	VPCID   string   `json:"vpcId"`
	Main    bool     `json:"main"`
	Subnets []string `json:"subnets"`
	Routes  []*route `json:"routes"`
}

type route struct {
	Destination string `json:"destination"`
	GatewayID   string `json:"gatewayId,omitempty"`
	TGWID       string `json:"transitGatewayId,omitempty"`
	Origin      string `json:"origin"`
}

type tgw struct {
	ID          string   `json:"id"`
	Description string   `json:"description"`
	ASN         int64    `json:"asn"`
	CIDRs       []string `json:"cidrs"`
	RouteTable  string   `json:"routeTable"`
	lifecycle
}

type tgwRouteTable struct {
	ID     string      `json:"id"`
	TGWID  string      `json:"transitGatewayId"`
	Routes []*tgwRoute `json:"routes"`
}

// tgwRoute is a route added through the simulator's API (learned over BGP by the lab).
// Propagated VPC CIDRs are computed from the attachments on read.
type tgwRoute struct {
	Destination  string `json:"destination"`
	AttachmentID string `json:"attachmentId"`
	Type         string `json:"type"`
}

const (
	kindVPC     = "vpc"
	kindConnect = "connect"
)

type attachment struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	TGWID     string   `json:"transitGatewayId"`
	VPCID     string   `json:"vpcId,omitempty"`
	Subnets   []string `json:"subnets,omitempty"`
	Transport string   `json:"transport,omitempty"`
	Protocol  string   `json:"protocol,omitempty"`
	lifecycle
}

type connectPeer struct {
	ID           string   `json:"id"`
	AttachmentID string   `json:"attachmentId"`
	PeerAddress  string   `json:"peerAddress"`
	TGWAddress   string   `json:"transitGatewayAddress"`
	InsideCIDRs  []string `json:"insideCidrs"`
	PeerASN      int64    `json:"peerAsn"`
	TGWASN       int64    `json:"transitGatewayAsn"`
	// BGPStatus per BGP session, keyed by the TGW's inside address.
	BGPStatus map[string]string `json:"bgpStatus"`
	lifecycle
}

type securityGroup struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	VPCID       string    `json:"vpcId"`
	Ingress     []*sgRule `json:"ingress"`
	Egress      []*sgRule `json:"egress"`
}

type sgRule struct {
	ID          string `json:"id"`
	Protocol    string `json:"protocol"`
	FromPort    int32  `json:"fromPort"`
	ToPort      int32  `json:"toPort"`
	CIDR        string `json:"cidr"`
	Description string `json:"description,omitempty"`
}

// store persists the state crash-consistently: the whole document is written to a
// temporary file, fsynced, renamed over the previous one and the directory fsynced, so
// after a kill the file is either the old or the new state, never a torn mix.
//
// It also keeps the last saved document so that a request failing half-way can be
// rolled back: a failed request changes nothing, as in EC2.
type store struct {
	dir  string
	last []byte
}

const stateFile = "ec2sim-state.json"

func (s *store) load() (*state, bool, error) {
	if s.dir == "" {
		return nil, false, nil
	}
	b, err := os.ReadFile(filepath.Join(s.dir, stateFile))
	if os.IsNotExist(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read state: %w", err)
	}
	st := newState()
	if err := json.Unmarshal(b, st); err != nil {
		return nil, false, fmt.Errorf("parse state %s: %w", filepath.Join(s.dir, stateFile), err)
	}
	s.last = b
	return st, true, nil
}

// rollback returns the state as last saved.
func (s *store) rollback() (*state, error) {
	st := newState()
	if err := json.Unmarshal(s.last, st); err != nil {
		return nil, fmt.Errorf("decode last saved state: %w", err)
	}
	return st, nil
}

func (s *store) save(st *state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if s.dir == "" {
		s.last = b
		return nil
	}
	tmp, err := os.CreateTemp(s.dir, stateFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("create temp state: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write temp state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("fsync temp state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close temp state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.dir, stateFile)); err != nil {
		return fmt.Errorf("rename state: %w", err)
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("open state dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync state dir: %w", err)
	}
	s.last = b
	return nil
}
