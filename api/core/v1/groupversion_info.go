// Package v1 holds the gsi API of group core.gsi.juniper.net, compatible with the
// manifests CN2 documents for its Gateway Service Instance.
// +kubebuilder:object:generate=true
// +groupName=core.gsi.juniper.net
package v1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "core.gsi.juniper.net", Version: "v1"}

	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group and version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
