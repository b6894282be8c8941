package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

var (
	now     = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	created = metav1.NewTime(now.Add(-26 * time.Hour))
)

func exampleTenants() []v1alpha1.Tenant {
	ready := v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: "acme", CreationTimestamp: created},
		Spec: v1alpha1.TenantSpec{
			Plan: "pro", DisplayName: "Acme Corp", Environments: []string{"prod", "staging"},
		},
		Status: v1alpha1.TenantStatus{
			Phase:      v1alpha1.PhaseReady,
			Namespaces: []string{"acme-prod", "acme-staging"},
			AppsReady:  "1/2",
			Apps: []v1alpha1.AppStatus{
				{Name: "web", Application: "acme-web", Namespace: "acme-prod", Sync: "Synced", Health: "Healthy", Revision: "4f2a9c1e0b7d"},
				{Name: "shop", Application: "acme-shop", Namespace: "acme-staging", Sync: "OutOfSync", Health: "Missing",
					Message: "sync failed: resource :ResourceQuota is not permitted in project tenant-acme"},
			},
			IngressDomains:     []string{"acme.example.com"},
			OnboardingDuration: &metav1.Duration{Duration: 1200 * time.Millisecond},
			Conditions: []metav1.Condition{
				{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Onboarded", Message: "2 namespaces ready", LastTransitionTime: created},
				{Type: "NamespacesReady", Status: metav1.ConditionTrue, Reason: "Applied", LastTransitionTime: created},
			},
			Quota: &v1alpha1.QuotaStatus{
				Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("6"), "requests.memory": resource.MustParse("16Gi"), "pods": resource.MustParse("100")},
				Used: corev1.ResourceList{"requests.cpu": resource.MustParse("1500m"), "requests.memory": resource.MustParse("4Gi"), "pods": resource.MustParse("110")},
				CPU:  "1500m/6", Memory: "4Gi/16Gi",
			},
		},
	}
	pending := v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: "globex", CreationTimestamp: metav1.NewTime(now.Add(-90 * time.Second))},
		Spec:       v1alpha1.TenantSpec{Plan: "free", Suspended: true},
		Status:     v1alpha1.TenantStatus{Phase: v1alpha1.PhaseSuspended, Namespaces: []string{"globex"}},
	}
	fresh := v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "initech"}, Spec: v1alpha1.TenantSpec{Plan: "enterprise"}}
	return []v1alpha1.Tenant{pending, ready, fresh}
}

func TestTableGolden(t *testing.T) {
	var out bytes.Buffer
	writeTable(&out, exampleTenants(), now)
	golden(t, "list.golden", out.Bytes())
}

// TestHubTableGolden: on a fleet's hub the list says where each tenant
// runs, is moving to, or why it is nowhere.
func TestHubTableGolden(t *testing.T) {
	placed := func(name, cluster, movingTo, reason string) v1alpha1.Tenant {
		tn := v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: created}, Spec: v1alpha1.TenantSpec{Plan: "pro"}}
		status := metav1.ConditionTrue
		if cluster == "" {
			status = metav1.ConditionFalse
		} else {
			tn.Status.Placement = &v1alpha1.PlacementStatus{Cluster: cluster, MovingTo: movingTo}
		}
		tn.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionPlaced, Status: status, Reason: reason}}
		return tn
	}
	tenants := []v1alpha1.Tenant{
		placed("acme", "eu-1", "", "Placed"),
		placed("globex", "eu-1", "us-1", "Moving"),
		placed("initech", "", "", "NoCapacity"),
	}
	var out bytes.Buffer
	writeTable(&out, tenants, now)
	golden(t, "list-hub.golden", out.Bytes())
}

func TestStatusGolden(t *testing.T) {
	tenant := exampleTenants()[1]
	events := []corev1.Event{
		{Type: "Normal", Reason: "TenantReady", Message: "Onboarded in 1.2s", LastTimestamp: metav1.NewTime(now.Add(-2 * time.Hour))},
		{Type: "Normal", Reason: "PlanChanged", Message: "Plan free -> pro", LastTimestamp: metav1.NewTime(now.Add(-5 * time.Minute))},
	}
	var out bytes.Buffer
	writeStatus(&out, &tenant, events, 10, now, false)
	golden(t, "status.golden", out.Bytes())
}

func TestBar(t *testing.T) {
	tests := []struct{ used, hard, want string }{
		{"0", "4", "[..........]"},
		{"1", "4", "[###.......]"},
		{"4", "4", "[##########]"},
		{"6", "4", "[##########]!"},
		{"1", "0", "[..........]"},
	}
	for _, tt := range tests {
		if got := bar(resource.MustParse(tt.used), resource.MustParse(tt.hard), 10); got != tt.want {
			t.Errorf("bar(%s, %s) = %s, want %s", tt.used, tt.hard, got, tt.want)
		}
	}
}

func TestParseOwner(t *testing.T) {
	tests := []struct {
		in      string
		want    v1alpha1.Owner
		wantErr string
	}{
		{"user:alice@acme.com=admin", v1alpha1.Owner{Kind: v1alpha1.SubjectUser, Name: "alice@acme.com", Role: v1alpha1.RoleAdmin}, ""},
		{"user:alice@acme.com", v1alpha1.Owner{Kind: v1alpha1.SubjectUser, Name: "alice@acme.com", Role: v1alpha1.RoleAdmin}, ""},
		{"Group:acme-devs=developer", v1alpha1.Owner{Kind: v1alpha1.SubjectGroup, Name: "acme-devs", Role: v1alpha1.RoleDeveloper}, ""},
		{"serviceaccount:ci/deployer=viewer", v1alpha1.Owner{Kind: v1alpha1.SubjectServiceAccount, Namespace: "ci", Name: "deployer", Role: v1alpha1.RoleViewer}, ""},
		{"alice@acme.com", v1alpha1.Owner{}, "no KIND: prefix"},
		{"robot:r2d2", v1alpha1.Owner{}, `unknown kind "robot"`},
		{"user:alice=owner", v1alpha1.Owner{}, `unknown role "owner"`},
		{"serviceaccount:deployer", v1alpha1.Owner{}, "NAMESPACE/NAME"},
		{"user:=admin", v1alpha1.Owner{}, "empty name"},
	}
	for _, tt := range tests {
		got, err := parseOwner(tt.in)
		if tt.wantErr != "" {
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.wantErr)) || !bytes.Contains([]byte(err.Error()), []byte("user:alice@acme.com=admin")) {
				t.Errorf("parseOwner(%q) error = %v, want %q and the format", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseOwner(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if back, _ := parseOwner(formatOwner(got)); back != got {
			t.Errorf("formatOwner(%+v) = %q does not parse back", got, formatOwner(got))
		}
	}
}
