package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// report is every figure the benchmark measures; it is written as JSON and
// as the Markdown table docs/benchmarks.md quotes.
type report struct {
	Date         string   `json:"date"`
	Machine      string   `json:"machine"`
	Tenants      int      `json:"tenants"`
	Environments int      `json:"environmentsPerTenant"`
	OperatorArgs []string `json:"operatorArgs"`

	// Ceiling is render's objects server-side applied; MinimalCeiling the
	// minimal set created by plain POSTs; TenantCeiling the same with the
	// Tenant's own writes around it (ceilingMethods).
	Ceiling        ceiling `json:"ceiling"`
	MinimalCeiling ceiling `json:"minimalCeiling"`
	TenantCeiling  ceiling `json:"tenantCeiling"`
	Onboarding     struct {
		Seconds           float64 `json:"seconds"`
		TenantsPerSec     float64 `json:"tenantsPerSecond"`
		FractionOfCeiling float64 `json:"fractionOfCeiling"`
		FractionOfMinimal float64 `json:"fractionOfMinimalCeiling"`
		FractionOfUsable  float64 `json:"fractionOfMinimalCeilingUsable"`
		// FractionOfTenantUsable is against TenantCeiling, until usable.
		FractionOfTenantUsable float64 `json:"fractionOfTenantCeilingUsable"`
		Latency                latency `json:"createToReadySeconds"`
	} `json:"onboarding"`
	Steady    []steady `json:"steadyArrival"`
	Footprint struct {
		Tenants int     `json:"tenants"`
		RSSMiB  float64 `json:"rssMiB"`
		// HeapMiB is the Go heap right after a forced collection: what the
		// operator holds live. HeapSpansMiB is the heap's spans in use then:
		// the live objects and the free space between them. RSS also
		// counts what the runtime has not returned to the system yet.
		HeapMiB           float64 `json:"liveHeapMiB"`
		HeapSpansMiB      float64 `json:"heapSpansMiB"`
		CPUSeconds        float64 `json:"cpuSeconds"`
		Requests          float64 `json:"apiRequests"`
		RequestsPerTenant float64 `json:"apiRequestsPerTenant"`
		// StatusWritesPerTenant are the Tenant status writes the API
		// server served, per tenant onboarded.
		StatusWritesPerTenant float64        `json:"statusWritesPerTenant"`
		Objects               map[string]int `json:"managedObjects"`
		// One /metrics scrape right after onboarding, while the quota
		// controller still catches up: how long it took, how many series
		// it held, and the operator's RSS right after it.
		ScrapeSeconds  float64 `json:"scrapeSeconds"`
		Series         int     `json:"series"`
		RSSAfterScrape float64 `json:"rssMiBAfterScrape"`
	} `json:"footprint"`
	// Writes are the write requests the API server served while the N
	// tenants onboarded, per tenant: by "VERB resource[/subresource]" from
	// every client (the operator, the controller manager, the bench's own
	// Tenant creates), and the operator's own by HTTP method.
	Writes struct {
		ByResource map[string]float64 `json:"perTenantByVerbAndResource"`
		Operator   map[string]float64 `json:"operatorPerTenantByMethod"`
	} `json:"writesPerTenant"`
	// Tax is what an unrelated user pays for the tenants: its read latency
	// with none and with N, and the API server's memory.
	// Tax is the bystander's read latency in rounds of Requests reads:
	// each percentile the median round's, and every round's p99.
	Tax struct {
		Requests          int       `json:"requestsPerRound"`
		Empty             latency   `json:"zeroTenantsSeconds"`
		Loaded            latency   `json:"nTenantsSeconds"`
		EmptyRoundsP99    []float64 `json:"zeroTenantsRoundsP99Seconds"`
		LoadedRoundsP99   []float64 `json:"nTenantsRoundsP99Seconds"`
		APIServerRSSEmpty float64   `json:"apiServerRSSMiBZeroTenants"`
		APIServerRSSN     float64   `json:"apiServerRSSMiBNTenants"`
	} `json:"clusterTax"`
	Rest struct {
		// SettleSeconds is how long the quotas took to stop changing first.
		SettleSeconds   float64 `json:"settleSeconds"`
		Seconds         float64 `json:"seconds"`
		Writes          float64 `json:"writes"`
		WritesPerMinute float64 `json:"writesPerMinute"`
		Requests        float64 `json:"requests"`
		// Changes counts what the watches saw change meanwhile, by type.
		Changes map[string]int `json:"changesSeen"`
		// RSSMiB is the operator's RSS at the end of the rest: once the Go
		// runtime has returned what onboarding's garbage left it holding.
		RSSMiB float64 `json:"rssMiBAfter"`
		// Scrapes at the end of the rest, as Prometheus would make them
		// on a settled cluster: the median time of three, and the RSS
		// after them.
		ScrapeSeconds  float64 `json:"scrapeSecondsMedian"`
		RSSAfterScrape float64 `json:"rssMiBAfterScrapes"`
		// The heap after a forced collection at the end, as in Footprint.
		HeapMiB      float64 `json:"liveHeapMiB"`
		HeapSpansMiB float64 `json:"heapSpansMiB"`
	} `json:"rest"`
	Restart struct {
		Seconds float64 `json:"secondsToVerifyAll"`
		// PollSeconds is how often the bench scraped the operator to
		// see it done: the figure is that late at most.
		PollSeconds float64 `json:"pollSeconds"`
		Reconciles  float64 `json:"reconciles"`
		Writes      float64 `json:"writes"`
		RSSMiB      float64 `json:"rssMiBAfter"`
	} `json:"restart"`
	Drift struct {
		Deleted int     `json:"deleted"`
		Latency latency `json:"deleteToRestoredSeconds"`
	} `json:"drift"`
}

// steady is one steady arrival rate's figures.
type ceiling struct {
	Objects       int     `json:"objects"`
	Seconds       float64 `json:"seconds"`
	ObjectsPerSec float64 `json:"objectsPerSecond"`
	TenantsPerSec float64 `json:"tenantsPerSecond"`
	// Usable is until the controller manager has made every namespace
	// usable: quota counted, default ServiceAccount there (waitUsable).
	UsableSeconds       float64 `json:"usableSeconds"`
	UsableTenantsPerSec float64 `json:"usableTenantsPerSecond"`
}

func (c ceiling) String() string {
	return fmt.Sprintf("%.0f objects/s, %.1f tenants/s (%d objects in %.1f s); every namespace usable after %.1f s: **%.1f tenants/s**",
		c.ObjectsPerSec, c.TenantsPerSec, c.Objects, c.Seconds, c.UsableSeconds, c.UsableTenantsPerSec)
}

type steady struct {
	Rate    float64 `json:"tenantsPerSecond"`
	Tenants int     `json:"tenants"`
	Latency latency `json:"createToReadySeconds"`
	// StatusWritesPerTenant counts the Tenant status writes the API
	// server served while these tenants onboarded (all tenants'), per tenant.
	StatusWritesPerTenant float64 `json:"statusWritesPerTenant"`
}

type latency struct {
	P50, P95, P99, Max float64
}

func percentiles(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	slices.Sort(ds)
	at := func(p float64) float64 { return ds[int(p*float64(len(ds)-1)+0.5)].Seconds() }
	return latency{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: ds[len(ds)-1].Seconds()}
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s on %s: %d tenants with %d environments each; operator %s.\n\n",
		r.Date, r.Machine, r.Tenants, r.Environments, strings.Join(r.OperatorArgs, " "))
	b.WriteString("| # | measure | result | goal |\n| --- | --- | --- | --- |\n")
	row := func(n, what, result, goal string) { fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", n, what, result, goal) }
	row("1", "ceiling: the minimal set created by plain POSTs, no operator", r.MinimalCeiling.String(), "")
	row("1", "ceiling: the minimal set, and the Tenant's create, finalizer, status and event, no operator", r.TenantCeiling.String(), "")
	row("1", "ceiling: the operator's objects server-side applied, no operator", r.Ceiling.String(), "")
	row("2", fmt.Sprintf("onboarding %d tenants at once", r.Tenants),
		fmt.Sprintf("%.1f tenants/s, all Ready in %.1f s: **%.0f %% of the minimal ceiling until usable** (%.0f %% until written; %.0f %% of the ceiling with the Tenant's writes, %.0f %% of the apply ceiling, until usable); create→Ready p50 %.1f s, p99 %.1f s",
			r.Onboarding.TenantsPerSec, r.Onboarding.Seconds, 100*r.Onboarding.FractionOfUsable, 100*r.Onboarding.FractionOfMinimal,
			100*r.Onboarding.FractionOfTenantUsable,
			100*r.Onboarding.TenantsPerSec/r.Ceiling.UsableTenantsPerSec,
			r.Onboarding.Latency.P50, r.Onboarding.Latency.P99),
		"≥ 80 % of the minimal ceiling")
	for _, s := range r.Steady {
		row("3", fmt.Sprintf("create→Ready at %g tenants/s (%d tenants)", s.Rate, s.Tenants),
			fmt.Sprintf("p50 %.2f s, p95 %.2f s, **p99 %.2f s**, max %.2f s; %.2f status writes per tenant", s.Latency.P50, s.Latency.P95, s.Latency.P99, s.Latency.Max, s.StatusWritesPerTenant),
			"p99 < 2 s (1 s)")
	}
	objs := 0
	for _, n := range r.Footprint.Objects {
		objs += n
	}
	row("4", fmt.Sprintf("operator at %d tenants (%d managed objects)", r.Footprint.Tenants, objs),
		fmt.Sprintf("**RSS %.0f MiB** right after onboarding, **%.0f MiB** after the rest; live heap %.0f / %.0f MiB (spans %.0f / %.0f MiB); CPU %.0f s, %.0f API requests (%.1f per tenant, %.2f status writes)",
			r.Footprint.RSSMiB, r.Rest.RSSMiB, r.Footprint.HeapMiB, r.Rest.HeapMiB, r.Footprint.HeapSpansMiB, r.Rest.HeapSpansMiB,
			r.Footprint.CPUSeconds, r.Footprint.Requests, r.Footprint.RequestsPerTenant, r.Footprint.StatusWritesPerTenant),
		"RSS < 200 MiB (100 MiB)")
	row("5", fmt.Sprintf("writes at rest over %.0f s (once no quota changed for a full quota resync, after %.0f s)", r.Rest.Seconds, r.Rest.SettleSeconds),
		fmt.Sprintf("**%.0f writes** (%.1f/min), %.0f requests in all", r.Rest.Writes, r.Rest.WritesPerMinute, r.Rest.Requests), "0")
	row("6", "restart (kill -9): until every tenant is verified",
		fmt.Sprintf("**%.1f s** (polled every %.2f s), %.0f reconciles, %.0f writes; RSS after %.0f MiB", r.Restart.Seconds, r.Restart.PollSeconds, r.Restart.Reconciles, r.Restart.Writes, r.Restart.RSSMiB),
		"< 30 s (10 s), no writes")
	row("7", fmt.Sprintf("drift repair: %d default-deny NetworkPolicies deleted", r.Drift.Deleted),
		fmt.Sprintf("p50 %.2f s, p99 %.2f s", r.Drift.Latency.P50, r.Drift.Latency.P99), "")
	row("8", fmt.Sprintf("/metrics scrapes at %d tenants: right after onboarding; at rest (median of 3)", r.Footprint.Tenants),
		fmt.Sprintf("**%.2f s**, %d series, RSS after it **%.0f MiB**; at rest **%.2f s**, RSS after **%.0f MiB**",
			r.Footprint.ScrapeSeconds, r.Footprint.Series, r.Footprint.RSSAfterScrape, r.Rest.ScrapeSeconds, r.Rest.RSSAfterScrape), "< 2 s; RSS < 500 MiB")
	t := r.Tax
	row("9", fmt.Sprintf("cluster tax: an unrelated ServiceAccount's read at 0 and %d tenants, the median of %d rounds of %d", r.Footprint.Tenants, taxRounds, t.Requests),
		fmt.Sprintf("p50 %.2f → %.2f ms, **p99 %.2f → %.2f ms** (%+.0f %%; the rounds' p99 %s → %s); API server RSS %.0f → %.0f MiB (%.0f KiB per tenant)",
			1000*t.Empty.P50, 1000*t.Loaded.P50, 1000*t.Empty.P99, 1000*t.Loaded.P99, 100*(t.Loaded.P99/t.Empty.P99-1),
			millis(t.EmptyRoundsP99), millis(t.LoadedRoundsP99),
			t.APIServerRSSEmpty, t.APIServerRSSN, 1024*(t.APIServerRSSN-t.APIServerRSSEmpty)/float64(max(r.Footprint.Tenants, 1))),
		"p99 within 10 %")
	b.WriteString("\nWrites per tenant while onboarding, as the API server counted them (all clients; leases left out):\n\n| verb | resource | per tenant |\n| --- | --- | --- |\n")
	total := 0.0
	for _, key := range slices.Sorted(maps.Keys(r.Writes.ByResource)) {
		verb, resource, _ := strings.Cut(key, " ")
		fmt.Fprintf(&b, "| %s | %s | %.2f |\n", verb, resource, r.Writes.ByResource[key])
		total += r.Writes.ByResource[key]
	}
	fmt.Fprintf(&b, "| | **all** | **%.2f** |\n\nOf them the operator's own, by method:", total)
	for _, method := range slices.Sorted(maps.Keys(r.Writes.Operator)) {
		fmt.Fprintf(&b, " %s %.2f", method, r.Writes.Operator[method])
	}
	b.WriteString(".\n")
	return b.String()
}
