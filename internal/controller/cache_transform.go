package controller

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"unique"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// compactForCache is the transform of everything the operator caches. At
// 10,000 tenants the cache holds 130,000 objects, and what the API server
// sends is decoded into separate copies of the same few strings in every
// one of them. It
//   - drops managed fields, which the operator never reads from the cache
//     (controller-runtime's TransformStripManagedFields);
//   - makes the strings objects repeat share one copy: annotation keys,
//     namespaces and names, and the owner reference every object carries
//     to its Tenant;
//   - makes equal labels share one copy: a tenant's objects all carry the
//     same two;
//   - makes equal quota lists (a quota's limits and use, a Tenant's quota
//     figures) share one copy: a dozen quantities each, they would be the
//     largest part of the cache, and most of them are alike;
//   - shares what the Tenants' statuses repeat (compactTenantStatus).
//
// Cache readers get deep copies, and the operator never changes what it
// reads with UnsafeDisableDeepCopy, so shared strings and maps stay as the
// API server sent them.
func compactForCache(in any) (any, error) {
	obj, err := meta.Accessor(in)
	if err != nil {
		return in, nil // a tombstone: the cache drops it anyway
	}
	// A nil check first: setting nil managed fields on an object without
	// them would allocate (kubernetes#124337).
	if obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	obj.SetNamespace(intern(obj.GetNamespace()))
	obj.SetName(intern(obj.GetName()))
	obj.SetLabels(shareLabels(obj.GetLabels()))
	obj.SetAnnotations(internKeys(obj.GetAnnotations()))
	if refs := obj.GetOwnerReferences(); len(refs) > 0 {
		for i := range refs {
			r := &refs[i]
			r.APIVersion, r.Kind, r.Name = intern(r.APIVersion), intern(r.Kind), intern(r.Name)
			r.UID = types.UID(intern(string(r.UID)))
		}
		obj.SetOwnerReferences(refs)
	}
	switch o := in.(type) {
	case *corev1.ResourceQuota:
		compactQuota(o)
	case *v1alpha1.Tenant:
		compactTenantStatus(&o.Status)
		o.Spec.Plan = intern(o.Spec.Plan)
	}
	return in, nil
}

// compactTenantStatus shares what Tenants' statuses repeat: the plan, the
// phase, the conditions' words (most tenants' are the same), the namespaces
// (their names are shared with the namespaces' own), the quota lists.
func compactTenantStatus(st *v1alpha1.TenantStatus) {
	st.Plan, st.Phase = intern(st.Plan), v1alpha1.Phase(intern(string(st.Phase)))
	for i := range st.Conditions {
		c := &st.Conditions[i]
		c.Type, c.Reason, c.Message = intern(c.Type), intern(c.Reason), intern(c.Message)
		c.Status = metav1.ConditionStatus(intern(string(c.Status)))
	}
	for i, ns := range st.Namespaces {
		st.Namespaces[i] = intern(ns)
	}
	if q := st.Quota; q != nil {
		q.Hard, q.Used = shareList(q.Hard), shareList(q.Used)
	}
}

// compactQuota shares a quota's three lists with equal ones: the quotas of
// a plan have the same limits, enforced as written once the quota
// controller has caught up, and idle namespaces the same use.
func compactQuota(q *corev1.ResourceQuota) {
	q.Spec.Hard = shareList(q.Spec.Hard)
	q.Status.Hard = shareList(q.Status.Hard)
	q.Status.Used = shareList(q.Status.Used)
}

// Bounds of the shared tables: a list of a dozen quantities takes about
// 1.5 KB, a tenant's labels about 300 bytes.
const (
	maxSharedLists  = 4096
	maxSharedLabels = 16384
)

var (
	sharedLists  = sharingTable[corev1.ResourceList]{max: maxSharedLists}
	sharedLabels = sharingTable[map[string]string]{max: maxSharedLabels}
)

// shareList returns the shared copy of a ResourceList equal to l.
func shareList(l corev1.ResourceList) corev1.ResourceList {
	if len(l) == 0 {
		return l
	}
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(l)) {
		q := l[name] // as the API server wrote it: equal strings, equal quantities
		b.WriteString(string(name))
		b.WriteByte('=')
		b.WriteString(q.String())
		b.WriteByte(';')
	}
	return sharedLists.share(b.String(), func() corev1.ResourceList { return internResourceNames(l) })
}

// shareLabels returns the shared copy of labels equal to m: a tenant's
// objects all carry the same two.
func shareLabels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		// A NUL separates: it can be in neither keys nor values.
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(m[k])
		b.WriteByte(0)
	}
	return sharedLabels.share(b.String(), func() map[string]string { return internKeysAndValues(m) })
}

// sharingTable holds one copy of each value it is given, by a key that is
// equal for equal values, for them to be shared. When it holds max values
// it starts over: those cached objects no longer use then go, and the
// objects keep theirs.
type sharingTable[T any] struct {
	mu     sync.Mutex
	max    int
	values map[string]T
}

// share returns the value held under key, or holds and returns the one
// build makes.
func (t *sharingTable[T]) share(key string, build func() T) T {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.values[key]; ok {
		return v
	}
	if t.values == nil || len(t.values) >= t.max {
		t.values = map[string]T{}
	}
	v := build()
	t.values[key] = v
	return v
}

func internResourceNames(l corev1.ResourceList) corev1.ResourceList {
	if len(l) == 0 {
		return l
	}
	out := make(corev1.ResourceList, len(l))
	for name, q := range l {
		out[corev1.ResourceName(intern(string(name)))] = q
	}
	return out
}

// intern returns the one shared copy of s. unique keeps a copy only while
// something refers to it, so a deleted tenant's name does not stay behind.
func intern(s string) string {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}

func internKeysAndValues(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[intern(k)] = intern(v)
	}
	return out
}

// internKeys leaves the values alone: the spec hash, the annotation most
// objects carry, is their own.
func internKeys(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[intern(k)] = v
	}
	return out
}

// compactApplication keeps of an Argo CD Application what a fleet's hub
// reads: its metadata, its spec (the hub compares its own Applications
// with what it renders), and the two words of its status it acts on, sync
// and health (synced). The rest of the status, the resources it deployed,
// its history and its last operation, is most of an Application's size: at
// 3,000 tenants it made most of the hub's memory.
func compactApplication(in any) (any, error) {
	out, err := compactForCache(in)
	u, ok := out.(*unstructured.Unstructured)
	if err != nil || !ok {
		return out, err
	}
	sync, _, _ := unstructured.NestedString(u.Object, "status", "sync", "status")
	health, _, _ := unstructured.NestedString(u.Object, "status", "health", "status")
	u.Object["status"] = map[string]any{
		"sync":   map[string]any{"status": intern(sync)},
		"health": map[string]any{"status": intern(health)},
	}
	return u, nil
}
