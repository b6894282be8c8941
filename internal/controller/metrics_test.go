package controller_test

import (
	"fmt"
	"testing"

	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/testutil"
)

func TestMetricsCountTenantsAndOnboarding(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	newPlan(t, "metrics-plan", nil)
	newTenant(t, "metrics", "metrics-plan")
	waitPhase(t, "metrics", v1alpha1.PhaseReady)

	testutil.Eventually(t, readyTimeout, func() error {
		families, err := ctrlmetrics.Registry.Gather()
		if err != nil {
			return err
		}
		byName := map[string]*dto.MetricFamily{}
		for _, f := range families {
			byName[f.GetName()] = f
		}
		var ready float64
		for _, m := range byName["tenantry_tenants"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "phase" && l.GetValue() == string(v1alpha1.PhaseReady) {
					ready = m.GetGauge().GetValue()
				}
			}
		}
		if ready < 1 {
			return fmt.Errorf(`tenantry_tenants{phase="Ready"} = %v, want at least 1`, ready)
		}
		onboarding := byName["tenantry_tenant_onboarding_duration_seconds"].GetMetric()
		if len(onboarding) != 1 || onboarding[0].GetHistogram().GetSampleCount() < 1 {
			return fmt.Errorf("tenantry_tenant_onboarding_duration_seconds has no observation: %v", onboarding)
		}
		return nil
	})
}
