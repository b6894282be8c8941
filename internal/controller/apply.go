package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// applier creates the desired objects the cache says are absent (one POST
// each, the cheapest write the API server takes), writes the others with
// server-side apply, and skips the write when the cached object already
// matches, so a resync costs reads only.
//
// A POST records its fields under an Update entry of FieldOwner, and the API
// server ignores managed fields sent with a create. So before its first
// apply of an object it created, the applier turns that entry into its Apply
// entry (csaupgrade): the apply then owns every field the create set, and
// removes those it no longer sends.
type applier struct {
	client client.Client
	// uncached reads the uncachedKinds.
	uncached client.Reader
	// metadataOnly are the kinds cached as metadata: the spec hash alone
	// says whether they match.
	metadataOnly map[schema.GroupVersionKind]bool
}

// uncachedKinds are rendered but not cached: Secrets, which the operator
// may read only in the namespaces where it writes them.
var uncachedKinds = map[schema.GroupVersionKind]bool{corev1.SchemeGroupVersion.WithKind("Secret"): true}

// apply reports whether it wrote. The object is unchanged when the cached
// copy carries the hash of this desired state (so nothing was dropped from
// it since) and still holds every field it sets (so no one edited them).
func (a applier) apply(ctx context.Context, desired client.Object) (bool, error) {
	u, err := toApplyObject(desired)
	if err != nil {
		return false, err
	}
	hash, err := hashOf(u.Object)
	if err != nil {
		return false, err
	}
	annotations := u.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[v1alpha1.AnnotationSpecHash] = hash
	u.SetAnnotations(annotations)

	if gvk := u.GroupVersionKind(); a.metadataOnly[gvk] {
		current := &metav1.PartialObjectMetadata{}
		current.SetGroupVersionKind(gvk)
		err := a.client.Get(ctx, client.ObjectKeyFromObject(desired), current)
		switch {
		case err == nil && current.GetAnnotations()[v1alpha1.AnnotationSpecHash] == hash:
			return false, nil
		case apierrors.IsNotFound(err):
			return true, a.create(ctx, u, desired)
		case err != nil:
			return false, fmt.Errorf("reading %s %s: %w", u.GetKind(), client.ObjectKeyFromObject(desired), err)
		}
		return true, a.write(ctx, u, desired)
	}

	current := desired.DeepCopyObject().(client.Object)
	var reader client.Reader = a.client
	if uncachedKinds[u.GroupVersionKind()] {
		reader = a.uncached
	}
	err = reader.Get(ctx, client.ObjectKeyFromObject(desired), current)
	switch {
	case err == nil:
		if current.GetAnnotations()[v1alpha1.AnnotationSpecHash] == hash {
			have, err := runtime.DefaultUnstructuredConverter.ToUnstructured(current)
			if err != nil {
				return false, err
			}
			if contains(have, u.Object) {
				return false, nil
			}
		}
	case apierrors.IsNotFound(err):
		return true, a.create(ctx, u, desired)
	default:
		return false, fmt.Errorf("reading %s %s: %w", u.GetKind(), client.ObjectKeyFromObject(desired), err)
	}

	return true, a.write(ctx, u, desired)
}

// create POSTs the desired object, carrying u's annotations (its spec
// hash). It sends the typed object, not u: client-go encodes built-in
// kinds as protobuf, which the API server decodes faster than JSON. An
// object the cache had not seen yet is applied instead.
func (a applier) create(ctx context.Context, u *unstructured.Unstructured, desired client.Object) error {
	obj := desired.DeepCopyObject().(client.Object)
	obj.SetAnnotations(u.GetAnnotations())
	err := a.client.Create(ctx, obj, client.FieldOwner(FieldOwner))
	if apierrors.IsAlreadyExists(err) {
		return a.write(ctx, u, desired)
	}
	if err != nil {
		return fmt.Errorf("creating %s %s: %w", u.GetKind(), client.ObjectKeyFromObject(desired), err)
	}
	return nil
}

// write applies u, the desired object in apply form, after adopting the
// fields a create recorded.
func (a applier) write(ctx context.Context, u *unstructured.Unstructured, desired client.Object) error {
	if err := a.adoptCreatedFields(ctx, u); err != nil {
		return fmt.Errorf("taking over the fields of %s %s: %w", u.GetKind(), client.ObjectKeyFromObject(desired), err)
	}
	err := a.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership)
	if err != nil {
		return fmt.Errorf("applying %s %s: %w", u.GetKind(), client.ObjectKeyFromObject(desired), err)
	}
	return nil
}

// adoptCreatedFields moves the fields FieldOwner's create recorded into its
// Apply entry. The cache strips managed fields, so they are read from the
// API server; this costs a read only when an existing object is written.
func (a applier) adoptCreatedFields(ctx context.Context, u *unstructured.Unstructured) error {
	live := &metav1.PartialObjectMetadata{}
	live.SetGroupVersionKind(u.GroupVersionKind())
	err := a.uncached.Get(ctx, client.ObjectKeyFromObject(u), live)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(live, sets.New(FieldOwner), FieldOwner)
	if err != nil || patch == nil {
		return err
	}
	return a.client.Patch(ctx, live, client.RawPatch(types.JSONPatchType, patch))
}

// toApplyObject converts a typed object to the unstructured form sent with
// server-side apply, without the empty status and creation timestamp the
// typed structs always carry.
func toApplyObject(obj client.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %T %s: %w", obj, client.ObjectKeyFromObject(obj), err)
	}
	delete(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	return &unstructured.Unstructured{Object: m}, nil
}

func hashOf(v any) (string, error) {
	b, err := json.Marshal(v) // maps marshal with sorted keys, so this is stable
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

// contains reports whether have holds every field of want with the same
// value. Lists must match element by element: the operator owns its lists
// whole, so an extra rule someone added to a NetworkPolicy counts as drift.
func contains(have, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			hv, found := h[k]
			if !found {
				if isEmpty(wv) {
					continue
				}
				return false
			}
			if !contains(hv, wv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !contains(h[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(have, want)
	}
}

// isEmpty is true for the empty maps and lists the API server drops.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case nil:
		return true
	}
	return false
}
