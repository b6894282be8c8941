package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/decide"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/metrics"
	"github.com/tenantry/tenantry/internal/render"
)

// The identity the operator commits Git reverts as.
const (
	revertAuthorName  = "Tenantry"
	revertAuthorEmail = "tenantry@tenantry.dev"
)

// revertTimeout bounds one Git revert: clone, commit and push.
const revertTimeout = time.Minute

// RevertReconciler answers the aborted releases a Tenant's status records
// with Git reverts (spec.revertOnAbort). A revert clones, commits and
// pushes for up to a minute, so it runs here, off the Tenant reconcile,
// which only observes the Rollouts: that one never waits on a Git server,
// and this one is driven by what the status records, not by the cluster.
type RevertReconciler struct {
	// Client reads Tenants from the cache and patches their status.
	client.Client
	// APIReader reads the Git credentials Secrets (the operator caches
	// none) and the latest Tenant when a status patch lost the race.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Options   render.Options
	// MaxConcurrentReconciles is how many Tenants' reverts run at once.
	MaxConcurrentReconciles int
}

// The operator's rights here are the TenantReconciler's: tenants, their
// status and events, and Secrets in its own namespace through the chart's
// Role.

// SetupWithManager registers the controller "revert", woken by Tenants
// that have a revert due; a deleted Tenant wakes it to drop its metrics.
func (r *RevertReconciler) SetupWithManager(mgr ctrl.Manager) error {
	due := func(obj client.Object) bool {
		tenant, ok := obj.(*v1alpha1.Tenant)
		return ok && len(decide.RevertsDue(tenant)) > 0
	}
	pending := predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return due(e.Object) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return due(e.ObjectNew) },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		GenericFunc: func(e event.GenericEvent) bool { return due(e.Object) },
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Tenant{}, builder.WithPredicates(pending)).
		Named("revert").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Complete(r)
}

// Reconcile reads the Tenant, decides the reverts due (decide.RevertsDue),
// runs them, and records their outcome in one status patch. A failure to
// read or write returns an error, retried with controller-runtime's
// backoff; a revert that ran and failed is recorded, and not retried for
// the same abort.
func (r *RevertReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	tenant := &v1alpha1.Tenant{}
	if err := r.Get(ctx, req.NamespacedName, tenant); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.AppReverts.DeletePartialMatch(prometheus.Labels{"tenant": req.Name})
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if len(decide.RevertsDue(tenant)) == 0 || !tenant.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	// The cache may not hold this controller's own last write yet: decide
	// from the latest Tenant before anything is pushed, or an abort
	// answered a moment ago is reverted again.
	if err := r.APIReader.Get(ctx, req.NamespacedName, tenant); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	due := decide.RevertsDue(tenant)
	if len(due) == 0 {
		return ctrl.Result{}, nil
	}
	out, err := r.revert(ctx, due)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("tenant %s: %w", tenant.Name, err)
	}
	return ctrl.Result{}, r.record(ctx, tenant, out)
}

// revertOutcome is what one reconcile's reverts came to: a record and a
// result (metrics.RevertPushed, ...) per app, and the GitWriteReady
// condition the writes imply (nil when they imply none).
type revertOutcome struct {
	records  map[string]v1alpha1.RolloutRevert
	results  map[string]string
	gitWrite *metav1.Condition
}

// revert runs the due reverts, one after the other. The Git credentials
// Secrets are listed once, and only when there is a Git write to do.
func (r *RevertReconciler) revert(ctx context.Context, due []decide.DueRevert) (revertOutcome, error) {
	out := revertOutcome{records: map[string]v1alpha1.RolloutRevert{}, results: map[string]string{}}
	var (
		writes  []gitWrite
		secrets []corev1.Secret
		listed  bool
	)
	for _, d := range due {
		if d.Record != nil {
			out.records[d.App.Name], out.results[d.App.Name] = *d.Record, metrics.RevertSkipped
			continue
		}
		if !listed {
			var err error
			if secrets, err = gitCredentialSecrets(ctx, r.APIReader, r.Options.OperatorNamespace); err != nil {
				return out, err
			}
			listed = true
		}
		record, write := r.revertApp(ctx, d, secrets)
		writes = append(writes, write)
		out.records[d.App.Name] = record
		switch {
		case write.err != nil:
			out.results[d.App.Name] = metrics.RevertFailed
		case write.pushed:
			out.results[d.App.Name] = metrics.RevertPushed
		default:
			out.results[d.App.Name] = metrics.RevertSkipped
		}
	}
	out.gitWrite = gitWriteCondition(r.Options.OperatorNamespace, writes)
	return out, nil
}

// revertApp commits the revert of the Git change that deployed the app's
// aborted release, authenticated with the credentials Secret that applies
// to its repository. gitops.Revert enforces the safety limits: only the
// newest commit that changed the app's path, only when the failed revision
// contains it and it changed nothing else.
func (r *RevertReconciler) revertApp(ctx context.Context, d decide.DueRevert, secrets []corev1.Secret) (v1alpha1.RolloutRevert, gitWrite) {
	st, ro, spec := d.Status, d.Status.Rollout, d.App
	record := v1alpha1.RolloutRevert{AbortedAt: ro.AbortedAt, Revision: st.Revision}
	write := gitWrite{repoURL: spec.RepoURL}
	creds, err := gitops.CredentialsFor(secrets, spec.RepoURL)
	write.secret = creds.Secret
	var res gitops.RevertResult
	if err == nil {
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, revertTimeout)
		res, err = gitops.Revert(rctx, gitops.RevertRequest{
			RepoURL:     spec.RepoURL,
			Branch:      spec.TargetRevision,
			Path:        spec.Path,
			Revision:    st.Revision,
			Released:    ro.Released,
			Reason:      fmt.Sprintf("Tenantry: the release of app %s (Rollout %s/%s) aborted: %s", st.Name, st.Namespace, ro.Name, decide.AbortCause(ro)),
			AuthorName:  revertAuthorName,
			AuthorEmail: revertAuthorEmail,
			Auth:        creds.Auth,
			CABundle:    creds.CABundle,
		})
		cancel()
		metrics.RevertDuration.Observe(time.Since(start).Seconds())
	}
	write.err, write.pushed = err, err == nil && res.Commit != ""
	switch {
	case err != nil:
		record.Message = "revert failed: " + err.Error()
		if _, fix := gitWriteProblem(r.Options.OperatorNamespace, write); fix != "" {
			record.Message = "revert failed: " + fix
		}
	case res.Commit == "":
		record.Message = "not reverted: " + res.Skipped
	default:
		record.Reverted, record.Commit = res.Reverted, res.Commit
		record.Message = fmt.Sprintf("reverted %s (%q) in %s as %s", gitops.ShortHash(res.Reverted), res.Subject, spec.RepoURL, gitops.ShortHash(res.Commit))
	}
	ctrl.LoggerFrom(ctx).Info("answered an aborted release", "app", st.Name, "revision", st.Revision, "outcome", record.Message)
	return record, write
}

// record writes the outcome in one status patch, under the optimistic lock,
// then announces it: the AppReverted or RevertSkipped events Transition
// finds, and the metrics. The Git writes are done and are not undone, so a
// patch that lost the race to the Tenant reconcile is made again on the
// latest Tenant, read past the cache, rather than dropped: a revert done
// again would find its own commit and record a skip instead.
func (r *RevertReconciler) record(ctx context.Context, tenant *v1alpha1.Tenant, out revertOutcome) error {
	now := metav1.Now()
	current := tenant
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if current == nil {
			current = &v1alpha1.Tenant{}
			if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(tenant), current); err != nil {
				return err
			}
		}
		next := decide.Reverted(current, out.records, out.gitWrite, now)
		changes := decide.Transition(current.Status, next)
		before := current.DeepCopy()
		current.Status = next
		if err := r.Status().Patch(ctx, current, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			current = nil
			return err
		}
		announcer{r.Recorder}.announce(current, changes)
		return nil
	})
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile: there is no status to record in
	}
	if err != nil {
		return fmt.Errorf("recording the reverts of tenant %s: %w", tenant.Name, err)
	}
	for app, result := range out.results {
		metrics.AppReverts.WithLabelValues(tenant.Name, app, result).Inc()
	}
	return nil
}
