// Package aws is the narrow layer between the gsi reconcilers and Amazon EC2.
//
// Every create in the Transit Gateway API lacks a ClientToken, so idempotency comes from
// the tagging contract (see tags.go and docs/aws.md): each Ensure call first looks for a
// resource carrying the owner's tags and creates one only when none exists. Ensure calls
// never wait for a resource to become available; they return it with its current State
// so the reconciler can requeue. Delete calls are idempotent too and report Gone once AWS
// no longer has the resource, so the reconciler can requeue until then.
package aws

import (
	"context"
	"time"
)

// Interface is what the reconcilers use. *Client implements it against EC2 (or the
// simulator in test/ec2sim); tests of the reconcilers may substitute their own.
type Interface interface {
	// Transit gateway (one per TransitGateway object).
	EnsureTransitGateway(ctx context.Context, spec TransitGatewaySpec) (*TransitGateway, error)
	FindTransitGateway(ctx context.Context, owner Owner) (*TransitGateway, error)
	DeleteTransitGateway(ctx context.Context, owner Owner) (Gone, error)

	// VPC attachment of the transit gateway (transport of the Connect attachment).
	EnsureVPCAttachment(ctx context.Context, spec VPCAttachmentSpec) (*VPCAttachment, error)
	FindVPCAttachment(ctx context.Context, owner Owner) (*VPCAttachment, error)
	DeleteVPCAttachment(ctx context.Context, owner Owner) (Gone, error)

	// Connect attachment (GRE) on top of the VPC attachment.
	EnsureConnectAttachment(ctx context.Context, spec ConnectAttachmentSpec) (*ConnectAttachment, error)
	FindConnectAttachment(ctx context.Context, owner Owner) (*ConnectAttachment, error)
	DeleteConnectAttachment(ctx context.Context, owner Owner) (Gone, error)

	// Connect peers, one per peer index (0..3) of a Connect attachment.
	EnsureConnectPeer(ctx context.Context, spec ConnectPeerSpec) (*ConnectPeer, error)
	FindConnectPeer(ctx context.Context, owner Owner, index int) (*ConnectPeer, error)
	ListConnectPeers(ctx context.Context, owner Owner) ([]ConnectPeer, error)
	DeleteConnectPeer(ctx context.Context, owner Owner, index int) (Gone, error)

	// Security group gsi-sg and its ingress rules.
	EnsureSecurityGroup(ctx context.Context, spec SecurityGroupSpec) (*SecurityGroup, error)
	FindSecurityGroup(ctx context.Context, owner Owner) (*SecurityGroup, error)
	// EnsureIngressRules authorizes the rules the group lacks; present ones are left alone.
	EnsureIngressRules(ctx context.Context, groupID string, rules []IngressRule) (*SecurityGroup, error)
	// RevokeIngressRules removes the given rules; rules already absent are not an error.
	RevokeIngressRules(ctx context.Context, groupID string, rules []IngressRule) (*SecurityGroup, error)
	DeleteSecurityGroup(ctx context.Context, owner Owner) (Gone, error)

	// The VPC (read-only: the cluster's VPC belongs to the user).
	DescribeVPC(ctx context.Context, vpcID string) (*VPC, error)
	DescribeSubnets(ctx context.Context, subnetIDs []string) ([]Subnet, error)
	// DescribeRouteTables returns every route table of the VPC, all pages.
	DescribeRouteTables(ctx context.Context, vpcID string) ([]RouteTable, error)

	// VPC routes towards the transit gateway.
	// EnsureRoute creates the route, or leaves it when it already points at the TGW.
	// A route for the destination with another target is ErrRouteConflict unless
	// spec.ReplaceForeign is set.
	EnsureRoute(ctx context.Context, spec RouteSpec) (*Route, error)
	// DeleteRoute removes the route only when it points at spec.TransitGatewayID; a route
	// that is absent or points elsewhere is left alone and is not an error.
	DeleteRoute(ctx context.Context, spec RouteSpec) error

	// SearchTransitGatewayRoutes lists the routes of a TGW route table (all pages), e.g.
	// the prefixes the TGW learned over BGP from the Connect peers.
	SearchTransitGatewayRoutes(ctx context.Context, query TGWRouteQuery) ([]TGWRoute, error)

	// FindOwned lists every resource tagged for the cluster (optionally one TGW object):
	// used for cleanup of leftovers and for adoption after a crash.
	FindOwned(ctx context.Context, cluster string, owner *Owner) ([]TaggedResource, error)
}

// Gone reports whether a deleted resource no longer exists in AWS (absent or in state
// "deleted"). When false, the deletion is in progress and the caller should requeue.
type Gone bool

// Resource states as EC2 reports them (a subset of each resource's state enum).
const (
	StatePending    = "pending"
	StateAvailable  = "available"
	StateModifying  = "modifying"
	StateDeleting   = "deleting"
	StateDeleted    = "deleted"
	StateFailed     = "failed"
	StateFailing    = "failing"
	StateInitiating = "initiating"
	StateRejected   = "rejected"
)

// BGP session states of a Connect peer.
const (
	BGPStatusUp   = "up"
	BGPStatusDown = "down"
)

// TransitGatewaySpec is the desired transit gateway.
type TransitGatewaySpec struct {
	Owner Owner
	// AmazonSideASN: 64512–65534 or 4200000000–4294967294.
	AmazonSideASN int64
	// CIDRBlocks are the TGW CIDR blocks (GRE outer addresses of the TGW side). Blocks
	// missing on an existing TGW are added with ModifyTransitGateway; extra ones are kept.
	CIDRBlocks  []string
	Description string
}

// TransitGateway is a transit gateway as EC2 reports it.
type TransitGateway struct {
	ID            string
	ARN           string
	State         string
	AmazonSideASN int64
	CIDRBlocks    []string
	// AssociationDefaultRouteTableID is the TGW route table attachments associate with;
	// the Connect peers' learned routes are searched there.
	AssociationDefaultRouteTableID string
	Description                    string
	CreationTime                   time.Time
	Tags                           map[string]string
}

// VPCAttachmentSpec is the desired VPC attachment.
type VPCAttachmentSpec struct {
	Owner            Owner
	TransitGatewayID string
	VPCID            string
	// SubnetIDs: at most one per availability zone.
	SubnetIDs []string
}

// VPCAttachment is a transit gateway VPC attachment.
type VPCAttachment struct {
	ID               string
	TransitGatewayID string
	VPCID            string
	SubnetIDs        []string
	State            string
	CreationTime     time.Time
	Tags             map[string]string
}

// ConnectAttachmentSpec is the desired Connect attachment (protocol GRE).
type ConnectAttachmentSpec struct {
	Owner Owner
	// TransportAttachmentID is the VPC attachment the GRE tunnels ride on.
	TransportAttachmentID string
}

// ConnectAttachment is a transit gateway Connect attachment.
type ConnectAttachment struct {
	ID                    string
	TransitGatewayID      string
	TransportAttachmentID string
	Protocol              string
	State                 string
	CreationTime          time.Time
	Tags                  map[string]string
}

// ConnectPeerSpec is the desired Connect peer number Index of a Connect attachment.
type ConnectPeerSpec struct {
	Owner               Owner
	Index               int
	ConnectAttachmentID string
	// PeerAddress is the appliance's GRE outer address (the router node's IP).
	PeerAddress string
	// TransitGatewayAddress is optional: EC2 picks one from the TGW CIDR blocks if empty.
	TransitGatewayAddress string
	// InsideCIDR is the /29 in 169.254.0.0/16 carrying the BGP sessions.
	InsideCIDR string
	// PeerASN defaults to the TGW's ASN (iBGP) when 0.
	PeerASN int64
}

// ConnectPeer is a transit gateway Connect peer.
type ConnectPeer struct {
	ID                    string
	ConnectAttachmentID   string
	State                 string
	PeerAddress           string
	TransitGatewayAddress string
	InsideCIDRs           []string
	Protocol              string
	// BGP holds one entry per BGP session (two per peer: TGW's second and third address
	// of the /29 to the appliance's first).
	BGP          []BGPSession
	CreationTime time.Time
	Tags         map[string]string
}

// BGPSession is one BGP session of a Connect peer.
type BGPSession struct {
	TransitGatewayAddress string
	PeerAddress           string
	TransitGatewayASN     int64
	PeerASN               int64
	// Status is BGPStatusUp or BGPStatusDown.
	Status string
}

// SecurityGroupSpec is the desired security group (gsi-sg).
type SecurityGroupSpec struct {
	Owner       Owner
	VPCID       string
	Name        string
	Description string
}

// SecurityGroup is a VPC security group with its inbound rules.
type SecurityGroup struct {
	ID          string
	ARN         string
	Name        string
	Description string
	VPCID       string
	Ingress     []IngressRule
	Tags        map[string]string
}

// IngressRule is one inbound rule with an IPv4 CIDR source. Protocol is "-1" (all),
// "tcp", "udp", "icmp" or an IP protocol number such as "47" (GRE); ports are -1 when
// the protocol has none.
type IngressRule struct {
	Protocol    string
	FromPort    int32
	ToPort      int32
	CIDR        string
	Description string
}

// VPC is the cluster's VPC.
type VPC struct {
	ID         string
	State      string
	CIDRBlocks []string
	Tags       map[string]string
}

// Subnet is a subnet of the VPC.
type Subnet struct {
	ID                 string
	VPCID              string
	CIDRBlock          string
	AvailabilityZone   string
	AvailabilityZoneID string
	State              string
	Tags               map[string]string
}

// RouteTable is a VPC route table.
type RouteTable struct {
	ID        string
	VPCID     string
	Main      bool
	SubnetIDs []string
	Routes    []Route
	Tags      map[string]string
}

// Route is a route of a VPC route table.
type Route struct {
	DestinationCIDR  string
	TransitGatewayID string
	GatewayID        string
	// State is "active" or "blackhole".
	State string
	// Origin is CreateRouteTable, CreateRoute or EnableVgwRoutePropagation.
	Origin string
}

// RouteSpec names a VPC route towards a transit gateway.
type RouteSpec struct {
	RouteTableID     string
	DestinationCIDR  string
	TransitGatewayID string
	// ReplaceForeign lets EnsureRoute take over a route for the same destination that
	// points elsewhere (ReplaceRoute). Off by default: the VPC belongs to the user.
	ReplaceForeign bool
}

// TGWRouteQuery selects routes of a TGW route table for SearchTransitGatewayRoutes.
type TGWRouteQuery struct {
	RouteTableID string
	// Type filters by route type: "propagated" (learned, e.g. over BGP) or "static";
	// empty means both.
	Type string
	// AttachmentID filters by the attachment a route points at (e.g. the Connect one).
	AttachmentID string
	// State filters by "active" or "blackhole"; empty means both.
	State string
}

// TGWRoute is a route of a TGW route table.
type TGWRoute struct {
	DestinationCIDR string
	Type            string
	State           string
	Attachments     []TGWRouteAttachment
}

// TGWRouteAttachment is the attachment a TGW route points at.
type TGWRouteAttachment struct {
	AttachmentID string
	ResourceID   string
	ResourceType string
}

// TaggedResource is one resource found through the tagging contract.
type TaggedResource struct {
	ID           string
	ResourceType string
	Tags         map[string]string
}
