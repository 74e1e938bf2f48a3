package admit

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/opengsi/gsi/api/cn2"
	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/webhook/rules"
)

// +kubebuilder:rbac:groups=core.contrail.juniper.net,resources=virtualnetworks,verbs=list
// +kubebuilder:rbac:groups=core.contrail.juniper.net,resources=subnets,verbs=get

type exposureValidator struct {
	c   Config
	cn2 *cn2.Reader
}

func newExposureWebhook(c Config) *admission.Webhook {
	v := &exposureValidator{c: c, cn2: &cn2.Reader{Client: c.Reader, Mapper: c.Mapper}}
	return admission.WithValidator[*unstructured.Unstructured](c.Scheme, v)
}

func (v *exposureValidator) ValidateCreate(ctx context.Context, vn *unstructured.Unstructured) (admission.Warnings, error) {
	if _, ok := vn.GetLabels()[gsiv1.ExposeLabel]; !ok {
		return nil, nil
	}
	return nil, v.validate(ctx, vn)
}

// ValidateUpdate checks only when the expose label appears or names another
// TransitGateway; CN2's own updates of an exposed network pass untouched.
func (v *exposureValidator) ValidateUpdate(ctx context.Context, old, vn *unstructured.Unstructured) (admission.Warnings, error) {
	cur, ok := vn.GetLabels()[gsiv1.ExposeLabel]
	if !ok {
		return nil, nil
	}
	if prev, had := old.GetLabels()[gsiv1.ExposeLabel]; had && prev == cur {
		return nil, nil
	}
	return nil, v.validate(ctx, vn)
}

func (v *exposureValidator) ValidateDelete(context.Context, *unstructured.Unstructured) (admission.Warnings, error) {
	return nil, nil
}

func (v *exposureValidator) validate(ctx context.Context, obj *unstructured.Unstructured) error {
	vn := cn2.VirtualNetworkFrom(obj)
	if vn.Namespace == "" {
		if req, err := admission.RequestFromContext(ctx); err == nil {
			vn.Namespace = req.Namespace
			if vn.SubnetNamespace == "" {
				vn.SubnetNamespace = req.Namespace
			}
		}
	}
	e := rules.Exposure{
		VN:                      vn.Namespace + "/" + vn.Name,
		TransitGateway:          obj.GetLabels()[gsiv1.ExposeLabel],
		TransitGatewayNamespace: v.c.GSINamespace,
	}
	if vn.SubnetName != "" {
		e.SubnetRef = vn.SubnetNamespace + "/" + vn.SubnetName
	}
	if err := v.target(ctx, &e); err != nil {
		return err
	}
	e.Subnet, e.SubnetErr = v.cn2.SubnetCIDR(ctx, vn)
	var err error
	if e.VPC, err = vpcPrefixes(ctx, v.c.Reader); err != nil {
		return err
	}
	if e.Exposed, err = v.exposed(ctx, vn); err != nil {
		return err
	}
	return invalid(v.c.Log, "exposure", cn2.GroupKind(cn2.KindVirtualNetwork), vn.Name, rules.ValidateExposure(e))
}

func (v *exposureValidator) target(ctx context.Context, e *rules.Exposure) error {
	if e.TransitGateway == "" {
		return nil
	}
	tgw := &gsiv1.TransitGateway{}
	err := v.c.Reader.Get(ctx, client.ObjectKey{Namespace: e.TransitGatewayNamespace, Name: e.TransitGateway}, tgw)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading TransitGateway %s/%s: %w", e.TransitGatewayNamespace, e.TransitGateway, err)
	}
	e.Target = tgw
	return nil
}

// exposed returns the subnets of the other exposed networks (those whose subnet cannot
// be read are the controller's concern, not this request's).
func (v *exposureValidator) exposed(ctx context.Context, self cn2.VirtualNetwork) ([]rules.NamedPrefix, error) {
	vns, err := v.cn2.ListVirtualNetworks(ctx, client.HasLabels{gsiv1.ExposeLabel})
	if err != nil {
		return nil, err
	}
	var out []rules.NamedPrefix
	for _, o := range vns {
		if o.Namespace == self.Namespace && o.Name == self.Name {
			continue
		}
		if p, err := v.cn2.SubnetCIDR(ctx, o); err == nil {
			out = append(out, rules.NamedPrefix{Prefix: p, Owner: "VirtualNetwork " + o.Namespace + "/" + o.Name})
		}
	}
	return out, nil
}
