package localcluster_test

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tenantry/tenantry/internal/localcluster"
)

// AnalysisMetrics reads an AnalysisRun's status as the dynamic client
// decodes it (numbers as int64), missing counts as zero.
func TestAnalysisMetrics(t *testing.T) {
	run := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"metricResults": []any{
		map[string]any{"name": "success-rate", "phase": "Failed", "failed": int64(2), "count": int64(2), "measurements": []any{
			map[string]any{"value": "[0.44]", "phase": "Failed"},
			map[string]any{"phase": "Error", "message": "no data"},
		}},
		map[string]any{"name": "latency", "phase": "Successful", "count": int64(1)},
	}}}}
	want := []localcluster.AnalysisMetric{
		{Name: "success-rate", Phase: "Failed", Failed: 2, Count: 2, Measurements: []localcluster.AnalysisMeasurement{
			{Value: "[0.44]", Phase: "Failed"}, {Phase: "Error", Message: "no data"},
		}},
		{Name: "latency", Phase: "Successful", Count: 1},
	}
	if got := localcluster.AnalysisMetrics(run); !reflect.DeepEqual(got, want) {
		t.Errorf("AnalysisMetrics = %+v, want %+v", got, want)
	}
}
