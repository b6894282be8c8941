package metrics

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/charts"
)

// TestDashboardsUseExistingMetrics checks that every tenantry_ series the
// shipped Grafana dashboard and alert rules query is one the operator
// exports, so a renamed metric cannot leave a blank panel or a silent alert.
func TestDashboardsUseExistingMetrics(t *testing.T) {
	exported := map[string]bool{}
	descs := make(chan *prometheus.Desc, 64)
	for _, c := range collectors(nil) {
		c.Describe(descs)
	}
	close(descs)
	fqName := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range descs {
		name := fqName.FindStringSubmatch(d.String())[1]
		for _, suffix := range []string{"", "_bucket", "_count", "_sum"} {
			exported[name+suffix] = true
		}
	}

	files, err := fs.Glob(charts.Tenantry, "tenantry/dashboards/*")
	if err != nil || len(files) < 2 {
		t.Fatalf("dashboards: %v, %v", files, err)
	}
	series := regexp.MustCompile(`tenantry_[a-z_]+`)
	for _, f := range files {
		data, err := fs.ReadFile(charts.Tenantry, f)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if strings.HasSuffix(f, ".json") {
			err = json.Unmarshal(data, &doc)
		} else {
			err = yaml.Unmarshal(data, &doc)
		}
		if err != nil {
			t.Fatalf("%s does not parse: %v", f, err)
		}
		used := series.FindAllString(string(data), -1)
		if len(used) == 0 {
			t.Errorf("%s queries no tenantry_ metric", f)
		}
		for _, name := range used {
			if !exported[name] {
				t.Errorf("%s queries %s, which the operator does not export", f, name)
			}
		}
	}
}
