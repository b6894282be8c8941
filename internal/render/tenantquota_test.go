package render

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestSplitTenantQuota(t *testing.T) {
	cpu := func(v string) corev1.ResourceList { return corev1.ResourceList{"requests.cpu": resource.MustParse(v)} }
	perNS := map[string]corev1.ResourceList{"prod": {"requests.cpu": resource.MustParse("4"), "pods": resource.MustParse("10")}, "staging": {"requests.cpu": resource.MustParse("4"), "pods": resource.MustParse("10")}}
	tests := []struct {
		name      string
		total     corev1.ResourceList
		used      map[string]corev1.ResourceList
		wantProd  string
		wantStage string
	}{
		{"idle: an even split", cpu("1"), nil, "500m", "500m"},
		{"prod grows: most of the room follows it", cpu("1"), map[string]corev1.ResourceList{"prod": cpu("500m")}, "958m", "41m"},
		{"prod uses all: staging has nothing left", cpu("1"), map[string]corev1.ResourceList{"prod": cpu("1")}, "1", "0"},
		{"over the total after a downgrade: each keeps its use, no room", cpu("1"), map[string]corev1.ResourceList{"prod": cpu("800m"), "staging": cpu("400m")}, "800m", "400m"},
		{"the namespace's own quota still caps it", cpu("20"), nil, "4", "4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitTenantQuota(tt.total, tt.used, perNS)
			prod, stage := got["prod"]["requests.cpu"], got["staging"]["requests.cpu"]
			if prod.Cmp(resource.MustParse(tt.wantProd)) != 0 || stage.Cmp(resource.MustParse(tt.wantStage)) != 0 {
				t.Errorf("prod %s, staging %s; want %s, %s", prod.String(), stage.String(), tt.wantProd, tt.wantStage)
			}
			if pods := got["prod"]["pods"]; pods.Cmp(resource.MustParse("10")) != 0 {
				t.Errorf("pods = %s; a resource the total does not cap must keep its value", pods.String())
			}
			// The invariant that makes the API server enforce the total.
			var hard, used int64
			for ns, l := range got {
				hard += milli(l, "requests.cpu")
				used += milli(tt.used[ns], "requests.cpu")
			}
			if limit := milli(tt.total, "requests.cpu"); hard > max(limit, used) {
				t.Errorf("namespace quotas add up to %dm, above the total %dm", hard, limit)
			}
		})
	}
}
