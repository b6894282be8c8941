package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/testutil"
)

// readyTimeout bounds onboarding in tests; it takes about a second.
const readyTimeout = 60 * time.Second

// newPlan creates a small plan, changed by mutate, deleted when the test ends.
func newPlan(t *testing.T, name string, mutate func(*v1alpha1.TenantPlanSpec)) *v1alpha1.TenantPlan {
	t.Helper()
	plan := &v1alpha1.TenantPlan{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: smallPlanSpec()}
	if mutate != nil {
		mutate(&plan.Spec)
	}
	if err := admin.Create(t.Context(), plan); err != nil {
		t.Fatalf("creating plan %s: %v", name, err)
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), plan) })
	return plan
}

// newTenant creates a Tenant whose owners are the user <name>-admin (admin)
// and the group <name>-devs (developer); it is deleted when the test ends.
func newTenant(t *testing.T, name, plan string, envs ...string) *v1alpha1.Tenant {
	t.Helper()
	tenant := &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.TenantSpec{
			Plan:         plan,
			DisplayName:  "Test tenant " + name,
			Environments: envs,
			Owners: []v1alpha1.Owner{
				{Kind: v1alpha1.SubjectUser, Name: name + "-admin", Role: v1alpha1.RoleAdmin},
				{Kind: v1alpha1.SubjectGroup, Name: name + "-devs", Role: v1alpha1.RoleDeveloper},
			},
		},
	}
	if err := admin.Create(t.Context(), tenant); err != nil {
		t.Fatalf("creating tenant %s: %v", name, err)
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), tenant) })
	return tenant
}

// waitPhase waits until the Tenant reports phase for its current generation.
func waitPhase(t *testing.T, name string, phase v1alpha1.Phase) *v1alpha1.Tenant {
	t.Helper()
	tenant := &v1alpha1.Tenant{}
	testutil.Eventually(t, readyTimeout, func() error {
		if err := admin.Get(t.Context(), client.ObjectKey{Name: name}, tenant); err != nil {
			return err
		}
		if tenant.Status.ObservedGeneration != tenant.Generation || tenant.Status.Phase != phase {
			ready := meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionReady)
			return fmt.Errorf("tenant %s: phase %q at generation %d/%d (Ready: %+v), want %s",
				name, tenant.Status.Phase, tenant.Status.ObservedGeneration, tenant.Generation, ready, phase)
		}
		return nil
	})
	return tenant
}

// userClient is a client authenticated with a client certificate, as a
// real tenant user is.
func userClient(t *testing.T, user string, groups ...string) client.Client {
	return testutil.UserClient(t, cluster, scheme, user, groups...)
}

// waitGone waits until obj no longer exists.
func waitGone(t *testing.T, obj client.Object) {
	t.Helper()
	testutil.Eventually(t, readyTimeout, func() error {
		err := admin.Get(t.Context(), client.ObjectKeyFromObject(obj), obj)
		if err == nil {
			return fmt.Errorf("%T %s still exists", obj, client.ObjectKeyFromObject(obj))
		}
		return client.IgnoreNotFound(err)
	})
}

// smallPlanSpec is a plan with room for a few small pods per namespace.
func smallPlanSpec() v1alpha1.TenantPlanSpec {
	return v1alpha1.TenantPlanSpec{
		MaxEnvironments: 3,
		Quota: corev1.ResourceList{
			"requests.cpu": resource.MustParse("1"), "requests.memory": resource.MustParse("1Gi"),
			"limits.cpu": resource.MustParse("2"), "limits.memory": resource.MustParse("2Gi"),
			"pods": resource.MustParse("4"),
		},
		QuotaCeiling: corev1.ResourceList{"requests.cpu": resource.MustParse("2")},
		// testutil.RestrictedPod's image.
		AllowedRegistries: []string{"registry.k8s.io/"},
		Limits: v1alpha1.ContainerLimits{
			DefaultRequest: corev1.ResourceList{"cpu": resource.MustParse("100m"), "memory": resource.MustParse("64Mi")},
			Default:        corev1.ResourceList{"cpu": resource.MustParse("200m"), "memory": resource.MustParse("128Mi")},
			Max:            corev1.ResourceList{"cpu": resource.MustParse("1"), "memory": resource.MustParse("1Gi")},
		},
	}
}
