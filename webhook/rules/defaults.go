package rules

import (
	corev1 "k8s.io/api/core/v1"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

// Defaults are the values the mutating webhook fills into a TransitGateway.
type Defaults struct {
	// RouterImage is the image of the routing container (crpdContainer) when the user
	// gives none.
	RouterImage string
}

// Container names gsi gives the router pod's containers when the user names none.
const (
	CrpdContainerName       = "crpd"
	ControllerContainerName = "controller"
	InitContainerName       = "init"
)

// DefaultTransitGateway fills what a user may leave out. old is the stored object on an
// update (nil on create): an omitted peerASN keeps its stored value, because it is
// immutable and re-defaulting it to transitASN would turn a harmless re-apply into a
// refused change.
func DefaultTransitGateway(tgw, old *gsiv1.TransitGateway, d Defaults) {
	s := &tgw.Spec
	if s.ConnectedPeerScale == 0 {
		s.ConnectedPeerScale = 1
	}
	if s.PeerASN == nil {
		asn := s.TransitASN
		if old != nil && old.Spec.PeerASN != nil {
			asn = *old.Spec.PeerASN
		}
		s.PeerASN = &asn
	}
	if s.LicenseSecretName == "" {
		s.LicenseSecretName = gsiv1.DefaultLicenseSecretName
	}
	if s.ControlNodeASN == 0 {
		s.ControlNodeASN = gsiv1.DefaultControlNodeASN
	}
	if s.CrpdContainer == nil {
		s.CrpdContainer = &corev1.Container{}
	}
	defaultContainer(s.CrpdContainer, CrpdContainerName, d.RouterImage)
	if s.ControllerContainer != nil {
		defaultContainer(s.ControllerContainer, ControllerContainerName, "")
	}
	if s.InitContainer != nil {
		defaultContainer(s.InitContainer, InitContainerName, "")
	}
}

func defaultContainer(c *corev1.Container, name, image string) {
	if c.Name == "" {
		c.Name = name
	}
	if c.Image == "" && image != "" {
		c.Image = image
	}
}
