package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SubjectKind is the kind of identity that owns a tenant.
// +kubebuilder:validation:Enum=User;Group;ServiceAccount
type SubjectKind string

// Subject kinds, as in RBAC.
const (
	SubjectUser           SubjectKind = "User"
	SubjectGroup          SubjectKind = "Group"
	SubjectServiceAccount SubjectKind = "ServiceAccount"
)

// OwnerRole is what an owner may do in the tenant's namespaces.
// +kubebuilder:validation:Enum=admin;developer;viewer
type OwnerRole string

// Owner roles, from most to least powerful.
const (
	// RoleAdmin runs the tenant: workloads, secrets, its own Roles,
	// RoleBindings and NetworkPolicies.
	RoleAdmin OwnerRole = "admin"
	// RoleDeveloper deploys and operates workloads.
	RoleDeveloper OwnerRole = "developer"
	// RoleViewer reads workloads, never secrets.
	RoleViewer OwnerRole = "viewer"
)

// Owner is an identity given a role in every namespace of the tenant.
// +kubebuilder:validation:XValidation:rule="self.kind == 'ServiceAccount' ? has(self.__namespace__) : !has(self.__namespace__)",message="spec.owners[].namespace: set it for kind ServiceAccount, and only for that kind"
type Owner struct {
	// Kind is User, Group or ServiceAccount.
	Kind SubjectKind `json:"kind"`

	// Name is the user, group or service account name, as the API server
	// authenticates it (e.g. "alice@acme.com", "acme-admins").
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Namespace is the service account's namespace (kind ServiceAccount only).
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Role is admin, developer or viewer.
	// +kubebuilder:default=admin
	// +optional
	Role OwnerRole `json:"role,omitempty"`
}

// NamespaceMetadata is extra metadata for the tenant's namespaces.
type NamespaceMetadata struct {
	// Labels are added to every namespace of the tenant. Keys under
	// tenantry.dev/ and pod-security.kubernetes.io/ are the platform's.
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('tenantry.dev/') && !k.startsWith('pod-security.kubernetes.io/') && k != 'app.kubernetes.io/managed-by' && k != 'kubernetes.io/metadata.name')",message="spec.namespaceMetadata.labels: keys under tenantry.dev/ and pod-security.kubernetes.io/, app.kubernetes.io/managed-by and kubernetes.io/metadata.name are set by the platform; choose another key"
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// Annotations are added to every namespace of the tenant. Keys under
	// tenantry.dev/ are the platform's.
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('tenantry.dev/') && !k.startsWith('pod-security.kubernetes.io/'))",message="spec.namespaceMetadata.annotations: keys under tenantry.dev/ and pod-security.kubernetes.io/ are set by the platform; choose another key"
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Ingress is the part of the cluster's ingress a tenant may serve.
type Ingress struct {
	// Domains are the DNS names the tenant's Ingresses and HTTPRoutes may
	// serve: each domain and every name under it (e.g. "acme.example.com"
	// covers "shop.acme.example.com" and "*.acme.example.com"). Two tenants
	// cannot claim the same or overlapping domains: the operator refuses the
	// later Tenant.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +listType=set
	// +optional
	Domains []string `json:"domains,omitempty"`
}

// App is one application of the tenant, which Argo CD deploys from Git (or
// a Helm repository) into one of the tenant's environments, confined by the
// tenant's AppProject.
// +kubebuilder:validation:XValidation:rule="has(self.path) != has(self.chart)",message="spec.apps[]: set path (a directory in a Git repository) or chart (a chart in a Helm repository), not both"
type App struct {
	// Name names the app; its Argo CD Application is <tenant>-<name>.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Environment is the environment the app deploys into: one of
	// spec.environments. Leave it empty for a tenant without environments.
	// +kubebuilder:validation:MaxLength=62
	// +optional
	Environment string `json:"environment,omitempty"`

	// RepoURL is the Git repository (https://, ssh or git://) or Helm
	// repository the app comes from. It is added to the tenant's AppProject.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	RepoURL string `json:"repoURL"`

	// Path is the directory in the Git repository holding the app's
	// manifests, Kustomization or Helm chart.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Path string `json:"path,omitempty"`

	// Chart is the chart's name in a Helm repository.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Chart string `json:"chart,omitempty"`

	// TargetRevision is the branch, tag or commit (or chart version) to
	// deploy. Default: HEAD (or the newest chart version).
	// +kubebuilder:validation:MaxLength=253
	// +optional
	TargetRevision string `json:"targetRevision,omitempty"`

	// Values are Helm values for a chart (from path or chart).
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Values *apiextensionsv1.JSON `json:"values,omitempty"`
}

// DeletionPolicy is what deleting a Tenant does to its namespaces.
// +kubebuilder:validation:Enum=Delete;Retain
type DeletionPolicy string

// Deletion policies.
const (
	// DeletionDelete removes the tenant's workloads, namespaces and access.
	DeletionDelete DeletionPolicy = "Delete"
	// DeletionRetain keeps the namespaces and their data, locked down and
	// labelled orphaned, and removes the owners' access.
	DeletionRetain DeletionPolicy = "Retain"
)

// TenantSpec is what a customer of the platform gets.
type TenantSpec struct {
	// Plan is the name of the TenantPlan that sets the tenant's quotas and guardrails.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Plan string `json:"plan"`

	// DisplayName is the customer's name as people read it, e.g. "Acme Corp".
	// +kubebuilder:validation:MaxLength=128
	// +optional
	DisplayName string `json:"displayName,omitempty"`

	// Owners are the identities given a role in every namespace of the tenant.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(o, self.exists_one(p, p.kind == o.kind && p.name == o.name && (!has(p.__namespace__) || p.__namespace__ == o.__namespace__)))",message="spec.owners: an identity is listed twice; list each owner once with its highest role"
	Owners []Owner `json:"owners"`

	// Environments are the tenant's stages, e.g. [prod, staging]; each gets
	// a namespace named <tenant>-<environment>. When empty, the tenant gets
	// one namespace named after itself.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=62
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self.all(e, self.exists_one(f, f == e))",message="spec.environments: each environment must be listed once"
	// +optional
	Environments []string `json:"environments,omitempty"`

	// Quota raises or lowers the plan's per-namespace quota for this tenant,
	// up to the plan's quotaCeiling.
	// +kubebuilder:validation:MaxProperties=32
	// +optional
	Quota corev1.ResourceList `json:"quota,omitempty"`

	// NamespaceMetadata adds labels and annotations to the tenant's namespaces.
	// +optional
	NamespaceMetadata NamespaceMetadata `json:"namespaceMetadata,omitempty"`

	// Ingress declares the domains the tenant may serve traffic for.
	// +optional
	Ingress Ingress `json:"ingress,omitempty"`

	// Suspended stops the tenant: no new pod can start in its namespaces,
	// and its Deployments and StatefulSets are scaled to zero and its
	// CronJobs suspended, each recording what it was, so that setting it
	// back to false restores them exactly.
	// +optional
	Suspended bool `json:"suspended,omitempty"`

	// Apps are the tenant's applications, each deployed by Argo CD into one
	// of its environments with automated sync, pruning and self-healing.
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	// +optional
	Apps []App `json:"apps,omitempty"`

	// SourceRepos are the repositories the tenant's Argo CD AppProject lets
	// its apps come from, besides each app's own repoURL and the plan's
	// sourceRepos; Argo CD patterns ("https://git.example.com/acme/*").
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=512
	// +listType=set
	// +optional
	SourceRepos []string `json:"sourceRepos,omitempty"`

	// Analysis overrides, field by field, the plan's analysis defaults for
	// the tenant's apps: where their canary analysis finds the metrics, and
	// the credentials it sends.
	// +optional
	Analysis *AnalysisDefaults `json:"analysis,omitempty"`

	// RevertOnAbort makes the operator commit, when an app's Argo Rollout
	// aborts, a revert of the Git commit that deployed the bad version, so
	// Git again describes what runs. Only the newest commit that changed the
	// app's path is reverted, and only when that commit changed nothing
	// else and was in the revision that failed; see
	// docs/progressive-delivery.md.
	// +optional
	RevertOnAbort bool `json:"revertOnAbort,omitempty"`

	// DeletionPolicy is what deleting the Tenant does: Delete (default)
	// removes its workloads, namespaces and access; Retain keeps the
	// namespaces and their data, still locked down, labelled
	// tenantry.dev/orphaned=true, and removes the owners' access.
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// Placement chooses the member cluster of a fleet the tenant runs on.
	// Only a fleet's hub reads it; a member or a single cluster ignores it.
	// +optional
	Placement *Placement `json:"placement,omitempty"`
}

// Placement chooses the member cluster of a fleet a tenant runs on.
type Placement struct {
	// Cluster pins the tenant to the member cluster of that name (its name
	// in Argo CD). A pin overrides the selectors and the clusters'
	// capacity. Set on a placed tenant, it moves the tenant: the tenant
	// runs on both clusters until it is Ready on the new one, then leaves
	// the old (docs/fleet.md); data in volumes does not move.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$`
	// +optional
	Cluster string `json:"cluster,omitempty"`

	// ClusterSelector admits the member clusters whose labels (those of
	// their Argo CD cluster Secrets) match, on top of the plan's selector.
	// The hub places a new tenant on the least full of them; a placed
	// tenant stays where it is when labels change.
	// +optional
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`
}

// Phase summarises where a tenant is in its life.
// +kubebuilder:validation:Enum=Pending;Ready;Suspended;Terminating;Failed
type Phase string

// Tenant phases.
const (
	PhasePending     Phase = "Pending"
	PhaseReady       Phase = "Ready"
	PhaseSuspended   Phase = "Suspended"
	PhaseTerminating Phase = "Terminating"
	PhaseFailed      Phase = "Failed"
)

// Condition types on a Tenant.
const (
	// ConditionReady is true when the tenant can run workloads with every guardrail in force.
	ConditionReady = "Ready"
	// ConditionNamespacesReady is true when every namespace of the tenant exists and is active.
	ConditionNamespacesReady = "NamespacesReady"
	// ConditionGuardrailsReady is true when quotas, limits, network policies
	// and RBAC are applied and the quota is being enforced.
	ConditionGuardrailsReady = "GuardrailsReady"
	// ConditionSuspended is true while the tenant is suspended and its
	// workloads are scaled down.
	ConditionSuspended = "Suspended"
	// ConditionGitOpsReady is true when the tenant's Argo CD AppProject is in
	// place and every app in spec.apps is synced from Git and healthy.
	ConditionGitOpsReady = "GitOpsReady"
	// ConditionQuotaExceeded is true when a namespace uses more than its
	// quota allows (after a plan downgrade): nothing is evicted, but nothing
	// new of that resource is admitted until usage drops.
	ConditionQuotaExceeded = "QuotaExceeded"
	// ConditionPlaced is true when a fleet's hub placed the tenant on a
	// member cluster it can reach, and false, with the reason and the fix,
	// when it could not place it or cannot reach its cluster. Set on the
	// hub only.
	ConditionPlaced = "Placed"
	// ConditionGitWriteReady is false when the operator's last Git write for
	// the tenant (a revert on abort, spec.revertOnAbort) failed for want of
	// working credentials, and true once a write was pushed. It is absent
	// until the operator first writes, and while spec.revertOnAbort is off.
	ConditionGitWriteReady = "GitWriteReady"
)

// TenantStatus is what the operator observed and did.
type TenantStatus struct {
	// Phase is Pending, Ready, Suspended, Terminating or Failed.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// ObservedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions are Ready, NamespacesReady, GuardrailsReady, GitOpsReady,
	// GitWriteReady, Suspended and QuotaExceeded; on a fleet's hub, Placed.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Namespaces are the tenant's namespaces, so its users can find them
	// without the right to list namespaces.
	// +listType=set
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`

	// Plan is the plan whose quotas and guardrails are in force.
	// +optional
	Plan string `json:"plan,omitempty"`

	// Quota is the tenant's quota use across all its namespaces.
	// +optional
	Quota *QuotaStatus `json:"quota,omitempty"`

	// Environments lists environments removed from the spec whose
	// namespace is kept because it still runs workloads, until the removal
	// is confirmed with the annotation tenantry.dev/confirm-delete=<env>.
	// +listType=set
	// +optional
	RetainedEnvironments []string `json:"retainedEnvironments,omitempty"`

	// IngressDomains are the domains in force on the tenant's namespaces,
	// which the admission policies admit Ingress hosts under. A tenant keeps
	// a domain it holds: a tenant asking for an overlapping one is refused.
	// +listType=set
	// +optional
	IngressDomains []string `json:"ingressDomains,omitempty"`

	// ReadyAt is when the tenant first became Ready.
	// +optional
	ReadyAt *metav1.Time `json:"readyAt,omitempty"`

	// OnboardingDuration is the time from creation to first Ready.
	// +optional
	OnboardingDuration *metav1.Duration `json:"onboardingDuration,omitempty"`

	// Apps is what Argo CD reports for each app in spec.apps.
	// +listType=map
	// +listMapKey=name
	// +optional
	Apps []AppStatus `json:"apps,omitempty"`

	// AppsReady is "synced and healthy/all" apps, for kubectl get.
	// +optional
	AppsReady string `json:"appsReady,omitempty"`

	// Placement is where a fleet's hub placed the tenant (on the hub only).
	// +optional
	Placement *PlacementStatus `json:"placement,omitempty"`
}

// AppStatus is the state of one app as its Argo CD Application reports it.
type AppStatus struct {
	// Name is the app's name in spec.apps.
	Name string `json:"name"`
	// Application is the Argo CD Application that deploys it, in the Argo CD namespace.
	Application string `json:"application"`
	// Namespace is the tenant namespace it deploys into.
	Namespace string `json:"namespace"`
	// Sync is Argo CD's sync status: Synced, OutOfSync or Unknown.
	// +optional
	Sync string `json:"sync,omitempty"`
	// Health is Argo CD's health status: Healthy, Progressing, Degraded,
	// Suspended, Missing or Unknown.
	// +optional
	Health string `json:"health,omitempty"`
	// Revision is the Git commit (or chart version) last synced.
	// +optional
	Revision string `json:"revision,omitempty"`
	// Message is what went wrong in the last sync, or an Argo CD condition
	// such as a refused destination or kind.
	// +optional
	Message string `json:"message,omitempty"`
	// Rollout is the release state of the app's Argo Rollout, when it has one.
	// +optional
	Rollout *AppRollout `json:"rollout,omitempty"`
}

// AnalysisDefaults are what every app's canary analysis inherits, set once
// for a plan or a tenant: the operator writes them into a Secret named
// tenantry-analysis in each tenant namespace, which charts/tenant-app's
// AnalysisTemplates read their arguments from, and which holds the
// tenant's own metrics credential.
type AnalysisDefaults struct {
	// PrometheusAddress is the Prometheus-compatible query endpoint
	// (Prometheus, Thanos, Mimir) the analysis queries, e.g.
	// http://prometheus.monitoring:9090. Empty, where the platform runs the
	// metrics gateway, means the gateway: the operator then mints each
	// tenant namespace a credential of its own, with which queries see the
	// tenant's series only (docs/observability.md, "Tenant metrics access").
	// Queries are also scoped to the tenant by its label and the
	// X-Scope-OrgID header, for backends that separate tenants by those.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +optional
	PrometheusAddress string `json:"prometheusAddress,omitempty"`

	// CredentialsSecret names a Secret in the platform's namespace (the
	// operator's, e.g. tenantry-system) whose key "authorization" is the
	// Authorization header the analysis sends (e.g. "Bearer <token>"), for a
	// backend outside the cluster that scopes queries by its own
	// credentials. The operator copies it into the tenant's namespaces,
	// where the tenant's admins can read it, so it must be this tenant's
	// alone: a TenantPlan may not set it (its tenants would share it). Leave
	// it empty to use the metrics gateway's per-tenant credentials.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	CredentialsSecret string `json:"credentialsSecret,omitempty"`
}

// RolloutPhase is where an app's Argo Rollout is in its release.
// +kubebuilder:validation:Enum=Progressing;Paused;Healthy;Degraded;Aborted
type RolloutPhase string

// Rollout phases: Argo Rollouts' own, plus Aborted for a release its
// analysis (or a person) stopped, which Argo Rollouts reports as Degraded.
const (
	RolloutProgressing RolloutPhase = "Progressing"
	RolloutPaused      RolloutPhase = "Paused"
	RolloutHealthy     RolloutPhase = "Healthy"
	RolloutDegraded    RolloutPhase = "Degraded"
	RolloutAborted     RolloutPhase = "Aborted"
)

// RolloutPhases lists every rollout phase, for metrics.
var RolloutPhases = []RolloutPhase{RolloutProgressing, RolloutPaused, RolloutHealthy, RolloutDegraded, RolloutAborted}

// AppRollout is the release state of an app's Argo Rollout.
type AppRollout struct {
	// Name is the Rollout's name in the app's namespace.
	Name string `json:"name"`
	// Strategy is canary or blueGreen.
	// +optional
	Strategy string `json:"strategy,omitempty"`
	// Phase is Progressing, Paused, Healthy, Degraded or Aborted.
	// +optional
	Phase RolloutPhase `json:"phase,omitempty"`
	// Step is the canary step the release is at, "3/6".
	// +optional
	Step string `json:"step,omitempty"`
	// Weight is the share of the app's replicas, in percent, the new
	// version is meant to have at this step (100 when released, 0 when
	// aborted).
	// +optional
	Weight int32 `json:"weight,omitempty"`
	// Image is the image of the version being released (or running).
	// +optional
	Image string `json:"image,omitempty"`
	// Analysis is the outcome of the release's latest analysis, e.g.
	// "Failed: Metric "success-rate" assessed Failed ...".
	// +optional
	Analysis string `json:"analysis,omitempty"`
	// AnalysisRun is that analysis's AnalysisRun in the app's namespace.
	// +optional
	AnalysisRun string `json:"analysisRun,omitempty"`
	// Message is Argo Rollouts' explanation, e.g. why the release aborted.
	// +optional
	Message string `json:"message,omitempty"`
	// Released is the Git revision the app was last released from in full,
	// which a revert on abort never goes behind.
	// +optional
	Released string `json:"released,omitempty"`
	// AbortedAt is when the release aborted.
	// +optional
	AbortedAt *metav1.Time `json:"abortedAt,omitempty"`
	// Revert is what the operator did in Git after the latest aborted
	// release, with spec.revertOnAbort.
	// +optional
	Revert *RolloutRevert `json:"revert,omitempty"`
}

// RolloutRevert records the Git revert of a release that aborted.
type RolloutRevert struct {
	// AbortedAt identifies the abort this answers: each is handled once.
	// +optional
	AbortedAt *metav1.Time `json:"abortedAt,omitempty"`
	// Revision is the synced Git revision whose release aborted.
	Revision string `json:"revision"`
	// Reverted is the commit undone: the newest that changed the app's path.
	// +optional
	Reverted string `json:"reverted,omitempty"`
	// Commit is the revert commit pushed to the app's branch.
	// +optional
	Commit string `json:"commit,omitempty"`
	// Message says what was reverted, or why nothing was.
	// +optional
	Message string `json:"message,omitempty"`
}

// PlacementStatus is where a fleet's hub placed a tenant.
type PlacementStatus struct {
	// Cluster is the member cluster the tenant runs on.
	// +optional
	Cluster string `json:"cluster,omitempty"`
	// MovingTo is the member cluster the tenant is moving to; it runs on
	// both until it is healthy there.
	// +optional
	MovingTo string `json:"movingTo,omitempty"`
	// PlacedAt is when the tenant was placed on Cluster.
	// +optional
	PlacedAt *metav1.Time `json:"placedAt,omitempty"`
}

// QuotaStatus is quota use summed over the tenant's namespaces.
type QuotaStatus struct {
	// Hard is the tenant-wide limit of each resource: the plan's
	// tenantQuota, or else the sum of the namespaces' quotas.
	// +optional
	Hard corev1.ResourceList `json:"hard,omitempty"`
	// Used is what the tenant's namespaces use together.
	// +optional
	Used corev1.ResourceList `json:"used,omitempty"`
	// CPU is "used/hard" CPU requests, for kubectl get.
	// +optional
	CPU string `json:"cpu,omitempty"`
	// Memory is "used/hard" memory requests, for kubectl get.
	// +optional
	Memory string `json:"memory,omitempty"`
}

// Tenant is one customer of the platform: its namespaces, quotas, network
// isolation and owners' access, all derived from this object and its plan.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=tnt,categories=tenantry
// +kubebuilder:printcolumn:name="Plan",type=string,JSONPath=`.spec.plan`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Namespaces",type=string,JSONPath=`.status.namespaces`
// +kubebuilder:printcolumn:name="CPU",type=string,JSONPath=`.status.quota.cpu`,description="CPU requests used/hard across the tenant's namespaces"
// +kubebuilder:printcolumn:name="Memory",type=string,JSONPath=`.status.quota.memory`,description="memory requests used/hard across the tenant's namespaces"
// +kubebuilder:printcolumn:name="Apps",type=string,JSONPath=`.status.appsReady`,description="apps synced from Git and healthy / apps"
// +kubebuilder:printcolumn:name="Onboarding",type=string,JSONPath=`.status.onboardingDuration`,priority=1
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.status.placement.cluster`,priority=1,description="the member cluster a fleet's hub placed the tenant on"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 63",message="metadata.name: a tenant name must be a DNS label (lower-case letters, digits and '-', starting with a letter) of at most 63 characters, as it names namespaces"
// +kubebuilder:validation:XValidation:rule="!(self.metadata.name in ['default', 'kube', 'tenantry', 'argocd']) && !self.metadata.name.startsWith('kube-') && !self.metadata.name.startsWith('openshift')",message="metadata.name: default, kube, kube-*, tenantry and argocd are reserved for the cluster and the platform; choose another tenant name"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.apps) || self.spec.apps.all(a, has(self.spec.environments) && size(self.spec.environments) > 0 ? (has(a.environment) && a.environment in self.spec.environments) : !has(a.environment))",message="spec.apps[].environment: name one of spec.environments (leave it out when the tenant has no environments)",fieldPath=.spec.apps
// +kubebuilder:validation:XValidation:rule="!has(self.spec.environments) || self.spec.environments.all(e, size(self.metadata.name) + size(e) < 63)",message="spec.environments: <tenant>-<environment> must fit a 63-character namespace name; shorten the tenant name or the environment",fieldPath=.spec.environments
type Tenant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the tenant as its provider declares it.
	Spec TenantSpec `json:"spec"`
	// Status is what the operator observed.
	// +optional
	Status TenantStatus `json:"status,omitempty"`
}

// TenantList is a list of Tenants.
// +kubebuilder:object:root=true
type TenantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Tenant `json:"items"`
}
