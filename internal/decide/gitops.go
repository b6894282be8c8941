package decide

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// GitOps reasons.
const (
	ReasonArgoCDMissing = "ArgoCDNotInstalled"
	ReasonProjectReady  = "ProjectReady"
	ReasonAppsSynced    = "AppsSynced"
	ReasonAppsNotSynced = "AppsNotSynced"
	ReasonSyncSuspended = "SyncSuspended"
	ReasonAppsDeleting  = "AppsDeleting"
)

// Apps is the GitOpsReady condition of a tenant whose apps Argo CD
// reports as apps (one per spec.apps entry, in order); argoCDNamespace is
// "" when the operator found no Argo CD, project the tenant's AppProject.
// It is nil when there is nothing to report: no Argo CD and no apps.
func Apps(tenant *v1alpha1.Tenant, apps []v1alpha1.AppStatus, argoCDNamespace, project string) *GitOps {
	if argoCDNamespace == "" {
		if len(tenant.Spec.Apps) == 0 {
			return nil
		}
		return &GitOps{Status: metav1.ConditionFalse, Reason: ReasonArgoCDMissing, Message: fmt.Sprintf(
			"spec.apps lists %d apps, but the operator found no Argo CD (argoproj.io Applications) when it started; install Argo CD, then restart the operator",
			len(tenant.Spec.Apps))}
	}
	g := &GitOps{Apps: apps}
	var notReady []string
	for _, st := range apps {
		if st.Sync == "Synced" && st.Health == "Healthy" {
			g.Ready++
			continue
		}
		state := fmt.Sprintf("%s: sync %s, health %s", st.Name, orUnknown(st.Sync), orUnknown(st.Health))
		if st.Message != "" {
			state += " (" + st.Message + ")"
		}
		notReady = append(notReady, state)
	}
	switch {
	case tenant.Spec.Suspended && len(apps) > 0:
		g.Status, g.Reason = metav1.ConditionFalse, ReasonSyncSuspended
		g.Message = "automated sync is off while the tenant is suspended, so Argo CD does not scale its workloads back up; set spec.suspended to false to resume it"
	case len(apps) == 0:
		g.Status, g.Reason = metav1.ConditionTrue, ReasonProjectReady
		g.Message = fmt.Sprintf("Argo CD AppProject %s confines the tenant's apps to its namespaces; spec.apps lists none", project)
	case len(notReady) == 0:
		g.Status, g.Reason = metav1.ConditionTrue, ReasonAppsSynced
		g.Message = fmt.Sprintf("every app (%d) synced from Git and healthy", g.Ready)
	default:
		g.Status, g.Reason = metav1.ConditionFalse, ReasonAppsNotSynced
		g.Message = strings.Join(notReady, "; ") + fmt.Sprintf("; see `kubectl -n %s get application` and its events", argoCDNamespace)
	}
	return g
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}
