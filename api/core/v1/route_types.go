package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VirtualNetworkReference names a CN2 VirtualNetwork.
type VirtualNetworkReference struct {
	// Namespace of the VirtualNetwork.
	Namespace string `json:"namespace"`
	// Name of the VirtualNetwork.
	Name string `json:"name"`
}

// RouteSpec is written by the controller for each exposed prefix.
type RouteSpec struct {
	// DestinationCIDR is the exposed VN's subnet, routed from the VPC to the transit gateway.
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self) == cidr(self).masked()",message="must be a CIDR with zero host bits, such as 10.20.0.0/16"
	DestinationCIDR string `json:"destinationCIDR"`
	// VirtualNetwork is the CN2 VirtualNetwork the prefix belongs to.
	VirtualNetwork VirtualNetworkReference `json:"virtualNetwork"`
	// TransitGatewayName is the TransitGateway (same namespace) the prefix is exposed through.
	// +kubebuilder:validation:MinLength=1
	TransitGatewayName string `json:"transitGatewayName"`
	// RouteTarget is the VN's route target (target:ASN:number) the routers import and export.
	// +kubebuilder:validation:Pattern=`^target:[0-9.]+:[0-9]+$`
	// +optional
	RouteTarget string `json:"routeTarget,omitempty"`
}

// RouteTableState is the state of a route in one VPC route table.
// +kubebuilder:validation:Enum=pending;active;blackhole;failed
type RouteTableState string

const (
	// RouteTablePending means the route is not yet in the table.
	RouteTablePending RouteTableState = "pending"
	// RouteTableActive means the route is in the table and its target is available.
	RouteTableActive RouteTableState = "active"
	// RouteTableBlackhole means the route is in the table but its target is gone.
	RouteTableBlackhole RouteTableState = "blackhole"
	// RouteTableFailed means AWS refused the route; Message says why.
	RouteTableFailed RouteTableState = "failed"
)

// RouteTableStatus is the route's state in one VPC route table.
type RouteTableStatus struct {
	// RouteTableID is the AWS route table id (rtb-...).
	RouteTableID string `json:"routeTableID"`
	// State is pending, active, blackhole or failed.
	State RouteTableState `json:"state"`
	// Message is AWS's message when the route failed.
	// +optional
	Message string `json:"message,omitempty"`
}

// RouteState summarises a Route.
// +kubebuilder:validation:Enum=pending;active;conflict;failed;deleting
type RouteState string

const (
	// RoutePending means the route is being programmed.
	RoutePending RouteState = "pending"
	// RouteActive means the route is in every VPC route table and the security group.
	RouteActive RouteState = "active"
	// RouteConflict means the prefix overlaps the VPC, link-local space or another
	// exposure; nothing is programmed and the Programmed condition says which.
	RouteConflict RouteState = "conflict"
	// RouteFailed means AWS refused the route.
	RouteFailed RouteState = "failed"
	// RouteDeleting means the route is being removed from AWS.
	RouteDeleting RouteState = "deleting"
)

// RouteStatus is what the controller observed.
type RouteStatus struct {
	// State is pending, active, conflict, failed or deleting.
	// +optional
	State RouteState `json:"state,omitempty"`
	// RouteTables is the route's state in each route table of the VPC.
	// +optional
	RouteTables []RouteTableStatus `json:"routeTables,omitempty"`
	// SecurityGroupID is the gsi-sg group holding the ingress rule for the prefix.
	// +optional
	SecurityGroupID string `json:"securityGroupID,omitempty"`
	// SecurityGroupRuleID is the ingress rule's id (sgr-...).
	// +optional
	SecurityGroupRuleID string `json:"securityGroupRuleID,omitempty"`
	// Advertised is true when at least one router advertises the prefix to the transit gateway.
	// +optional
	Advertised bool `json:"advertised,omitempty"`
	// ObservedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Programmed, Ready.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Route is one exposed prefix: a virtual network's subnet routed from every route table
// of the VPC to the transit gateway. Created by the controller when a VN is labelled
// core.gsi.juniper.net/expose=<transit gateway>.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gsiroute;gsiroutes,categories=gsi
// +kubebuilder:printcolumn:name="Destination",type=string,JSONPath=`.spec.destinationCIDR`
// +kubebuilder:printcolumn:name="VN-Namespace",type=string,JSONPath=`.spec.virtualNetwork.namespace`
// +kubebuilder:printcolumn:name="VN",type=string,JSONPath=`.spec.virtualNetwork.name`
// +kubebuilder:printcolumn:name="TGW",type=string,JSONPath=`.spec.transitGatewayName`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Route-Target",type=string,JSONPath=`.spec.routeTarget`,priority=1
// +kubebuilder:printcolumn:name="Security-Group",type=string,JSONPath=`.status.securityGroupID`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Route struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RouteSpec   `json:"spec"`
	Status RouteStatus `json:"status,omitempty"`
}

// RouteList is a list of Routes.
// +kubebuilder:object:root=true
type RouteList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Route `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Route{}, &RouteList{})
}
