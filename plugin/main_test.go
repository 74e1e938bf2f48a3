package plugin

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	k8scorev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	corev1 "github.com/opengsi/gsi/api/core/v1"
	"github.com/opengsi/gsi/test/envtest"
)

// One API server for the package (TestMain), shared by every test; each test works in
// namespaces of its own so tests do not see each other's objects.
var (
	env      *envtest.Env
	cacheDir string // kubectl's discovery cache, shared by the in-process runs
)

// Cluster-wide objects every fixture relies on: two crpd nodes and a worker, and the two
// CN2 control nodes (BGPRouters) the routers peer with.
const (
	crpdNode0  = "ip-10-0-1-10.us-east-2.compute.internal"
	crpdNode1  = "ip-10-0-1-11.us-east-2.compute.internal"
	workerNode = "ip-10-0-3-20.us-east-2.compute.internal"
	// denyAnnotation makes the test admission webhook refuse exposing the VN, the way
	// gsi's webhook refuses a VN whose subnet overlaps the VPC.
	denyAnnotation = "test.gsi.juniper.net/overlaps-vpc"
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if _, err := envtest.Assets(); err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "plugin tests: %v (run make setup)\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "plugin tests: skipping, %v\n", err)
		return 0
	}
	ctrllog.SetLogger(logr.Discard()) // the test webhook server's logs are noise here
	var err error
	env, err = envtest.StartEnv(envtest.WithWebhooks(webhookOptions()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "plugin tests: %v\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := startWebhook(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "plugin tests: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "gsi-plugin-test-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "plugin tests: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	cacheDir = filepath.Join(dir, "kube-cache")
	if err := seedCluster(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "plugin tests: seeding: %v\n", err)
		return 1
	}
	return m.Run()
}

// webhookOptions registers a validating webhook on VirtualNetwork updates, served by
// startWebhook through the real API server's admission chain.
func webhookOptions() crenvtest.WebhookInstallOptions {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	return crenvtest.WebhookInstallOptions{
		ValidatingWebhooks: []*admissionregistrationv1.ValidatingWebhookConfiguration{{
			ObjectMeta: metav1.ObjectMeta{Name: "gsi-test-virtualnetwork"},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name:                    "vvirtualnetwork.gsi.juniper.net",
				AdmissionReviewVersions: []string{"v1"},
				SideEffects:             &none,
				FailurePolicy:           &fail,
				ClientConfig: admissionregistrationv1.WebhookClientConfig{
					Service: &admissionregistrationv1.ServiceReference{Name: "gsi-webhook", Namespace: "contrail-gsi",
						Path: ptr.To("/validate-virtualnetwork")},
				},
				Rules: []admissionregistrationv1.RuleWithOperations{{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{"core.contrail.juniper.net"},
						APIVersions: []string{"*"}, Resources: []string{"virtualnetworks"}},
				}},
			}},
		}},
	}
}

// startWebhook serves the VirtualNetwork webhook: it refuses the expose label on a VN
// annotated with denyAnnotation, with the message gsi's webhook gives for an overlap.
func startWebhook(ctx context.Context) error {
	o := env.Environment.WebhookInstallOptions
	srv := webhook.NewServer(webhook.Options{Host: o.LocalServingHost, Port: o.LocalServingPort, CertDir: o.LocalServingCertDir})
	srv.Register("/validate-virtualnetwork", &webhook.Admission{Handler: admission.HandlerFunc(
		func(_ context.Context, req admission.Request) admission.Response {
			var vn unstructured.Unstructured
			if err := vn.UnmarshalJSON(req.Object.Raw); err != nil {
				return admission.Errored(http.StatusBadRequest, err)
			}
			tgw, exposed := vn.GetLabels()[corev1.ExposeLabel]
			vpc, overlaps := vn.GetAnnotations()[denyAnnotation]
			if exposed && overlaps {
				return refuseLikeGSI(&vn, tgw, vpc)
			}
			return admission.Allowed("")
		})})
	errs := make(chan error, 1)
	go func() { errs <- srv.Start(ctx) }()
	check := srv.StartedChecker()
	deadline := time.Now().Add(30 * time.Second)
	for check(nil) != nil {
		select {
		case err := <-errs:
			return fmt.Errorf("webhook server: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook server did not start")
		}
	}
	return nil
}

// refuseLikeGSI answers as gsi's exposure webhook does: an Invalid status naming the
// field, the value and the rule.
func refuseLikeGSI(vn *unstructured.Unstructured, tgw, vpc string) admission.Response {
	ref := vn.GetNamespace() + "/" + vn.GetName()
	err := apierrors.NewInvalid(schema.GroupKind{Group: "core.contrail.juniper.net", Kind: "VirtualNetwork"}, vn.GetName(),
		field.ErrorList{field.Invalid(field.NewPath("spec", "v4SubnetReference"), ref,
			fmt.Sprintf("cannot be exposed through TransitGateway %s: overlaps the VPC's CIDR %s: the VPC would keep its local route and never send this traffic to the transit gateway", tgw, vpc))})
	st := err.Status()
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &st}}
}

// seedCluster creates the cluster-wide objects: nodes and CN2 control nodes.
func seedCluster(ctx context.Context) error {
	c := env.Client
	for name, crpd := range map[string]bool{crpdNode0: true, crpdNode1: true, workerNode: false} {
		n := &k8scorev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
		if crpd {
			n.Labels[corev1.CRPDNodeLabel] = ""
		}
		if err := c.Create(ctx, n); err != nil {
			return fmt.Errorf("node %s: %w", name, err)
		}
	}
	if err := c.Create(ctx, &k8scorev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "contrail"}}); err != nil {
		return err
	}
	for i, addr := range []string{"10.0.2.10", "10.0.2.11"} {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "core.contrail.juniper.net/v1alpha1", "kind": "BGPRouter",
			"metadata": map[string]any{"name": fmt.Sprintf("contrail-control-%d", i), "namespace": "contrail"},
			"spec": map[string]any{"bgpRouterParameters": map[string]any{
				"routerType": "control-node", "address": addr, "autonomousSystem": int64(64512),
				"identifier": addr, "addressFamilies": map[string]any{"family": []any{"inet-vpn", "route-target"}},
			}},
		}}
		if err := c.Create(ctx, u); err != nil {
			return fmt.Errorf("BGPRouter %s: %w", addr, err)
		}
	}
	return nil
}
