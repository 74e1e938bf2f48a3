package admit

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/webhook/rules"
)

var secretKind = schema.GroupKind{Kind: "Secret"}

// licenseValidator refuses deleting or emptying a license Secret in use. The webhook
// configuration only sends Secrets whose stored version has a crpd-license key.
type licenseValidator struct{ c Config }

func (v *licenseValidator) ValidateCreate(context.Context, *corev1.Secret) (admission.Warnings, error) {
	return nil, nil
}

func (v *licenseValidator) ValidateUpdate(ctx context.Context, old, s *corev1.Secret) (admission.Warnings, error) {
	if len(old.Data[gsiv1.LicenseSecretKey]) == 0 {
		return nil, nil // it held no license: nothing to protect
	}
	if len(s.Data[gsiv1.LicenseSecretKey]) > 0 {
		return nil, nil // replaced by another license
	}
	return v.check(ctx, s, false)
}

func (v *licenseValidator) ValidateDelete(ctx context.Context, s *corev1.Secret) (admission.Warnings, error) {
	return v.check(ctx, s, true)
}

func (v *licenseValidator) check(ctx context.Context, s *corev1.Secret, deleted bool) (admission.Warnings, error) {
	users, err := licenseUsers(ctx, v.c.Reader, s.Namespace, s.Name)
	if err != nil {
		return nil, err
	}
	errs := rules.ValidateLicenseSecretChange(s.Namespace+"/"+s.Name, deleted, s.Data, users)
	return nil, invalid(v.c.Log, "license-secret", secretKind, s.Name, errs)
}

// licenseUsers lists the TransitGateways of namespace that use Secret name and are not
// being deleted.
func licenseUsers(ctx context.Context, r client.Reader, namespace, name string) ([]string, error) {
	list := &gsiv1.TransitGatewayList{}
	if err := r.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing the TransitGateways of %s: %w", namespace, err)
	}
	var users []string
	for _, t := range list.Items {
		if t.DeletionTimestamp == nil && rules.LicenseSecretName(t.Spec) == name {
			users = append(users, t.Namespace+"/"+t.Name)
		}
	}
	return users, nil
}
