package fleet

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/localfleet"
	"github.com/tenantry/tenantry/internal/testutil"
)

const timeout = time.Minute

// member registers a cluster that runs no Kubernetes: its API server is
// a stand-in that answers the hub's probe (readyz) alone, so the hub takes
// it as available. Argo CD's syncs there fail, which placement does not
// look at.
func member(t *testing.T, name string, labels, annotations map[string]string) {
	t.Helper()
	s := localfleet.ClusterSecret(argo.Namespace, name, serverOf(name), `{"tlsClientConfig":{"insecure":true}}`, labels, annotations)
	if err := admin.Create(context.Background(), s); err != nil {
		t.Fatalf("registering cluster %s: %v", name, err)
	}
}

// standIn answers /readyz under any path, each path a cluster's server.
var standIn = sync.OnceValue(func() *httptest.Server {
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/readyz") {
			http.NotFound(w, r)
		}
	}))
})

func serverOf(cluster string) string { return standIn().URL + "/" + cluster }

func plan(t *testing.T, name string, selector *metav1.LabelSelector) {
	t.Helper()
	if err := admin.Create(context.Background(), planOf(name, selector)); err != nil {
		t.Fatalf("creating plan %s: %v", name, err)
	}
}

func tenant(t *testing.T, name, plan string, placement *v1alpha1.Placement) {
	t.Helper()
	tn := &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.TenantSpec{
		Plan: plan, Owners: []v1alpha1.Owner{{Kind: v1alpha1.SubjectGroup, Name: name + "-admins"}}, Placement: placement,
	}}
	if err := admin.Create(context.Background(), tn); err != nil {
		t.Fatalf("creating tenant %s: %v", name, err)
	}
}

func inRegion(region string) *v1alpha1.Placement {
	return &v1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"region": region}}}
}

// placed is where a tenant should be: its cluster ("" for nowhere) and
// its Placed condition's reason.
type placed struct{ cluster, reason string }

// wantPlacements waits until every tenant in want is placed as it says,
// and every member's PlacementDecision lists exactly its tenants.
func wantPlacements(t *testing.T, want map[string]placed) {
	t.Helper()
	testutil.Eventually(t, timeout, func() error {
		onCluster := map[string][]string{}
		for name, w := range want {
			var tn v1alpha1.Tenant
			if err := admin.Get(context.Background(), client.ObjectKey{Name: name}, &tn); err != nil {
				return err
			}
			cond := meta.FindStatusCondition(tn.Status.Conditions, v1alpha1.ConditionPlaced)
			if cond == nil {
				return fmt.Errorf("tenant %s: no Placed condition yet", name)
			}
			cluster := ""
			if p := tn.Status.Placement; p != nil {
				cluster = p.Cluster
			}
			if cluster != w.cluster || cond.Reason != w.reason {
				return fmt.Errorf("tenant %s on %q (%s: %s), want %q (%s)", name, cluster, cond.Reason, cond.Message, w.cluster, w.reason)
			}
			if want := w.cluster != ""; (cond.Status == metav1.ConditionTrue) != want {
				return fmt.Errorf("tenant %s: Placed is %s (%s), want true only when placed", name, cond.Status, cond.Message)
			}
			if w.cluster != "" {
				onCluster[w.cluster] = append(onCluster[w.cluster], name)
			}
		}
		var decisions v1alpha1.PlacementDecisionList
		if err := admin.List(context.Background(), &decisions, client.InNamespace(argo.Namespace)); err != nil {
			return err
		}
		for _, pd := range decisions.Items {
			var got []string
			for _, d := range pd.Status.Decisions {
				if d.ClusterName != pd.Name {
					return fmt.Errorf("PlacementDecision %s lists %s on cluster %s", pd.Name, d.Tenant, d.ClusterName)
				}
				if _, ours := want[d.Tenant]; ours {
					got = append(got, d.Tenant)
				}
			}
			w := onCluster[pd.Name]
			slices.Sort(w)
			if !slices.Equal(got, w) {
				return fmt.Errorf("PlacementDecision %s lists %v, want %v", pd.Name, got, w)
			}
			if int(pd.Status.Tenants) != len(pd.Status.Decisions) {
				return fmt.Errorf("PlacementDecision %s counts %d tenants for %d decisions", pd.Name, pd.Status.Tenants, len(pd.Status.Decisions))
			}
		}
		return nil
	})
}

// TestPlacement places tenants by their plan's and their own selectors and
// by the members' capacity, keeps them where they are when the fleet
// grows, and hands the decisions to Argo CD's ApplicationSet.
func TestPlacement(t *testing.T) {
	testutil.NeedsCluster(t)
	member(t, "eu-1", map[string]string{"region": "eu"}, map[string]string{v1alpha1.AnnotationMaxTenants: "2"})
	member(t, "us-1", map[string]string{"region": "us"}, nil)
	member(t, "dedicated-1", map[string]string{"region": "eu", "tier": "dedicated"}, nil)
	plan(t, "shared", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpDoesNotExist}}})
	plan(t, "enterprise", &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "dedicated"}})

	// Created one after another, so each placement sees the ones before.
	steps := []struct {
		name, plan string
		placement  *v1alpha1.Placement
		want       placed
	}{
		{"a-eu", "shared", inRegion("eu"), placed{"eu-1", "Placed"}},
		{"b-eu", "shared", inRegion("eu"), placed{"eu-1", "Placed"}},
		// eu-1 is full (2 tenants), and the plan keeps shared tenants off dedicated-1.
		{"c-eu", "shared", inRegion("eu"), placed{"", "NoCapacity"}},
		{"d-us", "shared", inRegion("us"), placed{"us-1", "Placed"}},
		{"e-ent", "enterprise", nil, placed{"dedicated-1", "Placed"}},
		{"f-ap", "shared", inRegion("ap"), placed{"", "NoMatchingCluster"}},
		{"g-pin", "shared", &v1alpha1.Placement{Cluster: "us-1", ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"region": "eu"}}}, placed{"us-1", "Pinned"}},
	}
	want := map[string]placed{}
	for _, s := range steps {
		tenant(t, s.name, s.plan, s.placement)
		want[s.name] = s.want
		wantPlacements(t, want)
	}
	t.Logf("placed: %v", want)

	var unplaced v1alpha1.Tenant
	if err := admin.Get(context.Background(), client.ObjectKey{Name: "c-eu"}, &unplaced); err != nil {
		t.Fatal(err)
	}
	msg := meta.FindStatusCondition(unplaced.Status.Conditions, v1alpha1.ConditionPlaced).Message
	if !strings.Contains(msg, "clusters eu-1 match") || !strings.Contains(msg, "raise their capacity, add a member cluster") {
		t.Errorf("c-eu's Placed message %q: want the matching clusters and the fixes", msg)
	}

	// A new member takes the tenant nothing had room for, and moves no
	// placed tenant, though it is emptier than eu-1.
	member(t, "eu-2", map[string]string{"region": "eu"}, nil)
	want["c-eu"] = placed{"eu-2", "Placed"}
	wantPlacements(t, want)

	t.Run("ApplicationSet", func(t *testing.T) { applicationSet(t, want) })
}

// applicationSet checks what the platform repository's ApplicationSet
// (set up with the hub) made of the decisions: exactly one Application
// per placed tenant, to its cluster, and none once the tenant is deleted.
func applicationSet(t *testing.T, placements map[string]placed) {
	wantApps := func(gone string) {
		t.Helper()
		testutil.Eventually(t, timeout, func() error {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(localcluster.ApplicationGVR.GroupVersion().WithKind("ApplicationList"))
			if err := admin.List(context.Background(), list, client.InNamespace(argo.Namespace)); err != nil {
				return err
			}
			got, want := map[string]string{}, map[string]string{}
			for name, p := range placements {
				if p.cluster != "" {
					want["tenant-"+name+"-"+p.cluster] = serverOf(p.cluster)
				}
			}
			for _, app := range list.Items {
				server, _, _ := unstructured.NestedString(app.Object, "spec", "destination", "server")
				if gone != "" && strings.HasPrefix(app.GetName(), "tenant-"+gone+"-") && app.GetDeletionTimestamp() == nil {
					return fmt.Errorf("Application %s of deleted tenant %s is still there", app.GetName(), gone)
				}
				if _, ours := want[app.GetName()]; ours && app.GetDeletionTimestamp() == nil {
					got[app.GetName()] = server
				}
			}
			if !maps.Equal(got, want) {
				return fmt.Errorf("Applications %v, want %v", got, want)
			}
			return nil
		})
	}
	wantApps("")
	t.Logf("Argo CD made one Application per placed tenant, each to its cluster")

	// Deleted by the ApplicationSet, an Application waits on Argo CD's
	// finalizer to remove the tenant from its cluster, which nothing
	// answers for here: being deleted is enough.
	if err := admin.Delete(context.Background(), &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "d-us"}}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	delete(placements, "d-us")
	wantPlacements(t, placements)
	wantApps("d-us")
}
