package controller

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/render"
)

// FieldOwner is the server-side apply field manager of everything the operator writes.
const FieldOwner = "tenantry-operator"

// planIndex indexes Tenants by spec.plan, so a plan change wakes only its tenants.
const planIndex = "spec.plan"

// tenantIndex indexes the cluster-scoped managed objects by their tenant
// label. Listing a tenant's objects by label scans every tenant's: at 1,000
// tenants that scan was a fifth of the operator's CPU, and made a full
// resync quadratic. Namespaced objects are found through the cache's own
// namespace index instead, in each of the tenant's namespaces: a tenant
// index of its own would cost two entries per object (controller-runtime
// indexes a namespaced object per namespace and across all of them).
const tenantIndex = "metadata.labels.tenant"

// inTenantIndex selects a tenant's cluster-scoped objects from the cache,
// through tenantIndex. The cache holds only objects labelled managed-by
// Tenantry.
func inTenantIndex(tenant *v1alpha1.Tenant) client.MatchingFields {
	return client.MatchingFields{tenantIndex: tenant.Name}
}

func tenantLabel(obj client.Object) []string {
	if name := obj.GetLabels()[v1alpha1.LabelTenant]; name != "" {
		return []string{name}
	}
	return nil
}

// managedKind is a kind the operator creates for tenants: a prototype for
// the cache and the watches, and a list type for pruning.
type managedKind struct {
	gvk    schema.GroupVersionKind
	object client.Object
	list   func() client.ObjectList
	// metadataOnly kinds are cached as metadata (name, labels, the spec
	// hash), not whole: guardrail rule 1 lets no one but the operator
	// change them, so the hash it wrote says whether they match.
	metadataOnly bool
	// namespaced kinds live in the tenant's namespaces, cluster-scoped
	// ones carry tenantIndex.
	namespaced bool
}

// readLive reports whether the client reads the kind from the API server:
// it caches no unstructured objects (Argo CD's kinds, here), so those have
// no tenant index.
func (k managedKind) readLive() bool {
	_, unstructured := k.object.(runtime.Unstructured)
	return unstructured
}

// ownedBy is how a tenant's objects of the kind are listed, one List per
// element: by label from the API server for kinds read live; from the
// cache in each of the tenant's namespaces for namespaced kinds; through
// tenantIndex for cluster-scoped ones.
func (k managedKind) ownedBy(tenant *v1alpha1.Tenant, namespaces []string) [][]client.ListOption {
	switch {
	case k.readLive():
		return [][]client.ListOption{{client.MatchingLabels(render.Labels(tenant))}}
	case k.namespaced:
		lists := make([][]client.ListOption, 0, len(namespaces))
		for _, ns := range namespaces {
			lists = append(lists, []client.ListOption{client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelTenant: tenant.Name}})
		}
		return lists
	}
	return [][]client.ListOption{{inTenantIndex(tenant)}}
}

func typedKind(gvk schema.GroupVersionKind, obj client.Object, list func() client.ObjectList, namespaced bool) managedKind {
	return managedKind{gvk: gvk, object: obj, list: list, namespaced: namespaced}
}

func metadataKind(gvk schema.GroupVersionKind, namespaced bool) managedKind {
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(gvk)
	return managedKind{gvk: gvk, object: obj, metadataOnly: true, namespaced: namespaced, list: func() client.ObjectList {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		return list
	}}
}

// managedKinds are cached selected by label, so the operator never caches
// the cluster's other namespaces or bindings. They are in the order stale
// objects are pruned: namespaces first, taking their content along.
// Namespaces and quotas are cached whole (their status is reported), and
// so are the cluster-scoped roles, which rule 1 does not cover.
var managedKinds = []managedKind{
	typedKind(corev1.SchemeGroupVersion.WithKind("Namespace"), &corev1.Namespace{}, func() client.ObjectList { return &corev1.NamespaceList{} }, false),
	typedKind(corev1.SchemeGroupVersion.WithKind("ResourceQuota"), &corev1.ResourceQuota{}, func() client.ObjectList { return &corev1.ResourceQuotaList{} }, true),
	metadataKind(corev1.SchemeGroupVersion.WithKind("LimitRange"), true),
	metadataKind(networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"), true),
	metadataKind(corev1.SchemeGroupVersion.WithKind("ServiceAccount"), true),
	metadataKind(rbacv1.SchemeGroupVersion.WithKind("RoleBinding"), true),
	// Rendered no more: a tenant's own ClusterRole and ClusterRoleBinding,
	// left by earlier versions, are pruned.
	metadataKind(rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"), false),
	metadataKind(rbacv1.SchemeGroupVersion.WithKind("ClusterRole"), false),
}

// metadataOnlyKinds are the managed kinds cached as metadata only.
func metadataOnlyKinds() map[schema.GroupVersionKind]bool {
	kinds := map[schema.GroupVersionKind]bool{}
	for _, k := range managedKinds {
		if k.metadataOnly {
			kinds[k.gvk] = true
		}
	}
	return kinds
}

// argoKinds are Argo CD's kinds the operator manages in Argo CD's
// namespace, when GitOps is on: Applications before the AppProject, which
// Argo CD needs to delete them.
func argoKinds(namespace string) []managedKind {
	if namespace == "" {
		return nil
	}
	var kinds []managedKind
	for _, gvk := range []schema.GroupVersionKind{render.ApplicationGVK, render.AppProjectGVK} {
		obj := &unstructured.Unstructured{}
		obj.SetGroupVersionKind(gvk)
		kinds = append(kinds, managedKind{gvk: gvk, object: obj, list: func() client.ObjectList { return unstructuredList(gvk) }})
	}
	return kinds
}
