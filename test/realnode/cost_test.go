package realnode

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/cli"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The cost test's prices: per core-hour, GiB-hour, GiB-month, and the fees
// per namespace and per tenant per month (0.01 and 0.1 an hour).
const (
	cpuPrice, cpuPriceAfter = 0.5, 1.0
	memoryPrice             = 0.25
	storagePriceMonth       = 73.0
	environmentFeeMonth     = 7.3
	tenantFeeMonth          = 73.0
	hoursPerMonth           = 730
)

// The two tenants: costa, billed on its requests, burns 0.06 cores (a busy
// loop under a 60m limit: little, since it runs through the releases the
// test measures for failed requests) against 20m requested; costb, on a committed
// plan billed on its quota (the free plan's 1 core and 1 GiB, and 5 GiB of
// storage), idles on 250m requested and holds a 1 GiB claim.
var (
	committedQuota   = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}
	committedStorage = resource.MustParse("5Gi")
	costaRequests    = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20m"), corev1.ResourceMemory: resource.MustParse("32Mi")}
	costaLimits      = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("60m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	costbRequests    = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	costbClaim       = resource.MustParse("1Gi")
)

// costShowback bills two tenants with real pods on the real node and
// checks `tenantry cost` against figures computed by hand from the
// PriceList and the usage the kubelet reports (read directly, not through
// Prometheus): each tenant's CPU, memory, storage and fees and its
// utilisation within 5 %; a plan price change applies from its time on
// and leaves the cost already accrued as it was; a suspended tenant
// accrues no CPU or memory, only storage. The table, CSV and the
// dashboard's utilisation panel are checked against the same figures.
//
// startCostShowback starts the tenants' pods; test measures once their
// use has run steady for the recording rules' 2-minute rate window, which
// the caller's other tests fill.
type costShowback struct {
	e       *env
	prom    *localcluster.Prometheus
	cs      kubernetes.Interface
	metered *v1alpha1.TenantPlan
	started time.Time
}

func startCostShowback(t *testing.T, e *env, prom *localcluster.Prometheus, image string) *costShowback {
	t.Helper()
	ctx := e.ctx
	cs, err := kubernetes.NewForConfig(e.cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	// The free plan, with storage under quota so that it can be billed.
	plan := &v1alpha1.TenantPlan{}
	if err := e.admin.Get(ctx, client.ObjectKey{Name: "free"}, plan); err != nil {
		t.Fatal(err)
	}
	metered := &v1alpha1.TenantPlan{ObjectMeta: metav1.ObjectMeta{Name: "metered"}, Spec: *plan.Spec.DeepCopy()}
	metered.Spec.Quota[corev1.ResourceRequestsStorage] = committedStorage
	// The same, billed on its quota: a committed plan.
	committed := &v1alpha1.TenantPlan{ObjectMeta: metav1.ObjectMeta{Name: "committed"}, Spec: *metered.Spec.DeepCopy()}
	committed.Spec.Prices = &v1alpha1.PlanPrices{Basis: v1alpha1.BasisQuota}
	// The example PriceList (gitops/plans/prices.yaml) is in place: these
	// prices replace its own.
	current := &v1alpha1.PriceList{}
	if err := e.admin.Get(ctx, client.ObjectKey{Name: v1alpha1.PriceListName}, current); err != nil {
		t.Fatal(err)
	}
	current.Spec = v1alpha1.PriceListSpec{
		Currency: "USD",
		Prices: v1alpha1.Prices{CPUCoreHour: priceOf(cpuPrice), MemoryGiBHour: priceOf(memoryPrice), StorageGiBMonth: priceOf(storagePriceMonth),
			TenantMonth: priceOf(tenantFeeMonth), EnvironmentMonth: priceOf(environmentFeeMonth)},
		SharedNamespaces: []string{"tenantry-system", prom.Namespace},
		PlatformMonth:    priceOf(730),
	}
	if err := e.admin.Update(ctx, current); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{metered, committed, costTenant("costa", "metered"), costTenant("costb", "committed")} {
		if err := e.admin.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"costa", "costb"} {
		testutil.Eventually(t, 2*time.Minute, func() error {
			tenant := &v1alpha1.Tenant{}
			if err := e.admin.Get(ctx, client.ObjectKey{Name: name}, tenant); err != nil {
				return err
			}
			if tenant.Status.Phase != v1alpha1.PhaseReady {
				return fmt.Errorf("tenant %s is %q", name, tenant.Status.Phase)
			}
			return nil
		})
	}

	burn := costPod("costa", "burn", image, costaRequests, costaLimits, "burn")
	idle := testutil.Deployment("idle", 1)
	idle.Namespace = "costb"
	idle.Spec.Template.Spec = costPod("costb", "idle", image, costbRequests, costbRequests).Spec
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "costb", Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To("standard"),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: costbClaim}},
		},
	}
	for _, obj := range []client.Object{burn, idle, claim} {
		if err := e.admin.Create(ctx, obj); err != nil {
			t.Fatalf("creating %s/%s: %v", obj.GetNamespace(), obj.GetName(), err)
		}
	}
	return &costShowback{e: e, prom: prom, cs: cs, metered: metered, started: time.Now()}
}

func (c *costShowback) test(t *testing.T) {
	e, prom, cs, metered := c.e, c.prom, c.cs, c.metered
	ctx := e.ctx
	// Until Prometheus has both tenants' usage and cost, and costa's load
	// has run longer than a rate window (its recorded use 130 s of the
	// last 3 minutes, the rule's 2 minutes and a margin): the rate of a
	// younger series is averaged over time it did not exist.
	testutil.Eventually(t, 4*time.Minute, func() error {
		for _, q := range []string{`count_over_time(tenantry:namespace_cpu_used:cores{tenant="costa"}[3m]) >= 65`,
			`tenantry:namespace_cpu_used:cores{tenant="costb"}`, `tenantry:tenant_cost:hourly{tenant="costb",component="storage"} > 0`} {
			if s, err := prom.Query(ctx, q); err != nil || len(s) == 0 {
				return fmt.Errorf("no %s yet (%v)", q, err)
			}
		}
		return nil
	})

	// Window 1: both tenants at the first prices.
	t.Logf("costa's pod steady %.0fs after it was created", time.Since(c.started).Seconds())
	w1 := measureUsage(t, cs, 40*time.Second)
	r1 := costReport(t, prom, w1.from, w1.to, "json")
	costa, costb := tenantOf(t, r1, "costa"), tenantOf(t, r1, "costb")
	want := handCost(w1, cpuPrice, false)
	t.Logf("window 1 (%s): costa used %.3f cores, %.1f MiB; costb %.3f cores, %.1f MiB",
		w1.to.Sub(w1.from), w1.cores["costa"], w1.bytes["costa"]/(1<<20), w1.cores["costb"], w1.bytes["costb"]/(1<<20))
	checkCost(t, "window 1 costa", costa, want["costa"])
	checkCost(t, "window 1 costb", costb, want["costb"])
	checkOutputs(t, prom, w1, r1)
	checkUtilisationPanel(t, prom, w1)

	// The plan's CPU price doubles and costb is suspended, at once.
	changed := time.Now()
	metered.Spec.Prices = &v1alpha1.PlanPrices{Prices: v1alpha1.Prices{CPUCoreHour: priceOf(cpuPriceAfter)}}
	if err := e.admin.Update(ctx, metered); err != nil {
		t.Fatal(err)
	}
	tenant := &v1alpha1.Tenant{}
	if err := e.admin.Get(ctx, client.ObjectKey{Name: "costb"}, tenant); err != nil {
		t.Fatal(err)
	}
	tenant.Spec.Suspended = true
	if err := e.admin.Update(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, time.Minute, func() error {
		// costa's recorded CPU cost at the new price: 0.06 cores at 1.0,
		// where it was 0.03 at 0.5.
		for _, q := range []string{`tenantry:tenant_cost:hourly{tenant="costa",component="cpu"} > 0.045`,
			`tenantry:namespace_cpu_billed:cores{tenant="costb"} == 0`, `absent(tenantry:namespace_cpu_used:cores{tenant="costb"} > 0.01)`} {
			if s, err := prom.Query(ctx, q); err != nil || len(s) == 0 {
				return fmt.Errorf("no %s yet (%v)", q, err)
			}
		}
		return nil
	})
	t.Logf("new price and suspension recorded %.1fs after the change", time.Since(changed).Seconds())

	// Window 2: costa at the new price; costb suspended.
	w2 := measureUsage(t, cs, 30*time.Second)
	r2 := costReport(t, prom, w2.from, w2.to, "json")
	costa, costb = tenantOf(t, r2, "costa"), tenantOf(t, r2, "costb")
	want = handCost(w2, cpuPriceAfter, true)
	checkCost(t, "window 2 costa (new price)", costa, want["costa"])
	checkCost(t, "window 2 costb (suspended)", costb, want["costb"])
	if costb.Cost["cpu"] != 0 || costb.Cost["memory"] != 0 {
		t.Errorf("suspended costb accrued CPU %g and memory %g, want none", costb.Cost["cpu"], costb.Cost["memory"])
	}
	if costb.Cost["storage"] <= 0 {
		t.Errorf("suspended costb accrued no storage, want its quota's")
	}

	// Window 1 again: the price change repriced nothing that had accrued.
	again := tenantOf(t, costReport(t, prom, w1.from, w1.to, "json"), "costa")
	before := tenantOf(t, r1, "costa")
	if math.Abs(again.Cost["cpu"]-before.Cost["cpu"]) > 1e-9 {
		t.Errorf("window 1's CPU cost was %g before the price change and %g after: repriced", before.Cost["cpu"], again.Cost["cpu"])
	}
	t.Logf("window 1's CPU cost of costa, asked again after the change: %g (was %g)", again.Cost["cpu"], before.Cost["cpu"])

	resume := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"suspended":false}}`))
	if err := e.admin.Patch(ctx, &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "costb"}}, resume); err != nil {
		t.Error(err)
	}
}

// priceOf is v as a PriceList price.
func priceOf(v float64) *v1alpha1.Price {
	p := v1alpha1.Price(strconv.FormatFloat(v, 'f', -1, 64))
	return &p
}

func costTenant(name, plan string) *v1alpha1.Tenant {
	return &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.TenantSpec{Plan: plan, Owners: []v1alpha1.Owner{{Kind: "User", Name: name + "@example.com", Role: "admin"}}},
	}
}

// costPod is a restricted pod of the demo app with resources and args.
func costPod(namespace, name, image string, requests, limits corev1.ResourceList, args ...string) *corev1.Pod {
	spec := testutil.RestrictedPodSpec()
	c := &spec.Containers[0]
	c.Name, c.Image, c.Args = name, image, args
	c.Resources = corev1.ResourceRequirements{Requests: requests, Limits: limits}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{"app": name}}, Spec: spec}
}

// usageWindow is what the kubelet reported over a period: each tenant
// namespace's average CPU cores and memory working set.
type usageWindow struct {
	from, to     time.Time
	cores, bytes map[string]float64
}

// measureUsage reads the real node's kubelet (its /metrics/resource,
// through the API server's node proxy) now and after d, and returns each
// namespace's CPU over the period from its counters and timestamps, and its
// memory as the mean of the two readings.
func measureUsage(t *testing.T, cs kubernetes.Interface, d time.Duration) usageWindow {
	t.Helper()
	w := usageWindow{from: time.Now(), cores: map[string]float64{}, bytes: map[string]float64{}}
	first := kubeletUsage(t, cs)
	time.Sleep(d)
	w.to = time.Now()
	last := kubeletUsage(t, cs)
	for ns, a := range first {
		b := last[ns]
		if b.cpuAt.After(a.cpuAt) {
			w.cores[ns] = (b.cpu - a.cpu) / b.cpuAt.Sub(a.cpuAt).Seconds()
		}
		w.bytes[ns] = (a.memory + b.memory) / 2
	}
	return w
}

type kubeletReading struct {
	cpu, memory float64
	cpuAt       time.Time
}

// kubeletUsage sums the kubelet's container series by namespace.
func kubeletUsage(t *testing.T, cs kubernetes.Interface) map[string]kubeletReading {
	t.Helper()
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]kubeletReading{}
	for _, n := range nodes.Items {
		if n.Annotations["kwok.x-k8s.io/node"] == "fake" {
			continue
		}
		body, err := cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", n.Name, "proxy/metrics/resource").DoRaw(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for name, f := range families {
			for _, m := range f.GetMetric() {
				ns := ""
				for _, l := range m.GetLabel() {
					if l.GetName() == "namespace" {
						ns = l.GetValue()
					}
				}
				r := out[ns]
				switch name {
				case "container_cpu_usage_seconds_total":
					r.cpu += m.GetCounter().GetValue()
					r.cpuAt = time.UnixMilli(m.GetTimestampMs())
				case "container_memory_working_set_bytes":
					r.memory += m.GetGauge().GetValue()
				}
				out[ns] = r
			}
		}
	}
	return out
}

// reportTenant is a tenant of `tenantry cost -o json`.
type reportTenant struct {
	Tenant       string             `json:"tenant"`
	Cost         map[string]float64 `json:"cost"`
	Total        float64            `json:"total"`
	CPU          reportUsage        `json:"cpuCoreHours"`
	Memory       reportUsage        `json:"memoryGiBHours"`
	Storage      float64            `json:"storageGiBHours"`
	Environments []struct {
		Namespace string `json:"namespace"`
	} `json:"environments"`
}

type reportUsage struct {
	Billed, Used, Requested float64
	Utilisation             *float64
}

type costJSON struct {
	Tenants []reportTenant `json:"tenants"`
	Shared  float64        `json:"shared"`
}

// costReport runs `tenantry cost` over the period, sampled every scrape.
func costReport(t *testing.T, prom *localcluster.Prometheus, from, to time.Time, output string) []byte {
	t.Helper()
	var out, errOut bytes.Buffer
	root := cli.NewRoot("tenantry", &out, &errOut)
	root.SetArgs([]string{"cost", "--prometheus", prom.HostURL, "--since", from.UTC().Format(time.RFC3339Nano),
		"--until", to.UTC().Format(time.RFC3339Nano), "--resolution", scrapeInterval.String(), "-o", output})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("tenantry cost: %v\n%s", err, errOut.String())
	}
	return out.Bytes()
}

func tenantOf(t *testing.T, report []byte, name string) reportTenant {
	t.Helper()
	var r costJSON
	if err := json.Unmarshal(report, &r); err != nil {
		t.Fatalf("tenantry cost -o json: %v\n%s", err, report)
	}
	for _, tenant := range r.Tenants {
		if tenant.Tenant == name {
			return tenant
		}
	}
	t.Fatalf("tenantry cost has no tenant %s:\n%s", name, report)
	return reportTenant{}
}

// expectedCost is a tenant's figures computed by hand.
type expectedCost struct {
	cpu, memory, storage, environment, tenant float64
	cpuUtilisation                            float64
}

// handCost computes each tenant's cost over w from the prices and the
// kubelet's usage: CPU and memory billed on the reservation (costa's
// requests, costb's quota) or the use, whichever is more, and nothing of
// either while suspended (costb, when suspended is set); storage on the
// reservation (costb's quota); the fees by the hour.
func handCost(w usageWindow, cpuPriceNow float64, suspended bool) map[string]expectedCost {
	hours := w.to.Sub(w.from).Hours()
	const gib = 1 << 30
	tenant := func(ns string, reserved, requests corev1.ResourceList, storage float64, off bool) expectedCost {
		cores, bytes := w.cores[ns], w.bytes[ns]
		req, mem := reserved.Cpu().AsApproximateFloat64(), reserved.Memory().AsApproximateFloat64()
		e := expectedCost{
			storage:        storage / gib * storagePriceMonth / hoursPerMonth * hours,
			environment:    environmentFeeMonth / hoursPerMonth * hours,
			tenant:         tenantFeeMonth / hoursPerMonth * hours,
			cpuUtilisation: cores / requests.Cpu().AsApproximateFloat64(),
		}
		if !off {
			e.cpu = math.Max(req, cores) * cpuPriceNow * hours
			e.memory = math.Max(mem, bytes) / gib * memoryPrice * hours
		}
		return e
	}
	return map[string]expectedCost{
		"costa": tenant("costa", costaRequests, costaRequests, 0, false),
		"costb": tenant("costb", committedQuota, costbRequests, committedStorage.AsApproximateFloat64(), suspended),
	}
}

// checkCost compares a tenant's reported cost with the hand's, within 5 %.
func checkCost(t *testing.T, what string, got reportTenant, want expectedCost) {
	t.Helper()
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"cpu", got.Cost["cpu"], want.cpu}, {"memory", got.Cost["memory"], want.memory}, {"storage", got.Cost["storage"], want.storage},
		{"environment", got.Cost["environment"], want.environment}, {"tenant", got.Cost["tenant"], want.tenant},
	} {
		t.Logf("%s: %s cost %.6f, by hand %.6f", what, c.name, c.got, c.want)
		if !within(c.got, c.want, 0.05) {
			t.Errorf("%s: %s cost %.6f, by hand %.6f: more than 5 %% apart", what, c.name, c.got, c.want)
		}
	}
	if want.cpu > 0 {
		u := math.NaN()
		if got.CPU.Utilisation != nil {
			u = *got.CPU.Utilisation
		}
		t.Logf("%s: CPU utilisation %.4f, by hand %.4f", what, u, want.cpuUtilisation)
		// An idle tenant's is a few millionths, below the report's
		// rounding: it must read idle, not match to 5 %.
		if want.cpuUtilisation < 0.01 {
			if !(u < 0.01) {
				t.Errorf("%s: CPU utilisation %.4f, by hand %.4f: want an idle tenant's", what, u, want.cpuUtilisation)
			}
		} else if !within(u, want.cpuUtilisation, 0.05) {
			t.Errorf("%s: CPU utilisation %.3f, by hand %.3f: more than 5 %% apart", what, u, want.cpuUtilisation)
		}
	}
}

// within says whether got is within frac of want (or both are zero).
func within(got, want, frac float64) bool {
	if want == 0 {
		return got == 0
	}
	return math.Abs(got-want) <= frac*math.Abs(want)
}

// checkOutputs checks the table and CSV of the same period against its
// JSON: the same tenants and totals.
func checkOutputs(t *testing.T, prom *localcluster.Prometheus, w usageWindow, jsonReport []byte) {
	t.Helper()
	var r costJSON
	if err := json.Unmarshal(jsonReport, &r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(costReport(t, prom, w.from, w.to, "csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	table := string(costReport(t, prom, w.from, w.to, "table"))
	t.Logf("tenantry cost (table):\n%s", table)
	total := map[string]string{}
	for _, row := range rows[1:] {
		total[row[3]] = row[len(row)-1]
	}
	for _, tenant := range r.Tenants {
		if got := total[tenant.Tenant]; got != strconv.FormatFloat(tenant.Total, 'f', -1, 64) {
			t.Errorf("CSV total of %s is %s, JSON's %g", tenant.Tenant, got, tenant.Total)
		}
		if !strings.Contains(table, tenant.Tenant+" ") || !strings.Contains(table, strconv.FormatFloat(tenant.Total, 'f', 2, 64)) {
			t.Errorf("the table has no line of %s with its total %.2f", tenant.Tenant, tenant.Total)
		}
	}
}

// checkUtilisationPanel evaluates the dashboard's CPU utilisation panel
// now: costa's must be its use over its request, by hand, within 5 %.
func checkUtilisationPanel(t *testing.T, prom *localcluster.Prometheus, w usageWindow) {
	t.Helper()
	var expr string
	for _, q := range platformQueries(t) {
		if q.where == "panel CPU utilisation (used / requested)" {
			expr = q.expr
		}
	}
	if expr == "" {
		t.Fatal("the dashboard has no panel CPU utilisation (used / requested)")
	}
	samples, err := prom.Query(context.Background(), expr)
	if err != nil {
		t.Fatal(err)
	}
	want := w.cores["costa"] / costaRequests.Cpu().AsApproximateFloat64()
	for _, s := range samples {
		if s.Labels["tenant"] == "costa" {
			t.Logf("dashboard CPU utilisation of costa %.3f, by hand %.3f", s.Value, want)
			if !within(s.Value, want, 0.05) {
				t.Errorf("dashboard CPU utilisation of costa %.3f, by hand %.3f: more than 5 %% apart", s.Value, want)
			}
			return
		}
	}
	t.Errorf("the dashboard's CPU utilisation has no costa: %v", samples)
}
