package localcluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ProbeHTTP runs a pod named name in namespace that sends GET url from
// inside the cluster (`demo-app get`, so image must be demo-app's), waits
// for it to finish and returns what it printed, read through the API server
// from the kubelet. cs is whoever creates the pod: a tenant's user, so the
// guardrails and RBAC apply to the probe as to any of the tenant's pods.
// The pod passes Pod Security restricted and is deleted afterwards.
func ProbeHTTP(ctx context.Context, cs kubernetes.Interface, namespace, name, image, url string) (string, error) {
	// The probe itself gives up after 60s; the pull and start get the rest.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	pod := clientPod(namespace, name, image, []string{"get", "--timeout", "60s", url})
	pods := cs.CoreV1().Pods(namespace)
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating probe pod %s/%s: %w", namespace, name, err)
	}
	defer func() { _ = pods.Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{}) }()
	var phase corev1.PodPhase
	err := waitFor(ctx, "probe pod "+namespace+"/"+name, nil, func() error {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if phase = p.Status.Phase; phase != corev1.PodSucceeded && phase != corev1.PodFailed {
			return fmt.Errorf("pod is %s", phase)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	logs, err := pods.GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("logs of probe pod %s/%s: %w", namespace, name, err)
	}
	out := strings.TrimSpace(string(logs))
	if phase == corev1.PodFailed {
		return "", fmt.Errorf("GET %s from pod %s/%s failed: %s", url, namespace, name, out)
	}
	return out, nil
}

// clientPod is a pod of demo-app's image running one of its clients (get,
// load) with args. It pulls always, as the guardrails ask of tenants.
func clientPod(namespace, name, image string, args []string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/name": name}},
		Spec: corev1.PodSpec{
			RestartPolicy:   corev1.RestartPolicyNever,
			SecurityContext: restrictedPodSecurity(),
			Containers: []corev1.Container{{
				Name:            "client",
				Image:           image,
				ImagePullPolicy: corev1.PullAlways,
				Args:            args,
				SecurityContext: restrictedContainerSecurity(),
			}},
		},
	}
}
