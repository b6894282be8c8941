// Package v1alpha1 holds Tenantry's API: Tenant, one customer of the platform,
// and TenantPlan, the tier that sets a tenant's quotas and guardrails.
//
// +kubebuilder:object:generate=true
// +groupName=tenantry.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of Tenantry's kinds.
	GroupVersion = schema.GroupVersion{Group: "tenantry.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this group version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
