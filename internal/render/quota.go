package render

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Names of the quota and limit range in each tenant namespace.
const (
	QuotaName      = "tenantry-quota"
	LimitRangeName = "tenantry-limits"
)

// ResourceQuota is the namespace's quota: the plan's values with the
// tenant's overrides on top (CheckPlan keeps them under the ceiling).
//
// Node ports and load balancers are capped at zero unless the plan allows
// those Service types: quota admission then refuses them in the API server
// itself, whatever else is or is not installed. A suspended tenant gets
// `pods: 0`, so no new pod starts.
func ResourceQuota(t *v1alpha1.Tenant, plan *v1alpha1.TenantPlan, namespace string) *corev1.ResourceQuota {
	hard := corev1.ResourceList{}
	for name, q := range plan.Spec.Quota {
		hard[name] = q.DeepCopy()
	}
	for name, q := range t.Spec.Quota {
		hard[name] = q.DeepCopy()
	}
	zero := resource.MustParse("0")
	if !allowsServiceType(plan, v1alpha1.ServiceTypeNodePort) && !allowsServiceType(plan, v1alpha1.ServiceTypeLoadBalancer) {
		// A LoadBalancer Service allocates node ports too, so allowing
		// LoadBalancer leaves the node port count to the plan.
		hard[corev1.ResourceServicesNodePorts] = zero.DeepCopy()
	}
	if !allowsServiceType(plan, v1alpha1.ServiceTypeLoadBalancer) {
		hard[corev1.ResourceServicesLoadBalancers] = zero.DeepCopy()
	}
	if t.Spec.Suspended {
		hard[corev1.ResourcePods] = zero.DeepCopy()
	}
	return &corev1.ResourceQuota{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
		ObjectMeta: objectMeta(t, QuotaName, namespace),
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
	}
}

// LimitRange gives containers the plan's default requests and limits, so a
// pod that sets none still schedules under a quota that counts them, and
// caps what one container may take.
func LimitRange(t *v1alpha1.Tenant, plan *v1alpha1.TenantPlan, namespace string) *corev1.LimitRange {
	l := plan.Spec.Limits
	return &corev1.LimitRange{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"},
		ObjectMeta: objectMeta(t, LimitRangeName, namespace),
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			DefaultRequest: l.DefaultRequest.DeepCopy(),
			Default:        l.Default.DeepCopy(),
			Max:            l.Max.DeepCopy(),
		}}},
	}
}
