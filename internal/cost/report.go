package cost

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Period is the time cost is reported for, sampled every Step.
type Period struct {
	From, To time.Time
	// Step is how often the recorded rates are sampled within the period:
	// each sample stands for Step of time.
	Step time.Duration
}

// DefaultStep is the sampling step of a period: a thousandth of it, at
// least a minute (a rule evaluation interval), rounded to the second.
func DefaultStep(from, to time.Time) time.Duration {
	return max(time.Minute, to.Sub(from)/1000).Round(time.Second)
}

// Validate says what is wrong with a period.
func (p Period) Validate() error {
	switch {
	case !p.To.After(p.From):
		return fmt.Errorf("the period ends (%s) before it starts (%s)", p.To.Format(time.RFC3339), p.From.Format(time.RFC3339))
	case p.Step < time.Second:
		return fmt.Errorf("--resolution %s: want a second or more", p.Step)
	case p.Step > p.To.Sub(p.From):
		return fmt.Errorf("--resolution %s is longer than the period (%s)", p.Step, p.To.Sub(p.From))
	}
	return nil
}

// Query names, the keys of Queries and of the answers Build reads.
const (
	QueryCost         = "cost"
	QueryCPUBilled    = "cpu-billed"
	QueryCPUUsed      = "cpu-used"
	QueryCPURequested = "cpu-requested"
	QueryMemBilled    = "memory-billed"
	QueryMemUsed      = "memory-used"
	QueryMemRequested = "memory-requested"
	QueryStorage      = "storage"
	QueryEnvironments = "environments"
	QueryShared       = "shared"
	QueryIdle         = "idle"
)

// Queries are the PromQL instant queries, evaluated at p.To, whose answers
// Build reads: each integrates a recorded rate over the period by summing
// its samples at every Step (a subquery), times Step in hours. Each sample
// holds the prices in force at its time, so a price change reprices
// nothing before it. tenant
// narrows them to one tenant ("" for all). Cost is in currency, quantities
// in unit-hours (cores, bytes).
func Queries(p Period, tenant string) map[string]string {
	// A millisecond short of the period: Prometheus 2 includes a range's
	// start and Prometheus 3 does not, so this counts period/step samples
	// on both, not one more on one.
	window := fmt.Sprintf("[%dms:%dms]", p.To.Sub(p.From).Milliseconds()-1, p.Step.Milliseconds())
	hours := number(p.Step.Hours())
	sel := ""
	if tenant != "" {
		sel = fmt.Sprintf(`{tenant=%q}`, tenant)
	}
	integral := func(by, expr string) string {
		return fmt.Sprintf("sum by (%s) (sum_over_time(%s%s)) * %s", by, expr, window, hours)
	}
	requests := func(resource string) string {
		sel := fmt.Sprintf(`resource=%q`, resource)
		if tenant != "" {
			sel += fmt.Sprintf(`,tenant=%q`, tenant)
		}
		return fmt.Sprintf("max by (namespace, tenant) (tenantry_namespace_resource_requests{%s})", sel)
	}
	return map[string]string{
		QueryCost:         integral("tenant, currency, component", "tenantry:tenant_cost:hourly"+sel),
		QueryCPUBilled:    integral("namespace, tenant", "tenantry:namespace_cpu_billed:cores"+sel),
		QueryCPUUsed:      integral("namespace, tenant", "tenantry:namespace_cpu_used:cores"+sel),
		QueryCPURequested: integral("namespace, tenant", requests("cpu")),
		QueryMemBilled:    integral("namespace, tenant", "tenantry:namespace_memory_billed:bytes"+sel),
		QueryMemUsed:      integral("namespace, tenant", "tenantry:namespace_memory_used:bytes"+sel),
		QueryMemRequested: integral("namespace, tenant", requests("memory")),
		QueryStorage:      integral("namespace, tenant", "tenantry:namespace_storage_reserved:bytes"+sel),
		QueryEnvironments: fmt.Sprintf("max by (namespace, tenant, environment) (last_over_time(tenantry_namespace_info%s[%ds]))",
			sel, int64(p.To.Sub(p.From).Seconds())),
		QueryShared: integral("currency", "tenantry:shared_cost:hourly"),
		QueryIdle:   integral("currency", "tenantry:idle_cost:hourly"),
	}
}

func number(f float64) string { return fmt.Sprintf("%.10g", f) }

// Sample is one series of a query's answer.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Components of a tenant's cost, in the order reports show them.
var Components = []string{"cpu", "memory", "storage", "environment", "tenant", "shared"}

// Usage is one resource's billed, used and requested unit-hours.
type Usage struct {
	Billed, Used, Requested float64
}

// Utilisation is used over requested, NaN where nothing was requested.
func (u Usage) Utilisation() float64 {
	if u.Requested <= 0 {
		return math.NaN()
	}
	return u.Used / u.Requested
}

func (u *Usage) add(o Usage) {
	u.Billed += o.Billed
	u.Used += o.Used
	u.Requested += o.Requested
}

// Environment is one tenant namespace's figures.
type Environment struct {
	Name, Namespace string
	// CPU in core-hours, Memory in GiB-hours, StorageGiBHours.
	CPU, Memory     Usage
	StorageGiBHours float64
}

// TenantCost is one tenant's figures over the period.
type TenantCost struct {
	Tenant string
	// Cost per component (Components) and its Total, in the currency.
	Cost  map[string]float64
	Total float64
	// CPU, Memory and StorageGiBHours sum its environments'.
	CPU, Memory     Usage
	StorageGiBHours float64
	Environments    []Environment
}

// Report is what a period cost.
type Report struct {
	Period   Period
	Currency string
	Tenants  []TenantCost
	// Shared is the shared namespaces' and platform's cost, split into
	// the tenants' "shared" components; Idle the unbilled capacity's.
	Shared, Idle float64
}

// Build makes a report from the answers to Queries.
func Build(p Period, answers map[string][]Sample) Report {
	r := Report{Period: p}
	tenants := map[string]*TenantCost{}
	tenant := func(name string) *TenantCost {
		t := tenants[name]
		if t == nil {
			t = &TenantCost{Tenant: name, Cost: map[string]float64{}}
			tenants[name] = t
		}
		return t
	}
	type nsKey struct{ tenant, namespace string }
	envs := map[nsKey]*Environment{}
	env := func(s Sample) *Environment {
		k := nsKey{s.Labels["tenant"], s.Labels["namespace"]}
		e := envs[k]
		if e == nil {
			tenant(k.tenant)
			e = &Environment{Namespace: k.namespace, Name: strings.TrimPrefix(k.namespace, k.tenant+"-")}
			envs[k] = e
		}
		return e
	}
	for _, s := range answers[QueryCost] {
		t := tenant(s.Labels["tenant"])
		t.Cost[s.Labels["component"]] += s.Value
		r.Currency = cmp.Or(r.Currency, s.Labels["currency"])
	}
	const gib = 1 << 30
	for _, f := range []struct {
		query string
		into  func(*Environment, float64)
	}{
		{QueryCPUBilled, func(e *Environment, v float64) { e.CPU.Billed = v }},
		{QueryCPUUsed, func(e *Environment, v float64) { e.CPU.Used = v }},
		{QueryCPURequested, func(e *Environment, v float64) { e.CPU.Requested = v }},
		{QueryMemBilled, func(e *Environment, v float64) { e.Memory.Billed = v / gib }},
		{QueryMemUsed, func(e *Environment, v float64) { e.Memory.Used = v / gib }},
		{QueryMemRequested, func(e *Environment, v float64) { e.Memory.Requested = v / gib }},
		{QueryStorage, func(e *Environment, v float64) { e.StorageGiBHours = v / gib }},
	} {
		for _, s := range answers[f.query] {
			f.into(env(s), s.Value)
		}
	}
	for _, s := range answers[QueryEnvironments] {
		if name := s.Labels["environment"]; name != "" {
			env(s).Name = name
		}
	}
	for k, e := range envs {
		t := tenant(k.tenant)
		t.CPU.add(e.CPU)
		t.Memory.add(e.Memory)
		t.StorageGiBHours += e.StorageGiBHours
		t.Environments = append(t.Environments, *e)
	}
	for _, s := range answers[QueryShared] {
		r.Shared += s.Value
		r.Currency = cmp.Or(r.Currency, s.Labels["currency"])
	}
	for _, s := range answers[QueryIdle] {
		r.Idle += s.Value
	}
	for _, t := range tenants {
		for _, c := range Components {
			t.Total += t.Cost[c]
		}
		slices.SortFunc(t.Environments, func(a, b Environment) int { return strings.Compare(a.Namespace, b.Namespace) })
		r.Tenants = append(r.Tenants, *t)
	}
	slices.SortFunc(r.Tenants, func(a, b TenantCost) int { return strings.Compare(a.Tenant, b.Tenant) })
	return r
}
