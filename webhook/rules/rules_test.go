package rules

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

func ptr[T any](v T) *T { return &v }

// sourceDocTGW is the TransitGateway of the CN2 guide, placeholders filled.
func sourceDocTGW() *gsiv1.TransitGateway {
	return &gsiv1.TransitGateway{
		ObjectMeta: metav1.ObjectMeta{Name: "tgw1", Namespace: "contrail-gsi"},
		Spec: gsiv1.TransitGatewaySpec{
			SubnetIDs:          []string{"subnet-0a1b2c3d", "subnet-0123456789abcdef0", "subnet-1a2b3c4d"},
			ConnectedPeerScale: 1,
			TransitASN:         64513,
			PeerASN:            ptr(int64(64513)),
			TransitCIDR:        "192.0.2.0/24",
			BgpCidr:            "169.254.10.0",
			ControlNodeASN:     64512,
			LicenseSecretName:  "crpd-license",
		},
	}
}

var okLicense = &License{Found: true, HasKey: true}

func okFacts() Facts {
	return Facts{
		VPC:     []NamedPrefix{{netip.MustParsePrefix("10.0.0.0/16"), "the VPC's CIDR"}},
		Others:  []TransitGatewayRef{{Namespace: "contrail-gsi", Name: "tgw2", TransitCIDR: "198.51.100.0/24", BgpCidr: "169.254.20.0/29", Scale: 2}},
		License: okLicense,
	}
}

// wantErr asserts errs has exactly one error on path whose message contains every part.
func wantErr(t *testing.T, errs field.ErrorList, path string, parts ...string) {
	t.Helper()
	if path == "" {
		if len(errs) != 0 {
			t.Fatalf("want accepted, got %v", errs.ToAggregate())
		}
		return
	}
	if len(errs) != 1 {
		t.Fatalf("want one error on %s, got %d: %v", path, len(errs), errs.ToAggregate())
	}
	if errs[0].Field != path {
		t.Fatalf("error on %s, want %s: %v", errs[0].Field, path, errs[0])
	}
	for _, p := range parts {
		if !strings.Contains(errs[0].Error(), p) {
			t.Errorf("message %q lacks %q", errs[0].Error(), p)
		}
	}
}

func TestValidateTransitGateway(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*gsiv1.TransitGateway, *Facts)
		path   string
		parts  []string
	}{
		{"source document", func(*gsiv1.TransitGateway, *Facts) {}, "", nil},
		{"bgpCidr with /29", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.BgpCidr = "169.254.10.0/29" }, "", nil},
		{"bgpCidr /30", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.BgpCidr = "169.254.10.0/30" }, "spec.bgpCidr", []string{"169.254.10.0/30", "/29"}},
		{"bgpCidr unaligned", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.BgpCidr = "169.254.10.4" }, "spec.bgpCidr", []string{"/29 boundary", "169.254.10.0?"}},
		{"bgpCidr outside link-local", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.BgpCidr = "10.254.10.0" }, "spec.bgpCidr", []string{"outside 169.254.0.0/16"}},
		{"bgpCidr reserved 169.254.5.0", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.BgpCidr = "169.254.5.0" }, "spec.bgpCidr", []string{"169.254.5.0/29 (peer 0) is reserved by AWS"}},
		{"bgpCidr neighbour of reserved 169.254.6.0", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.BgpCidr = "169.254.6.0" }, "", nil},
		{"bgpCidr second peer on metadata block", func(g *gsiv1.TransitGateway, _ *Facts) {
			g.Spec.BgpCidr, g.Spec.ConnectedPeerScale = "169.254.169.240", 2
		}, "spec.bgpCidr", []string{"169.254.169.248/29 (peer 1)", "instance metadata"}},
		{"bgpCidr one peer below metadata block", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.BgpCidr = "169.254.169.240" }, "", nil},
		{"bgpCidr runs past 169.254/16", func(g *gsiv1.TransitGateway, _ *Facts) {
			g.Spec.BgpCidr, g.Spec.ConnectedPeerScale = "169.254.255.248", 2
		}, "spec.bgpCidr", []string{"169.255.0.0/29 (peer 1) runs past"}},
		{"bgpCidr last block alone", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.BgpCidr = "169.254.255.248" }, "", nil},
		{"bgpCidr overlaps another TGW's peer 1", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.BgpCidr = "169.254.20.8" }, "spec.bgpCidr", []string{"169.254.20.8/29 (peer 0) is already used by TransitGateway contrail-gsi/tgw2 (its peer 1)"}},
		{"bgpCidr after another TGW's blocks", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.BgpCidr = "169.254.20.16" }, "", nil},
		{"transitCIDR /25", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.TransitCIDR = "192.0.2.0/25" }, "spec.transitCIDR", []string{"/25", "/24 or larger"}},
		{"transitCIDR host bits", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.TransitCIDR = "192.0.3.0/23" }, "spec.transitCIDR", []string{"host bits", "did you mean 192.0.2.0/23?"}},
		{"transitCIDR /22", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.TransitCIDR = "192.0.0.0/22" }, "", nil},
		{"transitCIDR link-local", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.TransitCIDR = "169.254.100.0/24" }, "spec.transitCIDR", []string{"169.254.0.0/16"}},
		{"transitCIDR IPv6", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.TransitCIDR = "fd00::/64" }, "spec.transitCIDR", []string{"IPv4"}},
		{"transitCIDR overlaps VPC", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.TransitCIDR = "10.0.7.0/24" }, "spec.transitCIDR", []string{"overlaps the VPC's CIDR 10.0.0.0/16"}},
		{"transitCIDR next to VPC", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.TransitCIDR = "10.1.0.0/24" }, "", nil},
		{"transitCIDR overlaps another TGW", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.TransitCIDR = "198.51.100.0/24" }, "spec.transitCIDR", []string{"TransitGateway contrail-gsi/tgw2's transitCIDR 198.51.100.0/24"}},
		{"transitCIDR multicast", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.TransitCIDR = "224.0.0.0/24" }, "spec.transitCIDR", []string{"multicast"}},
		{"scale 5", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.ConnectedPeerScale = 5 }, "spec.connectedPeerScale", []string{"1 to 4"}},
		{"scale 4", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.ConnectedPeerScale = 4 }, "", nil},
		{"transitASN 64511", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.TransitASN = 64511 }, "spec.transitASN", []string{"64512-65534"}},
		{"transitASN 4200000000", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.TransitASN = 4200000000 }, "", nil},
		{"peerASN 23456", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.PeerASN = ptr(int64(23456)) }, "spec.peerASN", []string{"AS_TRANS"}},
		{"peerASN 0", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.PeerASN = ptr(int64(0)) }, "spec.peerASN", []string{"AS 0"}},
		{"peerASN 65535", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.PeerASN = ptr(int64(65535)) }, "spec.peerASN", []string{"reserved"}},
		{"peerASN eBGP 65000", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.PeerASN = ptr(int64(65000)) }, "", nil},
		{"controlNodeASN 100000", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.ControlNodeASN = 100000 }, "spec.controlNodeASN", []string{"65552-131071"}},
		{"controlNodeASN 4294967295", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.ControlNodeASN = 4294967295 }, "spec.controlNodeASN", []string{"4294967294"}},
		{"subnetIDs empty", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.SubnetIDs = nil }, "spec.subnetIDs", []string{"at least one"}},
		{"subnetIDs malformed", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.SubnetIDs[1] = "subnet-XYZ" }, "spec.subnetIDs[1]", []string{"subnet-XYZ", "not an AWS subnet id"}},
		{"subnetIDs duplicate", func(g *gsiv1.TransitGateway, _ *Facts) { g.Spec.SubnetIDs[2] = g.Spec.SubnetIDs[0] }, "spec.subnetIDs[2]", []string{"twice"}},
		{"license missing", func(_ *gsiv1.TransitGateway, f *Facts) { f.License = &License{} }, "spec.licenseSecretName", []string{"no Secret contrail-gsi/crpd-license"}},
		{"license without key", func(_ *gsiv1.TransitGateway, f *Facts) { f.License = &License{Found: true} }, "spec.licenseSecretName", []string{"no key \"crpd-license\""}},
		{"license empty", func(_ *gsiv1.TransitGateway, f *Facts) { f.License = &License{Found: true, HasKey: true, Empty: true} }, "spec.licenseSecretName", []string{"empty"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, f := sourceDocTGW(), okFacts()
			tc.mutate(g, &f)
			errs, _ := ValidateTransitGateway(g, f)
			wantErr(t, errs, tc.path, tc.parts...)
		})
	}
}

func TestValidateTransitGatewayReturnsAllViolations(t *testing.T) {
	g := sourceDocTGW()
	g.Spec.BgpCidr, g.Spec.TransitCIDR, g.Spec.TransitASN, g.Spec.SubnetIDs = "169.254.5.0", "10.0.0.0/24", 1, nil
	errs, _ := ValidateTransitGateway(g, okFacts())
	got := map[string]bool{}
	for _, e := range errs {
		got[e.Field] = true
	}
	for _, f := range []string{"spec.bgpCidr", "spec.transitCIDR", "spec.transitASN", "spec.subnetIDs"} {
		if !got[f] {
			t.Errorf("no error on %s in %v", f, errs.ToAggregate())
		}
	}
}

func TestDocumentationASNWarns(t *testing.T) {
	g := sourceDocTGW()
	g.Spec.PeerASN = ptr(int64(64500))
	errs, warns := ValidateTransitGateway(g, okFacts())
	if len(errs) != 0 || len(warns) != 1 || !strings.Contains(warns[0], "spec.peerASN") {
		t.Fatalf("errs %v warns %v", errs, warns)
	}
}

func TestValidateTransitGatewayUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*gsiv1.TransitGateway)
		path   string
	}{
		{"scale and subnets change", func(g *gsiv1.TransitGateway) {
			g.Spec.ConnectedPeerScale = 3
			g.Spec.SubnetIDs = g.Spec.SubnetIDs[:1]
		}, ""},
		{"transitASN", func(g *gsiv1.TransitGateway) { g.Spec.TransitASN = 64600 }, "spec.transitASN"},
		{"peerASN", func(g *gsiv1.TransitGateway) { g.Spec.PeerASN = ptr(int64(64600)) }, "spec.peerASN"},
		{"transitCIDR", func(g *gsiv1.TransitGateway) { g.Spec.TransitCIDR = "192.0.3.0/24" }, "spec.transitCIDR"},
		{"bgpCidr", func(g *gsiv1.TransitGateway) { g.Spec.BgpCidr = "169.254.11.0" }, "spec.bgpCidr"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old, cur := sourceDocTGW(), sourceDocTGW()
			tc.mutate(cur)
			wantErr(t, ValidateTransitGatewayUpdate(old, cur), tc.path, "immutable")
		})
	}
}

func TestDefaultTransitGateway(t *testing.T) {
	g := &gsiv1.TransitGateway{Spec: gsiv1.TransitGatewaySpec{TransitASN: 64513, ControllerContainer: &corev1.Container{Image: "x"}}}
	DefaultTransitGateway(g, nil, Defaults{RouterImage: "gsi-router:v1"})
	s := g.Spec
	if s.ConnectedPeerScale != 1 || *s.PeerASN != 64513 || s.LicenseSecretName != "crpd-license" || s.ControlNodeASN != 64512 {
		t.Fatalf("defaults: %+v", s)
	}
	if s.CrpdContainer.Name != "crpd" || s.CrpdContainer.Image != "gsi-router:v1" || s.ControllerContainer.Name != "controller" || s.InitContainer != nil {
		t.Fatalf("container defaults: %+v %+v %+v", s.CrpdContainer, s.ControllerContainer, s.InitContainer)
	}
	// An update that omits the (immutable) peer ASN keeps the stored one.
	old := g.DeepCopy()
	*old.Spec.PeerASN = 65001
	g2 := &gsiv1.TransitGateway{Spec: gsiv1.TransitGatewaySpec{TransitASN: 64513}}
	DefaultTransitGateway(g2, old, Defaults{})
	if *g2.Spec.PeerASN != 65001 {
		t.Fatalf("peerASN on update = %d, want the stored 65001", *g2.Spec.PeerASN)
	}
}

func TestParseBGPCIDR(t *testing.T) {
	for in, want := range map[string]string{
		"169.254.10.0": "169.254.10.0/29", "169.254.10.0/29": "169.254.10.0/29", " 169.254.10.8 ": "169.254.10.8/29",
		"169.254.10.0/28": "", "::1": "", "": "", "169.254.10": "", "169.254.10.0/": "",
	} {
		p, err := ParseBGPCIDR(in)
		if want == "" {
			if err == nil {
				t.Errorf("%q: want error, got %s", in, p)
			}
			continue
		}
		if err != nil || p.String() != want {
			t.Errorf("%q: got %s, %v; want %s", in, p, err, want)
		}
	}
}

func TestPeerBlocks(t *testing.T) {
	blocks, ok := PeerBlocks(netip.MustParsePrefix("169.254.10.0/29"), 4)
	if !ok || len(blocks) != 4 || blocks[3].String() != "169.254.10.24/29" {
		t.Fatalf("%v %v", blocks, ok)
	}
	if _, ok := PeerBlocks(netip.MustParsePrefix("255.255.255.248/29"), 2); ok {
		t.Fatal("blocks past 255.255.255.255 must not be ok")
	}
}

func TestValidateExposure(t *testing.T) {
	tgw := sourceDocTGW()
	base := func() Exposure {
		return Exposure{
			VN: "blue/vn1", TransitGateway: "tgw1", TransitGatewayNamespace: "contrail-gsi", Target: tgw,
			SubnetRef: "blue/vn1-v4", Subnet: netip.MustParsePrefix("172.16.1.0/24"),
			VPC:     []NamedPrefix{{netip.MustParsePrefix("10.0.0.0/16"), "the VPC's CIDR"}},
			Exposed: []NamedPrefix{{netip.MustParsePrefix("172.16.2.0/24"), "VirtualNetwork red/vn2"}},
		}
	}
	deleting := tgw.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{}
	cases := []struct {
		name   string
		mutate func(*Exposure)
		path   string
		parts  []string
	}{
		{"ok", func(*Exposure) {}, "", nil},
		{"no such TGW", func(e *Exposure) { e.Target = nil }, "metadata.labels[core.gsi.juniper.net/expose]", []string{"no TransitGateway contrail-gsi/tgw1"}},
		{"TGW deleting", func(e *Exposure) { e.Target = deleting }, "metadata.labels[core.gsi.juniper.net/expose]", []string{"being deleted"}},
		{"overlaps VPC", func(e *Exposure) { e.Subnet = netip.MustParsePrefix("10.0.128.0/20") }, "spec.v4SubnetReference", []string{"10.0.128.0/20", "the VPC's CIDR 10.0.0.0/16"}},
		{"overlaps transitCIDR", func(e *Exposure) { e.Subnet = netip.MustParsePrefix("192.0.2.128/25") }, "spec.v4SubnetReference", []string{"transitCIDR 192.0.2.0/24"}},
		{"overlaps link-local", func(e *Exposure) { e.Subnet = netip.MustParsePrefix("169.254.0.0/15") }, "spec.v4SubnetReference", []string{"169.254.0.0/16"}},
		{"overlaps exposed VN", func(e *Exposure) { e.Subnet = netip.MustParsePrefix("172.16.0.0/16") }, "spec.v4SubnetReference", []string{"VirtualNetwork red/vn2"}},
		{"neighbour of exposed VN", func(e *Exposure) { e.Subnet = netip.MustParsePrefix("172.16.3.0/24") }, "", nil},
		{"no subnet", func(e *Exposure) { e.Subnet = netip.Prefix{} }, "spec.v4SubnetReference", []string{"no IPv4 subnet"}},
		{"IPv6 subnet", func(e *Exposure) { e.Subnet = netip.MustParsePrefix("fd00::/64") }, "spec.v4SubnetReference", []string{"not IPv4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := base()
			tc.mutate(&e)
			wantErr(t, ValidateExposure(e), tc.path, tc.parts...)
		})
	}
}

func TestLicenseSecretChange(t *testing.T) {
	users := []string{"contrail-gsi/tgw1"}
	wantErr(t, ValidateLicenseSecretChange("contrail-gsi/crpd-license", true, nil, users), "metadata.name", "TransitGateway contrail-gsi/tgw1")
	wantErr(t, ValidateLicenseSecretChange("contrail-gsi/crpd-license", true, nil, nil), "")
	wantErr(t, ValidateLicenseSecretChange("s", false, map[string][]byte{"crpd-license": {}}, users), "data[crpd-license]", "emptied")
	wantErr(t, ValidateLicenseSecretChange("s", false, map[string][]byte{"other": []byte("x")}, users), "data[crpd-license]", "removed")
	wantErr(t, ValidateLicenseSecretChange("s", false, map[string][]byte{"crpd-license": []byte("new")}, users), "")
}

func TestRouterPodPlacement(t *testing.T) {
	spec := &corev1.PodSpec{}
	wantErr(t, ValidateRouterPodPlacement(spec), RequiredTermsPath.String(), "core.juniper.net/crpd-node")
	if !EnsureOnCRPDNodes(spec) {
		t.Fatal("EnsureOnCRPDNodes changed nothing")
	}
	wantErr(t, ValidateRouterPodPlacement(spec), "")
	if EnsureOnCRPDNodes(spec) {
		t.Fatal("EnsureOnCRPDNodes is not idempotent")
	}
	// A term that keeps the pod off crpd nodes is left alone by the mutation and refused.
	spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = append(
		spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms,
		corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: gsiv1.CRPDNodeLabel, Operator: corev1.NodeSelectorOpDoesNotExist}}})
	EnsureOnCRPDNodes(spec)
	wantErr(t, ValidateRouterPodPlacement(spec), RequiredTermsPath.Index(1).String(), "DoesNotExist")
}

func TestCN2PodsKeptOff(t *testing.T) {
	if !IsCN2Pod("contrail", map[string]string{"app": "contrail-vrouter-nodes"}, DefaultCN2Namespaces) ||
		IsCN2Pod("contrail", map[string]string{"app": "connectedpeer"}, DefaultCN2Namespaces) ||
		IsCN2Pod("default", nil, DefaultCN2Namespaces) {
		t.Fatal("IsCN2Pod")
	}
	// A DaemonSet pod's term pins it to a node: the requirement joins that term.
	spec := &corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}}},
	}}}}
	if !EnsureOffCRPDNodes(spec) {
		t.Fatal("no change")
	}
	term := spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0]
	if len(term.MatchFields) != 1 || len(term.MatchExpressions) != 1 || term.MatchExpressions[0].Operator != corev1.NodeSelectorOpDoesNotExist {
		t.Fatalf("term %+v", term)
	}
}
