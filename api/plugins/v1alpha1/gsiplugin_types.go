package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CommonConfiguration is the pod template shared by the GSI's controller pods, in the
// shape CN2's deployer uses for its components.
type CommonConfiguration struct {
	// Containers of the controller pod; the first is the gsi controller.
	// +optional
	Containers []corev1.Container `json:"containers,omitempty"`
	// InitContainers of the controller pod.
	// +optional
	InitContainers []corev1.Container `json:"initContainers,omitempty"`
	// ServiceAccountName is the service account the controller runs as; with IRSA it
	// carries the eks.amazonaws.com/role-arn annotation for iamRoleARN.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// NodeSelector constrains the controller pods to matching nodes.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations of the controller pods.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
}

// GSIPluginSpec is the cluster's AWS context for the Gateway Service Instance.
type GSIPluginSpec struct {
	// AWSRegion is the AWS region of the EKS cluster and its VPC, such as us-east-2.
	// +kubebuilder:validation:Pattern=`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$`
	AWSRegion string `json:"awsRegion"`
	// IAMRoleARN is the IAM role the controller assumes (through IRSA) to manage the
	// transit gateway, attachments, Connect peers, VPC routes and security group.
	// +kubebuilder:validation:Pattern=`^arn:aws[a-zA-Z-]*:iam::`
	// +optional
	IAMRoleARN string `json:"iamRoleARN,omitempty"`
	// VPCID is the EKS cluster's VPC (vpc-...), attached to every transit gateway.
	// +kubebuilder:validation:Pattern=`^vpc-([0-9a-f]{8}|[0-9a-f]{17})$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="is immutable: transit gateways are attached to this VPC; reinstall the GSI to move it"
	VPCID string `json:"vpcID"`
	// Common is the controller pods' template.
	// +optional
	Common CommonConfiguration `json:"common,omitempty"`
}

// GSIPluginStatus is what the controller learned about the VPC.
type GSIPluginStatus struct {
	// VPCCIDRs are the VPC's IPv4 CIDR blocks; exposed networks and transit CIDRs must
	// not overlap them.
	// +optional
	VPCCIDRs []string `json:"vpcCIDRs,omitempty"`
	// RouteTableIDs are the VPC's route tables, which receive a route per exposed network.
	// +optional
	RouteTableIDs []string `json:"routeTableIDs,omitempty"`
	// ObservedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready (the VPC was described successfully).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// GSIPlugin installs the Gateway Service Instance in a cluster: the AWS region, VPC and
// IAM role its controller works with.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gsip,categories=gsi
// +kubebuilder:printcolumn:name="Region",type=string,JSONPath=`.spec.awsRegion`
// +kubebuilder:printcolumn:name="VPC",type=string,JSONPath=`.spec.vpcID`
// +kubebuilder:printcolumn:name="VPC-CIDRs",type=string,JSONPath=`.status.vpcCIDRs`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GSIPlugin struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   GSIPluginSpec   `json:"spec"`
	Status GSIPluginStatus `json:"status,omitempty"`
}

// GSIPluginList is a list of GSIPlugins.
// +kubebuilder:object:root=true
type GSIPluginList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GSIPlugin `json:"items"`
}

func init() {
	SchemeBuilder.Register(&GSIPlugin{}, &GSIPluginList{})
}
