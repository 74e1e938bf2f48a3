package connectedpeer

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

func TestRouterPod(t *testing.T) {
	tgw := &gsiv1.TransitGateway{ObjectMeta: metav1.ObjectMeta{Namespace: "contrail-gsi", Name: "tgw1"}}
	cp := &gsiv1.ConnectedPeer{ObjectMeta: metav1.ObjectMeta{Namespace: "contrail-gsi", Name: "tgw1-1"},
		Spec: gsiv1.ConnectedPeerSpec{TransitGatewayName: "tgw1", Index: 1}}
	opts := PodOptions{RouterImage: "gsi-router:dev", InitImage: "busybox:1.36", ServiceAccount: "gsi-router", PullPolicy: corev1.PullIfNotPresent}
	cases := []struct {
		name  string
		crpd  *corev1.Container
		init  *corev1.Container
		check func(t *testing.T, pod *corev1.Pod)
	}{
		{name: "defaults", check: func(t *testing.T, pod *corev1.Pod) {
			c := pod.Spec.Containers[0]
			if c.Image != "gsi-router:dev" || !slices.Equal(c.Args, []string{"run", "--cluster", "--connected-peer=tgw1-1", "--namespace=contrail-gsi"}) {
				t.Fatalf("router container %+v", c)
			}
			if pod.Spec.Volumes[0].Secret.SecretName != gsiv1.DefaultLicenseSecretName {
				t.Fatalf("license volume %+v", pod.Spec.Volumes[0])
			}
		}},
		{name: "source manifest images", crpd: &corev1.Container{Name: "crpd", Image: "repo/crpd:1"}, init: &corev1.Container{Name: "init", Image: "repo/busybox:1"},
			check: func(t *testing.T, pod *corev1.Pod) {
				c := pod.Spec.Containers[0]
				if c.Image != "repo/crpd:1" || c.Command[0] != "gsi-router" || len(c.Env) != 3 || !*c.SecurityContext.Privileged {
					t.Fatalf("merged router container %+v", c)
				}
				if i := pod.Spec.InitContainers[0]; i.Image != "repo/busybox:1" || i.Command[0] != "sh" {
					t.Fatalf("merged init container %+v", i)
				}
			}},
		{name: "user command and env win", crpd: &corev1.Container{Command: []string{"/bin/router"}, Env: []corev1.EnvVar{{Name: "NODE_IP", Value: "1.2.3.4"}, {Name: "X", Value: "y"}}},
			check: func(t *testing.T, pod *corev1.Pod) {
				c := pod.Spec.Containers[0]
				if c.Name != "crpd" || !slices.Equal(c.Command, []string{"/bin/router"}) || c.Args != nil || len(c.Env) != 4 || c.Env[0].Value != "1.2.3.4" {
					t.Fatalf("merged router container %+v", c)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := tgw.DeepCopy()
			g.Spec.CrpdContainer, g.Spec.InitContainer = c.crpd, c.init
			pod := RouterPod(g, cp, opts)
			if pod.Name != "tgw1-peer-1" || !pod.Spec.HostNetwork || pod.Labels["app"] != "connectedpeer" || pod.Labels[gsiv1.PeerIndexLabel] != "1" {
				t.Fatalf("pod %s labels %v", pod.Name, pod.Labels)
			}
			na := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0]
			if na.Key != gsiv1.CRPDNodeLabel || na.Operator != corev1.NodeSelectorOpExists ||
				pod.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != "kubernetes.io/hostname" {
				t.Fatalf("affinity %+v", pod.Spec.Affinity)
			}
			c.check(t, pod)
			if again := RouterPod(g, cp, opts); again.Annotations[TemplateHashAnnotation] != pod.Annotations[TemplateHashAnnotation] {
				t.Fatal("template hash is not stable")
			}
		})
	}
}
