package admit

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
	"github.com/opengsi/gsi/webhook/rules"
)

// +kubebuilder:rbac:groups=core.gsi.juniper.net,resources=transitgateways,verbs=get;list
// +kubebuilder:rbac:groups=plugins.juniper.net,resources=gsiplugins,verbs=list
// Secrets are read only in the gsi namespace: a TransitGateway elsewhere gets a warning
// instead of a license check unless gsi-webhook is granted get on that namespace's Secrets.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get,namespace=contrail-gsi

var tgwKind = schema.GroupKind{Group: gsiv1.GroupVersion.Group, Kind: "TransitGateway"}

type tgwDefaulter struct{ c Config }

// Default fills what users may leave out; on an update the stored object decides the
// peer ASN (see rules.DefaultTransitGateway).
func (d *tgwDefaulter) Default(ctx context.Context, tgw *gsiv1.TransitGateway) error {
	if tgw.DeletionTimestamp != nil {
		return nil // the controller's last updates (finalizer removal) go through as sent
	}
	var old *gsiv1.TransitGateway
	if req, err := admission.RequestFromContext(ctx); err == nil && len(req.OldObject.Raw) > 0 {
		old = &gsiv1.TransitGateway{}
		if err := admission.NewDecoder(d.c.Scheme).DecodeRaw(req.OldObject, old); err != nil {
			return fmt.Errorf("decoding the stored TransitGateway: %w", err)
		}
	}
	rules.DefaultTransitGateway(tgw, old, d.c.Defaults)
	return nil
}

type tgwValidator struct{ c Config }

func (v *tgwValidator) ValidateCreate(ctx context.Context, tgw *gsiv1.TransitGateway) (admission.Warnings, error) {
	facts, warns, err := v.facts(ctx, tgw, true)
	if err != nil {
		return nil, err
	}
	errs, w := rules.ValidateTransitGateway(tgw, facts)
	return append(warns, w...), invalid(v.c.Log, "transitgateway", tgwKind, tgw.Name, errs)
}

// ValidateUpdate checks immutability always, and the whole spec only when the spec
// changes: metadata-only updates (the controller's finalizer, labels) and anything on a
// TransitGateway being deleted pass, so a rule that became false later (a VPC CIDR
// added) can never wedge a deletion.
func (v *tgwValidator) ValidateUpdate(ctx context.Context, old, tgw *gsiv1.TransitGateway) (admission.Warnings, error) {
	if tgw.DeletionTimestamp != nil {
		return nil, nil
	}
	errs := rules.ValidateTransitGatewayUpdate(old, tgw)
	var warns admission.Warnings
	if !equality.Semantic.DeepEqual(old.Spec, tgw.Spec) {
		checkLicense := rules.LicenseSecretName(old.Spec) != rules.LicenseSecretName(tgw.Spec)
		facts, w, err := v.facts(ctx, tgw, checkLicense)
		if err != nil {
			return nil, err
		}
		more, w2 := rules.ValidateTransitGateway(tgw, facts)
		errs, warns = append(errs, more...), append(w, w2...)
	}
	return warns, invalid(v.c.Log, "transitgateway", tgwKind, tgw.Name, errs)
}

func (v *tgwValidator) ValidateDelete(context.Context, *gsiv1.TransitGateway) (admission.Warnings, error) {
	return nil, nil
}

// facts reads the VPC's CIDRs, the other TransitGateways and, if asked, the license.
func (v *tgwValidator) facts(ctx context.Context, tgw *gsiv1.TransitGateway, checkLicense bool) (rules.Facts, admission.Warnings, error) {
	var f rules.Facts
	var warns admission.Warnings
	vpc, err := vpcPrefixes(ctx, v.c.Reader)
	if err != nil {
		return f, nil, err
	}
	if len(vpc) == 0 {
		warns = append(warns, "the VPC's CIDRs are not known yet (no GSIPlugin reports status.vpcCIDRs): spec.transitCIDR was not checked against the VPC")
	}
	f.VPC = vpc
	list := &gsiv1.TransitGatewayList{}
	if err := v.c.Reader.List(ctx, list); err != nil {
		return f, nil, fmt.Errorf("listing TransitGateways: %w", err)
	}
	for _, o := range list.Items {
		if o.Namespace == tgw.Namespace && o.Name == tgw.Name {
			continue
		}
		f.Others = append(f.Others, rules.TransitGatewayRef{Namespace: o.Namespace, Name: o.Name, TransitCIDR: o.Spec.TransitCIDR, BgpCidr: o.Spec.BgpCidr, Scale: rules.EffectiveScale(o.Spec)})
	}
	if checkLicense {
		name := rules.LicenseSecretName(tgw.Spec)
		l, err := license(ctx, v.c.Reader, tgw.Namespace, name)
		switch {
		case apierrors.IsForbidden(err):
			warns = append(warns, fmt.Sprintf("spec.licenseSecretName: gsi-webhook may not read Secrets in %s, so Secret %s was not checked (grant it get on secrets there)", tgw.Namespace, name))
		case err != nil:
			return f, nil, err
		default:
			f.License = l
		}
	}
	return f, warns, nil
}

// vpcPrefixes reads the VPC's CIDRs from every GSIPlugin's status.
func vpcPrefixes(ctx context.Context, r client.Reader) ([]rules.NamedPrefix, error) {
	list := &pluginsv1alpha1.GSIPluginList{}
	if err := r.List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing GSIPlugins for the VPC's CIDRs: %w", err)
	}
	var out []rules.NamedPrefix
	for _, p := range list.Items {
		for _, s := range p.Status.VPCCIDRs {
			if pfx, err := netip.ParsePrefix(s); err == nil {
				out = append(out, rules.NamedPrefix{Prefix: pfx.Masked(), Owner: fmt.Sprintf("VPC %s's CIDR", p.Spec.VPCID)})
			}
		}
	}
	return out, nil
}

func license(ctx context.Context, r client.Reader, namespace, name string) (*rules.License, error) {
	s := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s)
	if apierrors.IsNotFound(err) {
		return &rules.License{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading license Secret %s/%s: %w", namespace, name, err)
	}
	v, ok := s.Data[gsiv1.LicenseSecretKey]
	return &rules.License{Found: true, HasKey: ok, Empty: len(v) == 0}, nil
}
