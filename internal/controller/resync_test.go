package controller_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/testutil"
)

// Not parallel: it counts the tenant controller's reconciles, so it runs
// before the parallel tests start and nothing else is reconciled meanwhile.
func TestReconcilingAnUnchangedTenantWritesNothing(t *testing.T) {
	testutil.NeedsCluster(t)
	newPlan(t, "quiet-plan", nil)
	tenant := newTenant(t, "quiet", "quiet-plan", "prod")
	waitPhase(t, "quiet", v1alpha1.PhaseReady)
	ctx := t.Context()
	before := managedVersions(t, "quiet")

	// A label on the Tenant changes nothing it renders, but wakes a reconcile.
	reconciles := counter(t, "controller_runtime_reconcile_total", "controller", "tenant")
	writes := writeRequests(t)
	patch := client.MergeFrom(tenant.DeepCopy())
	tenant.Labels = map[string]string{"touched": "yes"}
	if err := admin.Patch(ctx, tenant, patch); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, readyTimeout, func() error {
		if n := counter(t, "controller_runtime_reconcile_total", "controller", "tenant"); n <= reconciles {
			return fmt.Errorf("no reconcile since the touch (%v)", n)
		}
		return nil
	})

	// Server-side apply of unchanged objects would leave them as they are
	// too, but it would still cost a request each: there must be none but
	// the test's own patch.
	if n := writeRequests(t) - writes; n != 1 {
		t.Errorf("%v write requests during the reconcile, want only the test's own patch", n)
	}
	after := managedVersions(t, "quiet")
	for id, rv := range before {
		if after[id] != rv {
			t.Errorf("%s was written by a reconcile that had nothing to change (resourceVersion %s -> %s)", id, rv, after[id])
		}
	}
}

// managedVersions maps each object the operator made for a tenant to its
// resourceVersion. ResourceQuotas are left out: the quota controller writes
// their status.
func managedVersions(t *testing.T, tenant string) map[string]string {
	t.Helper()
	versions := map[string]string{}
	for _, list := range []client.ObjectList{
		&corev1.NamespaceList{}, &corev1.LimitRangeList{}, &networkingv1.NetworkPolicyList{},
		&rbacv1.RoleBindingList{},
	} {
		if err := admin.List(t.Context(), list, client.MatchingLabels{v1alpha1.LabelTenant: tenant}); err != nil {
			t.Fatal(err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range items {
			obj := item.(client.Object)
			versions[fmt.Sprintf("%T %s/%s", obj, obj.GetNamespace(), obj.GetName())] = obj.GetResourceVersion()
		}
	}
	// A namespace, its limit range, 2 network policies, 2 role bindings.
	const want = 6
	if len(versions) != want {
		t.Fatalf("found %d objects of tenant %s, want %d: %v", len(versions), tenant, want, versions)
	}
	return versions
}

// writeRequests counts the write requests this process's clients sent.
func writeRequests(t *testing.T) float64 {
	t.Helper()
	var n float64
	for _, verb := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		n += counter(t, "rest_client_requests_total", "method", verb)
	}
	return n
}

// counter sums the samples of a counter in controller-runtime's registry
// (which also holds client-go's request metrics) whose label has value.
func counter(t *testing.T, name, label, value string) float64 {
	t.Helper()
	return testutil.MetricSum(t, name, map[string]string{label: value})
}

// Not parallel, like the test above: every Tenant status write the API
// server serves comes from a tenant reconcile, and no reconcile writes the
// status more than once, from onboarding through a suspension, a resumption
// and an environment removal to offboarding. Both counts are the whole
// cluster's, so a tenant of an earlier test still going counts on both sides.
func TestEveryReconcileWritesTheStatusAtMostOnce(t *testing.T) {
	testutil.NeedsCluster(t)
	ctx := t.Context()
	statusWrites := func() float64 {
		n, err := testutil.TenantStatusWrites(ctx, cluster.Config)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	reconciles := func() float64 { return counter(t, "controller_runtime_reconcile_total", "controller", "tenant") }
	writes0, reconciles0 := statusWrites(), reconciles()

	newPlan(t, "once-plan", nil)
	tenant := newTenant(t, "once", "once-plan", "dev", "prod")
	waitPhase(t, "once", v1alpha1.PhaseReady)
	for _, step := range []struct {
		edit  func(*v1alpha1.Tenant)
		phase v1alpha1.Phase
	}{
		{func(t *v1alpha1.Tenant) { t.Spec.Suspended = true }, v1alpha1.PhaseSuspended},
		{func(t *v1alpha1.Tenant) { t.Spec.Suspended = false }, v1alpha1.PhaseReady},
		{func(t *v1alpha1.Tenant) { t.Spec.Environments = []string{"dev"} }, v1alpha1.PhaseReady},
	} {
		if err := admin.Get(ctx, client.ObjectKeyFromObject(tenant), tenant); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(tenant.DeepCopy())
		step.edit(tenant)
		if err := admin.Patch(ctx, tenant, patch); err != nil {
			t.Fatal(err)
		}
		waitPhase(t, "once", step.phase)
	}
	if err := admin.Delete(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	waitGone(t, tenant)

	writes, reconciled := statusWrites()-writes0, reconciles()-reconciles0
	t.Logf("%v status writes in %v tenant reconciles", writes, reconciled)
	// Ready, Suspended, Ready, Ready for the new generation: at least 4.
	if writes < 4 || writes > reconciled {
		t.Errorf("%v status writes in %v reconciles; want at least 4 and at most one per reconcile", writes, reconciled)
	}
}
