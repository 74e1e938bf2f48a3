package controllertest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

// runFakeKubelet stands in for the scheduler and the kubelets of the test API server,
// which has neither: it binds pending router pods to a free crpd node (the pods' own
// affinity: crpd label, one router per node) through the pods/binding subresource,
// reports bound pods running and ready with the node's address, and completes the
// graceful deletion of terminating pods.
func runFakeKubelet(ctx context.Context, t testing.TB, c client.Client, ns string, nodes func() []string) {
	tick := time.NewTicker(30 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := kubeletPass(ctx, c, ns, nodes()); err != nil && ctx.Err() == nil && !apierrors.IsConflict(err) {
			t.Logf("fake kubelet: %v", err)
		}
	}
}

func kubeletPass(ctx context.Context, c client.Client, ns string, mine []string) error {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return err
	}
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes, client.HasLabels{gsiv1.CRPDNodeLabel}); err != nil {
		return err
	}
	busy := map[string]bool{}
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" {
			busy[p.Spec.NodeName] = true
		}
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		switch {
		case !p.DeletionTimestamp.IsZero():
			if err := c.Delete(ctx, p, client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("completing deletion of %s: %w", p.Name, err)
			}
		case p.Spec.NodeName == "":
			if err := schedule(ctx, c, p, nodes.Items, mine, busy); err != nil {
				return err
			}
		case p.Status.Phase != corev1.PodRunning:
			if err := run(ctx, c, p); err != nil {
				return err
			}
		}
	}
	return nil
}

func schedule(ctx context.Context, c client.Client, p *corev1.Pod, nodes []corev1.Node, mine []string, busy map[string]bool) error {
	for _, n := range nodes {
		if !slices.Contains(mine, n.Name) || busy[n.Name] {
			continue
		}
		busy[n.Name] = true
		b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
			Target: corev1.ObjectReference{Kind: "Node", Name: n.Name}}
		if err := c.SubResource("binding").Create(ctx, p, b); err != nil {
			return fmt.Errorf("binding %s to %s: %w", p.Name, n.Name, err)
		}
		return nil
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodScheduled {
			return nil
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: "Unschedulable", Message: "0/N nodes are available: node(s) didn't match pod anti-affinity rules or node affinity", LastTransitionTime: metav1.Now()})
	return c.Status().Update(ctx, p)
}

func run(ctx context.Context, c client.Client, p *corev1.Pod) error {
	var node corev1.Node
	if err := c.Get(ctx, client.ObjectKey{Name: p.Spec.NodeName}, &node); err != nil {
		return err
	}
	ip := ""
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			ip = a.Address
		}
	}
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.HostIP, p.Status.PodIP = ip, ip
	p.Status.HostIPs = []corev1.HostIP{{IP: ip}}
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	p.Status.StartTime = &now
	p.Status.Conditions = nil
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	return c.Status().Update(ctx, p)
}

// testLogger logs the controller into the test log (GSI_TEST_LOG=1 with -v).
func testLogger(t testing.TB) logr.Logger {
	return funcr.New(func(prefix, args string) { t.Log(prefix, args) }, funcr.Options{Verbosity: 1})
}
