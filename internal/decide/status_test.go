package decide

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

var (
	created = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	// now is 1.5s and a fraction of a millisecond after created: the
	// onboarding time is truncated to the millisecond.
	now     = metav1.NewTime(created.Add(1500*time.Millisecond + 300*time.Microsecond))
	earlier = metav1.NewTime(created.Add(-time.Hour))
)

const generation = 7

// newTenant is a tenant of generation 7 on plan small, changed by edits.
func newTenant(edits ...func(*v1alpha1.Tenant)) *v1alpha1.Tenant {
	t := &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: "acme", Generation: generation, CreationTimestamp: created},
		Spec:       v1alpha1.TenantSpec{Plan: "small", Ingress: v1alpha1.Ingress{Domains: []string{"acme.example.com"}}},
	}
	for _, edit := range edits {
		edit(t)
	}
	return t
}

func suspended(t *v1alpha1.Tenant)     { t.Spec.Suspended = true }
func revertOnAbort(t *v1alpha1.Tenant) { t.Spec.RevertOnAbort = true }

// withCondition gives the tenant's current status a condition.
func withCondition(condType string, status metav1.ConditionStatus, reason string) func(*v1alpha1.Tenant) {
	return func(t *v1alpha1.Tenant) {
		t.Status.Conditions = append(t.Status.Conditions, metav1.Condition{
			Type: condType, Status: status, Reason: reason, Message: "before", ObservedGeneration: 1, LastTransitionTime: earlier,
		})
	}
}

// settled is what a reconcile observes once namespaces and guardrails are
// in place, changed by edits.
func settled(edits ...func(*Observed)) Observed {
	obs := Observed{Namespaces: []string{"acme-dev", "acme-prod"}, NamespacesReady: true, GuardrailsReady: true}
	for _, edit := range edits {
		edit(&obs)
	}
	return obs
}

// failed is what a reconcile stopped by a failure observes, changed by edits.
func failed(reason, message string, edits ...func(*Observed)) Observed {
	var obs Observed
	obs.Fail(reason, message)
	for _, edit := range edits {
		edit(&obs)
	}
	return obs
}

func twoApps(o *Observed) {
	o.GitOps = &GitOps{Status: metav1.ConditionFalse, Reason: "AppsNotSynced", Message: "web: sync OutOfSync",
		Apps: []v1alpha1.AppStatus{{Name: "web"}, {Name: "api"}}, Ready: 1}
}

const (
	quotaMessage     = "using more than the quota allows: acme-dev: pods 3/2. Kubernetes evicts nothing for quota; no new pod or object of these resources is admitted until use drops below the limit"
	suspendedMessage = "no pod can start (quota pods: 0); Deployments and StatefulSets are scaled to zero and CronJobs suspended; set spec.suspended to false to restore them"
	guardrailsOK     = "quota, limit range, network policies, Pod Security restricted and RBAC in force"
	applyMessage     = "applying the tenant's objects failed (retrying): conflict on acme-dev"
)

// One case per branch of Status. want lists conditions as
// "Status/Reason: message"; absent lists those that must not be there.
func TestStatus(t *testing.T) {
	tests := []struct {
		name      string
		tenant    *v1alpha1.Tenant
		obs       Observed
		wantPhase v1alpha1.Phase
		want      map[string]string
		absent    []string
		check     func(t *testing.T, st v1alpha1.TenantStatus)
	}{
		{
			name: "terminating says why and keeps what the tenant held",
			tenant: newTenant(func(t *v1alpha1.Tenant) {
				t.Status.Namespaces = []string{"acme-dev"}
				t.Status.Phase = v1alpha1.PhaseReady
			}),
			obs:       Observed{Terminating: true, TerminatingMessage: "Deleting the workloads", FailReason: "PlanNotFound"},
			wantPhase: v1alpha1.PhaseTerminating,
			want:      map[string]string{v1alpha1.ConditionReady: "False/Terminating: Deleting the workloads"},
			check: func(t *testing.T, st v1alpha1.TenantStatus) {
				if !slices.Equal(st.Namespaces, []string{"acme-dev"}) {
					t.Errorf("namespaces = %v, want them kept", st.Namespaces)
				}
			},
		},
		{
			name:      "a failure is the Ready condition's reason",
			tenant:    newTenant(),
			obs:       failed("PlanNotFound", `TenantPlan "small" does not exist`, func(o *Observed) { o.ApplyErr = errors.New("ignored") }),
			wantPhase: v1alpha1.PhaseFailed,
			want:      map[string]string{v1alpha1.ConditionReady: `False/PlanNotFound: TenantPlan "small" does not exist`},
			absent:    []string{v1alpha1.ConditionGuardrailsReady},
		},
		{
			name:      "an apply error fails the guardrails too",
			tenant:    newTenant(),
			obs:       Observed{ApplyErr: errors.New("conflict on acme-dev")},
			wantPhase: v1alpha1.PhaseFailed,
			want: map[string]string{
				v1alpha1.ConditionGuardrailsReady: "False/ApplyFailed: " + applyMessage,
				v1alpha1.ConditionReady:           "False/ApplyFailed: " + applyMessage,
			},
		},
		{
			name:   "namespaces pending come before quota pending",
			tenant: newTenant(),
			obs: settled(func(o *Observed) {
				o.NamespacesReady, o.NamespacesMessage, o.GuardrailsReady, o.GuardrailsMessage = false, "ns wait", false, "quota wait"
			}),
			wantPhase: v1alpha1.PhasePending,
			want: map[string]string{
				v1alpha1.ConditionNamespacesReady: "False/NamespacesPending: ns wait",
				v1alpha1.ConditionGuardrailsReady: "False/QuotaNotYetEnforced: quota wait",
				v1alpha1.ConditionReady:           "False/NamespacesPending: ns wait",
			},
		},
		{
			name:      "quota pending",
			tenant:    newTenant(),
			obs:       settled(func(o *Observed) { o.GuardrailsReady, o.GuardrailsMessage = false, "quota wait" }),
			wantPhase: v1alpha1.PhasePending,
			want: map[string]string{
				v1alpha1.ConditionNamespacesReady: "True/NamespacesActive: 2 namespaces active",
				v1alpha1.ConditionGuardrailsReady: "False/QuotaNotYetEnforced: quota wait",
				v1alpha1.ConditionReady:           "False/QuotaNotYetEnforced: quota wait",
			},
		},
		{
			name:      "suspended",
			tenant:    newTenant(suspended),
			obs:       settled(),
			wantPhase: v1alpha1.PhaseSuspended,
			want: map[string]string{
				v1alpha1.ConditionSuspended: "True/Suspended: " + suspendedMessage,
				v1alpha1.ConditionReady:     "False/Suspended: spec.suspended is true: no new pods can start; set it to false to resume",
			},
			check: noReadyAt,
		},
		{
			name:      "ready the first time sets ReadyAt and the onboarding time",
			tenant:    newTenant(),
			obs:       settled(func(o *Observed) { o.RetainedEnvironments = []string{"qa"} }),
			wantPhase: v1alpha1.PhaseReady,
			want: map[string]string{
				v1alpha1.ConditionQuotaExceeded:   "False/WithinQuota: every namespace is within its quota",
				v1alpha1.ConditionSuspended:       "False/NotSuspended: the tenant is not suspended",
				v1alpha1.ConditionNamespacesReady: "True/NamespacesActive: 2 namespaces active",
				v1alpha1.ConditionGuardrailsReady: "True/GuardrailsApplied: " + guardrailsOK,
				v1alpha1.ConditionReady:           "True/TenantReady: the tenant can deploy into acme-dev, acme-prod",
			},
			absent: []string{v1alpha1.ConditionGitOpsReady, v1alpha1.ConditionGitWriteReady},
			check: func(t *testing.T, st v1alpha1.TenantStatus) {
				if st.ReadyAt == nil || !st.ReadyAt.Equal(&now) || st.OnboardingDuration == nil || st.OnboardingDuration.Duration != 1500*time.Millisecond {
					t.Errorf("readyAt = %v, onboarding = %v; want %v, 1.5s", st.ReadyAt, st.OnboardingDuration, now)
				}
				if !slices.Equal(st.Namespaces, []string{"acme-dev", "acme-prod"}) || !slices.Equal(st.IngressDomains, []string{"acme.example.com"}) ||
					st.Plan != "small" || !slices.Equal(st.RetainedEnvironments, []string{"qa"}) || st.Quota != nil {
					t.Errorf("holdings = %v %v %q %v %v", st.Namespaces, st.IngressDomains, st.Plan, st.RetainedEnvironments, st.Quota)
				}
				wantOrder := []string{v1alpha1.ConditionQuotaExceeded, v1alpha1.ConditionSuspended, v1alpha1.ConditionNamespacesReady, v1alpha1.ConditionGuardrailsReady, v1alpha1.ConditionReady}
				if got := conditionTypes(st); !slices.Equal(got, wantOrder) {
					t.Errorf("condition order = %v, want %v", got, wantOrder)
				}
			},
		},
		{
			name: "ReadyAt is set once",
			tenant: newTenant(func(t *v1alpha1.Tenant) {
				t.Status.ReadyAt, t.Status.OnboardingDuration = &earlier, &metav1.Duration{Duration: time.Second}
			}),
			obs:       settled(),
			wantPhase: v1alpha1.PhaseReady,
			check: func(t *testing.T, st v1alpha1.TenantStatus) {
				if !st.ReadyAt.Equal(&earlier) || st.OnboardingDuration.Duration != time.Second {
					t.Errorf("readyAt = %v, onboarding = %v; want them kept", st.ReadyAt, st.OnboardingDuration)
				}
			},
		},
		{
			name:      "quota exceeded",
			tenant:    newTenant(),
			obs:       settled(func(o *Observed) { o.OverQuota = []string{"acme-dev: pods 3/2"} }),
			wantPhase: v1alpha1.PhaseReady,
			want:      map[string]string{v1alpha1.ConditionQuotaExceeded: "True/QuotaExceeded: " + quotaMessage},
		},
		{
			name: "without Argo CD or apps the GitOps conditions and apps go",
			tenant: newTenant(revertOnAbort, withCondition(v1alpha1.ConditionGitOpsReady, metav1.ConditionTrue, "AppsSynced"), withCondition(v1alpha1.ConditionGitWriteReady, metav1.ConditionTrue, "GitWritePushed"), func(t *v1alpha1.Tenant) {
				t.Status.Apps, t.Status.AppsReady = []v1alpha1.AppStatus{{Name: "web"}}, "1/1"
			}),
			obs:       settled(),
			wantPhase: v1alpha1.PhaseReady,
			absent:    []string{v1alpha1.ConditionGitOpsReady, v1alpha1.ConditionGitWriteReady},
			check:     appsReady(0, ""),
		},
		{
			name:      "apps reported; without revertOnAbort GitWriteReady goes",
			tenant:    newTenant(withCondition(v1alpha1.ConditionGitWriteReady, metav1.ConditionTrue, "GitWritePushed")),
			obs:       settled(twoApps),
			wantPhase: v1alpha1.PhaseReady,
			want:      map[string]string{v1alpha1.ConditionGitOpsReady: "False/AppsNotSynced: web: sync OutOfSync"},
			absent:    []string{v1alpha1.ConditionGitWriteReady},
			check:     appsReady(2, "1/2"),
		},
		{
			name:      "the revert controller's last outcome stays",
			tenant:    newTenant(revertOnAbort, withCondition(v1alpha1.ConditionGitWriteReady, metav1.ConditionFalse, "GitAuthFailed")),
			obs:       settled(twoApps),
			wantPhase: v1alpha1.PhaseReady,
			want:      map[string]string{v1alpha1.ConditionGitWriteReady: "False/GitAuthFailed: before"},
			check:     transitionedAt(v1alpha1.ConditionGitWriteReady, earlier, 1),
		},
		{
			name:   "Argo CD without apps reports no count",
			tenant: newTenant(),
			obs: settled(func(o *Observed) {
				o.GitOps = &GitOps{Status: metav1.ConditionTrue, Reason: "ProjectReady", Message: "none"}
			}),
			wantPhase: v1alpha1.PhaseReady,
			want:      map[string]string{v1alpha1.ConditionGitOpsReady: "True/ProjectReady: none"},
			check:     appsReady(0, ""),
		},
		{
			name:      "a condition that keeps its status keeps its transition time",
			tenant:    newTenant(withCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, "TenantReady")),
			obs:       settled(),
			wantPhase: v1alpha1.PhaseReady,
			check:     transitionedAt(v1alpha1.ConditionReady, earlier, generation),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			original := tt.tenant.DeepCopy()
			st := Status(tt.tenant, tt.obs, now)
			if !equality.Semantic.DeepEqual(original, tt.tenant) {
				t.Errorf("Status changed the tenant")
			}
			if st.Phase != tt.wantPhase || st.ObservedGeneration != generation {
				t.Errorf("phase = %s, observedGeneration = %d; want %s, %d", st.Phase, st.ObservedGeneration, tt.wantPhase, generation)
			}
			for condType, want := range tt.want {
				c := meta.FindStatusCondition(st.Conditions, condType)
				if c == nil {
					t.Errorf("no %s condition, want %s", condType, want)
					continue
				}
				if got := fmt.Sprintf("%s/%s: %s", c.Status, c.Reason, c.Message); got != want {
					t.Errorf("%s = %s\nwant %s", condType, got, want)
				}
			}
			for _, condType := range tt.absent {
				if c := meta.FindStatusCondition(st.Conditions, condType); c != nil {
					t.Errorf("%s = %+v, want none", condType, c)
				}
			}
			if tt.check != nil {
				tt.check(t, st)
			}
		})
	}
}

func noReadyAt(t *testing.T, st v1alpha1.TenantStatus) {
	t.Helper()
	if st.ReadyAt != nil || st.OnboardingDuration != nil {
		t.Errorf("readyAt = %v, onboarding = %v; want none before Ready", st.ReadyAt, st.OnboardingDuration)
	}
}

func appsReady(apps int, ready string) func(*testing.T, v1alpha1.TenantStatus) {
	return func(t *testing.T, st v1alpha1.TenantStatus) {
		t.Helper()
		if len(st.Apps) != apps || st.AppsReady != ready {
			t.Errorf("apps = %v, appsReady = %q; want %d apps, %q", st.Apps, st.AppsReady, apps, ready)
		}
	}
}

func transitionedAt(condType string, at metav1.Time, generation int64) func(*testing.T, v1alpha1.TenantStatus) {
	return func(t *testing.T, st v1alpha1.TenantStatus) {
		t.Helper()
		c := meta.FindStatusCondition(st.Conditions, condType)
		if c == nil || !c.LastTransitionTime.Equal(&at) || c.ObservedGeneration != generation {
			t.Errorf("%s = %+v, want transitioned at %v, generation %d", condType, c, at, generation)
		}
	}
}

func conditionTypes(st v1alpha1.TenantStatus) []string {
	var types []string
	for _, c := range st.Conditions {
		types = append(types, c.Type)
	}
	return types
}

func quota(hard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{Status: corev1.ResourceQuotaStatus{Hard: hard, Used: used}}
}

func list(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

// One case per rule of addQuota and the quota status it adds up to.
func TestQuota(t *testing.T) {
	type namespaceQuota struct {
		namespace  string
		hard, used corev1.ResourceList
	}
	tests := []struct {
		name        string
		quotas      []namespaceQuota
		suspended   bool
		tenantQuota corev1.ResourceList
		wantOver    []string
		// wantCPU and wantMemory are the status's "used/hard"; wantHard the limit of CPU.
		wantCPU, wantMemory, wantHard string
		wantNil                       bool
	}{
		{name: "no quota computed yet", wantNil: true},
		{
			name: "within quota, summed over namespaces",
			quotas: []namespaceQuota{
				{"acme-dev", list("requests.cpu", "1", "requests.memory", "1Gi", "pods", "10"), list("requests.cpu", "500m", "requests.memory", "512Mi", "pods", "2")},
				{"acme-prod", list("requests.cpu", "2", "requests.memory", "1Gi", "pods", "10"), list("requests.cpu", "1", "requests.memory", "512Mi", "pods", "3")},
			},
			wantCPU: "1500m/3", wantMemory: "1Gi/2Gi", wantHard: "3",
		},
		{
			name: "exceeded, each resource over its limit listed",
			quotas: []namespaceQuota{
				{"acme-dev", list("requests.cpu", "1", "pods", "2"), list("requests.cpu", "2", "pods", "3")},
				{"acme-prod", list("pods", "2"), list("pods", "3")},
			},
			wantOver: []string{"acme-dev: pods 3/2", "acme-dev: requests.cpu 2/1", "acme-prod: pods 3/2"},
			wantCPU:  "2/1", wantHard: "1",
		},
		{
			name:      "suspended: pods above the 0 are on their way out, other resources still count",
			quotas:    []namespaceQuota{{"acme-dev", list("requests.cpu", "1", "pods", "0"), list("requests.cpu", "2", "pods", "3")}},
			suspended: true,
			wantOver:  []string{"acme-dev: requests.cpu 2/1"},
			wantCPU:   "2/1", wantHard: "1",
		},
		{
			name:        "the plan's tenantQuota is the limit",
			quotas:      []namespaceQuota{{"acme-dev", list("requests.cpu", "1"), list("requests.cpu", "500m")}, {"acme-prod", list("requests.cpu", "1"), list("requests.cpu", "0")}},
			tenantQuota: list("requests.cpu", "4", "requests.memory", "8Gi"),
			wantCPU:     "500m/4", wantMemory: "0/8Gi", wantHard: "4",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := Observed{TenantQuota: tt.tenantQuota}
			for _, q := range tt.quotas {
				obs.addQuota(q.namespace, quota(q.hard, q.used), tt.suspended)
			}
			if !slices.Equal(obs.OverQuota, tt.wantOver) {
				t.Errorf("over quota = %q, want %q", obs.OverQuota, tt.wantOver)
			}
			st := obs.quotaStatus()
			if tt.wantNil {
				if st != nil {
					t.Errorf("quota status = %+v, want none", st)
				}
				return
			}
			hard := st.Hard[corev1.ResourceRequestsCPU]
			if st.CPU != tt.wantCPU || st.Memory != tt.wantMemory || hard.String() != tt.wantHard {
				t.Errorf("cpu = %q, memory = %q, hard cpu = %s; want %q, %q, %s", st.CPU, st.Memory, hard.String(), tt.wantCPU, tt.wantMemory, tt.wantHard)
			}
		})
	}
}

// The condition stays until a write says otherwise, and goes with
// spec.revertOnAbort (moved from the controller with setGitWriteCondition).
func TestSetGitWrite(t *testing.T) {
	var list []metav1.Condition
	c := conditions{list: &list, generation: 3, now: now}
	failed := &metav1.Condition{Type: v1alpha1.ConditionGitWriteReady, Status: metav1.ConditionFalse, Reason: "GitAuthFailed", Message: "m"}
	c.setGitWrite(true, failed)
	if got := meta.FindStatusCondition(list, v1alpha1.ConditionGitWriteReady); got == nil || got.Reason != "GitAuthFailed" || got.ObservedGeneration != 3 {
		t.Fatalf("after a failure: %+v", list)
	}
	c.setGitWrite(true, nil)
	if got := meta.FindStatusCondition(list, v1alpha1.ConditionGitWriteReady); got == nil || got.Reason != "GitAuthFailed" {
		t.Fatalf("a reconcile without writes changed it: %+v", list)
	}
	c.setGitWrite(true, &metav1.Condition{Type: v1alpha1.ConditionGitWriteReady, Status: metav1.ConditionTrue, Reason: "GitWritePushed", Message: "ok"})
	if !meta.IsStatusConditionTrue(list, v1alpha1.ConditionGitWriteReady) {
		t.Fatalf("after a push: %+v", list)
	}
	c.setGitWrite(false, nil)
	if len(list) != 0 {
		t.Fatalf("without revertOnAbort: %+v", list)
	}
}

func TestHoldFirstStatus(t *testing.T) {
	fresh := &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "acme", CreationTimestamp: created}}
	written := fresh.DeepCopy()
	written.Status.Phase = v1alpha1.PhasePending
	tests := []struct {
		name   string
		tenant *v1alpha1.Tenant
		next   v1alpha1.Phase
		at     time.Time
		want   time.Duration
	}{
		{"first status, still pending", fresh, v1alpha1.PhasePending, created.Add(2 * time.Second), FirstStatusHold - 2*time.Second},
		{"first status, pending past the hold", fresh, v1alpha1.PhasePending, created.Add(FirstStatusHold + time.Second), 0},
		{"first status, ready", fresh, v1alpha1.PhaseReady, created.Add(time.Second), 0},
		{"first status, a problem", fresh, v1alpha1.PhaseFailed, created.Add(time.Second), 0},
		{"status written before", written, v1alpha1.PhasePending, created.Add(time.Second), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HoldFirstStatus(tt.tenant, v1alpha1.TenantStatus{Phase: tt.next}, tt.at); got != tt.want {
				t.Errorf("HoldFirstStatus = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestQuotaStatus(t *testing.T) {
	if got := QuotaStatus(nil); got != nil {
		t.Errorf("QuotaStatus(nil) = %+v, want nil", got)
	}
	got := QuotaStatus([]corev1.ResourceQuota{
		*quota(list("requests.cpu", "2", "pods", "10"), list("requests.cpu", "500m", "pods", "3")),
		*quota(list("requests.cpu", "1", "pods", "10"), list("requests.cpu", "1", "pods", "12")),
	})
	if got.CPU != "1500m/3" || got.Memory != "" {
		t.Errorf("CPU %q, Memory %q; want 1500m/3 and none", got.CPU, got.Memory)
	}
	if pods := got.Used[corev1.ResourcePods]; pods.String() != "15" {
		t.Errorf("pods used %s, want 15", pods.String())
	}
}
