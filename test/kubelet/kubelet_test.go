package kubelet

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opengsi/gsi/test/envtest"
)

func node(name, ip string, labels map[string]string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}}}
}

func routerPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			HostNetwork: true,
			Containers:  []corev1.Container{{Name: "c", Image: "i"}},
			Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "crpd", Operator: corev1.NodeSelectorOpExists}},
				}}},
			}},
		},
	}
}

func TestPodsAreBoundByAffinityOnePerNodeStartedAndDeleted(t *testing.T) {
	env := envtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := env.Client
	for _, n := range []*corev1.Node{
		node("plain", "10.0.0.1", nil),
		node("crpd-a", "10.0.0.2", map[string]string{"crpd": ""}),
	} {
		status := n.Status
		if err := c.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
		n.Status = status
		if err := c.Status().Update(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	var started, stopped atomic.Int32
	k := &Kubelet{Client: c, Namespace: "default", Log: logr.Discard(),
		Start: func(ctx context.Context, p *corev1.Pod, n *corev1.Node) (func(), error) {
			started.Add(1)
			return func() { stopped.Add(1) }, nil
		}}
	go k.Run(ctx)

	first, second := routerPod("first"), routerPod("second")
	for _, p := range []*corev1.Pod{first, second} {
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, func() bool {
		if err := c.Get(ctx, client.ObjectKeyFromObject(first), first); err != nil {
			return false
		}
		return first.Status.Phase == corev1.PodRunning
	})
	if first.Spec.NodeName != "crpd-a" || first.Status.HostIP != "10.0.0.2" || first.Status.PodIP != "10.0.0.2" {
		t.Errorf("first pod on %q with hostIP %q podIP %q; want crpd-a, 10.0.0.2", first.Spec.NodeName, first.Status.HostIP, first.Status.PodIP)
	}
	// the only crpd node is taken: the second pod stays pending, unschedulable
	poll(t, func() bool {
		if err := c.Get(ctx, client.ObjectKeyFromObject(second), second); err != nil {
			return false
		}
		return len(second.Status.Conditions) > 0
	})
	if second.Spec.NodeName != "" || second.Status.Conditions[0].Reason != corev1.PodReasonUnschedulable {
		t.Errorf("second pod: node %q conditions %+v; want unscheduled", second.Spec.NodeName, second.Status.Conditions)
	}
	if err := c.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	poll(t, func() bool { return stopped.Load() == 1 })
	// the freed node goes to the waiting pod
	poll(t, func() bool {
		_ = c.Get(ctx, client.ObjectKeyFromObject(second), second)
		return second.Status.Phase == corev1.PodRunning && second.Spec.NodeName == "crpd-a"
	})
	if started.Load() != 2 {
		t.Errorf("started %d pods, want 2", started.Load())
	}
}

func poll(t *testing.T, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatal("condition not reached within 30s")
	}
}
