package decide

import (
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Observed is what one reconcile found: a failure that stops it, or the
// state of the tenant's namespaces, guardrails and apps.
type Observed struct {
	Terminating        bool
	TerminatingMessage string

	FailReason, FailMessage string
	ApplyErr                error

	// Namespaces are the tenant's namespace names (render.NamespaceNames).
	Namespaces        []string
	NamespacesReady   bool
	NamespacesMessage string
	GuardrailsReady   bool
	GuardrailsMessage string

	// TenantQuota is the plan's tenant-wide quota, if it has one.
	TenantQuota corev1.ResourceList
	// QuotaUsed and QuotaHard add up the namespaces' quotas (addQuota);
	// OverQuota lists "namespace: resource used/hard" where use exceeds
	// the limit.
	QuotaUsed, QuotaHard corev1.ResourceList
	OverQuota            []string
	// RetainedEnvironments were removed from the spec but still run pods.
	RetainedEnvironments []string
	// GitOps is the state of the tenant's Argo CD apps, nil without Argo CD or apps.
	GitOps *GitOps
}

// GitOps is the GitOpsReady condition and the apps' states.
type GitOps struct {
	Status          metav1.ConditionStatus
	Reason, Message string
	Apps            []v1alpha1.AppStatus
	// Ready counts the apps synced and healthy.
	Ready int
}

// Fail records the failure that stopped the reconcile.
func (o *Observed) Fail(reason, message string) { o.FailReason, o.FailMessage = reason, message }

// addQuota adds a namespace's quota to the tenant's totals and notes any
// resource used beyond its limit; while suspended, pods above the 0 the
// suspension sets are on their way out, not over quota.
func (o *Observed) addQuota(namespace string, quota *corev1.ResourceQuota, suspended bool) {
	if o.QuotaUsed == nil {
		o.QuotaUsed, o.QuotaHard = corev1.ResourceList{}, corev1.ResourceList{}
	}
	for _, name := range slices.Sorted(maps.Keys(quota.Status.Hard)) {
		hard := quota.Status.Hard[name]
		used := quota.Status.Used[name]
		sum := o.QuotaHard[name]
		sum.Add(hard)
		o.QuotaHard[name] = sum
		sum = o.QuotaUsed[name]
		sum.Add(used)
		o.QuotaUsed[name] = sum
		if used.Cmp(hard) > 0 && !(suspended && name == corev1.ResourcePods) {
			o.OverQuota = append(o.OverQuota, fmt.Sprintf("%s: %s %s/%s", namespace, name, used.String(), hard.String()))
		}
	}
}

// QuotaStatus adds up the quotas of a tenant's namespaces as the Tenant's
// status reports them (nil when there are none), for those who may read
// the quotas but not the Tenant or its plan.
func QuotaStatus(quotas []corev1.ResourceQuota) *v1alpha1.QuotaStatus {
	var o Observed
	for i := range quotas {
		o.addQuota(quotas[i].Namespace, &quotas[i], false)
	}
	return o.quotaStatus()
}

// quotaStatus is the tenant-wide quota use; the plan's tenantQuota, where
// set, is the limit.
func (o *Observed) quotaStatus() *v1alpha1.QuotaStatus {
	if o.QuotaHard == nil {
		return nil
	}
	hard := o.QuotaHard.DeepCopy()
	for name, q := range o.TenantQuota {
		hard[name] = q
	}
	ratio := func(name corev1.ResourceName) string {
		h, ok := hard[name]
		if !ok {
			return ""
		}
		u := o.QuotaUsed[name]
		return u.String() + "/" + h.String()
	}
	return &v1alpha1.QuotaStatus{
		Hard: hard, Used: o.QuotaUsed.DeepCopy(),
		CPU: ratio(corev1.ResourceRequestsCPU), Memory: ratio(corev1.ResourceRequestsMemory),
	}
}
