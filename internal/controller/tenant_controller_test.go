package controller_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

func TestOnboardingCreatesEveryObjectAndTheTenantCanDeploy(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	newPlan(t, "onboard-plan", func(s *v1alpha1.TenantPlanSpec) { s.AllowInternetEgress = true })
	newTenant(t, "onboard", "onboard-plan", "prod", "staging")
	tenant := waitPhase(t, "onboard", v1alpha1.PhaseReady)

	if got, want := tenant.Status.Namespaces, []string{"onboard-prod", "onboard-staging"}; !slices.Equal(got, want) {
		t.Errorf("status.namespaces = %v, want %v", got, want)
	}
	for _, cond := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionNamespacesReady, v1alpha1.ConditionGuardrailsReady} {
		c := meta.FindStatusCondition(tenant.Status.Conditions, cond)
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != tenant.Generation {
			t.Errorf("condition %s = %+v, want True at generation %d", cond, c, tenant.Generation)
		}
	}
	if tenant.Status.ReadyAt == nil || tenant.Status.OnboardingDuration == nil {
		t.Errorf("readyAt/onboardingDuration not set: %+v", tenant.Status)
	} else {
		t.Logf("onboarded in %s", tenant.Status.OnboardingDuration.Duration)
	}

	ctx := t.Context()
	testutil.Eventually(t, readyTimeout, func() error {
		var events eventsv1.EventList
		if err := admin.List(ctx, &events, client.InNamespace(metav1.NamespaceDefault)); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Regarding.Kind == "Tenant" && e.Regarding.Name == "onboard" && e.Reason == "TenantReady" && strings.HasPrefix(e.Note, "onboarded in ") {
				return nil
			}
		}
		return fmt.Errorf("no TenantReady event for tenant onboard among %d events", len(events.Items))
	})

	for _, ns := range tenant.Status.Namespaces {
		namespace := &corev1.Namespace{}
		if err := admin.Get(ctx, client.ObjectKey{Name: ns}, namespace); err != nil {
			t.Fatal(err)
		}
		if namespace.Labels[v1alpha1.LabelPSSEnforce] != "restricted" || namespace.Labels[v1alpha1.LabelTenant] != "onboard" {
			t.Errorf("namespace %s labels = %v", ns, namespace.Labels)
		}
		var policies networkingv1.NetworkPolicyList
		if err := admin.List(ctx, &policies, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if len(policies.Items) != 2 {
			t.Fatalf("namespace %s has %d network policies, want 2 (the default deny and the allowances)", ns, len(policies.Items))
		}
		allow := &networkingv1.NetworkPolicy{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.PolicyAllow}, allow); err != nil {
			t.Fatal(err)
		}
		if len(allow.Spec.Ingress) != 3 || len(allow.Spec.Egress) != 3 {
			t.Errorf("%s/%s: %d ingress and %d egress rules, want 3 (same tenant, ingress controller, monitoring) and 3 (same tenant, DNS, internet)",
				ns, render.PolicyAllow, len(allow.Spec.Ingress), len(allow.Spec.Egress))
		}
		for _, obj := range []client.Object{
			&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.QuotaName}},
			&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.LimitRangeName}},
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.ClusterRoleName(v1alpha1.RoleAdmin)}},
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.ClusterRoleName(v1alpha1.RoleDeveloper)}},
		} {
			if err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				t.Errorf("%T %s: %v", obj, client.ObjectKeyFromObject(obj), err)
			}
		}
	}

	// Ready means the tenant can deploy: pods start on the (kwok) nodes
	// with no further wait.
	alice := userClient(t, "onboard-admin")
	ns := "onboard-prod"
	deploy := testutil.Deployment("web", 2)
	deploy.Namespace = ns
	if err := alice.Create(ctx, deploy); err != nil {
		t.Fatalf("tenant admin could not create a compliant Deployment: %v", err)
	}
	testutil.Eventually(t, readyTimeout, func() error {
		if err := alice.Get(ctx, client.ObjectKeyFromObject(deploy), deploy); err != nil {
			return err
		}
		if deploy.Status.AvailableReplicas != 2 {
			return fmt.Errorf("deployment web: %d/2 available", deploy.Status.AvailableReplicas)
		}
		return nil
	})

	// Over quota: the plan caps requests.cpu at 1 per namespace.
	big := testutil.RestrictedPod("big")
	big.Namespace = ns
	big.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
	}
	testutil.WantRefusal(t, alice.Create(ctx, big), apierrors.IsForbidden, "exceeded quota: tenantry-quota", "requests.cpu")

	// Privileged: Pod Security restricted refuses it.
	privileged := testutil.RestrictedPod("privileged")
	privileged.Namespace = ns
	privileged.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true)
	privileged.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
	testutil.WantRefusal(t, alice.Create(ctx, privileged), apierrors.IsForbidden, `violates PodSecurity "restricted:v1.37"`, "privileged")
}

func TestTenantUsersAreConfinedToTheirNamespaces(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	newPlan(t, "iso-plan", nil)
	newTenant(t, "iso-a", "iso-plan")
	newTenant(t, "iso-b", "iso-plan")
	waitPhase(t, "iso-a", v1alpha1.PhaseReady)
	waitPhase(t, "iso-b", v1alpha1.PhaseReady)
	ctx := t.Context()

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "iso-b", Name: "db"}, StringData: map[string]string{"password": "s3cret"}}
	if err := admin.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}

	for _, user := range []struct {
		name   string
		client client.Client
	}{
		{"admin of iso-a", userClient(t, "iso-a-admin")},
		{"developer of iso-a", userClient(t, "someone", "iso-a-devs")},
	} {
		c := user.client
		forbidden := []struct {
			what string
			err  error
		}{
			{"get another tenant's secret", c.Get(ctx, client.ObjectKeyFromObject(secret), &corev1.Secret{})},
			{"list another tenant's secrets", c.List(ctx, &corev1.SecretList{}, client.InNamespace("iso-b"))},
			{"list another tenant's pods", c.List(ctx, &corev1.PodList{}, client.InNamespace("iso-b"))},
			{"create in another tenant's namespace", c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "iso-b", Name: "x"}})},
			{"update another tenant's secret", c.Update(ctx, secret.DeepCopy())},
			{"delete another tenant's secret", c.Delete(ctx, secret.DeepCopy())},
			{"list namespaces", c.List(ctx, &corev1.NamespaceList{})},
			{"update its own quota", c.Update(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "iso-a", Name: render.QuotaName}})},
			{"delete its own limit range", c.Delete(ctx, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "iso-a", Name: render.LimitRangeName}})},
			{"create a namespace", c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "iso-a-extra"}})},
			{"create a ClusterRole", c.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "iso-a-escape"}})},
			{"list tenants", c.List(ctx, &v1alpha1.TenantList{})},
			{"get another Tenant", c.Get(ctx, client.ObjectKey{Name: "iso-b"}, &v1alpha1.Tenant{})},
			{"update its own Tenant", c.Update(ctx, &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "iso-a"}})},
			// Owners hold no cluster-scoped grant at all, not even on their
			// own Tenant: its namespace tells them what they need.
			{"get its own Tenant", c.Get(ctx, client.ObjectKey{Name: "iso-a"}, &v1alpha1.Tenant{})},
			{"get another tenant's namespace", c.Get(ctx, client.ObjectKey{Name: "iso-b"}, &corev1.Namespace{})},
			{"update its own namespace", c.Update(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "iso-a"}})},
		}
		for _, f := range forbidden {
			if !apierrors.IsForbidden(f.err) {
				t.Errorf("%s could %s: err = %v, want Forbidden", user.name, f.what, f.err)
			}
		}
		// Its limits it reads, as Kubernetes' own view role does.
		if err := c.Get(ctx, client.ObjectKey{Namespace: "iso-a", Name: render.QuotaName}, &corev1.ResourceQuota{}); err != nil {
			t.Errorf("%s cannot read its own quota: %v", user.name, err)
		}
		if err := c.List(ctx, &corev1.LimitRangeList{}, client.InNamespace("iso-a")); err != nil {
			t.Errorf("%s cannot list its own limit ranges: %v", user.name, err)
		}
		if err := c.List(ctx, &corev1.ResourceQuotaList{}, client.InNamespace("iso-b")); !apierrors.IsForbidden(err) {
			t.Errorf("%s listing another tenant's quotas: err = %v, want Forbidden", user.name, err)
		}
		own := &corev1.Namespace{}
		if err := c.Get(ctx, client.ObjectKey{Name: "iso-a"}, own); err != nil {
			t.Errorf("%s cannot get its own namespace: %v", user.name, err)
		} else if got := own.Annotations[v1alpha1.AnnotationNamespaces]; got != "iso-a" {
			t.Errorf("%s reads namespaces %q from its namespace, want iso-a", user.name, got)
		}
	}

	// The admin manages access and network policy in its own namespace.
	a := userClient(t, "iso-a-admin")
	if err := a.Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: "iso-a", Name: "reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}},
	}); err != nil {
		t.Errorf("tenant admin cannot create a Role: %v", err)
	}
	if err := a.Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "iso-a", Name: "allow-web"}}); err != nil {
		t.Errorf("tenant admin cannot create a NetworkPolicy: %v", err)
	}
}

func TestDriftIsRepaired(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	newPlan(t, "drift-plan", nil)
	newTenant(t, "drift", "drift-plan")
	waitPhase(t, "drift", v1alpha1.PhaseReady)
	ctx := t.Context()

	for _, obj := range []client.Object{
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "drift", Name: render.PolicyDefaultDeny}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "drift", Name: render.ClusterRoleName(v1alpha1.RoleAdmin)}},
		&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "drift", Name: render.QuotaName}},
	} {
		if err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatal(err)
		}
		uid := obj.GetUID()
		deleted := time.Now()
		if err := admin.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, readyTimeout, func() error {
			if err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return err
			}
			if obj.GetUID() == uid {
				return fmt.Errorf("%T %s not deleted yet", obj, obj.GetName())
			}
			return nil
		})
		t.Logf("%T %s recreated %s after its deletion", obj, obj.GetName(), time.Since(deleted).Round(time.Millisecond))
	}

	// The shared owner roles belong to the chart, so Helm or Argo CD (self
	// heal) repairs them, not the operator: it may only bind them.

	// The tenant's own ClusterRoleBinding an earlier version rendered is
	// pruned: the operator renders no cluster-scoped RBAC.
	left := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "tenantry:tenant:drift", Labels: render.Labels(&v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "drift"}})},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
	}
	if err := admin.Create(ctx, left); err != nil {
		t.Fatal(err)
	}
	waitGone(t, left)

	// A hand edit of the quota is reverted: TestCreatedObjectsAreOwnedByLaterApplies.
}

func TestRemovingAnEnvironmentOrAnOwnerAndDeletingTheTenant(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	newPlan(t, "life-plan", nil)
	tenant := newTenant(t, "life", "life-plan", "prod", "dev")
	waitPhase(t, "life", v1alpha1.PhaseReady)
	ctx := t.Context()

	if err := admin.Get(ctx, client.ObjectKeyFromObject(tenant), tenant); err != nil {
		t.Fatal(err)
	}
	// Drop an environment and the only developer owner.
	tenant.Spec.Environments = []string{"prod"}
	tenant.Spec.Owners = tenant.Spec.Owners[:1]
	if err := admin.Update(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	waitGone(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "life-dev"}})
	waitGone(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "life-prod", Name: render.ClusterRoleName(v1alpha1.RoleDeveloper)}})
	tenant = waitPhase(t, "life", v1alpha1.PhaseReady)
	if !slices.Equal(tenant.Status.Namespaces, []string{"life-prod"}) {
		t.Errorf("status.namespaces = %v, want [life-prod]", tenant.Status.Namespaces)
	}

	if err := admin.Delete(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	waitGone(t, &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "life"}})
	// The finalizer releases the Tenant only once everything is gone.
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "life-prod"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "tenantry:tenant:life"}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenantry:tenant:life"}},
	} {
		err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		if !apierrors.IsNotFound(err) {
			t.Errorf("%T %s left behind after the Tenant went: %v", obj, obj.GetName(), err)
		}
	}
}

func TestProblemsAreReportedOnTheTenant(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	newPlan(t, "small-plan", func(s *v1alpha1.TenantPlanSpec) { s.MaxEnvironments = 1 })
	ctx := t.Context()
	taken := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "taken"}}
	if err := admin.Create(ctx, taken); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), taken) })

	tests := []struct {
		tenant     string
		plan       string
		envs       []string
		wantReason string
		wantText   string
	}{
		{"no-plan", "does-not-exist", nil, "PlanNotFound", `TenantPlan "does-not-exist" does not exist`},
		{"too-many", "small-plan", []string{"a", "b"}, "PlanLimitExceeded", `spec.environments: 2 environments, but plan "small-plan" allows 1`},
		{"taken", "small-plan", nil, "NamespaceConflict", "namespace taken already exists and is not managed by Tenantry"},
		{"monitoring", "small-plan", nil, "NamespaceConflict", "namespace monitoring is reserved for the platform"},
	}
	for _, tt := range tests {
		newTenant(t, tt.tenant, tt.plan, tt.envs...)
	}
	for _, tt := range tests {
		t.Run(tt.tenant, func(t *testing.T) {
			tenant := waitPhase(t, tt.tenant, v1alpha1.PhaseFailed)
			ready := meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionReady)
			if ready == nil || ready.Reason != tt.wantReason || !strings.Contains(ready.Message, tt.wantText) {
				t.Errorf("Ready condition = %+v, want reason %s and message with %q", ready, tt.wantReason, tt.wantText)
			}
		})
	}

	// The unmanaged namespace was not taken over.
	ns := &corev1.Namespace{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "taken"}, ns); err != nil {
		t.Fatal(err)
	}
	if ns.Labels[v1alpha1.LabelTenant] != "" {
		t.Errorf("namespace taken was adopted: labels %v", ns.Labels)
	}

	// Creating the missing plan heals the tenant waiting for it.
	newPlan(t, "does-not-exist", nil)
	waitPhase(t, "no-plan", v1alpha1.PhaseReady)
}

func TestOverlappingDomainsStayWithTheFirstTenant(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	newPlan(t, "domain-plan", nil)
	ctx := t.Context()
	setDomains := func(name string, domains ...string) {
		t.Helper()
		patchTenant(t, name, map[string]any{"spec": map[string]any{"ingress": map[string]any{"domains": domains}}})
	}
	newTenant(t, "dom-first", "domain-plan")
	setDomains("dom-first", "shop.example.org")
	waitPhase(t, "dom-first", v1alpha1.PhaseReady)
	ns := &corev1.Namespace{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "dom-first"}, ns); err != nil {
		t.Fatal(err)
	}
	if got := ns.Annotations[v1alpha1.AnnotationIngressDomains]; got != "shop.example.org" {
		t.Errorf("namespace annotation %s = %q, want the tenant's domain", v1alpha1.AnnotationIngressDomains, got)
	}
	if first := waitPhase(t, "dom-first", v1alpha1.PhaseReady); !slices.Equal(first.Status.IngressDomains, []string{"shop.example.org"}) {
		t.Errorf("status.ingressDomains = %v, want the domain in force", first.Status.IngressDomains)
	}

	// example.org covers shop.example.org, which dom-first claimed first.
	second := newTenant(t, "dom-second", "domain-plan")
	setDomains("dom-second", "example.org")
	tenant := waitPhase(t, "dom-second", v1alpha1.PhaseFailed)
	ready := meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionReady)
	want := "spec.ingress.domains: example.org overlaps shop.example.org, which tenant dom-first holds or claimed first"
	if ready == nil || ready.Reason != "DomainConflict" || !strings.Contains(ready.Message, want) {
		t.Errorf("Ready condition = %+v, want DomainConflict with %q", ready, want)
	}

	// Once dom-first lets the domain go, dom-second gets it without being touched.
	setDomains("dom-first")
	waitPhase(t, second.Name, v1alpha1.PhaseReady)

	// Now dom-second holds example.org: dom-first, although older, may not
	// take its old domain back, and the API server refuses its Ingress.
	setDomains("dom-first", "shop.example.org")
	waitPhase(t, "dom-first", v1alpha1.PhaseFailed)
	ingress := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "dom-first", Name: "shop"},
		Spec:       networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "shop.example.org"}}},
	}
	err := userClient(t, "dom-first-admin").Create(ctx, ingress)
	testutil.WantRefusal(t, err, apierrors.IsForbidden, "tenantry rule 6 (domains): shop.example.org is outside your tenant's domains (none")
}

func TestSuspendedTenantStartsNoPods(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	newPlan(t, "suspend-plan", nil)
	tenant := newTenant(t, "paused", "suspend-plan")
	waitPhase(t, "paused", v1alpha1.PhaseReady)
	ctx := t.Context()
	if err := admin.Get(ctx, client.ObjectKeyFromObject(tenant), tenant); err != nil {
		t.Fatal(err)
	}
	tenant.Spec.Suspended = true
	if err := admin.Update(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, "paused", v1alpha1.PhaseSuspended)
	pod := testutil.RestrictedPod("late")
	pod.Namespace = "paused"
	testutil.WantRefusal(t, userClient(t, "paused-admin").Create(ctx, pod), apierrors.IsForbidden, "exceeded quota", "pods=0")
}

// The operator creates absent objects with a plain POST, which records their
// fields under an Update entry; its later applies must still own every one of
// them, so a field dropped from the plan is removed, not left behind.
func TestCreatedObjectsAreOwnedByLaterApplies(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	plan := newPlan(t, "created-plan", func(s *v1alpha1.TenantPlanSpec) { s.Quota["services"] = resource.MustParse("5") })
	newTenant(t, "created", "created-plan")
	waitPhase(t, "created", v1alpha1.PhaseReady)
	ctx := t.Context()

	quota := &corev1.ResourceQuota{}
	key := client.ObjectKey{Namespace: "created", Name: render.QuotaName}
	if err := admin.Get(ctx, key, quota); err != nil {
		t.Fatal(err)
	}
	if got := managers(quota); !slices.Contains(got, controller.FieldOwner+"/Update") || slices.Contains(got, controller.FieldOwner+"/Apply") {
		t.Fatalf("quota's managers %v: want the operator's create (Update) and no apply yet", got)
	}

	// A hand edit is repaired, and the repair adopts the created fields.
	quota.Spec.Hard["requests.cpu"] = resource.MustParse("100")
	if err := admin.Update(ctx, quota, client.FieldOwner("someone")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, readyTimeout, func() error {
		if err := admin.Get(ctx, key, quota); err != nil {
			return err
		}
		if got := quota.Spec.Hard["requests.cpu"]; got.Cmp(resource.MustParse("1")) != 0 {
			return fmt.Errorf("quota requests.cpu = %s, want 1", got.String())
		}
		if got := managers(quota); slices.Contains(got, controller.FieldOwner+"/Update") {
			return fmt.Errorf("quota's managers %v: the operator's Update entry is still there", got)
		}
		return nil
	})

	// A resource the plan drops is removed from the quota by the next apply.
	if err := admin.Get(ctx, client.ObjectKeyFromObject(plan), plan); err != nil {
		t.Fatal(err)
	}
	delete(plan.Spec.Quota, "services")
	if err := admin.Update(ctx, plan); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, readyTimeout, func() error {
		if err := admin.Get(ctx, key, quota); err != nil {
			return err
		}
		if services, ok := quota.Spec.Hard["services"]; ok {
			return fmt.Errorf("quota still holds services=%s after the plan dropped it", services.String())
		}
		return nil
	})
}

// managers lists an object's field managers as manager/operation.
func managers(obj client.Object) []string {
	var out []string
	for _, m := range obj.GetManagedFields() {
		out = append(out, m.Manager+"/"+string(m.Operation))
	}
	return out
}
