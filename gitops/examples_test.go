package examples

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestArgoRolloutsIsTheTestedVersion keeps the GitOps bootstrap on the Argo
// Rollouts every test runs (tools/rollouts/go.mod), image included.
func TestArgoRolloutsIsTheTestedVersion(t *testing.T) {
	gomod, err := os.ReadFile("../tools/rollouts/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	tested := ""
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == "github.com/argoproj/argo-rollouts" {
			tested = f[1]
		}
	}
	if tested == "" {
		t.Fatal("tools/rollouts/go.mod requires no github.com/argoproj/argo-rollouts")
	}

	data, err := Examples.ReadFile("platform/argo-rollouts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var app struct {
		Spec struct {
			Source struct {
				TargetRevision string `json:"targetRevision"`
				Kustomize      struct {
					Images []string `json:"images"`
				} `json:"kustomize"`
			} `json:"source"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &app); err != nil {
		t.Fatal(err)
	}
	src := app.Spec.Source
	if src.TargetRevision != tested {
		t.Errorf("platform/argo-rollouts.yaml installs %s; the tests run %s", src.TargetRevision, tested)
	}
	if want := fmt.Sprintf("quay.io/argoproj/argo-rollouts:%s", tested); len(src.Kustomize.Images) != 1 || src.Kustomize.Images[0] != want {
		t.Errorf("platform/argo-rollouts.yaml images %v, want [%s]", src.Kustomize.Images, want)
	}
}
