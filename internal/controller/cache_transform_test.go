package controller

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsjson "sigs.k8s.io/json"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/render"
)

func TestCompactForCache(t *testing.T) {
	hard := corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("2")}
	quota := func(status corev1.ResourceList) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: "acme-prod", Name: render.QuotaName,
				Labels:          map[string]string{v1alpha1.LabelTenant: "acme", v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue},
				Annotations:     map[string]string{v1alpha1.AnnotationSpecHash: "abc"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Tenant", Name: "acme", UID: types.UID("u-1")}},
				ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: FieldOwner}},
			},
			Spec:   corev1.ResourceQuotaSpec{Hard: hard.DeepCopy()},
			Status: corev1.ResourceQuotaStatus{Hard: status, Used: corev1.ResourceList{"pods": resource.MustParse("1")}},
		}
	}
	for _, tc := range []struct {
		name       string
		in         any
		sharedHard bool
	}{
		{"a quota the quota controller has caught up with", quota(hard.DeepCopy()), true},
		{"a quota whose enforced limits lag its spec", quota(corev1.ResourceList{"pods": resource.MustParse("5")}), false},
		{"a quota not counted yet", quota(nil), false},
		{"a tenant", &v1alpha1.Tenant{
			ObjectMeta: metav1.ObjectMeta{Name: "acme"},
			Spec:       v1alpha1.TenantSpec{Plan: "pro"},
			Status: v1alpha1.TenantStatus{Phase: v1alpha1.PhaseReady, Plan: "pro", Namespaces: []string{"acme-prod"},
				Conditions: []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", Message: "ready"}},
				Quota:      &v1alpha1.QuotaStatus{Hard: hard.DeepCopy(), Used: hard.DeepCopy()}},
		}, false},
		{"a namespace", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "acme-prod", Labels: map[string]string{"a": "b"}}}, false},
		{"metadata only", &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "acme-prod", Name: "default-deny"}}, false},
		{"a tombstone", toolscache.DeletedFinalStateUnknown{Key: "acme-prod/x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := deepCopyOrSame(tc.in)
			out, err := compactForCache(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			obj, isObject := out.(client.Object)
			if !isObject {
				if !reflect.DeepEqual(out, want) {
					t.Fatalf("a non-object changed: %#v", out)
				}
				return
			}
			if obj.GetManagedFields() != nil {
				t.Errorf("managed fields kept: %v", obj.GetManagedFields())
			}
			obj.SetManagedFields(want.(client.Object).GetManagedFields())
			if !equality.Semantic.DeepEqual(out, want) {
				t.Errorf("content changed:\n got %#v\nwant %#v", out, want)
			}
			if q, ok := out.(*corev1.ResourceQuota); ok {
				shared := reflect.ValueOf(q.Status.Hard).Pointer() == reflect.ValueOf(q.Spec.Hard).Pointer()
				if shared != tc.sharedHard {
					t.Errorf("status.hard shares spec.hard: %v, want %v", shared, tc.sharedHard)
				}
			}
		})
	}
}

func TestSharedLists(t *testing.T) {
	list := func(pods string) corev1.ResourceList {
		return corev1.ResourceList{"pods": resource.MustParse(pods), "requests.cpu": resource.MustParse("500m")}
	}
	same := func(a, b corev1.ResourceList) bool {
		return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
	}
	first := shareList(list("10"))
	if again := shareList(list("10")); !same(first, again) || !equality.Semantic.DeepEqual(again, list("10")) {
		t.Errorf("an equal list is not shared: %v", again)
	}
	if other := shareList(list("11")); same(first, other) || !equality.Semantic.DeepEqual(other, list("11")) {
		t.Errorf("a different list is shared: %v", other)
	}
	if empty := shareList(nil); empty != nil {
		t.Errorf("nil became %v", empty)
	}
	for i := range maxSharedLists + 10 {
		shareList(list(fmt.Sprint(100 + i)))
	}
	if n := sharedLists.size(); n > maxSharedLists {
		t.Errorf("the table holds %d lists, more than %d", n, maxSharedLists)
	}
}

func (t *sharingTable[T]) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.values)
}

func (t *sharingTable[T]) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.values = nil
}

func deepCopyOrSame(in any) any {
	if obj, ok := in.(client.Object); ok {
		return obj.DeepCopyObject()
	}
	return in
}

// BenchmarkCacheMemory is the heap the cache's copy of 1,000 two-environment
// Ready tenants and their objects takes, on a plan of 15 quota resources,
// each namespace using them differently (the worst case for sharing lists),
// as the informers hold it: each object decoded from what the API server
// sends (protobuf for the built-in kinds, JSON for Tenants), then
// transformed by controller-runtime's TransformStripManagedFields or by
// compactForCache. The metadata-only kinds are cached as metadata, as the
// operator caches them.
//
//	go test -short -run '^$' -bench CacheMemory ./internal/controller/
func BenchmarkCacheMemory(b *testing.B) {
	const tenants = 1000
	encoded := encodedTenantObjects(b, tenants)
	for _, transform := range []struct {
		name string
		fn   toolscache.TransformFunc
	}{
		{"strip-managed-fields", cache.TransformStripManagedFields()},
		{"compact", compactForCache},
	} {
		b.Run(transform.name, func(b *testing.B) {
			var perTenant float64
			for b.Loop() {
				perTenant = cachedBytes(b, encoded, transform.fn) / tenants
			}
			b.ReportMetric(perTenant, "B/tenant")
		})
	}
}

// cachedBytes decodes every object as an informer would, keeps them all,
// and returns the live heap they take.
func cachedBytes(b *testing.B, encoded []encodedObject, transform toolscache.TransformFunc) float64 {
	// Lists shared with the last round's objects would not be counted.
	sharedLists.reset()
	sharedLabels.reset()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	kept := make([]any, 0, len(encoded))
	for _, e := range encoded {
		obj, err := e.decode(e.data)
		if err != nil {
			b.Fatal(err)
		}
		cached, err := transform(obj)
		if err != nil {
			b.Fatal(err)
		}
		kept = append(kept, cached)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(kept)
	return float64(after.HeapAlloc - before.HeapAlloc)
}

type encodedObject struct {
	decode func([]byte) (any, error)
	data   []byte
}

// protobuf decodes the built-in kinds, as the API server sends them to the
// operator's informers.
func protobuf[T any, P interface {
	*T
	Unmarshal([]byte) error
}]() func([]byte) (any, error) {
	return func(data []byte) (any, error) {
		obj := P(new(T))
		return obj, obj.Unmarshal(data)
	}
}

// decodeTenant decodes a Tenant as client-go decodes custom resources.
func decodeTenant(data []byte) (any, error) {
	t := &v1alpha1.Tenant{}
	return t, sigsjson.UnmarshalCaseSensitivePreserveInts(data, t)
}

// encodedTenantObjects renders n tenants on a plan of 13 quota resources and
// encodes each Ready Tenant in JSON and its objects in protobuf, with what
// the API server adds: a UID, a resource version, the spec hash, managed
// fields and the quota's status.
func encodedTenantObjects(b *testing.B, n int) []encodedObject {
	hard := corev1.ResourceList{}
	for _, r := range []corev1.ResourceName{"requests.cpu", "requests.memory", "limits.cpu", "limits.memory",
		"requests.ephemeral-storage", "limits.ephemeral-storage", "pods", "services", "secrets", "configmaps",
		"persistentvolumeclaims", "replicationcontrollers", "resourcequotas"} {
		hard[r] = resource.MustParse("20")
	}
	plan := &v1alpha1.TenantPlan{ObjectMeta: metav1.ObjectMeta{Name: "pro"}, Spec: v1alpha1.TenantPlanSpec{Quota: hard, MaxEnvironments: 2}}
	var out []encodedObject
	for i := range n {
		tenant := &v1alpha1.Tenant{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%05d", i), UID: types.UID(fmt.Sprintf("7d2f0c1e-0000-4000-8000-%012d", i))},
			Spec: v1alpha1.TenantSpec{Plan: "pro", Owners: []v1alpha1.Owner{{Kind: "User", Name: "owner@example.com"}},
				Environments: []string{"prod", "staging"}},
		}
		objects, err := render.Tenant(tenant, plan, render.DefaultOptions())
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, encodedObject{decode: decodeTenant, data: readyTenantJSON(b, tenant, hard, i)})
		for j, obj := range objects {
			obj.SetUID(types.UID(fmt.Sprintf("%s-%03d", tenant.UID, j)))
			obj.SetResourceVersion(fmt.Sprint(100000 + i*100 + j))
			obj.SetCreationTimestamp(metav1.Now())
			obj.SetAnnotations(map[string]string{v1alpha1.AnnotationSpecHash: fmt.Sprintf("%064x", i*100+j)})
			obj.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: FieldOwner, Operation: metav1.ManagedFieldsOperationApply,
				APIVersion: "v1", FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{}}}`)}})
			var cached interface{ Marshal() ([]byte, error) }
			var decode func([]byte) (any, error)
			switch o := obj.(type) {
			case *corev1.Namespace:
				cached, decode = o, protobuf[corev1.Namespace]()
			case *corev1.ResourceQuota:
				o.Status.Hard, o.Status.Used = o.Spec.Hard.DeepCopy(), inUse(o.Spec.Hard, i*100+j)
				cached, decode = o, protobuf[corev1.ResourceQuota]()
			case *corev1.Secret:
				continue // not cached
			default:
				cached = &metav1.PartialObjectMetadata{ObjectMeta: *obj.(metav1.ObjectMetaAccessor).GetObjectMeta().(*metav1.ObjectMeta)}
				decode = protobuf[metav1.PartialObjectMetadata]()
			}
			data, err := cached.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, encodedObject{decode: decode, data: data})
		}
	}
	return out
}

// readyTenantJSON is tenant as the API server sends it once Ready: the
// status the operator writes, with its conditions and quota figures.
func readyTenantJSON(b *testing.B, tenant *v1alpha1.Tenant, hard corev1.ResourceList, i int) []byte {
	t := tenant.DeepCopy()
	t.APIVersion, t.Kind = v1alpha1.GroupVersion.String(), "Tenant"
	t.ResourceVersion, t.Generation, t.CreationTimestamp = "4242", 1, metav1.Now()
	t.Finalizers = []string{v1alpha1.Finalizer}
	now := metav1.Now()
	t.Status = v1alpha1.TenantStatus{Phase: v1alpha1.PhaseReady, ObservedGeneration: 1, Plan: t.Spec.Plan,
		Namespaces: render.NamespaceNames(t), ReadyAt: &now, OnboardingDuration: &metav1.Duration{Duration: time.Second},
		Quota: &v1alpha1.QuotaStatus{Hard: hard, Used: inUse(hard, i)}}
	for _, c := range []struct{ condition, reason, message string }{
		{v1alpha1.ConditionNamespacesReady, "NamespacesActive", "2 namespaces active"},
		{v1alpha1.ConditionGuardrailsReady, "Applied", "every guardrail object is in place"},
		{v1alpha1.ConditionQuotaExceeded, "WithinQuota", "every namespace is within its quota"},
		{v1alpha1.ConditionSuspended, "NotSuspended", "the tenant is not suspended"},
		{v1alpha1.ConditionReady, "Ready", "the tenant is ready"},
	} {
		meta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{Type: c.condition, Status: metav1.ConditionTrue,
			Reason: c.reason, Message: c.message, ObservedGeneration: 1, LastTransitionTime: now})
	}
	data, err := json.Marshal(t)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// inUse is a use of the resources in l that differs with n, as no two
// namespaces' use might be alike: the worst case for sharing lists.
func inUse(l corev1.ResourceList, n int) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name := range l {
		out[name] = resource.MustParse("0")
	}
	out["pods"] = *resource.NewQuantity(int64(n), resource.DecimalSI)
	return out
}

func TestCompactApplication(t *testing.T) {
	app := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata": map[string]any{"name": "tenant-acme-eu-1", "namespace": "argocd",
			"labels":        map[string]any{v1alpha1.LabelTenant: "acme", v1alpha1.LabelMember: "eu-1"},
			"managedFields": []any{map[string]any{"manager": "argocd-applicationset-controller"}}},
		"spec": map[string]any{"project": "platform", "destination": map[string]any{"name": "eu-1"}},
		"status": map[string]any{
			"sync":           map[string]any{"status": "Synced", "revision": "abc"},
			"health":         map[string]any{"status": "Healthy", "lastTransitionTime": "2026-12-07T12:00:00Z"},
			"resources":      []any{map[string]any{"kind": "Tenant", "name": "acme"}},
			"history":        []any{map[string]any{"id": int64(0)}},
			"operationState": map[string]any{"message": "successfully synced"},
		},
	}}
	out, err := compactApplication(app)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*unstructured.Unstructured)
	want := map[string]any{"sync": map[string]any{"status": "Synced"}, "health": map[string]any{"status": "Healthy"}}
	if !reflect.DeepEqual(got.Object["status"], want) {
		t.Errorf("status %v, want only sync and health: %v", got.Object["status"], want)
	}
	if !synced(got) || got.GetLabels()[v1alpha1.LabelMember] != "eu-1" || got.GetManagedFields() != nil {
		t.Errorf("compacted %v: want it synced, labelled, without managed fields", got.Object)
	}
	if !reflect.DeepEqual(got.Object["spec"], map[string]any{"project": "platform", "destination": map[string]any{"name": "eu-1"}}) {
		t.Errorf("spec %v changed: the hub compares its own Applications' specs", got.Object["spec"])
	}
}
