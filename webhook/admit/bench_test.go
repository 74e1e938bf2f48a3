package admit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
	pluginsv1alpha1 "github.com/opengsi/gsi/api/plugins/v1alpha1"
	"github.com/opengsi/gsi/test/envtest"
)

// latencies collects one duration per operation and reports p50 and p99.
type latencies []time.Duration

func (l *latencies) time(f func()) {
	start := time.Now()
	f()
	*l = append(*l, time.Since(start))
}

func (l latencies) report(b *testing.B, unit time.Duration, name string) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	at := func(p int) float64 { return float64(s[min(len(s)-1, len(s)*p/100)]) / float64(unit) }
	b.ReportMetric(at(50), "p50-"+name)
	b.ReportMetric(at(99), "p99-"+name)
}

// BenchmarkAdmissionThroughAPIServer measures a dry-run create as a client sees it: API
// server, mutating and validating webhooks over TLS (whose handlers read the VPC, the
// other TransitGateways and the license from the API server), schema, no storage. The
// ConfigMap case is the same path without any webhook, for comparison.
func BenchmarkAdmissionThroughAPIServer(b *testing.B) {
	needEnv(b)
	ctx := context.Background()
	ns := fmt.Sprintf("bench-%s", suffix())
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crpd-license"}, Data: map[string][]byte{gsiv1.LicenseSecretKey: []byte("x")}},
		tgw(ns, "existing", "198.18.100.0/24", "169.254.100.0"),
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = env.Client.Delete(ctx, o) }()
	}
	cases := []struct {
		name string
		obj  func() client.Object
	}{
		{"TransitGateway", func() client.Object { return tgw(ns, "bench", "198.18.101.0/24", "169.254.101.0") }},
		{"RouterPod", func() client.Object {
			return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bench-peer-0", Labels: map[string]string{"app": gsiv1.RouterPodAppLabel}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "crpd", Image: "gsi-router"}}}}
		}},
		{"ConfigMapNoWebhook", func() client.Object {
			return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bench"}}
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var l latencies
			for b.Loop() {
				obj := tc.obj()
				l.time(func() {
					if err := env.Client.Create(ctx, obj, client.DryRunAll); err != nil {
						b.Fatal(err)
					}
				})
			}
			l.report(b, time.Millisecond, "ms")
		})
	}
}

// BenchmarkHandler measures the TransitGateway handlers alone: decode, defaulting or the
// rules, encode, with the cluster's facts (VPC, 3 other TransitGateways, license) served
// from memory instead of the API server.
func BenchmarkHandler(b *testing.B) {
	scheme, err := envtest.NewScheme()
	if err != nil {
		b.Fatal(err)
	}
	ns := "contrail-gsi"
	plugin := &pluginsv1alpha1.GSIPlugin{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gsi"}, Status: pluginsv1alpha1.GSIPluginStatus{VPCCIDRs: []string{"10.0.0.0/16"}}}
	objs := []client.Object{plugin, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crpd-license"}, Data: map[string][]byte{gsiv1.LicenseSecretKey: []byte("x")}}}
	for i := range 3 {
		objs = append(objs, tgw(ns, fmt.Sprintf("other-%d", i), fmt.Sprintf("198.51.%d.0/24", i), fmt.Sprintf("169.254.%d.0", 20+i)))
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	hooks := Hooks(Config{Reader: reader, Mapper: reader.RESTMapper(), Scheme: scheme, Log: logr.Discard()})
	raw, err := json.Marshal(tgw(ns, "tgw1", "192.0.2.0/24", "169.254.10.0"))
	if err != nil {
		b.Fatal(err)
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "bench", Operation: admissionv1.Create, Namespace: ns, Name: "tgw1",
		Kind:   metav1.GroupVersionKind{Group: gsiv1.GroupVersion.Group, Version: "v1", Kind: "TransitGateway"},
		Object: runtime.RawExtension{Raw: raw},
	}}
	for _, path := range []string{PathDefaultTransitGateway, PathValidateTransitGateway} {
		b.Run(path[1:], func(b *testing.B) {
			hook := hooks[path]
			var l latencies
			for b.Loop() {
				l.time(func() {
					if resp := hook.Handle(context.Background(), req); !resp.Allowed {
						b.Fatalf("refused: %v", resp.Result)
					}
				})
			}
			l.report(b, time.Microsecond, "µs")
		})
	}
}
