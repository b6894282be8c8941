// Package install applies Tenantry's manifests (CRDs, RBAC, sample plans and
// tenants) to a cluster without Helm: the tests, the demo and the
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
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
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

// OperatorRBAC installs the operator's generated ClusterRole and binds it to
// user, the identity the operator runs as.
func OperatorRBAC(ctx context.Context, c client.Client, user string) error {
	if _, err := Apply(ctx, c, charts.Tenantry, "tenantry/templates/role.yaml"); err != nil {
		return err
	}
	binding := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1",
		"kind":       "ClusterRoleBinding",
		"metadata":   map[string]any{"name": "tenantry-operator"},
		"roleRef":    map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "tenantry-operator"},
		"subjects":   []any{map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}},
	}}
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(binding), client.FieldOwner(FieldOwner), client.ForceOwnership)
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
