package controller_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	dto "github.com/prometheus/client_model/go"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/decide"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/metrics"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The revert controller answers the aborts the Tenant's status records:
// one status patch with the operator's rights records the pushed revert,
// the Helm app's skip and GitWriteReady, each announced by one event and
// counted once; the next reconcile finds nothing due and writes nothing.
func TestRevertReconcilerRecordsOnce(t *testing.T) {
	testutil.NeedsCluster(t)
	ctx := t.Context()
	_, failed, https, operator := revertFixture(t)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenantry-system", Name: "reverter-git", Labels: map[string]string{v1alpha1.LabelGitCredentials: "true"}},
		StringData: map[string]string{
			gitops.CredentialURL: https.URL + "/", gitops.CredentialUsername: "tenantry-bot", gitops.CredentialPassword: "right-token",
			gitops.CredentialCABundle: string(https.CA),
		},
	}
	if err := admin.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(ctx, secret) })

	// The plan does not exist: the operator's Tenant reconcile then writes
	// only the Ready condition and leaves the apps this test records.
	newTenant(t, "reverter", "no-such-plan")
	key := client.ObjectKey{Name: "reverter"}
	abortedAt := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	// The operator writes the Tenant too: each change is made on the latest.
	change := func(mutate func(*v1alpha1.Tenant) error) {
		t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			tenant := &v1alpha1.Tenant{}
			if err := admin.Get(ctx, key, tenant); err != nil {
				return err
			}
			return mutate(tenant)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	change(func(tenant *v1alpha1.Tenant) error {
		tenant.Spec.RevertOnAbort = true
		tenant.Spec.Apps = []v1alpha1.App{
			{Name: "shop", RepoURL: https.URL + "/apps", Path: "apps/shop", TargetRevision: "main"},
			{Name: "chart", RepoURL: "https://charts.example.com", Chart: "web", TargetRevision: "1.0.0"},
		}
		return admin.Update(ctx, tenant)
	})
	change(func(tenant *v1alpha1.Tenant) error {
		tenant.Status.Apps = []v1alpha1.AppStatus{
			{Name: "shop", Namespace: "reverter", Revision: failed, Rollout: &v1alpha1.AppRollout{Name: "shop", Phase: v1alpha1.RolloutAborted, Message: "analysis failed", AbortedAt: &abortedAt}},
			{Name: "chart", Namespace: "reverter", Revision: "1.0.0", Rollout: &v1alpha1.AppRollout{Name: "chart", Phase: v1alpha1.RolloutAborted, AbortedAt: &abortedAt}},
		}
		return admin.Status().Update(ctx, tenant)
	})

	recorder := events.NewFakeRecorder(10)
	r := controller.NewRevertReconciler(operator, recorder, render.DefaultOptions())
	req := reconcile.Request{NamespacedName: key}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	got := &v1alpha1.Tenant{}
	if err := admin.Get(ctx, req.NamespacedName, got); err != nil {
		t.Fatal(err)
	}
	records := map[string]*v1alpha1.RolloutRevert{}
	for _, app := range got.Status.Apps {
		if app.Rollout != nil {
			records[app.Name] = app.Rollout.Revert
		}
	}
	if rv := records["shop"]; rv == nil || rv.Commit == "" || !strings.HasPrefix(rv.Message, "reverted ") || !rv.AbortedAt.Equal(&abortedAt) {
		t.Errorf("shop's revert = %+v, want pushed for this abort", rv)
	}
	if rv := records["chart"]; rv == nil || rv.Message != decide.NotRevertedChart {
		t.Errorf("chart's revert = %+v, want %q", rv, decide.NotRevertedChart)
	}
	var gitWrite *metav1.Condition
	for i := range got.Status.Conditions {
		if got.Status.Conditions[i].Type == v1alpha1.ConditionGitWriteReady {
			gitWrite = &got.Status.Conditions[i]
		}
	}
	if gitWrite == nil || gitWrite.Reason != "GitWritePushed" || gitWrite.ObservedGeneration != got.Generation {
		t.Errorf("GitWriteReady = %+v, want GitWritePushed for generation %d", gitWrite, got.Generation)
	}

	// A second look finds every abort answered: no Git write, no event.
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	close(recorder.Events)
	var reasons []string
	for e := range recorder.Events {
		reasons = append(reasons, strings.Fields(e)[1])
	}
	if strings.Join(reasons, ",") != "AppReverted,RevertSkipped" {
		t.Errorf("events = %v, want one AppReverted and one RevertSkipped", reasons)
	}
	for app, result := range map[string]string{"shop": metrics.RevertPushed, "chart": metrics.RevertSkipped} {
		m := &dto.Metric{}
		if err := metrics.AppReverts.WithLabelValues("reverter", app, result).Write(m); err != nil || m.GetCounter().GetValue() != 1 {
			t.Errorf("tenantry_app_reverts_total{app=%q,result=%q} = %v (%v), want 1", app, result, m.GetCounter().GetValue(), err)
		}
	}
}
