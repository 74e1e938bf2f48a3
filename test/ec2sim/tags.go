package ec2sim

import (
	"strings"
)

func init() {
	register("CreateTags", true, (*Sim).createTags)
	register("DeleteTags", true, (*Sim).deleteTags)
	register("DescribeTags", false, (*Sim).describeTags)
}

// resourceKind maps an id to its EC2 resource type and not-found code.
func resourceKind(id string) (resourceType, notFound string) {
	switch {
	case strings.HasPrefix(id, "vpc-"):
		return "vpc", "InvalidVpcID.NotFound"
	case strings.HasPrefix(id, "subnet-"):
		return "subnet", "InvalidSubnetID.NotFound"
	case strings.HasPrefix(id, "rtb-"):
		return "route-table", "InvalidRouteTableID.NotFound"
	case strings.HasPrefix(id, "tgw-rtb-"):
		return "transit-gateway-route-table", "InvalidRouteTableID.NotFound"
	case strings.HasPrefix(id, "tgw-attach-"):
		return "transit-gateway-attachment", "InvalidTransitGatewayAttachmentID.NotFound"
	case strings.HasPrefix(id, "tgw-connect-peer-"):
		return "transit-gateway-connect-peer", "InvalidTransitGatewayConnectPeerID.NotFound"
	case strings.HasPrefix(id, "tgw-"):
		return "transit-gateway", "InvalidTransitGatewayID.NotFound"
	case strings.HasPrefix(id, "sg-"):
		return "security-group", "InvalidGroup.NotFound"
	}
	return "", "InvalidID"
}

// exists reports a resource that can carry tags (deleted TGW resources cannot).
func (s *Sim) exists(id string) bool {
	now, d := s.now(), s.delay()
	switch rt, _ := resourceKind(id); rt {
	case "vpc":
		return s.st.VPCs[id] != nil
	case "subnet":
		return s.st.Subnets[id] != nil
	case "route-table":
		return s.st.RouteTables[id] != nil
	case "transit-gateway-route-table":
		t := s.st.TGWRouteTables[id]
		return t != nil && s.st.TGWs[t.TGWID].status(now, d) != "deleted"
	case "transit-gateway-attachment":
		a := s.st.Attachments[id]
		return a != nil && a.status(now, d) != "deleted"
	case "transit-gateway-connect-peer":
		cp := s.st.Peers[id]
		return cp != nil && cp.status(now, d) != "deleted"
	case "transit-gateway":
		t := s.st.TGWs[id]
		return t != nil && t.status(now, d) != "deleted"
	case "security-group":
		return s.st.Groups[id] != nil
	}
	return false
}

func (s *Sim) tagTargets(p params) ([]string, *apiError) {
	ids := p.list("ResourceId")
	if len(ids) == 0 {
		return nil, errf("MissingParameter", "The request must contain the parameter resourceIdSet")
	}
	for _, id := range ids {
		if !s.exists(id) {
			_, code := resourceKind(id)
			return nil, errf(code, "The ID '%s' does not exist", id)
		}
	}
	return ids, nil
}

func (s *Sim) createTags(p params) (any, *apiError) {
	ids, aerr := s.tagTargets(p)
	if aerr != nil {
		return nil, aerr
	}
	tags := map[string]string{}
	for _, t := range p.structs("Tag") {
		if aerr := validTag(t.str("Key"), t.str("Value")); aerr != nil {
			return nil, aerr
		}
		tags[t.str("Key")] = t.str("Value")
	}
	if len(tags) == 0 {
		return nil, errf("MissingParameter", "The request must contain the parameter tagSet")
	}
	for _, id := range ids {
		n := len(s.st.Tags[id])
		for k := range tags {
			if _, ok := s.st.Tags[id][k]; !ok {
				n++
			}
		}
		if n > s.cfg.Quotas.TagsPerResource {
			return nil, errf("TagLimitExceeded", "The maximum number of tags for resource %s (%d) has been reached.", id, s.cfg.Quotas.TagsPerResource)
		}
	}
	for _, id := range ids {
		setTags(s.st, id, tags)
	}
	return &returnReply{Return: true}, nil
}

func (s *Sim) deleteTags(p params) (any, *apiError) {
	ids, aerr := s.tagTargets(p)
	if aerr != nil {
		return nil, aerr
	}
	specs := p.structs("Tag")
	for _, t := range specs {
		if strings.HasPrefix(strings.ToLower(t.str("Key")), "aws:") {
			return nil, errf("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved")
		}
	}
	for _, id := range ids {
		m := s.st.Tags[id]
		if len(specs) == 0 {
			delete(s.st.Tags, id) // no Tag parameter deletes every tag
			continue
		}
		for _, t := range specs {
			k := t.str("Key")
			// With a Value, only a tag holding that value goes (EC2's semantics).
			if t.has("Value") && m[k] != t.str("Value") {
				continue
			}
			delete(m, k)
		}
	}
	return &returnReply{Return: true}, nil
}

type xTagDescription struct {
	ResourceID   string `xml:"resourceId"`
	ResourceType string `xml:"resourceType"`
	Key          string `xml:"key"`
	Value        string `xml:"value"`
}

type describeTagsReply struct {
	reply
	Tags      []xTagDescription `xml:"tagSet>item"`
	NextToken string            `xml:"nextToken,omitempty"`
}

func (s *Sim) describeTags(p params) (any, *apiError) {
	fs, aerr := p.filters()
	if aerr != nil {
		return nil, aerr
	}
	// One row per (resource, key); the page key sorts by resource then key.
	rows := map[string]xTagDescription{}
	for id, m := range s.st.Tags {
		if !s.exists(id) {
			continue
		}
		rt, _ := resourceKind(id)
		for k, v := range m {
			row := xTagDescription{ResourceID: id, ResourceType: rt, Key: k, Value: v}
			ok, aerr := match(fs, func(name string) ([]string, bool) {
				switch name {
				case "resource-id":
					return []string{id}, true
				case "resource-type":
					return []string{rt}, true
				case "key":
					return []string{k}, true
				case "value":
					return []string{v}, true
				}
				return nil, false
			}, m)
			if aerr != nil {
				return nil, aerr
			}
			if ok {
				rows[id+"\x00"+k] = row
			}
		}
	}
	pg, next, aerr := page(p, "DescribeTags", keys(rows), 5, 1000)
	if aerr != nil {
		return nil, aerr
	}
	out := &describeTagsReply{NextToken: next}
	for _, k := range pg {
		out.Tags = append(out.Tags, rows[k])
	}
	return out, nil
}
