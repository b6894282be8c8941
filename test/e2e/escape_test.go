package e2e

import (
	"embed"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/escapes"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

//go:embed testdata/*.yaml
var testdata embed.FS

// The example tenants' admins and their images (from registries their plans allow).
const (
	acmeAdmin     = "alice@acme.com"
	globexAdmin   = "hank@globex.com"
	initechAdmin  = "ivy@initech.com"
	initechGroup  = "initech-platform"
	acmeProd      = "acme-prod"
	acmeStaging   = "acme-staging"
	globexNS      = "globex"
	initechProd   = "initech-prod"
	acmeImage     = "ghcr.io/acme/web:1.0"
	globexImage   = "registry.tenantry.dev/globex/web:1.0"
	initechImage  = "ghcr.io/initech/app:1.0"
	initechPool   = "node.tenantry.dev/pool"
	initechPoolOn = "enterprise"
	// opsUser holds, beyond acme's admin role, RBAC rights a cluster
	// operator might grant by mistake (update acme-prod's namespace and
	// quota), to show the guardrails stand behind RBAC, not only beside it.
	opsUser = "ops@acme.com"
	// hooli is on a plan that lists no registry: no image may run there.
	hooliAdmin = "gavin@hooli.com"
	hooliNS    = "hooli"
	hooliImage = "registry.tenantry.dev/hooli/web:1"
)

// actor is a tenant user of the example tenants, the catalogue's target as
// that user, and the fixtures of the catalogue's entries it runs.
type actor struct {
	name   string
	client client.Client
	target escapes.Target
	runs   []escapes.Fixture
}

// TestTenantEscapeSuite runs every entry of the escape catalogue
// (internal/escapes) as a real certificate-authenticated tenant user
// against the onboarded example tenants: each escape must be refused with
// its exact refusal, then the self-service a tenant needs must still work.
// It prints a summary line.
func TestTenantEscapeSuite(t *testing.T) {
	testutil.NeedsCluster(t)
	ctx := t.Context()
	prepareEscapeFixtures(t)
	actors := []actor{
		newActor(t, "alice", "acme", acmeProd, acmeImage, []escapes.Fixture{escapes.NoFixture, escapes.ClusterObjects, escapes.RealWrites}, acmeAdmin),
		newActor(t, "hank", "globex", globexNS, globexImage, []escapes.Fixture{escapes.FreePlan}, globexAdmin),
		newActor(t, "ivy", "initech", initechProd, initechImage, []escapes.Fixture{escapes.NodePool}, initechAdmin, initechGroup),
		newActor(t, "ops", "acme", acmeProd, acmeImage, []escapes.Fixture{escapes.MistakenRBAC}, opsUser),
		newActor(t, "gavin", "hooli", hooliNS, hooliImage, []escapes.Fixture{escapes.NoRegistries}, hooliAdmin),
	}

	// Every entry runs exactly once, as the actor whose fixtures it needs.
	type run struct {
		actor
		escapes.Entry
	}
	var attempts, positives []run
	for _, a := range actors {
		for _, e := range escapes.Catalogue(a.target) {
			if !slices.Contains(a.runs, e.Needs) {
				continue
			}
			if e.Want.Allowed() {
				positives = append(positives, run{a, e})
			} else {
				attempts = append(attempts, run{a, e})
			}
		}
	}
	if n, want := len(attempts)+len(positives), len(escapes.Catalogue(actors[0].target)); n != want {
		t.Errorf("the actors run %d entries; the catalogue has %d", n, want)
	}

	refused, allowed := 0, 0
	for _, r := range attempts {
		t.Run(r.ID, func(t *testing.T) {
			if r.Skip != "" {
				t.Fatalf("%s: the fixture does not fit: %s", r.name, r.Skip)
			}
			err := r.Try(ctx, r.client)
			if err == nil {
				allowed++
				t.Errorf("%s: allowed; the platform must refuse it", r.name)
				return
			}
			refused++
			testutil.WantRefusal(t, err, apierrors.IsForbidden, r.Want.Fragments()...)
		})
	}

	done := 0
	for _, p := range positives {
		t.Run(p.ID, func(t *testing.T) {
			if p.Skip != "" {
				t.Fatalf("%s: the fixture does not fit: %s", p.name, p.Skip)
			}
			if err := p.Try(ctx, p.client); err != nil {
				t.Errorf("%s cannot %s: %v", p.name, p.Description, err)
				return
			}
			done++
		})
	}
	summary := fmt.Sprintf("escape suite: %d attempts, %d refused, %d allowed that should not be; self-service: %d of %d allowed",
		len(attempts), refused, allowed, done, len(positives))
	t.Log(summary)
	fmt.Println(summary)
	// go test hides a passing package's output; `make test` shows this file.
	if path := os.Getenv("TENANTRY_ESCAPE_SUMMARY"); path != "" {
		if err := os.WriteFile(path, []byte(summary+"\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
	if len(attempts) < 40 {
		t.Errorf("only %d escape attempts; the suite promises at least 40", len(attempts))
	}
}

// newActor is user (in groups) of tenant, making its requests in
// namespace with image; the other tenant is globex, or acme for globex.
func newActor(t *testing.T, name, tenant, namespace, image string, runs []escapes.Fixture, user string, groups ...string) actor {
	ctx := t.Context()
	target := escapes.Target{Tenant: &v1alpha1.Tenant{}, Plan: &v1alpha1.TenantPlan{}, Other: &v1alpha1.Tenant{},
		Namespace: namespace, User: user, Image: image, OtherNamespace: globexNS}
	if tenant == "globex" {
		target.OtherNamespace = acmeProd
	}
	if err := admin.Get(ctx, client.ObjectKey{Name: tenant}, target.Tenant); err != nil {
		t.Fatal(err)
	}
	if err := admin.Get(ctx, client.ObjectKey{Name: target.Tenant.Spec.Plan}, target.Plan); err != nil {
		t.Fatal(err)
	}
	other := "globex"
	if tenant == "globex" {
		other = "acme"
	}
	if err := admin.Get(ctx, client.ObjectKey{Name: other}, target.Other); err != nil {
		t.Fatal(err)
	}
	cfg, err := cluster.UserConfig(user, groups...)
	if err != nil {
		t.Fatal(err)
	}
	target.Config = cfg
	return actor{name: name, client: userClient(t, user, groups...), target: target, runs: runs}
}

// prepareEscapeFixtures creates, as the cluster admin, what the attempts
// need: a pod in globex to exec into, a harmless non-allowlisted
// ClusterRole, the Gateway API HTTPRoute kind, and the ops user's extra RBAC.
func prepareEscapeFixtures(t *testing.T) {
	ctx := t.Context()
	apply := func(objs ...client.Object) {
		for _, obj := range objs {
			if err := admin.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
			}
		}
	}
	if _, err := install.Apply(ctx, admin, testdata, "testdata/httproute-crd.yaml"); err != nil {
		t.Fatal(err)
	}
	apply(
		escapes.Pod(globexNS, escapes.FixturePod, globexImage),
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: escapes.FixtureClusterRole},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}},
		},
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "escape-suite:namespace-and-quota-editor"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "update", "patch", "delete"}},
				{APIGroups: []string{""}, Resources: []string{"resourcequotas", "limitranges"}, Verbs: []string{"get", "update", "patch", "delete"}},
			},
		},
		// A RoleBinding in acme-prod that grants namespaces rights covers
		// the acme-prod Namespace object itself.
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "escape-suite:ops", Namespace: acmeProd},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "escape-suite:namespace-and-quota-editor"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: opsUser}},
		},
	)
	testutil.Eventually(t, 30*time.Second, func() error {
		return admin.List(ctx, &unstructured.UnstructuredList{Object: map[string]any{
			"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRouteList"}}, client.InNamespace(acmeProd))
	})
	onboardWithoutRegistries(t)
	// acme's apps inherit analysis defaults: the operator writes the
	// tenantry-analysis Secret, which acme's admins may read but not change.
	tenant := &v1alpha1.Tenant{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "acme"}, tenant); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(tenant.DeepCopy())
	tenant.Spec.Analysis = &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prometheus.monitoring:9090"}
	if err := admin.Patch(ctx, tenant, patch); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		return admin.Get(ctx, client.ObjectKey{Namespace: acmeProd, Name: render.AnalysisSecretName}, &corev1.Secret{})
	})
}

// onboardWithoutRegistries onboards hooli on a copy of the free plan whose
// allowedRegistries was forgotten, as a platform team might.
func onboardWithoutRegistries(t *testing.T) {
	ctx := t.Context()
	free := &v1alpha1.TenantPlan{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "free"}, free); err != nil {
		t.Fatal(err)
	}
	plan := &v1alpha1.TenantPlan{ObjectMeta: metav1.ObjectMeta{Name: "no-registries"}, Spec: *free.Spec.DeepCopy()}
	plan.Spec.AllowedRegistries = nil
	tenant := &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: "hooli"},
		Spec:       v1alpha1.TenantSpec{Plan: plan.Name, Owners: []v1alpha1.Owner{{Kind: v1alpha1.SubjectUser, Name: hooliAdmin, Role: v1alpha1.RoleAdmin}}},
	}
	for _, obj := range []client.Object{plan, tenant} {
		if err := admin.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, time.Minute, func() error {
		if err := admin.Get(ctx, client.ObjectKeyFromObject(tenant), tenant); err != nil {
			return err
		}
		if tenant.Status.Phase != v1alpha1.PhaseReady {
			return fmt.Errorf("tenant hooli is %s: %+v", tenant.Status.Phase, tenant.Status.Conditions)
		}
		return nil
	})
}
