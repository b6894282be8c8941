package render

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// newTenant is tenant "acme" on plan "pro" with one admin and no
// environments, changed by the mutators.
func newTenant(mutators ...func(*v1alpha1.Tenant)) *v1alpha1.Tenant {
	t := &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: "acme", UID: types.UID("uid-acme")},
		Spec: v1alpha1.TenantSpec{
			Plan:   "pro",
			Owners: []v1alpha1.Owner{{Kind: v1alpha1.SubjectUser, Name: "alice@acme.com", Role: v1alpha1.RoleAdmin}},
		},
	}
	for _, m := range mutators {
		m(t)
	}
	return t
}

// newPlan is plan "pro": ClusterIP only, no internet egress, three
// environments, and a ceiling on CPU requests only.
func newPlan(mutators ...func(*v1alpha1.TenantPlan)) *v1alpha1.TenantPlan {
	p := &v1alpha1.TenantPlan{
		ObjectMeta: metav1.ObjectMeta{Name: "pro"},
		Spec: v1alpha1.TenantPlanSpec{
			Quota:        resources(planQuota),
			QuotaCeiling: resources(map[corev1.ResourceName]string{"requests.cpu": "16"}),
			Limits: v1alpha1.ContainerLimits{
				DefaultRequest: resources(map[corev1.ResourceName]string{"cpu": "100m", "memory": "128Mi"}),
				Default:        resources(map[corev1.ResourceName]string{"cpu": "500m", "memory": "512Mi"}),
				Max:            resources(map[corev1.ResourceName]string{"cpu": "2", "memory": "4Gi"}),
			},
			MaxEnvironments:   3,
			AllowedRegistries: []string{"ghcr.io/acme/", "registry.example.com/"},
		},
	}
	for _, m := range mutators {
		m(p)
	}
	return p
}

var planQuota = map[corev1.ResourceName]string{
	"requests.cpu": "4", "requests.memory": "8Gi", "limits.cpu": "8", "limits.memory": "16Gi", "pods": "50",
}

func withEnvironments(envs ...string) func(*v1alpha1.Tenant) {
	return func(t *v1alpha1.Tenant) { t.Spec.Environments = envs }
}

func withQuota(name corev1.ResourceName, value string) func(*v1alpha1.Tenant) {
	return func(t *v1alpha1.Tenant) { t.Spec.Quota = resources(map[corev1.ResourceName]string{name: value}) }
}

func withPlanQuota(name corev1.ResourceName, value string) func(*v1alpha1.TenantPlan) {
	return func(p *v1alpha1.TenantPlan) { p.Spec.Quota[name] = resource.MustParse(value) }
}

func withServiceTypes(types ...v1alpha1.ServiceType) func(*v1alpha1.TenantPlan) {
	return func(p *v1alpha1.TenantPlan) { p.Spec.AllowedServiceTypes = types }
}

func resources(m map[corev1.ResourceName]string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for k, v := range m {
		l[k] = resource.MustParse(v)
	}
	return l
}

// overlay returns a copy of base with changes applied.
func overlay(base map[corev1.ResourceName]string, changes ...map[corev1.ResourceName]string) map[corev1.ResourceName]string {
	out := map[corev1.ResourceName]string{}
	for _, m := range append([]map[corev1.ResourceName]string{base}, changes...) {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func assertResources(t *testing.T, what string, got corev1.ResourceList, want map[corev1.ResourceName]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s has %d entries %v, want %d %v", what, len(got), got, len(want), want)
	}
	for name, w := range want {
		q, ok := got[name]
		if !ok {
			t.Errorf("%s[%s] missing, want %s", what, name, w)
		} else if q.Cmp(resource.MustParse(w)) != 0 {
			t.Errorf("%s[%s] = %s, want %s", what, name, q.String(), w)
		}
	}
}

func TestEnvironments(t *testing.T) {
	tests := []struct {
		name       string
		tenant     *v1alpha1.Tenant
		want       []Environment
		namespaces []string
	}{
		{"no environments: one namespace named after the tenant", newTenant(),
			[]Environment{{Name: "default", Namespace: "acme"}}, []string{"acme"}},
		{"environments in spec order, namespace names sorted", newTenant(withEnvironments("staging", "prod")),
			[]Environment{{Name: "staging", Namespace: "acme-staging"}, {Name: "prod", Namespace: "acme-prod"}},
			[]string{"acme-prod", "acme-staging"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Environments(tt.tenant); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Environments = %v, want %v", got, tt.want)
			}
			if got := NamespaceNames(tt.tenant); !reflect.DeepEqual(got, tt.namespaces) {
				t.Errorf("NamespaceNames = %v, want %v", got, tt.namespaces)
			}
		})
	}
}

func TestTenantObjects(t *testing.T) {
	tenant := newTenant(withEnvironments("prod", "staging"))
	objs, err := Tenant(tenant, newPlan(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}

	want := []string{"Namespace//acme-prod", "Namespace//acme-staging"}
	for _, ns := range []string{"acme-prod", "acme-staging"} {
		want = append(want, "ResourceQuota/"+ns+"/tenantry-quota", "LimitRange/"+ns+"/tenantry-limits")
		for _, np := range []string{PolicyDefaultDeny, PolicyAllow} {
			want = append(want, "NetworkPolicy/"+ns+"/"+np)
		}
		want = append(want, "RoleBinding/"+ns+"/tenantry:tenant-admin")
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetNamespace()+"/"+o.GetName())
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("objects =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	yes := true
	wantOwners := []metav1.OwnerReference{{APIVersion: "tenantry.dev/v1alpha1", Kind: "Tenant", Name: "acme",
		UID: "uid-acme", Controller: &yes, BlockOwnerDeletion: &yes}}
	for i, o := range objs {
		if gvk := o.GetObjectKind().GroupVersionKind(); gvk.Version == "" || gvk.Kind == "" {
			t.Errorf("%s: TypeMeta not set: %+v", got[i], gvk)
		}
		if l := o.GetLabels(); l["app.kubernetes.io/managed-by"] != "tenantry" || l["tenantry.dev/tenant"] != "acme" {
			t.Errorf("%s: labels = %v, want managed by tenantry for tenant acme", got[i], l)
		}
		if !reflect.DeepEqual(o.GetOwnerReferences(), wantOwners) {
			t.Errorf("%s: owner references = %+v, want %+v", got[i], o.GetOwnerReferences(), wantOwners)
		}
	}
}

func TestNamespace(t *testing.T) {
	pss := "pod-security.kubernetes.io/"
	tests := []struct {
		name            string
		tenant          *v1alpha1.Tenant
		plan            *v1alpha1.TenantPlan
		wantLabels      map[string]string
		wantAnnotations map[string]string // "" as a value: must be absent
	}{
		{"tenant, environment, pod security restricted at the pinned version", newTenant(), newPlan(),
			map[string]string{"app.kubernetes.io/managed-by": "tenantry", "tenantry.dev/tenant": "acme", "tenantry.dev/environment": "prod",
				pss + "enforce": "restricted", pss + "enforce-version": "v1.99", pss + "audit": "restricted",
				pss + "audit-version": "v1.99", pss + "warn": "restricted", pss + "warn-version": "v1.99"}, nil},
		{"plan, registries comma-joined, ClusterIP when the plan lists no service type, no display name", newTenant(), newPlan(), nil,
			map[string]string{"tenantry.dev/plan": "pro", "tenantry.dev/allowed-registries": "ghcr.io/acme/,registry.example.com/",
				"tenantry.dev/allowed-service-types": "ClusterIP", "tenantry.dev/display-name": ""}},
		{"service types of the plan", newTenant(), newPlan(withServiceTypes(v1alpha1.ServiceTypeClusterIP, v1alpha1.ServiceTypeLoadBalancer)),
			nil, map[string]string{"tenantry.dev/allowed-service-types": "ClusterIP,LoadBalancer"}},
		{"display name", newTenant(func(t *v1alpha1.Tenant) { t.Spec.DisplayName = "Acme Corp" }), newPlan(),
			nil, map[string]string{"tenantry.dev/display-name": "Acme Corp"}},
		{"tenant metadata merged", newTenant(func(t *v1alpha1.Tenant) {
			t.Spec.NamespaceMetadata.Labels = map[string]string{"team": "payments"}
			t.Spec.NamespaceMetadata.Annotations = map[string]string{"acme.com/cost-center": "42"}
		}), newPlan(), map[string]string{"team": "payments"}, map[string]string{"acme.com/cost-center": "42"}},
		{"platform keys win over tenant metadata", newTenant(func(t *v1alpha1.Tenant) {
			t.Spec.NamespaceMetadata.Labels = map[string]string{"tenantry.dev/tenant": "other", pss + "enforce": "privileged"}
			t.Spec.NamespaceMetadata.Annotations = map[string]string{"tenantry.dev/plan": "enterprise"}
		}), newPlan(), map[string]string{"tenantry.dev/tenant": "acme", pss + "enforce": "restricted"},
			map[string]string{"tenantry.dev/plan": "pro"}},
		{"defaults of a plan without storage, pool, external IPs or egress", newTenant(), newPlan(), nil,
			map[string]string{"tenantry.dev/allow-external-ips": "false", "tenantry.dev/internet-egress": "false",
				"tenantry.dev/storage-classes": "", "tenantry.dev/node-selector": "", "tenantry.dev/ingress-domains": "",
				"tenantry.dev/namespaces": "acme"}},
		{"plan guardrail data for the admission policies", newTenant(), newPlan(func(p *v1alpha1.TenantPlan) {
			p.Spec.AllowExternalIPs, p.Spec.AllowInternetEgress = true, true
			p.Spec.StorageClasses = []string{"standard", "fast"}
			p.Spec.NodeSelector = map[string]string{"pool": "gold", "zone": "a"}
		}), nil, map[string]string{"tenantry.dev/allow-external-ips": "true", "tenantry.dev/internet-egress": "true",
			"tenantry.dev/storage-classes": "standard,fast", "tenantry.dev/node-selector": "pool=gold,zone=a"}},
		{"the tenant's domains and every namespace of it", newTenant(withEnvironments("prod", "staging"), func(t *v1alpha1.Tenant) {
			t.Spec.Ingress.Domains = []string{"acme.example.com", "acme.io"}
		}), newPlan(), nil, map[string]string{"tenantry.dev/ingress-domains": "acme.example.com,acme.io",
			"tenantry.dev/namespaces": "acme-prod,acme-staging"}},
		{"a tenant label cannot pose as the ingress namespace's", newTenant(func(t *v1alpha1.Tenant) {
			t.Spec.NamespaceMetadata.Labels = map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"}
		}), newPlan(), map[string]string{"kubernetes.io/metadata.name": ""}, nil},
	}
	opts := DefaultOptions()
	opts.PodSecurityVersion = "v1.99"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := Namespace(tt.tenant, tt.plan, Environment{Name: "prod", Namespace: "acme-prod"}, opts)
			if ns.Name != "acme-prod" || ns.Namespace != "" {
				t.Errorf("namespace = %q/%q, want cluster-scoped acme-prod", ns.Namespace, ns.Name)
			}
			for k, v := range tt.wantLabels {
				if got := ns.Labels[k]; got != v {
					t.Errorf("label %s = %q, want %q", k, got, v)
				}
			}
			for k, v := range tt.wantAnnotations {
				// The policies' data is always written, empty or not.
				mustBeSet := strings.HasPrefix(k, "tenantry.dev/") && k != "tenantry.dev/display-name"
				if got, ok := ns.Annotations[k]; got != v || (v == "" && ok != mustBeSet) {
					t.Errorf("annotation %s = %q (set: %v), want %q", k, got, ok, v)
				}
			}
		})
	}
}

func TestResourceQuota(t *testing.T) {
	capped := map[corev1.ResourceName]string{"services.nodeports": "0", "services.loadbalancers": "0"}
	suspended := func(t *v1alpha1.Tenant) { t.Spec.Suspended = true }
	tests := []struct {
		name   string
		tenant *v1alpha1.Tenant
		plan   *v1alpha1.TenantPlan
		want   map[corev1.ResourceName]string
	}{
		{"plan values, node ports and load balancers capped at zero", newTenant(), newPlan(), overlay(planQuota, capped)},
		{"tenant override replaces the plan value", newTenant(withQuota("requests.cpu", "12")), newPlan(),
			overlay(planQuota, capped, map[corev1.ResourceName]string{"requests.cpu": "12"})},
		{"tenant override cannot lift the node port cap", newTenant(withQuota("services.nodeports", "10")), newPlan(),
			overlay(planQuota, capped)},
		{"NodePort allowed: node ports left to the plan", newTenant(),
			newPlan(withServiceTypes(v1alpha1.ServiceTypeClusterIP, v1alpha1.ServiceTypeNodePort), withPlanQuota("services.nodeports", "5")),
			overlay(planQuota, map[corev1.ResourceName]string{"services.nodeports": "5", "services.loadbalancers": "0"})},
		{"LoadBalancer allowed: neither capped", newTenant(),
			newPlan(withServiceTypes(v1alpha1.ServiceTypeLoadBalancer), withPlanQuota("services.loadbalancers", "2")),
			overlay(planQuota, map[corev1.ResourceName]string{"services.loadbalancers": "2"})},
		{"suspended: no pods, whatever the override", newTenant(withQuota("pods", "20"), suspended), newPlan(),
			overlay(planQuota, capped, map[corev1.ResourceName]string{"pods": "0"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := ResourceQuota(tt.tenant, tt.plan, "acme-prod")
			if q.Name != QuotaName || q.Namespace != "acme-prod" {
				t.Errorf("quota = %s/%s, want acme-prod/%s", q.Namespace, q.Name, QuotaName)
			}
			assertResources(t, "hard", q.Spec.Hard, tt.want)
		})
	}
}

func TestLimitRange(t *testing.T) {
	lr := LimitRange(newTenant(), newPlan(), "acme-prod")
	if lr.Name != LimitRangeName || lr.Namespace != "acme-prod" || len(lr.Spec.Limits) != 1 {
		t.Fatalf("limit range %s/%s with %d items, want acme-prod/%s with 1", lr.Namespace, lr.Name, len(lr.Spec.Limits), LimitRangeName)
	}
	item := lr.Spec.Limits[0]
	if item.Type != corev1.LimitTypeContainer {
		t.Errorf("type = %q, want Container", item.Type)
	}
	assertResources(t, "defaultRequest", item.DefaultRequest, map[corev1.ResourceName]string{"cpu": "100m", "memory": "128Mi"})
	assertResources(t, "default", item.Default, map[corev1.ResourceName]string{"cpu": "500m", "memory": "512Mi"})
	assertResources(t, "max", item.Max, map[corev1.ResourceName]string{"cpu": "2", "memory": "4Gi"})
}

func TestCheckPlan(t *testing.T) {
	oneEnv := newPlan(func(p *v1alpha1.TenantPlan) { p.Spec.MaxEnvironments = 0 })
	tests := []struct {
		name      string
		tenant    *v1alpha1.Tenant
		plan      *v1alpha1.TenantPlan
		wantField string // "" for no violation
	}{
		{"no environments, no overrides", newTenant(), newPlan(), ""},
		{"as many environments as the plan allows", newTenant(withEnvironments("dev", "staging", "prod")), newPlan(), ""},
		{"too many environments", newTenant(withEnvironments("dev", "qa", "staging", "prod")), newPlan(), "spec.environments"},
		{"maxEnvironments 0 allows one", newTenant(withEnvironments("prod")), oneEnv, ""},
		{"maxEnvironments 0 refuses two", newTenant(withEnvironments("prod", "staging")), oneEnv, "spec.environments"},
		{"override up to the ceiling", newTenant(withQuota("requests.cpu", "16")), newPlan(), ""},
		{"override above the ceiling", newTenant(withQuota("requests.cpu", "16500m")), newPlan(), "spec.quota.requests.cpu"},
		{"raise without ceiling", newTenant(withQuota("pods", "51")), newPlan(), "spec.quota.pods"},
		{"lower without ceiling", newTenant(withQuota("pods", "10")), newPlan(), ""},
		{"plan value restated without ceiling", newTenant(withQuota("pods", "50")), newPlan(), ""},
		{"extra cap the plan does not set", newTenant(withQuota("count/secrets", "10")), newPlan(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPlan(tt.tenant, tt.plan)
			// Tenant refuses exactly what CheckPlan refuses, rendering nothing.
			if objs, terr := Tenant(tt.tenant, tt.plan, DefaultOptions()); fmt.Sprint(terr) != fmt.Sprint(err) || (terr == nil) == (objs == nil) {
				t.Errorf("Tenant = %d objects, error %v; want error %v and objects only without one", len(objs), terr, err)
			}
			var v *PlanViolation
			switch {
			case tt.wantField == "" && err != nil:
				t.Errorf("CheckPlan = %v, want nil", err)
			case tt.wantField == "":
			case !errors.As(err, &v):
				t.Errorf("CheckPlan = %v, want a *PlanViolation on %s", err, tt.wantField)
			case v.Field != tt.wantField || v.Message == "" || !strings.HasPrefix(err.Error(), tt.wantField+": "):
				t.Errorf("violation %+v (%q), want field %s named in the error", v, err.Error(), tt.wantField)
			}
		})
	}
}

// A tenant label that the DNS namespace selector uses would let every
// tenant's pods send to the tenant's namespace on port 53.
func TestNamespaceCannotPoseAsDNS(t *testing.T) {
	opts := DefaultOptions()
	opts.DNS.NamespaceSelector = map[string]string{"dns": "cluster"}
	tenant := newTenant(func(t *v1alpha1.Tenant) {
		t.Spec.NamespaceMetadata.Labels = map[string]string{"dns": "cluster", "team": "payments"}
	})
	ns := Namespace(tenant, newPlan(), Environment{Name: "prod", Namespace: "acme-prod"}, opts)
	if _, ok := ns.Labels["dns"]; ok || ns.Labels["team"] != "payments" {
		t.Errorf("labels = %v, want team kept and dns dropped", ns.Labels)
	}
}
