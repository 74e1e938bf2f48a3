package foundation

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
)

func validTGW(name string) *gsiv1.TransitGateway {
	return &gsiv1.TransitGateway{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: gsiv1.TransitGatewaySpec{
			SubnetIDs:          []string{"subnet-0a1b2c3d4e5f60001", "subnet-0123abcd"},
			ConnectedPeerScale: 2,
			TransitASN:         64513,
			PeerASN:            ptr.To[int64](64513),
			TransitCIDR:        "192.0.2.0/24",
			BgpCidr:            "169.254.10.0/29",
			ControlNodeASN:     64512,
			CrpdContainer:      &corev1.Container{Name: "crpd", Image: "gsi-router"},
		},
	}
}

// TestSchemaRefusesBadObjectsNamingTheField pins the rules the CRD schema enforces on
// its own, before any webhook: each case breaks one rule, and the API server's refusal
// must name the field and say the rule.
func TestSchemaRefusesBadObjectsNamingTheField(t *testing.T) {
	needEnv(t)
	cases := []struct {
		name   string
		mutate func(*gsiv1.TransitGateway)
		field  string
		rule   string
	}{
		{"no subnets", func(g *gsiv1.TransitGateway) { g.Spec.SubnetIDs = nil }, "spec.subnetIDs", "Required"},
		{"malformed subnet id", func(g *gsiv1.TransitGateway) { g.Spec.SubnetIDs = []string{"subnet-xyz"} }, "spec.subnetIDs[0]", "should match"},
		{"duplicate subnet", func(g *gsiv1.TransitGateway) {
			g.Spec.SubnetIDs = []string{"subnet-0123abcd", "subnet-0123abcd"}
		}, "spec.subnetIDs[1]", "Duplicate value"},
		{"five peers", func(g *gsiv1.TransitGateway) { g.Spec.ConnectedPeerScale = 5 }, "spec.connectedPeerScale", "less than or equal to 4"},
		{"amazon asn outside AWS ranges", func(g *gsiv1.TransitGateway) { g.Spec.TransitASN = 65000 + 1000 }, "spec.transitASN", "64512-65534 or 4200000000-4294967294"},
		{"peer asn AS_TRANS", func(g *gsiv1.TransitGateway) { g.Spec.PeerASN = ptr.To[int64](23456) }, "spec.peerASN", "not 23456"},
		{"control node asn zero", func(g *gsiv1.TransitGateway) { g.Spec.ControlNodeASN = -1 }, "spec.controlNodeASN", "ASN from 1 to 4294967294"},
		{"transit cidr not a cidr", func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "192.0.2.0" }, "spec.transitCIDR", "IPv4 CIDR"},
		{"transit cidr too small", func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "192.0.2.0/25" }, "spec.transitCIDR", "/24 or larger"},
		{"transit cidr host bits", func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "192.0.2.1/24" }, "spec.transitCIDR", "host bits must be zero"},
		{"transit cidr link-local", func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "169.254.0.0/24" }, "spec.transitCIDR", "169.254.0.0/16"},
		{"transit cidr ipv6", func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "fd00::/64" }, "spec.transitCIDR", "IPv4 CIDR"},
		{"bgp cidr outside link-local", func(g *gsiv1.TransitGateway) { g.Spec.BgpCidr = "10.0.0.0" }, "spec.bgpCidr", "should match"},
		{"bgp cidr not /29 aligned", func(g *gsiv1.TransitGateway) { g.Spec.BgpCidr = "169.254.10.4" }, "spec.bgpCidr", "/29 boundary"},
		{"bgp cidr wrong length", func(g *gsiv1.TransitGateway) { g.Spec.BgpCidr = "169.254.10.0/28" }, "spec.bgpCidr", "should match"},
		{"license name not a name", func(g *gsiv1.TransitGateway) { g.Spec.LicenseSecretName = "Bad_Name" }, "spec.licenseSecretName", "should match"},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := validTGW("bad-" + strings.ReplaceAll(c.name, " ", "-"))
			c.mutate(g)
			err := env.Client.Create(ctx, g)
			if err == nil {
				_ = env.Client.Delete(ctx, g)
				t.Fatalf("accepted; want refusal on %s", c.field)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.field) || !strings.Contains(msg, c.rule) {
				t.Errorf("refusal does not name %s and %q:\n%s", c.field, c.rule, msg)
			}
		})
	}
	t.Run("valid neighbour accepted with defaults", func(t *testing.T) {
		g := validTGW("good")
		g.Spec.ConnectedPeerScale = 0
		g.Spec.ControlNodeASN = 0
		g.Spec.BgpCidr = "169.254.10.0"
		if err := env.Client.Create(ctx, g); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(ctx, g) })
		if g.Spec.ConnectedPeerScale != 1 || g.Spec.ControlNodeASN != 64512 || g.Spec.LicenseSecretName != "crpd-license" {
			t.Errorf("defaults not applied: scale=%d controlNodeASN=%d license=%q",
				g.Spec.ConnectedPeerScale, g.Spec.ControlNodeASN, g.Spec.LicenseSecretName)
		}
	})
}

func TestSchemaKeepsFieldsAWSCannotChangeImmutable(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	g := validTGW("immutable")
	if err := env.Client.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, g) })
	cases := []struct {
		field  string
		mutate func(*gsiv1.TransitGateway)
	}{
		{"spec.transitASN", func(g *gsiv1.TransitGateway) { g.Spec.TransitASN = 64514 }},
		{"spec.peerASN", func(g *gsiv1.TransitGateway) { g.Spec.PeerASN = ptr.To[int64](65001) }},
		{"spec.transitCIDR", func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "198.51.100.0/24" }},
		{"spec.bgpCidr", func(g *gsiv1.TransitGateway) { g.Spec.BgpCidr = "169.254.20.0" }},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			u := g.DeepCopy()
			c.mutate(u)
			err := env.Client.Update(ctx, u)
			if err == nil {
				t.Fatalf("changing %s was accepted", c.field)
			}
			if !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), "is immutable") {
				t.Errorf("refusal does not say %s is immutable and why:\n%v", c.field, err)
			}
		})
	}
	t.Run("scale may change", func(t *testing.T) {
		u := g.DeepCopy()
		u.Spec.ConnectedPeerScale = 4
		if err := env.Client.Update(ctx, u); err != nil {
			t.Fatalf("scaling refused: %v", err)
		}
	})
}

func TestGSIPluginSchema(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	cases := []struct {
		name, region, vpc, field string
	}{
		{"bad region", "Ohio", "vpc-0a1b2c3d4e5f60001", "spec.awsRegion"},
		{"bad vpc", "us-east-2", "vpc-zz", "spec.vpcID"},
	}
	for _, c := range cases {
		p := &pluginsv1alpha1.GSIPlugin{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
			Spec:       pluginsv1alpha1.GSIPluginSpec{AWSRegion: c.region, VPCID: c.vpc},
		}
		err := env.Client.Create(ctx, p)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: want refusal naming %s, got %v", c.name, c.field, err)
		}
	}
}

// TestGetReadsWell pins the printer columns users see with kubectl get.
func TestGetReadsWell(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	g := validTGW("columns")
	if err := env.Client.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, g) })
	g.Status = gsiv1.TransitGatewayStatus{State: gsiv1.StateAvailable, TransitGatewayID: "tgw-0123456789abcdef0", PeersReady: 2}
	if err := env.Client.Status().Update(ctx, g); err != nil {
		t.Fatal(err)
	}
	cp := &gsiv1.ConnectedPeer{
		ObjectMeta: metav1.ObjectMeta{Name: "columns-0", Namespace: "default"},
		Spec: gsiv1.ConnectedPeerSpec{TransitGatewayName: "columns", Index: 0, InsideCIDR: "169.254.10.0/29",
			PeerASN: 64513, TransitASN: 64513, ControlNodeASN: 64512},
	}
	rt := &gsiv1.Route{
		ObjectMeta: metav1.ObjectMeta{Name: "blue.web", Namespace: "default"},
		Spec: gsiv1.RouteSpec{DestinationCIDR: "10.20.0.0/16", TransitGatewayName: "columns",
			VirtualNetwork: gsiv1.VirtualNetworkReference{Namespace: "blue", Name: "web"}, RouteTarget: "target:64512:8000001"},
	}
	for _, o := range []interface {
		GetName() string
	}{cp, rt} {
		_ = o
	}
	if err := env.Client.Create(ctx, cp); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, rt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, cp); _ = env.Client.Delete(ctx, rt) })
	out, err := kubectl(t, "", "get", "transitgateways,connectedpeers,routes", "-A")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"STATE", "TGW-ID", "PEERS", "READY", "TRANSIT-CIDR", "tgw-0123456789abcdef0", "available",
		"INDEX", "INSIDE-CIDR", "169.254.10.0/29",
		"DESTINATION", "VN-NAMESPACE", "10.20.0.0/16",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get output lacks %q", want)
		}
	}
	t.Logf("kubectl get transitgateways,connectedpeers,routes -A:\n%s", out)
}
