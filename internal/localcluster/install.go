package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// What add-ons (Argo CD, Argo Rollouts) share as they install themselves:
// their files in bin/, their CRDs, and the progress lines that time each step.

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// needBinaries checks that the files an add-on (what) runs from are in
// BinDir, and says how to build them if not.
func (c *Cluster) needBinaries(what string, names []string) error {
	for _, name := range names {
		if _, err := os.Stat(c.bin(name)); err != nil {
			return fmt.Errorf("%s not found in %s: run `make testbin` to build %s", name, c.opts.BinDir, what)
		}
	}
	return nil
}

// progressSteps returns a function that reports a step of a start-up as
// done, with its time and the time since progressSteps was called.
func (c *Cluster) progressSteps() func(name string) {
	begin := time.Now()
	last := begin
	return func(name string) {
		now := time.Now()
		c.progressf("%-28s %6.2fs (total %.2fs)", name, now.Sub(last).Seconds(), now.Sub(begin).Seconds())
		last = now
	}
}

// installCRDs creates the CRDs in a file of bin/ and waits until the API
// server serves them, reporting each of the two steps for what (the
// add-on's name).
func installCRDs(ctx context.Context, client dynamic.Interface, path, what string, step func(name string)) error {
	crds, err := applyCRDs(ctx, client, path)
	if err != nil {
		return err
	}
	step(what + " CRDs created")
	if err := waitEstablished(ctx, client, crds); err != nil {
		return err
	}
	step(what + " CRDs established")
	return nil
}

// applyCRDs creates the CRDs in a file of bin/ (an add-on's, copied from its
// module by `make testbin`), unless an instance started earlier did (the
// cluster is new each time and bin/ the same), and returns their names.
// Create, not server-side apply: for CRDs this size (Argo CD's 1.4 MB, Argo
// Rollouts' 3 MB) apply costs the API server seconds more.
func applyCRDs(ctx context.Context, client dynamic.Interface, path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	decoder := utilyaml.NewYAMLOrJSONDecoder(f, 64<<10)
	for {
		var doc map[string]any
		if err := decoder.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if len(doc) == 0 {
			continue
		}
		crd := &unstructured.Unstructured{Object: doc}
		_, err := client.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{FieldManager: fieldManager})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating CRD %s: %w", crd.GetName(), err)
		}
		names = append(names, crd.GetName())
	}
	return names, nil
}

// waitEstablished waits until the API server serves the CRDs.
func waitEstablished(ctx context.Context, client dynamic.Interface, names []string) error {
	for _, name := range names {
		if err := waitFor(ctx, "CRD "+name+" Established", nil, func() error {
			crd, err := client.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if conditionStatus(crd, "Established") != "True" {
				return errors.New("not Established yet")
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}
