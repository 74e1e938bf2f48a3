package ec2sim

import (
	"net/netip"
	"slices"
)

func init() {
	register("CreateTransitGatewayConnectPeer", true, (*Sim).createPeer)
	register("DescribeTransitGatewayConnectPeers", false, (*Sim).describePeers)
	register("DeleteTransitGatewayConnectPeer", true, (*Sim).deletePeer)
	register("SearchTransitGatewayRoutes", false, (*Sim).searchTGWRoutes)
}

type xBGP struct {
	TGWAddress  string `xml:"transitGatewayAddress"`
	PeerAddress string `xml:"peerAddress"`
	TGWASN      int64  `xml:"transitGatewayAsn"`
	PeerASN     int64  `xml:"peerAsn"`
	Status      string `xml:"bgpStatus"`
}

type xPeer struct {
	ID           string   `xml:"transitGatewayConnectPeerId"`
	AttachmentID string   `xml:"transitGatewayAttachmentId"`
	State        string   `xml:"state"`
	Created      string   `xml:"creationTime"`
	TGWAddress   string   `xml:"connectPeerConfiguration>transitGatewayAddress"`
	PeerAddress  string   `xml:"connectPeerConfiguration>peerAddress"`
	InsideCIDRs  []string `xml:"connectPeerConfiguration>insideCidrBlocks>item"`
	Protocol     string   `xml:"connectPeerConfiguration>protocol"`
	BGP          []xBGP   `xml:"connectPeerConfiguration>bgpConfigurations>item"`
	Tags         []xTag   `xml:"tagSet>item"`
}

type peerReply struct {
	reply
	Peer xPeer `xml:"transitGatewayConnectPeer"`
}

type describePeersReply struct {
	reply
	Peers     []xPeer `xml:"transitGatewayConnectPeerSet>item"`
	NextToken string  `xml:"nextToken,omitempty"`
}

// bgpAddresses: in the /29 the appliance uses the first host address, the TGW the
// second and third (two BGP sessions per Connect peer).
func bgpAddresses(inside netip.Prefix) (peer netip.Addr, tgw [2]netip.Addr) {
	a := inside.Masked().Addr().Next()
	return a, [2]netip.Addr{a.Next(), a.Next().Next()}
}

func (s *Sim) xmlPeer(cp *connectPeer) xPeer {
	x := xPeer{ID: cp.ID, AttachmentID: cp.AttachmentID, State: cp.status(s.now(), s.delay()), Created: awsTime(cp.Created),
		TGWAddress: cp.TGWAddress, PeerAddress: cp.PeerAddress, InsideCIDRs: cp.InsideCIDRs, Protocol: "gre", Tags: s.xmlTags(cp.ID)}
	for _, c := range cp.InsideCIDRs {
		pfx, err := netip.ParsePrefix(c)
		if err != nil || !pfx.Addr().Is4() {
			continue
		}
		peer, tgws := bgpAddresses(pfx)
		for _, t := range tgws {
			status := cp.BGPStatus[t.String()]
			if status == "" {
				status = "down"
			}
			x.BGP = append(x.BGP, xBGP{TGWAddress: t.String(), PeerAddress: peer.String(), TGWASN: cp.TGWASN, PeerASN: cp.PeerASN, Status: status})
		}
	}
	return x
}

// checkInside applies the inside CIDR rules: one IPv4 /29 from 169.254.0.0/16 outside
// the reserved blocks (and optionally one IPv6 /125 from fd00::/8), unique on the TGW.
func (s *Sim) checkInside(tgwID string, cidrs []string) ([]string, *apiError) {
	linkLocal := netip.MustParsePrefix("169.254.0.0/16")
	ula := netip.MustParsePrefix("fd00::/8")
	var out []string
	var v4, v6 int
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil || p.Masked() != p {
			return nil, errf("InvalidParameterValue", "Inside CIDR block %s is not a valid CIDR block", c)
		}
		if p.Addr().Is4() {
			v4++
			if p.Bits() != 29 || !linkLocal.Contains(p.Addr()) {
				return nil, errf("InvalidParameterValue", "Inside IPv4 CIDR block %s must be a /29 within 169.254.0.0/16", c)
			}
			for _, r := range reservedInside {
				if r.Overlaps(p) {
					return nil, errf("InvalidParameterValue", "Inside CIDR block %s is reserved", c)
				}
			}
		} else {
			v6++
			if p.Bits() != 125 || !ula.Contains(p.Addr()) {
				return nil, errf("InvalidParameterValue", "Inside IPv6 CIDR block %s must be a /125 within fd00::/8", c)
			}
		}
		if s.insideInUse(tgwID, p) {
			return nil, errf("InvalidParameterValue", "Inside CIDR block %s overlaps the inside CIDR block of another Connect peer on %s", c, tgwID)
		}
		out = append(out, p.String())
	}
	if v4 != 1 || v6 > 1 {
		return nil, errf("InvalidParameterValue", "Exactly one IPv4 /29 inside CIDR block (and at most one IPv6 /125) is required")
	}
	return out, nil
}

func (s *Sim) insideInUse(tgwID string, p netip.Prefix) bool {
	for _, cp := range s.st.Peers {
		a := s.st.Attachments[cp.AttachmentID]
		if a == nil || a.TGWID != tgwID || cp.status(s.now(), s.delay()) == "deleted" {
			continue
		}
		for _, c := range cp.InsideCIDRs {
			if q, err := netip.ParsePrefix(c); err == nil && q.Overlaps(p) {
				return true
			}
		}
	}
	return false
}

// tgwAddress validates or picks the TGW's GRE outer address from its CIDR blocks.
func (s *Sim) tgwAddress(t *tgw, requested string) (string, *apiError) {
	used := map[string]bool{}
	for _, cp := range s.st.Peers {
		if a := s.st.Attachments[cp.AttachmentID]; a != nil && a.TGWID == t.ID && cp.status(s.now(), s.delay()) != "deleted" {
			used[cp.TGWAddress] = true
		}
	}
	var blocks []netip.Prefix
	for _, c := range t.CIDRs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is4() {
			blocks = append(blocks, p)
		}
	}
	if requested != "" {
		addr, err := netip.ParseAddr(requested)
		if err != nil {
			return "", errf("InvalidParameterValue", "Transit gateway address %s is not an IP address", requested)
		}
		if !slices.ContainsFunc(blocks, func(p netip.Prefix) bool { return p.Contains(addr) }) {
			return "", errf("InvalidParameterValue", "Transit gateway address %s is not within the CIDR blocks of %s", requested, t.ID)
		}
		if used[addr.String()] {
			return "", errf("InvalidParameterValue", "Transit gateway address %s is already in use", requested)
		}
		return addr.String(), nil
	}
	if len(blocks) == 0 {
		return "", errf("InvalidParameterValue", "%s has no IPv4 CIDR block to take a Connect peer address from", t.ID)
	}
	for _, b := range blocks {
		for a := b.Addr().Next(); b.Contains(a); a = a.Next() {
			if !used[a.String()] {
				return a.String(), nil
			}
		}
	}
	return "", errf("InvalidParameterValue", "No free address left in the CIDR blocks of %s", t.ID)
}

func (s *Sim) createPeer(p params) (any, *apiError) {
	if aerr := p.required("TransitGatewayAttachmentId", "PeerAddress"); aerr != nil {
		return nil, aerr
	}
	tags, aerr := s.tagSpec(p, "TagSpecification", "transit-gateway-connect-peer")
	if aerr != nil {
		return nil, aerr
	}
	a, aerr := s.attachmentFor(p.str("TransitGatewayAttachmentId"), kindConnect)
	if aerr != nil {
		return nil, aerr
	}
	if st := a.status(s.now(), s.delay()); st != "available" {
		return nil, errf("IncorrectState", "Connect attachment %s is in %s state.", a.ID, st)
	}
	if len(s.livePeers(a.ID)) >= s.cfg.Quotas.ConnectPeersPerConnect {
		return nil, errf("TransitGatewayConnectPeerLimitExceeded", "Connect attachment %s already has the maximum of %d Connect peers.", a.ID, s.cfg.Quotas.ConnectPeersPerConnect)
	}
	peerAddr, err := netip.ParseAddr(p.str("PeerAddress"))
	if err != nil {
		return nil, errf("InvalidParameterValue", "Peer address %s is not an IP address", p.str("PeerAddress"))
	}
	t := s.st.TGWs[a.TGWID]
	inside, aerr := s.checkInside(t.ID, p.list("InsideCidrBlocks"))
	if aerr != nil {
		return nil, aerr
	}
	tgwAddr, aerr := s.tgwAddress(t, p.str("TransitGatewayAddress"))
	if aerr != nil {
		return nil, aerr
	}
	peerASN := t.ASN
	if v, ok, aerr := p.int64("BgpOptions.PeerAsn"); aerr != nil {
		return nil, aerr
	} else if ok {
		peerASN = v
	}
	if peerASN < 1 || peerASN > 4294967294 || slices.Contains(reservedPeerASNs, peerASN) {
		return nil, errf("InvalidParameterValue", "Peer ASN %d is not allowed", peerASN)
	}
	cp := &connectPeer{ID: s.newID("tgw-connect-peer"), AttachmentID: a.ID, PeerAddress: peerAddr.String(), TGWAddress: tgwAddr,
		InsideCIDRs: inside, PeerASN: peerASN, TGWASN: t.ASN, BGPStatus: map[string]string{}, lifecycle: lifecycle{Created: s.now()}}
	for _, c := range inside {
		if pfx := netip.MustParsePrefix(c); pfx.Addr().Is4() {
			_, tgws := bgpAddresses(pfx)
			for _, ta := range tgws {
				cp.BGPStatus[ta.String()] = "down"
			}
		}
	}
	s.st.Peers[cp.ID] = cp
	setTags(s.st, cp.ID, tags)
	return &peerReply{Peer: s.xmlPeer(cp)}, nil
}

func (s *Sim) visiblePeer(id string) *connectPeer {
	cp := s.st.Peers[id]
	if cp == nil || cp.gone(s.now(), s.delay(), s.cfg.DeletedRetention.Duration) {
		return nil
	}
	return cp
}

func (s *Sim) describePeers(p params) (any, *apiError) {
	pg, next, aerr := s.selectPage(p, query{action: "DescribeTransitGatewayConnectPeers", idsParam: "TransitGatewayConnectPeerIds", maxMax: 1000,
		ids: keys(s.st.Peers), visible: func(id string) bool { return s.visiblePeer(id) != nil },
		notFound: func(id string) *apiError {
			return errf("InvalidTransitGatewayConnectPeerID.NotFound", "Transit Gateway Connect Peer %s was deleted or does not exist.", id)
		},
		fields: func(id string) fields {
			cp := s.st.Peers[id]
			return func(name string) ([]string, bool) {
				switch name {
				case "transit-gateway-connect-peer-id":
					return []string{cp.ID}, true
				case "transit-gateway-attachment-id":
					return []string{cp.AttachmentID}, true
				case "state":
					return []string{cp.status(s.now(), s.delay())}, true
				}
				return nil, false
			}
		}})
	if aerr != nil {
		return nil, aerr
	}
	out := &describePeersReply{NextToken: next}
	for _, id := range pg {
		out.Peers = append(out.Peers, s.xmlPeer(s.st.Peers[id]))
	}
	return out, nil
}

func (s *Sim) deletePeer(p params) (any, *apiError) {
	id := p.str("TransitGatewayConnectPeerId")
	if id == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter TransitGatewayConnectPeerId")
	}
	if aerr := checkID(id, "tgw-connect-peer", "InvalidTransitGatewayConnectPeerID"); aerr != nil {
		return nil, aerr
	}
	cp := s.st.Peers[id]
	if cp == nil || cp.status(s.now(), s.delay()) == "deleted" {
		return nil, errf("InvalidTransitGatewayConnectPeerID.NotFound", "Transit Gateway Connect Peer %s was deleted or does not exist.", id)
	}
	if st := cp.status(s.now(), s.delay()); !deletable(st) {
		return nil, errf("IncorrectState", "Transit Gateway Connect Peer %s is in %s state.", id, st)
	}
	now := s.now()
	cp.Deleted = &now
	for k := range cp.BGPStatus {
		cp.BGPStatus[k] = "down"
	}
	return &peerReply{Peer: s.xmlPeer(cp)}, nil
}

type xTGWRouteAttachment struct {
	ResourceID   string `xml:"resourceId"`
	AttachmentID string `xml:"transitGatewayAttachmentId"`
	ResourceType string `xml:"resourceType"`
}

type xTGWRoute struct {
	Destination string                `xml:"destinationCidrBlock"`
	Attachments []xTGWRouteAttachment `xml:"transitGatewayAttachments>item"`
	Type        string                `xml:"type"`
	State       string                `xml:"state"`
}

type searchRoutesReply struct {
	reply
	Routes []xTGWRoute `xml:"routeSet>item"`
	More   bool        `xml:"additionalRoutesAvailable"`
}

// tgwRoutes computes a TGW route table: the CIDRs of available VPC attachments are
// propagated; routes added through the simulator API (BGP-learned over Connect) follow
// their attachment's state; several attachments for one prefix form one ECMP route.
func (s *Sim) tgwRoutes(rt *tgwRouteTable) map[string]*xTGWRoute {
	out := map[string]*xTGWRoute{}
	add := func(dest string, a *attachment, resourceID, resourceType string) {
		r := out[dest]
		if r == nil {
			r = &xTGWRoute{Destination: dest, Type: "propagated", State: "active"}
			out[dest] = r
		}
		r.Attachments = append(r.Attachments, xTGWRouteAttachment{ResourceID: resourceID, AttachmentID: a.ID, ResourceType: resourceType})
	}
	for _, a := range s.liveAttachments(rt.TGWID, kindVPC) {
		if a.status(s.now(), s.delay()) != "available" {
			continue
		}
		for _, c := range s.st.VPCs[a.VPCID].CIDRs {
			add(c, a, a.VPCID, "vpc")
		}
	}
	for _, r := range rt.Routes {
		a := s.st.Attachments[r.AttachmentID]
		if a == nil || a.status(s.now(), s.delay()) != "available" {
			continue
		}
		add(r.Destination, a, a.ID, "connect")
	}
	return out
}

func (s *Sim) searchTGWRoutes(p params) (any, *apiError) {
	if aerr := p.required("TransitGatewayRouteTableId"); aerr != nil {
		return nil, aerr
	}
	id := p.str("TransitGatewayRouteTableId")
	if aerr := checkID(id, "tgw-rtb", "InvalidRouteTableID"); aerr != nil {
		return nil, aerr
	}
	fs, aerr := p.filters()
	if aerr != nil {
		return nil, aerr
	}
	if len(fs) == 0 {
		return nil, errf("MissingParameter", "The request must contain the parameter Filters")
	}
	rt := s.st.TGWRouteTables[id]
	if rt == nil || s.st.TGWs[rt.TGWID].status(s.now(), s.delay()) == "deleted" {
		return nil, errf("InvalidRouteTableID.NotFound", "Transit Gateway Route Table %s was deleted or does not exist.", id)
	}
	routes := s.tgwRoutes(rt)
	var matched []string
	for dest, r := range routes {
		ok, aerr := matchTGWRoute(fs, r)
		if aerr != nil {
			return nil, aerr
		}
		if ok {
			matched = append(matched, dest)
		}
	}
	// SearchTransitGatewayRoutes does not paginate in EC2: it answers at most MaxResults
	// (default and maximum 1000) routes and sets additionalRoutesAvailable.
	limit := int64(1000)
	if v, ok, aerr := p.int64("MaxResults"); aerr != nil {
		return nil, aerr
	} else if ok {
		if v < 5 || v > 1000 {
			return nil, errf("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", v)
		}
		limit = v
	}
	slices.Sort(matched)
	out := &searchRoutesReply{More: int64(len(matched)) > limit}
	pg := matched[:min(int64(len(matched)), limit)]
	for _, d := range pg {
		out.Routes = append(out.Routes, *routes[d])
	}
	return out, nil
}

func matchTGWRoute(fs []filter, r *xTGWRoute) (bool, *apiError) {
	dest := netip.MustParsePrefix(r.Destination)
	for _, f := range fs {
		var ok bool
		switch f.Name {
		case "route-search.exact-match":
			ok = slices.Contains(f.Values, r.Destination)
		case "route-search.subnet-of-match", "route-search.longest-prefix-match":
			ok = slices.ContainsFunc(f.Values, func(v string) bool {
				q, err := netip.ParsePrefix(v)
				return err == nil && q.Contains(dest.Addr()) && q.Bits() <= dest.Bits()
			})
		case "route-search.supernet-of-match":
			ok = slices.ContainsFunc(f.Values, func(v string) bool {
				q, err := netip.ParsePrefix(v)
				return err == nil && dest.Contains(q.Addr()) && dest.Bits() <= q.Bits()
			})
		case "type":
			ok = anyMatch(f.Values, []string{r.Type})
		case "state":
			ok = anyMatch(f.Values, []string{r.State})
		case "attachment.transit-gateway-attachment-id", "attachment.resource-id", "attachment.resource-type":
			var have []string
			for _, a := range r.Attachments {
				switch f.Name {
				case "attachment.transit-gateway-attachment-id":
					have = append(have, a.AttachmentID)
				case "attachment.resource-id":
					have = append(have, a.ResourceID)
				default:
					have = append(have, a.ResourceType)
				}
			}
			ok = anyMatch(f.Values, have)
		default:
			return false, errf("InvalidParameterValue", "The filter '%s' is invalid", f.Name)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}
