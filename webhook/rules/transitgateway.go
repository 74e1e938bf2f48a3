package rules

import (
	"fmt"
	"net/netip"
	"regexp"

	"k8s.io/apimachinery/pkg/util/validation/field"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

// MaxConnectPeers is AWS's limit of Connect peers per Connect attachment.
const MaxConnectPeers = 4

var subnetIDPattern = regexp.MustCompile(`^subnet-([0-9a-f]{8}|[0-9a-f]{17})$`)

// TransitGatewayRef is another TransitGateway of the cluster, as the rules need it.
type TransitGatewayRef struct {
	Namespace, Name string
	TransitCIDR     string
	BgpCidr         string
	Scale           int32
}

func (r TransitGatewayRef) String() string { return "TransitGateway " + r.Namespace + "/" + r.Name }

// License is what the admission handler found for spec.licenseSecretName.
type License struct {
	// Found is true when the Secret exists in the TransitGateway's namespace.
	Found bool
	// HasKey is true when the Secret has the crpd-license key.
	HasKey bool
	// Empty is true when that key holds no bytes.
	Empty bool
}

// Facts is what the cluster already holds that a TransitGateway is checked against.
type Facts struct {
	// VPC are the VPC's IPv4 blocks, from GSIPlugin status.vpcCIDRs.
	VPC []NamedPrefix
	// Others are the cluster's other TransitGateways (not the one under review).
	Others []TransitGatewayRef
	// License is nil when the license was not checked (an update that keeps its name).
	License *License
}

// EffectiveScale is spec.connectedPeerScale with the API's default (1) for 0.
func EffectiveScale(s gsiv1.TransitGatewaySpec) int32 {
	if s.ConnectedPeerScale == 0 {
		return 1
	}
	return s.ConnectedPeerScale
}

// ValidateTransitGateway checks a TransitGateway (create, or an update that changes the
// spec) against AWS's rules and the cluster's facts. It returns every violation, and
// warnings for what is allowed but unwise.
func ValidateTransitGateway(tgw *gsiv1.TransitGateway, f Facts) (field.ErrorList, []string) {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	var warns []string
	errs = append(errs, validateSubnetIDs(tgw.Spec.SubnetIDs, spec.Child("subnetIDs"))...)
	errs = append(errs, validateScale(tgw.Spec.ConnectedPeerScale, spec.Child("connectedPeerScale"))...)
	e, w := validateASNs(tgw.Spec, spec)
	errs, warns = append(errs, e...), append(warns, w...)
	errs = append(errs, validateTransitCIDR(tgw, f, spec.Child("transitCIDR"))...)
	errs = append(errs, validateBGPCIDR(tgw, f.Others, spec.Child("bgpCidr"))...)
	errs = append(errs, validateLicense(tgw, f.License, spec.Child("licenseSecretName"))...)
	return errs, warns
}

func validateSubnetIDs(ids []string, p *field.Path) field.ErrorList {
	if len(ids) == 0 {
		return field.ErrorList{field.Required(p, "the transit gateway's VPC attachment needs at least one VPC subnet (one per Availability Zone), such as subnet-0123456789abcdef0")}
	}
	var errs field.ErrorList
	seen := map[string]int{}
	for i, id := range ids {
		if !subnetIDPattern.MatchString(id) {
			errs = append(errs, field.Invalid(p.Index(i), id, "is not an AWS subnet id: \"subnet-\" and 8 or 17 lowercase hex digits, such as subnet-0123456789abcdef0"))
			continue
		}
		if j, dup := seen[id]; dup {
			errs = append(errs, field.Invalid(p.Index(i), id, fmt.Sprintf("is listed twice (also at index %d): AWS refuses a VPC attachment naming a subnet twice", j)))
			continue
		}
		seen[id] = i
	}
	return errs
}

func validateScale(scale int32, p *field.Path) field.ErrorList {
	if scale == 0 || (scale >= 1 && scale <= MaxConnectPeers) {
		return nil
	}
	return field.ErrorList{field.Invalid(p, scale, fmt.Sprintf("AWS allows 1 to %d Connect peers (router pods) per Connect attachment", MaxConnectPeers))}
}

func validateASNs(s gsiv1.TransitGatewaySpec, spec *field.Path) (field.ErrorList, []string) {
	var errs field.ErrorList
	var warns []string
	if why := AmazonSideASNProblem(s.TransitASN); why != "" {
		errs = append(errs, field.Invalid(spec.Child("transitASN"), s.TransitASN, why))
	}
	check := func(name string, asn int64) {
		if why := PeerASNProblem(asn); why != "" {
			errs = append(errs, field.Invalid(spec.Child(name), asn, why))
		} else if DocumentationASN(asn) {
			warns = append(warns, fmt.Sprintf("spec.%s: %d is reserved for documentation (RFC 5398); use a private ASN (64512-65534) on a real network", name, asn))
		}
	}
	if s.PeerASN != nil {
		check("peerASN", *s.PeerASN)
	}
	if s.ControlNodeASN != 0 {
		check("controlNodeASN", s.ControlNodeASN)
	}
	return errs, warns
}

func validateTransitCIDR(tgw *gsiv1.TransitGateway, f Facts, p *field.Path) field.ErrorList {
	v := tgw.Spec.TransitCIDR
	cidr, err := ParseIPv4CIDR(v)
	if err != nil {
		return field.ErrorList{field.Invalid(p, v, err.Error())}
	}
	var errs field.ErrorList
	if cidr.Bits() > 24 {
		errs = append(errs, field.Invalid(p, v, fmt.Sprintf("is a /%d: AWS needs a transit gateway CIDR block of /24 or larger (prefix length 24 or less)", cidr.Bits())))
	}
	if cidr.Overlaps(LinkLocal) {
		errs = append(errs, field.Invalid(p, v, "overlaps 169.254.0.0/16, which AWS keeps for the BGP inside addresses (spec.bgpCidr) and refuses as a transit gateway CIDR block"))
	}
	if why := SpecialRangeReason(cidr); why != "" {
		errs = append(errs, field.Invalid(p, v, "cannot hold GRE outer addresses: "+why))
	}
	if o, ok := FirstOverlap(cidr, f.VPC); ok {
		errs = append(errs, field.Invalid(p, v, fmt.Sprintf("overlaps %s %s: AWS refuses a transit gateway CIDR block that overlaps an attached VPC", o.Owner, o.Prefix)))
	}
	for _, other := range f.Others {
		oc, err := ParseIPv4CIDR(other.TransitCIDR)
		if err == nil && oc.Overlaps(cidr) {
			errs = append(errs, field.Invalid(p, v, fmt.Sprintf("overlaps %s's transitCIDR %s: the GRE outer addresses of the two transit gateways would collide in the VPC", other, oc)))
		}
	}
	return errs
}

func validateBGPCIDR(tgw *gsiv1.TransitGateway, others []TransitGatewayRef, p *field.Path) field.ErrorList {
	v := tgw.Spec.BgpCidr
	base, err := ParseBGPCIDR(v)
	if err != nil {
		return field.ErrorList{field.Invalid(p, v, err.Error())}
	}
	if !LinkLocal.Contains(base.Addr()) {
		return field.ErrorList{field.Invalid(p, v, "is outside 169.254.0.0/16: AWS takes Connect peer BGP inside CIDRs from the link-local range only")}
	}
	if base.Masked().Addr() != base.Addr() {
		return field.ErrorList{field.Invalid(p, v, fmt.Sprintf("is not on a /29 boundary (the last octet must be a multiple of 8): did you mean %s?", base.Masked().Addr()))}
	}
	scale := int(EffectiveScale(tgw.Spec))
	if scale < 1 || scale > MaxConnectPeers {
		return nil // spec.connectedPeerScale carries that error; the blocks are undefined
	}
	blocks, _ := PeerBlocks(base, scale)
	var errs field.ErrorList
	for i, b := range blocks {
		if !LinkLocal.Contains(b.Addr()) {
			errs = append(errs, field.Invalid(p, v, fmt.Sprintf("%s (peer %d) runs past 169.254.255.255 with connectedPeerScale %d: peer i uses base + 8*i, so lower the base", b, i, scale)))
			continue
		}
		if why := ReservedInsideReason(b); why != "" {
			errs = append(errs, field.Invalid(p, v, fmt.Sprintf("%s (peer %d) is %s", b, i, why)))
		}
		if o, j, ok := blockOwner(b, others); ok {
			errs = append(errs, field.Invalid(p, v, fmt.Sprintf("%s (peer %d) is already used by %s (its peer %d): BGP inside addresses must be unique so each router's sessions stay unambiguous", b, i, o, j)))
		}
	}
	return errs
}

// blockOwner finds the other TransitGateway whose peer block overlaps b.
func blockOwner(b netip.Prefix, others []TransitGatewayRef) (TransitGatewayRef, int, bool) {
	for _, o := range others {
		base, err := ParseBGPCIDR(o.BgpCidr)
		if err != nil {
			continue
		}
		scale := int(o.Scale)
		if scale < 1 || scale > MaxConnectPeers {
			scale = 1
		}
		blocks, _ := PeerBlocks(base, scale)
		for j, ob := range blocks {
			if ob.Overlaps(b) {
				return o, j, true
			}
		}
	}
	return TransitGatewayRef{}, 0, false
}

func validateLicense(tgw *gsiv1.TransitGateway, l *License, p *field.Path) field.ErrorList {
	if l == nil {
		return nil
	}
	name := LicenseSecretName(tgw.Spec)
	where := tgw.Namespace + "/" + name
	switch {
	case !l.Found:
		return field.ErrorList{field.Invalid(p, name, fmt.Sprintf("no Secret %s: create it first with the cRPD license under the key %q (the router pods mount it)", where, gsiv1.LicenseSecretKey))}
	case !l.HasKey:
		return field.ErrorList{field.Invalid(p, name, fmt.Sprintf("Secret %s has no key %q: the routers read their license from that key", where, gsiv1.LicenseSecretKey))}
	case l.Empty:
		return field.ErrorList{field.Invalid(p, name, fmt.Sprintf("Secret %s has an empty %q key: without a license the routers cannot establish BGP", where, gsiv1.LicenseSecretKey))}
	}
	return nil
}

// LicenseSecretName is spec.licenseSecretName with its default.
func LicenseSecretName(s gsiv1.TransitGatewaySpec) string {
	if s.LicenseSecretName == "" {
		return gsiv1.DefaultLicenseSecretName
	}
	return s.LicenseSecretName
}

// ValidateTransitGatewayUpdate refuses changes AWS cannot make in place. It agrees with
// the CRD's CEL rules (which compare the strings) and says why.
func ValidateTransitGatewayUpdate(old, cur *gsiv1.TransitGateway) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if old.Spec.TransitASN != cur.Spec.TransitASN {
		errs = append(errs, field.Invalid(spec.Child("transitASN"), cur.Spec.TransitASN, fmt.Sprintf("is immutable (it is %d): AWS cannot change a transit gateway's Amazon side ASN while attachments exist; create a new TransitGateway", old.Spec.TransitASN)))
	}
	if old.Spec.PeerASN != nil && cur.Spec.PeerASN != nil && *old.Spec.PeerASN != *cur.Spec.PeerASN {
		errs = append(errs, field.Invalid(spec.Child("peerASN"), *cur.Spec.PeerASN, fmt.Sprintf("is immutable (it is %d): AWS cannot change the ASN of an existing Connect peer", *old.Spec.PeerASN)))
	}
	if old.Spec.TransitCIDR != cur.Spec.TransitCIDR {
		errs = append(errs, field.Invalid(spec.Child("transitCIDR"), cur.Spec.TransitCIDR, fmt.Sprintf("is immutable (it is %s): the Connect peers' GRE addresses come from it and AWS cannot readdress them in place", old.Spec.TransitCIDR)))
	}
	if old.Spec.BgpCidr != cur.Spec.BgpCidr {
		errs = append(errs, field.Invalid(spec.Child("bgpCidr"), cur.Spec.BgpCidr, fmt.Sprintf("is immutable (it is %s): AWS cannot change a Connect peer's inside CIDR in place", old.Spec.BgpCidr)))
	}
	return errs
}
