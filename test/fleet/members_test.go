package fleet

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/cli"
	"github.com/tenantry/tenantry/internal/gitops"
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
	repo, err := gitops.Open(gitopsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ra", "rb"} {
		commit(t, repo, name)
	}
	if err := repo.Push(context.Background(), "origin"); err != nil {
		t.Fatal(err)
	}

	want := placedOnMembers(t, "ra", "rb")
	for tenant, cluster := range want {
		testutil.Eventually(t, 3*timeout, func() error { return appOn(tenant, cluster) })
		for other, m := range members {
			if other == cluster {
				continue
			}
			var ns corev1.Namespace
			if err := m.Admin.Get(context.Background(), client.ObjectKey{Name: tenant}, &ns); !apierrors.IsNotFound(err) {
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
		t.Logf("tenant %s: committed to Git, placed by the hub on %s, synced by Argo CD and Ready there with its app, absent elsewhere", tenant, cluster)
	}
	// The hub's own Tenants are judged by their placement.
	testutil.Eventually(t, timeout, func() error {
		if err := appSynced("tenants"); err != nil {
			return fmt.Errorf("%w; want it synced and healthy once every tenant is placed", err)
		}
		return nil
	})
	list := tenantry("list")
	if list.err != nil {
		t.Fatalf("tenantry list: %v\n%s", list.err, list.out)
	}
	for tenant, cluster := range want {
		if !slices.ContainsFunc(strings.Split(list.out, "\n"), func(row string) bool {
			fields := strings.Fields(row)
			return len(fields) > 2 && fields[0] == tenant && fields[2] == cluster
		}) {
			t.Errorf("tenantry list on the hub shows no row %s ... %s:\n%s", tenant, cluster, list.out)
		}
	}

	mover := "ra"
	if want["rb"] == "member-a" {
		mover = "rb"
	}
	t.Run("move", func(t *testing.T) { move(t, repo, mover) })
}

// commit writes a tenant that selects the real members, with an app, to
// the platform repository.
func commit(t *testing.T, repo *gitops.Repo, name string) {
	t.Helper()
	tn := v1alpha1.Tenant{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Tenant"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.TenantSpec{Plan: "fleet", Owners: []v1alpha1.Owner{{Kind: v1alpha1.SubjectGroup, Name: name + "-admins"}},
			Placement: &v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"fleet": "real"}}},
			Apps:      []v1alpha1.App{{Name: "web", RepoURL: gitURL + "/apps.git", Path: "web"}}},
	}
	data, err := yaml.Marshal(tn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CommitTenant(name, data, "Onboard "+name); err != nil {
		t.Fatal(err)
	}
}

// commitTenant commits a tenant as commit does, and pushes it.
func commitTenant(t *testing.T, name string) {
	t.Helper()
	repo, err := gitops.Open(gitopsDir)
	if err != nil {
		t.Fatal(err)
	}
	commit(t, repo, name)
	if err := repo.Push(context.Background(), "origin"); err != nil {
		t.Fatal(err)
	}
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

// move moves the tenant on member-a to member-b with tenantry move, a
// commit: it must be Ready on member-b with its app synced there before it
// leaves member-a, and then leave it; Git records the move.
func move(t *testing.T, repo *gitops.Repo, mover string) {
	start := time.Now()
	moved := make(chan cliResult, 1)
	go func() {
		moved <- tenantry("move", mover, "--to", "member-b", "--gitops", gitopsDir, "--push",
			"--reason", "member-a is reserved for a dedicated tenant", "--wait", "--timeout", (3 * timeout).String())
	}()
	var arrived time.Duration
	testutil.Eventually(t, 3*timeout, func() error {
		onB := appOn(mover, "member-b")
		left := leaving(mover, "member-a")
		switch {
		case left != nil && arrived == 0:
			t.Fatalf("%s started leaving member-a %.1fs after tenantry move (%v), before it ran with its app on member-b (%v)",
				mover, time.Since(start).Seconds(), left, onB)
		case onB == nil && arrived == 0:
			arrived = time.Since(start)
		}
		if arrived == 0 {
			return onB
		}
		var ns corev1.Namespace
		if err := members["member-a"].Admin.Get(context.Background(), client.ObjectKey{Name: mover}, &ns); !apierrors.IsNotFound(err) {
			return fmt.Errorf("%s's namespace still on member-a: %v", mover, err)
		}
		return nil
	})
	r := <-moved
	if r.err != nil {
		t.Fatalf("tenantry move: %v\n%s", r.err, r.out)
	}
	for _, want := range []string{"committed", "Move tenant " + mover + " to cluster member-b", "pushed to origin", "tenant " + mover + ": on member-b after"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("tenantry move printed no %q:\n%s", want, r.out)
		}
	}
	var placed v1alpha1.Tenant
	if err := admin.Get(context.Background(), client.ObjectKey{Name: mover}, &placed); err != nil {
		t.Fatal(err)
	}
	cond := meta.FindStatusCondition(placed.Status.Conditions, v1alpha1.ConditionPlaced)
	if p := placed.Status.Placement; p == nil || p.Cluster != "member-b" || p.MovingTo != "" || cond == nil || cond.Reason != "Moved" {
		t.Errorf("the hub's %s: placement %+v, Placed %+v; want on member-b, Moved", mover, placed.Status.Placement, cond)
	}
	history, err := repo.History(mover)
	if err != nil || len(history) < 2 || !strings.Contains(history[0].Subject, "to cluster member-b") {
		t.Fatalf("%s's history %v (%v): want the onboarding and the move, the move last", mover, history, err)
	}
	audit := tenantry("audit", mover, "--gitops", gitopsDir)
	for _, want := range []string{"Move tenant " + mover + " to cluster member-b", "Reason: member-a is reserved for a dedicated tenant", "spec.placement.cluster", "Onboard " + mover} {
		if audit.err != nil || !strings.Contains(audit.out, want) {
			t.Errorf("tenantry audit %s (%v) shows no %q:\n%s", mover, audit.err, want, audit.out)
		}
	}
	t.Logf("%s moved: Ready with its app on member-b %.1fs after tenantry move, gone from member-a %.1fs after it; Git has %d commits for it, the last %q",
		mover, arrived.Seconds(), time.Since(start).Seconds(), len(history), history[0].Subject)
}

// appOn says why the tenant does not run on cluster, Ready with its web
// app synced by the hub's Argo CD and healthy; nil when it does.
func appOn(tenant, cluster string) error {
	ctx := context.Background()
	var tn v1alpha1.Tenant
	if err := members[cluster].Admin.Get(ctx, client.ObjectKey{Name: tenant}, &tn); err != nil {
		return fmt.Errorf("tenant %s on %s: %w; %s", tenant, cluster, err, carrier(tenant, cluster))
	}
	if tn.Status.Phase != v1alpha1.PhaseReady {
		return fmt.Errorf("tenant %s on %s is %q; %s", tenant, cluster, tn.Status.Phase, carrier(tenant, cluster))
	}
	var web corev1.ConfigMap
	if err := members[cluster].Admin.Get(ctx, client.ObjectKey{Namespace: tenant, Name: "web"}, &web); err != nil {
		return fmt.Errorf("tenant %s's app on %s: %w; %v", tenant, cluster, err, appSynced(tenant+"-web-"+cluster))
	}
	if err := appSynced(tenant + "-web-" + cluster); err != nil {
		return fmt.Errorf("tenant %s's app on %s is there, but: %w", tenant, cluster, err)
	}
	return nil
}

// leaving says how the tenant has started to leave cluster (its app or
// its namespace going), nil while it runs there whole.
func leaving(tenant, cluster string) error {
	ctx := context.Background()
	var ns corev1.Namespace
	if err := members[cluster].Admin.Get(ctx, client.ObjectKey{Name: tenant}, &ns); err != nil || ns.DeletionTimestamp != nil {
		return fmt.Errorf("namespace %s: %v, deleted at %v", tenant, err, ns.DeletionTimestamp)
	}
	var web corev1.ConfigMap
	if err := members[cluster].Admin.Get(ctx, client.ObjectKey{Namespace: tenant, Name: "web"}, &web); err != nil || web.DeletionTimestamp != nil {
		return fmt.Errorf("app web: %v, deleted at %v", err, web.DeletionTimestamp)
	}
	return nil
}

// appSynced says why an Application on the hub is not synced and
// healthy; nil when it is.
func appSynced(name string) error {
	status, err := argo.Status(context.Background(), name)
	if err != nil {
		return err
	}
	if status.Sync != "Synced" || status.Health != "Healthy" {
		return fmt.Errorf("Application %s: %s", name, status)
	}
	return nil
}

// cliResult is what one run of the tenantry CLI printed and returned.
type cliResult struct {
	out string
	err error
}

// tenantry runs the CLI against the hub, as its admin.
func tenantry(args ...string) cliResult {
	var out bytes.Buffer
	root := cli.NewRoot("tenantry", &out, &out)
	root.SetArgs(append([]string{"--kubeconfig", hub.KubeconfigPath}, args...))
	err := root.ExecuteContext(context.Background())
	return cliResult{out: out.String(), err: err}
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
	name := "tenant-" + tenant + "-" + cluster
	status, err := argo.Status(context.Background(), name)
	if err != nil {
		return fmt.Sprintf("the hub's %s: %s; %v", tenant, placedAs, err)
	}
	return fmt.Sprintf("the hub's %s: %s; Application %s: %s", tenant, placedAs, name, status)
}
