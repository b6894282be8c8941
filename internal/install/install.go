// Package install applies Tenantry's manifests (the chart's rendering in
// deploy/, sample plans and tenants) to a cluster without Helm: the tests,
// the demo and the benchmarks use it to set up the local control plane.
package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/charts"
	"github.com/tenantry/tenantry/deploy"
	"github.com/tenantry/tenantry/gitops"
)

// FieldOwner is the field manager of what this package applies.
const FieldOwner = "tenantry-install"

// Decode splits multi-document YAML into objects, skipping empty documents.
func Decode(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// Apply server-side applies every object of the YAML files matching glob in fsys.
func Apply(ctx context.Context, c client.Client, fsys fs.FS, glob string) ([]*unstructured.Unstructured, error) {
	files, err := fs.Glob(fsys, glob)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no manifests match %s", glob)
	}
	var applied []*unstructured.Unstructured
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		objs, err := Decode(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if err := applyObjects(ctx, c, objs); err != nil {
			return nil, fmt.Errorf("%s: %w", path.Base(f), err)
		}
		applied = append(applied, objs...)
	}
	return applied, nil
}

// Manifest installs a rendering of the platform chart (multi-document
// YAML): its CRDs first, waiting until they are served, then everything else
// in the order given, waiting until the API server has type-checked each
// admission policy.
func Manifest(ctx context.Context, c client.Client, data []byte) error {
	objs, err := Decode(data)
	if err != nil {
		return fmt.Errorf("decoding the manifest: %w", err)
	}
	if err := applyCRDs(ctx, c, ofKind(objs, "CustomResourceDefinition")); err != nil {
		return err
	}
	defaults, err := ServesPodDefaults(c)
	if err != nil {
		return err
	}
	var rest []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == "CustomResourceDefinition" || (!defaults && isPodDefaults(u)) {
			continue
		}
		rest = append(rest, u)
	}
	if err := applyObjects(ctx, c, rest); err != nil {
		return err
	}
	return waitForPolicies(ctx, c, rest)
}

// CRDs installs Tenantry's CRDs and waits until the API server serves them.
func CRDs(ctx context.Context, c client.Client) error {
	objs, err := Decode(deploy.Tenantry)
	if err != nil {
		return err
	}
	return applyCRDs(ctx, c, ofKind(objs, "CustomResourceDefinition"))
}

// Guardrails installs the admission policies and their bindings (the pod
// defaults too, where the API server serves them) and waits until the API
// server has type-checked each validating policy.
func Guardrails(ctx context.Context, c client.Client) error {
	objs, err := Decode(deploy.Tenantry)
	if err != nil {
		return err
	}
	kinds := []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
	defaults, err := ServesPodDefaults(c)
	if err != nil {
		return err
	}
	if defaults {
		kinds = append(kinds, "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding")
	}
	guardrails := ofKind(objs, kinds...)
	if err := applyObjects(ctx, c, guardrails); err != nil {
		return err
	}
	return waitForPolicies(ctx, c, guardrails)
}

// The operator's identity: the ServiceAccount the chart runs it as with its
// default values. The guardrails exempt exactly this user.
const (
	OperatorNamespace      = "tenantry-system"
	OperatorServiceAccount = "tenantry-operator"
	OperatorUsername       = "system:serviceaccount:" + OperatorNamespace + ":" + OperatorServiceAccount
)

// Platform installs the chart's default rendering (deploy/tenantry.yaml:
// CRDs, the operator's namespace, ServiceAccount and RBAC, the tenant
// roles, the guardrails, the operator Deployment) and returns a client
// configuration that authenticates as the operator's ServiceAccount with a
// token from the TokenRequest API, built on base (the cluster's address and
// CA): a process started with it has exactly the chart's rights.
func Platform(ctx context.Context, c client.Client, base *rest.Config) (*rest.Config, error) {
	if err := Manifest(ctx, c, deploy.Tenantry); err != nil {
		return nil, err
	}
	return OperatorConfig(ctx, c, base)
}

// ServesPodDefaults reports whether the API server serves the
// MutatingAdmissionPolicies of the chart's pod defaults
// (admissionregistration.k8s.io/v1, Kubernetes 1.36+). The chart renders
// them only where it does; the static rendering is for the newest version,
// so an older server gets it without them, as from Helm.
func ServesPodDefaults(c client.Client) (bool, error) {
	_, err := c.RESTMapper().RESTMapping(schema.GroupKind{Group: admissionregistrationv1.GroupName, Kind: "MutatingAdmissionPolicy"}, "v1")
	if meta.IsNoMatchError(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("asking the API server for MutatingAdmissionPolicy: %w", err)
	}
	return true, nil
}

// isPodDefaults says whether u is one of the chart's pod defaults.
func isPodDefaults(u *unstructured.Unstructured) bool {
	return u.GetAPIVersion() == admissionregistrationv1.SchemeGroupVersion.String() &&
		(u.GetKind() == "MutatingAdmissionPolicy" || u.GetKind() == "MutatingAdmissionPolicyBinding")
}

func ofKind(objs []*unstructured.Unstructured, kinds ...string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range objs {
		if slices.Contains(kinds, u.GetKind()) {
			out = append(out, u)
		}
	}
	return out
}

// applyObjects server-side applies objs in order, as FieldOwner, taking
// over fields another manager holds.
func applyObjects(ctx context.Context, c client.Client, objs []*unstructured.Unstructured) error {
	for _, u := range objs {
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

func applyCRDs(ctx context.Context, c client.Client, crds []*unstructured.Unstructured) error {
	if err := applyObjects(ctx, c, crds); err != nil {
		return err
	}
	for _, u := range crds {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			crd := &unstructured.Unstructured{}
			crd.SetGroupVersionKind(u.GroupVersionKind())
			if err := c.Get(ctx, client.ObjectKey{Name: u.GetName()}, crd); err != nil {
				return false, err
			}
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, cond := range conditions {
				if m, ok := cond.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for CRD %s to be established: %w", u.GetName(), err)
		}
	}
	return nil
}

// waitForPolicies waits until the API server has type-checked each
// admission policy among objs; a CEL type error found there is returned, so
// a broken policy fails the install, not a tenant.
func waitForPolicies(ctx context.Context, c client.Client, objs []*unstructured.Unstructured) error {
	for _, u := range ofKind(objs, "ValidatingAdmissionPolicy") {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			policy := &admissionregistrationv1.ValidatingAdmissionPolicy{}
			if err := c.Get(ctx, client.ObjectKey{Name: u.GetName()}, policy); err != nil {
				return false, err
			}
			if policy.Status.ObservedGeneration < policy.Generation {
				return false, nil
			}
			if tc := policy.Status.TypeChecking; tc != nil && len(tc.ExpressionWarnings) > 0 {
				var msgs []string
				for _, w := range tc.ExpressionWarnings {
					msgs = append(msgs, w.FieldRef+": "+w.Warning)
				}
				return false, fmt.Errorf("policy %s does not type-check:\n%s", policy.Name, strings.Join(msgs, "\n"))
			}
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for admission policy %s: %w", u.GetName(), err)
		}
	}
	return nil
}

// OperatorConfig returns base authenticated as the operator's ServiceAccount.
func OperatorConfig(ctx context.Context, c client.Client, base *rest.Config) (*rest.Config, error) {
	return ServiceAccountConfig(ctx, c, base, OperatorNamespace, OperatorServiceAccount)
}

// ServiceAccountConfig returns base authenticated as a ServiceAccount with a
// fresh token (valid a day: tests and the demo outlive no more).
func ServiceAccountConfig(ctx context.Context, c client.Client, base *rest.Config, namespace, name string) (*rest.Config, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)}}
	if err := c.SubResource("token").Create(ctx, sa, req); err != nil {
		return nil, fmt.Errorf("requesting a token for system:serviceaccount:%s:%s: %w", namespace, name, err)
	}
	cfg := rest.AnonymousClientConfig(base)
	cfg.BearerToken = req.Status.Token
	return cfg, nil
}

// NewScheme knows the built-in Kubernetes kinds and Tenantry's.
func NewScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return scheme, nil
}

// GitOpsBootstrap does what gitops/bootstrap tells a platform team to do
// once, for a repository laid out as gitops/ at repoURL: it creates, in
// Argo CD's namespace, the platform AppProject and the Applications that
// sync gitops/plans and gitops/tenants (from gitops/platform). The demo and
// the GitOps tests use it with their loopback repositories.
func GitOpsBootstrap(ctx context.Context, c client.Client, argoCDNamespace, repoURL string) error {
	return applyExamples(ctx, c, argoCDNamespace, repoURL, "bootstrap/platform-project.yaml", "platform/plans.yaml", "platform/tenants.yaml")
}

// FleetBootstrap does on a fleet's hub what GitOps bootstrap does on one
// cluster, from gitops/fleet: the platform AppProject reaching every
// member, the Applications that sync gitops/plans and gitops/tenants into
// the hub, and the ApplicationSets that carry the plans to every member and
// each tenant to the member the hub placed it on. The fleet demo and
// test/fleet use it with their loopback repositories.
func FleetBootstrap(ctx context.Context, c client.Client, argoCDNamespace, repoURL string) error {
	return applyExamples(ctx, c, argoCDNamespace, repoURL, "fleet/platform-project.yaml", "platform/plans.yaml", "platform/tenants.yaml", "fleet/members.yaml")
}

// applyExamples applies files of gitops/ in Argo CD's namespace, syncing
// from repoURL.
func applyExamples(ctx context.Context, c client.Client, argoCDNamespace, repoURL string, files ...string) error {
	for _, file := range files {
		data, err := fs.ReadFile(examples.Examples, file)
		if err != nil {
			return err
		}
		objs, err := Decode([]byte(strings.ReplaceAll(string(data), examples.UpstreamRepoURL, repoURL)))
		if err != nil {
			return fmt.Errorf("gitops/%s: %w", file, err)
		}
		for _, obj := range objs {
			obj.SetNamespace(argoCDNamespace)
		}
		if err := applyObjects(ctx, c, objs); err != nil {
			return fmt.Errorf("gitops/%s: %w", file, err)
		}
	}
	return nil
}

// FleetHubObjects are what the chart adds on a fleet's hub (fleet.hub,
// templates/fleet-hub.yaml; test/chart checks that the two agree): the
// Role that lets the operator read its members' cluster Secrets in Argo
// CD's namespace as metadata, its binding, and the ConfigMap that tells
// Argo CD's ApplicationSet how to read PlacementDecisions.
func FleetHubObjects(argoCDNamespace string) []client.Object {
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: argoCDNamespace}
	}
	return []client.Object{
		&rbacv1.Role{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
			ObjectMeta: meta(FleetMembersRole),
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}}},
		},
		&rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
			ObjectMeta: meta(FleetMembersRole),
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: FleetMembersRole},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: OperatorServiceAccount, Namespace: OperatorNamespace}},
		},
		&corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: meta(PlacementDuckType),
			Data: map[string]string{"apiVersion": v1alpha1.GroupVersion.String(), "kind": "placementdecisions",
				"statusListKey": "decisions", "matchKey": "clusterName"},
		},
	}
}

// FleetMemberObjects are what the chart adds on a fleet's member
// (fleet.member, templates/fleet-member.yaml; test/chart checks that the
// two agree): the ServiceAccount the hub's Argo CD syncs Tenants, plans and
// the PriceList as, in the operator's namespace, with rights on those kinds
// only.
func FleetMemberObjects() []client.Object {
	rbac := metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1"}
	role, binding := rbac, rbac
	role.Kind, binding.Kind = "ClusterRole", "ClusterRoleBinding"
	return []client.Object{
		&corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: FleetSyncServiceAccount, Namespace: OperatorNamespace},
		},
		&rbacv1.ClusterRole{
			TypeMeta:   role,
			ObjectMeta: metav1.ObjectMeta{Name: FleetSyncRole},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"tenants", "tenantplans", "pricelists"},
				Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}}},
		},
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   binding,
			ObjectMeta: metav1.ObjectMeta{Name: FleetSyncRole},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: FleetSyncRole},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: FleetSyncServiceAccount, Namespace: OperatorNamespace}},
		},
	}
}

// TenantHealthCheck is the Argo CD health check of a Tenant, for the hub's
// argocd-cm under TenantHealthCheckKey. A member's Tenant is Healthy once
// Ready, Degraded when Failed, Suspended while suspended, else
// Progressing: the hub reads a tenant's health on its cluster from the
// Application that carries it, so a move leaves the old cluster only once
// the tenant is Ready on the new. The hub's own Tenants are never onboarded
// there: one is Healthy while placed where the hub means it to be, and
// Degraded, with the reason, when it cannot be placed or its cluster does
// not answer.
const TenantHealthCheck = `hs = {status = "Progressing", message = "onboarding"}
if obj.status ~= nil then
  if obj.status.phase == "Ready" then
    hs = {status = "Healthy", message = "Ready"}
  elseif obj.status.phase == "Failed" then
    hs = {status = "Degraded", message = "Failed: see the Tenant's conditions"}
  elseif obj.status.phase == "Suspended" then
    hs = {status = "Suspended", message = "suspended"}
  elseif obj.status.phase == nil and obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == "Placed" then
        if c.status == "True" then
          hs = {status = "Healthy", message = c.message}
        else
          hs = {status = "Degraded", message = c.reason .. ": " .. c.message}
        end
      end
    end
  end
end
return hs
`

// TenantHealthCheckKey is the argocd-cm key of TenantHealthCheck.
const TenantHealthCheckKey = "resource.customizations.health.tenantry.dev_Tenant"

// Names of the fleet hub's objects in Argo CD's namespace.
const (
	FleetMembersRole = "tenantry-fleet-members"
	// PlacementDuckType is the ConfigMap an ApplicationSet's
	// clusterDecisionResource generator names in configMapRef.
	PlacementDuckType = "tenantry-placement"
	// FleetSyncServiceAccount, on a member, in the operator's namespace,
	// is who the hub's Argo CD syncs Tenants and plans as; FleetSyncRole
	// its ClusterRole and ClusterRoleBinding.
	FleetSyncServiceAccount = "tenantry-fleet-sync"
	FleetSyncRole           = "tenantry:fleet-sync"
)

// FleetHub applies FleetHubObjects, as `helm install --set fleet.hub=true` would.
func FleetHub(ctx context.Context, c client.Client, argoCDNamespace string) error {
	return applyTyped(ctx, c, FleetHubObjects(argoCDNamespace))
}

// FleetMember applies FleetMemberObjects, as `helm install --set fleet.member=true` would.
func FleetMember(ctx context.Context, c client.Client) error {
	return applyTyped(ctx, c, FleetMemberObjects())
}

func applyTyped(ctx context.Context, c client.Client, typed []client.Object) error {
	var objs []*unstructured.Unstructured
	for _, obj := range typed {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return err
		}
		objs = append(objs, &unstructured.Unstructured{Object: u})
	}
	return applyObjects(ctx, c, objs)
}

// PrometheusRules returns the platform chart's alerting and recording
// rules (its PrometheusRule's spec) as a Prometheus rule file, for a
// Prometheus that does not run the Prometheus Operator.
func PrometheusRules() (string, error) {
	data, err := charts.Tenantry.ReadFile("tenantry/dashboards/prometheusrules.yaml")
	if err != nil {
		return "", err
	}
	var rule struct {
		Spec map[string]any `json:"spec"`
	}
	if err := sigsyaml.Unmarshal(data, &rule); err != nil {
		return "", fmt.Errorf("the chart's PrometheusRule: %w", err)
	}
	out, err := sigsyaml.Marshal(rule.Spec)
	return string(out), err
}
