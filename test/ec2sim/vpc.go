package ec2sim

import (
	"net/netip"
	"strconv"
)

func init() {
	register("DescribeVpcs", false, (*Sim).describeVpcs)
	register("DescribeSubnets", false, (*Sim).describeSubnets)
	register("DescribeRouteTables", false, (*Sim).describeRouteTables)
	register("CreateRoute", true, (*Sim).createRoute)
	register("ReplaceRoute", true, (*Sim).replaceRoute)
	register("DeleteRoute", true, (*Sim).deleteRoute)
}

type xVpcCidr struct {
	AssociationID string `xml:"associationId"`
	CIDR          string `xml:"cidrBlock"`
	State         string `xml:"cidrBlockState>state"`
}

type xVpc struct {
	ID              string     `xml:"vpcId"`
	OwnerID         string     `xml:"ownerId"`
	State           string     `xml:"state"`
	CIDR            string     `xml:"cidrBlock"`
	CIDRAssocs      []xVpcCidr `xml:"cidrBlockAssociationSet>item"`
	DhcpOptionsID   string     `xml:"dhcpOptionsId"`
	InstanceTenancy string     `xml:"instanceTenancy"`
	IsDefault       bool       `xml:"isDefault"`
	Tags            []xTag     `xml:"tagSet>item"`
}

type describeVpcsReply struct {
	reply
	Vpcs      []xVpc `xml:"vpcSet>item"`
	NextToken string `xml:"nextToken,omitempty"`
}

func (s *Sim) describeVpcs(p params) (any, *apiError) {
	pg, next, aerr := s.selectPage(p, query{action: "DescribeVpcs", idsParam: "VpcId", maxMax: 1000,
		ids: keys(s.st.VPCs), visible: present(s.st.VPCs),
		notFound: func(id string) *apiError { return errf("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id) },
		fields: func(id string) fields {
			v := s.st.VPCs[id]
			return func(name string) ([]string, bool) {
				switch name {
				case "vpc-id":
					return []string{v.ID}, true
				case "cidr", "cidr-block-association.cidr-block":
					return v.CIDRs, true
				case "state":
					return []string{"available"}, true
				case "owner-id":
					return []string{s.cfg.AccountID}, true
				case "is-default":
					return []string{"false"}, true
				}
				return nil, false
			}
		}})
	if aerr != nil {
		return nil, aerr
	}
	out := &describeVpcsReply{NextToken: next}
	for _, id := range pg {
		v := s.st.VPCs[id]
		x := xVpc{ID: v.ID, OwnerID: s.cfg.AccountID, State: "available", CIDR: v.CIDRs[0], DhcpOptionsID: "dopt-0a1b2c3d", InstanceTenancy: "default", Tags: s.xmlTags(id)}
		for i, c := range v.CIDRs {
			x.CIDRAssocs = append(x.CIDRAssocs, xVpcCidr{AssociationID: v.ID + "-cidr-assoc-" + strconv.Itoa(i), CIDR: c, State: "associated"})
		}
		out.Vpcs = append(out.Vpcs, x)
	}
	return out, nil
}

type xSubnet struct {
	ID        string `xml:"subnetId"`
	ARN       string `xml:"subnetArn"`
	VPCID     string `xml:"vpcId"`
	OwnerID   string `xml:"ownerId"`
	State     string `xml:"state"`
	CIDR      string `xml:"cidrBlock"`
	AZ        string `xml:"availabilityZone"`
	AZID      string `xml:"availabilityZoneId"`
	Available int    `xml:"availableIpAddressCount"`
	Default   bool   `xml:"defaultForAz"`
	MapPublic bool   `xml:"mapPublicIpOnLaunch"`
	Tags      []xTag `xml:"tagSet>item"`
}

type describeSubnetsReply struct {
	reply
	Subnets   []xSubnet `xml:"subnetSet>item"`
	NextToken string    `xml:"nextToken,omitempty"`
}

// azID derives a stable zone id (use1-az1 …) from the zone name.
func azID(region, az string) string {
	short := ""
	for i, part := range []byte(region) {
		if i == 0 || (i > 0 && region[i-1] == '-') {
			short += string(part)
		}
	}
	if len(region) > 0 && region[len(region)-1] >= '0' && region[len(region)-1] <= '9' {
		short = short[:len(short)-1] + string(region[len(region)-1])
	}
	if len(az) == 0 {
		return short + "-az0"
	}
	return short + "-az" + strconv.Itoa(int(az[len(az)-1]-'a'+1))
}

func (s *Sim) describeSubnets(p params) (any, *apiError) {
	pg, next, aerr := s.selectPage(p, query{action: "DescribeSubnets", idsParam: "SubnetId", maxMax: 1000,
		ids: keys(s.st.Subnets), visible: present(s.st.Subnets),
		notFound: func(id string) *apiError {
			return errf("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		},
		fields: func(id string) fields {
			sn := s.st.Subnets[id]
			return func(name string) ([]string, bool) {
				switch name {
				case "subnet-id":
					return []string{sn.ID}, true
				case "vpc-id":
					return []string{sn.VPCID}, true
				case "cidr-block", "cidr", "cidrBlock":
					return []string{sn.CIDR}, true
				case "availability-zone", "availabilityZone":
					return []string{sn.AZ}, true
				case "availability-zone-id":
					return []string{azID(s.cfg.Region, sn.AZ)}, true
				case "state":
					return []string{"available"}, true
				case "owner-id":
					return []string{s.cfg.AccountID}, true
				}
				return nil, false
			}
		}})
	if aerr != nil {
		return nil, aerr
	}
	out := &describeSubnetsReply{NextToken: next}
	for _, id := range pg {
		sn := s.st.Subnets[id]
		pfx := netip.MustParsePrefix(sn.CIDR)
		out.Subnets = append(out.Subnets, xSubnet{
			ID: sn.ID, ARN: "arn:aws:ec2:" + s.cfg.Region + ":" + s.cfg.AccountID + ":subnet/" + sn.ID,
			VPCID: sn.VPCID, OwnerID: s.cfg.AccountID, State: "available", CIDR: sn.CIDR, AZ: sn.AZ,
			AZID: azID(s.cfg.Region, sn.AZ), Available: (1 << (32 - pfx.Bits())) - 5, Tags: s.xmlTags(id),
		})
	}
	return out, nil
}

type xRoute struct {
	Destination string `xml:"destinationCidrBlock"`
	GatewayID   string `xml:"gatewayId,omitempty"`
	TGWID       string `xml:"transitGatewayId,omitempty"`
	State       string `xml:"state"`
	Origin      string `xml:"origin"`
}

type xRTAssoc struct {
	ID           string `xml:"routeTableAssociationId"`
	RouteTableID string `xml:"routeTableId"`
	SubnetID     string `xml:"subnetId,omitempty"`
	Main         bool   `xml:"main"`
	State        string `xml:"associationState>state"`
}

type xRouteTable struct {
	ID      string     `xml:"routeTableId"`
	VPCID   string     `xml:"vpcId"`
	OwnerID string     `xml:"ownerId"`
	Assocs  []xRTAssoc `xml:"associationSet>item"`
	Routes  []xRoute   `xml:"routeSet>item"`
	Tags    []xTag     `xml:"tagSet>item"`
}

type describeRouteTablesReply struct {
	reply
	RouteTables []xRouteTable `xml:"routeTableSet>item"`
	NextToken   string        `xml:"nextToken,omitempty"`
}

// routeState is "active" when the target can carry traffic: local and gateways always,
// a TGW only while it has an available VPC attachment in the route table's VPC.
func (s *Sim) routeState(rt *routeTable, r *route) string {
	if r.TGWID == "" {
		return "active"
	}
	now := s.now()
	for _, a := range s.st.Attachments {
		if a.Kind == kindVPC && a.TGWID == r.TGWID && a.VPCID == rt.VPCID && a.status(now, s.delay()) == "available" {
			return "active"
		}
	}
	return "blackhole"
}

func (s *Sim) describeRouteTables(p params) (any, *apiError) {
	pg, next, aerr := s.selectPage(p, query{action: "DescribeRouteTables", idsParam: "RouteTableId", maxMax: 100,
		ids: keys(s.st.RouteTables), visible: present(s.st.RouteTables),
		notFound: func(id string) *apiError {
			return errf("InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist", id)
		},
		fields: func(id string) fields {
			rt := s.st.RouteTables[id]
			return func(name string) ([]string, bool) { return s.routeTableField(rt, name) }
		}})
	if aerr != nil {
		return nil, aerr
	}
	out := &describeRouteTablesReply{NextToken: next}
	for _, id := range pg {
		out.RouteTables = append(out.RouteTables, s.xmlRouteTable(s.st.RouteTables[id]))
	}
	return out, nil
}

func (s *Sim) routeTableField(rt *routeTable, name string) ([]string, bool) {
	collect := func(f func(r *route) string) []string {
		var out []string
		for _, r := range rt.Routes {
			if v := f(r); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	switch name {
	case "route-table-id":
		return []string{rt.ID}, true
	case "vpc-id":
		return []string{rt.VPCID}, true
	case "owner-id":
		return []string{s.cfg.AccountID}, true
	case "association.subnet-id":
		return rt.Subnets, true
	case "association.main":
		return []string{strconv.FormatBool(rt.Main)}, true
	case "route.destination-cidr-block":
		return collect(func(r *route) string { return r.Destination }), true
	case "route.transit-gateway-id":
		return collect(func(r *route) string { return r.TGWID }), true
	case "route.gateway-id":
		return collect(func(r *route) string { return r.GatewayID }), true
	case "route.origin":
		return collect(func(r *route) string { return r.Origin }), true
	case "route.state":
		return collect(func(r *route) string { return s.routeState(rt, r) }), true
	}
	return nil, false
}

func (s *Sim) xmlRouteTable(rt *routeTable) xRouteTable {
	x := xRouteTable{ID: rt.ID, VPCID: rt.VPCID, OwnerID: s.cfg.AccountID, Tags: s.xmlTags(rt.ID)}
	if rt.Main {
		x.Assocs = append(x.Assocs, xRTAssoc{ID: "rtbassoc-main-" + rt.ID[4:], RouteTableID: rt.ID, Main: true, State: "associated"})
	}
	for _, sn := range rt.Subnets {
		x.Assocs = append(x.Assocs, xRTAssoc{ID: "rtbassoc-" + sn[7:], RouteTableID: rt.ID, SubnetID: sn, State: "associated"})
	}
	for _, r := range rt.Routes {
		x.Routes = append(x.Routes, xRoute{Destination: r.Destination, GatewayID: r.GatewayID, TGWID: r.TGWID, State: s.routeState(rt, r), Origin: r.Origin})
	}
	return x
}

type returnReply struct {
	reply
	Return bool `xml:"return"`
}

// routeRequest validates the common parameters of Create/Replace/DeleteRoute.
func (s *Sim) routeRequest(p params) (*routeTable, string, *apiError) {
	if aerr := p.required("RouteTableId"); aerr != nil {
		return nil, "", aerr
	}
	id := p.str("RouteTableId")
	if aerr := checkID(id, "rtb", "InvalidRouteTableId"); aerr != nil {
		return nil, "", aerr
	}
	rt := s.st.RouteTables[id]
	if rt == nil {
		return nil, "", errf("InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist", id)
	}
	if p.has("DestinationIpv6CidrBlock") || p.has("DestinationPrefixListId") {
		return nil, "", errf("InvalidParameterValue", "The simulator supports IPv4 destinations only")
	}
	if aerr := p.required("DestinationCidrBlock"); aerr != nil {
		return nil, "", aerr
	}
	pfx, err := netip.ParsePrefix(p.str("DestinationCidrBlock"))
	if err != nil || !pfx.Addr().Is4() {
		return nil, "", errf("InvalidParameterValue", "Value (%s) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block.", p.str("DestinationCidrBlock"))
	}
	return rt, pfx.Masked().String(), nil
}

// routeTarget reads the one target of Create/ReplaceRoute.
func (s *Sim) routeTarget(p params) (*route, *apiError) {
	tgwID, gw := p.str("TransitGatewayId"), p.str("GatewayId")
	others := []string{"InstanceId", "NatGatewayId", "NetworkInterfaceId", "VpcPeeringConnectionId", "EgressOnlyInternetGatewayId", "LocalGatewayId", "CarrierGatewayId", "VpcEndpointId", "CoreNetworkArn"}
	for _, o := range others {
		if p.str(o) != "" {
			return nil, errf("InvalidParameterValue", "The simulator supports TransitGatewayId and GatewayId targets only, not %s", o)
		}
	}
	switch {
	case tgwID != "" && gw != "":
		return nil, errf("InvalidParameterCombination", "The parameter transitGatewayId cannot be used with the parameter gatewayId")
	case tgwID == "" && gw == "":
		return nil, errf("MissingParameter", "The request must contain exactly one of gatewayId, transitGatewayId, …")
	case tgwID != "":
		if aerr := checkID(tgwID, "tgw", "InvalidTransitGatewayID"); aerr != nil {
			return nil, aerr
		}
		t := s.st.TGWs[tgwID]
		if t == nil || t.status(s.now(), s.delay()) == "deleted" {
			return nil, errf("InvalidTransitGatewayID.NotFound", "Transit Gateway %s was deleted or does not exist.", tgwID)
		}
		return &route{TGWID: tgwID, Origin: "CreateRoute"}, nil
	}
	if gw == "local" {
		return nil, errf("InvalidParameterValue", "The gateway 'local' cannot be used as a route target here")
	}
	return &route{GatewayID: gw, Origin: "CreateRoute"}, nil
}

func findRoute(rt *routeTable, dest string) int {
	for i, r := range rt.Routes {
		if r.Destination == dest {
			return i
		}
	}
	return -1
}

func (s *Sim) createRoute(p params) (any, *apiError) {
	rt, dest, aerr := s.routeRequest(p)
	if aerr != nil {
		return nil, aerr
	}
	r, aerr := s.routeTarget(p)
	if aerr != nil {
		return nil, aerr
	}
	if i := findRoute(rt, dest); i >= 0 {
		return nil, errf("RouteAlreadyExists", "The route identified by %s already exists.", dest)
	}
	if len(rt.Routes) >= s.cfg.Quotas.RoutesPerRouteTable {
		return nil, errf("RouteLimitExceeded", "The maximum number of routes (%d) has been reached for route table %s.", s.cfg.Quotas.RoutesPerRouteTable, rt.ID)
	}
	r.Destination = dest
	rt.Routes = append(rt.Routes, r)
	return &returnReply{Return: true}, nil
}

func (s *Sim) replaceRoute(p params) (any, *apiError) {
	rt, dest, aerr := s.routeRequest(p)
	if aerr != nil {
		return nil, aerr
	}
	r, aerr := s.routeTarget(p)
	if aerr != nil {
		return nil, aerr
	}
	i := findRoute(rt, dest)
	if i < 0 {
		return nil, errf("InvalidParameterValue", "There is no route defined for '%s' in the route table. Use CreateRoute instead.", dest)
	}
	if rt.Routes[i].GatewayID == "local" {
		return nil, errf("InvalidParameterValue", "Cannot replace the local route %s", dest)
	}
	r.Destination = dest
	rt.Routes[i] = r
	return &reply{}, nil
}

func (s *Sim) deleteRoute(p params) (any, *apiError) {
	rt, dest, aerr := s.routeRequest(p)
	if aerr != nil {
		return nil, aerr
	}
	i := findRoute(rt, dest)
	if i < 0 {
		return nil, errf("InvalidRoute.NotFound", "no route with destination-cidr-block %s in route table %s", dest, rt.ID)
	}
	if rt.Routes[i].GatewayID == "local" {
		return nil, errf("InvalidParameterValue", "cannot remove local route %s in route table %s", dest, rt.ID)
	}
	rt.Routes = append(rt.Routes[:i], rt.Routes[i+1:]...)
	return &reply{}, nil
}
