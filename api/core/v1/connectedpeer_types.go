package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConnectedPeerSpec is written by the controller: which peer of which transit gateway.
type ConnectedPeerSpec struct {
	// TransitGatewayName is the TransitGateway (same namespace) this peer belongs to.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="is immutable"
	TransitGatewayName string `json:"transitGatewayName"`
	// Index is the peer's position, 0 to 3; its inside CIDR is bgpCidr + 8*index.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="is immutable"
	Index int32 `json:"index"`
	// InsideCIDR is the /29 of the BGP inside addresses: the router uses the first
	// address, the transit gateway the second and third.
	// +kubebuilder:validation:MaxLength=18
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self).prefixLength() == 29 && cidr('169.254.0.0/16').containsCIDR(self)",message="must be a /29 inside 169.254.0.0/16"
	InsideCIDR string `json:"insideCIDR"`
	// PeerASN is the router's autonomous system towards the transit gateway.
	PeerASN int64 `json:"peerASN"`
	// TransitASN is the transit gateway's autonomous system.
	TransitASN int64 `json:"transitASN"`
	// ControlNodeASN is the CN2 control nodes' autonomous system.
	ControlNodeASN int64 `json:"controlNodeASN"`
}

// BGPRole says whom a session is with.
// +kubebuilder:validation:Enum=tgw;control-node
type BGPRole string

const (
	// RoleTGW is a session with the transit gateway over the Connect peer.
	RoleTGW BGPRole = "tgw"
	// RoleControlNode is an MP-BGP session with a CN2 control node.
	RoleControlNode BGPRole = "control-node"
)

// BGPSession is one live BGP session of the router, as it reported it.
type BGPSession struct {
	// PeerAddress is the neighbour's address.
	PeerAddress string `json:"peerAddress"`
	// PeerASN is the neighbour's autonomous system.
	PeerASN int64 `json:"peerASN"`
	// LocalASN is the router's autonomous system on this session.
	// +optional
	LocalASN int64 `json:"localASN,omitempty"`
	// Role is tgw or control-node.
	Role BGPRole `json:"role"`
	// State is the BGP finite state machine state: idle, connect, active, opensent,
	// openconfirm or established.
	State string `json:"state"`
	// Since is when the session entered its current state.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// Families are the negotiated address families (ipv4-unicast, l3vpn-ipv4-unicast, rtc).
	// +optional
	Families []string `json:"families,omitempty"`
	// PrefixesReceived counts the prefixes accepted from the neighbour.
	// +optional
	PrefixesReceived int64 `json:"prefixesReceived,omitempty"`
	// PrefixesAdvertised counts the prefixes sent to the neighbour.
	// +optional
	PrefixesAdvertised int64 `json:"prefixesAdvertised,omitempty"`
}

// ConnectedPeerStatus is what the controller and the router observed.
type ConnectedPeerStatus struct {
	// State is pending, available, deleting or failed.
	// +optional
	State TransitGatewayState `json:"state,omitempty"`
	// NodeName is the crpd node the router pod runs on.
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// PodName is the router pod.
	// +optional
	PodName string `json:"podName,omitempty"`
	// PeerAddress is the router's GRE outer address (its node's IP in the VPC).
	// +optional
	PeerAddress string `json:"peerAddress,omitempty"`
	// TransitGatewayAddress is the transit gateway's GRE outer address (from transitCIDR).
	// +optional
	TransitGatewayAddress string `json:"transitGatewayAddress,omitempty"`
	// InsideAddress is the router's BGP address inside the tunnel.
	// +optional
	InsideAddress string `json:"insideAddress,omitempty"`
	// TransitGatewayInsideAddresses are the transit gateway's two BGP addresses.
	// +optional
	TransitGatewayInsideAddresses []string `json:"transitGatewayInsideAddresses,omitempty"`
	// ConnectPeerID is the AWS Transit Gateway Connect peer id (tgw-connect-peer-...).
	// +optional
	ConnectPeerID string `json:"connectPeerID,omitempty"`
	// BGPRouterName is the CN2 BGPRouter created so the control nodes peer with the router.
	// +optional
	BGPRouterName string `json:"bgpRouterName,omitempty"`
	// Sessions are the router's BGP sessions, reported by the router.
	// +optional
	Sessions []BGPSession `json:"sessions,omitempty"`
	// SessionsUpdated is when the router last reported its sessions.
	// +optional
	SessionsUpdated *metav1.Time `json:"sessionsUpdated,omitempty"`
	// ObservedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, AWSReady, RouterReady, BGPEstablished.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ConnectedPeer is one router pod and its AWS Transit Gateway Connect peer: a GRE
// tunnel and two BGP sessions. Created by the controller, one per peer index.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cpeer;cpeers,categories=gsi
// +kubebuilder:printcolumn:name="TGW",type=string,JSONPath=`.spec.transitGatewayName`
// +kubebuilder:printcolumn:name="Index",type=integer,JSONPath=`.spec.index`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.nodeName`
// +kubebuilder:printcolumn:name="Peer-Address",type=string,JSONPath=`.status.peerAddress`
// +kubebuilder:printcolumn:name="Inside-CIDR",type=string,JSONPath=`.spec.insideCIDR`
// +kubebuilder:printcolumn:name="Connect-Peer",type=string,JSONPath=`.status.connectPeerID`,priority=1
// +kubebuilder:printcolumn:name="Pod",type=string,JSONPath=`.status.podName`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ConnectedPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ConnectedPeerSpec   `json:"spec"`
	Status ConnectedPeerStatus `json:"status,omitempty"`
}

// ConnectedPeerList is a list of ConnectedPeers.
// +kubebuilder:object:root=true
type ConnectedPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ConnectedPeer `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ConnectedPeer{}, &ConnectedPeerList{})
}
