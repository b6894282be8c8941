package fleet

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
}
