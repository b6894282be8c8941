package decide

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// NotRevertedChart is the record of an aborted app deployed from a Helm
// repository: there is no Git path to revert.
const NotRevertedChart = "not reverted: the app comes from a Helm repository (spec.apps[].chart), not a Git path"

// DueRevert is an aborted release the revert controller has to answer.
type DueRevert struct {
	// App is the app's spec: its repository, branch and path.
	App v1alpha1.App
	// Status is the app's status, its Rollout aborted at Status.Revision.
	Status v1alpha1.AppStatus
	// Record is the outcome when no Git write is needed (an app from a
	// Helm repository); nil when the revert is to run.
	Record *v1alpha1.RolloutRevert
}

// RevertsDue lists, from what the Tenant's status records, the aborted
// releases that wait for a revert: with spec.revertOnAbort, each app whose
// Rollout aborted at a known revision and whose recorded revert does not
// answer this abort. Each abort is handled once, whatever its outcome: Argo
// CD syncing the revert, or any other commit, before the Rollout leaves
// its abort is not another, and a failed revert is not retried.
func RevertsDue(tenant *v1alpha1.Tenant) []DueRevert {
	if !tenant.Spec.RevertOnAbort {
		return nil
	}
	var due []DueRevert
	for _, st := range tenant.Status.Apps {
		ro := st.Rollout
		if ro == nil || ro.Phase != v1alpha1.RolloutAborted || st.Revision == "" {
			continue
		}
		if ro.Revert != nil && sameAbort(ro.Revert, ro, st.Revision) {
			continue
		}
		// The status may still list an app the spec no longer has.
		i := slices.IndexFunc(tenant.Spec.Apps, func(a v1alpha1.App) bool { return a.Name == st.Name })
		if i < 0 {
			continue
		}
		d := DueRevert{App: tenant.Spec.Apps[i], Status: *st.DeepCopy()}
		if d.App.Path == "" {
			d.Record = &v1alpha1.RolloutRevert{AbortedAt: ro.AbortedAt.DeepCopy(), Revision: st.Revision, Message: NotRevertedChart}
		}
		due = append(due, d)
	}
	return due
}

// sameAbort reports whether the revert record answers the Rollout's
// current abort: by its time, or, where Argo Rollouts does not report it,
// by the revision that failed.
func sameAbort(last *v1alpha1.RolloutRevert, ro *v1alpha1.AppRollout, revision string) bool {
	if last.AbortedAt != nil && ro.AbortedAt != nil {
		return last.AbortedAt.Equal(ro.AbortedAt)
	}
	return last.Revision == revision || (last.Commit != "" && last.Commit == revision)
}

// Reverted is the tenant's status with the revert records (by app name)
// and the GitWriteReady condition the Git writes imply (nil: none that
// told anything, the last outcome stays). A record goes only to an app
// whose Rollout still is in the abort it answers, or has left it: the
// status it is written over may be newer than the one the reverts were
// decided from, and a newer abort waits for its own revert; a record that
// already answers the abort is kept. It leaves the tenant untouched.
func Reverted(tenant *v1alpha1.Tenant, records map[string]v1alpha1.RolloutRevert, gitWrite *metav1.Condition, now metav1.Time) v1alpha1.TenantStatus {
	st := tenant.Status.DeepCopy()
	for i := range st.Apps {
		app := &st.Apps[i]
		record, found := records[app.Name]
		ro := app.Rollout
		if !found || ro == nil {
			continue
		}
		if ro.AbortedAt != nil && record.AbortedAt != nil && !ro.AbortedAt.Equal(record.AbortedAt) {
			continue
		}
		// A record already there answers this abort (an earlier pass wrote
		// it): it stays. A revert run again finds its own commit and would
		// overwrite "reverted" with "not reverted".
		if ro.Revert != nil && sameAbort(ro.Revert, ro, app.Revision) {
			continue
		}
		ro.Revert = record.DeepCopy()
	}
	c := conditions{list: &st.Conditions, generation: tenant.Generation, now: now}
	c.setGitWrite(tenant.Spec.RevertOnAbort, gitWrite)
	return *st
}
