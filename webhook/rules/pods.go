package rules

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

// DefaultCN2Namespaces are where CN2 runs its own pods: the vRouter, control node and
// kube-manager (contrail), its API server and controllers (contrail-system), and its
// deployer (contrail-deploy).
var DefaultCN2Namespaces = []string{"contrail", "contrail-system", "contrail-deploy"}

// RequiredTermsPath is where a pod's required node affinity lives.
var RequiredTermsPath = field.NewPath("spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")

// IsRouterPod reports a gsi router pod (label app=connectedpeer, as the CN2 guide's
// troubleshooting commands select them).
func IsRouterPod(labels map[string]string) bool {
	return labels["app"] == gsiv1.RouterPodAppLabel
}

// IsCN2Pod reports one of CN2's own pods: any pod in a CN2 namespace that is not a gsi
// router pod. The namespace is the robust signal: CN2's components change their labels
// between releases, but always run in their own namespaces.
func IsCN2Pod(namespace string, labels map[string]string, cn2Namespaces []string) bool {
	return slices.Contains(cn2Namespaces, namespace) && !IsRouterPod(labels)
}

func requiredTerms(spec *corev1.PodSpec) *[]corev1.NodeSelectorTerm {
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := spec.Affinity.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	return &na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
}

// crpdExpr returns the first expression on the crpd-node label in term.
func crpdExpr(term corev1.NodeSelectorTerm) (corev1.NodeSelectorRequirement, bool) {
	for _, e := range term.MatchExpressions {
		if e.Key == gsiv1.CRPDNodeLabel {
			return e, true
		}
	}
	return corev1.NodeSelectorRequirement{}, false
}

// requireOnEveryTerm adds req to every node selector term that says nothing about the
// crpd-node label (terms are ORed, so each one must carry it), or creates the one term.
// Terms that already mention the label are left as their author wrote them.
func requireOnEveryTerm(spec *corev1.PodSpec, req corev1.NodeSelectorRequirement) bool {
	terms := requiredTerms(spec)
	if len(*terms) == 0 {
		*terms = []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{req}}}
		return true
	}
	changed := false
	for i := range *terms {
		if _, ok := crpdExpr((*terms)[i]); !ok {
			(*terms)[i].MatchExpressions = append((*terms)[i].MatchExpressions, req)
			changed = true
		}
	}
	return changed
}

// EnsureOnCRPDNodes gives a router pod the required node affinity on crpd nodes.
func EnsureOnCRPDNodes(spec *corev1.PodSpec) bool {
	return requireOnEveryTerm(spec, corev1.NodeSelectorRequirement{Key: gsiv1.CRPDNodeLabel, Operator: corev1.NodeSelectorOpExists})
}

// EnsureOffCRPDNodes gives a CN2 pod the required node affinity that keeps it off crpd
// nodes, as the CN2 guide promises ("none of the CN2 controllers, including the vRouter,
// will run on this node").
func EnsureOffCRPDNodes(spec *corev1.PodSpec) bool {
	return requireOnEveryTerm(spec, corev1.NodeSelectorRequirement{Key: gsiv1.CRPDNodeLabel, Operator: corev1.NodeSelectorOpDoesNotExist})
}

// ValidateRouterPodPlacement refuses a router pod that could be scheduled off a crpd
// node: every required node selector term must select the crpd-node label (Exists, or In).
func ValidateRouterPodPlacement(spec *corev1.PodSpec) field.ErrorList {
	const rule = "a router pod must run on a node labelled " + gsiv1.CRPDNodeLabel + " (GRE from the transit gateway arrives there, and CN2's vRouter is kept off it): every required node selector term needs " + gsiv1.CRPDNodeLabel + " Exists"
	var terms []corev1.NodeSelectorTerm
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		terms = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	}
	if len(terms) == 0 {
		return field.ErrorList{field.Required(RequiredTermsPath, rule)}
	}
	var errs field.ErrorList
	for i, t := range terms {
		e, ok := crpdExpr(t)
		switch {
		case !ok:
			errs = append(errs, field.Invalid(RequiredTermsPath.Index(i), "no "+gsiv1.CRPDNodeLabel+" requirement", rule))
		case e.Operator != corev1.NodeSelectorOpExists && e.Operator != corev1.NodeSelectorOpIn:
			errs = append(errs, field.Invalid(RequiredTermsPath.Index(i), gsiv1.CRPDNodeLabel+" "+string(e.Operator), rule))
		}
	}
	return errs
}
