package ec2sim

import (
	"net/netip"
	"slices"
	"strconv"
)

func init() {
	register("CreateTransitGateway", true, (*Sim).createTGW)
	register("DescribeTransitGateways", false, (*Sim).describeTGWs)
	register("ModifyTransitGateway", true, (*Sim).modifyTGW)
	register("DeleteTransitGateway", true, (*Sim).deleteTGW)
}

type xTGWOptions struct {
	ASN                int64    `xml:"amazonSideAsn"`
	CIDRs              []string `xml:"transitGatewayCidrBlocks>item"`
	AutoAccept         string   `xml:"autoAcceptSharedAttachments"`
	DefaultAssoc       string   `xml:"defaultRouteTableAssociation"`
	AssocRouteTable    string   `xml:"associationDefaultRouteTableId"`
	DefaultPropagation string   `xml:"defaultRouteTablePropagation"`
	PropRouteTable     string   `xml:"propagationDefaultRouteTableId"`
	VpnEcmp            string   `xml:"vpnEcmpSupport"`
	DNS                string   `xml:"dnsSupport"`
	SGReferencing      string   `xml:"securityGroupReferencingSupport"`
	Multicast          string   `xml:"multicastSupport"`
}

type xTGW struct {
	ID          string      `xml:"transitGatewayId"`
	ARN         string      `xml:"transitGatewayArn"`
	State       string      `xml:"state"`
	OwnerID     string      `xml:"ownerId"`
	Description string      `xml:"description"`
	Created     string      `xml:"creationTime"`
	Options     xTGWOptions `xml:"options"`
	Tags        []xTag      `xml:"tagSet>item"`
}

type tgwReply struct {
	reply
	TGW xTGW `xml:"transitGateway"`
}

type describeTGWsReply struct {
	reply
	TGWs      []xTGW `xml:"transitGatewaySet>item"`
	NextToken string `xml:"nextToken,omitempty"`
}

func (s *Sim) xmlTGW(t *tgw) xTGW {
	return xTGW{
		ID: t.ID, ARN: "arn:aws:ec2:" + s.cfg.Region + ":" + s.cfg.AccountID + ":transit-gateway/" + t.ID,
		State: t.status(s.now(), s.delay()), OwnerID: s.cfg.AccountID, Description: t.Description,
		Created: awsTime(t.Created), Tags: s.xmlTags(t.ID),
		Options: xTGWOptions{ASN: t.ASN, CIDRs: t.CIDRs, AutoAccept: "disable", DefaultAssoc: "enable",
			AssocRouteTable: t.RouteTable, DefaultPropagation: "enable", PropRouteTable: t.RouteTable,
			VpnEcmp: "enable", DNS: "enable", SGReferencing: "disable", Multicast: "disable"},
	}
}

// validASN: 64512–65534 or 4200000000–4294967294 (AWS's private ranges for the TGW).
func validASN(asn int64) bool {
	return (asn >= 64512 && asn <= 65534) || (asn >= 4200000000 && asn <= 4294967294)
}

// checkTGWCIDRs applies the TGW CIDR block rules to the complete list of blocks.
func (s *Sim) checkTGWCIDRs(t *tgw, cidrs []string) *apiError {
	if len(cidrs) > s.cfg.Quotas.CIDRBlocksPerTGW {
		return errf("InvalidParameterValue", "A transit gateway can have at most %d CIDR blocks", s.cfg.Quotas.CIDRBlocksPerTGW)
	}
	linkLocal := netip.MustParsePrefix("169.254.0.0/16")
	var ps []netip.Prefix
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return errf("InvalidParameterValue", "Invalid CIDR block %s", c)
		}
		switch {
		case p.Addr().Is4() && p.Bits() > 24:
			return errf("InvalidParameterValue", "Transit gateway CIDR block %s must be /24 or larger", c)
		case p.Addr().Is6() && p.Bits() > 64:
			return errf("InvalidParameterValue", "Transit gateway CIDR block %s must be /64 or larger", c)
		case p.Addr().Is4() && p.Overlaps(linkLocal):
			return errf("InvalidParameterValue", "Transit gateway CIDR block %s cannot be within 169.254.0.0/16", c)
		case p.Masked() != p:
			return errf("InvalidParameterValue", "Invalid CIDR block %s: host bits set", c)
		}
		for _, q := range ps {
			if q.Overlaps(p) {
				return errf("InvalidParameterValue", "Transit gateway CIDR blocks %s and %s overlap", q, p)
			}
		}
		ps = append(ps, p)
	}
	if t == nil {
		return nil
	}
	for _, a := range s.liveAttachments(t.ID, kindVPC) {
		if v := s.st.VPCs[a.VPCID]; v != nil && overlapsAny(v.CIDRs, cidrs) {
			return errf("InvalidParameterValue", "Transit gateway CIDR blocks overlap the CIDR of attached %s", v.ID)
		}
	}
	return nil
}

func overlapsAny(a, b []string) bool {
	for _, x := range a {
		px, err := netip.ParsePrefix(x)
		if err != nil {
			continue
		}
		for _, y := range b {
			if py, err := netip.ParsePrefix(y); err == nil && px.Overlaps(py) {
				return true
			}
		}
	}
	return false
}

func (s *Sim) liveTGWs() []*tgw {
	var out []*tgw
	for _, t := range s.st.TGWs {
		if st := t.status(s.now(), s.delay()); st != "deleted" && st != "deleting" {
			out = append(out, t)
		}
	}
	return out
}

func (s *Sim) createTGW(p params) (any, *apiError) {
	tags, aerr := s.tagSpec(p, "TagSpecification", "transit-gateway")
	if aerr != nil {
		return nil, aerr
	}
	asn := int64(64512)
	if v, ok, aerr := p.int64("Options.AmazonSideAsn"); aerr != nil {
		return nil, aerr
	} else if ok {
		asn = v
	}
	if !validASN(asn) {
		return nil, errf("InvalidParameterValue", "Amazon side ASN %d is outside 64512-65534 and 4200000000-4294967294", asn)
	}
	cidrs := p.list("Options.TransitGatewayCidrBlocks")
	if aerr := s.checkTGWCIDRs(nil, cidrs); aerr != nil {
		return nil, aerr
	}
	if len(s.liveTGWs()) >= s.cfg.Quotas.TransitGatewaysPerRegion {
		return nil, errf("TransitGatewayLimitExceeded", "You've reached the limit on the number of transit gateways (%d) in %s.", s.cfg.Quotas.TransitGatewaysPerRegion, s.cfg.Region)
	}
	t := &tgw{ID: s.newID("tgw"), Description: p.str("Description"), ASN: asn, CIDRs: cidrs, lifecycle: lifecycle{Created: s.now()}}
	t.RouteTable = s.newID("tgw-rtb")
	s.st.TGWs[t.ID] = t
	s.st.TGWRouteTables[t.RouteTable] = &tgwRouteTable{ID: t.RouteTable, TGWID: t.ID}
	setTags(s.st, t.ID, tags)
	return &tgwReply{TGW: s.xmlTGW(t)}, nil
}

// visibleTGW returns a TGW that describes still show (deleted ones for a while).
func (s *Sim) visibleTGW(id string) *tgw {
	t := s.st.TGWs[id]
	if t == nil || t.gone(s.now(), s.delay(), s.cfg.DeletedRetention.Duration) {
		return nil
	}
	return t
}

func (s *Sim) describeTGWs(p params) (any, *apiError) {
	pg, next, aerr := s.selectPage(p, query{action: "DescribeTransitGateways", idsParam: "TransitGatewayIds", maxMax: 1000,
		ids: keys(s.st.TGWs), visible: func(id string) bool { return s.visibleTGW(id) != nil },
		notFound: func(id string) *apiError {
			return errf("InvalidTransitGatewayID.NotFound", "Transit Gateway %s was deleted or does not exist.", id)
		},
		fields: func(id string) fields {
			t := s.st.TGWs[id]
			return func(name string) ([]string, bool) {
				switch name {
				case "transit-gateway-id":
					return []string{t.ID}, true
				case "state":
					return []string{t.status(s.now(), s.delay())}, true
				case "owner-id":
					return []string{s.cfg.AccountID}, true
				case "options.amazon-side-asn":
					return []string{strconv.FormatInt(t.ASN, 10)}, true
				case "options.association-default-route-table-id", "options.propagation-default-route-table-id":
					return []string{t.RouteTable}, true
				}
				return nil, false
			}
		}})
	if aerr != nil {
		return nil, aerr
	}
	out := &describeTGWsReply{NextToken: next}
	for _, id := range pg {
		out.TGWs = append(out.TGWs, s.xmlTGW(s.st.TGWs[id]))
	}
	return out, nil
}

// tgwFor looks up a TGW by the TransitGatewayId parameter; deleted ones are NotFound.
func (s *Sim) tgwFor(id string) (*tgw, *apiError) {
	if id == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter TransitGatewayId")
	}
	if aerr := checkID(id, "tgw", "InvalidTransitGatewayID"); aerr != nil {
		return nil, aerr
	}
	t := s.st.TGWs[id]
	if t == nil || t.status(s.now(), s.delay()) == "deleted" {
		return nil, errf("InvalidTransitGatewayID.NotFound", "Transit Gateway %s was deleted or does not exist.", id)
	}
	return t, nil
}

func (s *Sim) modifyTGW(p params) (any, *apiError) {
	t, aerr := s.tgwFor(p.str("TransitGatewayId"))
	if aerr != nil {
		return nil, aerr
	}
	if st := t.status(s.now(), s.delay()); st != "available" {
		return nil, errf("IncorrectState", "Transit Gateway %s is in %s state and cannot be modified.", t.ID, st)
	}
	cidrs := slices.Clone(t.CIDRs)
	for _, c := range p.list("Options.AddTransitGatewayCidrBlocks") {
		if !slices.Contains(cidrs, c) {
			cidrs = append(cidrs, c)
		}
	}
	for _, c := range p.list("Options.RemoveTransitGatewayCidrBlocks") {
		i := slices.Index(cidrs, c)
		if i < 0 {
			return nil, errf("InvalidParameterValue", "CIDR block %s is not associated with %s", c, t.ID)
		}
		if s.cidrInUse(t.ID, c) {
			return nil, errf("InvalidParameterValue", "CIDR block %s is in use by a Connect peer", c)
		}
		cidrs = slices.Delete(cidrs, i, i+1)
	}
	if aerr := s.checkTGWCIDRs(t, cidrs); aerr != nil {
		return nil, aerr
	}
	if v, ok, aerr := p.int64("Options.AmazonSideAsn"); aerr != nil {
		return nil, aerr
	} else if ok {
		if !validASN(v) {
			return nil, errf("InvalidParameterValue", "Amazon side ASN %d is outside 64512-65534 and 4200000000-4294967294", v)
		}
		if len(s.liveAttachments(t.ID, "")) > 0 {
			return nil, errf("IncorrectState", "The Amazon side ASN of %s cannot change while it has attachments", t.ID)
		}
		t.ASN = v
	}
	t.CIDRs = cidrs
	if p.has("Description") {
		t.Description = p.str("Description")
	}
	now := s.now()
	t.Modified = &now
	return &tgwReply{TGW: s.xmlTGW(t)}, nil
}

func (s *Sim) cidrInUse(tgwID, cidr string) bool {
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil {
		return false
	}
	for _, cp := range s.st.Peers {
		a := s.st.Attachments[cp.AttachmentID]
		if a == nil || a.TGWID != tgwID || cp.status(s.now(), s.delay()) == "deleted" {
			continue
		}
		if addr, err := netip.ParseAddr(cp.TGWAddress); err == nil && pfx.Contains(addr) {
			return true
		}
	}
	return false
}

func (s *Sim) deleteTGW(p params) (any, *apiError) {
	t, aerr := s.tgwFor(p.str("TransitGatewayId"))
	if aerr != nil {
		return nil, aerr
	}
	if st := t.status(s.now(), s.delay()); st != "available" && st != "failed" {
		return nil, errf("IncorrectState", "tgw %s is in invalid state %s", t.ID, st)
	}
	if live := s.liveAttachments(t.ID, ""); len(live) > 0 {
		return nil, errf("IncorrectState", "%s has non-deleted Transit Gateway Attachments: %s", t.ID, live[0].ID)
	}
	now := s.now()
	t.Deleted = &now
	return &tgwReply{TGW: s.xmlTGW(t)}, nil
}

// liveAttachments lists the TGW's attachments not yet deleted (kind "" means any).
func (s *Sim) liveAttachments(tgwID, kind string) []*attachment {
	var out []*attachment
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for k := range s.st.Attachments {
			if !yield(k) {
				return
			}
		}
	}) {
		a := s.st.Attachments[id]
		if a.TGWID == tgwID && (kind == "" || a.Kind == kind) && a.status(s.now(), s.delay()) != "deleted" {
			out = append(out, a)
		}
	}
	return out
}
