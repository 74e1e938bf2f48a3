package ec2sim

import (
	"net/netip"
	"slices"
	"strconv"
)

func init() {
	register("CreateTransitGatewayVpcAttachment", true, (*Sim).createVPCAttachment)
	register("DescribeTransitGatewayVpcAttachments", false, (*Sim).describeVPCAttachments)
	register("DeleteTransitGatewayVpcAttachment", true, (*Sim).deleteVPCAttachment)
	register("CreateTransitGatewayConnect", true, (*Sim).createConnect)
	register("DescribeTransitGatewayConnects", false, (*Sim).describeConnects)
	register("DeleteTransitGatewayConnect", true, (*Sim).deleteConnect)
}

type xVPCAttachment struct {
	ID         string   `xml:"transitGatewayAttachmentId"`
	TGWID      string   `xml:"transitGatewayId"`
	VPCID      string   `xml:"vpcId"`
	VPCOwnerID string   `xml:"vpcOwnerId"`
	State      string   `xml:"state"`
	SubnetIDs  []string `xml:"subnetIds>item"`
	Created    string   `xml:"creationTime"`
	DNS        string   `xml:"options>dnsSupport"`
	IPv6       string   `xml:"options>ipv6Support"`
	Appliance  string   `xml:"options>applianceModeSupport"`
	Tags       []xTag   `xml:"tagSet>item"`
}

type vpcAttachmentReply struct {
	reply
	Attachment xVPCAttachment `xml:"transitGatewayVpcAttachment"`
}

type describeVPCAttachmentsReply struct {
	reply
	Attachments []xVPCAttachment `xml:"transitGatewayVpcAttachments>item"`
	NextToken   string           `xml:"nextToken,omitempty"`
}

func (s *Sim) xmlVPCAttachment(a *attachment) xVPCAttachment {
	return xVPCAttachment{ID: a.ID, TGWID: a.TGWID, VPCID: a.VPCID, VPCOwnerID: s.cfg.AccountID,
		State: a.status(s.now(), s.delay()), SubnetIDs: a.Subnets, Created: awsTime(a.Created),
		DNS: "enable", IPv6: "disable", Appliance: "disable", Tags: s.xmlTags(a.ID)}
}

func (s *Sim) createVPCAttachment(p params) (any, *apiError) {
	if aerr := p.required("TransitGatewayId", "VpcId"); aerr != nil {
		return nil, aerr
	}
	tags, aerr := s.tagSpec(p, "TagSpecifications", "transit-gateway-attachment")
	if aerr != nil {
		return nil, aerr
	}
	t, aerr := s.tgwFor(p.str("TransitGatewayId"))
	if aerr != nil {
		return nil, aerr
	}
	if st := t.status(s.now(), s.delay()); st != "available" {
		return nil, errf("IncorrectState", "Transit Gateway %s is in %s state.", t.ID, st)
	}
	v := s.st.VPCs[p.str("VpcId")]
	if v == nil {
		return nil, errf("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", p.str("VpcId"))
	}
	subnets := p.list("SubnetIds")
	if len(subnets) == 0 {
		return nil, errf("MissingParameter", "The request must contain the parameter SubnetIds")
	}
	zones := map[string]string{}
	for _, id := range subnets {
		sn := s.st.Subnets[id]
		switch {
		case sn == nil:
			return nil, errf("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		case sn.VPCID != v.ID:
			return nil, errf("InvalidParameterValue", "Subnet %s does not belong to %s", id, v.ID)
		case zones[sn.AZ] != "":
			return nil, errf("DuplicateSubnetsInSameZone", "Subnets %s and %s are in the same availability zone %s", zones[sn.AZ], id, sn.AZ)
		}
		zones[sn.AZ] = id
	}
	for _, a := range s.liveAttachments(t.ID, kindVPC) {
		if a.VPCID == v.ID {
			return nil, errf("DuplicateTransitGatewayAttachment", "%s has non-deleted Transit Gateway Attachments with same VPC ID: %s", t.ID, a.ID)
		}
	}
	if overlapsAny(v.CIDRs, t.CIDRs) {
		return nil, errf("InvalidParameterValue", "The CIDR of %s overlaps the CIDR blocks of %s", v.ID, t.ID)
	}
	a := &attachment{ID: s.newID("tgw-attach"), Kind: kindVPC, TGWID: t.ID, VPCID: v.ID, Subnets: subnets, lifecycle: lifecycle{Created: s.now()}}
	s.st.Attachments[a.ID] = a
	setTags(s.st, a.ID, tags)
	return &vpcAttachmentReply{Attachment: s.xmlVPCAttachment(a)}, nil
}

// visibleAttachments returns ids of attachments of kind describes still show.
func (s *Sim) visibleAttachment(id, kind string) *attachment {
	a := s.st.Attachments[id]
	if a == nil || a.Kind != kind || a.gone(s.now(), s.delay(), s.cfg.DeletedRetention.Duration) {
		return nil
	}
	return a
}

// describeAttachments is the common body of the two attachment describes.
func (s *Sim) describeAttachments(p params, actionName, idsParam, kind string, field func(a *attachment, name string) ([]string, bool)) ([]string, string, *apiError) {
	return s.selectPage(p, query{action: actionName, idsParam: idsParam, maxMax: 1000,
		ids: keys(s.st.Attachments), visible: func(id string) bool { return s.visibleAttachment(id, kind) != nil },
		notFound: func(id string) *apiError {
			return errf("InvalidTransitGatewayAttachmentID.NotFound", "Transit Gateway Attachment %s was deleted or does not exist.", id)
		},
		fields: func(id string) fields {
			a := s.st.Attachments[id]
			return func(name string) ([]string, bool) {
				switch name {
				case "transit-gateway-attachment-id":
					return []string{a.ID}, true
				case "transit-gateway-id":
					return []string{a.TGWID}, true
				case "state":
					return []string{a.status(s.now(), s.delay())}, true
				}
				return field(a, name)
			}
		}})
}

func (s *Sim) describeVPCAttachments(p params) (any, *apiError) {
	pg, next, aerr := s.describeAttachments(p, "DescribeTransitGatewayVpcAttachments", "TransitGatewayAttachmentIds", kindVPC,
		func(a *attachment, name string) ([]string, bool) {
			switch name {
			case "vpc-id":
				return []string{a.VPCID}, true
			case "vpc-owner-id":
				return []string{s.cfg.AccountID}, true
			}
			return nil, false
		})
	if aerr != nil {
		return nil, aerr
	}
	out := &describeVPCAttachmentsReply{NextToken: next}
	for _, id := range pg {
		out.Attachments = append(out.Attachments, s.xmlVPCAttachment(s.st.Attachments[id]))
	}
	return out, nil
}

// attachmentFor looks up a live attachment of kind by id.
func (s *Sim) attachmentFor(id, kind string) (*attachment, *apiError) {
	if id == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter TransitGatewayAttachmentId")
	}
	if aerr := checkID(id, "tgw-attach", "InvalidTransitGatewayAttachmentID"); aerr != nil {
		return nil, aerr
	}
	a := s.st.Attachments[id]
	if a == nil || a.status(s.now(), s.delay()) == "deleted" {
		return nil, errf("InvalidTransitGatewayAttachmentID.NotFound", "Transit Gateway Attachment %s was deleted or does not exist.", id)
	}
	if a.Kind != kind {
		return nil, errf("InvalidTransitGatewayAttachmentID.NotFound", "Transit Gateway Attachment %s is not a %s attachment.", id, kind)
	}
	return a, nil
}

func deletable(state string) bool {
	return state == "available" || state == "failed" || state == "rejected"
}

func (s *Sim) deleteVPCAttachment(p params) (any, *apiError) {
	a, aerr := s.attachmentFor(p.str("TransitGatewayAttachmentId"), kindVPC)
	if aerr != nil {
		return nil, aerr
	}
	if st := a.status(s.now(), s.delay()); !deletable(st) {
		return nil, errf("IncorrectState", "Transit Gateway Attachment %s is in %s state.", a.ID, st)
	}
	for _, c := range s.liveAttachments(a.TGWID, kindConnect) {
		if c.Transport == a.ID {
			return nil, errf("DependencyViolation", "Transit Gateway Attachment %s is the transport of Connect attachment %s.", a.ID, c.ID)
		}
	}
	now := s.now()
	a.Deleted = &now
	return &vpcAttachmentReply{Attachment: s.xmlVPCAttachment(a)}, nil
}

type xConnect struct {
	ID        string `xml:"transitGatewayAttachmentId"`
	Transport string `xml:"transportTransitGatewayAttachmentId"`
	TGWID     string `xml:"transitGatewayId"`
	State     string `xml:"state"`
	Created   string `xml:"creationTime"`
	Protocol  string `xml:"options>protocol"`
	Tags      []xTag `xml:"tagSet>item"`
}

type connectReply struct {
	reply
	Connect xConnect `xml:"transitGatewayConnect"`
}

type describeConnectsReply struct {
	reply
	Connects  []xConnect `xml:"transitGatewayConnectSet>item"`
	NextToken string     `xml:"nextToken,omitempty"`
}

func (s *Sim) xmlConnect(a *attachment) xConnect {
	return xConnect{ID: a.ID, Transport: a.Transport, TGWID: a.TGWID, State: a.status(s.now(), s.delay()),
		Created: awsTime(a.Created), Protocol: a.Protocol, Tags: s.xmlTags(a.ID)}
}

func (s *Sim) createConnect(p params) (any, *apiError) {
	if aerr := p.required("TransportTransitGatewayAttachmentId", "Options.Protocol"); aerr != nil {
		return nil, aerr
	}
	if p.str("Options.Protocol") != "gre" {
		return nil, errf("InvalidParameterValue", "Protocol %s is not supported; use gre", p.str("Options.Protocol"))
	}
	tags, aerr := s.tagSpec(p, "TagSpecification", "transit-gateway-attachment")
	if aerr != nil {
		return nil, aerr
	}
	transport, aerr := s.attachmentFor(p.str("TransportTransitGatewayAttachmentId"), kindVPC)
	if aerr != nil {
		return nil, aerr
	}
	if st := transport.status(s.now(), s.delay()); st != "available" {
		return nil, errf("IncorrectState", "Transport attachment %s is in %s state.", transport.ID, st)
	}
	a := &attachment{ID: s.newID("tgw-attach"), Kind: kindConnect, TGWID: transport.TGWID, Transport: transport.ID, Protocol: "gre", lifecycle: lifecycle{Created: s.now()}}
	s.st.Attachments[a.ID] = a
	setTags(s.st, a.ID, tags)
	return &connectReply{Connect: s.xmlConnect(a)}, nil
}

func (s *Sim) describeConnects(p params) (any, *apiError) {
	pg, next, aerr := s.describeAttachments(p, "DescribeTransitGatewayConnects", "TransitGatewayAttachmentIds", kindConnect,
		func(a *attachment, name string) ([]string, bool) {
			switch name {
			case "transport-transit-gateway-attachment-id":
				return []string{a.Transport}, true
			case "options.protocol":
				return []string{a.Protocol}, true
			}
			return nil, false
		})
	if aerr != nil {
		return nil, aerr
	}
	out := &describeConnectsReply{NextToken: next}
	for _, id := range pg {
		out.Connects = append(out.Connects, s.xmlConnect(s.st.Attachments[id]))
	}
	return out, nil
}

func (s *Sim) deleteConnect(p params) (any, *apiError) {
	a, aerr := s.attachmentFor(p.str("TransitGatewayAttachmentId"), kindConnect)
	if aerr != nil {
		return nil, aerr
	}
	if st := a.status(s.now(), s.delay()); !deletable(st) {
		return nil, errf("IncorrectState", "Transit Gateway Attachment %s is in %s state.", a.ID, st)
	}
	if peers := s.livePeers(a.ID); len(peers) > 0 {
		return nil, errf("DependencyViolation", "Connect attachment %s has Connect peers: %s", a.ID, peers[0].ID)
	}
	now := s.now()
	a.Deleted = &now
	return &connectReply{Connect: s.xmlConnect(a)}, nil
}

func (s *Sim) livePeers(attachmentID string) []*connectPeer {
	var out []*connectPeer
	ids := keys(s.st.Peers)
	slices.Sort(ids)
	for _, id := range ids {
		cp := s.st.Peers[id]
		if cp.AttachmentID == attachmentID && cp.status(s.now(), s.delay()) != "deleted" {
			out = append(out, cp)
		}
	}
	return out
}

// Connect peer inside CIDR rules (AWS Transit Gateway guide, Connect peers).
var reservedInside = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/29"), netip.MustParsePrefix("169.254.1.0/29"),
	netip.MustParsePrefix("169.254.2.0/29"), netip.MustParsePrefix("169.254.3.0/29"),
	netip.MustParsePrefix("169.254.4.0/29"), netip.MustParsePrefix("169.254.5.0/29"),
	netip.MustParsePrefix("169.254.169.248/29"),
}

// reservedPeerASNs are ASNs AWS reserves and refuses for a peer.
var reservedPeerASNs = []int64{7224, 9059, 10124, 17493}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
