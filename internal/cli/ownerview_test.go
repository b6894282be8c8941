package cli

import (
	"bytes"
	"time"

	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// tenantNamespace is a namespace as the operator labels and annotates it.
func tenantNamespace(name, tenant, env string, annotations map[string]string) corev1.Namespace {
	return corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Labels:      map[string]string{v1alpha1.LabelTenant: tenant, v1alpha1.LabelEnvironment: env},
		Annotations: annotations,
	}}
}

func quota(namespace, usedCPU, hardCPU string) corev1.ResourceQuota {
	return corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "tenantry-quota"},
		Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse(hardCPU)},
			Used: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse(usedCPU)},
		},
	}
}

func TestViewTenant(t *testing.T) {
	acme := map[string]string{
		v1alpha1.AnnotationPlan:           "pro",
		v1alpha1.AnnotationDisplayName:    "Acme Corp",
		v1alpha1.AnnotationNamespaces:     "acme-prod,acme-staging",
		v1alpha1.AnnotationIngressDomains: "acme.example.com,acme.io",
	}
	solo := map[string]string{v1alpha1.AnnotationPlan: "free", v1alpha1.AnnotationNamespaces: "solo"}
	tests := []struct {
		name       string
		tenant     string
		namespaces []corev1.Namespace
		quotas     []corev1.ResourceQuota
		want       v1alpha1.Tenant
	}{
		{name: "found from one environment, every sibling read", tenant: "acme",
			namespaces: []corev1.Namespace{tenantNamespace("acme-staging", "acme", "staging", acme), tenantNamespace("acme-prod", "acme", "prod", acme)},
			quotas:     []corev1.ResourceQuota{quota("acme-prod", "500m", "2"), quota("acme-staging", "1", "2")},
			want: v1alpha1.Tenant{
				Spec: v1alpha1.TenantSpec{Plan: "pro", DisplayName: "Acme Corp", Environments: []string{"prod", "staging"}},
				Status: v1alpha1.TenantStatus{
					Namespaces: []string{"acme-prod", "acme-staging"}, IngressDomains: []string{"acme.example.com", "acme.io"},
					Quota: &v1alpha1.QuotaStatus{
						Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("4")},
						Used: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("1500m")},
						CPU:  "1500m/4",
					},
				},
			}},
		{name: "a sibling not readable: listed, its environment unknown, no quota", tenant: "acme",
			namespaces: []corev1.Namespace{tenantNamespace("acme-staging", "acme", "staging", acme)},
			want: v1alpha1.Tenant{
				Spec: v1alpha1.TenantSpec{Plan: "pro", DisplayName: "Acme Corp", Environments: []string{"staging"}},
				Status: v1alpha1.TenantStatus{
					Namespaces: []string{"acme-prod", "acme-staging"}, IngressDomains: []string{"acme.example.com", "acme.io"},
				},
			}},
		{name: "a tenant without environments lives in the namespace of its name", tenant: "solo",
			namespaces: []corev1.Namespace{tenantNamespace("solo", "solo", "default", solo)},
			want: v1alpha1.Tenant{
				Spec:   v1alpha1.TenantSpec{Plan: "free"},
				Status: v1alpha1.TenantStatus{Namespaces: []string{"solo"}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := viewTenant(tt.tenant, tt.namespaces, tt.quotas)
			tt.want.Name, tt.want.APIVersion, tt.want.Kind = tt.tenant, v1alpha1.GroupVersion.String(), "Tenant"
			if !equalQuantities(got.Status.Quota, tt.want.Status.Quota) {
				t.Errorf("quota = %+v, want %+v", got.Status.Quota, tt.want.Status.Quota)
			}
			got.Status.Quota, tt.want.Status.Quota = nil, nil
			if !reflect.DeepEqual(got, &tt.want) {
				t.Errorf("viewTenant =\n%+v\nwant\n%+v", got, &tt.want)
			}
		})
	}
}

// equalQuantities compares quotas by value: a sum's Quantity keeps its
// own internal form.
func equalQuantities(a, b *v1alpha1.QuotaStatus) bool {
	if a == nil || b == nil {
		return a == b
	}
	same := func(x, y corev1.ResourceList) bool {
		if len(x) != len(y) {
			return false
		}
		for name, q := range x {
			if q.Cmp(y[name]) != 0 {
				return false
			}
		}
		return true
	}
	return same(a.Hard, b.Hard) && same(a.Used, b.Used) && a.CPU == b.CPU && a.Memory == b.Memory
}

func TestViewPlan(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        v1alpha1.TenantPlanSpec
	}{
		{name: "every fact set", annotations: map[string]string{
			v1alpha1.AnnotationPlan:                "enterprise",
			v1alpha1.AnnotationAllowedRegistries:   "ghcr.io/acme/,registry.example.com/",
			v1alpha1.AnnotationStorageClasses:      "standard,premium-ssd",
			v1alpha1.AnnotationAllowedServiceTypes: "ClusterIP,NodePort",
			v1alpha1.AnnotationAllowExternalIPs:    "true",
			v1alpha1.AnnotationInternetEgress:      "true",
			v1alpha1.AnnotationNodeSelector:        "pool=gold,zone=a",
		}, want: v1alpha1.TenantPlanSpec{
			AllowedRegistries:   []string{"ghcr.io/acme/", "registry.example.com/"},
			StorageClasses:      []string{"standard", "premium-ssd"},
			AllowedServiceTypes: []v1alpha1.ServiceType{v1alpha1.ServiceTypeClusterIP, "NodePort"},
			AllowExternalIPs:    true, AllowInternetEgress: true,
			NodeSelector: map[string]string{"pool": "gold", "zone": "a"},
		}},
		{name: "a plan that allows little", annotations: map[string]string{
			v1alpha1.AnnotationPlan:                "enterprise",
			v1alpha1.AnnotationAllowedRegistries:   "",
			v1alpha1.AnnotationStorageClasses:      "",
			v1alpha1.AnnotationAllowedServiceTypes: "ClusterIP",
			v1alpha1.AnnotationAllowExternalIPs:    "false",
			v1alpha1.AnnotationInternetEgress:      "false",
			v1alpha1.AnnotationNodeSelector:        "",
		}, want: v1alpha1.TenantPlanSpec{AllowedServiceTypes: []v1alpha1.ServiceType{v1alpha1.ServiceTypeClusterIP}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := tenantNamespace("acme-prod", "acme", "prod", tt.annotations)
			got := viewPlan(&ns)
			if got.Name != "enterprise" || !reflect.DeepEqual(got.Spec, tt.want) {
				t.Errorf("viewPlan = %s %+v, want enterprise %+v", got.Name, got.Spec, tt.want)
			}
		})
	}
}

// TestStatusFromNamespacesGolden: an owner's status page, from its
// namespaces: no phase or conditions, and whose each event is.
func TestStatusFromNamespacesGolden(t *testing.T) {
	annotations := map[string]string{
		v1alpha1.AnnotationPlan:           "pro",
		v1alpha1.AnnotationDisplayName:    "Acme Corp",
		v1alpha1.AnnotationNamespaces:     "acme-prod,acme-staging",
		v1alpha1.AnnotationIngressDomains: "acme.example.com",
	}
	tenant := viewTenant("acme", []corev1.Namespace{
		tenantNamespace("acme-prod", "acme", "prod", annotations), tenantNamespace("acme-staging", "acme", "staging", annotations),
	}, []corev1.ResourceQuota{quota("acme-prod", "500m", "2"), quota("acme-staging", "1", "2")})
	events := []corev1.Event{
		{Type: "Normal", Reason: "Scheduled", Message: "Successfully assigned acme-prod/web-1 to node-1", LastTimestamp: metav1.NewTime(now.Add(-3 * time.Minute)),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "acme-prod", Name: "web-1"}},
		{Type: "Warning", Reason: "FailedCreate", Message: "exceeded quota: tenantry-quota", LastTimestamp: metav1.NewTime(now.Add(-1 * time.Minute)),
			InvolvedObject: corev1.ObjectReference{Kind: "ReplicaSet", Namespace: "acme-staging", Name: "shop-7d9f"}},
	}
	var out bytes.Buffer
	writeStatus(&out, tenant, events, 10, now, true)
	golden(t, "status-owner.golden", out.Bytes())
}
