package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/decide"
	"github.com/tenantry/tenantry/internal/render"
)

// namespaceView is a tenant as its owners may see it. Owners may not read
// Tenants or TenantPlans, but may GET each of their tenant's namespaces,
// whose annotations the operator writes with the plan's facts and the
// tenant's namespaces and domains.
type namespaceView struct {
	// Tenant holds what the namespaces tell: name, plan, display name,
	// environments, namespaces, domains and the quota summed over the
	// namespaces. No phase, conditions, owners or apps.
	Tenant *v1alpha1.Tenant
	// Plan holds the plan's facts the namespaces carry: registries,
	// storage classes, Service types, external IPs, internet egress and
	// node pool. No quota or limits.
	Plan *v1alpha1.TenantPlan
}

// setContextNamespace is the fix for an owner whose view finds no namespace.
const setContextNamespace = "set a namespace of the tenant on the context: kubectl config set-context --current --namespace NS"

// tenantOrView reads the Tenant named name (the context namespace's tenant
// when name is empty). Where the caller may not read it, as a tenant owner
// may not, it returns the view of the tenant's namespaces instead, and a
// nil Tenant.
func (o *options) tenantOrView(ctx context.Context, name string) (client.WithWatch, *v1alpha1.Tenant, *namespaceView, error) {
	c, err := o.kube(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	contextNS, err := o.contextNamespace()
	if err != nil {
		return nil, nil, nil, err
	}
	if name == "" {
		if contextNS == "" {
			return nil, nil, nil, fmt.Errorf("name the tenant, or %s", setContextNamespace)
		}
		// The context's namespace names its tenant in a label, which
		// both platform engineers and the tenant's owners may read.
		ns := &corev1.Namespace{}
		if err := c.Get(ctx, client.ObjectKey{Name: contextNS}, ns); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) {
			return nil, nil, nil, fmt.Errorf("namespace %s of the context: %w", contextNS, err)
		}
		if name = ns.Labels[v1alpha1.LabelTenant]; name == "" {
			return nil, nil, nil, fmt.Errorf("namespace %s of the context belongs to no tenant you may read; name the tenant, or %s", contextNS, setContextNamespace)
		}
	}
	t := &v1alpha1.Tenant{}
	err = c.Get(ctx, client.ObjectKey{Name: name}, t)
	if err == nil {
		return c, t, nil, nil
	}
	if !apierrors.IsForbidden(err) {
		return nil, nil, nil, fmt.Errorf("tenant %s: %w", name, err)
	}
	view, err := readNamespaceView(ctx, c, name, contextNS)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, nil, view, nil
}

// contextNamespace is the namespace of the kubeconfig context, or "" when
// it sets none ("default" counts as none: no tenant lives there).
func (o *options) contextNamespace() (string, error) {
	_, loader, err := o.clusterConfig()
	if err != nil {
		return "", err
	}
	ns, _, err := loader.Namespace()
	if err != nil || ns == "default" {
		return "", nil
	}
	return ns, nil
}

// readNamespaceView finds tenant name's namespaces as its owner may: it
// GETs the context's namespace, then the namespace named exactly name (a
// tenant without environments), and takes the first whose tenant label is
// name. Its annotations list the tenant's other namespaces, which it reads
// too, with their quotas, where the caller may.
func readNamespaceView(ctx context.Context, c client.Client, name, contextNS string) (*namespaceView, error) {
	var found *corev1.Namespace
	for _, candidate := range []string{contextNS, name} {
		if candidate == "" {
			continue
		}
		ns, err := getIfReadable(ctx, c, client.ObjectKey{Name: candidate}, &corev1.Namespace{})
		if err != nil {
			return nil, err
		}
		if ns != nil && ns.Labels[v1alpha1.LabelTenant] == name {
			found = ns
			break
		}
	}
	if found == nil {
		tried := "namespace " + name
		if contextNS != "" && contextNS != name {
			tried = "the context's namespace " + contextNS + " and " + tried
		}
		return nil, fmt.Errorf("tenant %s: you may not read the Tenant, and no namespace of it is readable here (tried %s); %s", name, tried, setContextNamespace)
	}

	namespaces := []corev1.Namespace{*found}
	var quotas []corev1.ResourceQuota
	for _, n := range splitList(found.Annotations[v1alpha1.AnnotationNamespaces]) {
		if n != found.Name {
			ns, err := getIfReadable(ctx, c, client.ObjectKey{Name: n}, &corev1.Namespace{})
			if err != nil {
				return nil, err
			}
			if ns != nil {
				namespaces = append(namespaces, *ns)
			}
		}
		q, err := getIfReadable(ctx, c, client.ObjectKey{Namespace: n, Name: render.QuotaName}, &corev1.ResourceQuota{})
		if err != nil {
			return nil, err
		}
		if q != nil {
			quotas = append(quotas, *q)
		}
	}
	return &namespaceView{Tenant: viewTenant(name, namespaces, quotas), Plan: viewPlan(found)}, nil
}

// getIfReadable reads obj, or returns nil when it is absent or the caller
// may not read it: an owner's view shows what it may see.
func getIfReadable[T client.Object](ctx context.Context, c client.Client, key client.ObjectKey, obj T) (T, error) {
	var none T
	err := c.Get(ctx, key, obj)
	switch {
	case err == nil:
		return obj, nil
	case apierrors.IsNotFound(err) || apierrors.IsForbidden(err):
		return none, nil
	default:
		return none, fmt.Errorf("reading %s: %w", strings.TrimPrefix(key.String(), "/"), err)
	}
}

// viewTenant builds the Tenant its namespaces describe. namespaces[0] is
// the one found, whose annotations name the plan, every namespace and the
// domains; each namespace read gives its environment, except a tenant's
// only namespace named as the tenant (it has no environments). The quota
// is the sum of the namespaces' quotas, which is the tenant's unless its
// plan caps the tenant as a whole (owners cannot read the plan to know).
func viewTenant(name string, namespaces []corev1.Namespace, quotas []corev1.ResourceQuota) *v1alpha1.Tenant {
	first := namespaces[0]
	t := &v1alpha1.Tenant{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Tenant"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.TenantSpec{
			Plan:        first.Annotations[v1alpha1.AnnotationPlan],
			DisplayName: first.Annotations[v1alpha1.AnnotationDisplayName],
		},
		Status: v1alpha1.TenantStatus{
			Namespaces:     splitList(first.Annotations[v1alpha1.AnnotationNamespaces]),
			IngressDomains: splitList(first.Annotations[v1alpha1.AnnotationIngressDomains]),
		},
	}
	if len(t.Status.Namespaces) == 0 {
		t.Status.Namespaces = []string{first.Name}
	}
	for _, n := range t.Status.Namespaces {
		for _, ns := range namespaces {
			if ns.Name == n && n != name && ns.Labels[v1alpha1.LabelEnvironment] != "" {
				t.Spec.Environments = append(t.Spec.Environments, ns.Labels[v1alpha1.LabelEnvironment])
			}
		}
	}
	t.Status.Quota = decide.QuotaStatus(quotas)
	return t
}

// viewPlan builds the plan's facts the admission policies read from a
// tenant namespace's annotations: those the doctor's checks need.
func viewPlan(ns *corev1.Namespace) *v1alpha1.TenantPlan {
	a := ns.Annotations
	plan := &v1alpha1.TenantPlan{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "TenantPlan"},
		ObjectMeta: metav1.ObjectMeta{Name: a[v1alpha1.AnnotationPlan]},
	}
	plan.Spec.AllowedRegistries = splitList(a[v1alpha1.AnnotationAllowedRegistries])
	plan.Spec.StorageClasses = splitList(a[v1alpha1.AnnotationStorageClasses])
	for _, st := range splitList(a[v1alpha1.AnnotationAllowedServiceTypes]) {
		plan.Spec.AllowedServiceTypes = append(plan.Spec.AllowedServiceTypes, v1alpha1.ServiceType(st))
	}
	plan.Spec.AllowExternalIPs, _ = strconv.ParseBool(a[v1alpha1.AnnotationAllowExternalIPs])
	plan.Spec.AllowInternetEgress, _ = strconv.ParseBool(a[v1alpha1.AnnotationInternetEgress])
	for _, pair := range splitList(a[v1alpha1.AnnotationNodeSelector]) {
		if k, v, ok := strings.Cut(pair, "="); ok {
			if plan.Spec.NodeSelector == nil {
				plan.Spec.NodeSelector = map[string]string{}
			}
			plan.Spec.NodeSelector[k] = v
		}
	}
	return plan
}

// splitList splits a comma-separated annotation value; empty is none.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
