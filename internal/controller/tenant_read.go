package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/decide"
	"github.com/tenantry/tenantry/internal/render"
)

// A tenant reconcile reads through two entry points: read, before it
// decides, and readOutcome, after it acted, for the status (which reads
// the apps and their Rollouts through tenant_apps.go and
// tenant_rollouts.go). The outcome is read after the writes because a
// tenant's first reconcile usually finds its namespaces active and its
// quotas enforced by then: one status write (Ready) instead of two
// (Pending, then Ready). The analysis credentials, which depend on the
// desired objects, and offboarding read on their own.

// seen is what a reconcile reads before it decides.
type seen struct {
	// plan is nil when the tenant's plan does not exist.
	plan *v1alpha1.TenantPlan
	// namespaces are the tenant's namespace names as the cluster holds
	// them, past the cache for those the cache lacks (another's or
	// unmanaged namespaces), with their quotas.
	namespaces []decide.NamespaceSeen
	// tenants are every Tenant, read only when this one claims ingress domains.
	tenants []v1alpha1.Tenant
	// owned is every object the operator manages for the tenant.
	owned []client.Object
	// busy are the owned namespaces no longer desired that still have pods.
	busy map[string]bool
	// workloads are read only while a suspension or a resumption is under way.
	workloads []decide.Workload
}

// read gathers what the reconcile decides from.
func (r *TenantReconciler) read(ctx context.Context, tenant *v1alpha1.Tenant) (*seen, error) {
	s := &seen{}
	var err error
	if s.plan, err = r.readPlan(ctx, tenant); err != nil {
		return nil, err
	}
	if s.namespaces, err = r.readNamespaces(ctx, tenant, true, false); err != nil {
		return nil, err
	}
	if len(tenant.Spec.Ingress.Domains) > 0 {
		var tenants v1alpha1.TenantList
		// Read-only scan of the cache; copying every Tenant would cost O(N) allocations.
		if err := r.List(ctx, &tenants, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("listing tenants to check the domains of %s: %w", tenant.Name, err)
		}
		s.tenants = tenants.Items
	}
	if s.owned, err = r.tenantObjects(ctx, tenant); err != nil {
		return nil, err
	}
	if s.busy, err = r.busyNamespaces(ctx, tenant, s.owned); err != nil {
		return nil, err
	}
	if tenant.Spec.Suspended || meta.IsStatusConditionTrue(tenant.Status.Conditions, v1alpha1.ConditionSuspended) {
		if s.workloads, err = r.readWorkloads(ctx, tenant); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// readOutcome records in obs the state of the tenant's namespaces,
// quotas and apps once the reconcile has acted, and returns when to look
// again at what the operator does not watch (default ServiceAccounts).
func (r *TenantReconciler) readOutcome(ctx context.Context, tenant *v1alpha1.Tenant, obs *decide.Observed) (time.Duration, error) {
	namespaces, err := r.readNamespaces(ctx, tenant, false, decide.CheckServiceAccounts(tenant))
	if err != nil {
		return 0, err
	}
	var recheckAfter time.Duration
	if decide.Readiness(obs, namespaces, tenant.Spec.Suspended) {
		recheckAfter = 500 * time.Millisecond
	}
	apps, err := r.readApps(ctx, tenant)
	if err != nil {
		return 0, err
	}
	obs.GitOps = decide.Apps(tenant, apps, r.Options.ArgoCDNamespace, render.AppProjectName(tenant))
	return recheckAfter, nil
}

// readPlan returns the tenant's plan, or nil when it does not exist.
func (r *TenantReconciler) readPlan(ctx context.Context, tenant *v1alpha1.Tenant) (*v1alpha1.TenantPlan, error) {
	plan := &v1alpha1.TenantPlan{}
	err := r.Get(ctx, client.ObjectKey{Name: tenant.Spec.Plan}, plan)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading plan %s of tenant %s: %w", tenant.Spec.Plan, tenant.Name, err)
	}
	return plan, nil
}

// readNamespaces reads the tenant's namespaces and their quotas from the
// cache. pastCache asks the API server for namespaces the cache lacks: it
// holds managed namespaces only, and a namespace that is not the tenant's
// must be seen to be refused. serviceAccounts looks for the default
// ServiceAccount of each namespace whose quota is enforced.
func (r *TenantReconciler) readNamespaces(ctx context.Context, tenant *v1alpha1.Tenant, pastCache, serviceAccounts bool) ([]decide.NamespaceSeen, error) {
	names := render.NamespaceNames(tenant)
	out := make([]decide.NamespaceSeen, 0, len(names))
	for _, name := range names {
		seen := decide.NamespaceSeen{Name: name}
		ns := &corev1.Namespace{}
		err := r.Get(ctx, client.ObjectKey{Name: name}, ns)
		if apierrors.IsNotFound(err) && pastCache {
			err = r.APIReader.Get(ctx, client.ObjectKey{Name: name}, ns)
		}
		if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("reading namespace %s of tenant %s: %w", name, tenant.Name, err)
		}
		if seen.Exists = err == nil; seen.Exists {
			seen.Labels, seen.Active = ns.Labels, ns.Status.Phase == corev1.NamespaceActive
			if seen.Quota, err = r.readQuota(ctx, name); err != nil {
				return nil, err
			}
		}
		if serviceAccounts && seen.Active && seen.Quota != nil && len(seen.Quota.Status.Hard) > 0 {
			err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: name, Name: "default"}, &corev1.ServiceAccount{})
			if client.IgnoreNotFound(err) != nil {
				return nil, fmt.Errorf("reading the default service account of namespace %s: %w", name, err)
			}
			seen.DefaultServiceAccount = ptr.To(err == nil)
		}
		out = append(out, seen)
	}
	return out, nil
}

// readQuota reads a namespace's ResourceQuota from the cache, nil when it has none.
func (r *TenantReconciler) readQuota(ctx context.Context, namespace string) (*corev1.ResourceQuota, error) {
	quota := &corev1.ResourceQuota{}
	err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: render.QuotaName}, quota)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading quota of namespace %s: %w", namespace, err)
	}
	return quota, nil
}

// tenantObjects lists, from the cache, every object the operator manages
// for the tenant, namespaces first (in the order of managedKinds): the
// namespaced kinds are listed in them.
func (r *TenantReconciler) tenantObjects(ctx context.Context, tenant *v1alpha1.Tenant) ([]client.Object, error) {
	var objs []client.Object
	var namespaces []string
	for _, kind := range r.kinds {
		for _, opts := range kind.ownedBy(tenant, namespaces) {
			list := kind.list()
			if err := r.List(ctx, list, opts...); err != nil {
				return nil, fmt.Errorf("listing %T of tenant %s: %w", list, tenant.Name, err)
			}
			items, err := meta.ExtractList(list)
			if err != nil {
				return nil, err
			}
			for _, item := range items {
				obj := item.(client.Object)
				// Listed items carry no kind; objectID and Delete need it.
				obj.GetObjectKind().SetGroupVersionKind(kind.gvk)
				if _, isNamespace := obj.(*corev1.Namespace); isNamespace {
					namespaces = append(namespaces, obj.GetName())
				}
				objs = append(objs, obj)
			}
		}
	}
	return objs, nil
}

// busyNamespaces finds which owned namespaces that the tenant no longer
// lists still have pods: pruning keeps those until the removal is confirmed.
// Pods are read past the cache, which holds none.
func (r *TenantReconciler) busyNamespaces(ctx context.Context, tenant *v1alpha1.Tenant, owned []client.Object) (map[string]bool, error) {
	names := render.NamespaceNames(tenant)
	busy := map[string]bool{}
	for _, obj := range owned {
		ns, isNamespace := obj.(*corev1.Namespace)
		if !isNamespace || slices.Contains(names, ns.Name) || !ns.DeletionTimestamp.IsZero() {
			continue
		}
		var pods corev1.PodList
		if err := r.APIReader.List(ctx, &pods, client.InNamespace(ns.Name), client.Limit(1)); err != nil {
			return nil, fmt.Errorf("listing pods in %s: %w", ns.Name, err)
		}
		busy[ns.Name] = len(pods.Items) > 0
	}
	return busy, nil
}

// readWorkloads lists the tenant's Deployments, StatefulSets, CronJobs and
// Argo Rollouts, past the cache: tenant workloads are not labelled by the
// platform, so the operator reads them only while a suspension or a
// resumption is under way.
func (r *TenantReconciler) readWorkloads(ctx context.Context, tenant *v1alpha1.Tenant) ([]decide.Workload, error) {
	var out []decide.Workload
	for _, ns := range render.NamespaceNames(tenant) {
		var deployments appsv1.DeploymentList
		var statefulSets appsv1.StatefulSetList
		var cronJobs batchv1.CronJobList
		for _, list := range []client.ObjectList{&deployments, &statefulSets, &cronJobs} {
			if err := r.APIReader.List(ctx, list, client.InNamespace(ns)); err != nil {
				return nil, fmt.Errorf("listing workloads in %s: %w", ns, err)
			}
		}
		for _, d := range deployments.Items {
			out = append(out, decide.Workload{GVK: appsv1.SchemeGroupVersion.WithKind("Deployment"), Namespace: ns, Name: d.Name, Replicas: d.Spec.Replicas, Annotations: d.Annotations})
		}
		for _, s := range statefulSets.Items {
			out = append(out, decide.Workload{GVK: appsv1.SchemeGroupVersion.WithKind("StatefulSet"), Namespace: ns, Name: s.Name, Replicas: s.Spec.Replicas, Annotations: s.Annotations})
		}
		if r.rollouts.Load() {
			// Live: the client caches no unstructured objects.
			rollouts := unstructuredList(render.RolloutGVK)
			if err := r.List(ctx, rollouts, client.InNamespace(ns)); err != nil {
				return nil, fmt.Errorf("listing Rollouts in %s: %w", ns, err)
			}
			for _, ro := range rollouts.Items {
				w := decide.Workload{GVK: render.RolloutGVK, Namespace: ns, Name: ro.GetName(), Annotations: ro.GetAnnotations()}
				if n, found, err := unstructured.NestedInt64(ro.Object, "spec", "replicas"); err == nil && found {
					w.Replicas = ptr.To(int32(n))
				}
				out = append(out, w)
			}
		}
		for _, cj := range cronJobs.Items {
			out = append(out, decide.Workload{GVK: batchv1.SchemeGroupVersion.WithKind("CronJob"), Namespace: ns, Name: cj.Name, Suspend: cj.Spec.Suspend, Annotations: cj.Annotations})
		}
	}
	return out, nil
}
