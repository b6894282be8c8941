package v1alpha1

// Keys of the labels, annotations and finalizers Tenantry writes. Every other
// package refers to these constants, so a search for one finds all its uses.
const (
	// LabelManagedBy marks every object the platform manages; its value is ManagedByValue.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on Tenantry's objects.
	ManagedByValue = "tenantry"

	// LabelTenant names the Tenant an object belongs to.
	LabelTenant = "tenantry.dev/tenant"
	// LabelEnvironment names the tenant environment a namespace serves.
	LabelEnvironment = "tenantry.dev/environment"

	// LabelPSSEnforce and its siblings are the Pod Security admission labels.
	LabelPSSEnforce        = "pod-security.kubernetes.io/enforce"
	LabelPSSEnforceVersion = "pod-security.kubernetes.io/enforce-version"
	LabelPSSAudit          = "pod-security.kubernetes.io/audit"
	LabelPSSAuditVersion   = "pod-security.kubernetes.io/audit-version"
	LabelPSSWarn           = "pod-security.kubernetes.io/warn"
	LabelPSSWarnVersion    = "pod-security.kubernetes.io/warn-version"

	// LabelMember, on an Argo CD cluster Secret in a fleet's hub, makes
	// the cluster a member tenants may be placed on; its value is the
	// cluster's name in Argo CD. The Secret's other labels are what
	// placement selectors match.
	LabelMember = "tenantry.dev/member"
	// AnnotationMaxTenants, on a member's cluster Secret, is how many
	// tenants the member takes (none: no limit).
	AnnotationMaxTenants = "tenantry.dev/max-tenants"
	// AnnotationMaxRequestsCPU and AnnotationMaxRequestsMemory, on a
	// member's cluster Secret, bound the sum of its tenants' quota
	// requests.cpu and requests.memory (none: no bound); above the
	// member's allocatable, they overcommit it.
	AnnotationMaxRequestsCPU    = "tenantry.dev/max-requests-cpu"
	AnnotationMaxRequestsMemory = "tenantry.dev/max-requests-memory"

	// AnnotationPlan records, on a tenant namespace, the plan in force.
	AnnotationPlan = "tenantry.dev/plan"
	// AnnotationAllowedRegistries lists, comma-separated, the image registry
	// prefixes the plan allows; admission policies read it from the namespace.
	AnnotationAllowedRegistries = "tenantry.dev/allowed-registries"
	// AnnotationAllowedServiceTypes lists, comma-separated, the Service types the plan allows.
	AnnotationAllowedServiceTypes = "tenantry.dev/allowed-service-types"
	// AnnotationAllowExternalIPs is "true" when the plan lets Services set spec.externalIPs.
	AnnotationAllowExternalIPs = "tenantry.dev/allow-external-ips"
	// AnnotationInternetEgress is "true" when the plan lets pods reach the internet.
	AnnotationInternetEgress = "tenantry.dev/internet-egress"
	// AnnotationIngressDomains lists, comma-separated, the domains the
	// tenant's Ingresses and HTTPRoutes may serve.
	AnnotationIngressDomains = "tenantry.dev/ingress-domains"
	// AnnotationStorageClasses lists, comma-separated, the StorageClasses the plan allows.
	AnnotationStorageClasses = "tenantry.dev/storage-classes"
	// AnnotationNodeSelector lists, comma-separated key=value pairs, the node
	// labels every pod of the tenant must select.
	AnnotationNodeSelector = "tenantry.dev/node-selector"
	// AnnotationNamespaces lists, comma-separated, every namespace of the
	// tenant, so a policy can tell the tenant's ServiceAccounts from others'.
	AnnotationNamespaces = "tenantry.dev/namespaces"
	// AnnotationDisplayName carries the tenant's display name onto its namespaces.
	AnnotationDisplayName = "tenantry.dev/display-name"
	// AnnotationSpecHash is the hash of the desired state last applied to an
	// object; the operator skips the write when it and the object still match.
	AnnotationSpecHash = "tenantry.dev/spec-hash"

	// AnnotationCredentialIssuedAt and AnnotationCredentialExpiresAt record,
	// on a tenant namespace's analysis Secret, when the metrics token it
	// holds was minted and when it expires (RFC 3339): the operator mints a
	// new one once two thirds of its lifetime have passed.
	AnnotationCredentialIssuedAt  = "tenantry.dev/credential-issued-at"
	AnnotationCredentialExpiresAt = "tenantry.dev/credential-expires-at"

	// AnnotationSuspendedReplicas records, on a Deployment or StatefulSet
	// the operator scaled to zero for a suspension, its replicas before.
	AnnotationSuspendedReplicas = "tenantry.dev/suspended-replicas"
	// AnnotationSuspendedCronJob marks a CronJob the operator suspended.
	AnnotationSuspendedCronJob = "tenantry.dev/suspended-by-tenantry"
	// AnnotationConfirmDelete on a Tenant names, comma-separated, the
	// removed environments whose namespaces may go although they still run
	// workloads.
	AnnotationConfirmDelete = "tenantry.dev/confirm-delete"
	// AnnotationPreventDeletion "true" on a Tenant makes the API server refuse to delete it.
	AnnotationPreventDeletion = "tenantry.dev/prevent-deletion"
	// LabelOrphaned marks a namespace kept after its Tenant was deleted with
	// deletionPolicy Retain.
	LabelOrphaned = "tenantry.dev/orphaned"

	// LabelGitCredentials "true" marks a Secret in the operator's own
	// namespace as Git credentials for the operator's writes (reverts on
	// abort), in Argo CD's repository-credentials format: the Secret whose
	// url is the longest prefix of a repository's URL applies to it.
	LabelGitCredentials = "tenantry.dev/git-credentials"

	// Finalizer holds a Tenant until its namespaces and bindings are gone.
	Finalizer = "tenantry.dev/teardown"

	// ReservedPrefix is the label and annotation prefix only the platform may set.
	ReservedPrefix = "tenantry.dev/"
	// PodSecurityPrefix is the prefix of the Pod Security admission labels.
	PodSecurityPrefix = "pod-security.kubernetes.io/"
)
