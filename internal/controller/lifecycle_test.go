package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/testutil"
)

// patchTenant merge-patches a Tenant with fields, e.g. {"spec": {"suspended": true}}.
func patchTenant(t *testing.T, name string, fields map[string]any) {
	t.Helper()
	data, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	tenant := &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := admin.Patch(t.Context(), tenant, client.RawPatch(types.MergePatchType, data)); err != nil {
		t.Fatalf("patching tenant %s: %v", name, err)
	}
}

// create creates obj as the cluster admin, failing the test on error.
func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := admin.Create(t.Context(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// waitReplicas waits until a Deployment or StatefulSet has ready replicas.
func waitReplicas(t *testing.T, obj client.Object, want int32) {
	t.Helper()
	testutil.Eventually(t, readyTimeout, func() error {
		if err := admin.Get(t.Context(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		var ready int32
		switch o := obj.(type) {
		case *appsv1.Deployment:
			ready = o.Status.AvailableReplicas
		case *appsv1.StatefulSet:
			ready = o.Status.ReadyReplicas
		}
		if ready != want {
			return fmt.Errorf("%T %s: %d ready, want %d", obj, obj.GetName(), ready, want)
		}
		return nil
	})
}

// podUIDs returns the UIDs of the running pods in a namespace, sorted.
func podUIDs(t *testing.T, namespace string) []types.UID {
	t.Helper()
	var pods corev1.PodList
	if err := admin.List(t.Context(), &pods, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	var uids []types.UID
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			uids = append(uids, p.UID)
		}
	}
	slices.Sort(uids)
	return uids
}

func statefulSet(name string, replicas int32) *appsv1.StatefulSet {
	d := testutil.Deployment(name, replicas)
	return &appsv1.StatefulSet{
		ObjectMeta: d.ObjectMeta,
		Spec:       appsv1.StatefulSetSpec{Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: d.Spec.Template},
	}
}

func TestSuspendScalesWorkloadsDownAndResumeRestoresThem(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ctx := t.Context()
	newPlan(t, "pause-plan", nil)
	newTenant(t, "pause", "pause-plan")
	waitPhase(t, "pause", v1alpha1.PhaseReady)

	web := testutil.Deployment("web", 2)
	web.Namespace = "pause"
	db := statefulSet("db", 1)
	db.Namespace = "pause"
	nightly := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "pause", Name: "nightly"},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: func() corev1.PodSpec {
				s := testutil.RestrictedPodSpec()
				s.RestartPolicy = corev1.RestartPolicyNever
				return s
			}()},
		}}},
	}
	for _, obj := range []client.Object{web, db, nightly} {
		create(t, obj)
	}
	waitReplicas(t, web, 2)
	waitReplicas(t, db, 1)

	patchTenant(t, "pause", map[string]any{"spec": map[string]any{"suspended": true}})
	tenant := waitPhase(t, "pause", v1alpha1.PhaseSuspended)
	if !meta.IsStatusConditionTrue(tenant.Status.Conditions, v1alpha1.ConditionSuspended) {
		t.Errorf("Suspended condition not true: %+v", tenant.Status.Conditions)
	}
	checkScaled := func(obj client.Object, wantReplicas int32, wantAnnotation string) {
		t.Helper()
		testutil.Eventually(t, readyTimeout, func() error {
			if err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return err
			}
			var replicas *int32
			switch o := obj.(type) {
			case *appsv1.Deployment:
				replicas = o.Spec.Replicas
			case *appsv1.StatefulSet:
				replicas = o.Spec.Replicas
			}
			got, ok := obj.GetAnnotations()[v1alpha1.AnnotationSuspendedReplicas]
			if ptr.Deref(replicas, 1) != wantReplicas || got != wantAnnotation || (wantAnnotation == "" && ok) {
				return fmt.Errorf("%s: replicas %d, annotation %q; want %d, %q", obj.GetName(), ptr.Deref(replicas, 1), got, wantReplicas, wantAnnotation)
			}
			return nil
		})
	}
	checkScaled(web, 0, "2")
	checkScaled(db, 0, "1")
	if err := admin.Get(ctx, client.ObjectKeyFromObject(nightly), nightly); err != nil || !ptr.Deref(nightly.Spec.Suspend, false) {
		t.Errorf("CronJob not suspended (err %v): %+v", err, nightly.Spec.Suspend)
	}
	testutil.Eventually(t, readyTimeout, func() error {
		if uids := podUIDs(t, "pause"); len(uids) > 0 {
			return fmt.Errorf("%d pods still running", len(uids))
		}
		return nil
	})
	// The suspension's pods: 0 is not a quota overrun.
	if err := admin.Get(ctx, client.ObjectKey{Name: "pause"}, tenant); err != nil {
		t.Fatal(err)
	}
	if meta.IsStatusConditionTrue(tenant.Status.Conditions, v1alpha1.ConditionQuotaExceeded) {
		t.Errorf("QuotaExceeded while suspended: %+v", meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionQuotaExceeded))
	}
	late := testutil.RestrictedPod("late")
	late.Namespace = "pause"
	testutil.WantRefusal(t, admin.Create(ctx, late), apierrors.IsForbidden, "exceeded quota")

	// Suspending again changes nothing: the recorded counts stay.
	patchTenant(t, "pause", map[string]any{"metadata": map[string]any{"labels": map[string]any{"touched": "yes"}}})
	waitPhase(t, "pause", v1alpha1.PhaseSuspended)
	checkScaled(web, 0, "2")

	patchTenant(t, "pause", map[string]any{"spec": map[string]any{"suspended": false}})
	tenant = waitPhase(t, "pause", v1alpha1.PhaseReady)
	if meta.IsStatusConditionTrue(tenant.Status.Conditions, v1alpha1.ConditionSuspended) {
		t.Errorf("Suspended condition still true after resume")
	}
	checkScaled(web, 2, "")
	checkScaled(db, 1, "")
	if err := admin.Get(ctx, client.ObjectKeyFromObject(nightly), nightly); err != nil || ptr.Deref(nightly.Spec.Suspend, true) {
		t.Errorf("CronJob still suspended (err %v): %+v", err, nightly.Spec.Suspend)
	}
	waitReplicas(t, web, 2)
	waitReplicas(t, db, 1)
}

func TestPlanChangeKeepsPodsAndReportsQuotaExceeded(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ctx := t.Context()
	pods := func(n string) func(*v1alpha1.TenantPlanSpec) {
		return func(s *v1alpha1.TenantPlanSpec) { s.Quota["pods"] = resource.MustParse(n) }
	}
	newPlan(t, "change-small", pods("4"))
	newPlan(t, "change-big", pods("8"))
	newPlan(t, "change-tiny", pods("1"))
	newTenant(t, "mover", "change-small")
	waitPhase(t, "mover", v1alpha1.PhaseReady)
	web := testutil.Deployment("web", 2)
	web.Namespace = "mover"
	create(t, web)
	waitReplicas(t, web, 2)
	ns := &corev1.Namespace{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "mover"}, ns); err != nil {
		t.Fatal(err)
	}
	nsUID, pods0 := ns.UID, podUIDs(t, "mover")

	quotaPods := func() string {
		q := &corev1.ResourceQuota{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: "mover", Name: "tenantry-quota"}, q); err != nil {
			t.Fatal(err)
		}
		h := q.Status.Hard[corev1.ResourcePods]
		return h.String()
	}
	for _, step := range []struct {
		plan, wantPods string
		wantExceeded   bool
	}{{"change-big", "8", false}, {"change-tiny", "1", true}, {"change-small", "4", false}} {
		patchTenant(t, "mover", map[string]any{"spec": map[string]any{"plan": step.plan}})
		testutil.Eventually(t, readyTimeout, func() error {
			tenant := &v1alpha1.Tenant{}
			if err := admin.Get(ctx, client.ObjectKey{Name: "mover"}, tenant); err != nil {
				return err
			}
			exceeded := meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionQuotaExceeded)
			switch {
			case quotaPods() != step.wantPods:
				return fmt.Errorf("plan %s: quota pods %s, want %s", step.plan, quotaPods(), step.wantPods)
			case tenant.Status.Phase != v1alpha1.PhaseReady || tenant.Status.ObservedGeneration != tenant.Generation:
				return fmt.Errorf("plan %s: phase %s at generation %d/%d", step.plan, tenant.Status.Phase, tenant.Status.ObservedGeneration, tenant.Generation)
			case exceeded == nil || (exceeded.Status == metav1.ConditionTrue) != step.wantExceeded:
				return fmt.Errorf("plan %s: QuotaExceeded %+v, want %v", step.plan, exceeded, step.wantExceeded)
			case step.wantExceeded && !strings.Contains(exceeded.Message, "mover: pods 2/1") || !strings.Contains(exceeded.Message, "evicts nothing") && step.wantExceeded:
				return fmt.Errorf("plan %s: QuotaExceeded message %q lacks the resource over", step.plan, exceeded.Message)
			}
			return nil
		})
		if tenant := waitPhase(t, "mover", v1alpha1.PhaseReady); tenant.Status.Plan != step.plan {
			t.Errorf("status.plan = %q, want %q", tenant.Status.Plan, step.plan)
		}
		if got := podUIDs(t, "mover"); !slices.Equal(got, pods0) {
			t.Errorf("plan %s: pods %v, want the same pods %v (none restarted)", step.plan, got, pods0)
		}
		if err := admin.Get(ctx, client.ObjectKey{Name: "mover"}, ns); err != nil || ns.UID != nsUID {
			t.Errorf("plan %s: namespace recreated (err %v)", step.plan, err)
		}
		if step.wantExceeded {
			if v := gaugeValue(t, "tenantry_tenant_condition", map[string]string{"tenant": "mover", "condition": "QuotaExceeded"}); v != 1 {
				t.Errorf(`tenantry_tenant_condition{condition="QuotaExceeded"} = %v, want 1`, v)
			}
			if v := gaugeValue(t, "tenantry_namespace_quota_used", map[string]string{"tenant": "mover", "namespace": "mover", "resource": "pods"}); v != 2 {
				t.Errorf(`tenantry_namespace_quota_used{resource="pods"} = %v, want 2`, v)
			}
		}
	}
}

func TestTenantWideQuotaIsEnforcedByTheAPIServer(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ctx := t.Context()
	newPlan(t, "shared-plan", func(s *v1alpha1.TenantPlanSpec) {
		s.TenantQuota = corev1.ResourceList{"requests.cpu": resource.MustParse("1")}
	})
	newTenant(t, "shared", "shared-plan", "prod", "staging")
	tenant := waitPhase(t, "shared", v1alpha1.PhaseReady)
	if hard := tenant.Status.Quota.Hard["requests.cpu"]; hard.Cmp(resource.MustParse("1")) != 0 {
		t.Errorf("status.quota.hard requests.cpu = %s, want the tenant-wide 1", hard.String())
	}

	cpuPod := func(ns, name, cpu string) *corev1.Pod {
		p := testutil.RestrictedPod(name)
		p.Namespace = ns
		q := resource.MustParse(cpu)
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q}, Limits: corev1.ResourceList{corev1.ResourceCPU: q},
		}
		return p
	}
	cpuHard := func(ns string) resource.Quantity {
		q := &corev1.ResourceQuota{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tenantry-quota"}, q); err != nil {
			t.Fatal(err)
		}
		return q.Status.Hard["requests.cpu"]
	}
	// prod grows in two steps; the split follows it.
	create(t, cpuPod("shared-prod", "a", "400m"))
	testutil.Eventually(t, readyTimeout, func() error {
		return admin.Create(ctx, cpuPod("shared-prod", "b", "500m"))
	})
	// Once the split has followed prod to 900m, staging has less than the 200m it asks for.
	testutil.Eventually(t, readyTimeout, func() error {
		if h := cpuHard("shared-staging"); h.MilliValue() >= 200 {
			return fmt.Errorf("staging's share is still %s", h.String())
		}
		return nil
	})
	testutil.WantRefusal(t, admin.Create(ctx, cpuPod("shared-staging", "c", "200m")), apierrors.IsForbidden,
		"exceeded quota: tenantry-quota", "requests.cpu")
	prodHard, stagingHard := cpuHard("shared-prod"), cpuHard("shared-staging")
	if sum := prodHard.MilliValue() + stagingHard.MilliValue(); sum > 1000 {
		t.Errorf("the namespaces' quotas add up to %dm, above the tenant's 1000m", sum)
	}

	// prod shrinks; staging's share grows back and the same pod is admitted.
	for _, name := range []string{"a", "b"} {
		if err := admin.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shared-prod", Name: name}}, client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, readyTimeout, func() error {
		return admin.Create(ctx, cpuPod("shared-staging", "c", "200m"))
	})
	testutil.Eventually(t, readyTimeout, func() error {
		if err := admin.Get(ctx, client.ObjectKey{Name: "shared"}, tenant); err != nil {
			return err
		}
		if used := tenant.Status.Quota.Used["requests.cpu"]; used.Cmp(resource.MustParse("200m")) != 0 || tenant.Status.Quota.CPU != "200m/1" {
			return fmt.Errorf("status.quota: used %s, cpu %q; want 200m and 200m/1", used.String(), tenant.Status.Quota.CPU)
		}
		return nil
	})
}

func TestRemovingAnEnvironmentThatRunsPodsNeedsConfirmation(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ctx := t.Context()
	newPlan(t, "env-plan", nil)
	newTenant(t, "envs", "env-plan", "a", "b")
	waitPhase(t, "envs", v1alpha1.PhaseReady)
	pod := testutil.RestrictedPod("busy")
	pod.Namespace = "envs-b"
	create(t, pod)

	patchTenant(t, "envs", map[string]any{"spec": map[string]any{"environments": []string{"a"}}})
	tenant := waitPhase(t, "envs", v1alpha1.PhaseReady)
	if !slices.Equal(tenant.Status.RetainedEnvironments, []string{"b"}) {
		t.Errorf("status.retainedEnvironments = %v, want [b]", tenant.Status.RetainedEnvironments)
	}
	ns := &corev1.Namespace{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "envs-b"}, ns); err != nil || ns.DeletionTimestamp != nil {
		t.Fatalf("namespace envs-b was not kept (err %v, deleting %v)", err, ns.DeletionTimestamp)
	}

	patchTenant(t, "envs", map[string]any{"metadata": map[string]any{"annotations": map[string]any{v1alpha1.AnnotationConfirmDelete: "b"}}})
	testutil.Eventually(t, readyTimeout, func() error {
		err := admin.Get(ctx, client.ObjectKey{Name: "envs-b"}, ns)
		if apierrors.IsNotFound(err) || (err == nil && ns.DeletionTimestamp != nil) {
			return nil
		}
		return fmt.Errorf("namespace envs-b still there after confirmation (err %v)", err)
	})
}

func TestRetainKeepsNamespacesLockedDownAndRevokesAccess(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ctx := t.Context()
	newPlan(t, "retain-plan", nil)
	tenant := newTenant(t, "keeper", "retain-plan")
	patchTenant(t, "keeper", map[string]any{"spec": map[string]any{"deletionPolicy": "Retain"}})
	waitPhase(t, "keeper", v1alpha1.PhaseReady)
	owner := userClient(t, "keeper-admin")
	if err := owner.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "keeper", Name: "data"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "keeper"}})
	})

	if err := admin.Delete(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	waitGone(t, tenant)

	ns := &corev1.Namespace{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "keeper"}, ns); err != nil || ns.DeletionTimestamp != nil {
		t.Fatalf("namespace keeper not kept (err %v)", err)
	}
	if ns.Labels[v1alpha1.LabelOrphaned] != "true" || len(ns.OwnerReferences) != 0 {
		t.Errorf("kept namespace: labels %v, owners %v; want orphaned and no owner", ns.Labels, ns.OwnerReferences)
	}
	for _, obj := range []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "keeper", Name: "data"}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "keeper", Name: "tenantry-default-deny"}},
		&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "keeper", Name: "tenantry-quota"}},
	} {
		if err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Errorf("%T %s not kept: %v", obj, obj.GetName(), err)
		}
	}
	for _, obj := range []client.Object{
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "keeper", Name: "tenantry:tenant-admin"}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenantry:tenant:keeper"}},
	} {
		waitGone(t, obj)
	}
	err := owner.List(ctx, &corev1.ConfigMapList{}, client.InNamespace("keeper"))
	testutil.WantRefusal(t, err, apierrors.IsForbidden, `cannot list resource "configmaps"`)
}

func TestPreventDeletionIsEnforcedByTheAPIServer(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	newPlan(t, "guarded-plan", nil)
	tenant := newTenant(t, "guarded", "guarded-plan")
	patchTenant(t, "guarded", map[string]any{"metadata": map[string]any{"annotations": map[string]any{v1alpha1.AnnotationPreventDeletion: "true"}}})
	waitPhase(t, "guarded", v1alpha1.PhaseReady)

	err := admin.Delete(t.Context(), tenant)
	testutil.WantRefusal(t, err, apierrors.IsForbidden, "tenantry rule 11 (deletion protection): Tenant guarded has tenantry.dev/prevent-deletion=true")
	patchTenant(t, "guarded", map[string]any{"metadata": map[string]any{"annotations": map[string]any{v1alpha1.AnnotationPreventDeletion: nil}}})
	// The test's cleanup deletes it now.
}

func TestStuckOffboardingIsReported(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ctx := t.Context()
	newPlan(t, "stuck-plan", nil)
	tenant := newTenant(t, "stuck", "stuck-plan")
	waitPhase(t, "stuck", v1alpha1.PhaseReady)
	// An object whose finalizer no controller will remove holds the namespace.
	held := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "stuck", Name: "held", Finalizers: []string{"example.com/hold"}}}
	create(t, held)
	if err := admin.Delete(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, readyTimeout, func() error {
		if err := admin.Get(ctx, client.ObjectKeyFromObject(tenant), tenant); err != nil {
			return err
		}
		ready := meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionReady)
		if ready == nil || !strings.Contains(ready.Message, "waiting for namespaces to be deleted: stuck (") || !strings.Contains(ready.Message, "example.com/hold") {
			return fmt.Errorf("Ready condition does not report what holds the namespace: %+v", ready)
		}
		return nil
	})
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))
	if err := admin.Patch(ctx, held, patch); err != nil {
		t.Fatal(err)
	}
	waitGone(t, tenant)
}

// gaugeValue reads a gauge from the operator's metrics registry, or -1
// when no series has these labels.
func gaugeValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	if v, ok := testutil.MetricValue(t, name, labels); ok {
		return v
	}
	return -1
}
