// Package install applies Tenantry's manifests (CRDs, guardrails, RBAC,
// sample plans and tenants) to a cluster without Helm: the tests, the demo and the
// benchmarks use it to set up the local control plane.
package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/charts"
)

// FieldOwner is the field manager of what this package applies.
const FieldOwner = "tenantry-install"

// decode splits multi-document YAML into objects, skipping empty documents.
func decode(data []byte) ([]*unstructured.Unstructured, error) {
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
		objs, err := decode(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, u := range objs {
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
				return nil, fmt.Errorf("%s: applying %s %s: %w", path.Base(f), u.GetKind(), u.GetName(), err)
			}
			applied = append(applied, u)
		}
	}
	return applied, nil
}

// CRDs installs Tenantry's CRDs and waits until the API server serves them.
func CRDs(ctx context.Context, c client.Client) error {
	crds, err := Apply(ctx, c, charts.Tenantry, "tenantry/crds/*.yaml")
	if err != nil {
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

// The operator's identity: the ServiceAccount the chart runs it as. The
// guardrails exempt exactly this user (charts/tenantry/templates/guardrails.yaml).
const (
	OperatorNamespace      = "tenantry-system"
	OperatorServiceAccount = "tenantry-operator"
	OperatorUsername       = "system:serviceaccount:" + OperatorNamespace + ":" + OperatorServiceAccount
)

// Platform installs what the chart would (CRDs, guardrails, the operator's
// ServiceAccount bound to its generated ClusterRole) and returns a client
// configuration that authenticates as that ServiceAccount with a token from
// the TokenRequest API, built on base (the cluster's address and CA).
func Platform(ctx context.Context, c client.Client, base *rest.Config) (*rest.Config, error) {
	if err := CRDs(ctx, c); err != nil {
		return nil, err
	}
	if err := Guardrails(ctx, c); err != nil {
		return nil, err
	}
	if err := operatorIdentity(ctx, c); err != nil {
		return nil, err
	}
	return OperatorConfig(ctx, c, base)
}

// Guardrails installs the admission policies and their bindings and waits
// until the API server has type-checked each policy; a CEL type error found
// there is returned, so a broken policy fails the install, not a tenant.
func Guardrails(ctx context.Context, c client.Client) error {
	applied, err := Apply(ctx, c, charts.Tenantry, "tenantry/templates/guardrails.yaml")
	if err != nil {
		return err
	}
	for _, u := range applied {
		if u.GetKind() != "ValidatingAdmissionPolicy" {
			continue
		}
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

// operatorIdentity creates the operator's namespace and ServiceAccount and
// binds the ClusterRole generated from the controller's RBAC markers to it.
func operatorIdentity(ctx context.Context, c client.Client) error {
	if _, err := Apply(ctx, c, charts.Tenantry, "tenantry/templates/role.yaml"); err != nil {
		return err
	}
	objs := []*unstructured.Unstructured{
		{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": OperatorNamespace},
		}},
		{Object: map[string]any{
			"apiVersion": "v1", "kind": "ServiceAccount",
			"metadata": map[string]any{"name": OperatorServiceAccount, "namespace": OperatorNamespace},
		}},
		{Object: map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
			"metadata": map[string]any{"name": "tenantry-operator"},
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "tenantry-operator"},
			"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": OperatorServiceAccount, "namespace": OperatorNamespace}},
		}},
	}
	for _, u := range objs {
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// OperatorConfig returns base authenticated as the operator's ServiceAccount
// with a fresh token (valid a day: tests and the demo outlive no more).
func OperatorConfig(ctx context.Context, c client.Client, base *rest.Config) (*rest.Config, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: OperatorServiceAccount, Namespace: OperatorNamespace}}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)}}
	if err := c.SubResource("token").Create(ctx, sa, req); err != nil {
		return nil, fmt.Errorf("requesting a token for %s: %w", OperatorUsername, err)
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
