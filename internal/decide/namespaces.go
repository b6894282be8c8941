package decide

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Reasons of the failures that stop an onboarding before anything is applied.
const (
	ReasonPlanNotFound      = "PlanNotFound"
	ReasonPlanLimitExceeded = "PlanLimitExceeded"
	ReasonNamespaceConflict = "NamespaceConflict"
	ReasonDomainConflict    = "DomainConflict"
)

// NamespaceSeen is what the cluster holds under one of the tenant's
// namespace names, and in it.
type NamespaceSeen struct {
	Name   string
	Exists bool
	// Labels are the namespace's labels: whose it is.
	Labels map[string]string
	Active bool
	// Quota is the namespace's ResourceQuota, nil while it has none.
	Quota *corev1.ResourceQuota
	// DefaultServiceAccount says whether the namespace's default
	// ServiceAccount exists; nil when it was not looked for
	// (CheckServiceAccounts).
	DefaultServiceAccount *bool
}

// NamespaceConflict is why the tenant cannot have one of its namespaces,
// or "". The platform's namespaces are never a tenant's, even before they
// exist: once they did, every tenant's network policies would admit them.
// A namespace that exists but is not this tenant's (an unmanaged one, or
// another tenant's: "acme" + "prod-eu" and "acme-prod" + "eu" collide) is
// never taken over.
func NamespaceConflict(tenant string, seen []NamespaceSeen, platform []string) string {
	for _, ns := range seen {
		if slices.Contains(platform, ns.Name) {
			return fmt.Sprintf("namespace %s is reserved for the platform (every tenant admits traffic from it); rename the tenant or the environment", ns.Name)
		}
		if !ns.Exists {
			continue
		}
		owner := ns.Labels[v1alpha1.LabelTenant]
		if owner == tenant && ns.Labels[v1alpha1.LabelManagedBy] == v1alpha1.ManagedByValue {
			continue
		}
		if owner != "" {
			return fmt.Sprintf("namespace %s already belongs to tenant %s; rename an environment or the tenant", ns.Name, owner)
		}
		return fmt.Sprintf("namespace %s already exists and is not managed by Tenantry; rename the environment, or delete or rename that namespace", ns.Name)
	}
	return ""
}

// DomainConflict says that the tenant cannot have domain, which overlaps
// ownerDomain of tenant owner (render.DomainConflict finds them).
func DomainConflict(domain, owner, ownerDomain string) string {
	return fmt.Sprintf("spec.ingress.domains: %s overlaps %s, which tenant %s holds or claimed first; choose another domain or remove it from %s",
		domain, ownerDomain, owner, owner)
}

// CheckServiceAccounts says whether a reconcile must look for each
// namespace's default ServiceAccount: until it exists the API server
// refuses every pod, but it is read past the cache (the operator never
// caches the cluster's ServiceAccounts), so only until the tenant has been
// Ready for its current spec; a new environment is checked too.
func CheckServiceAccounts(tenant *v1alpha1.Tenant) bool {
	ready := meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionReady)
	return ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != tenant.Generation
}

// Readiness records in obs whether the tenant's namespaces are active
// with their default ServiceAccount, and whether the quota controller
// enforces each quota (until it has computed a quota's status once, quota
// admission refuses every pod), adding up the quotas. It reports whether
// to look again soon: the operator does not watch ServiceAccounts.
func Readiness(obs *Observed, seen []NamespaceSeen, suspended bool) (recheck bool) {
	var pendingNS, pendingQuota, pendingSA []string
	obs.Namespaces = make([]string, 0, len(seen))
	for _, ns := range seen {
		obs.Namespaces = append(obs.Namespaces, ns.Name)
		switch {
		case !ns.Exists || !ns.Active:
			pendingNS = append(pendingNS, ns.Name)
		// Later quota changes (a plan change, a tenant-wide rebalance) take
		// effect a moment after the write, the old limit holding meanwhile:
		// the tenant stays Ready through them.
		case ns.Quota == nil || len(ns.Quota.Status.Hard) == 0:
			pendingQuota = append(pendingQuota, ns.Name)
		default:
			obs.addQuota(ns.Name, ns.Quota, suspended)
			if ns.DefaultServiceAccount != nil && !*ns.DefaultServiceAccount {
				pendingSA = append(pendingSA, ns.Name)
			}
		}
	}
	obs.NamespacesReady = len(pendingNS) == 0
	if !obs.NamespacesReady {
		obs.NamespacesMessage = "waiting for namespaces to become active: " + strings.Join(pendingNS, ", ")
	}
	obs.GuardrailsReady = len(pendingQuota) == 0
	if !obs.GuardrailsReady {
		obs.GuardrailsMessage = "waiting for the quota controller to enforce the quota in " + strings.Join(pendingQuota, ", ") +
			"; if this lasts, check that kube-controller-manager runs"
	}
	if len(pendingSA) > 0 {
		obs.NamespacesReady = false
		obs.NamespacesMessage = "waiting for the default ServiceAccount in " + strings.Join(pendingSA, ", ") +
			" (pods are refused until it exists); if this lasts, check that kube-controller-manager runs"
		return true
	}
	return false
}
