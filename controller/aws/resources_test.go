package aws_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	gsiaws "github.com/opengsi/gsi/controller/aws"
	"github.com/opengsi/gsi/test/ec2sim"
)

func TestRoutes(t *testing.T) {
	h := newHarness(t, ec2sim.Options{})
	ctx := context.Background()
	if _, err := converge(ctx, h.client, owner, nil); err != nil {
		t.Fatal(err)
	}
	tg := must(h.client.FindTransitGateway(ctx, owner))(t)
	spec := func(dest string) gsiaws.RouteSpec {
		return gsiaws.RouteSpec{RouteTableID: rtbMain, DestinationCIDR: dest, TransitGatewayID: tg.ID}
	}

	createsBefore := h.sim.Stats().ByAction["CreateRoute"]
	cases := []struct {
		name    string
		spec    gsiaws.RouteSpec
		want    string // target after the call
		wantErr error
	}{
		{"create", spec("10.250.0.0/16"), tg.ID, nil},
		{"again is a no-op", spec("10.250.0.0/16"), tg.ID, nil},
		{"host bits are masked", spec("10.251.1.1/16"), tg.ID, nil},
		{"default route belongs to the user", spec("0.0.0.0/0"), igw, gsiaws.ErrRouteConflict},
		{"local route is never replaced", gsiaws.RouteSpec{RouteTableID: rtbMain, DestinationCIDR: "10.0.0.0/16", TransitGatewayID: tg.ID, ReplaceForeign: true}, "local", gsiaws.ErrRouteConflict},
		{"foreign route replaced on request", gsiaws.RouteSpec{RouteTableID: rtbMain, DestinationCIDR: "0.0.0.0/0", TransitGatewayID: tg.ID, ReplaceForeign: true}, tg.ID, nil},
		{"unknown route table", gsiaws.RouteSpec{RouteTableID: "rtb-0000000000000dead", DestinationCIDR: "10.250.0.0/16", TransitGatewayID: tg.ID}, "", gsiaws.ErrNotFound},
		{"bad cidr", spec("10.250.0.0/40"), "", gsiaws.ErrInvalidParameter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := h.client.EnsureRoute(ctx, tc.spec)
			if tc.wantErr != nil {
				wantKind(t, err, tc.wantErr)
			} else if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				return
			}
			got := r.TransitGatewayID
			if got == "" {
				got = r.GatewayID
			}
			if got != tc.want {
				t.Fatalf("target %s, want %s", got, tc.want)
			}
		})
	}
	if n := h.sim.Stats().ByAction["CreateRoute"] - createsBefore; n != 2 {
		t.Fatalf("CreateRoute called %d times, want 2", n)
	}

	// DeleteRoute removes only routes pointing at our TGW.
	if _, err := h.client.EnsureRoute(ctx, gsiaws.RouteSpec{RouteTableID: rtbMain, DestinationCIDR: "0.0.0.0/0", TransitGatewayID: "tgw-0000000000000beef", ReplaceForeign: true}); !errors.Is(err, gsiaws.ErrNotFound) {
		t.Fatalf("route to unknown tgw: %v", err)
	}
	for _, dest := range []string{"10.250.0.0/16", "10.250.0.0/16", "10.0.0.0/16"} {
		if err := h.client.DeleteRoute(ctx, spec(dest)); err != nil {
			t.Fatalf("delete %s: %v", dest, err)
		}
	}
	rts := must(h.client.DescribeRouteTables(ctx, vpcID))(t)
	main := rts[slices.IndexFunc(rts, func(rt gsiaws.RouteTable) bool { return rt.Main })]
	var dests []string
	for _, r := range main.Routes {
		dests = append(dests, r.DestinationCIDR)
	}
	if !slices.Equal(dests, []string{"10.0.0.0/16", "10.1.0.0/16", "0.0.0.0/0", "10.244.0.0/16", "10.251.0.0/16"}) {
		t.Fatalf("routes left: %v", dests)
	}
}

func TestRouteLimit(t *testing.T) {
	cfg := ec2sim.DefaultConfig()
	cfg.Quotas.RoutesPerRouteTable = 4 // 2 local + igw + 1
	h := newHarness(t, ec2sim.Options{Config: cfg})
	ctx := context.Background()
	tg := must(h.client.EnsureTransitGateway(ctx, gsiaws.TransitGatewaySpec{Owner: owner, AmazonSideASN: 64512}))(t)
	if _, err := h.client.EnsureRoute(ctx, gsiaws.RouteSpec{RouteTableID: rtbMain, DestinationCIDR: "10.250.0.0/16", TransitGatewayID: tg.ID}); err != nil {
		t.Fatal(err)
	}
	_, err := h.client.EnsureRoute(ctx, gsiaws.RouteSpec{RouteTableID: rtbMain, DestinationCIDR: "10.251.0.0/16", TransitGatewayID: tg.ID})
	wantKind(t, err, gsiaws.ErrLimitExceeded)
	if gsiaws.ErrorCode(err) != "RouteLimitExceeded" {
		t.Fatalf("code %q", gsiaws.ErrorCode(err))
	}
}

func TestSecurityGroupRules(t *testing.T) {
	h := newHarness(t, ec2sim.Options{})
	ctx := context.Background()
	sg := must(h.client.EnsureSecurityGroup(ctx, gsiaws.SecurityGroupSpec{Owner: owner, VPCID: vpcID, Name: "gsi-sg"}))(t)
	if sg2 := must(h.client.EnsureSecurityGroup(ctx, gsiaws.SecurityGroupSpec{Owner: owner, VPCID: vpcID, Name: "gsi-sg"}))(t); sg2.ID != sg.ID {
		t.Fatalf("second ensure made %s", sg2.ID)
	}
	// Another TGW object wanting the same name in the VPC collides (names are per VPC).
	other := gsiaws.Owner{Cluster: "demo", Namespace: "contrail-gsi", Name: "tgw2"}
	_, err := h.client.EnsureSecurityGroup(ctx, gsiaws.SecurityGroupSpec{Owner: other, VPCID: vpcID, Name: "gsi-sg"})
	wantKind(t, err, gsiaws.ErrAlreadyExists)

	rules := func(cidrs ...string) []gsiaws.IngressRule {
		var out []gsiaws.IngressRule
		for _, c := range cidrs {
			out = append(out, gsiaws.IngressRule{Protocol: "-1", CIDR: c, Description: "VN " + c})
		}
		return out
	}
	steps := []struct {
		name   string
		add    []gsiaws.IngressRule
		revoke []gsiaws.IngressRule
		want   int
	}{
		{"add two", rules("10.244.0.0/16", "10.245.0.0/16"), nil, 2},
		{"add one new, one present", rules("10.245.0.0/16", "10.246.0.0/16"), nil, 3},
		{"protocol spelled as number", []gsiaws.IngressRule{{Protocol: "6", FromPort: 179, ToPort: 179, CIDR: "169.254.0.0/16"}, {Protocol: "tcp", FromPort: 179, ToPort: 179, CIDR: "169.254.0.0/16"}}, nil, 4},
		{"revoke one present, one absent", nil, rules("10.244.0.0/16", "10.99.0.0/16"), 3},
		{"revoke absent only", nil, rules("10.99.0.0/16"), 3},
		{"fill to 60", rules(cidrRange(100, 56)...), nil, 59},
	}
	for _, st := range steps {
		var g *gsiaws.SecurityGroup
		var err error
		if st.add != nil {
			g, err = h.client.EnsureIngressRules(ctx, sg.ID, st.add)
		} else {
			g, err = h.client.RevokeIngressRules(ctx, sg.ID, st.revoke)
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(g.Ingress) != st.want {
			t.Fatalf("%s: %d rules, want %d", st.name, len(g.Ingress), st.want)
		}
	}
	if _, err := h.client.EnsureIngressRules(ctx, sg.ID, rules("10.1.0.0/16")); err != nil {
		t.Fatalf("60th rule: %v", err)
	}
	_, err = h.client.EnsureIngressRules(ctx, sg.ID, rules("10.2.0.0/16"))
	wantKind(t, err, gsiaws.ErrLimitExceeded)
	if gsiaws.ErrorCode(err) != "RulesPerSecurityGroupLimitExceeded" {
		t.Fatalf("code %q", gsiaws.ErrorCode(err))
	}
	if gone := must(h.client.DeleteSecurityGroup(ctx, owner))(t); !gone {
		t.Fatal("security group not gone")
	}
	_, err = h.client.EnsureIngressRules(ctx, sg.ID, rules("10.2.0.0/16"))
	wantKind(t, err, gsiaws.ErrNotFound)
}

func cidrRange(from, n int) []string {
	var out []string
	for i := range n {
		out = append(out, "10."+itoa(from+i)+".0.0/16")
	}
	return out
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// TestConnectPeerReplacement: a router pod moving to another node changes the peer
// address; Connect peers are immutable, so Ensure replaces the peer in two steps.
func TestConnectPeerReplacement(t *testing.T) {
	h := newHarness(t, ec2sim.Options{})
	ctx := context.Background()
	ids, err := converge(ctx, h.client, owner, []string{"10.0.0.10"})
	if err != nil {
		t.Fatal(err)
	}
	spec := gsiaws.ConnectPeerSpec{Owner: owner, Index: 0, ConnectAttachmentID: ids["connect"], PeerAddress: "10.0.16.20", InsideCIDR: "169.254.100.0/29"}
	first := must(h.client.EnsureConnectPeer(ctx, spec))(t)
	if first.ID != ids["peer0"] || first.State != gsiaws.StateDeleted && first.State != gsiaws.StateDeleting {
		t.Fatalf("first ensure after the move: %s %s", first.ID, first.State)
	}
	second := must(h.client.EnsureConnectPeer(ctx, spec))(t)
	if second.ID == ids["peer0"] || second.PeerAddress != "10.0.16.20" || second.State != gsiaws.StateAvailable {
		t.Fatalf("replacement: %+v", second)
	}
	peers := must(h.client.ListConnectPeers(ctx, owner))(t)
	if len(peers) != 1 || peers[0].ID != second.ID {
		t.Fatalf("peers: %+v", peers)
	}
	if _, err := h.client.FindConnectPeer(ctx, owner, 4); !errors.Is(err, gsiaws.ErrInvalidParameter) {
		t.Fatalf("index 4: %v", err)
	}
	// A reserved inside CIDR is the spec's fault: ErrInvalidParameter, nothing created.
	_, err = h.client.EnsureConnectPeer(ctx, gsiaws.ConnectPeerSpec{Owner: owner, Index: 1, ConnectAttachmentID: ids["connect"], PeerAddress: "10.0.0.11", InsideCIDR: "169.254.169.248/29"})
	wantKind(t, err, gsiaws.ErrInvalidParameter)
}

// TestErrorKinds maps every AWS code the reconcilers act on to its kind.
func TestErrorKinds(t *testing.T) {
	h := newHarness(t, ec2sim.Options{}, func(c *gsiaws.Config) { c.MaxAttempts = 1 })
	ctx := context.Background()
	cases := []struct {
		code string
		kind error
	}{
		{"InvalidTransitGatewayID.NotFound", gsiaws.ErrNotFound},
		{"InvalidTransitGatewayAttachmentID.NotFound", gsiaws.ErrNotFound},
		{"InvalidTransitGatewayConnectPeerID.NotFound", gsiaws.ErrNotFound},
		{"InvalidRouteTableID.NotFound", gsiaws.ErrNotFound},
		{"InvalidGroup.NotFound", gsiaws.ErrNotFound},
		{"DependencyViolation", gsiaws.ErrDependencyViolation},
		{"IncorrectState", gsiaws.ErrIncorrectState},
		{"RouteAlreadyExists", gsiaws.ErrAlreadyExists},
		{"InvalidPermission.Duplicate", gsiaws.ErrAlreadyExists},
		{"InvalidParameterValue", gsiaws.ErrInvalidParameter},
		{"DuplicateSubnetsInSameZone", gsiaws.ErrInvalidParameter},
		{"DuplicateTransitGatewayAttachment", gsiaws.ErrAlreadyExists},
		{"InvalidGroup.Duplicate", gsiaws.ErrAlreadyExists},
		{"MissingParameter", gsiaws.ErrInvalidParameter},
		{"RulesPerSecurityGroupLimitExceeded", gsiaws.ErrLimitExceeded},
		{"InvalidTransitGatewayID.Malformed", gsiaws.ErrInvalidParameter},
		{"TransitGatewayLimitExceeded", gsiaws.ErrLimitExceeded},
		{"RequestLimitExceeded", gsiaws.ErrThrottled},
		{"UnauthorizedOperation", gsiaws.ErrUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			h.sim.InjectError(ec2sim.ErrorFault{Action: "DescribeTransitGateways", Code: tc.code, Times: 1})
			_, err := h.client.FindTransitGateway(ctx, owner)
			wantKind(t, err, tc.kind)
			var ae *gsiaws.APIError
			if !errors.As(err, &ae) || ae.Code != tc.code || ae.Operation != "DescribeTransitGateways" || gsiaws.ErrorCode(err) != tc.code {
				t.Fatalf("api error: %#v", err)
			}
			if !strings.Contains(err.Error(), tc.code) {
				t.Fatalf("message %q", err)
			}
		})
	}
	// An invalid owner never reaches AWS.
	_, err := h.client.FindTransitGateway(ctx, gsiaws.Owner{Cluster: "c"})
	wantKind(t, err, gsiaws.ErrInvalidParameter)
}
