package escapes

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/render"
)

// managedEscapes change what the platform manages in the tenant's
// namespaces: its NetworkPolicies, RoleBindings, quota, analysis Secret
// and the namespaces themselves. RBAC refuses the tenant's admins most of
// these; guardrail rules 1 and 2 refuse them even to a user RBAC allows
// by mistake.
func managedEscapes(t Target) []Entry {
	ns := t.ns()
	managed := func(rule string) Want { return guardrail("tenantry-managed-objects", rule) }
	deleted := managed("only the Tenantry operator may delete it")
	forged := t.networkPolicy(ns, "forged", []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}})
	forged.Labels = map[string]string{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue, v1alpha1.LabelTenant: t.otherTenant()}
	entries := []Entry{
		{ID: "managed/update-network-policy", Description: "loosen its default-deny NetworkPolicy",
			Want: managed("NetworkPolicy " + render.PolicyDefaultDeny + " is managed by the platform and only the Tenantry operator may update it"),
			Try: func(ctx context.Context, c client.Client) error {
				np := &networkingv1.NetworkPolicy{}
				if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.PolicyDefaultDeny}, np); err != nil {
					return fmt.Errorf("reading it: %w", err)
				}
				np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
				return update(ctx, t, c, np)
			}},
		{ID: "managed/delete-default-deny", Description: "delete its default-deny NetworkPolicy", Want: deleted,
			Try: deleteObj(t, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.PolicyDefaultDeny}})},
		{ID: "managed/delete-network-policy", Description: "delete its allowance NetworkPolicy", Want: deleted,
			Try: deleteObj(t, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.PolicyAllow}})},
		{ID: "managed/delete-role-binding", Description: "delete the admins' RoleBinding", Want: deleted,
			Try: deleteObj(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.ClusterRoleName(v1alpha1.RoleAdmin)}})},
		{ID: "managed/delete-analysis-secret", Description: "delete its analysis Secret", Needs: ClusterObjects, Want: deleted,
			Try: deleteObj(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.AnalysisSecretName}})},
		{ID: "managed/point-analysis-elsewhere", Description: "point its analysis at another Prometheus", Needs: ClusterObjects,
			Want: managed("Secret " + render.AnalysisSecretName + " is managed by the platform and only the Tenantry operator may update it"),
			Try: func(ctx context.Context, c client.Client) error {
				secret := &corev1.Secret{}
				if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.AnalysisSecretName}, secret); err != nil {
					return fmt.Errorf("reading it: %w", err)
				}
				secret.Data[render.AnalysisKeyPrometheusAddress] = []byte("http://always-healthy." + ns + ".svc")
				return update(ctx, t, c, secret)
			}},
		{ID: "managed/forge-platform-label", Description: "forge the platform's label", Try: create(t, forged),
			Want: managed("the label " + v1alpha1.LabelManagedBy + "=" + v1alpha1.ManagedByValue + " is reserved")},

		// A user RBAC allows by mistake.
		{ID: "managed/quota-with-rbac-granted", Description: "raise its quota with RBAC granted", Needs: MistakenRBAC,
			Try: raiseQuota(t), Want: managed("ResourceQuota " + render.QuotaName + " is managed by the platform")},
		{ID: "managed/delete-namespace-with-rbac-granted", Description: "delete its namespace with RBAC granted", Needs: MistakenRBAC,
			Try:  deleteObj(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}),
			Want: managed("Namespace " + ns + " is managed by the platform and only the Tenantry operator may delete it")},
		{ID: "namespace/drop-pod-security-with-rbac-granted", Description: "drop Pod Security from its namespace with RBAC granted", Needs: MistakenRBAC,
			Try:  relabelNamespace(t, v1alpha1.LabelPSSEnforce, ""),
			Want: guardrail("tenantry-namespace-metadata", "tenantry rule 2 (namespace metadata): "+v1alpha1.LabelPSSEnforce)},
		{ID: "namespace/widen-registries-with-rbac-granted", Description: "widen its registries with RBAC granted", Needs: MistakenRBAC,
			Want: guardrail("tenantry-namespace-metadata", v1alpha1.AnnotationAllowedRegistries),
			Try: func(ctx context.Context, c client.Client) error {
				namespace := &corev1.Namespace{}
				if err := c.Get(ctx, client.ObjectKey{Name: ns}, namespace); err != nil {
					return err
				}
				namespace.Annotations[v1alpha1.AnnotationAllowedRegistries] = "docker.io/"
				return update(ctx, t, c, namespace)
			}},

		// The tenant's admins themselves.
		{ID: "managed/update-own-quota", Description: "raise its own quota", Try: raiseQuota(t), Want: rbacDenied("patch", "resourcequotas")},
		{ID: "managed/delete-own-limit-range", Description: "delete its own LimitRange", Want: rbacDenied("delete", "limitranges"),
			Try: deleteObj(t, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.LimitRangeName}})},
		{ID: "namespace/relabel-to-drop-pod-security", Description: "relabel its namespace", Want: rbacDenied("patch", "namespaces"),
			Try: relabelNamespace(t, v1alpha1.LabelPSSEnforce, "privileged")},
		{ID: "namespace/delete-own", Description: "delete its own namespace", Want: rbacDenied("delete", "namespaces"),
			Try: deleteObj(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})},
	}
	return entries
}

// raiseQuota raises the pods quota of the tenant's namespace with a merge
// patch.
func raiseQuota(t Target) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: t.ns(), Name: render.QuotaName}}
		return patch(ctx, t, c, q, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"hard":{"pods":"1000"}}}`)))
	}
}

// relabelNamespace sets (or, with value "", removes) a label on the
// tenant's namespace with a merge patch.
func relabelNamespace(t Target, key, value string) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		labels := map[string]any{key: nil}
		if value != "" {
			labels[key] = value
		}
		data, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
		if err != nil {
			return err
		}
		return patch(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: t.ns()}}, client.RawPatch(types.MergePatchType, data))
	}
}
