package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// installManifests applies manifests/ as a user would, with one change the demo needs:
// there is no Service network, so the webhook configurations call the locally running
// webhook by URL instead of through its Service.
func (d *demo) installManifests(ctx context.Context, webhookBase string) error {
	rendered, err := d.kubectlOutput(ctx, "kustomize", "manifests")
	if err != nil {
		return err
	}
	docs, err := pointWebhooksAt(rendered, webhookBase)
	if err != nil {
		return err
	}
	return d.kubectlStdin(ctx, docs, "apply", "-f", "-")
}

// pointWebhooksAt rewrites every webhook's clientConfig.service into a URL under base.
func pointWebhooksAt(rendered, base string) (string, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(rendered)))
	var out bytes.Buffer
	for {
		doc, err := r.Read()
		if err != nil {
			break
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return "", fmt.Errorf("reading rendered manifests: %w", err)
		}
		if k := u.GetKind(); k == "MutatingWebhookConfiguration" || k == "ValidatingWebhookConfiguration" {
			if err := rewriteClientConfigs(u, base); err != nil {
				return "", err
			}
		}
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			return "", err
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	return out.String(), nil
}

func rewriteClientConfigs(u *unstructured.Unstructured, base string) error {
	hooks, _, err := unstructured.NestedSlice(u.Object, "webhooks")
	if err != nil {
		return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
	}
	for i, h := range hooks {
		m, ok := h.(map[string]any)
		if !ok {
			continue
		}
		path, _, _ := unstructured.NestedString(m, "clientConfig", "service", "path")
		unstructured.RemoveNestedField(m, "clientConfig", "service")
		if err := unstructured.SetNestedField(m, base+path, "clientConfig", "url"); err != nil {
			return err
		}
		hooks[i] = m
	}
	return unstructured.SetNestedSlice(u.Object, hooks, "webhooks")
}
