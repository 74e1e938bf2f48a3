package serve

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"
)

// LocalConfigurations reads the webhook configurations of manifests/webhook/webhooks.yaml
// and points every webhook at base (e.g. https://127.0.0.1:9443) instead of the
// in-cluster Service, without a caBundle: for an API server outside a cluster (tests,
// `make demo`) talking to gsi-webhook run with --host, --port and --cert-ips, which then
// patches the caBundle in as usual.
func LocalConfigurations(manifest []byte, base string) ([]client.Object, error) {
	var out []client.Object
	r := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifest)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading webhook configurations: %w", err)
		}
		var tm metav1.TypeMeta
		if err := sigsyaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("reading webhook configurations: %w", err)
		}
		switch tm.Kind {
		case "MutatingWebhookConfiguration":
			m := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := sigsyaml.UnmarshalStrict(doc, m); err != nil {
				return nil, fmt.Errorf("reading MutatingWebhookConfiguration: %w", err)
			}
			for i := range m.Webhooks {
				toURL(&m.Webhooks[i].ClientConfig, base)
			}
			out = append(out, m)
		case "ValidatingWebhookConfiguration":
			v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := sigsyaml.UnmarshalStrict(doc, v); err != nil {
				return nil, fmt.Errorf("reading ValidatingWebhookConfiguration: %w", err)
			}
			for i := range v.Webhooks {
				toURL(&v.Webhooks[i].ClientConfig, base)
			}
			out = append(out, v)
		}
	}
}

func toURL(cc *admissionregistrationv1.WebhookClientConfig, base string) {
	path := ""
	if cc.Service != nil && cc.Service.Path != nil {
		path = *cc.Service.Path
	}
	url := base + path
	cc.URL, cc.Service, cc.CABundle = &url, nil, nil
}
