// Package cost is Tenantry's cost showback: the rate card a tenant is billed
// at (its plan's prices over the platform's PriceList), the PromQL that
// integrates the platform's recorded cost rates over a period, and the
// report that period's figures make (a table, JSON, CSV, or a monthly
// showback in Markdown). It does no I/O: the operator exports the rate card
// and reservations as metrics, Prometheus records the cost rates
// (charts/tenantry/dashboards/prometheusrules.yaml), and the CLI queries
// them. docs/cost.md has every formula.
package cost

import (
	"fmt"
	"strconv"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// HoursPerMonth converts monthly prices to hourly ones: 365 × 24 / 12, the
// month cloud providers price by.
const HoursPerMonth = 730

// Rates are the hourly prices one tenant is billed at, in Currency.
type Rates struct {
	Currency string
	// Basis is what CPU, memory and storage are billed on.
	Basis v1alpha1.CostBasis
	// CPUCoreHour and MemoryGiBHour are per unit-hour.
	CPUCoreHour, MemoryGiBHour float64
	// StorageGiBHour, TenantHour and EnvironmentHour are the monthly
	// prices over HoursPerMonth.
	StorageGiBHour, TenantHour, EnvironmentHour float64
}

// PlatformRates are the PriceList's own prices, at which the shared
// namespaces' use and the idle capacity are costed, and the platform's
// fixed cost per hour.
type PlatformRates struct {
	Currency                   string
	CPUCoreHour, MemoryGiBHour float64
	PlatformHour               float64
}

// Platform returns the PriceList's own rates.
func Platform(list *v1alpha1.PriceList) (PlatformRates, error) {
	var r PlatformRates
	var err error
	p := list.Spec.Prices
	r.Currency = list.Spec.Currency
	if r.CPUCoreHour, err = parse(p.CPUCoreHour, "spec.prices.cpuCoreHour"); err != nil {
		return r, err
	}
	if r.MemoryGiBHour, err = parse(p.MemoryGiBHour, "spec.prices.memoryGiBHour"); err != nil {
		return r, err
	}
	month, err := parse(list.Spec.PlatformMonth, "spec.platformMonth")
	r.PlatformHour = month / HoursPerMonth
	return r, err
}

// ForPlan returns the rates of a plan's tenants: each of the plan's prices
// where it sets one, else the PriceList's. plan may be nil (a tenant whose
// plan is gone is billed at the PriceList's prices).
func ForPlan(list *v1alpha1.PriceList, plan *v1alpha1.TenantPlan) (Rates, error) {
	r := Rates{Currency: list.Spec.Currency, Basis: list.Spec.Basis}
	prices := list.Spec.Prices
	where := "PriceList " + list.Name
	if plan != nil && plan.Spec.Prices != nil {
		prices = override(prices, plan.Spec.Prices.Prices)
		if plan.Spec.Prices.Basis != "" {
			r.Basis = plan.Spec.Prices.Basis
		}
		where = "TenantPlan " + plan.Name + " or PriceList " + list.Name
	}
	if r.Basis == "" {
		r.Basis = v1alpha1.BasisRequests
	}
	var month [3]float64
	var err error
	for _, f := range []struct {
		price *v1alpha1.Price
		field string
		into  *float64
	}{
		{prices.CPUCoreHour, "cpuCoreHour", &r.CPUCoreHour},
		{prices.MemoryGiBHour, "memoryGiBHour", &r.MemoryGiBHour},
		{prices.StorageGiBMonth, "storageGiBMonth", &month[0]},
		{prices.TenantMonth, "tenantMonth", &month[1]},
		{prices.EnvironmentMonth, "environmentMonth", &month[2]},
	} {
		if *f.into, err = parse(f.price, "spec.prices."+f.field); err != nil {
			return r, fmt.Errorf("%s: %w", where, err)
		}
	}
	r.StorageGiBHour = month[0] / HoursPerMonth
	r.TenantHour = month[1] / HoursPerMonth
	r.EnvironmentHour = month[2] / HoursPerMonth
	return r, nil
}

// override returns base with every price over sets replaced.
func override(base, over v1alpha1.Prices) v1alpha1.Prices {
	for _, p := range []struct {
		base **v1alpha1.Price
		over *v1alpha1.Price
	}{
		{&base.CPUCoreHour, over.CPUCoreHour},
		{&base.MemoryGiBHour, over.MemoryGiBHour},
		{&base.StorageGiBMonth, over.StorageGiBMonth},
		{&base.TenantMonth, over.TenantMonth},
		{&base.EnvironmentMonth, over.EnvironmentMonth},
	} {
		if p.over != nil {
			*p.base = p.over
		}
	}
	return base
}

// parse reads a price; a missing one is zero. The API admits decimals only,
// so an error means an object written past its validation.
func parse(p *v1alpha1.Price, field string) (float64, error) {
	if p == nil {
		return 0, nil
	}
	v, err := strconv.ParseFloat(string(*p), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s: %q is not a decimal amount such as 0.0316", field, *p)
	}
	return v, nil
}
