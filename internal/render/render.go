// Package render turns a Tenant and its TenantPlan into the Kubernetes
// objects that make up the tenant: namespaces, quotas, limit ranges, network
// policies and RBAC. It is pure (no client, no I/O), so the whole isolation
// model can be read and tested in this one package.
package render

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// DefaultEnvironment labels the only namespace of a tenant without environments.
const DefaultEnvironment = "default"

// Options are the cluster-wide settings of the operator that shape what is rendered.
type Options struct {
	// PodSecurityVersion pins the Pod Security Standards version enforced on
	// tenant namespaces (e.g. "v1.37"), so a cluster upgrade does not change
	// the rules under running tenants by surprise.
	PodSecurityVersion string
	// IngressNamespaceSelector selects the namespace of the ingress
	// controller, whose pods may reach tenant pods.
	IngressNamespaceSelector map[string]string
	// MonitoringNamespaceSelector selects the namespace whose pods may scrape tenant pods.
	MonitoringNamespaceSelector map[string]string
	// DNS is where tenant pods may send name lookups (port 53).
	DNS DNSOptions
	// ArgoCDNamespace is where Argo CD runs; the tenant's AppProject and
	// Applications are rendered there. Empty means the cluster has no Argo
	// CD: no GitOps objects are rendered.
	ArgoCDNamespace string
	// FleetMember: the cluster is a member of a fleet, whose hub's Argo CD
	// syncs the tenants' apps here. The deployer ServiceAccounts it
	// impersonates are rendered in each tenant namespace; no Argo CD
	// object is (ArgoCDNamespace stays empty).
	FleetMember bool
	// OperatorNamespace and OperatorServiceAccount are the operator's own
	// identity, which the analysis-writer RoleBindings name.
	OperatorNamespace, OperatorServiceAccount string
	// MetricsGatewayURL is the in-cluster URL of the platform's metrics
	// gateway, the analysis address of tenants that set none; the operator
	// mints a credential for it per tenant namespace. Empty: the platform
	// runs no gateway.
	MetricsGatewayURL string
}

// DNSOptions locate the cluster's DNS servers: pods selected by namespace
// and pod labels (CoreDNS or kube-dns), and addresses outside any pod
// network, such as NodeLocal DNSCache's link-local one (169.254.20.10/32).
type DNSOptions struct {
	NamespaceSelector map[string]string
	PodSelector       map[string]string
	CIDRs             []string
}

// DefaultOptions are the options the operator starts with. The selectors use
// kubernetes.io/metadata.name, which the API server sets and no one can forge.
func DefaultOptions() Options {
	return Options{
		PodSecurityVersion:          "v1.37",
		IngressNamespaceSelector:    map[string]string{corev1.LabelMetadataName: "ingress-nginx"},
		MonitoringNamespaceSelector: map[string]string{corev1.LabelMetadataName: "monitoring"},
		DNS: DNSOptions{
			NamespaceSelector: map[string]string{corev1.LabelMetadataName: "kube-system"},
			PodSelector:       map[string]string{"k8s-app": "kube-dns"},
		},
		OperatorNamespace:      "tenantry-system",
		OperatorServiceAccount: "tenantry-operator",
	}
}

// PlatformNamespaces are the namespaces the options select by name (the
// ingress controller's, monitoring's and DNS's): every tenant's network
// policies let their pods in or out, so no tenant may own a namespace of
// that name.
func PlatformNamespaces(opts Options) []string {
	var names []string
	for _, sel := range platformSelectors(opts) {
		if name, ok := sel[corev1.LabelMetadataName]; ok {
			names = append(names, name)
		}
	}
	return names
}

// platformSelectors are the selectors of the namespaces every tenant's
// network policies let in or out: the ingress controller's, monitoring's
// and the DNS servers'.
func platformSelectors(opts Options) []map[string]string {
	return []map[string]string{opts.IngressNamespaceSelector, opts.MonitoringNamespaceSelector, opts.DNS.NamespaceSelector}
}

// Environment is one stage of a tenant and the namespace that holds it.
type Environment struct {
	Name      string
	Namespace string
}

// Environments lists the tenant's environments in spec order; a tenant
// without any gets one namespace named after itself.
func Environments(t *v1alpha1.Tenant) []Environment {
	if len(t.Spec.Environments) == 0 {
		return []Environment{{Name: DefaultEnvironment, Namespace: t.Name}}
	}
	envs := make([]Environment, 0, len(t.Spec.Environments))
	for _, e := range t.Spec.Environments {
		envs = append(envs, Environment{Name: e, Namespace: t.Name + "-" + e})
	}
	return envs
}

// NamespaceNames returns the names of the tenant's namespaces, sorted.
func NamespaceNames(t *v1alpha1.Tenant) []string {
	var names []string
	for _, e := range Environments(t) {
		names = append(names, e.Namespace)
	}
	sort.Strings(names)
	return names
}

// PlanViolation is a Tenant asking for more than its plan allows. The API
// server cannot refuse it (the rule spans two objects), so the operator
// reports it on the Tenant's status.
type PlanViolation struct {
	Field   string
	Message string
}

func (v *PlanViolation) Error() string { return v.Field + ": " + v.Message }

// Tenant returns every object the tenant needs, namespaces first, then the
// objects inside them, then its Argo CD objects, or a *PlanViolation. None
// is cluster-scoped but the namespaces: owners learn their tenant's plan
// and namespaces from the annotations of the namespaces they may read.
func Tenant(t *v1alpha1.Tenant, plan *v1alpha1.TenantPlan, opts Options) ([]client.Object, error) {
	if err := CheckPlan(t, plan); err != nil {
		return nil, err
	}
	envs := Environments(t)
	analysis := Analysis(t, plan, opts)
	objs := make([]client.Object, 0, len(envs)*10+2)
	for _, env := range envs {
		objs = append(objs, Namespace(t, plan, env, opts))
	}
	for _, env := range envs {
		objs = append(objs, ResourceQuota(t, plan, env.Namespace), LimitRange(t, plan, env.Namespace))
		for _, np := range NetworkPolicies(t, plan, env.Namespace, opts) {
			objs = append(objs, np)
		}
		for _, rb := range RoleBindings(t, env.Namespace) {
			objs = append(objs, rb)
		}
		if opts.ArgoCDNamespace != "" || opts.FleetMember {
			objs = append(objs, Deployer(t, env.Namespace)...)
		}
		if analysis != nil {
			objs = append(objs, AnalysisObjects(t, analysis, env.Namespace, opts)...)
		}
	}
	if opts.ArgoCDNamespace != "" {
		objs = append(objs, AppProject(t, plan, opts))
		for _, app := range Applications(t, opts) {
			objs = append(objs, app)
		}
	}
	return objs, nil
}

// CheckPlan reports what the tenant asks for beyond its plan.
func CheckPlan(t *v1alpha1.Tenant, plan *v1alpha1.TenantPlan) error {
	if n, max := len(Environments(t)), planMaxEnvironments(plan); n > max {
		return &PlanViolation{Field: "spec.environments", Message: fmt.Sprintf(
			"%d environments, but plan %q allows %d; remove some or move the tenant to a bigger plan", n, plan.Name, max)}
	}
	for _, name := range slices.Sorted(maps.Keys(t.Spec.Quota)) {
		want := t.Spec.Quota[name]
		ceiling, ok := plan.Spec.QuotaCeiling[name]
		if !ok {
			base, inPlan := plan.Spec.Quota[name]
			if !inPlan || want.Cmp(base) <= 0 {
				continue // adding a cap or lowering one is always allowed
			}
			return &PlanViolation{Field: "spec.quota." + string(name), Message: fmt.Sprintf(
				"plan %q has no quotaCeiling for %s, so it cannot be raised; remove the override or change the plan", plan.Name, name)}
		}
		if want.Cmp(ceiling) > 0 {
			return &PlanViolation{Field: "spec.quota." + string(name), Message: fmt.Sprintf(
				"%s is above plan %q's ceiling of %s; lower it or move the tenant to a bigger plan", want.String(), plan.Name, ceiling.String())}
		}
	}
	return nil
}

func planMaxEnvironments(plan *v1alpha1.TenantPlan) int {
	if plan.Spec.MaxEnvironments < 1 {
		return 1
	}
	return int(plan.Spec.MaxEnvironments)
}

// Labels are the labels on every object of the tenant.
func Labels(t *v1alpha1.Tenant) map[string]string {
	return map[string]string{
		v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue,
		v1alpha1.LabelTenant:    t.Name,
	}
}

// objectMeta names an object of the tenant, labels it and makes the Tenant
// its controlling owner, so garbage collection finds whatever cleanup misses.
func objectMeta(t *v1alpha1.Tenant, name, namespace string) metav1.ObjectMeta {
	yes := true
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: namespace,
		Labels:    Labels(t),
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion:         v1alpha1.GroupVersion.String(),
			Kind:               "Tenant",
			Name:               t.Name,
			UID:                t.UID,
			Controller:         &yes,
			BlockOwnerDeletion: &yes,
		}},
	}
}
