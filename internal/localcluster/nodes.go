package localcluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kwokNodeAnnotation marks the Nodes kwok manages; kwok leaves every other
// Node alone.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// KwokTaint is on every kwok Node of a cluster with a real node.
var KwokTaint = corev1.Taint{Key: kwokNodeAnnotation, Value: "fake", Effect: corev1.TaintEffectNoSchedule}

// NodeName is the name of the i-th fake Node.
func NodeName(i int) string { return fmt.Sprintf("kwok-node-%d", i) }

// createNodes registers the fake Nodes and waits until kwok reports each Ready.
func (c *Cluster) createNodes(ctx context.Context) error {
	for i := range c.nodeCount() {
		node := fakeNode(NodeName(i))
		if c.node != nil {
			// With a real node, pods run for real unless they tolerate
			// kwok's taint (the one kwok's own docs use), as scale tests may.
			node.Spec.Taints = []corev1.Taint{KwokTaint}
		}
		if _, err := c.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating node %s: %w", NodeName(i), err)
		}
	}
	return waitFor(ctx, "kwok nodes Ready", c.processByName("kwok"), func() error {
		nodes, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, n := range nodes.Items {
			if NodeReady(&n) {
				ready++
			}
		}
		if ready < c.nodeCount() {
			return fmt.Errorf("%d of %d nodes Ready", ready, c.nodeCount())
		}
		return nil
	})
}

// fakeNode is a Node sized like a generous worker, so scheduling is decided
// by quotas and policies under test, not by node capacity.
func fakeNode(name string) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("128Gi"),
		// Without it, any pod requesting ephemeral storage (every pod in a
		// namespace whose LimitRange defaults it) stays Pending.
		corev1.ResourceEphemeralStorage: resource.MustParse("500Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{kwokNodeAnnotation: "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}

// NodeReady reports whether the Node's Ready condition is True.
func NodeReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitDefaultServiceAccount waits for the "default" namespace's
// ServiceAccount: proof that the controller manager is doing its work.
func (c *Cluster) waitDefaultServiceAccount(ctx context.Context) error {
	return c.WaitForServiceAccount(ctx, metav1.NamespaceDefault)
}

// WaitForServiceAccount waits until the namespace's "default"
// ServiceAccount exists. Pod creation in a new namespace is refused by the
// ServiceAccount admission plugin until then.
func (c *Cluster) WaitForServiceAccount(ctx context.Context, namespace string) error {
	return waitFor(ctx, "ServiceAccount "+namespace+"/default", c.processByName("kube-controller-manager"), func() error {
		_, err := c.client.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("not created yet")
		}
		return err
	})
}

func (c *Cluster) processByName(name string) *process {
	for _, p := range c.running() {
		if p.name == name {
			return p
		}
	}
	return nil
}
