// Package controller holds the reconcilers that turn Tenants into running,
// isolated namespaces: they apply what internal/render returns with
// server-side apply, prune what is no longer wanted and report status.
package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/metrics"
	"github.com/tenantry/tenantry/internal/render"
)

// FieldOwner is the server-side apply field manager of everything the operator writes.
const FieldOwner = "tenantry-operator"

// planIndex indexes Tenants by spec.plan, so a plan change wakes only its tenants.
const planIndex = "spec.plan"

// tenantIndex indexes every managed object by its tenant label. Listing a
// tenant's objects by label scans every tenant's: at 1,000 tenants that
// scan was a fifth of the operator's CPU, and made a full resync quadratic.
const tenantIndex = "metadata.labels.tenant"

// inTenantIndex selects a tenant's objects from the cache, through tenantIndex.
// The cache holds only objects labelled managed-by Tenantry.
func inTenantIndex(tenant *v1alpha1.Tenant) client.MatchingFields {
	return client.MatchingFields{tenantIndex: tenant.Name}
}

func tenantLabel(obj client.Object) []string {
	if name := obj.GetLabels()[v1alpha1.LabelTenant]; name != "" {
		return []string{name}
	}
	return nil
}

// TenantReconciler onboards, repairs and offboards Tenants.
type TenantReconciler struct {
	// Client reads from the manager's label-selected cache and writes to the API server.
	client.Client
	// APIReader reads past the cache: it checks that a namespace the
	// operator is about to create does not already belong to someone else.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Options   render.Options
	// MaxConcurrentReconciles is how many Tenants are reconciled at once.
	MaxConcurrentReconciles int
	// StuckAfter is how long offboarding waits for a namespace before it
	// reports what holds it; zero means a minute.
	StuckAfter time.Duration
	// MetricsTokenAudience and MetricsTokenTTL shape the metrics
	// credentials minted for the metrics gateway (Options.MetricsGatewayURL);
	// zero means DefaultMetricsTokenAudience and DefaultMetricsTokenTTL.
	MetricsTokenAudience string
	MetricsTokenTTL      time.Duration

	// kinds are managedKinds, plus Argo CD's when GitOps is on.
	kinds []managedKind
	// rollouts is true once the cluster serves Argo Rollouts' kinds; it may
	// turn true while the operator runs (rolloutsWatcher).
	rollouts atomic.Bool
	// rolloutsPoll is how often the operator looks for Argo Rollouts while
	// the cluster does not serve it.
	rolloutsPoll time.Duration
}

// managedKind is a kind the operator creates for tenants: a prototype for
// the cache and the watches, and a list type for pruning.
type managedKind struct {
	gvk    schema.GroupVersionKind
	object client.Object
	list   func() client.ObjectList
	// metadataOnly kinds are cached as metadata (name, labels, the spec
	// hash), not whole: guardrail rule 1 lets no one but the operator
	// change them, so the hash it wrote says whether they match.
	metadataOnly bool
}

// readLive reports whether the client reads the kind from the API server:
// it caches no unstructured objects (Argo CD's kinds, here), so those have
// no tenant index.
func (k managedKind) readLive() bool {
	_, unstructured := k.object.(runtime.Unstructured)
	return unstructured
}

// ownedBy selects a tenant's objects of the kind: through tenantIndex from
// the cache, or by label from the API server for kinds read live.
func (k managedKind) ownedBy(tenant *v1alpha1.Tenant) client.ListOption {
	if k.readLive() {
		return client.MatchingLabels(render.Labels(tenant))
	}
	return inTenantIndex(tenant)
}

func typedKind(gvk schema.GroupVersionKind, obj client.Object, list func() client.ObjectList) managedKind {
	return managedKind{gvk: gvk, object: obj, list: list}
}

func metadataKind(gvk schema.GroupVersionKind) managedKind {
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(gvk)
	return managedKind{gvk: gvk, object: obj, metadataOnly: true, list: func() client.ObjectList {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		return list
	}}
}

// managedKinds are cached selected by label, so the operator never caches
// the cluster's other namespaces or bindings. They are in the order stale
// objects are pruned: namespaces first, taking their content along.
// Namespaces and quotas are cached whole (their status is reported), and
// so are the cluster-scoped roles, which rule 1 does not cover.
var managedKinds = []managedKind{
	typedKind(corev1.SchemeGroupVersion.WithKind("Namespace"), &corev1.Namespace{}, func() client.ObjectList { return &corev1.NamespaceList{} }),
	typedKind(corev1.SchemeGroupVersion.WithKind("ResourceQuota"), &corev1.ResourceQuota{}, func() client.ObjectList { return &corev1.ResourceQuotaList{} }),
	metadataKind(corev1.SchemeGroupVersion.WithKind("LimitRange")),
	metadataKind(networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy")),
	metadataKind(corev1.SchemeGroupVersion.WithKind("ServiceAccount")),
	metadataKind(rbacv1.SchemeGroupVersion.WithKind("RoleBinding")),
	typedKind(rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"), &rbacv1.ClusterRoleBinding{}, func() client.ObjectList { return &rbacv1.ClusterRoleBindingList{} }),
	typedKind(rbacv1.SchemeGroupVersion.WithKind("ClusterRole"), &rbacv1.ClusterRole{}, func() client.ObjectList { return &rbacv1.ClusterRoleList{} }),
}

// metadataOnlyKinds are the managed kinds cached as metadata only.
func metadataOnlyKinds() map[schema.GroupVersionKind]bool {
	kinds := map[schema.GroupVersionKind]bool{}
	for _, k := range managedKinds {
		if k.metadataOnly {
			kinds[k.gvk] = true
		}
	}
	return kinds
}

// argoKinds are Argo CD's kinds the operator manages in Argo CD's
// namespace, when GitOps is on: Applications before the AppProject, which
// Argo CD needs to delete them.
func argoKinds(namespace string) []managedKind {
	if namespace == "" {
		return nil
	}
	var kinds []managedKind
	for _, gvk := range []schema.GroupVersionKind{render.ApplicationGVK, render.AppProjectGVK} {
		obj := &unstructured.Unstructured{}
		obj.SetGroupVersionKind(gvk)
		kinds = append(kinds, managedKind{gvk: gvk, object: obj, list: func() client.ObjectList { return unstructuredList(gvk) }})
	}
	return kinds
}

// SetupWithManager registers the reconciler and its watches: the Tenant,
// its plan, and every object it owns, mapped back by the tenant label.
func (r *TenantReconciler) SetupWithManager(mgr ctrl.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Tenant{}, planIndex,
		func(o client.Object) []string { return []string{o.(*v1alpha1.Tenant).Spec.Plan} })
	if err != nil {
		return fmt.Errorf("indexing tenants by plan: %w", err)
	}
	for _, kind := range r.kinds {
		if kind.readLive() {
			continue
		}
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), kind.object, tenantIndex, tenantLabel); err != nil {
			return fmt.Errorf("indexing %s by tenant: %w", kind.gvk.Kind, err)
		}
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Tenant{}).
		Named("tenant").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Watches(&v1alpha1.TenantPlan{}, handler.EnqueueRequestsFromMapFunc(r.tenantsOnPlan)).
		// A tenant that gives up a domain frees it for the tenant refused it.
		Watches(&v1alpha1.Tenant{}, handler.EnqueueRequestsFromMapFunc(r.tenantsSharingDomains))
	for _, kind := range r.kinds {
		b = b.Watches(kind.object, handler.EnqueueRequestsFromMapFunc(tenantOf))
	}
	if r.rollouts.Load() {
		// A release's every step is reported in its tenant's status.
		b = b.Watches(rolloutObject(), handler.EnqueueRequestsFromMapFunc(r.tenantOfNamespaced))
	}
	c, err := b.Build(r)
	if err != nil {
		return err
	}
	if r.rollouts.Load() || r.Options.ArgoCDNamespace == "" {
		return nil
	}
	// Argo Rollouts may be installed after the operator starts (the GitOps
	// bootstrap syncs both at once): watch for it rather than need a restart.
	return mgr.Add(&rolloutsWatcher{reconciler: r, controller: c, cache: mgr.GetCache(), config: mgr.GetConfig()})
}

// tenantOf maps an owned object to its Tenant by the tenant label.
func tenantOf(_ context.Context, obj client.Object) []reconcile.Request {
	name := obj.GetLabels()[v1alpha1.LabelTenant]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: name}}}
}

// tenantsSharingDomains maps a Tenant to the other tenants whose ingress
// domains overlap its own. On an update it sees the old and the new object,
// so a domain given up wakes the tenant that was refused it.
func (r *TenantReconciler) tenantsSharingDomains(ctx context.Context, obj client.Object) []reconcile.Request {
	changed := obj.(*v1alpha1.Tenant)
	if len(changed.Spec.Ingress.Domains) == 0 {
		return nil
	}
	var tenants v1alpha1.TenantList
	if err := r.List(ctx, &tenants, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing tenants failed", "tenant", changed.Name)
		return nil
	}
	var reqs []reconcile.Request
	for _, t := range tenants.Items {
		if t.Name == changed.Name {
			continue
		}
		for _, d := range changed.Spec.Ingress.Domains {
			if slices.ContainsFunc(t.Spec.Ingress.Domains, func(od string) bool { return render.DomainsOverlap(d, od) }) {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: t.Name}})
				break
			}
		}
	}
	return reqs
}

func (r *TenantReconciler) tenantsOnPlan(ctx context.Context, plan client.Object) []reconcile.Request {
	var tenants v1alpha1.TenantList
	if err := r.List(ctx, &tenants, client.MatchingFields{planIndex: plan.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing tenants of a plan failed", "plan", plan.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(tenants.Items))
	for _, t := range tenants.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: t.Name}})
	}
	return reqs
}

// The operator's RBAC, generated into charts/tenantry by `make generate`:
// +kubebuilder:rbac:groups=tenantry.dev,resources=tenants,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=tenantry.dev,resources=tenants/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=tenantry.dev,resources=tenants/finalizers,verbs=update
// +kubebuilder:rbac:groups=tenantry.dev,resources=tenantplans,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces;resourcequotas;limitranges,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings;clusterroles;clusterrolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// No right on Secrets here: the operator writes a tenant's analysis Secret
// through the tenantry:analysis-writer role it binds itself to in that
// namespace, and reads the credentials in its own namespace through the
// chart's Role.
// +kubebuilder:rbac:groups=argoproj.io,resources=rollouts,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=argoproj.io,resources=analysisruns,verbs=get;list
// Argo CD's AppProject and Application of each tenant. Argo CD reads only
// those in its own namespace, where the operator caches them.
// +kubebuilder:rbac:groups=argoproj.io,resources=appprojects;applications,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=list
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=list;patch;deletecollection
// +kubebuilder:rbac:groups=apps,resources=daemonsets,verbs=deletecollection
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=list;patch;deletecollection
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=deletecollection
// +kubebuilder:rbac:groups=events.k8s.io;"",resources=events,verbs=create;patch
// RoleBindings to the owner roles need `bind` on them, since the operator
// does not hold what they grant; the chart installs the roles themselves
// (templates/tenant-roles.yaml), so the operator never needs `escalate`.
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=bind,resourceNames=tenantry:tenant-admin;tenantry:tenant-developer;tenantry:tenant-viewer;tenantry:tenant-deployer;tenantry:analysis-writer
// The leader election Lease is allowed by a Role in the operator's own
// namespace (charts/tenantry/templates/rbac.yaml), not cluster-wide.

// Reconcile reads top to bottom: the Tenant, its deletion, its plan, the
// desired objects, apply, prune, status.
func (r *TenantReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	tenant := &v1alpha1.Tenant{}
	if err := r.Get(ctx, req.NamespacedName, tenant); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.ReconcileErrors.DeleteLabelValues(req.Name)
			metrics.RolloutAborts.DeletePartialMatch(prometheus.Labels{"tenant": req.Name})
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	result, err := r.reconcile(ctx, tenant)
	if apierrors.IsConflict(err) {
		// The cache was behind the API server; the newer Tenant is on its
		// way as a watch event and will be reconciled then.
		return ctrl.Result{}, nil
	}
	if err != nil {
		metrics.ReconcileErrors.WithLabelValues(tenant.Name).Inc()
	}
	return result, err
}

func (r *TenantReconciler) reconcile(ctx context.Context, tenant *v1alpha1.Tenant) (ctrl.Result, error) {
	if !tenant.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, tenant)
	}
	if err := r.ensureFinalizer(ctx, tenant); err != nil {
		return ctrl.Result{}, err
	}
	obs := observation{}

	plan, err := r.loadPlan(ctx, tenant)
	if err != nil {
		return ctrl.Result{}, err
	}
	if plan == nil {
		obs.Fail(reasonPlanNotFound, fmt.Sprintf(
			"TenantPlan %q does not exist; create it or set spec.plan to an existing plan (kubectl get tenantplans)", tenant.Spec.Plan))
		return ctrl.Result{}, r.updateStatus(ctx, tenant, obs.Observed)
	}

	desired, err := render.Tenant(tenant, plan, r.Options)
	var violation *render.PlanViolation
	if errors.As(err, &violation) {
		obs.Fail(reasonPlanLimitExceeded, violation.Error())
		return ctrl.Result{}, r.updateStatus(ctx, tenant, obs.Observed)
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("rendering tenant %s: %w", tenant.Name, err)
	}

	conflict, err := r.namespaceConflict(ctx, tenant)
	if err != nil {
		return ctrl.Result{}, err
	}
	if conflict != "" {
		obs.Fail(reasonNamespaceConflict, conflict)
		return ctrl.Result{}, r.updateStatus(ctx, tenant, obs.Observed)
	}
	if conflict, err = r.domainConflict(ctx, tenant); err != nil {
		return ctrl.Result{}, err
	}
	if conflict != "" {
		obs.Fail(reasonDomainConflict, conflict)
		return ctrl.Result{}, r.updateStatus(ctx, tenant, obs.Observed)
	}

	if len(plan.Spec.TenantQuota) > 0 {
		if desired, err = r.splitTenantQuota(ctx, plan, desired); err != nil {
			return ctrl.Result{}, err
		}
		obs.TenantQuota = plan.Spec.TenantQuota
	}

	now := time.Now()
	creds, problem, err := r.analysisCredentials(ctx, tenant, plan, desired, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	if problem != "" {
		obs.Fail(reasonAnalysisCredentials, problem)
		return ctrl.Result{}, r.updateStatus(ctx, tenant, obs.Observed)
	}

	if err := r.applyDesired(ctx, withoutObjects(desired, creds.mint)); err != nil {
		obs.ApplyErr = err
		return ctrl.Result{}, errors.Join(err, r.updateStatus(ctx, tenant, obs.Observed))
	}
	renewIn, err := r.mintCredentials(ctx, creds, now)
	if err != nil {
		obs.ApplyErr = err
		return ctrl.Result{}, errors.Join(err, r.updateStatus(ctx, tenant, obs.Observed))
	}
	if obs.RetainedEnvironments, err = r.pruneStale(ctx, tenant, desired, true); err != nil {
		return ctrl.Result{}, err
	}
	if tenant.Spec.Suspended || meta.IsStatusConditionTrue(tenant.Status.Conditions, v1alpha1.ConditionSuspended) {
		if err := r.suspendOrResume(ctx, tenant); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.observe(ctx, tenant, &obs); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: soonest(obs.recheckAfter, renewIn)}, r.updateStatus(ctx, tenant, obs.Observed)
}

// ensureFinalizer holds the Tenant until reconcileDelete has removed everything it owns.
func (r *TenantReconciler) ensureFinalizer(ctx context.Context, tenant *v1alpha1.Tenant) error {
	if controllerutil.ContainsFinalizer(tenant, v1alpha1.Finalizer) {
		return nil
	}
	patch := client.MergeFromWithOptions(tenant.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(tenant, v1alpha1.Finalizer)
	if err := r.Patch(ctx, tenant, patch); err != nil {
		return fmt.Errorf("adding finalizer to tenant %s: %w", tenant.Name, err)
	}
	return nil
}

// loadPlan returns the tenant's plan, or nil when it does not exist.
func (r *TenantReconciler) loadPlan(ctx context.Context, tenant *v1alpha1.Tenant) (*v1alpha1.TenantPlan, error) {
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
