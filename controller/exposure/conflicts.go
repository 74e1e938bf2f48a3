package exposure

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

// Reasons of the Programmed condition when a Route cannot be programmed.
const (
	ReasonInvalidCIDR         = "InvalidCIDR"
	ReasonLinkLocal           = "OverlapsLinkLocal"
	ReasonOverlapsVPC         = "OverlapsVPC"
	ReasonOverlapsTransitCIDR = "OverlapsTransitCIDR"
	ReasonOverlapsExposure    = "OverlapsExposure"
	ReasonForeignRoute        = "ForeignRoute"
)

// linkLocal is reserved by AWS for the Connect peers' BGP inside addresses.
var linkLocal = netip.MustParsePrefix("169.254.0.0/16")

// Conflict says why a Route cannot be programmed.
type Conflict struct {
	Reason  string
	Message string
}

// Context is what a prefix must not overlap.
type Context struct {
	VPCCIDRs    []netip.Prefix
	TransitCIDR netip.Prefix
}

// Conflicts checks the Routes of one transit gateway (mine) against the VPC, link-local
// space, the transit CIDR and every other exposure (all, every TGW's Routes). Of two
// overlapping exposures the older Route keeps the prefix, so the outcome is the same
// whichever reconciler looks. The result maps Route names (of mine) to their conflict.
func Conflicts(mine, all []gsiv1.Route, c Context) map[string]Conflict {
	valid := make([]gsiv1.Route, 0, len(all))
	for _, r := range all {
		if _, bad := standalone(r, c); !bad {
			valid = append(valid, r)
		}
	}
	sort.Slice(valid, func(i, j int) bool { return older(&valid[i], &valid[j]) })
	out := map[string]Conflict{}
	for i := range mine {
		r := &mine[i]
		if conf, bad := standalone(*r, c); bad {
			out[r.Name] = conf
			continue
		}
		p, _ := netip.ParsePrefix(r.Spec.DestinationCIDR)
		for j := range valid {
			o := &valid[j]
			if o.Namespace == r.Namespace && o.Name == r.Name {
				break // only older Routes win
			}
			q, _ := netip.ParsePrefix(o.Spec.DestinationCIDR)
			if p.Overlaps(q) {
				out[r.Name] = Conflict{ReasonOverlapsExposure, fmt.Sprintf(
					"%s overlaps %s, already exposed by VirtualNetwork %s/%s through TransitGateway %s (Route %s)",
					p, q, o.Spec.VirtualNetwork.Namespace, o.Spec.VirtualNetwork.Name, o.Spec.TransitGatewayName, o.Name)}
				break
			}
		}
	}
	return out
}

// standalone checks a Route on its own: a parsable IPv4 prefix outside link-local
// space, the VPC and the transit CIDR.
func standalone(r gsiv1.Route, c Context) (Conflict, bool) {
	p, err := netip.ParsePrefix(r.Spec.DestinationCIDR)
	switch {
	case err != nil:
		return Conflict{ReasonInvalidCIDR, fmt.Sprintf("destination %q is not a CIDR: %v", r.Spec.DestinationCIDR, err)}, true
	case !p.Addr().Is4():
		return Conflict{ReasonInvalidCIDR, fmt.Sprintf("destination %s: only IPv4 subnets are exposed", p)}, true
	case p != p.Masked():
		return Conflict{ReasonInvalidCIDR, fmt.Sprintf("destination %s has host bits set (%s)", p, p.Masked())}, true
	case p.Overlaps(linkLocal):
		return Conflict{ReasonLinkLocal, fmt.Sprintf("%s overlaps %s, which AWS reserves for the Connect peers' BGP addresses", p, linkLocal)}, true
	}
	for _, v := range c.VPCCIDRs {
		if p.Overlaps(v) {
			return Conflict{ReasonOverlapsVPC, fmt.Sprintf("%s overlaps the VPC's CIDR block %s: the VPC already routes it locally", p, v)}, true
		}
	}
	if c.TransitCIDR.IsValid() && p.Overlaps(c.TransitCIDR) {
		return Conflict{ReasonOverlapsTransitCIDR, fmt.Sprintf("%s overlaps the transit gateway's CIDR block %s (GRE outer addresses)", p, c.TransitCIDR)}, true
	}
	return Conflict{}, false
}

// older orders Routes by when their exposure was first seen (the annotation has
// nanoseconds; creation timestamps only seconds), then by name.
func older(a, b *gsiv1.Route) bool {
	if ta, tb := exposedAt(a), exposedAt(b); !ta.Equal(tb) {
		return ta.Before(tb)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

func exposedAt(r *gsiv1.Route) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, r.Annotations[ExposedAtAnnotation]); err == nil {
		return t
	}
	return r.CreationTimestamp.Time
}
