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

// The chart's FlowSchema gives the operator's requests a priority level of
// their own: the API server's flow control, not the operator's client
// limits, shares the server between the operator and everyone else.
func TestOperatorRequestsHaveTheirOwnPriorityLevel(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	newPlan(t, "apf-plan", nil)
	newTenant(t, "apf", "apf-plan")
	waitPhase(t, "apf", v1alpha1.PhaseReady)

	families, err := testutil.APIServerMetrics(t.Context(), cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	own := testutil.SeriesSum(families, "apiserver_flowcontrol_dispatched_requests_total",
		map[string]string{"flow_schema": "tenantry-operator", "priority_level": "tenantry-operator"})
	shared := testutil.SeriesSum(families, "apiserver_flowcontrol_dispatched_requests_total",
		map[string]string{"flow_schema": "service-accounts"})
	if own == 0 {
		t.Errorf("no request dispatched through FlowSchema tenantry-operator (service-accounts dispatched %v)", shared)
	}
	t.Logf("%v requests through the operator's own priority level", own)
}
