package aws

import (
	"fmt"
	"strconv"
	"strings"
)

// The tagging contract. Every resource gsi creates carries these tags; they are how gsi
// finds its own resources (no ClientToken exists for TGW creates), adopts them after a
// crash and removes leftovers. Resources gsi does not create (VPC, subnets, route tables)
// are never tagged by gsi.
const (
	// TagCluster holds the cluster name of the gsi installation (GSIPlugin).
	TagCluster = "gsi.juniper.net/cluster"
	// TagTransitGateway holds the owning TransitGateway object as "namespace/name".
	TagTransitGateway = "gsi.juniper.net/transit-gateway"
	// TagRole says which part of the TGW object the resource is (see the Role constants).
	TagRole = "gsi.juniper.net/role"
	// TagPeerIndex holds the Connect peer index (0..3); only on Connect peers.
	TagPeerIndex = "gsi.juniper.net/peer-index"
	// TagName is the AWS console name: "gsi-<cluster>-<namespace>-<name>[-<role>[-<index>]]".
	TagName = "Name"
)

// Role is the value of TagRole.
type Role string

// The roles of the resources gsi creates.
const (
	RoleTransitGateway    Role = "transit-gateway"
	RoleVPCAttachment     Role = "vpc-attachment"
	RoleConnectAttachment Role = "connect-attachment"
	RoleConnectPeer       Role = "connect-peer"
	RoleSecurityGroup     Role = "security-group"
)

// MaxConnectPeers is AWS's limit of Connect peers per Connect attachment.
const MaxConnectPeers = 4

// Owner identifies the TransitGateway object (and its cluster) a resource belongs to.
type Owner struct {
	Cluster   string
	Namespace string
	Name      string
}

// Key is the value of TagTransitGateway: "namespace/name".
func (o Owner) Key() string { return o.Namespace + "/" + o.Name }

// Validate reports an owner that cannot be expressed in tags.
func (o Owner) Validate() error {
	if o.Cluster == "" || o.Namespace == "" || o.Name == "" {
		return fmt.Errorf("owner %q/%q/%q: cluster, namespace and name are required: %w",
			o.Cluster, o.Namespace, o.Name, ErrInvalidParameter)
	}
	// AWS tag values are at most 256 characters.
	if len(o.Cluster) > 256 || len(o.Key()) > 256 {
		return fmt.Errorf("owner %s/%s: tag value longer than 256 characters: %w", o.Cluster, o.Key(), ErrInvalidParameter)
	}
	return nil
}

// Tags returns the full tag set for a resource of the given role; index is used only for
// RoleConnectPeer.
func (o Owner) Tags(role Role, index int) map[string]string {
	tags := map[string]string{
		TagCluster:        o.Cluster,
		TagTransitGateway: o.Key(),
		TagRole:           string(role),
		TagName:           o.resourceName(role, index),
	}
	if role == RoleConnectPeer {
		tags[TagPeerIndex] = strconv.Itoa(index)
	}
	return tags
}

// Selector returns the tags that identify the resource (all but Name, which users may
// rename in the console without breaking ownership).
func (o Owner) Selector(role Role, index int) map[string]string {
	tags := o.Tags(role, index)
	delete(tags, TagName)
	return tags
}

func (o Owner) resourceName(role Role, index int) string {
	parts := []string{"gsi", o.Cluster, o.Namespace, o.Name}
	switch role {
	case RoleTransitGateway:
	case RoleConnectPeer:
		parts = append(parts, string(role), strconv.Itoa(index))
	default:
		parts = append(parts, string(role))
	}
	return strings.Join(parts, "-")
}

// OwnerFromTags reads an Owner back from a resource's tags; ok is false when the tags
// are not gsi's.
func OwnerFromTags(tags map[string]string) (owner Owner, role Role, ok bool) {
	cluster, key, r := tags[TagCluster], tags[TagTransitGateway], tags[TagRole]
	ns, name, found := strings.Cut(key, "/")
	if cluster == "" || r == "" || !found || ns == "" || name == "" {
		return Owner{}, "", false
	}
	return Owner{Cluster: cluster, Namespace: ns, Name: name}, Role(r), true
}
