package resilience

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/render"
)

// groupLabel marks the tenants of one test, so a test can select (and
// delete) exactly its own.
const groupLabel = "resilience.test/group"

// tenantNames are prefix-000, prefix-001, ...
func tenantNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return names
}

// newTenant is a tenant on the pro plan with one environment, or two for
// every twoEnvironmentsEvery-th, owned by one user and labelled for group.
func newTenant(name string, i int, group string) *v1alpha1.Tenant {
	envs := []string{"env0"}
	if i%twoEnvironmentsEvery == 0 {
		envs = append(envs, "env1")
	}
	return &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{groupLabel: group}},
		Spec: v1alpha1.TenantSpec{
			Plan:         plan,
			Environments: envs,
			Owners:       []v1alpha1.Owner{{Kind: v1alpha1.SubjectUser, Name: name + "@example.com", Role: v1alpha1.RoleAdmin}},
		},
	}
}

// createTenants creates the named tenants from createWorkers goroutines. A
// create that fails for want of an API server (a restart under way) is
// tried again every 100 ms for up to a minute, as a provisioning client
// would; AlreadyExists on such a retry means the lost attempt went through.
func createTenants(ctx context.Context, names []string, group string) error {
	work := make(chan int)
	errs := make(chan error, len(names))
	var wg sync.WaitGroup
	for range createWorkers {
		wg.Go(func() {
			for i := range work {
				if err := createWithRetry(ctx, newTenant(names[i], i, group)); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range names {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

func createWithRetry(ctx context.Context, tenant *v1alpha1.Tenant) error {
	deadline := time.Now().Add(time.Minute)
	for attempt := 1; ; attempt++ {
		err := admin.Create(ctx, tenant.DeepCopy())
		switch {
		case err == nil:
			return nil
		case apierrors.IsAlreadyExists(err) && attempt > 1:
			return nil
		case apierrors.IsAlreadyExists(err), apierrors.IsInvalid(err), apierrors.IsForbidden(err), apierrors.IsBadRequest(err):
			return fmt.Errorf("creating tenant %s: %w", tenant.Name, err)
		case time.Now().After(deadline):
			return fmt.Errorf("creating tenant %s: still failing after a minute: %w", tenant.Name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tenantKinds are every kind the operator creates for a tenant without Argo
// CD, as typed lists; listed with the tenant label, they show what belongs
// to which tenant.
func tenantKinds() []client.ObjectList {
	return []client.ObjectList{
		&corev1.NamespaceList{}, &corev1.ResourceQuotaList{}, &corev1.LimitRangeList{},
		&networkingv1.NetworkPolicyList{}, &corev1.ServiceAccountList{}, &rbacv1.RoleBindingList{},
		&rbacv1.ClusterRoleList{}, &rbacv1.ClusterRoleBindingList{},
	}
}

// objectID names an object by kind, namespace and name.
func objectID(obj client.Object) string {
	return reflect.TypeOf(obj).Elem().Name() + "/" + obj.GetNamespace() + "/" + obj.GetName()
}

// labelledObjects lists every object of tenantKinds that carries the
// tenant label, managed by the platform or not, by the tenant it names.
func labelledObjects(t *testing.T) map[string][]client.Object {
	t.Helper()
	byTenant := map[string][]client.Object{}
	for _, list := range tenantKinds() {
		if err := admin.List(t.Context(), list, client.HasLabels{v1alpha1.LabelTenant}); err != nil {
			t.Fatal(err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range items {
			obj := item.(client.Object)
			name := obj.GetLabels()[v1alpha1.LabelTenant]
			byTenant[name] = append(byTenant[name], obj)
		}
	}
	return byTenant
}

// verifyOnboarded checks, against the API server, that each named tenant is
// Ready for its current spec and has exactly what render.Tenant returns for
// it, each object labelled as the platform's and owned by this Tenant
// (its UID, so nothing of an earlier Tenant of the same name), and that each
// of its namespaces holds exactly one ResourceQuota, one LimitRange and the
// rendered NetworkPolicies, counting unlabelled ones too.
func verifyOnboarded(t *testing.T, names []string) {
	t.Helper()
	ctx := t.Context()
	var p v1alpha1.TenantPlan
	if err := admin.Get(ctx, client.ObjectKey{Name: plan}, &p); err != nil {
		t.Fatal(err)
	}
	byTenant := labelledObjects(t)
	inNamespace := countByNamespace(t)
	objects, nps := 0, 0
	for _, name := range names {
		var tenant v1alpha1.Tenant
		if err := admin.Get(ctx, client.ObjectKey{Name: name}, &tenant); err != nil {
			t.Errorf("tenant %s: %v", name, err)
			continue
		}
		ready := meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionReady)
		if tenant.Status.Phase != v1alpha1.PhaseReady || ready == nil || ready.Status != metav1.ConditionTrue ||
			ready.ObservedGeneration != tenant.Generation || tenant.Status.ObservedGeneration != tenant.Generation {
			t.Errorf("tenant %s: phase %s, Ready %+v, observedGeneration %d of %d; want Ready for the current generation",
				name, tenant.Status.Phase, ready, tenant.Status.ObservedGeneration, tenant.Generation)
		}
		if want := render.NamespaceNames(&tenant); !slices.Equal(tenant.Status.Namespaces, want) {
			t.Errorf("tenant %s: status.namespaces %v, want %v", name, tenant.Status.Namespaces, want)
		}

		desired, err := render.Tenant(&tenant, &p, renderOptions())
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]client.Object{}
		for _, obj := range desired {
			want[objectID(obj)] = obj
		}
		got := map[string]client.Object{}
		for _, obj := range byTenant[name] {
			id := objectID(obj)
			if _, dup := got[id]; dup {
				t.Errorf("tenant %s: %s listed twice", name, id)
			}
			got[id] = obj
		}
		for _, id := range slices.Sorted(maps.Keys(want)) {
			if _, ok := got[id]; !ok {
				t.Errorf("tenant %s: %s missing", name, id)
			}
		}
		for _, id := range slices.Sorted(maps.Keys(got)) {
			obj := got[id]
			if _, ok := want[id]; !ok {
				t.Errorf("tenant %s: %s is labelled for it but not desired (a duplicate or a leftover)", name, id)
				continue
			}
			if obj.GetLabels()[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue {
				t.Errorf("tenant %s: %s lacks %s=%s", name, id, v1alpha1.LabelManagedBy, v1alpha1.ManagedByValue)
			}
			if owner := metav1.GetControllerOf(obj); owner == nil || owner.UID != tenant.UID || len(obj.GetOwnerReferences()) != 1 {
				t.Errorf("tenant %s (uid %s): %s has owners %+v; want this Tenant alone", name, tenant.UID, id, obj.GetOwnerReferences())
			}
		}
		objects += len(got)

		for _, ns := range render.NamespaceNames(&tenant) {
			wantNPs := len(render.NetworkPolicies(&tenant, &p, ns, renderOptions()))
			c := inNamespace[ns]
			if c.quotas != 1 || c.limitRanges != 1 || c.networkPolicies != wantNPs {
				t.Errorf("namespace %s: %d ResourceQuotas, %d LimitRanges, %d NetworkPolicies; want 1, 1, %d",
					ns, c.quotas, c.limitRanges, c.networkPolicies, wantNPs)
			}
			nps += c.networkPolicies
		}
	}
	t.Logf("verified %d tenants: %d objects, %d of them NetworkPolicies, all as rendered", len(names), objects, nps)
}

// renderOptions are what the operator renders with under the flags the
// tests give it: the defaults, without Argo CD.
func renderOptions() render.Options { return render.DefaultOptions() }

type namespaceCounts struct{ quotas, limitRanges, networkPolicies int }

// countByNamespace counts every ResourceQuota, LimitRange and NetworkPolicy
// in the cluster by namespace, labelled or not.
func countByNamespace(t *testing.T) map[string]namespaceCounts {
	t.Helper()
	counts := map[string]namespaceCounts{}
	var quotas corev1.ResourceQuotaList
	var limits corev1.LimitRangeList
	var policies networkingv1.NetworkPolicyList
	for _, list := range []client.ObjectList{&quotas, &limits, &policies} {
		if err := admin.List(t.Context(), list); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range quotas.Items {
		c := counts[q.Namespace]
		c.quotas++
		counts[q.Namespace] = c
	}
	for _, l := range limits.Items {
		c := counts[l.Namespace]
		c.limitRanges++
		counts[l.Namespace] = c
	}
	for _, np := range policies.Items {
		c := counts[np.Namespace]
		c.networkPolicies++
		counts[np.Namespace] = c
	}
	return counts
}

// verifyNoOrphans checks that no object the platform manages names, in its
// tenant label, a Tenant that does not exist.
func verifyNoOrphans(t *testing.T) {
	t.Helper()
	var list v1alpha1.TenantList
	if err := admin.List(t.Context(), &list); err != nil {
		t.Fatal(err)
	}
	exists := map[string]bool{}
	for _, tenant := range list.Items {
		exists[tenant.Name] = true
	}
	managed := 0
	for name, objs := range labelledObjects(t) {
		for _, obj := range objs {
			if obj.GetLabels()[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue {
				continue
			}
			managed++
			if !exists[name] {
				t.Errorf("orphan: %s is managed for tenant %s, which does not exist", objectID(obj), name)
			}
		}
	}
	t.Logf("no orphans among the %d managed objects of the cluster's %d tenants", managed, len(list.Items))
}
