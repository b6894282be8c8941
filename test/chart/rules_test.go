package chart

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestPrometheusRules checks the chart's alert rules and dashboard with
// Prometheus's own tool, when installed (Debian's prometheus package ships
// promtool; hack/node-packages.sh installs it): the PrometheusRule the chart
// renders is valid (`promtool check rules`), its alerts fire when and only
// when they should, and every dashboard query gives the expected figures
// (`promtool test rules` with dashboards/prometheusrules_test.yaml), which
// must test every query the dashboard has.
func TestPrometheusRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (hack/node-packages.sh installs Debian's prometheus)")
	}
	manifest, err := Render(context.Background(), Options{
		APIVersions: append([]string{"monitoring.coreos.com/v1/PrometheusRule"}, KubeAPIVersions...),
	})
	if err != nil {
		t.Fatal(err)
	}
	var spec any
	for _, obj := range decode(t, manifest) {
		if obj.GetKind() == "PrometheusRule" {
			spec = obj.Object["spec"]
		}
	}
	if spec == nil {
		t.Fatal("the chart rendered no PrometheusRule with the Prometheus Operator's API present")
	}
	// A PrometheusRule's spec is a Prometheus rule file.
	rules, err := yaml.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(Dir(), "dashboards", "prometheusrules_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range map[string][]byte{"tenantry.rules.yaml": rules, "prometheusrules_test.yaml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"check", "rules", "tenantry.rules.yaml"}, {"test", "rules", "prometheusrules_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	}

	var unit struct {
		Tests []struct {
			PromQLExprTest []struct {
				Expr string `json:"expr"`
			} `json:"promql_expr_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(tests, &unit); err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for _, u := range unit.Tests {
		for _, e := range u.PromQLExprTest {
			tested[e.Expr] = true
		}
	}
	queries := dashboardQueries(t)
	for _, q := range queries {
		if !tested[q] {
			t.Errorf("dashboard query %q has no promql_expr_test in dashboards/prometheusrules_test.yaml", q)
		}
	}
	t.Logf("%d dashboard queries, each tested", len(queries))
}

// dashboardQueries are the dashboard's queries, with Grafana's variables as
// it fills them for all tenants over a 1m rate interval.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Dir(), "dashboards", "tenantry-tenants.json"))
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dashboard struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatal(err)
	}
	grafana := strings.NewReplacer("$__rate_interval", "1m", "$tenant", ".*")
	var out []string
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatal(err)
			}
			for _, target := range p.Targets {
				if target.Expr != "" {
					out = append(out, grafana.Replace(target.Expr))
				}
			}
			walk(p.Panels)
		}
	}
	walk(dashboard.Panels)
	return out
}
