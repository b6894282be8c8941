package gitops

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/cli"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

// wait bounds every wait: Argo CD compares and syncs within seconds here,
// the margin is for a busy 2-core machine.
const wait = 2 * time.Minute

// TestGitOpsLifecycle follows two tenants through Git: onboarding, their
// apps' confinement, self-healing, offboarding and the audit trail. Each
// step builds on the one before, so they are subtests of one test.
func TestGitOpsLifecycle(t *testing.T) {
	testutil.NeedsCluster(t)
	steps := []struct {
		name string
		run  func(*testing.T)
	}{
		{"1 onboarding: commit to running app", testOnboarding},
		{"2 AppProject confines the tenant's apps", testConfinement},
		{"3 Argo CD self-heals workloads and Tenants", testSelfHeal},
		{"4 offboarding: delete the file", testOffboarding},
		{"5 every step is a commit in the audit trail", testAudit},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			t.Fatalf("step %q failed; the later steps build on it", step.name)
		}
	}
	summary.Write(t)
}

// summary collects the figures `make test` prints (docs/benchmarks.md).
var summary = testutil.Summary{Title: "GitOps with Argo CD (test/gitops)", Env: "TENANTRY_GITOPS_SUMMARY"}

func measure(t *testing.T, what string, d time.Duration) {
	t.Helper()
	summary.Measure(t, what, d)
}

func testOnboarding(t *testing.T) {
	start := time.Now()
	for _, tenant := range []string{"acme", "globex"} {
		tenantry(t, "create", tenant, "--plan", "pro", "--env", "prod",
			"--owner", "group:"+tenant+"-admins=admin", "--owner", "group:"+tenant+"-devs=developer",
			"--reason", "signed the contract", "--push")
		tenantry(t, "add-app", tenant, "web", "--repo", gitURL+"/"+tenant+"-web.git", "--path", "deploy", "--env", "prod",
			"--reason", "first release", "--push")
	}
	pushed := time.Now()
	refresh(t, "tenants")

	for _, name := range []string{"acme", "globex"} {
		testutil.Eventually(t, wait, func() error {
			tenant := getTenant(t, name)
			if tenant == nil || !meta.IsStatusConditionTrue(tenant.Status.Conditions, v1alpha1.ConditionReady) {
				return fmt.Errorf("tenant %s not Ready yet: %+v", name, tenantState(tenant))
			}
			return nil
		})
		if name == "acme" {
			measure(t, "commit pushed -> tenant Ready", time.Since(pushed))
		}
		testutil.Eventually(t, wait, func() error { return appsSynced(t, name, 1) })
		if name == "acme" {
			measure(t, "commit pushed -> app Synced and Healthy", time.Since(pushed))
		}
		testutil.Eventually(t, wait, func() error { return deploymentAvailable(t, name+"-prod", "hello", 2) })
	}
	measure(t, "two tenants: first CLI commit -> both apps available", time.Since(start))

	// The operator's AppProject, as Argo CD reads it.
	project := getArgo(t, render.AppProjectGVK, "tenant-acme")
	if project == nil {
		t.Fatal("no AppProject tenant-acme")
	}
	dests, _, _ := unstructured.NestedSlice(project.Object, "spec", "destinations")
	if len(dests) != 1 || dests[0].(map[string]any)["namespace"] != "acme-prod" {
		t.Errorf("AppProject tenant-acme destinations %v, want acme-prod only", dests)
	}
}

func testConfinement(t *testing.T) {
	// Each escape attempt is an app of acme's, from its own repository.
	attempts := []struct {
		app       string
		fragments []string
		created   client.Object
	}{
		{"escape-other-tenant", []string{"globex-prod", "not permitted"},
			&corev1.ConfigMap{ObjectMeta: objectMeta("globex-prod", "planted")}},
		{"escape-cluster-scoped", []string{"ClusterRole", "not permitted"},
			&rbacv1.ClusterRole{ObjectMeta: objectMeta("", "acme-everything")}},
		{"escape-quota", []string{"ResourceQuota", "not permitted"},
			&corev1.ResourceQuota{ObjectMeta: objectMeta("acme-prod", "more")}},
		// Synced as acme's deployer ServiceAccount (impersonation), the
		// binding meets the API server's RBAC as acme's own admins would:
		// Argo CD's own rights do not leak to the tenant.
		{"escape-escalation", []string{`user "system:serviceaccount:acme-prod:tenantry-deployer"`, "attempting to grant RBAC permissions not currently held"},
			&rbacv1.RoleBinding{ObjectMeta: objectMeta("acme-prod", "acme-admins-cluster-admin")}},
	}
	for _, a := range attempts {
		tenantry(t, "add-app", "acme", a.app, "--repo", gitURL+"/acme-web.git",
			"--path", "escape/"+strings.TrimPrefix(a.app, "escape-"), "--env", "prod", "--reason", "try to escape", "--push")
	}
	refresh(t, "tenants")
	for _, a := range attempts {
		t.Run(a.app, func(t *testing.T) {
			var message string
			testutil.Eventually(t, wait, func() error {
				message = appMessage(t, "acme", a.app)
				for _, f := range a.fragments {
					if !strings.Contains(message, f) {
						return fmt.Errorf("app %s: status message %q lacks %q", a.app, message, f)
					}
				}
				return nil
			})
			t.Logf("refused: %s", message)
			err := admin.Get(t.Context(), client.ObjectKeyFromObject(a.created), a.created)
			if !apierrors.IsNotFound(err) {
				t.Errorf("%T %s exists (err %v): the sync was refused, yet it was created", a.created, a.created.GetName(), err)
			}
		})
	}
	assertEvent(t, "acme", "AppSyncFailed")

	t.Run("an Application aimed outside the tenant by hand", func(t *testing.T) {
		sneaky := &unstructured.Unstructured{Object: map[string]any{
			"spec": map[string]any{
				"project":     "tenant-acme",
				"source":      map[string]any{"repoURL": gitURL + "/acme-web.git", "path": "deploy", "targetRevision": "HEAD"},
				"destination": map[string]any{"server": render.InClusterServer, "namespace": "kube-system"},
				"syncPolicy":  map[string]any{"automated": map[string]any{}},
			},
		}}
		sneaky.SetGroupVersionKind(render.ApplicationGVK)
		sneaky.SetNamespace(argo.Namespace)
		sneaky.SetName("acme-sneaky")
		if err := admin.Create(t.Context(), sneaky); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = admin.Delete(context.Background(), sneaky) }()
		testutil.Eventually(t, wait, func() error {
			st, err := argo.Status(t.Context(), "acme-sneaky")
			if err != nil {
				return err
			}
			if !strings.Contains(st.String(), "do not match any of the allowed destinations in project 'tenant-acme'") {
				return fmt.Errorf("acme-sneaky: %s", st)
			}
			t.Logf("refused: %s", st)
			return nil
		})
		err := admin.Get(t.Context(), client.ObjectKey{Namespace: "kube-system", Name: "hello"}, &appsv1.Deployment{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("Deployment kube-system/hello: %v, want NotFound", err)
		}
	})

	// Removing the apps from Git removes their Applications.
	for _, a := range attempts {
		tenantry(t, "remove-app", "acme", a.app, "--reason", "escape attempts done", "--push")
	}
	refresh(t, "tenants")
	testutil.Eventually(t, wait, func() error {
		for _, a := range attempts {
			if getArgo(t, render.ApplicationGVK, "acme-"+a.app) != nil {
				return fmt.Errorf("Application acme-%s still exists", a.app)
			}
		}
		return appsSynced(t, "acme", 1)
	})
}

func testSelfHeal(t *testing.T) {
	t.Run("a deleted Deployment comes back", func(t *testing.T) {
		d := &appsv1.Deployment{}
		key := client.ObjectKey{Namespace: "acme-prod", Name: "hello"}
		if err := admin.Get(t.Context(), key, d); err != nil {
			t.Fatal(err)
		}
		deleted := time.Now()
		if err := admin.Delete(t.Context(), d); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, wait, func() error {
			restored := &appsv1.Deployment{}
			if err := admin.Get(t.Context(), key, restored); err != nil {
				return err
			}
			if restored.UID == d.UID {
				return fmt.Errorf("still the deleted Deployment")
			}
			return nil
		})
		measure(t, "Deployment deleted by hand -> restored by Argo CD", time.Since(deleted))
		testutil.Eventually(t, wait, func() error { return deploymentAvailable(t, "acme-prod", "hello", 2) })
	})

	t.Run("a Tenant changed by hand goes back to Git", func(t *testing.T) {
		intruder := `{"spec":{"owners":[{"kind":"User","name":"mallory@example.com","role":"admin"}]}}`
		changed := time.Now()
		if err := admin.Patch(t.Context(), &v1alpha1.Tenant{ObjectMeta: objectMeta("", "acme")},
			client.RawPatch(types.MergePatchType, []byte(intruder))); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, wait, func() error {
			tenant := getTenant(t, "acme")
			if tenant == nil || len(tenant.Spec.Owners) != 2 || tenant.Spec.Owners[0].Name != "acme-admins" {
				return fmt.Errorf("acme owners not reverted: %+v", tenantOwners(tenant))
			}
			return nil
		})
		measure(t, "Tenant changed by hand -> reverted to Git", time.Since(changed))
		// And the operator followed: mallory holds nothing.
		testutil.Eventually(t, wait, func() error {
			rb := &rbacv1.RoleBinding{}
			if err := admin.Get(t.Context(), client.ObjectKey{Namespace: "acme-prod", Name: "tenantry:tenant-admin"}, rb); err != nil {
				return err
			}
			for _, s := range rb.Subjects {
				if s.Name == "mallory@example.com" {
					return fmt.Errorf("mallory still bound in acme-prod")
				}
			}
			return nil
		})
	})
}

func testOffboarding(t *testing.T) {
	tenantry(t, "delete", "acme", "--reason", "contract ended", "--push")
	pushed := time.Now()
	refresh(t, "tenants")
	testutil.Eventually(t, wait, func() error {
		if tenant := getTenant(t, "acme"); tenant != nil {
			return fmt.Errorf("tenant acme still there: %+v", tenantState(tenant))
		}
		return nil
	})
	measure(t, "file deleted and pushed -> tenant offboarded", time.Since(pushed))
	for _, gone := range []struct {
		what string
		obj  client.Object
	}{
		{"namespace", &corev1.Namespace{ObjectMeta: objectMeta("", "acme-prod")}},
		{"Application", argoObject(render.ApplicationGVK, "acme-web")},
		{"AppProject", argoObject(render.AppProjectGVK, "tenant-acme")},
	} {
		err := admin.Get(t.Context(), client.ObjectKeyFromObject(gone.obj), gone.obj)
		if !apierrors.IsNotFound(err) {
			t.Errorf("%s %s: %v, want it gone", gone.what, gone.obj.GetName(), err)
		}
	}
	// Nothing of globex's was touched.
	if err := appsSynced(t, "globex", 1); err != nil {
		t.Error(err)
	}
	if err := deploymentAvailable(t, "globex-prod", "hello", 2); err != nil {
		t.Error(err)
	}
	if getArgo(t, render.AppProjectGVK, "tenant-globex") == nil {
		t.Error("AppProject tenant-globex is gone")
	}
}

func testAudit(t *testing.T) {
	out := tenantry(t, "audit", "acme")
	for _, want := range []string{
		"Onboard tenant acme on plan pro (prod)",
		"Deploy app web of tenant acme from " + gitURL + "/acme-web.git",
		"Deploy app escape-quota of tenant acme",
		"Remove app escape-quota of tenant acme",
		"Offboard tenant acme",
		"Platform Team <platform@example.com>",
		"Reason: contract ended",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tenantry audit acme lacks %q:\n%s", want, out)
		}
	}
	commits := strings.Count(out, "Platform Team <platform@example.com>")
	if commits != 11 {
		t.Errorf("tenantry audit acme shows %d commits, want 11 (create, 5 add-app, 4 remove-app, delete):\n%s", commits, out)
	}
}

// tenantry runs the CLI on the platform repository's working copy.
func tenantry(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	root := cli.NewRoot("tenantry", &out, &errOut)
	root.SetArgs(append(args, "--kubeconfig", cluster.KubeconfigPath, "--gitops", filepath.Join(platformDir, "gitops")))
	if err := root.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("tenantry %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// refresh stands in for a Git webhook: Argo CD compares the Application
// with Git now instead of at its next poll.
func refresh(t *testing.T, app string) {
	t.Helper()
	if err := argo.Refresh(t.Context(), app); err != nil {
		t.Fatal(err)
	}
}

func getTenant(t *testing.T, name string) *v1alpha1.Tenant {
	t.Helper()
	tenant := &v1alpha1.Tenant{}
	err := admin.Get(t.Context(), client.ObjectKey{Name: name}, tenant)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return tenant
}

func tenantState(t *v1alpha1.Tenant) any {
	if t == nil {
		return "absent"
	}
	return t.Status.Conditions
}

func tenantOwners(t *v1alpha1.Tenant) any {
	if t == nil {
		return "absent"
	}
	return t.Spec.Owners
}

// appsSynced checks the Tenant's status: want apps, all synced and healthy.
func appsSynced(t *testing.T, name string, want int) error {
	tenant := getTenant(t, name)
	if tenant == nil {
		return fmt.Errorf("tenant %s absent", name)
	}
	c := meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionGitOpsReady)
	if c == nil || c.Status != "True" || len(tenant.Status.Apps) != want || c.ObservedGeneration != tenant.Generation {
		return fmt.Errorf("tenant %s: GitOpsReady %+v, apps %+v", name, c, tenant.Status.Apps)
	}
	return nil
}

// appMessage is the problem the Tenant's status reports for one app.
func appMessage(t *testing.T, name, app string) string {
	tenant := getTenant(t, name)
	if tenant == nil {
		return ""
	}
	i := slices.IndexFunc(tenant.Status.Apps, func(a v1alpha1.AppStatus) bool { return a.Name == app })
	if i < 0 {
		return ""
	}
	return tenant.Status.Apps[i].Message
}

func deploymentAvailable(t *testing.T, namespace, name string, replicas int32) error {
	d := &appsv1.Deployment{}
	if err := admin.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: name}, d); err != nil {
		return err
	}
	if d.Status.AvailableReplicas != replicas {
		return fmt.Errorf("deployment %s/%s: %d of %d available", namespace, name, d.Status.AvailableReplicas, replicas)
	}
	return nil
}

func assertEvent(t *testing.T, tenant, reason string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		var events corev1.EventList
		if err := admin.List(t.Context(), &events, client.MatchingFields{"involvedObject.name": tenant}); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Reason == reason {
				return nil
			}
		}
		return fmt.Errorf("no %s event on tenant %s", reason, tenant)
	})
}

func getArgo(t *testing.T, gvk schema.GroupVersionKind, name string) *unstructured.Unstructured {
	t.Helper()
	u := argoObject(gvk, name)
	err := admin.Get(t.Context(), client.ObjectKeyFromObject(u), u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func argoObject(gvk schema.GroupVersionKind, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(argo.Namespace)
	u.SetName(name)
	return u
}

func objectMeta(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name}
}
