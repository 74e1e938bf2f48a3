// Package kubelet stands in for the scheduler and the kubelets of a test or demo API
// server, which has neither, for the pods gsi creates: it binds pending pods to a free
// node that matches their required node affinity (through the pods/binding subresource,
// as the scheduler does), optionally starts something real for them, reports them running
// and ready with the node's address, and completes graceful deletions.
package kubelet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// StartFunc starts what a pod runs on its node (a process in the node's network
// namespace, say) and returns how to stop it.
type StartFunc func(ctx context.Context, pod *corev1.Pod, node *corev1.Node) (stop func(), err error)

// Kubelet serves the pods of one namespace that carry Selector.
type Kubelet struct {
	Client    client.Client
	Namespace string
	// Selector picks the pods served (nil: all in Namespace).
	Selector labels.Selector
	// Nodes, when set, names the only nodes pods may be bound to (tests sharing an API
	// server each keep to their own nodes).
	Nodes func() []string
	// Start, when set, runs for each pod before it is reported running.
	Start StartFunc
	// Interval between passes (default 50ms).
	Interval time.Duration
	Log      logr.Logger

	mu      sync.Mutex
	running map[string]func() // pod UID → stop
}

// Run serves pods until ctx ends, then stops everything Start started.
func (k *Kubelet) Run(ctx context.Context) {
	interval := k.Interval
	if interval == 0 {
		interval = 50 * time.Millisecond
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	defer k.stopAll()
	for {
		if err := k.Pass(ctx); err != nil && ctx.Err() == nil && !apierrors.IsConflict(err) {
			k.Log.Error(err, "kubelet pass")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (k *Kubelet) stopAll() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for uid, stop := range k.running {
		stop()
		delete(k.running, uid)
	}
}

// Pass does one round of scheduling, starting and deleting.
func (k *Kubelet) Pass(ctx context.Context) error {
	opts := []client.ListOption{client.InNamespace(k.Namespace)}
	if k.Selector != nil {
		opts = append(opts, client.MatchingLabelsSelector{Selector: k.Selector})
	}
	var pods corev1.PodList
	if err := k.Client.List(ctx, &pods, opts...); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	var nodes corev1.NodeList
	if err := k.Client.List(ctx, &nodes); err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	busy := map[string]bool{}
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" && p.DeletionTimestamp.IsZero() {
			busy[p.Spec.NodeName] = true
		}
	}
	var errs []error
	for i := range pods.Items {
		p := &pods.Items[i]
		var err error
		switch {
		case !p.DeletionTimestamp.IsZero():
			err = k.finishDeletion(ctx, p)
		case p.Spec.NodeName == "":
			err = k.schedule(ctx, p, nodes.Items, busy)
		case p.Status.Phase != corev1.PodRunning:
			err = k.run(ctx, p)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (k *Kubelet) finishDeletion(ctx context.Context, p *corev1.Pod) error {
	k.mu.Lock()
	if stop, ok := k.running[string(p.UID)]; ok {
		stop()
		delete(k.running, string(p.UID))
	}
	k.mu.Unlock()
	if err := k.Client.Delete(ctx, p, client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("completing deletion of pod %s: %w", p.Name, err)
	}
	return nil
}

// schedule binds p to the first node its required affinity accepts that runs no other
// served pod (gsi's router pods ask for one per node).
func (k *Kubelet) schedule(ctx context.Context, p *corev1.Pod, nodes []corev1.Node, busy map[string]bool) error {
	required := nodeaffinity.GetRequiredNodeAffinity(p)
	var allowed []string
	if k.Nodes != nil {
		allowed = k.Nodes()
	}
	for i := range nodes {
		n := &nodes[i]
		if busy[n.Name] || (k.Nodes != nil && !slices.Contains(allowed, n.Name)) {
			continue
		}
		if ok, err := required.Match(n); err != nil || !ok {
			continue
		}
		busy[n.Name] = true
		b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
			Target: corev1.ObjectReference{Kind: "Node", Name: n.Name}}
		if err := k.Client.SubResource("binding").Create(ctx, p, b); err != nil {
			return fmt.Errorf("binding pod %s to node %s: %w", p.Name, n.Name, err)
		}
		k.Log.Info("scheduled", "pod", p.Name, "node", n.Name)
		return nil
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return nil
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message:            "no free node matches the pod's required node affinity",
		LastTransitionTime: metav1.Now(),
	})
	if err := k.Client.Status().Update(ctx, p); err != nil {
		return fmt.Errorf("reporting pod %s unschedulable: %w", p.Name, err)
	}
	return nil
}

func (k *Kubelet) run(ctx context.Context, p *corev1.Pod) error {
	var node corev1.Node
	if err := k.Client.Get(ctx, client.ObjectKey{Name: p.Spec.NodeName}, &node); err != nil {
		return fmt.Errorf("node of pod %s: %w", p.Name, err)
	}
	if k.Start != nil {
		k.mu.Lock()
		_, started := k.running[string(p.UID)]
		k.mu.Unlock()
		if !started {
			stop, err := k.Start(ctx, p, &node)
			if err != nil {
				return fmt.Errorf("starting pod %s on %s: %w", p.Name, node.Name, err)
			}
			k.mu.Lock()
			if k.running == nil {
				k.running = map[string]func(){}
			}
			k.running[string(p.UID)] = stop
			k.mu.Unlock()
		}
	}
	ip := InternalIP(&node)
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.HostIP = ip
	p.Status.HostIPs = []corev1.HostIP{{IP: ip}}
	if p.Spec.HostNetwork {
		p.Status.PodIP = ip
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	p.Status.StartTime = &now
	p.Status.Conditions = nil
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	if err := k.Client.Status().Update(ctx, p); err != nil {
		return fmt.Errorf("reporting pod %s running: %w", p.Name, err)
	}
	k.Log.Info("running", "pod", p.Name, "node", node.Name, "hostIP", ip)
	return nil
}

// InternalIP returns a node's InternalIP address, or "".
func InternalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}
