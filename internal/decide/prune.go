package decide

import (
	"slices"
	"strings"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Owned is an object the operator manages for the tenant, as pruning sees it.
type Owned struct {
	// ID names the object by kind, namespace and name, as the desired
	// objects are named (Kind/namespace/name).
	ID        string
	Kind      string
	Namespace string
	// InTenantNamespace is false for cluster-scoped objects and for those in
	// Argo CD's namespace.
	InTenantNamespace bool
	// Environment is a namespace's tenantry.dev/environment label.
	Environment string
	Deleting    bool
}

// Desired is what a reconcile wants to exist, by ID, and which namespaces.
type Desired struct {
	IDs        map[string]bool
	Namespaces map[string]bool
}

// Prune picks the owned objects that are no longer desired: the namespace
// of a removed environment, the binding of a removed role. Objects in a
// namespace that is not desired are left to go with their namespace, and
// objects already being deleted are left alone. With guard, the namespace
// of a removed environment that still runs pods (busy) is kept unless the
// Tenant confirms its removal (ConfirmedRemovals); the kept environments
// are returned, sorted.
func Prune(owned []Owned, want Desired, guard bool, busy map[string]bool, confirmed []string) (prune []Owned, kept []string) {
	for _, o := range owned {
		goesWithNamespace := o.InTenantNamespace && !want.Namespaces[o.Namespace]
		if want.IDs[o.ID] || goesWithNamespace || o.Deleting {
			continue
		}
		if o.Kind == "Namespace" && guard && busy[nameOf(o.ID)] && !slices.Contains(confirmed, o.Environment) {
			kept = append(kept, o.Environment)
			continue
		}
		prune = append(prune, o)
	}
	slices.Sort(kept)
	return prune, kept
}

// ConfirmedRemovals are the environments the Tenant's
// tenantry.dev/confirm-delete annotation names.
func ConfirmedRemovals(tenant *v1alpha1.Tenant) []string {
	var envs []string
	for _, e := range strings.Split(tenant.Annotations[v1alpha1.AnnotationConfirmDelete], ",") {
		if e = strings.TrimSpace(e); e != "" {
			envs = append(envs, e)
		}
	}
	return envs
}

// nameOf is the name in an ID.
func nameOf(id string) string {
	return id[strings.LastIndex(id, "/")+1:]
}
