package controller_test

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The analysis Secret on the real API server: written with the plan's
// address and the credentials from the platform's namespace, a missing
// credentials Secret reported with the fix, and the Secret and the
// operator's right to write it gone when the defaults are.
func TestAnalysisSecret(t *testing.T) {
	testutil.NeedsCluster(t)
	ctx := t.Context()
	newPlan(t, "analysed", func(s *v1alpha1.TenantPlanSpec) {
		s.Analysis = &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prometheus.monitoring:9090"}
	})
	tenant := newTenant(t, "measured", "analysed")
	ns := "measured"
	key := client.ObjectKey{Namespace: ns, Name: render.AnalysisSecretName}
	binding := client.ObjectKey{Namespace: ns, Name: render.AnalysisWriterBindingName}
	secretHas := func(k, want string) func() error {
		return func() error {
			s := &corev1.Secret{}
			if err := admin.Get(ctx, key, s); err != nil {
				return err
			}
			if got := string(s.Data[k]); got != want {
				return fmt.Errorf("%s = %q, want %q", k, got, want)
			}
			return nil
		}
	}
	testutil.Eventually(t, readyTimeout, secretHas(render.AnalysisKeyPrometheusAddress, "http://prometheus.monitoring:9090"))

	// Credentials from a Secret that does not exist yet: the Tenant says which.
	patch := func(mutate func(*v1alpha1.Tenant)) {
		t.Helper()
		current := &v1alpha1.Tenant{}
		if err := admin.Get(ctx, client.ObjectKeyFromObject(tenant), current); err != nil {
			t.Fatal(err)
		}
		p := client.MergeFrom(current.DeepCopy())
		mutate(current)
		if err := admin.Patch(ctx, current, p); err != nil {
			t.Fatal(err)
		}
	}
	patch(func(t *v1alpha1.Tenant) {
		t.Spec.Analysis = &v1alpha1.AnalysisDefaults{CredentialsSecret: "measured-token"}
	})
	failed := waitPhase(t, tenant.Name, v1alpha1.PhaseFailed)
	ready := meta.FindStatusCondition(failed.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil || ready.Reason != "AnalysisCredentialsNotFound" || !strings.Contains(ready.Message, "tenantry-system/measured-token does not exist") {
		t.Errorf("Ready = %+v, want AnalysisCredentialsNotFound naming tenantry-system/measured-token", ready)
	}
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenantry-system", Name: "measured-token"},
		StringData: map[string]string{render.AnalysisKeyAuthorization: "Bearer m"},
	}
	if err := admin.Create(ctx, creds); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(ctx, creds) })
	// The operator is not told of Secrets it does not cache: a change to
	// the Tenant wakes it.
	patch(func(t *v1alpha1.Tenant) { t.Spec.DisplayName = "Measured" })
	testutil.Eventually(t, readyTimeout, secretHas(render.AnalysisKeyAuthorization, "Bearer m"))
	waitPhase(t, tenant.Name, v1alpha1.PhaseReady)

	// Without defaults (the plan's taken away too), the Secret goes, then
	// the binding that let the operator write it.
	plan := &v1alpha1.TenantPlan{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "analysed"}, plan); err != nil {
		t.Fatal(err)
	}
	planPatch := client.MergeFrom(plan.DeepCopy())
	plan.Spec.Analysis = nil
	if err := admin.Patch(ctx, plan, planPatch); err != nil {
		t.Fatal(err)
	}
	patch(func(t *v1alpha1.Tenant) { t.Spec.Analysis = nil })
	testutil.Eventually(t, readyTimeout, func() error {
		for _, k := range []struct {
			key client.ObjectKey
			obj client.Object
		}{{key, &corev1.Secret{}}, {binding, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"}}}} {
			if err := admin.Get(ctx, k.key, k.obj); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%s still there (err %v)", k.key, err)
			}
		}
		return nil
	})
}
