package controller

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/decide"
	"github.com/tenantry/tenantry/internal/render"
)

// onboarding is what a reconcile decided: the failure that stops it, or
// the objects to apply (in order), to prune, and the workloads to scale.
type onboarding struct {
	obs     decide.Observed
	plan    *v1alpha1.TenantPlan
	desired []client.Object
	prune   []client.Object
	scaling []decide.Scaling
	// now is when the reconcile decided; credentials fall due from it.
	now time.Time
}

// decideOnboarding turns what read saw into what to do, with no client: render's
// desired objects, the tenant-wide quota split, and internal/decide's
// conflicts, pruning and scaling.
func (r *TenantReconciler) decideOnboarding(tenant *v1alpha1.Tenant, s *seen, now time.Time) (*onboarding, error) {
	todo := &onboarding{plan: s.plan, now: now}
	if s.plan == nil {
		todo.obs.Fail(decide.ReasonPlanNotFound, fmt.Sprintf(
			"TenantPlan %q does not exist; create it or set spec.plan to an existing plan (kubectl get tenantplans)", tenant.Spec.Plan))
		return todo, nil
	}
	desired, err := render.Tenant(tenant, s.plan, r.Options)
	var violation *render.PlanViolation
	if errors.As(err, &violation) {
		todo.obs.Fail(decide.ReasonPlanLimitExceeded, violation.Error())
		return todo, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rendering tenant %s: %w", tenant.Name, err)
	}
	if conflict := decide.NamespaceConflict(tenant.Name, s.namespaces, render.PlatformNamespaces(r.Options)); conflict != "" {
		todo.obs.Fail(decide.ReasonNamespaceConflict, conflict)
		return todo, nil
	}
	if domain, owner, ownerDomain := render.DomainConflict(tenant, s.tenants); owner != "" {
		todo.obs.Fail(decide.ReasonDomainConflict, decide.DomainConflict(domain, owner, ownerDomain))
		return todo, nil
	}
	if len(s.plan.Spec.TenantQuota) > 0 {
		desired = splitTenantQuota(s.plan, desired, s.namespaces)
		todo.obs.TenantQuota = s.plan.Spec.TenantQuota
	}
	todo.desired = desired
	todo.prune, todo.obs.RetainedEnvironments = r.prunable(s.owned, desired, s.busy, decide.ConfirmedRemovals(tenant))
	if todo.scaling, err = decide.Scale(s.workloads, tenant.Spec.Suspended); err != nil {
		return nil, err
	}
	return todo, nil
}

// splitTenantQuota replaces the hard limits of the desired ResourceQuotas
// with their share of the plan's tenantQuota (render.SplitTenantQuota),
// from the usage the quota controller last reported, and orders the
// quotas that shrink first (decide.ApplyOrder).
func splitTenantQuota(plan *v1alpha1.TenantPlan, desired []client.Object, namespaces []decide.NamespaceSeen) []client.Object {
	used := map[string]corev1.ResourceList{}
	current := map[string]corev1.ResourceList{}
	for _, ns := range namespaces {
		if ns.Quota != nil {
			used[ns.Name], current[ns.Name] = ns.Quota.Status.Used, ns.Quota.Spec.Hard
		}
	}
	perNamespace := map[string]corev1.ResourceList{}
	for _, obj := range desired {
		if q, ok := obj.(*corev1.ResourceQuota); ok {
			perNamespace[q.Namespace] = q.Spec.Hard
		}
	}
	split := render.SplitTenantQuota(plan.Spec.TenantQuota, used, perNamespace)
	refs := make([]decide.Ref, len(desired))
	for i, obj := range desired {
		if q, ok := obj.(*corev1.ResourceQuota); ok {
			q.Spec.Hard = split[q.Namespace]
		}
		refs[i] = decide.Ref{Kind: objectKind(obj), Namespace: obj.GetNamespace()}
	}
	ordered := make([]client.Object, 0, len(desired))
	for _, i := range decide.ApplyOrder(refs, current, split) {
		ordered = append(ordered, desired[i])
	}
	return ordered
}

// prunable picks, with decide.Prune, the owned objects no longer desired.
// A nil busy skips the guard on namespaces that still run pods (offboarding).
func (r *TenantReconciler) prunable(owned, desired []client.Object, busy map[string]bool, confirmed []string) ([]client.Object, []string) {
	want := decide.Desired{IDs: map[string]bool{}, Namespaces: map[string]bool{}}
	for _, obj := range desired {
		want.IDs[objectID(obj)] = true
		if _, isNamespace := obj.(*corev1.Namespace); isNamespace {
			want.Namespaces[obj.GetName()] = true
		}
	}
	byID := make(map[string]client.Object, len(owned))
	candidates := make([]decide.Owned, 0, len(owned))
	for _, obj := range owned {
		id := objectID(obj)
		byID[id] = obj
		candidates = append(candidates, decide.Owned{
			ID: id, Kind: objectKind(obj), Namespace: obj.GetNamespace(),
			// Argo CD's objects live in its namespace, not the tenant's.
			InTenantNamespace: obj.GetNamespace() != "" && obj.GetNamespace() != r.Options.ArgoCDNamespace,
			Environment:       obj.GetLabels()[v1alpha1.LabelEnvironment],
			Deleting:          !obj.GetDeletionTimestamp().IsZero(),
		})
	}
	stale, kept := decide.Prune(candidates, want, busy != nil, busy, confirmed)
	prune := make([]client.Object, 0, len(stale))
	for _, o := range stale {
		prune = append(prune, byID[o.ID])
	}
	return prune, kept
}

// objectID names an object by kind, namespace and name.
func objectID(obj client.Object) string {
	return objectKind(obj) + "/" + obj.GetNamespace() + "/" + obj.GetName()
}

// objectKind is an object's kind: from its type meta, which rendered and
// listed objects carry, else from its Go type (a typed object's type is
// named after its kind).
func objectKind(obj client.Object) string {
	if kind := obj.GetObjectKind().GroupVersionKind().Kind; kind != "" {
		return kind
	}
	return reflect.TypeOf(obj).Elem().Name()
}
