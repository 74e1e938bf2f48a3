package rules

import (
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/util/validation/field"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

// Exposure is a VirtualNetwork labelled for a TransitGateway, with what the admission
// handler found about it.
type Exposure struct {
	// VN is "namespace/name" of the VirtualNetwork.
	VN string
	// TransitGateway is the label's value; TransitGatewayNamespace where it must live.
	TransitGateway, TransitGatewayNamespace string
	// Target is the TransitGateway found, nil when there is none.
	Target *gsiv1.TransitGateway
	// SubnetRef is "namespace/name" of the VN's Subnet ("" when the VN has none).
	SubnetRef string
	// Subnet is the VN's IPv4 subnet; SubnetErr says why it could not be read.
	Subnet    netip.Prefix
	SubnetErr error
	// VPC are the VPC's IPv4 blocks (GSIPlugin status.vpcCIDRs).
	VPC []NamedPrefix
	// Exposed are the subnets of the other exposed VirtualNetworks.
	Exposed []NamedPrefix
}

// ExposeLabelPath is the field path of the expose label.
var ExposeLabelPath = field.NewPath("metadata", "labels").Key(gsiv1.ExposeLabel)

// SubnetPath is where a CN2 VirtualNetwork names its IPv4 subnet.
var SubnetPath = field.NewPath("spec", "v4SubnetReference")

// ValidateExposure checks that a VN may be routed into the VPC through the named
// TransitGateway.
func ValidateExposure(e Exposure) field.ErrorList {
	var errs field.ErrorList
	switch {
	case e.TransitGateway == "":
		errs = append(errs, field.Invalid(ExposeLabelPath, e.TransitGateway, "must name the TransitGateway to expose this network through"))
	case e.Target == nil:
		errs = append(errs, field.Invalid(ExposeLabelPath, e.TransitGateway, fmt.Sprintf("there is no TransitGateway %s/%s to expose %s through (kubectl get transitgateways -n %s)", e.TransitGatewayNamespace, e.TransitGateway, e.VN, e.TransitGatewayNamespace)))
	case e.Target.DeletionTimestamp != nil:
		errs = append(errs, field.Invalid(ExposeLabelPath, e.TransitGateway, fmt.Sprintf("TransitGateway %s/%s is being deleted", e.TransitGatewayNamespace, e.TransitGateway)))
	}
	if e.SubnetErr != nil || !e.Subnet.IsValid() {
		why := "the network has no IPv4 subnet to route"
		if e.SubnetErr != nil {
			why = e.SubnetErr.Error()
		}
		return append(errs, field.Invalid(SubnetPath, e.SubnetRef, "cannot expose "+e.VN+": "+why))
	}
	value := fmt.Sprintf("%s (%s)", e.SubnetRef, e.Subnet)
	if !e.Subnet.Addr().Is4() {
		return append(errs, field.Invalid(SubnetPath, value, "is not IPv4: gsi routes IPv4 virtual networks into the VPC"))
	}
	if e.Subnet.Overlaps(LinkLocal) {
		errs = append(errs, field.Invalid(SubnetPath, value, "overlaps 169.254.0.0/16, the link-local range AWS keeps for BGP inside addresses and instance metadata; it cannot be routed in a VPC"))
	}
	if o, ok := FirstOverlap(e.Subnet, e.VPC); ok {
		errs = append(errs, field.Invalid(SubnetPath, value, fmt.Sprintf("overlaps %s %s: the VPC would keep its local route and never send this traffic to the transit gateway", o.Owner, o.Prefix)))
	}
	if e.Target != nil {
		if tc, err := ParseIPv4CIDR(e.Target.Spec.TransitCIDR); err == nil && tc.Overlaps(e.Subnet) {
			errs = append(errs, field.Invalid(SubnetPath, value, fmt.Sprintf("overlaps the transitCIDR %s of TransitGateway %s/%s, which carries the GRE tunnels", tc, e.Target.Namespace, e.Target.Name)))
		}
	}
	if o, ok := FirstOverlap(e.Subnet, e.Exposed); ok {
		errs = append(errs, field.Invalid(SubnetPath, value, fmt.Sprintf("overlaps %s (%s), already exposed: the VPC route table can send a prefix to one place only", o.Owner, o.Prefix)))
	}
	return errs
}
