package controller

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// rollout is a Rollout of five replicas with the chart's default canary
// steps, at generation 2, with the given status.
func rollout(t *testing.T, status string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	doc := `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: acme-shop, namespace: acme-prod, generation: 2}
spec:
  replicas: 5
  strategy:
    canary:
      steps: [{setWeight: 20}, {pause: {duration: 2s}}, {analysis: {}}, {setWeight: 50}, {pause: {duration: 2s}}, {setWeight: 100}]
  template:
    spec:
      containers: [{name: app, image: "registry.tenantry.dev/demo-app:2.0.0"}]
status: ` + status
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestRolloutState(t *testing.T) {
	tests := []struct {
		name   string
		status string
		want   v1alpha1.AppRollout
	}{
		{"the controller has not seen the new spec",
			`{observedGeneration: "1", phase: Healthy, currentPodHash: a, stableRS: a}`,
			v1alpha1.AppRollout{Phase: v1alpha1.RolloutProgressing, Weight: 0}},
		{"paused at 20 %",
			`{observedGeneration: "2", phase: Paused, currentPodHash: b, stableRS: a, currentStepIndex: 1}`,
			v1alpha1.AppRollout{Phase: v1alpha1.RolloutPaused, Step: "1/6", Weight: 20}},
		{"analysing at 20 %",
			`{observedGeneration: "2", phase: Progressing, currentPodHash: b, stableRS: a, currentStepIndex: 2,
			  canary: {currentStepAnalysisRunStatus: {name: run-1, status: Running}}}`,
			v1alpha1.AppRollout{Phase: v1alpha1.RolloutProgressing, Step: "2/6", Weight: 20, Analysis: "Running", AnalysisRun: "run-1"}},
		{"past the analysis, at 50 %",
			`{observedGeneration: "2", phase: Paused, currentPodHash: b, stableRS: a, currentStepIndex: 4}`,
			v1alpha1.AppRollout{Phase: v1alpha1.RolloutPaused, Step: "4/6", Weight: 50}},
		{"released",
			`{observedGeneration: "2", phase: Healthy, currentPodHash: b, stableRS: b, currentStepIndex: 6}`,
			v1alpha1.AppRollout{Phase: v1alpha1.RolloutHealthy, Step: "6/6", Weight: 100}},
		{"aborted by its analysis",
			`{observedGeneration: "2", phase: Degraded, abort: true, currentPodHash: b, stableRS: a, currentStepIndex: 0,
			  message: "RolloutAborted: metric success-rate failed",
			  canary: {currentStepAnalysisRunStatus: {name: run-1, status: Failed, message: "metric success-rate failed"}}}`,
			v1alpha1.AppRollout{Phase: v1alpha1.RolloutAborted, Step: "0/6", Weight: 0, Message: "RolloutAborted: metric success-rate failed",
				Analysis: "Failed: metric success-rate failed", AnalysisRun: "run-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rolloutState(rollout(t, tt.status))
			want := tt.want
			want.Name, want.Strategy, want.Image = "acme-shop", "canary", "registry.tenantry.dev/demo-app:2.0.0"
			if got.Message != want.Message && tt.want.Message != "" {
				t.Errorf("message %q, want %q", got.Message, want.Message)
			}
			got.Message, want.Message = "", ""
			if *got != want {
				t.Errorf("rolloutState =\n  %+v\nwant\n  %+v", *got, want)
			}
		})
	}
}
