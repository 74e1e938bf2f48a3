package config

import (
	"strings"
	"testing"
	"time"
)

const base = `
routerID: 169.254.10.1
asn: 64513
tgw: {asn: 64513, localAddress: 169.254.10.1, peers: [169.254.10.2, 169.254.10.3]}
controlNodes: {asn: 64512, peers: [10.0.0.5]}
`

func TestParseDefaultsAndRoundTrip(t *testing.T) {
	c, err := Parse([]byte(base + `vns: [{name: default/vn1, subnets: [10.1.0.9/24], routeTarget: "target:64512:8000001"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Timers.Keepalive.Duration != 10*time.Second || c.Timers.Hold.Duration != 30*time.Second ||
		c.TGW.MultihopTTL != 2 || c.ControlNodes.LocalASN != 64512 || c.ListenPort != 179 || c.LabelBase != DefaultLabelBase {
		t.Errorf("defaults not applied: %+v", c)
	}
	if got := c.VNs[0].Subnets[0].String(); got != "10.1.0.0/24" {
		t.Errorf("subnet not masked: %s", got)
	}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(b)
	if err != nil || !Equal(back, c) {
		t.Fatalf("round trip: %v\n%s", err, b)
	}
}

func TestValidate(t *testing.T) {
	for name, tc := range map[string]struct{ extra, want string }{
		"hold below 3×keepalive": {"timers: {keepalive: 10s, hold: 20s}", "timers"},
		"VN without RT":          {"vns: [{name: a/b, subnets: [10.0.0.0/24]}]", "routeTarget is required"},
		"shared RT": {`vns: [{name: a/b, subnets: [10.0.0.0/24], routeTarget: "64512:1"}, {name: a/c, subnets: [10.0.1.0/24], routeTarget: "64512:1"}]`,
			"share route target"},
		"bad RT":      {`vns: [{name: a/b, subnets: [10.0.0.0/24], routeTarget: "target:x:1"}]`, "asn"},
		"unknown key": {"colour: blue", "unknown field"},
		"label base":  {"labelBase: 70000", "labelBase"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(base + tc.extra))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
