package decide

// Condition and event reasons the decisions use: CamelCase words to search
// the docs and logs for. The controller's own failure reasons (PlanNotFound,
// NamespaceConflict, ...) reach Status through Observed.FailReason.
const (
	ReasonTenantReady        = "TenantReady"
	ReasonSuspended          = "Suspended"
	ReasonNotSuspended       = "NotSuspended"
	ReasonPlanChanged        = "PlanChanged"
	ReasonQuotaExceeded      = "QuotaExceeded"
	ReasonWithinQuota        = "WithinQuota"
	ReasonEnvironmentRefused = "EnvironmentRemovalRefused"
	ReasonApplyFailed        = "ApplyFailed"
	ReasonNamespacesActive   = "NamespacesActive"
	ReasonNamespacesPending  = "NamespacesPending"
	ReasonGuardrailsApplied  = "GuardrailsApplied"
	ReasonQuotaPending       = "QuotaNotYetEnforced"
	ReasonTerminating        = "Terminating"
	ReasonAppSyncFailed      = "AppSyncFailed"
)

// Rollout event reasons.
const (
	ReasonRolloutStarted  = "RolloutStarted"
	ReasonRolloutStep     = "RolloutStepAdvanced"
	ReasonRolloutPromoted = "RolloutPromoted"
	ReasonRolloutAborted  = "RolloutAborted"
	ReasonAppReverted     = "AppReverted"
	ReasonRevertSkipped   = "RevertSkipped"
)
