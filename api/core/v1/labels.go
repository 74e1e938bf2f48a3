package v1

// Well-known names shared by the controller, the webhook, the router and the plugin.
const (
	// ExposeLabel on a CN2 VirtualNetwork names the TransitGateway (in the gsi
	// namespace) that the VN's subnet is exposed through.
	ExposeLabel = "core.gsi.juniper.net/expose"
	// CRPDNodeLabel marks the nodes reserved for router pods; CN2's own pods stay off them.
	CRPDNodeLabel = "core.juniper.net/crpd-node"
	// LicenseSecretKey is the key of the license in the Secret named by
	// spec.licenseSecretName.
	LicenseSecretKey = "crpd-license"
	// DefaultNamespace is where the GSI and its TransitGateways live.
	DefaultNamespace = "contrail-gsi"
	// DefaultLicenseSecretName is the Secret name the CN2 documentation uses.
	DefaultLicenseSecretName = "crpd-license"
	// DefaultControlNodeASN is CN2's default autonomous system.
	DefaultControlNodeASN = 64512

	// TransitGatewayLabel on ConnectedPeers, Routes and router pods names their
	// TransitGateway.
	TransitGatewayLabel = "core.gsi.juniper.net/transit-gateway"
	// PeerIndexLabel on ConnectedPeers and router pods gives the peer's index.
	PeerIndexLabel = "core.gsi.juniper.net/peer-index"
	// RouterPodAppLabel is the app label of router pods, as the CN2 guide's
	// troubleshooting commands expect (`-l app=connectedpeer`).
	RouterPodAppLabel = "connectedpeer"

	// Finalizer keeps an object until its AWS and cluster resources are gone.
	Finalizer = "core.gsi.juniper.net/cleanup"
)

// Condition types used across the API.
const (
	// ConditionReady is true when the object does everything it is for.
	ConditionReady = "Ready"
	// ConditionAWSReady is true when the AWS resources the object owns are available.
	ConditionAWSReady = "AWSReady"
	// ConditionPeersReady is true when every connected peer is ready.
	ConditionPeersReady = "PeersReady"
	// ConditionRouterReady is true when the router pod runs on a crpd node.
	ConditionRouterReady = "RouterReady"
	// ConditionBGPEstablished is true when the router's BGP sessions are established.
	ConditionBGPEstablished = "BGPEstablished"
	// ConditionProgrammed is true when a Route is in every VPC route table and the
	// security group.
	ConditionProgrammed = "Programmed"
	// ConditionLicensed is true when the license Secret exists and is not empty.
	ConditionLicensed = "Licensed"
)
