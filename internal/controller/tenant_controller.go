// Package controller holds the reconcilers that turn Tenants into running,
// isolated namespaces. A tenant reconcile reads (tenant_read.go), decides
// (tenant_decide.go, with internal/render and internal/decide, no client)
// and acts (tenant_act.go, tenant_offboard.go): it applies what render
// returns with server-side apply, prunes what is no longer wanted and
// writes the Tenant's status once. The revert controller
// (revert_controller.go) answers aborted releases with Git reverts.
package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/metrics"
	"github.com/tenantry/tenantry/internal/render"
)

// reconcileTimeout bounds a tenant reconcile, whose requests have no
// deadline of their own: a request the API server holds while etcd is
// away would otherwise keep a worker, and every tenant queued behind it,
// until the API server's own one-minute timeout. A reconcile takes a
// second or two even with the client rate-limited.
const reconcileTimeout = 30 * time.Second

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

// SetupWithManager registers the reconciler and its watches: the Tenant,
// its plan, and every object it owns, mapped back by the tenant label.
func (r *TenantReconciler) SetupWithManager(mgr ctrl.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Tenant{}, planIndex,
		func(o client.Object) []string { return []string{o.(*v1alpha1.Tenant).Spec.Plan} })
	if err != nil {
		return fmt.Errorf("indexing tenants by plan: %w", err)
	}
	for _, kind := range r.kinds {
		if kind.readLive() || kind.namespaced {
			continue
		}
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), kind.object, tenantIndex, tenantLabel); err != nil {
			return fmt.Errorf("indexing %s by tenant: %w", kind.gvk.Kind, err)
		}
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Tenant{}).
		Named("tenant").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1), ReconciliationTimeout: reconcileTimeout}).
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
// +kubebuilder:rbac:groups=tenantry.dev,resources=pricelists,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces;resourcequotas;limitranges,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles;clusterrolebindings,verbs=get;list;watch;delete
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

// Reconcile reconciles one Tenant: it offboards a deleted one, and
// onboards or repairs the others (onboard).
func (r *TenantReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	tenant := &v1alpha1.Tenant{}
	if err := r.Get(ctx, req.NamespacedName, tenant); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.ReconcileErrors.DeleteLabelValues(req.Name)
			metrics.RolloutAborts.DeletePartialMatch(prometheus.Labels{"tenant": req.Name})
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var result ctrl.Result
	var err error
	if tenant.DeletionTimestamp.IsZero() {
		result, err = r.onboard(ctx, tenant)
	} else {
		result, err = r.offboard(ctx, tenant)
	}
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

// onboard reads what the cluster holds for the tenant, decides what to
// change, acts, and reports the outcome in one status write: the only one
// of the reconcile, and none when the status is unchanged.
func (r *TenantReconciler) onboard(ctx context.Context, tenant *v1alpha1.Tenant) (ctrl.Result, error) {
	if err := r.ensureFinalizer(ctx, tenant); err != nil {
		return ctrl.Result{}, err
	}
	seen, err := r.read(ctx, tenant)
	if err != nil {
		return ctrl.Result{}, err
	}
	todo, err := r.decideOnboarding(tenant, seen, time.Now())
	if err != nil {
		return ctrl.Result{}, err
	}
	if todo.obs.FailReason != "" {
		_, err := r.updateStatus(ctx, tenant, todo.obs)
		return ctrl.Result{}, err
	}
	result, err := r.act(ctx, tenant, todo)
	if err != nil && todo.obs.ApplyErr == nil {
		// Nothing the status can say: the retry reports the outcome.
		return result, err
	}
	hold, statusErr := r.updateStatus(ctx, tenant, todo.obs)
	result.RequeueAfter = soonest(result.RequeueAfter, hold)
	return result, errors.Join(err, statusErr)
}
