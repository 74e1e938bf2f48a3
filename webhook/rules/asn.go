package rules

import "fmt"

// ASN limits.
const (
	asTrans        = 23456      // RFC 6793 AS_TRANS: stands in for 4-byte ASNs, never a real AS
	asLast16       = 65535      // RFC 7300: reserved
	asLast32       = 4294967295 // RFC 7300: reserved
	asReservedLow  = 65552      // IANA: 65552-131071 reserved
	asReservedHigh = 131071

	amazonLow16  = 64512
	amazonHigh16 = 65534
	amazonLow32  = 4200000000
	amazonHigh32 = 4294967294
)

// AmazonSideASNProblem says why asn cannot be a transit gateway's Amazon side ASN, or "".
func AmazonSideASNProblem(asn int64) string {
	if (asn >= amazonLow16 && asn <= amazonHigh16) || (asn >= amazonLow32 && asn <= amazonHigh32) {
		return ""
	}
	return "AWS accepts an Amazon side ASN only from the private ranges 64512-65534 or 4200000000-4294967294"
}

// PeerASNProblem says why asn cannot be a BGP speaker's ASN (a router's or a CN2 control
// node's), or "".
func PeerASNProblem(asn int64) string {
	switch {
	case asn <= 0:
		return "AS 0 and negative numbers are not autonomous systems (RFC 7607); use 1-4294967294"
	case asn == asTrans:
		return "AS 23456 is AS_TRANS (RFC 6793), the placeholder 2-byte speakers see for 4-byte ASNs, never a real AS"
	case asn == asLast16:
		return "AS 65535 is reserved (RFC 7300)"
	case asn >= asReservedLow && asn <= asReservedHigh:
		return fmt.Sprintf("AS %d is in 65552-131071, reserved by IANA", asn)
	case asn >= asLast32:
		return "ASNs end at 4294967294 (4294967295 is reserved, RFC 7300)"
	}
	return ""
}

// DocumentationASN reports ASNs reserved for documentation (RFC 5398): valid on the wire,
// but worth a warning on a real network.
func DocumentationASN(asn int64) bool {
	return (asn >= 64496 && asn <= 64511) || (asn >= 65536 && asn <= 65551)
}
