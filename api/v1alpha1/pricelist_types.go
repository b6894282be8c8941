package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PriceListName is the name of the one PriceList the platform reads.
const PriceListName = "default"

// PriceList is the platform's rate card for cost showback: what a vCPU-hour,
// a GiB-hour of memory, a GiB-month of storage and the fixed fees cost, in
// one currency. Plans override any price with spec.prices. There is one,
// named "default"; without it the operator exports no cost figures.
// docs/cost.md has every formula.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=tenantry
// +kubebuilder:printcolumn:name="Currency",type=string,JSONPath=`.spec.currency`
// +kubebuilder:printcolumn:name="CPU/h",type=string,JSONPath=`.spec.prices.cpuCoreHour`
// +kubebuilder:printcolumn:name="GiB/h",type=string,JSONPath=`.spec.prices.memoryGiBHour`
// +kubebuilder:printcolumn:name="Storage GiB/mo",type=string,JSONPath=`.spec.prices.storageGiBMonth`
// +kubebuilder:printcolumn:name="Basis",type=string,JSONPath=`.spec.basis`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name == 'default'",message="metadata.name: the platform reads one PriceList, named \"default\"; rename this one"
type PriceList struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the rate card.
	Spec PriceListSpec `json:"spec"`
}

// PriceListSpec is the platform's rate card.
type PriceListSpec struct {
	// Currency is the ISO 4217 code every price is in, e.g. USD or EUR.
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Z]{3}$')",message="spec.currency: want an ISO 4217 code of three capital letters, such as USD or EUR"
	Currency string `json:"currency"`

	// Prices are the platform's prices, which plans may override one by
	// one. A price left out is zero.
	// +optional
	Prices Prices `json:"prices,omitempty"`

	// Basis is what a tenant's CPU, memory and storage are billed on:
	// Requests (the default), what its pods request, or Quota, what its
	// ResourceQuotas hold for it (committed plans). Either way a
	// namespace using more CPU or memory than it reserves is billed its
	// use. Plans may override it.
	// +kubebuilder:default=Requests
	// +optional
	Basis CostBasis `json:"basis,omitempty"`

	// SharedNamespaces run the platform for every tenant (the operator,
	// Argo CD, monitoring, ingress). What their pods use, at these prices,
	// plus PlatformMonth, is split between the tenants in proportion to
	// their own cost.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=set
	// +optional
	SharedNamespaces []string `json:"sharedNamespaces,omitempty"`

	// PlatformMonth is a fixed platform cost per month (the control plane,
	// licences, people) split between the tenants as SharedNamespaces' is.
	// +optional
	PlatformMonth *Price `json:"platformMonth,omitempty"`
}

// Prices are unit prices in the PriceList's currency. Each is a decimal
// number, such as "0.0316".
type Prices struct {
	// CPUCoreHour is the price of one CPU core (vCPU) for an hour.
	// +optional
	CPUCoreHour *Price `json:"cpuCoreHour,omitempty"`
	// MemoryGiBHour is the price of one GiB of memory for an hour.
	// +optional
	MemoryGiBHour *Price `json:"memoryGiBHour,omitempty"`
	// StorageGiBMonth is the price of one GiB of persistent storage
	// (requests.storage of the tenant's PersistentVolumeClaims) for a
	// month of 730 hours. Storage is billed while a tenant is suspended.
	// +optional
	StorageGiBMonth *Price `json:"storageGiBMonth,omitempty"`
	// TenantMonth is a fixed fee per tenant per month of 730 hours.
	// +optional
	TenantMonth *Price `json:"tenantMonth,omitempty"`
	// EnvironmentMonth is a fixed fee per environment (namespace) per
	// month of 730 hours.
	// +optional
	EnvironmentMonth *Price `json:"environmentMonth,omitempty"`
}

// Price is a non-negative decimal amount of money, such as "0.0316".
// +kubebuilder:validation:MaxLength=16
// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{1,9}([.][0-9]{1,6})?$')",message="want a decimal amount such as 0.0316: digits, optionally a point and up to 6 decimals, no sign, unit or currency"
type Price string

// CostBasis is what CPU, memory and storage are billed on.
// +kubebuilder:validation:Enum=Requests;Quota
type CostBasis string

// The cost bases.
const (
	// BasisRequests bills what the pods request (the quota's used
	// requests.*), or what they use where that is more.
	BasisRequests CostBasis = "Requests"
	// BasisQuota bills what the quota holds (its hard requests.*), or
	// what the pods use where that is more: a committed plan.
	BasisQuota CostBasis = "Quota"
)

// PlanPrices override the PriceList for the tenants of one plan.
type PlanPrices struct {
	Prices `json:",inline"`
	// Basis overrides the PriceList's basis.
	// +optional
	Basis CostBasis `json:"basis,omitempty"`
}

// PriceListList is a list of PriceLists.
// +kubebuilder:object:root=true
type PriceListList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PriceList `json:"items"`
}
