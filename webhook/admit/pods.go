package admit

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/opengsi/gsi/webhook/rules"
)

var podKind = schema.GroupKind{Kind: "Pod"}

// routerPodDefaulter puts router pods (app=connectedpeer) on crpd nodes.
type routerPodDefaulter struct{}

func (routerPodDefaulter) Default(_ context.Context, pod *corev1.Pod) error {
	if rules.IsRouterPod(pod.Labels) {
		rules.EnsureOnCRPDNodes(&pod.Spec)
	}
	return nil
}

// routerPodValidator refuses a router pod that could land off a crpd node (one whose
// affinity contradicts the requirement, which the defaulter leaves as written).
type routerPodValidator struct{ c Config }

func (v *routerPodValidator) ValidateCreate(_ context.Context, pod *corev1.Pod) (admission.Warnings, error) {
	if !rules.IsRouterPod(pod.Labels) {
		return nil, nil
	}
	return nil, invalid(v.c.Log, "router-pod", podKind, podName(pod), rules.ValidateRouterPodPlacement(&pod.Spec))
}

func (*routerPodValidator) ValidateUpdate(context.Context, *corev1.Pod, *corev1.Pod) (admission.Warnings, error) {
	return nil, nil // a pod's affinity cannot change after creation
}

func (*routerPodValidator) ValidateDelete(context.Context, *corev1.Pod) (admission.Warnings, error) {
	return nil, nil
}

// cn2PodDefaulter keeps CN2's own pods off crpd nodes.
type cn2PodDefaulter struct{ c Config }

func (d *cn2PodDefaulter) Default(ctx context.Context, pod *corev1.Pod) error {
	// Pods made by controllers often arrive without metadata.namespace: the request has it.
	ns := pod.Namespace
	if req, err := admission.RequestFromContext(ctx); err == nil && req.Namespace != "" {
		ns = req.Namespace
	}
	if rules.IsCN2Pod(ns, pod.Labels, d.c.CN2Namespaces) {
		rules.EnsureOffCRPDNodes(&pod.Spec)
	}
	return nil
}

func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName
}
