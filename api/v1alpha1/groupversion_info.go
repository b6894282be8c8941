// Package v1alpha1 holds Tenantry's API: Tenant, one customer of the platform;
// TenantPlan, the tier that sets a tenant's quotas and guardrails; and, on a
// fleet's hub, PlacementDecision, the tenants placed on one member cluster;
// and PriceList, the rate card of cost showback.
//
// +kubebuilder:object:generate=true
// +groupName=tenantry.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of Tenantry's kinds.
	GroupVersion = schema.GroupVersion{Group: "tenantry.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds with a runtime.Scheme. It depends on
	// apimachinery only, so the API stays cheap to import.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this group version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Tenant{}, &TenantList{}, &TenantPlan{}, &TenantPlanList{}, &PlacementDecision{}, &PlacementDecisionList{},
		&PriceList{}, &PriceListList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
