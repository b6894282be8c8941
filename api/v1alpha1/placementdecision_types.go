package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PlacementDecision lists the tenants a fleet's hub placed on one member
// cluster, in the shape Argo CD's ApplicationSet reads with its
// clusterDecisionResource generator: a list in status, one entry per
// tenant, each naming the cluster. Every value is a string, as the
// generator requires. The hub's operator writes it (one per member,
// named after it, in Argo CD's namespace); nobody else should.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=tenantry
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.metadata.labels.tenantry\.dev/member`
// +kubebuilder:printcolumn:name="Tenants",type=integer,JSONPath=`.status.tenants`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PlacementDecision struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Status is the decisions.
	// +optional
	Status PlacementDecisionStatus `json:"status,omitempty"`
}

// PlacementDecisionStatus is the tenants placed on one member cluster.
type PlacementDecisionStatus struct {
	// Decisions has one entry per tenant on the cluster, in tenant order;
	// a tenant that is moving is in two PlacementDecisions.
	// +listType=map
	// +listMapKey=tenant
	// +optional
	Decisions []ClusterDecision `json:"decisions,omitempty"`

	// Tenants is the number of decisions, for kubectl get.
	// +optional
	Tenants int32 `json:"tenants,omitempty"`
}

// ClusterDecision places one tenant on one cluster.
type ClusterDecision struct {
	// ClusterName is the member cluster's name in Argo CD.
	ClusterName string `json:"clusterName"`
	// Tenant is the tenant's name.
	Tenant string `json:"tenant"`
}

// PlacementDecisionList is a list of PlacementDecisions.
// +kubebuilder:object:root=true
type PlacementDecisionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PlacementDecision `json:"items"`
}
