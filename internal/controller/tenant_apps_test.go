package controller

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func TestApplicationProblems(t *testing.T) {
	for _, tc := range []struct {
		name, status, want string
	}{
		{"synced", `{sync: {status: Synced}, health: {status: Healthy}, operationState: {phase: Succeeded, message: "successfully synced"}}`, ""},
		{"refused destination (a condition)",
			`{conditions: [{type: InvalidSpecError, message: "application destination server 'x' and namespace 'kube-system' do not match any of the allowed destinations in project 'tenant-acme'"}]}`,
			"InvalidSpecError: application destination server 'x' and namespace 'kube-system' do not match any of the allowed destinations in project 'tenant-acme'"},
		{"refused objects while retrying: each with its reason, without the retry count",
			`{operationState: {phase: Running, retryCount: 3, message: "one or more synchronization tasks are not valid. Retrying attempt #3 at 11:59PM.",
			  syncResult: {resources: [
			    {kind: ConfigMap, name: planted, status: SyncFailed, message: "namespace globex-prod is not permitted in project 'tenant-acme'"},
			    {kind: Service, name: web, status: Synced, message: "service/web created"}]}}}`,
			"ConfigMap planted: namespace globex-prod is not permitted in project 'tenant-acme'"},
		{"failed sync without object results", `{operationState: {phase: Running, retryCount: 1, message: "one or more objects failed to apply, reason: forbidden. Retrying attempt #1 at 11:57PM."}}`,
			"sync failed: one or more objects failed to apply, reason: forbidden."},
		{"first attempt still running is no problem yet", `{operationState: {phase: Running, message: "waiting for healthy state"}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := map[string]any{}
			if err := yaml.Unmarshal([]byte(tc.status), &status); err != nil {
				t.Fatal(err)
			}
			app := &unstructured.Unstructured{Object: map[string]any{"status": status}}
			if got := applicationProblems(app); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
