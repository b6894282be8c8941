package decide

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

var abortedAt = metav1.NewTime(created.Add(time.Minute))

// abortedApp is app name's status: its Rollout aborted at abortedAt
// (nil: not reported) while Argo CD had synced revision, with record as
// its revert (nil: none yet).
func abortedApp(name, revision string, at *metav1.Time, record *v1alpha1.RolloutRevert) v1alpha1.AppStatus {
	return v1alpha1.AppStatus{Name: name, Namespace: "acme-prod", Revision: revision, Rollout: &v1alpha1.AppRollout{
		Name: name, Phase: v1alpha1.RolloutAborted, AbortedAt: at, Revert: record,
	}}
}

// revertTenant is a tenant with revertOnAbort, apps web (a Git path) and
// chart (a Helm chart), and apps as its status.
func revertTenant(revertOnAbort bool, apps ...v1alpha1.AppStatus) *v1alpha1.Tenant {
	return newTenant(func(t *v1alpha1.Tenant) {
		t.Spec.RevertOnAbort = revertOnAbort
		t.Spec.Apps = []v1alpha1.App{
			{Name: "web", RepoURL: "https://git.example.com/acme.git", Path: "apps/web", TargetRevision: "main"},
			{Name: "chart", RepoURL: "https://charts.example.com", Chart: "web", TargetRevision: "1.0.0"},
		}
		t.Status.Apps = apps
	})
}

func TestRevertsDue(t *testing.T) {
	later := metav1.NewTime(abortedAt.Add(time.Hour))
	tests := []struct {
		name   string
		tenant *v1alpha1.Tenant
		// want maps each due app to its decided record's message ("" for
		// a revert to run).
		want map[string]string
	}{
		{name: "an abort with revertOnAbort is due",
			tenant: revertTenant(true, abortedApp("web", "abc", &abortedAt, nil)),
			want:   map[string]string{"web": ""}},
		{name: "without revertOnAbort nothing is",
			tenant: revertTenant(false, abortedApp("web", "abc", &abortedAt, nil))},
		{name: "a Rollout not aborted is not",
			tenant: revertTenant(true, v1alpha1.AppStatus{Name: "web", Revision: "abc", Rollout: &v1alpha1.AppRollout{Name: "web", Phase: v1alpha1.RolloutDegraded}})},
		{name: "an app without a Rollout is not",
			tenant: revertTenant(true, v1alpha1.AppStatus{Name: "web", Revision: "abc"})},
		{name: "an abort at no known revision is not",
			tenant: revertTenant(true, abortedApp("web", "", &abortedAt, nil))},
		{name: "an app no longer in the spec is not",
			tenant: revertTenant(true, abortedApp("gone", "abc", &abortedAt, nil))},
		{name: "an abort answered by its time is not, even after Argo CD synced the revert",
			tenant: revertTenant(true, abortedApp("web", "def", &abortedAt, &v1alpha1.RolloutRevert{AbortedAt: abortedAt.DeepCopy(), Revision: "abc", Commit: "def"}))},
		{name: "a failed revert answers its abort: it is not retried",
			tenant: revertTenant(true, abortedApp("web", "abc", &abortedAt, &v1alpha1.RolloutRevert{AbortedAt: abortedAt.DeepCopy(), Revision: "abc", Message: "revert failed: timeout"}))},
		{name: "a later abort is due again",
			tenant: revertTenant(true, abortedApp("web", "abc", &later, &v1alpha1.RolloutRevert{AbortedAt: abortedAt.DeepCopy(), Revision: "abc", Commit: "def"})),
			want:   map[string]string{"web": ""}},
		{name: "without abort times, the failed revision answers",
			tenant: revertTenant(true, abortedApp("web", "abc", nil, &v1alpha1.RolloutRevert{Revision: "abc"}))},
		{name: "without abort times, the revert commit synced answers",
			tenant: revertTenant(true, abortedApp("web", "def", nil, &v1alpha1.RolloutRevert{Revision: "abc", Commit: "def"}))},
		{name: "without abort times, another revision is a new abort",
			tenant: revertTenant(true, abortedApp("web", "ghi", nil, &v1alpha1.RolloutRevert{Revision: "abc", Commit: "def"})),
			want:   map[string]string{"web": ""}},
		{name: "an app from a Helm repository is recorded as not reverted",
			tenant: revertTenant(true, abortedApp("chart", "1.0.0", &abortedAt, nil), abortedApp("web", "abc", &abortedAt, nil)),
			want:   map[string]string{"chart": NotRevertedChart, "web": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			due := RevertsDue(tt.tenant)
			got := map[string]string{}
			for _, d := range due {
				if d.App.Name != d.Status.Name {
					t.Errorf("due revert pairs spec %s with status %s", d.App.Name, d.Status.Name)
				}
				got[d.Status.Name] = ""
				if d.Record != nil {
					got[d.Status.Name] = d.Record.Message
					if d.Record.Revision != d.Status.Revision || !d.Record.AbortedAt.Equal(d.Status.Rollout.AbortedAt) {
						t.Errorf("record %+v does not name the abort of %+v", d.Record, d.Status.Rollout)
					}
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("due = %v, want %v", got, tt.want)
			}
			for app, msg := range tt.want {
				if m, ok := got[app]; !ok || m != msg {
					t.Errorf("due[%s] = %q (%v), want %q", app, m, ok, msg)
				}
			}
		})
	}
}

func TestReverted(t *testing.T) {
	later := metav1.NewTime(abortedAt.Add(time.Hour))
	record := v1alpha1.RolloutRevert{AbortedAt: abortedAt.DeepCopy(), Revision: "abc", Commit: "def", Message: "reverted"}
	pushed := &metav1.Condition{Type: v1alpha1.ConditionGitWriteReady, Status: metav1.ConditionTrue, Reason: "GitWritePushed", Message: "pushed"}
	tests := []struct {
		name       string
		tenant     *v1alpha1.Tenant
		gitWrite   *metav1.Condition
		wantRecord bool
		// keptMessage is the message of a record already there that must stay.
		keptMessage string
		// wantCondition is the GitWriteReady reason, "" for none.
		wantCondition string
	}{
		{name: "the record goes to the abort it answers, with the condition",
			tenant: revertTenant(true, abortedApp("web", "abc", &abortedAt, nil)), gitWrite: pushed,
			wantRecord: true, wantCondition: "GitWritePushed"},
		{name: "a newer abort waits for its own revert",
			tenant: revertTenant(true, abortedApp("web", "abc", &later, nil)), gitWrite: pushed,
			wantCondition: "GitWritePushed"},
		{name: "a Rollout that left its abort keeps the record",
			tenant:     revertTenant(true, v1alpha1.AppStatus{Name: "web", Revision: "def", Rollout: &v1alpha1.AppRollout{Name: "web", Phase: v1alpha1.RolloutProgressing}}),
			wantRecord: true},
		{name: "an app without a Rollout gets none",
			tenant: revertTenant(true, v1alpha1.AppStatus{Name: "web", Revision: "def"})},
		{name: "a record an earlier pass wrote for this abort stays",
			tenant:     revertTenant(true, abortedApp("web", "abc", &abortedAt, &v1alpha1.RolloutRevert{AbortedAt: abortedAt.DeepCopy(), Revision: "abc", Commit: "older", Message: "reverted earlier"})),
			wantRecord: true, keptMessage: "reverted earlier"},
		{name: "no outcome keeps the last condition",
			tenant: revertTenant(true, abortedApp("web", "abc", &abortedAt, nil)), wantRecord: true},
		{name: "revertOnAbort turned off meanwhile: the condition goes",
			tenant: revertTenant(false, abortedApp("web", "abc", &abortedAt, nil)), gitWrite: pushed, wantRecord: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.tenant.DeepCopy()
			st := Reverted(tt.tenant, map[string]v1alpha1.RolloutRevert{"web": record}, tt.gitWrite, now)
			if got := st.Apps[0].Rollout != nil && st.Apps[0].Rollout.Revert != nil; got != tt.wantRecord {
				t.Errorf("recorded = %v, want %v: %+v", got, tt.wantRecord, st.Apps[0].Rollout)
			}
			c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionGitWriteReady)
			switch {
			case tt.wantCondition == "" && c != nil:
				t.Errorf("GitWriteReady = %+v, want none", c)
			case tt.wantCondition != "" && (c == nil || c.Reason != tt.wantCondition || c.ObservedGeneration != generation || !c.LastTransitionTime.Equal(&now)):
				t.Errorf("GitWriteReady = %+v, want %s for generation %d at %v", c, tt.wantCondition, generation, now)
			}
			if tt.keptMessage != "" && st.Apps[0].Rollout.Revert.Message != tt.keptMessage {
				t.Errorf("the record already there was replaced by %+v", st.Apps[0].Rollout.Revert)
			}
			if !equality.Semantic.DeepEqual(tt.tenant, before) {
				t.Error("Reverted changed the tenant it was given")
			}
		})
	}
}

// A revert decided is announced once: the status the revert controller
// writes is the change Transition sees, and the next one sees none.
func TestRevertedAnnouncedOnce(t *testing.T) {
	tenant := revertTenant(true, abortedApp("web", "abc", &abortedAt, nil))
	records := map[string]v1alpha1.RolloutRevert{"web": {AbortedAt: abortedAt.DeepCopy(), Revision: "abc", Message: NotRevertedChart}}
	next := Reverted(tenant, records, nil, now)
	ch := Transition(tenant.Status, next)
	if len(ch.Events) != 1 || ch.Events[0].Reason != ReasonRevertSkipped {
		t.Fatalf("events = %+v, want one RevertSkipped", ch.Events)
	}
	tenant.Status = next
	if again := Transition(next, Reverted(tenant, records, nil, now)); len(again.Events) != 0 {
		t.Errorf("writing the same record again announces %+v", again.Events)
	}
}
