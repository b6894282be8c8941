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

	// AnnotationPlan records, on a tenant namespace, the plan in force.
	AnnotationPlan = "tenantry.dev/plan"
	// AnnotationAllowedRegistries lists, comma-separated, the image registry
	// prefixes the plan allows; admission policies read it from the namespace.
	AnnotationAllowedRegistries = "tenantry.dev/allowed-registries"
	// AnnotationAllowedServiceTypes lists, comma-separated, the Service types the plan allows.
	AnnotationAllowedServiceTypes = "tenantry.dev/allowed-service-types"
	// AnnotationDisplayName carries the tenant's display name onto its namespaces.
	AnnotationDisplayName = "tenantry.dev/display-name"
	// AnnotationSpecHash is the hash of the desired state last applied to an
	// object; the operator skips the write when it and the object still match.
	AnnotationSpecHash = "tenantry.dev/spec-hash"

	// Finalizer holds a Tenant until its namespaces and bindings are gone.
	Finalizer = "tenantry.dev/teardown"

	// ReservedPrefix is the label and annotation prefix only the platform may set.
	ReservedPrefix = "tenantry.dev/"
	// PodSecurityPrefix is the prefix of the Pod Security admission labels.
	PodSecurityPrefix = "pod-security.kubernetes.io/"
)
