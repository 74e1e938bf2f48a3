package rules

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

// LicenseKeyPath is the Secret key holding the router license.
var LicenseKeyPath = field.NewPath("data").Key(gsiv1.LicenseSecretKey)

// ValidateLicenseSecretChange refuses deleting (newData nil and deleted) or emptying a
// license Secret that TransitGateways still use. users are "namespace/name" of the
// TransitGateways naming the Secret that are not being deleted themselves.
func ValidateLicenseSecretChange(secret string, deleted bool, newData map[string][]byte, users []string) field.ErrorList {
	if len(users) == 0 {
		return nil
	}
	who := "TransitGateway " + strings.Join(users, ", TransitGateway ")
	if deleted {
		return field.ErrorList{field.Forbidden(field.NewPath("metadata", "name"), fmt.Sprintf("Secret %s holds the router license of %s: delete the TransitGateway first, or point its spec.licenseSecretName at another Secret", secret, who))}
	}
	v, ok := newData[gsiv1.LicenseSecretKey]
	switch {
	case !ok:
		return field.ErrorList{field.Required(LicenseKeyPath, fmt.Sprintf("Secret %s holds the router license of %s: the key cannot be removed while it is in use", secret, who))}
	case len(v) == 0:
		return field.ErrorList{field.Invalid(LicenseKeyPath, "", fmt.Sprintf("Secret %s holds the router license of %s: the license cannot be emptied while it is in use", secret, who))}
	}
	return nil
}
