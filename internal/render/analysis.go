package render

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// AnalysisSecretName is the Secret in each tenant namespace holding the
// analysis defaults (spec.analysis of the plan and the Tenant), which
// charts/tenant-app's AnalysisTemplates take their arguments from. Apps
// therefore inherit the metrics provider and its credentials without
// values of their own.
const AnalysisSecretName = "tenantry-analysis"

// Keys of the analysis Secret: the contract with charts/tenant-app.
const (
	AnalysisKeyPrometheusAddress = "prometheus-address"
	AnalysisKeyTenant            = "tenant"
	AnalysisKeyAuthorization     = "authorization"
)

// AnalysisWriterClusterRoleName is the role that lets the operator write
// the analysis Secret, bound to it in each tenant namespace that has one
// (AnalysisWriterBinding): the operator holds no right on Secrets anywhere
// else. The chart installs the role (hack/tenant-roles).
const AnalysisWriterClusterRoleName = "tenantry:analysis-writer"

// AnalysisWriterBindingName names that binding in a tenant namespace.
const AnalysisWriterBindingName = "tenantry-analysis-writer"

// AnalysisWriterClusterRole is the role the operator is bound to in tenant
// namespaces with an analysis Secret.
func AnalysisWriterClusterRole() *rbacv1.ClusterRole {
	return clusterRole(AnalysisWriterClusterRoleName, []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"secrets"},
		Verbs: []string{"get", "create", "update", "patch", "delete"},
	}})
}

// AnalysisWriterBinding binds the operator's ServiceAccount to the
// analysis-writer role in one tenant namespace. It comes before the Secret
// in render.Tenant, so the right exists when the Secret is written.
func AnalysisWriterBinding(t *v1alpha1.Tenant, namespace string, opts Options) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: objectMeta(t, AnalysisWriterBindingName, namespace),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: AnalysisWriterClusterRoleName},
		Subjects: []rbacv1.Subject{{
			Kind: rbacv1.ServiceAccountKind, Namespace: opts.OperatorNamespace, Name: opts.OperatorServiceAccount,
		}},
	}
}

// RolloutGVK is Argo Rollouts' Rollout, whose release state the operator
// reports for each app.
var RolloutGVK = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Rollout"}

// Analysis is the tenant's analysis defaults: the plan's, overridden field
// by field by the Tenant's; nil when neither sets any.
func Analysis(t *v1alpha1.Tenant, plan *v1alpha1.TenantPlan) *v1alpha1.AnalysisDefaults {
	var merged v1alpha1.AnalysisDefaults
	for _, a := range []*v1alpha1.AnalysisDefaults{plan.Spec.Analysis, t.Spec.Analysis} {
		if a == nil {
			continue
		}
		if a.PrometheusAddress != "" {
			merged.PrometheusAddress = a.PrometheusAddress
		}
		if a.CredentialsSecret != "" {
			merged.CredentialsSecret = a.CredentialsSecret
		}
	}
	if merged == (v1alpha1.AnalysisDefaults{}) {
		return nil
	}
	return &merged
}

// AnalysisSecret is a namespace's analysis Secret. The authorization header
// is left empty: the operator fills it in from spec.analysis.credentials,
// which render, being pure, cannot read.
func AnalysisSecret(t *v1alpha1.Tenant, a *v1alpha1.AnalysisDefaults, namespace string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(t, AnalysisSecretName, namespace),
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			AnalysisKeyPrometheusAddress: []byte(a.PrometheusAddress),
			AnalysisKeyTenant:            []byte(t.Name),
			AnalysisKeyAuthorization:     {},
		},
	}
}
