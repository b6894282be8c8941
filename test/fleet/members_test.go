package fleet

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/testutil"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestMembersOnboard commits two tenants to the platform repository: Argo
// CD brings them to the hub, the hub places them by selector and capacity
// (member-a takes one tenant), the ApplicationSet syncs each to its
// cluster, and that member's operator onboards it there, and only there.
func TestMembersOnboard(t *testing.T) {
	testutil.NeedsCluster(t)
	repo, err := gitops.Open(platformDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ra", "rb"} {
		tn := v1alpha1.Tenant{
			TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Tenant"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.TenantSpec{Plan: "fleet", Owners: []v1alpha1.Owner{{Kind: v1alpha1.SubjectGroup, Name: name + "-admins"}},
				Placement: &v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"fleet": "real"}}}},
		}
		data, err := yaml.Marshal(tn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := repo.CommitTenant(name, data, "Onboard "+name); err != nil {
			t.Fatal(err)
		}
	}
	if err := repo.Push(context.Background(), "origin"); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{"ra": "member-a", "rb": "member-b"}
	for tenant, cluster := range want {
		testutil.Eventually(t, 3*timeout, func() error {
			var tn v1alpha1.Tenant
			if err := members[cluster].admin.Get(context.Background(), client.ObjectKey{Name: tenant}, &tn); err != nil {
				return fmt.Errorf("tenant %s on %s: %w", tenant, cluster, err)
			}
			if tn.Status.Phase != v1alpha1.PhaseReady {
				return fmt.Errorf("tenant %s on %s is %q", tenant, cluster, tn.Status.Phase)
			}
			var ns corev1.Namespace
			return members[cluster].admin.Get(context.Background(), client.ObjectKey{Name: tenant}, &ns)
		})
		for other, m := range members {
			if other == cluster {
				continue
			}
			var ns corev1.Namespace
			if err := m.admin.Get(context.Background(), client.ObjectKey{Name: tenant}, &ns); !apierrors.IsNotFound(err) {
				t.Errorf("tenant %s has namespace %s on %s too (%v): want it on %s only", tenant, tenant, other, err, cluster)
			}
		}
		var placed v1alpha1.Tenant
		if err := admin.Get(context.Background(), client.ObjectKey{Name: tenant}, &placed); err != nil {
			t.Fatal(err)
		}
		if placed.Status.Placement == nil || placed.Status.Placement.Cluster != cluster {
			t.Errorf("the hub's tenant %s placed %+v, want on %s", tenant, placed.Status.Placement, cluster)
		}
		t.Logf("tenant %s: committed to Git, placed by the hub on %s, synced by Argo CD and Ready there, absent elsewhere", tenant, cluster)
	}

	t.Run("move", func(t *testing.T) { move(t, repo) })
}

// move pins ra, on member-a, to member-b by a commit, as tenantry move
// will: ra must be Ready on member-b before it leaves member-a, and then
// leave it.
func move(t *testing.T, repo *gitops.Repo) {
	data, err := repo.ReadTenant("ra")
	if err != nil {
		t.Fatal(err)
	}
	var tn v1alpha1.Tenant
	if err := yaml.Unmarshal(data, &tn); err != nil {
		t.Fatal(err)
	}
	tn.Spec.Placement.Cluster = "member-b"
	if data, err = yaml.Marshal(tn); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CommitTenant("ra", data, "Move ra to member-b"); err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(context.Background(), "origin"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var readyOnB time.Duration
	testutil.Eventually(t, 3*timeout, func() error {
		var onB v1alpha1.Tenant
		err := members["member-b"].admin.Get(context.Background(), client.ObjectKey{Name: "ra"}, &onB)
		ready := err == nil && onB.Status.Phase == v1alpha1.PhaseReady
		var ns corev1.Namespace
		err = members["member-a"].admin.Get(context.Background(), client.ObjectKey{Name: "ra"}, &ns)
		onA := !apierrors.IsNotFound(err)
		switch {
		case !onA && readyOnB == 0:
			t.Fatalf("ra left member-a %.1fs after the push, before it was Ready on member-b", time.Since(start).Seconds())
		case ready && readyOnB == 0:
			readyOnB = time.Since(start)
		}
		if readyOnB == 0 || onA {
			return fmt.Errorf("ra Ready on member-b: %v; still on member-a: %v", ready, onA)
		}
		return nil
	})
	var placed v1alpha1.Tenant
	if err := admin.Get(context.Background(), client.ObjectKey{Name: "ra"}, &placed); err != nil {
		t.Fatal(err)
	}
	cond := meta.FindStatusCondition(placed.Status.Conditions, v1alpha1.ConditionPlaced)
	if p := placed.Status.Placement; p == nil || p.Cluster != "member-b" || p.MovingTo != "" || cond == nil || cond.Reason != "Moved" {
		t.Errorf("the hub's ra: placement %+v, Placed %+v; want on member-b, Moved", placed.Status.Placement, cond)
	}
	history, err := repo.History("ra")
	if err != nil || len(history) < 2 {
		t.Fatalf("ra's history %v (%v): want the onboarding and the move", history, err)
	}
	t.Logf("ra moved: Ready on member-b %.1fs after the push, gone from member-a %.1fs after it; Git has %d commits for it, the last %q",
		readyOnB.Seconds(), time.Since(start).Seconds(), len(history), history[0].Subject)
}
