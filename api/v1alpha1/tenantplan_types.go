package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceType is a Kubernetes Service type a plan may allow.
// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer;ExternalName
type ServiceType string

// Service types a plan may allow.
const (
	ServiceTypeClusterIP    ServiceType = "ClusterIP"
	ServiceTypeNodePort     ServiceType = "NodePort"
	ServiceTypeLoadBalancer ServiceType = "LoadBalancer"
	ServiceTypeExternalName ServiceType = "ExternalName"
)

// TenantPlanSpec is a tier of service: what each namespace of a tenant on
// this plan may use, and which guardrails apply to it.
// +kubebuilder:validation:XValidation:rule="!has(self.prices) || !has(self.prices.storageGiBMonth) || 'requests.storage' in self.quota",message="spec.prices.storageGiBMonth: storage is billed on the quota's requests.storage, which spec.quota does not cap; add requests.storage to spec.quota or remove the price"
type TenantPlanSpec struct {
	// DisplayName is the plan's name as customers see it, e.g. "Pro".
	// +kubebuilder:validation:MaxLength=63
	// +optional
	DisplayName string `json:"displayName,omitempty"`

	// Quota is the ResourceQuota `hard` of each tenant namespace: compute
	// (requests.cpu, limits.memory, requests.ephemeral-storage…) and object
	// counts (pods, services, secrets…). Values are Kubernetes quantities.
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory', 'pods'].all(k, k in self)",message="spec.quota: must cap requests.cpu, requests.memory, limits.cpu, limits.memory and pods, so no tenant namespace is unbounded"
	Quota corev1.ResourceList `json:"quota"`

	// TenantQuota caps what all of a tenant's namespaces use together (e.g.
	// requests.cpu: 8 for prod and staging combined), on top of Quota per
	// namespace. The operator splits the free part of it between the
	// namespaces' ResourceQuotas as usage moves, so the API server enforces
	// the total (docs/lifecycle.md explains the trade-off).
	// +kubebuilder:validation:MaxProperties=16
	// +optional
	TenantQuota corev1.ResourceList `json:"tenantQuota,omitempty"`

	// QuotaCeiling is the most a tenant on this plan may raise each quota
	// value to with spec.quota on its Tenant. A resource absent here cannot
	// be raised at all; a ceiling below the plan's own value raises nothing.
	// +kubebuilder:validation:MaxProperties=32
	// +optional
	QuotaCeiling corev1.ResourceList `json:"quotaCeiling,omitempty"`

	// Limits are the per-container defaults and bounds of the LimitRange in
	// each tenant namespace, so pods without requests still fit the quota.
	// +optional
	Limits ContainerLimits `json:"limits,omitempty"`

	// MaxEnvironments is how many environments (namespaces) a tenant may have.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=32
	// +kubebuilder:default=1
	// +optional
	MaxEnvironments int32 `json:"maxEnvironments,omitempty"`

	// AllowedServiceTypes are the Service types tenants may create.
	// +kubebuilder:validation:MaxItems=4
	// +listType=set
	// +kubebuilder:default={ClusterIP}
	// +optional
	AllowedServiceTypes []ServiceType `json:"allowedServiceTypes,omitempty"`

	// AllowedRegistries are the image prefixes tenants may pull from, each a
	// registry host, optionally with a path, ending in "/", e.g.
	// "ghcr.io/acme/". Empty means no registry: tenants on the plan can run
	// no image until one is listed, so a forgotten field never opens the
	// cluster. "*", alone, allows every registry: say so on purpose.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^(\*|[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]+)?/([-a-z0-9._/]*/)?)$`
	// +kubebuilder:validation:XValidation:rule="!('*' in self) || size(self) == 1",message="spec.allowedRegistries: \"*\" allows every registry and cannot be combined with others; list registry prefixes, or \"*\" alone"
	// +listType=set
	// +optional
	AllowedRegistries []string `json:"allowedRegistries,omitempty"`

	// AllowExternalIPs lets tenants set spec.externalIPs on Services, which
	// makes nodes accept traffic for those addresses (CVE-2020-8554): allow
	// it only for tenants the provider trusts with the cluster's network.
	// +optional
	AllowExternalIPs bool `json:"allowExternalIPs,omitempty"`

	// AllowInternetEgress lets tenant pods reach addresses outside the
	// cluster's private ranges, and lets tenants write NetworkPolicies with
	// ipBlock egress. Traffic to other tenants stays denied.
	// +optional
	AllowInternetEgress bool `json:"allowInternetEgress,omitempty"`

	// StorageClasses are the StorageClasses tenants' PersistentVolumeClaims
	// may use. Empty means tenants on this plan cannot claim storage.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +listType=set
	// +optional
	StorageClasses []string `json:"storageClasses,omitempty"`

	// SourceRepos are repositories every tenant on this plan may deploy apps
	// from (e.g. the provider's shared chart repository), added to each
	// tenant's Argo CD AppProject; Argo CD patterns.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=512
	// +listType=set
	// +optional
	SourceRepos []string `json:"sourceRepos,omitempty"`

	// Analysis are the defaults every app of the plan's tenants inherits
	// for its canary analysis: where the metrics are. A Tenant's
	// spec.analysis overrides them field by field. A plan sets no
	// credentials: each tenant gets its own (AnalysisDefaults).
	// +kubebuilder:validation:XValidation:rule="!has(self.credentialsSecret)",message="spec.analysis.credentialsSecret: a plan's credential would be shared by every tenant on it, letting each read the others' metrics; remove it (tenants then get their own credential from the metrics gateway) or set it on each Tenant's spec.analysis"
	// +optional
	Analysis *AnalysisDefaults `json:"analysis,omitempty"`

	// NodeSelector is the node pool of tenants on this plan: their pods must
	// select nodes with these labels (spec.nodeSelector), so they cannot run
	// beside other plans' tenants. Empty means any worker node.
	// +kubebuilder:validation:MaxProperties=4
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.contains(',') && !k.contains('=') && !self[k].contains(','))",message="spec.nodeSelector: keys and values cannot hold ',' or '='; use plain node label keys and values"
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// ClusterSelector admits, in a fleet, the member clusters tenants on
	// this plan may be placed on (by the labels of their Argo CD cluster
	// Secrets), e.g. a tier of dedicated clusters. A tenant's own selector
	// narrows it further. Only a fleet's hub reads it.
	// +optional
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`

	// Prices override the platform's PriceList for this plan's tenants,
	// price by price (a committed tier billed on its quota, a premium
	// tier's dearer CPU). A change applies from when the operator sees it:
	// cost already accrued keeps the prices it accrued at.
	// +optional
	Prices *PlanPrices `json:"prices,omitempty"`
}

// ContainerLimits are the LimitRange values for each container.
// +kubebuilder:validation:XValidation:rule="!has(self.defaultRequest) || !has(self.max) || self.defaultRequest.all(k, !(k in self.max) || quantity(string(self.defaultRequest[k])).compareTo(quantity(string(self.max[k]))) <= 0)",message="spec.limits.defaultRequest: a value is above spec.limits.max; lower it or raise the max"
// +kubebuilder:validation:XValidation:rule="!has(self.default) || !has(self.max) || self.default.all(k, !(k in self.max) || quantity(string(self.default[k])).compareTo(quantity(string(self.max[k]))) <= 0)",message="spec.limits.default: a value is above spec.limits.max; lower it or raise the max"
type ContainerLimits struct {
	// DefaultRequest is the request given to a container that sets none.
	// +kubebuilder:validation:MaxProperties=3
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['cpu', 'memory', 'ephemeral-storage'])",message="spec.limits.defaultRequest: only cpu, memory and ephemeral-storage can be set"
	// +optional
	DefaultRequest corev1.ResourceList `json:"defaultRequest,omitempty"`

	// Default is the limit given to a container that sets none.
	// +kubebuilder:validation:MaxProperties=3
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['cpu', 'memory', 'ephemeral-storage'])",message="spec.limits.default: only cpu, memory and ephemeral-storage can be set"
	// +optional
	Default corev1.ResourceList `json:"default,omitempty"`

	// Max is the most a single container may request or be limited to.
	// +kubebuilder:validation:MaxProperties=3
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['cpu', 'memory', 'ephemeral-storage'])",message="spec.limits.max: only cpu, memory and ephemeral-storage can be set"
	// +optional
	Max corev1.ResourceList `json:"max,omitempty"`
}

// TenantPlan is a tier (free, pro, enterprise…): the quotas, limits and
// guardrails every tenant on it gets.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=plan;plans,categories=tenantry
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Max Envs",type=integer,JSONPath=`.spec.maxEnvironments`
// +kubebuilder:printcolumn:name="Egress",type=boolean,JSONPath=`.spec.allowInternetEgress`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TenantPlan struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the plan's quotas and guardrails.
	Spec TenantPlanSpec `json:"spec"`
}

// TenantPlanList is a list of TenantPlans.
// +kubebuilder:object:root=true
type TenantPlanList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TenantPlan `json:"items"`
}
