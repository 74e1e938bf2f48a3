// Command crdtrim removes the descriptions inside the Kubernetes types our CRDs embed
// (containers, tolerations). Those descriptions are Kubernetes' own and already shown by
// `kubectl explain pod.spec.containers`; keeping three copies makes the TransitGateway
// CRD larger than the 256 KiB that client-side `kubectl apply` can annotate.
// Our own fields keep their descriptions, reflowed.
//
// Usage: crdtrim FILE...   (rewrites each CRD file in place)
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// embedded are the property names whose schemas are copies of core Kubernetes types.
var embedded = map[string]bool{
	"controllerContainer": true,
	"crpdContainer":       true,
	"initContainer":       true,
	"containers":          true,
	"initContainers":      true,
	"tolerations":         true,
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: crdtrim FILE...")
		os.Exit(2)
	}
	for _, path := range os.Args[1:] {
		if err := trimFile(path); err != nil {
			fmt.Fprintf(os.Stderr, "crdtrim: %v\n", err)
			os.Exit(1)
		}
	}
}

func trimFile(path string) error {
	in, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading CRD: %w", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(in, &crd); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for i := range crd.Spec.Versions {
		if s := crd.Spec.Versions[i].Schema; s != nil && s.OpenAPIV3Schema != nil {
			walk(s.OpenAPIV3Schema, false)
		}
	}
	out, err := marshalWithoutStatus(&crd)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	// controller-gen's files start with a document marker; keep it so diffs stay small
	return os.WriteFile(path, append([]byte("---\n"), out...), 0o644)
}

// marshalWithoutStatus renders the CRD as controller-gen does: no status, no empty
// creationTimestamp.
func marshalWithoutStatus(crd *apiextensionsv1.CustomResourceDefinition) ([]byte, error) {
	j, err := json.Marshal(crd)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if meta, ok := m["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	return yaml.Marshal(m)
}

// reflow joins the lines of each paragraph: Go comments wrap at 90 columns and
// `kubectl explain` wraps again at 80, which leaves ragged half-lines.
func reflow(d string) string {
	paras := strings.Split(d, "\n\n")
	for i, p := range paras {
		paras[i] = strings.Join(strings.Fields(p), " ")
	}
	return strings.Join(paras, "\n\n")
}

// walk strips descriptions below embedded properties; inside says we are below one.
func walk(s *apiextensionsv1.JSONSchemaProps, inside bool) {
	if inside {
		s.Description = ""
	}
	s.Description = reflow(s.Description)
	for name, p := range s.Properties {
		walk(&p, inside || embedded[name])
		if embedded[name] && !inside {
			// the embedding field keeps its own description
			p.Description = reflow(s.Properties[name].Description)
		}
		s.Properties[name] = p
	}
	if s.Items != nil && s.Items.Schema != nil {
		walk(s.Items.Schema, inside)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		walk(s.AdditionalProperties.Schema, inside)
	}
}
