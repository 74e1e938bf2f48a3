// Package rules holds gsi's admission rules as pure functions: they take the object under
// review and what the cluster already holds (the VPC's CIDRs, the other transit gateways,
// the license Secret) and return every violation as a field.ErrorList whose messages name
// the field, the value and the rule in a network engineer's words. The admission handlers
// in webhook/admit only gather the facts and call these.
package rules

import (
	"fmt"
	"net/netip"
	"strings"
)

// LinkLocal is 169.254.0.0/16: AWS takes Connect peer BGP inside addresses from it, and a
// transit gateway CIDR block or an exposed network may not use it.
var LinkLocal = netip.MustParsePrefix("169.254.0.0/16")

// InsideBlockBits is the prefix length of a Connect peer's BGP inside CIDR.
const InsideBlockBits = 29

// insideBlockSize is the number of addresses in one /29 inside block.
const insideBlockSize = 1 << (32 - InsideBlockBits)

// ReservedBlock is an inside CIDR AWS refuses for Connect peers, with why.
type ReservedBlock struct {
	Prefix netip.Prefix
	Reason string
}

// awsLowReserved explains the six low /29s.
const awsLowReserved = "reserved by AWS: 169.254.0.0/29, 169.254.1.0/29, 169.254.2.0/29, 169.254.3.0/29, 169.254.4.0/29 and 169.254.5.0/29 cannot be a Connect peer's BGP inside CIDR"

// AWSReservedInsideBlocks are the /29s of 169.254.0.0/16 that AWS refuses as a Connect
// peer's inside CIDR (AWS Transit Gateway guide, "Connect peers").
var AWSReservedInsideBlocks = []ReservedBlock{
	{netip.MustParsePrefix("169.254.0.0/29"), awsLowReserved},
	{netip.MustParsePrefix("169.254.1.0/29"), awsLowReserved},
	{netip.MustParsePrefix("169.254.2.0/29"), awsLowReserved},
	{netip.MustParsePrefix("169.254.3.0/29"), awsLowReserved},
	{netip.MustParsePrefix("169.254.4.0/29"), awsLowReserved},
	{netip.MustParsePrefix("169.254.5.0/29"), awsLowReserved},
	{netip.MustParsePrefix("169.254.169.248/29"), "reserved by AWS: 169.254.169.248/29 holds the instance metadata service (169.254.169.254) and the Amazon DNS resolver (169.254.169.253)"},
}

// ReservedInsideReason returns why AWS refuses block as an inside CIDR, or "".
func ReservedInsideReason(block netip.Prefix) string {
	for _, r := range AWSReservedInsideBlocks {
		if r.Prefix.Overlaps(block) {
			return r.Reason
		}
	}
	return ""
}

// ParseBGPCIDR reads spec.bgpCidr: an IPv4 address, with or without "/29" (the CN2 guide
// writes "169.254.10.0"). Any other prefix length is an error, because every Connect
// peer's inside CIDR is exactly a /29.
func ParseBGPCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, fmt.Errorf("is empty: give the base address of the /29 BGP inside blocks, such as 169.254.10.0")
	}
	addrPart, lenPart, hasLen := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(addrPart)
	if err != nil || !addr.Is4() {
		return netip.Prefix{}, fmt.Errorf("is not an IPv4 address (with or without /29), such as 169.254.10.0")
	}
	if hasLen && lenPart != "29" {
		return netip.Prefix{}, fmt.Errorf("must be a /29 (or a bare address meaning /29): each Connect peer's BGP inside CIDR is exactly one /29")
	}
	return netip.PrefixFrom(addr, InsideBlockBits), nil
}

// PeerBlocks returns the inside /29 of each peer: peer i uses base + 8·i. ok is false when
// a block would run past 255.255.255.255.
func PeerBlocks(base netip.Prefix, scale int) (blocks []netip.Prefix, ok bool) {
	a := base.Masked().Addr()
	if !a.Is4() {
		return nil, false
	}
	b := a.As4()
	start := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	for i := 0; i < scale; i++ {
		v := start + uint64(i)*insideBlockSize
		if v > 0xFFFFFFFF {
			return blocks, false
		}
		addr := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		blocks = append(blocks, netip.PrefixFrom(addr, InsideBlockBits))
	}
	return blocks, true
}

// specialIPv4 are ranges that cannot carry GRE outer addresses or be routed in a VPC.
var specialIPv4 = []ReservedBlock{
	{netip.MustParsePrefix("0.0.0.0/8"), "0.0.0.0/8 is \"this network\" and cannot be routed"},
	{netip.MustParsePrefix("127.0.0.0/8"), "127.0.0.0/8 is loopback and cannot be routed"},
	{netip.MustParsePrefix("224.0.0.0/4"), "224.0.0.0/4 is multicast, not unicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "240.0.0.0/4 is reserved (class E) and cannot be routed"},
}

// SpecialRangeReason returns why p cannot be used as a routed unicast range, or "".
func SpecialRangeReason(p netip.Prefix) string {
	for _, r := range specialIPv4 {
		if r.Prefix.Overlaps(p) {
			return r.Reason
		}
	}
	return ""
}

// ParseIPv4CIDR parses an IPv4 CIDR that must be a network address (host bits zero).
func ParseIPv4CIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("is not a CIDR such as 192.0.2.0/24")
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("must be IPv4: gsi's transit gateway CIDR block carries IPv4 GRE outer addresses")
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("is not a network address: host bits must be zero (did you mean %s?)", p.Masked())
	}
	return p, nil
}

// NamedPrefix is a CIDR with a description of who holds it, for messages.
type NamedPrefix struct {
	Prefix netip.Prefix
	// Owner says who holds the prefix, e.g. "the VPC" or "TransitGateway contrail-gsi/tgw2".
	Owner string
}

// FirstOverlap returns the first of others that overlaps p.
func FirstOverlap(p netip.Prefix, others []NamedPrefix) (NamedPrefix, bool) {
	for _, o := range others {
		if o.Prefix.IsValid() && o.Prefix.Overlaps(p) {
			return o, true
		}
	}
	return NamedPrefix{}, false
}
