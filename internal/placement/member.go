package placement

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// MemberOf reads a member from the metadata of its Argo CD cluster Secret
// (the hub never needs the credentials the Secret holds): its name from
// the label v1alpha1.LabelMember, its labels, and its capacity from
// annotations. A bad annotation is an error naming it and the fix; the
// member is then left out rather than filled past a bound nobody set.
func MemberOf(secret metav1.ObjectMeta, available bool) (Member, error) {
	m := Member{Name: secret.Labels[v1alpha1.LabelMember], Labels: secret.Labels, Available: available}
	if m.Name == "" {
		return Member{}, fmt.Errorf("cluster Secret %s/%s: label %s is empty: set it to the cluster's name in Argo CD", secret.Namespace, secret.Name, v1alpha1.LabelMember)
	}
	if v, ok := secret.Annotations[v1alpha1.AnnotationMaxTenants]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return Member{}, fmt.Errorf("cluster %s: annotation %s=%q: want a whole number of tenants (0 or none for no limit)", m.Name, v1alpha1.AnnotationMaxTenants, v)
		}
		m.MaxTenants = n
	}
	for annotation, r := range map[string]corev1.ResourceName{
		v1alpha1.AnnotationMaxRequestsCPU:    corev1.ResourceRequestsCPU,
		v1alpha1.AnnotationMaxRequestsMemory: corev1.ResourceRequestsMemory,
	} {
		v, ok := secret.Annotations[annotation]
		if !ok {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			return Member{}, fmt.Errorf("cluster %s: annotation %s=%q: want a positive quantity such as 64 or 256Gi (remove it for no bound)", m.Name, annotation, v)
		}
		if m.MaxRequests == nil {
			m.MaxRequests = corev1.ResourceList{}
		}
		m.MaxRequests[r] = q
	}
	return m, nil
}
