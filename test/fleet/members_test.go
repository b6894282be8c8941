package fleet

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestMembersOnboard commits two tenants to the platform repository: Argo
// CD brings them to the hub, the hub places them by selector and capacity
// (member-a takes one tenant, so they land on different members, in the
// order Argo CD creates them), the ApplicationSet syncs each to its
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

	want := placedOnMembers(t, "ra", "rb")
	for tenant, cluster := range want {
		testutil.Eventually(t, 3*timeout, func() error {
			var tn v1alpha1.Tenant
			if err := members[cluster].admin.Get(context.Background(), client.ObjectKey{Name: tenant}, &tn); err != nil {
				return fmt.Errorf("tenant %s on %s: %w; %s", tenant, cluster, err, carrier(tenant, cluster))
			}
			if tn.Status.Phase != v1alpha1.PhaseReady {
				return fmt.Errorf("tenant %s on %s is %q; %s", tenant, cluster, tn.Status.Phase, carrier(tenant, cluster))
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

	mover := "ra"
	if want["rb"] == "member-a" {
		mover = "rb"
	}
	t.Run("move", func(t *testing.T) { move(t, repo, mover) })
}

// placedOnMembers waits until the hub has placed each tenant on a real
// member, one per member, and returns where.
func placedOnMembers(t *testing.T, tenants ...string) map[string]string {
	t.Helper()
	where := map[string]string{}
	testutil.Eventually(t, 2*timeout, func() error {
		clusters := map[string]bool{}
		for _, name := range tenants {
			var tn v1alpha1.Tenant
			if err := admin.Get(context.Background(), client.ObjectKey{Name: name}, &tn); err != nil {
				return fmt.Errorf("the hub's tenant %s: %w", name, err)
			}
			if tn.Status.Placement == nil || members[tn.Status.Placement.Cluster] == nil {
				return fmt.Errorf("the hub's tenant %s placed %+v, want on a real member", name, tn.Status.Placement)
			}
			where[name] = tn.Status.Placement.Cluster
			clusters[where[name]] = true
		}
		if len(clusters) != len(tenants) {
			return fmt.Errorf("placed %v, want one tenant per member: member-a takes one", where)
		}
		return nil
	})
	return where
}

// move pins the tenant on member-a to member-b by a commit, as tenantry
// move will: it must be Ready on member-b before it leaves member-a, and
// then leave it.
func move(t *testing.T, repo *gitops.Repo, mover string) {
	data, err := repo.ReadTenant(mover)
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
	if _, err := repo.CommitTenant(mover, data, "Move "+mover+" to member-b"); err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(context.Background(), "origin"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var readyOnB time.Duration
	testutil.Eventually(t, 3*timeout, func() error {
		var onB v1alpha1.Tenant
		err := members["member-b"].admin.Get(context.Background(), client.ObjectKey{Name: mover}, &onB)
		ready := err == nil && onB.Status.Phase == v1alpha1.PhaseReady
		var ns corev1.Namespace
		err = members["member-a"].admin.Get(context.Background(), client.ObjectKey{Name: mover}, &ns)
		onA := !apierrors.IsNotFound(err)
		switch {
		case !onA && readyOnB == 0:
			t.Fatalf("%s left member-a %.1fs after the push, before it was Ready on member-b", mover, time.Since(start).Seconds())
		case ready && readyOnB == 0:
			readyOnB = time.Since(start)
		}
		if readyOnB == 0 || onA {
			return fmt.Errorf("%s Ready on member-b: %v; still on member-a: %v", mover, ready, onA)
		}
		return nil
	})
	var placed v1alpha1.Tenant
	if err := admin.Get(context.Background(), client.ObjectKey{Name: mover}, &placed); err != nil {
		t.Fatal(err)
	}
	cond := meta.FindStatusCondition(placed.Status.Conditions, v1alpha1.ConditionPlaced)
	if p := placed.Status.Placement; p == nil || p.Cluster != "member-b" || p.MovingTo != "" || cond == nil || cond.Reason != "Moved" {
		t.Errorf("the hub's %s: placement %+v, Placed %+v; want on member-b, Moved", mover, placed.Status.Placement, cond)
	}
	history, err := repo.History(mover)
	if err != nil || len(history) < 2 {
		t.Fatalf("%s's history %v (%v): want the onboarding and the move", mover, history, err)
	}
	t.Logf("%s moved: Ready on member-b %.1fs after the push, gone from member-a %.1fs after it; Git has %d commits for it, the last %q",
		mover, readyOnB.Seconds(), time.Since(start).Seconds(), len(history), history[0].Subject)
}

// carrier says where the hub placed a tenant and what Argo CD reports of
// the Application that carries it to cluster: what to read when the
// tenant does not arrive.
func carrier(tenant, cluster string) string {
	var hubTenant v1alpha1.Tenant
	placedAs := "not on the hub"
	if err := admin.Get(context.Background(), client.ObjectKey{Name: tenant}, &hubTenant); err == nil {
		placedAs = fmt.Sprintf("placement %+v, conditions %+v", hubTenant.Status.Placement, hubTenant.Status.Conditions)
	}
	app := &unstructured.Unstructured{}
	app.SetGroupVersionKind(localcluster.ApplicationGVR.GroupVersion().WithKind("Application"))
	name := "tenant-" + tenant + "-" + cluster
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: argo.Namespace, Name: name}, app); err != nil {
		return fmt.Sprintf("the hub's %s: %s; Application %s: %v", tenant, placedAs, name, err)
	}
	status, _, _ := unstructured.NestedMap(app.Object, "status")
	delete(status, "resources")
	return fmt.Sprintf("the hub's %s: %s; Application %s status: %v", tenant, placedAs, name, status)
}
