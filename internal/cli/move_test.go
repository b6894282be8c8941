package cli

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

func TestMoveProgress(t *testing.T) {
	placed := func(generation int64, reason, message string, p *v1alpha1.PlacementStatus) *v1alpha1.Tenant {
		tn := &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "acme", Generation: 2}}
		tn.Status.Placement = p
		tn.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionPlaced, Status: metav1.ConditionTrue,
			Reason: reason, Message: message, ObservedGeneration: generation}}
		return tn
	}
	tests := []struct {
		name   string
		tenant *v1alpha1.Tenant
		done   bool
		want   string
	}{
		{"hub has not seen the pin", placed(1, "Kept", "", &v1alpha1.PlacementStatus{Cluster: "eu-1"}), false, "waiting for the hub"},
		{"no hub at all", &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Generation: 1}}, false, "--fleet-hub"},
		{"moving", placed(2, "Moving", "", &v1alpha1.PlacementStatus{Cluster: "eu-1", MovingTo: "eu-2"}), false,
			"moving from eu-1 to eu-2: onboarding there, then its apps; it leaves eu-1 once all are healthy"},
		{"moved", placed(2, "Moved", "", &v1alpha1.PlacementStatus{Cluster: "eu-2"}), true, "on eu-2"},
		{"pinned to a cluster that is no member", placed(2, "ClusterNotFound", "no member eu-2", &v1alpha1.PlacementStatus{Cluster: "eu-1"}), false,
			"on eu-1 (ClusterNotFound: no member eu-2)"},
		{"not placed", placed(2, "NoCapacity", "every member is full", nil), false, "not placed (NoCapacity: every member is full)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done, state := moveProgress(tt.tenant, "eu-2")
			if done != tt.done {
				t.Errorf("done = %v, want %v (%s)", done, tt.done, state)
			}
			wantContains(t, "state", state, tt.want)
		})
	}
}

// On a fleet's hub, --wait for anything but a move or a deletion ends once
// the hub has the change: the tenant's state is on its member.
func TestWaitOnHub(t *testing.T) {
	tn := &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "acme", Generation: 3}}
	tn.Status.Placement = &v1alpha1.PlacementStatus{Cluster: "eu-1"}
	tn.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionPlaced, Status: metav1.ConditionTrue, Reason: "Kept", ObservedGeneration: 3}}
	for _, g := range []goal{goalReady, goalSuspended, goalAppsSynced} {
		done, state := progress(tn, change{goal: g})
		if !done {
			t.Errorf("goal %d: not done (%s): --wait would never end on a hub", g, state)
		}
		wantContains(t, "state", state, "placed by the fleet's hub on eu-1", "on that member")
	}
	if done, state := progress(tn, change{goal: goalGone}); done {
		t.Errorf("delete: done while the Tenant is still there (%s)", state)
	}
}
