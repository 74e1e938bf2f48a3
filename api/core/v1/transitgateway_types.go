package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TransitGatewaySpec is what the user asks for: an AWS Transit Gateway attached to the
// cluster's VPC, with a Connect attachment whose peers are gsi router pods.
type TransitGatewaySpec struct {
	// SubnetIDs are the VPC subnets (one per Availability Zone) the transit gateway's
	// VPC attachment uses. Each is an AWS subnet id such as subnet-0123456789abcdef0.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:Pattern=`^subnet-([0-9a-f]{8}|[0-9a-f]{17})$`
	// +listType=set
	SubnetIDs []string `json:"subnetIDs"`

	// ConnectedPeerScale is the number of router pods, each a Connect peer of the
	// transit gateway with its own GRE tunnel and two BGP sessions. AWS allows 1 to 4
	// peers per Connect attachment; the transit gateway spreads traffic across them (ECMP).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4
	// +kubebuilder:default=1
	// +optional
	ConnectedPeerScale int32 `json:"connectedPeerScale,omitempty"`

	// TransitASN is the transit gateway's Amazon side autonomous system number:
	// 64512-65534 or 4200000000-4294967294. AWS cannot change it while attachments exist.
	// +kubebuilder:validation:XValidation:rule="(self >= 64512 && self <= 65534) || (self >= 4200000000 && self <= 4294967294)",message="must be an AWS Amazon side ASN: 64512-65534 or 4200000000-4294967294"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="is immutable: AWS cannot change a transit gateway's Amazon side ASN while attachments exist; create a new TransitGateway"
	TransitASN int64 `json:"transitASN"`

	// PeerASN is the routers' autonomous system number towards the transit gateway.
	// Equal to transitASN means iBGP (the default); otherwise eBGP with multihop TTL 2.
	// 1-4294967294, not 23456 (AS_TRANS). AWS cannot change a Connect peer's ASN.
	// +kubebuilder:validation:XValidation:rule="self >= 1 && self <= 4294967294 && self != 23456",message="must be an ASN from 1 to 4294967294 and not 23456 (AS_TRANS)"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="is immutable: AWS cannot change the ASN of an existing Connect peer"
	// +optional
	PeerASN *int64 `json:"peerASN,omitempty"`

	// TransitCIDR is the transit gateway's CIDR block, from which AWS takes the GRE
	// outer addresses of the Connect peers: IPv4, /24 or larger, outside 169.254.0.0/16
	// and not overlapping the VPC.
	// +kubebuilder:validation:MaxLength=18
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self).ip().family() == 4",message="must be an IPv4 CIDR such as 192.0.2.0/24"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || cidr(self).prefixLength() <= 24",message="must be /24 or larger (AWS's minimum transit gateway CIDR block)"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || cidr(self) == cidr(self).masked()",message="must be a network address: host bits must be zero"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || !cidr('169.254.0.0/16').containsIP(cidr(self).ip())",message="must not be in 169.254.0.0/16 (link-local, reserved by AWS for BGP inside addresses)"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="is immutable: the Connect peers' GRE addresses come from it and AWS cannot readdress them in place"
	TransitCIDR string `json:"transitCIDR"`

	// BgpCidr is the base of the BGP inside addresses: peer i uses the /29 at base + 8*i
	// (the router the first address, the transit gateway the second and third). An
	// address in 169.254.0.0/16 on a /29 boundary, written with or without "/29".
	// +kubebuilder:validation:MaxLength=18
	// +kubebuilder:validation:Pattern=`^169\.254\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(/29)?$`
	// +kubebuilder:validation:XValidation:rule="int(self.split('/')[0].split('.')[3]) % 8 == 0",message="must be on a /29 boundary (last octet a multiple of 8)"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="is immutable: AWS cannot change a Connect peer's inside CIDR in place"
	BgpCidr string `json:"bgpCidr"`

	// ControlNodeASN is the autonomous system of the CN2 control nodes, which the
	// routers peer with over MP-BGP (inet-vpn). Defaults to CN2's 64512.
	// +kubebuilder:validation:XValidation:rule="self >= 1 && self <= 4294967294 && self != 23456",message="must be an ASN from 1 to 4294967294 and not 23456 (AS_TRANS)"
	// +kubebuilder:default=64512
	// +optional
	ControlNodeASN int64 `json:"controlNodeASN,omitempty"`

	// LicenseSecretName names the Secret in this namespace whose "crpd-license" key
	// holds the router license. Defaults to crpd-license.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:default=crpd-license
	// +optional
	LicenseSecretName string `json:"licenseSecretName,omitempty"`

	// ControllerContainer is CN2's client controller container of the router pod. It is
	// accepted so CN2's manifests apply unchanged, but not run: gsi-router reads its
	// configuration from the cluster and reports its sessions itself.
	// +optional
	ControllerContainer *corev1.Container `json:"controllerContainer,omitempty"`

	// CrpdContainer is the routing container of the router pod (gsi-router); fields
	// left out take gsi's defaults.
	// +optional
	CrpdContainer *corev1.Container `json:"crpdContainer,omitempty"`

	// InitContainer runs before the router pod's containers; fields left out take gsi's
	// defaults.
	// +optional
	InitContainer *corev1.Container `json:"initContainer,omitempty"`
}

// TransitGatewayState is the summary of a TransitGateway's lifecycle.
// +kubebuilder:validation:Enum=pending;available;deleting;failed
type TransitGatewayState string

const (
	// StatePending means AWS or cluster resources are still being created.
	StatePending TransitGatewayState = "pending"
	// StateAvailable means every resource is available and every peer is ready.
	StateAvailable TransitGatewayState = "available"
	// StateDeleting means the resources are being removed.
	StateDeleting TransitGatewayState = "deleting"
	// StateFailed means AWS refused a request; the conditions say why.
	StateFailed TransitGatewayState = "failed"
)

// ExposedNetwork is a virtual network routed into the VPC through this transit gateway.
type ExposedNetwork struct {
	// Namespace of the VirtualNetwork.
	Namespace string `json:"namespace"`
	// Name of the VirtualNetwork.
	Name string `json:"name"`
	// CIDR is the VN's subnet.
	// +optional
	CIDR string `json:"cidr,omitempty"`
}

// TransitGatewayStatus is what the controller observed.
type TransitGatewayStatus struct {
	// State is pending, available, deleting or failed.
	// +optional
	State TransitGatewayState `json:"state,omitempty"`
	// TransitGatewayID is the AWS id (tgw-...).
	// +optional
	TransitGatewayID string `json:"transitGatewayID,omitempty"`
	// VPCAttachmentID is the AWS id of the VPC attachment (tgw-attach-...).
	// +optional
	VPCAttachmentID string `json:"vpcAttachmentID,omitempty"`
	// ConnectAttachmentID is the AWS id of the Connect attachment (tgw-attach-...).
	// +optional
	ConnectAttachmentID string `json:"connectAttachmentID,omitempty"`
	// SecurityGroupIDs are the gsi-sg security groups allowing the VPC to reach the
	// exposed networks (a second group is added when the first is full).
	// +optional
	SecurityGroupIDs []string `json:"securityGroupIDs,omitempty"`
	// PeersReady counts the connected peers whose router runs and whose AWS Connect peer
	// is available.
	// +optional
	PeersReady int32 `json:"peersReady,omitempty"`
	// ExposedNetworks are the virtual networks routed through this transit gateway.
	// +optional
	ExposedNetworks []ExposedNetwork `json:"exposedNetworks,omitempty"`
	// ObservedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, AWSReady, PeersReady, Licensed.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// TransitGateway is an AWS Transit Gateway with a Connect attachment whose peers are gsi
// router pods, through which exposed virtual networks are routed into the VPC.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tgw;tgws,categories=gsi
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="TGW-ID",type=string,JSONPath=`.status.transitGatewayID`
// +kubebuilder:printcolumn:name="Peers",type=integer,JSONPath=`.spec.connectedPeerScale`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.peersReady`
// +kubebuilder:printcolumn:name="Transit-CIDR",type=string,JSONPath=`.spec.transitCIDR`
// +kubebuilder:printcolumn:name="ASN",type=integer,JSONPath=`.spec.transitASN`,priority=1
// +kubebuilder:printcolumn:name="BGP-CIDR",type=string,JSONPath=`.spec.bgpCidr`,priority=1
// +kubebuilder:printcolumn:name="Connect-ID",type=string,JSONPath=`.status.connectAttachmentID`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TransitGateway struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TransitGatewaySpec   `json:"spec"`
	Status TransitGatewayStatus `json:"status,omitempty"`
}

// TransitGatewayList is a list of TransitGateways.
// +kubebuilder:object:root=true
type TransitGatewayList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TransitGateway `json:"items"`
}

func init() {
	SchemeBuilder.Register(&TransitGateway{}, &TransitGatewayList{})
}
