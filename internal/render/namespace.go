package render

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Namespace is one environment's namespace: labelled for the tenant, with
// Pod Security "restricted" enforced, audited and warned at a pinned version,
// and annotated with the plan data the admission policies read.
func Namespace(t *v1alpha1.Tenant, plan *v1alpha1.TenantPlan, env Environment, opts Options) *corev1.Namespace {
	meta := objectMeta(t, env.Namespace, "")
	// The tenant's own metadata goes in first so the platform's keys win;
	// the API also refuses reserved keys in spec.namespaceMetadata.
	labels := map[string]string{}
	for k, v := range t.Spec.NamespaceMetadata.Labels {
		// A tenant must not pass for the ingress, monitoring or DNS
		// namespace, which every tenant's network policies let in or out.
		if selectsPlatform(opts, k) {
			continue
		}
		labels[k] = v
	}
	for k, v := range meta.Labels {
		labels[k] = v
	}
	labels[v1alpha1.LabelEnvironment] = env.Name
	for _, mode := range [][2]string{
		{v1alpha1.LabelPSSEnforce, v1alpha1.LabelPSSEnforceVersion},
		{v1alpha1.LabelPSSAudit, v1alpha1.LabelPSSAuditVersion},
		{v1alpha1.LabelPSSWarn, v1alpha1.LabelPSSWarnVersion},
	} {
		labels[mode[0]] = "restricted"
		labels[mode[1]] = opts.PodSecurityVersion
	}
	meta.Labels = labels

	annotations := map[string]string{}
	for k, v := range t.Spec.NamespaceMetadata.Annotations {
		annotations[k] = v
	}
	annotations[v1alpha1.AnnotationPlan] = plan.Name
	annotations[v1alpha1.AnnotationAllowedRegistries] = strings.Join(plan.Spec.AllowedRegistries, ",")
	annotations[v1alpha1.AnnotationAllowedServiceTypes] = strings.Join(allowedServiceTypes(plan), ",")
	annotations[v1alpha1.AnnotationAllowExternalIPs] = strconv.FormatBool(plan.Spec.AllowExternalIPs)
	annotations[v1alpha1.AnnotationInternetEgress] = strconv.FormatBool(plan.Spec.AllowInternetEgress)
	annotations[v1alpha1.AnnotationStorageClasses] = strings.Join(plan.Spec.StorageClasses, ",")
	annotations[v1alpha1.AnnotationNodeSelector] = nodeSelector(plan)
	annotations[v1alpha1.AnnotationIngressDomains] = strings.Join(t.Spec.Ingress.Domains, ",")
	annotations[v1alpha1.AnnotationNamespaces] = strings.Join(NamespaceNames(t), ",")
	if t.Spec.DisplayName != "" {
		annotations[v1alpha1.AnnotationDisplayName] = t.Spec.DisplayName
	}
	meta.Annotations = annotations

	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: meta,
	}
}

// selectsPlatform says whether a namespace label key is one the options
// select platform namespaces by.
func selectsPlatform(opts Options, key string) bool {
	for _, sel := range platformSelectors(opts) {
		if _, ok := sel[key]; ok {
			return true
		}
	}
	return false
}

// allowedServiceTypes returns the plan's Service types, ClusterIP when it lists none.
func allowedServiceTypes(plan *v1alpha1.TenantPlan) []string {
	if len(plan.Spec.AllowedServiceTypes) == 0 {
		return []string{string(v1alpha1.ServiceTypeClusterIP)}
	}
	types := make([]string, 0, len(plan.Spec.AllowedServiceTypes))
	for _, st := range plan.Spec.AllowedServiceTypes {
		types = append(types, string(st))
	}
	return types
}

func allowsServiceType(plan *v1alpha1.TenantPlan, want v1alpha1.ServiceType) bool {
	for _, st := range allowedServiceTypes(plan) {
		if st == string(want) {
			return true
		}
	}
	return false
}

// nodeSelector writes the plan's node pool as sorted key=value pairs, the
// form the pod policy parses.
func nodeSelector(plan *v1alpha1.TenantPlan) string {
	pairs := make([]string, 0, len(plan.Spec.NodeSelector))
	for _, k := range slices.Sorted(maps.Keys(plan.Spec.NodeSelector)) {
		pairs = append(pairs, k+"="+plan.Spec.NodeSelector[k])
	}
	return strings.Join(pairs, ",")
}
