package resilience

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

// TestMassOffboarding deletes offboardTenants tenants with one request, some
// of them running a Deployment, and checks that everything they owned is
// gone (namespaces and what is in them, their ClusterRoles and
// ClusterRoleBindings) and that nothing else
// was touched: control tenants onboarded next to them, and an unmanaged
// namespace whose objects borrow one of the deleted tenants' label without
// the platform's managed-by label, keep every object, unchanged (same UID
// and resourceVersion).
func TestMassOffboarding(t *testing.T) {
	testutil.NeedsCluster(t)
	ctx := t.Context()
	op := newOperator(t, "offboard-operator", false)
	op.start(t)
	victims := tenantNames("offboard", offboardTenants)
	controls := tenantNames("offctl", offboardControls)
	if err := createTenants(ctx, controls, "offboard-control"); err != nil {
		t.Fatal(err)
	}
	if err := createTenants(ctx, victims, "offboard"); err != nil {
		t.Fatal(err)
	}
	unmanaged := createUnmanaged(t, victims[0])
	tenants.waitReady(t, append(slices.Clone(controls), victims...), 2*time.Minute)
	// The quota controller writes the unmanaged quota's status once; the
	// snapshot must come after that write, not race it.
	for _, obj := range unmanaged {
		if _, ok := obj.(*corev1.ResourceQuota); !ok {
			continue
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			var q corev1.ResourceQuota
			if err := admin.Get(ctx, client.ObjectKeyFromObject(obj), &q); err != nil {
				return err
			}
			if len(q.Status.Hard) == 0 {
				return errors.New("quota status not computed yet")
			}
			return nil
		})
	}

	workloads := runWorkloads(t, victims)

	byTenant := labelledObjects(t)
	owned, namespaces := 0, 0
	for _, name := range victims {
		for _, obj := range byTenant[name] {
			if obj.GetLabels()[v1alpha1.LabelManagedBy] == v1alpha1.ManagedByValue {
				owned++
				if _, ok := obj.(*corev1.Namespace); ok {
					namespaces++
				}
			}
		}
	}
	var keep []client.Object
	for _, name := range controls {
		keep = append(keep, byTenant[name]...)
	}
	keep = append(keep, unmanaged...)
	before := snapshot(t, keep)

	begin := time.Now()
	if err := admin.DeleteAllOf(ctx, &v1alpha1.Tenant{}, client.MatchingLabels{groupLabel: "offboard"}); err != nil {
		t.Fatal(err)
	}
	last := tenants.waitGone(t, victims, 3*time.Minute)
	took := last.Sub(begin)
	t.Logf("mass offboarding: %d tenants (%d managed objects, %d namespaces, %d running Deployments) deleted with one request, all gone in %s (%.1f tenants/s)",
		len(victims), owned, namespaces, len(workloads), took.Round(time.Millisecond), float64(len(victims))/took.Seconds())

	// A Tenant goes only once its namespaces are gone: nothing may be left
	// at that moment, not even a terminating namespace.
	left := labelledObjects(t)
	for _, name := range victims {
		for _, obj := range left[name] {
			if obj.GetLabels()[v1alpha1.LabelManagedBy] == v1alpha1.ManagedByValue {
				t.Errorf("tenant %s is gone but its %s is left (deletion %v)", name, objectID(obj), obj.GetDeletionTimestamp())
			}
		}
	}
	// And by name, past any label: the names render gives them.
	for i, name := range victims {
		tenant := newTenant(name, i, "")
		var gone []client.Object
		for _, ns := range render.NamespaceNames(tenant) {
			gone = append(gone, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
		for _, obj := range gone {
			if err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj); !apierrors.IsNotFound(err) {
				t.Errorf("tenant %s is gone, but getting %s: err = %v, want NotFound", name, objectID(obj), err)
			}
		}
	}

	after := snapshot(t, keep)
	for _, id := range slices.Sorted(maps.Keys(before)) {
		if after[id] != before[id] {
			t.Errorf("%s was touched: %s before, %s after", id, before[id], after[id])
		}
	}
	t.Logf("untouched: %d objects of %d control tenants and of the unmanaged namespace", len(before), len(controls))
	verifyOnboarded(t, controls)
	verifyNoOrphans(t)
	op.logErrorSummary(t)
}

// runWorkloads starts, in the first namespace of every
// offboardWorkloadEvery-th tenant, a one-replica Deployment (its pod runs
// on a kwok node) and a ConfigMap, as a live customer has: offboarding
// deletes workloads before namespaces. It waits until each Deployment is
// available and returns their namespaces.
func runWorkloads(t *testing.T, names []string) []string {
	t.Helper()
	ctx := t.Context()
	var namespaces []string
	for i := 0; i < len(names); i += offboardWorkloadEvery {
		ns := render.NamespaceNames(newTenant(names[i], i, ""))[0]
		deployment := testutil.Deployment("web", 1)
		deployment.Namespace = ns
		// The pro plan's registries; kwok never pulls it.
		deployment.Spec.Template.Spec.Containers[0].Image = "ghcr.io/resilience/web:1.0"
		settings := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: ns}, Data: map[string]string{"key": "value"}}
		for _, obj := range []client.Object{deployment, settings} {
			if err := admin.Create(ctx, obj); err != nil {
				t.Fatalf("creating %s: %v", objectID(obj), err)
			}
		}
		namespaces = append(namespaces, ns)
	}
	for _, ns := range namespaces {
		testutil.Eventually(t, time.Minute, func() error {
			var d appsv1.Deployment
			if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &d); err != nil {
				return err
			}
			if d.Status.AvailableReplicas != 1 {
				return fmt.Errorf("deployment %s/web: %d replicas available, want 1", ns, d.Status.AvailableReplicas)
			}
			return nil
		})
	}
	return namespaces
}

// createUnmanaged creates, without the platform's managed-by label, a
// namespace and objects of every kind the operator manages, all labelled
// for tenant (as someone might label a shared namespace): offboarding
// that tenant must not take them. It returns them.
func createUnmanaged(t *testing.T, tenant string) []client.Object {
	t.Helper()
	ns := "offboard-unmanaged"
	labels := map[string]string{v1alpha1.LabelTenant: tenant}
	meta := func(name, namespace string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels}
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: meta(ns, "")},
		&corev1.ConfigMap{ObjectMeta: meta("settings", ns), Data: map[string]string{"key": "value"}},
		&corev1.Secret{ObjectMeta: meta("credentials", ns), StringData: map[string]string{"password": "hunter2"}},
		&corev1.ResourceQuota{ObjectMeta: meta("quota", ns), Spec: corev1.ResourceQuotaSpec{
			Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")},
		}},
		&corev1.LimitRange{ObjectMeta: meta("limits", ns), Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}}}},
		&networkingv1.NetworkPolicy{ObjectMeta: meta("deny-all", ns), Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		}},
		&corev1.ServiceAccount{ObjectMeta: meta("robot", ns)},
		&rbacv1.RoleBinding{ObjectMeta: meta("robot-view", ns),
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "robot", Namespace: ns}}},
		&rbacv1.ClusterRole{ObjectMeta: meta("offboard-unmanaged", ""), Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"},
		}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: meta("offboard-unmanaged", ""),
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "offboard-unmanaged"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "robot", Namespace: ns}}},
	}
	for _, obj := range objs {
		if err := admin.Create(t.Context(), obj); err != nil {
			t.Fatalf("creating %s: %v", objectID(obj), err)
		}
	}
	return objs
}

// snapshot reads each object again and returns its UID and resourceVersion
// by objectID: an object deleted and recreated, or changed, reads differently.
func snapshot(t *testing.T, objs []client.Object) map[string]string {
	t.Helper()
	out := make(map[string]string, len(objs))
	for _, obj := range objs {
		current := obj.DeepCopyObject().(client.Object)
		err := admin.Get(t.Context(), client.ObjectKeyFromObject(obj), current)
		switch {
		case apierrors.IsNotFound(err):
			out[objectID(obj)] = "deleted"
		case err != nil:
			t.Fatal(err)
		case current.GetDeletionTimestamp() != nil:
			out[objectID(obj)] = "being deleted"
		default:
			out[objectID(obj)] = fmt.Sprintf("uid %s rv %s", current.GetUID(), current.GetResourceVersion())
		}
	}
	return out
}
