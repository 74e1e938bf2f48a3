package ec2sim

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

func init() {
	register("CreateSecurityGroup", true, (*Sim).createSG)
	register("DescribeSecurityGroups", false, (*Sim).describeSGs)
	register("AuthorizeSecurityGroupIngress", true, (*Sim).authorizeIngress)
	register("RevokeSecurityGroupIngress", true, (*Sim).revokeIngress)
	register("DeleteSecurityGroup", true, (*Sim).deleteSG)
}

type xIPRange struct {
	CIDR        string `xml:"cidrIp"`
	Description string `xml:"description,omitempty"`
}

type xPermission struct {
	Protocol string     `xml:"ipProtocol"`
	FromPort *int32     `xml:"fromPort,omitempty"`
	ToPort   *int32     `xml:"toPort,omitempty"`
	Ranges   []xIPRange `xml:"ipRanges>item"`
}

type xSG struct {
	OwnerID     string        `xml:"ownerId"`
	ID          string        `xml:"groupId"`
	ARN         string        `xml:"securityGroupArn"`
	Name        string        `xml:"groupName"`
	Description string        `xml:"groupDescription"`
	VPCID       string        `xml:"vpcId"`
	Ingress     []xPermission `xml:"ipPermissions>item"`
	Egress      []xPermission `xml:"ipPermissionsEgress>item"`
	Tags        []xTag        `xml:"tagSet>item"`
}

type createSGReply struct {
	reply
	ID   string `xml:"groupId"`
	ARN  string `xml:"securityGroupArn"`
	Tags []xTag `xml:"tagSet>item"`
}

type describeSGsReply struct {
	reply
	Groups    []xSG  `xml:"securityGroupInfo>item"`
	NextToken string `xml:"nextToken,omitempty"`
}

type xSGRule struct {
	ID       string `xml:"securityGroupRuleId"`
	GroupID  string `xml:"groupId"`
	OwnerID  string `xml:"groupOwnerId"`
	IsEgress bool   `xml:"isEgress"`
	Protocol string `xml:"ipProtocol"`
	FromPort int32  `xml:"fromPort"`
	ToPort   int32  `xml:"toPort"`
	CIDR     string `xml:"cidrIpv4"`
	Desc     string `xml:"description,omitempty"`
}

type authorizeReply struct {
	reply
	Return bool      `xml:"return"`
	Rules  []xSGRule `xml:"securityGroupRuleSet>item"`
}

type revokeReply struct {
	reply
	Return  bool          `xml:"return"`
	Revoked []xSGRule     `xml:"revokedSecurityGroupRuleSet>item"`
	Unknown []xPermission `xml:"unknownIpPermissionSet>item"`
}

func (s *Sim) sgARN(id string) string {
	return "arn:aws:ec2:" + s.cfg.Region + ":" + s.cfg.AccountID + ":security-group/" + id
}

// xmlPermissions groups rules with the same protocol and ports, as EC2 reports them.
func xmlPermissions(rules []*sgRule) []xPermission {
	var out []xPermission
	for _, r := range rules {
		i := slices.IndexFunc(out, func(p xPermission) bool {
			return p.Protocol == r.Protocol && eqPort(p.FromPort, r.FromPort, r.Protocol) && eqPort(p.ToPort, r.ToPort, r.Protocol)
		})
		if i < 0 {
			p := xPermission{Protocol: r.Protocol}
			if hasPorts(r.Protocol) {
				from, to := r.FromPort, r.ToPort
				p.FromPort, p.ToPort = &from, &to
			}
			out = append(out, p)
			i = len(out) - 1
		}
		out[i].Ranges = append(out[i].Ranges, xIPRange{CIDR: r.CIDR, Description: r.Description})
	}
	return out
}

// hasPorts: only TCP, UDP and ICMP rules carry ports (ICMP type/code).
func hasPorts(proto string) bool { return proto == "tcp" || proto == "udp" || proto == "icmp" }

func eqPort(p *int32, v int32, proto string) bool {
	if !hasPorts(proto) {
		return p == nil
	}
	return p != nil && *p == v
}

func (s *Sim) xmlSG(g *securityGroup) xSG {
	return xSG{OwnerID: s.cfg.AccountID, ID: g.ID, ARN: s.sgARN(g.ID), Name: g.Name, Description: g.Description, VPCID: g.VPCID,
		Ingress: xmlPermissions(g.Ingress), Egress: xmlPermissions(g.Egress), Tags: s.xmlTags(g.ID)}
}

func (s *Sim) createSG(p params) (any, *apiError) {
	if aerr := p.required("GroupName", "GroupDescription"); aerr != nil {
		return nil, aerr
	}
	name := p.str("GroupName")
	if strings.HasPrefix(strings.ToLower(name), "sg-") || len(name) > 255 {
		return nil, errf("InvalidParameterValue", "Invalid security group name %q: it cannot start with sg- or exceed 255 characters", name)
	}
	vpcID := p.str("VpcId")
	if vpcID == "" {
		return nil, errf("VPCIdNotSpecified", "No default VPC for this user")
	}
	if s.st.VPCs[vpcID] == nil {
		return nil, errf("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpcID)
	}
	tags, aerr := s.tagSpec(p, "TagSpecification", "security-group")
	if aerr != nil {
		return nil, aerr
	}
	for _, g := range s.st.Groups {
		if g.VPCID == vpcID && g.Name == name {
			return nil, errf("InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, vpcID)
		}
	}
	g := &securityGroup{ID: s.newID("sg"), Name: name, Description: p.str("GroupDescription"), VPCID: vpcID}
	g.Egress = []*sgRule{{ID: s.newID("sgr"), Protocol: "-1", FromPort: -1, ToPort: -1, CIDR: "0.0.0.0/0"}}
	s.st.Groups[g.ID] = g
	setTags(s.st, g.ID, tags)
	return &createSGReply{ID: g.ID, ARN: s.sgARN(g.ID), Tags: s.xmlTags(g.ID)}, nil
}

func (s *Sim) describeSGs(p params) (any, *apiError) {
	names := p.list("GroupName")
	for _, name := range names {
		if !slices.ContainsFunc(keys(s.st.Groups), func(id string) bool { return s.st.Groups[id].Name == name }) {
			return nil, errf("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC", name)
		}
	}
	pg, next, aerr := s.selectPage(p, query{action: "DescribeSecurityGroups", idsParam: "GroupId", maxMax: 1000,
		ids: keys(s.st.Groups), visible: present(s.st.Groups),
		notFound: func(id string) *apiError {
			return errf("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		},
		keep: func(id string) bool { return len(names) == 0 || slices.Contains(names, s.st.Groups[id].Name) },
		fields: func(id string) fields {
			g := s.st.Groups[id]
			return func(name string) ([]string, bool) { return sgField(g, name, s.cfg.AccountID) }
		}})
	if aerr != nil {
		return nil, aerr
	}
	out := &describeSGsReply{NextToken: next}
	for _, id := range pg {
		out.Groups = append(out.Groups, s.xmlSG(s.st.Groups[id]))
	}
	return out, nil
}

func sgField(g *securityGroup, name, owner string) ([]string, bool) {
	ingress := func(f func(r *sgRule) string) []string {
		var out []string
		for _, r := range g.Ingress {
			out = append(out, f(r))
		}
		return out
	}
	switch name {
	case "group-id":
		return []string{g.ID}, true
	case "group-name":
		return []string{g.Name}, true
	case "vpc-id":
		return []string{g.VPCID}, true
	case "description":
		return []string{g.Description}, true
	case "owner-id":
		return []string{owner}, true
	case "ip-permission.cidr":
		return ingress(func(r *sgRule) string { return r.CIDR }), true
	case "ip-permission.protocol":
		return ingress(func(r *sgRule) string { return r.Protocol }), true
	case "ip-permission.from-port":
		return ingress(func(r *sgRule) string { return strconv.Itoa(int(r.FromPort)) }), true
	case "ip-permission.to-port":
		return ingress(func(r *sgRule) string { return strconv.Itoa(int(r.ToPort)) }), true
	}
	return nil, false
}

// groupFor finds the group of GroupId (or GroupName).
func (s *Sim) groupFor(p params) (*securityGroup, *apiError) {
	id, name := p.str("GroupId"), p.str("GroupName")
	switch {
	case id != "":
		if aerr := checkID(id, "sg", "InvalidGroupId"); aerr != nil {
			return nil, aerr
		}
		if g := s.st.Groups[id]; g != nil {
			return g, nil
		}
		return nil, errf("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
	case name != "":
		for _, gid := range keys(s.st.Groups) {
			if s.st.Groups[gid].Name == name {
				return s.st.Groups[gid], nil
			}
		}
		return nil, errf("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC", name)
	}
	return nil, errf("MissingParameter", "The request must contain the parameter groupName or groupId")
}

var protocolNames = map[string]string{"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp", "-1": "-1", "all": "-1"}

// permissions reads IpPermissions (or the legacy top-level CidrIp form) into rules.
func permissions(p params) ([]*sgRule, *apiError) {
	perms := p.structs("IpPermissions")
	if len(perms) == 0 && p.str("IpProtocol") != "" {
		legacy := params{"IpProtocol": p["IpProtocol"], "FromPort": p["FromPort"], "ToPort": p["ToPort"], "IpRanges.1.CidrIp": p["CidrIp"]}
		perms = []params{legacy}
	}
	if len(perms) == 0 {
		return nil, errf("MissingParameter", "The request must contain the parameter ipPermissions")
	}
	var out []*sgRule
	for _, perm := range perms {
		proto, ok := protocolNames[strings.ToLower(perm.str("IpProtocol"))]
		if !ok {
			n, err := strconv.Atoi(perm.str("IpProtocol"))
			if err != nil || n < 0 || n > 255 {
				return nil, errf("InvalidParameterValue", "Invalid IP protocol %q", perm.str("IpProtocol"))
			}
			proto = strconv.Itoa(n)
		}
		from, to := int32(-1), int32(-1)
		if proto == "tcp" || proto == "udp" || proto == "icmp" {
			f, fok, aerr := perm.int64("FromPort")
			if aerr != nil {
				return nil, aerr
			}
			t, tok, aerr := perm.int64("ToPort")
			if aerr != nil {
				return nil, aerr
			}
			if !fok || !tok {
				return nil, errf("InvalidParameterValue", "Invalid value for portRange. Must specify both from and to ports with TCP/UDP/ICMP.")
			}
			if proto != "icmp" && (f < 0 || t > 65535 || f > t) {
				return nil, errf("InvalidParameterValue", "Invalid port range %d-%d", f, t)
			}
			from, to = int32(f), int32(t)
		}
		ranges := perm.structs("IpRanges")
		if len(ranges) == 0 {
			return nil, errf("InvalidParameterValue", "The simulator supports IPv4 CIDR sources (IpRanges) only")
		}
		for _, r := range ranges {
			pfx, err := netip.ParsePrefix(r.str("CidrIp"))
			if err != nil || !pfx.Addr().Is4() {
				return nil, errf("InvalidParameterValue", "CIDR block %s is malformed", r.str("CidrIp"))
			}
			out = append(out, &sgRule{Protocol: proto, FromPort: from, ToPort: to, CIDR: pfx.Masked().String(), Description: r.str("Description")})
		}
	}
	return out, nil
}

func sameRule(a, b *sgRule) bool {
	return a.Protocol == b.Protocol && a.FromPort == b.FromPort && a.ToPort == b.ToPort && a.CIDR == b.CIDR
}

func (s *Sim) authorizeIngress(p params) (any, *apiError) {
	g, aerr := s.groupFor(p)
	if aerr != nil {
		return nil, aerr
	}
	rules, aerr := permissions(p)
	if aerr != nil {
		return nil, aerr
	}
	for i, r := range rules {
		dup := slices.ContainsFunc(g.Ingress, func(x *sgRule) bool { return sameRule(x, r) }) ||
			slices.ContainsFunc(rules[:i], func(x *sgRule) bool { return sameRule(x, r) })
		if dup {
			return nil, errf("InvalidPermission.Duplicate", "the specified rule \"peer: %s, %s, from port: %d, to port: %d, ALLOW\" already exists", r.CIDR, r.Protocol, r.FromPort, r.ToPort)
		}
	}
	if len(g.Ingress)+len(rules) > s.cfg.Quotas.RulesPerSecurityGroup {
		return nil, errf("RulesPerSecurityGroupLimitExceeded", "The maximum number of rules per security group (%d) has been reached.", s.cfg.Quotas.RulesPerSecurityGroup)
	}
	out := &authorizeReply{Return: true}
	for _, r := range rules {
		r.ID = s.newID("sgr")
		g.Ingress = append(g.Ingress, r)
		out.Rules = append(out.Rules, xSGRule{ID: r.ID, GroupID: g.ID, OwnerID: s.cfg.AccountID, Protocol: r.Protocol, FromPort: r.FromPort, ToPort: r.ToPort, CIDR: r.CIDR, Desc: r.Description})
	}
	return out, nil
}

func (s *Sim) revokeIngress(p params) (any, *apiError) {
	g, aerr := s.groupFor(p)
	if aerr != nil {
		return nil, aerr
	}
	var rules []*sgRule
	if ids := p.list("SecurityGroupRuleId"); len(ids) > 0 {
		for _, id := range ids {
			i := slices.IndexFunc(g.Ingress, func(r *sgRule) bool { return r.ID == id })
			if i < 0 {
				return nil, errf("InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '%s' does not exist", id)
			}
			rules = append(rules, g.Ingress[i])
		}
	} else if rules, aerr = permissions(p); aerr != nil {
		return nil, aerr
	}
	out := &revokeReply{Return: true}
	var unknown []*sgRule
	for _, r := range rules {
		i := slices.IndexFunc(g.Ingress, func(x *sgRule) bool { return sameRule(x, r) })
		if i < 0 {
			unknown = append(unknown, r)
			continue
		}
		x := g.Ingress[i]
		out.Revoked = append(out.Revoked, xSGRule{ID: x.ID, GroupID: g.ID, Protocol: x.Protocol, FromPort: x.FromPort, ToPort: x.ToPort, CIDR: x.CIDR, Desc: x.Description})
		g.Ingress = slices.Delete(g.Ingress, i, i+1)
	}
	if len(out.Revoked) == 0 {
		return nil, errf("InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
	}
	out.Unknown = xmlPermissions(unknown)
	return out, nil
}

type deleteSGReply struct {
	reply
	Return bool   `xml:"return"`
	ID     string `xml:"groupId"`
}

func (s *Sim) deleteSG(p params) (any, *apiError) {
	g, aerr := s.groupFor(p)
	if aerr != nil {
		return nil, aerr
	}
	delete(s.st.Groups, g.ID)
	delete(s.st.Tags, g.ID)
	return &deleteSGReply{Return: true, ID: g.ID}, nil
}
