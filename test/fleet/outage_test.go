package fleet

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

// TestMemberOutage stops a member's API server with a tenant on it. The
// hub reports that tenant's cluster unavailable and moves nothing; a
// tenant committed meanwhile is placed and onboarded on the other member,
// whose tenants keep running; a change to the stranded tenant is committed
// too. When the member answers again, the stranded tenant converges to
// Git there, and runs nowhere else.
func TestMemberOutage(t *testing.T) {
	testutil.NeedsCluster(t)
	ctx := context.Background()
	commitTenant(t, "rc")
	testutil.Eventually(t, 3*timeout, func() error {
		if where := placedOn("rc"); where != "member-a" {
			return fmt.Errorf("the hub placed rc on %q, want member-a, the only member with room", where)
		}
		return appOn("rc", "member-a")
	})

	var down time.Time
	err := members["member-a"].Cluster.APIServerOutage(ctx, func(ctx context.Context) error {
		down = time.Now()
		var reported time.Duration
		testutil.Eventually(t, 2*timeout, func() error {
			var rc v1alpha1.Tenant
			if err := admin.Get(ctx, client.ObjectKey{Name: "rc"}, &rc); err != nil {
				return err
			}
			placed := meta.FindStatusCondition(rc.Status.Conditions, v1alpha1.ConditionPlaced)
			if placed == nil || placed.Reason != "ClusterUnavailable" {
				return fmt.Errorf("rc's Placed condition %+v, want ClusterUnavailable", placed)
			}
			if !strings.Contains(placed.Message, "member-a") || !strings.Contains(placed.Message, "not moved automatically") {
				t.Errorf("Placed message %q names neither the cluster nor what happens to the tenant", placed.Message)
			}
			if rc.Status.Placement == nil || rc.Status.Placement.Cluster != "member-a" {
				t.Errorf("rc's placement %+v while member-a is down, want it kept on member-a", rc.Status.Placement)
			}
			reported = time.Since(down)
			return nil
		})
		list := tenantry("list")
		if list.err != nil || !strings.Contains(list.out, "member-a (ClusterUnavailable)") {
			t.Errorf("tenantry list while member-a is down (%v):\n%s", list.err, list.out)
		}
		testutil.Eventually(t, timeout, func() error {
			status, err := argo.Status(ctx, "tenants")
			if err != nil || status.Health != "Degraded" {
				return fmt.Errorf("the hub's tenants Application (%v): %s while rc's cluster is down, want Degraded", err, status)
			}
			return nil
		})
		t.Logf("member-a down: the hub reported rc's cluster unavailable after %.1fs", reported.Seconds())

		// The hub keeps working for the rest of the fleet.
		commitTenant(t, "rd")
		testutil.Eventually(t, 3*timeout, func() error { return appOn("rd", "member-b") })
		for _, tenant := range []string{"ra", "rb"} {
			if err := appOn(tenant, "member-b"); err != nil {
				t.Errorf("while member-a is down: %v", err)
			}
		}
		// A change made in Git while the member is down waits for it.
		setQuota(t, "rc", corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")})
		notElsewhere(t, "rc", "member-b")
		t.Logf("member-a down: rd placed and onboarded on member-b %.1fs after the outage began, ra and rb unaffected, rc not re-placed",
			time.Since(down).Seconds())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	back := time.Now()

	testutil.Eventually(t, 3*timeout, func() error {
		var rc v1alpha1.Tenant
		if err := admin.Get(ctx, client.ObjectKey{Name: "rc"}, &rc); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(rc.Status.Conditions, v1alpha1.ConditionPlaced) || rc.Status.Placement.Cluster != "member-a" {
			return fmt.Errorf("rc on the hub: placement %+v, conditions %+v", rc.Status.Placement, rc.Status.Conditions)
		}
		if err := appOn("rc", "member-a"); err != nil {
			return err
		}
		var quota corev1.ResourceQuota
		if err := members["member-a"].Admin.Get(ctx, client.ObjectKey{Namespace: "rc", Name: render.QuotaName}, &quota); err != nil {
			return err
		}
		if pods := quota.Spec.Hard[corev1.ResourcePods]; pods.Cmp(resource.MustParse("5")) != 0 {
			return fmt.Errorf("rc's quota on member-a allows %s pods, want the 5 committed while it was down", pods.String())
		}
		return nil
	})
	notElsewhere(t, "rc", "member-b")
	t.Logf("member-a back: rc converged to Git there %.1fs after its API server was ready again (outage %.1fs), and runs nowhere else",
		time.Since(back).Seconds(), back.Sub(down).Seconds())
}

// placedOn is the member the hub placed the tenant on, "" if none.
func placedOn(tenant string) string {
	var tn v1alpha1.Tenant
	if err := admin.Get(context.Background(), client.ObjectKey{Name: tenant}, &tn); err != nil || tn.Status.Placement == nil {
		return ""
	}
	return tn.Status.Placement.Cluster
}

// setQuota commits a quota override for the tenant and pushes it.
func setQuota(t *testing.T, tenant string, quota corev1.ResourceList) {
	t.Helper()
	repo, err := gitops.Open(gitopsDir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := repo.ReadTenant(tenant)
	if err != nil {
		t.Fatal(err)
	}
	var tn v1alpha1.Tenant
	if err := yaml.Unmarshal(data, &tn); err != nil {
		t.Fatal(err)
	}
	tn.Spec.Quota = quota
	if data, err = yaml.Marshal(tn); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CommitTenant(tenant, data, "Lower "+tenant+"'s pod quota"); err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(context.Background(), "origin"); err != nil {
		t.Fatal(err)
	}
}

// notElsewhere fails the test if the tenant has a namespace on the member,
// or the hub an Application carrying it or its apps there: a tenant runs
// on one cluster.
func notElsewhere(t *testing.T, tenant, member string) {
	t.Helper()
	var ns corev1.Namespace
	if err := members[member].Admin.Get(context.Background(), client.ObjectKey{Name: tenant}, &ns); !apierrors.IsNotFound(err) {
		t.Errorf("tenant %s has a namespace on %s (%v): it must run on one cluster", tenant, member, err)
	}
	apps := &unstructured.UnstructuredList{}
	apps.SetGroupVersionKind(localcluster.ApplicationGVR.GroupVersion().WithKind("ApplicationList"))
	if err := admin.List(context.Background(), apps, client.InNamespace(argo.Namespace),
		client.MatchingLabels{v1alpha1.LabelTenant: tenant, v1alpha1.LabelMember: member}); err != nil {
		t.Fatal(err)
	}
	for _, app := range apps.Items {
		t.Errorf("the hub has Application %s for tenant %s on %s: it must run on one cluster", app.GetName(), tenant, member)
	}
}
