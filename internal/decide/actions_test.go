package decide

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

func TestPrune(t *testing.T) {
	ns := func(name, env string) Owned {
		return Owned{ID: "Namespace//" + name, Kind: "Namespace", Environment: env}
	}
	in := func(kind, namespace, name string) Owned {
		return Owned{ID: kind + "/" + namespace + "/" + name, Kind: kind, Namespace: namespace, InTenantNamespace: true}
	}
	want := Desired{
		IDs:        map[string]bool{"Namespace//acme-dev": true, "RoleBinding/acme-dev/owners": true, "ClusterRole//tenantry:acme": true},
		Namespaces: map[string]bool{"acme-dev": true},
	}
	tests := []struct {
		name      string
		owned     []Owned
		guard     bool
		busy      map[string]bool
		confirmed []string
		prune     []string
		kept      []string
	}{
		{"all desired", []Owned{ns("acme-dev", "dev"), in("RoleBinding", "acme-dev", "owners")}, true, nil, nil, nil, nil},
		{"removed role binding", []Owned{in("RoleBinding", "acme-dev", "viewers")}, true, nil, nil, []string{"RoleBinding/acme-dev/viewers"}, nil},
		{"removed cluster-scoped object", []Owned{{ID: "ClusterRoleBinding//old", Kind: "ClusterRoleBinding"}}, true, nil, nil, []string{"ClusterRoleBinding//old"}, nil},
		{"content goes with its namespace", []Owned{ns("acme-prod", "prod"), in("RoleBinding", "acme-prod", "owners")}, true, map[string]bool{}, nil,
			[]string{"Namespace//acme-prod"}, nil},
		{"already deleting", []Owned{{ID: "Namespace//acme-prod", Kind: "Namespace", Deleting: true}}, true, nil, nil, nil, nil},
		{"busy namespace kept", []Owned{ns("acme-prod", "prod"), ns("acme-qa", "qa")}, true, map[string]bool{"acme-prod": true, "acme-qa": true}, nil,
			nil, []string{"prod", "qa"}},
		{"busy namespace confirmed", []Owned{ns("acme-prod", "prod")}, true, map[string]bool{"acme-prod": true}, []string{"prod"},
			[]string{"Namespace//acme-prod"}, nil},
		{"busy namespace without the guard", []Owned{ns("acme-prod", "prod")}, false, map[string]bool{"acme-prod": true}, nil,
			[]string{"Namespace//acme-prod"}, nil},
		{"argo objects are not in a tenant namespace", []Owned{{ID: "Application/argocd/acme-web", Kind: "Application", Namespace: "argocd"}}, true, nil, nil,
			[]string{"Application/argocd/acme-web"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prune, kept := Prune(tt.owned, want, tt.guard, tt.busy, tt.confirmed)
			var ids []string
			for _, o := range prune {
				ids = append(ids, o.ID)
			}
			if !slices.Equal(ids, tt.prune) || !slices.Equal(kept, tt.kept) {
				t.Errorf("Prune = %v, kept %v; want %v, kept %v", ids, kept, tt.prune, tt.kept)
			}
		})
	}
}

func TestConfirmedRemovals(t *testing.T) {
	tests := map[string][]string{"": nil, "prod": {"prod"}, " prod , qa,": {"prod", "qa"}}
	for annotation, want := range tests {
		tenant := newTenant(func(t *v1alpha1.Tenant) {
			t.Annotations = map[string]string{v1alpha1.AnnotationConfirmDelete: annotation}
		})
		if got := ConfirmedRemovals(tenant); !slices.Equal(got, want) {
			t.Errorf("ConfirmedRemovals(%q) = %v, want %v", annotation, got, want)
		}
	}
}

func TestScale(t *testing.T) {
	recorded := func(key, value string) map[string]string { return map[string]string{key: value} }
	tests := []struct {
		name     string
		workload Workload
		suspend  bool
		patch    string // the JSON merge patch; "" for no change
		err      string
	}{
		{"suspend a deployment", Workload{GVK: schema.GroupVersionKind{Kind: "Deployment"}, Replicas: ptr.To[int32](3)}, true,
			`{"metadata":{"annotations":{"tenantry.dev/suspended-replicas":"3"}},"spec":{"replicas":0}}`, ""},
		{"replicas default to one", Workload{GVK: schema.GroupVersionKind{Kind: "StatefulSet"}}, true,
			`{"metadata":{"annotations":{"tenantry.dev/suspended-replicas":"1"}},"spec":{"replicas":0}}`, ""},
		{"already at zero", Workload{GVK: schema.GroupVersionKind{Kind: "Deployment"}, Replicas: ptr.To[int32](0)}, true, "", ""},
		{"suspended twice", Workload{GVK: schema.GroupVersionKind{Kind: "Rollout"}, Replicas: ptr.To[int32](0), Annotations: recorded(v1alpha1.AnnotationSuspendedReplicas, "3")}, true, "", ""},
		{"resume", Workload{GVK: schema.GroupVersionKind{Kind: "Rollout"}, Replicas: ptr.To[int32](0), Annotations: recorded(v1alpha1.AnnotationSuspendedReplicas, "3")}, false,
			`{"metadata":{"annotations":{"tenantry.dev/suspended-replicas":null}},"spec":{"replicas":3}}`, ""},
		{"resume an active workload", Workload{GVK: schema.GroupVersionKind{Kind: "Deployment"}, Replicas: ptr.To[int32](2)}, false, "", ""},
		{"resume a bad record", Workload{GVK: schema.GroupVersionKind{Kind: "Deployment"}, Namespace: "acme-dev", Name: "web", Annotations: recorded(v1alpha1.AnnotationSuspendedReplicas, "x")}, false,
			"", `Deployment acme-dev/web: annotation tenantry.dev/suspended-replicas="x" is not a replica count`},
		{"suspend a cronjob", Workload{GVK: schema.GroupVersionKind{Kind: "CronJob"}}, true,
			`{"metadata":{"annotations":{"tenantry.dev/suspended-by-tenantry":"true"}},"spec":{"suspend":true}}`, ""},
		{"a cronjob suspended by its owner", Workload{GVK: schema.GroupVersionKind{Kind: "CronJob"}, Suspend: ptr.To(true)}, true, "", ""},
		{"resume a cronjob the suspension marked", Workload{GVK: schema.GroupVersionKind{Kind: "CronJob"}, Suspend: ptr.To(true), Annotations: recorded(v1alpha1.AnnotationSuspendedCronJob, "true")}, false,
			`{"metadata":{"annotations":{"tenantry.dev/suspended-by-tenantry":null}},"spec":{"suspend":false}}`, ""},
		{"a cronjob its owner suspended stays suspended", Workload{GVK: schema.GroupVersionKind{Kind: "CronJob"}, Suspend: ptr.To(true)}, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Scale([]Workload{tt.workload}, tt.suspend)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			patch := ""
			if len(got) == 1 {
				data, _ := json.Marshal(got[0].Patch)
				patch = string(data)
			}
			if patch != tt.patch || len(got) > 1 {
				t.Errorf("patch %s, want %s", patch, tt.patch)
			}
		})
	}
}

func TestApplyOrder(t *testing.T) {
	refs := []Ref{{"Namespace", ""}, {"ResourceQuota", "a"}, {"LimitRange", "a"}, {"Namespace", ""}, {"ResourceQuota", "b"}, {"NetworkPolicy", "b"}}
	tests := []struct {
		name          string
		current, next map[string]corev1.ResourceList
		want          []int
	}{
		{"nothing shrinks", nil, map[string]corev1.ResourceList{"a": list("pods", "5")}, []int{0, 3, 1, 2, 4, 5}},
		{"b shrinks", map[string]corev1.ResourceList{"a": list("pods", "5"), "b": list("pods", "5")},
			map[string]corev1.ResourceList{"a": list("pods", "8"), "b": list("pods", "2")}, []int{0, 3, 4, 1, 2, 5}},
		{"a new resource is no shrink", map[string]corev1.ResourceList{"b": list("pods", "5")},
			map[string]corev1.ResourceList{"b": list("pods", "5", "requests.cpu", "1")}, []int{0, 3, 1, 2, 4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ApplyOrder(refs, tt.current, tt.next); !slices.Equal(got, tt.want) {
				t.Errorf("ApplyOrder = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOffboarding(t *testing.T) {
	deleted := metav1.NewTime(created.Add(time.Hour))
	deleting := func(edits ...func(*v1alpha1.Tenant)) *v1alpha1.Tenant {
		return newTenant(append(edits, func(t *v1alpha1.Tenant) {
			t.DeletionTimestamp = &deleted
			t.Status.Namespaces = []string{"acme-dev"}
		})...)
	}
	terminating := func(t *v1alpha1.Tenant) {
		t.Status.Phase = v1alpha1.PhaseTerminating
		t.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Message: "waiting for namespaces to be deleted: x"}}
	}
	nsDeleting := func(since time.Duration, condition string) corev1.Namespace {
		at := metav1.NewTime(deleted.Add(since))
		ns := corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "acme-dev", DeletionTimestamp: &at}}
		if condition != "" {
			ns.Status.Conditions = []corev1.NamespaceCondition{{Status: corev1.ConditionTrue, Message: condition}}
		}
		return ns
	}
	tests := []struct {
		name   string
		o      Offboarding
		report func(Offboarding) string
		want   string
		starts bool
	}{
		{"starts", Offboarding{Tenant: deleting()}, nil, "Deleting the workloads and namespaces [acme-dev], then the tenant's bindings", true},
		{"starts retaining", Offboarding{Tenant: deleting(), Retain: true}, nil, "Keeping namespaces [acme-dev] (deletionPolicy Retain) and removing the owners' access", true},
		{"goes on", Offboarding{Tenant: deleting(terminating)}, nil, "waiting for namespaces to be deleted: x", false},
		{"apps left, not yet stuck", Offboarding{Tenant: deleting(), Now: deleted.Add(30 * time.Second)},
			func(o Offboarding) string { return o.AppsLeft(2, "argocd", "f") }, "", false},
		{"apps stuck", Offboarding{Tenant: deleting(), Now: deleted.Add(time.Minute)},
			func(o Offboarding) string { return o.AppsLeft(2, "argocd", "f") },
			"waiting for Argo CD to delete 2 Applications in argocd and what they deployed (finalizer f); check that the Argo CD application controller runs", false},
		{"no app left", Offboarding{Tenant: deleting(), Now: deleted.Add(time.Hour)},
			func(o Offboarding) string { return o.AppsLeft(0, "argocd", "f") }, "", false},
		{"namespaces stuck after StuckAfter", Offboarding{Tenant: deleting(), Now: deleted.Add(20 * time.Second), StuckAfter: 10 * time.Second},
			func(o Offboarding) string {
				return o.NamespacesLeft([]corev1.Namespace{nsDeleting(0, "Some content in the namespace has finalizers remaining"), nsDeleting(15*time.Second, "")})
			},
			"waiting for namespaces to be deleted: acme-dev (Some content in the namespace has finalizers remaining, since 2026-01-02T04:04:05Z); remove what holds them", false},
		{"namespace not yet deleted", Offboarding{Tenant: deleting(), Now: deleted.Add(time.Hour)},
			func(o Offboarding) string {
				return o.NamespacesLeft([]corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "x"}}})
			}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, starts := tt.o.Started()
			if tt.report != nil {
				got, starts = tt.report(tt.o), false
			}
			if !strings.HasPrefix(got, tt.want) || (tt.want == "") != (got == "") || starts != tt.starts {
				t.Errorf("got %q (starts %v), want %q (starts %v)", got, starts, tt.want, tt.starts)
			}
		})
	}
}

func TestApps(t *testing.T) {
	withApps := func(names ...string) func(*v1alpha1.Tenant) {
		return func(t *v1alpha1.Tenant) {
			for _, n := range names {
				t.Spec.Apps = append(t.Spec.Apps, v1alpha1.App{Name: n})
			}
		}
	}
	healthy := v1alpha1.AppStatus{Name: "web", Sync: "Synced", Health: "Healthy"}
	failing := v1alpha1.AppStatus{Name: "api", Sync: "OutOfSync", Message: "Deployment api: forbidden"}
	tests := []struct {
		name    string
		tenant  *v1alpha1.Tenant
		apps    []v1alpha1.AppStatus
		argo    string
		reason  string // "" for no condition
		message string
		ready   int
	}{
		{"no Argo CD, no apps", newTenant(), nil, "", "", "", 0},
		{"no Argo CD, apps listed", newTenant(withApps("web")), nil, "", ReasonArgoCDMissing, "spec.apps lists 1 apps, but the operator found no Argo CD", 0},
		{"no apps", newTenant(), nil, "argocd", ReasonProjectReady, "Argo CD AppProject tenant-acme confines", 0},
		{"all synced", newTenant(withApps("web")), []v1alpha1.AppStatus{healthy}, "argocd", ReasonAppsSynced, "every app (1) synced from Git and healthy", 1},
		{"one failing", newTenant(withApps("web", "api")), []v1alpha1.AppStatus{healthy, failing}, "argocd", ReasonAppsNotSynced,
			"api: sync OutOfSync, health Unknown (Deployment api: forbidden); see `kubectl -n argocd get application` and its events", 1},
		{"suspended", newTenant(suspended, withApps("web")), []v1alpha1.AppStatus{healthy}, "argocd", ReasonSyncSuspended, "automated sync is off", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Apps(tt.tenant, tt.apps, tt.argo, "tenant-acme")
			if tt.reason == "" {
				if g != nil {
					t.Fatalf("Apps = %+v, want nil", g)
				}
				return
			}
			if g == nil || g.Reason != tt.reason || !strings.HasPrefix(g.Message, tt.message) || g.Ready != tt.ready {
				t.Errorf("Apps = %+v, want %s %q, %d ready", g, tt.reason, tt.message, tt.ready)
			}
		})
	}
}
