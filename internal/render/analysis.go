package render

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// AnalysisSecretName is the Secret in each tenant namespace holding the
// analysis defaults (spec.analysis of the plan and the Tenant), which
// charts/tenant-app's AnalysisTemplates take their arguments from, and the
// tenant's metrics credential. Apps therefore inherit the metrics provider
// and its credentials without values of their own.
const AnalysisSecretName = "tenantry-analysis"

// Keys of the analysis Secret: the contract with charts/tenant-app.
const (
	AnalysisKeyPrometheusAddress = "prometheus-address"
	AnalysisKeyTenant            = "tenant"
	AnalysisKeyAuthorization     = "authorization"
)

// MetricsServiceAccountName is the ServiceAccount in each tenant namespace
// whose tokens are the tenant's metrics credential: the operator mints one
// for the metrics gateway's audience into the analysis Secret. It runs no
// pod (its token is not mounted anywhere), and deleting it, as offboarding
// does, revokes every token minted for it.
const MetricsServiceAccountName = "tenantry-metrics"

// AnalysisWriterClusterRoleName is the role that lets the operator write
// the analysis Secret, bound to it in each tenant namespace that has one
// (AnalysisWriterBinding): the operator holds no right on Secrets anywhere
// else. The chart installs the role (hack/tenant-roles).
const AnalysisWriterClusterRoleName = "tenantry:analysis-writer"

// AnalysisWriterBindingName names that binding in a tenant namespace.
const AnalysisWriterBindingName = "tenantry-analysis-writer"

// AnalysisWriterClusterRole is the role the operator is bound to in tenant
// namespaces with an analysis Secret.
// Besides the Secret, it may mint tokens (TokenRequest) for the metrics
// ServiceAccount alone: no other identity of the tenant's.
func AnalysisWriterClusterRole() *rbacv1.ClusterRole {
	return clusterRole(AnalysisWriterClusterRoleName, []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"secrets"},
		Verbs: []string{"get", "create", "update", "patch", "delete"},
	}, {
		APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"},
		Verbs: []string{"create"}, ResourceNames: []string{MetricsServiceAccountName},
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
// by field by the Tenant's, with the metrics gateway as the address where
// neither sets one and the platform runs it; nil when there is nothing to
// write (no defaults and no gateway).
func Analysis(t *v1alpha1.Tenant, plan *v1alpha1.TenantPlan, opts Options) *v1alpha1.AnalysisDefaults {
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
	if merged.PrometheusAddress == "" {
		merged.PrometheusAddress = opts.MetricsGatewayURL
	}
	if merged == (v1alpha1.AnalysisDefaults{}) {
		return nil
	}
	return &merged
}

// MintsMetricsCredential reports whether the operator mints the tenant's
// credential (a token of MetricsServiceAccountName for the metrics
// gateway) rather than copy spec.analysis.credentialsSecret: when the
// analysis queries the platform's gateway and names no credential of its
// own. An address elsewhere without a credential gets none.
func MintsMetricsCredential(a *v1alpha1.AnalysisDefaults, opts Options) bool {
	return a != nil && a.CredentialsSecret == "" && opts.MetricsGatewayURL != "" && a.PrometheusAddress == opts.MetricsGatewayURL
}

// MetricsServiceAccount is the identity of a namespace's metrics
// credential. Its token is never mounted: it is only minted by the operator.
func MetricsServiceAccount(t *v1alpha1.Tenant, namespace string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   objectMeta(t, MetricsServiceAccountName, namespace),
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// AnalysisSecret is a namespace's analysis Secret. The authorization header
// is left empty: the operator fills it in, with a token it mints or from
// spec.analysis.credentialsSecret, which render, being pure, cannot do.
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

// AnalysisObjects are what a namespace needs for its analysis Secret: the
// operator's right to write it (first, so the right exists when the Secret
// is written), the metrics ServiceAccount where the operator mints the
// credential, and the Secret.
func AnalysisObjects(t *v1alpha1.Tenant, a *v1alpha1.AnalysisDefaults, namespace string, opts Options) []client.Object {
	objs := []client.Object{AnalysisWriterBinding(t, namespace, opts)}
	if MintsMetricsCredential(a, opts) {
		objs = append(objs, MetricsServiceAccount(t, namespace))
	}
	return append(objs, AnalysisSecret(t, a, namespace))
}
