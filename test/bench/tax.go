package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// bystanderNamespace holds the unrelated user whose latency is the cluster
// tax: what every other user of the cluster pays for its tenants.
const bystanderNamespace = "bystander"

// bystander is a ServiceAccount, bound to a Role of its own, that reads a
// ConfigMap in its own namespace: the RBAC authorizer and the API server's
// caches serve it, as any other user's request.
type bystander struct {
	cs kubernetes.Interface
}

func newBystander(ctx context.Context, admin client.Client, cfg *rest.Config) (*bystander, error) {
	meta := metav1.ObjectMeta{Namespace: bystanderNamespace, Name: "reader"}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: bystanderNamespace}},
		&corev1.ServiceAccount{ObjectMeta: meta},
		&corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"greeting": "hello"}},
		&rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}},
		&rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: meta.Name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: meta.Name, Namespace: bystanderNamespace}}},
	} {
		if err := admin.Create(ctx, obj); err != nil {
			return nil, fmt.Errorf("creating the bystander's %T: %w", obj, err)
		}
	}
	token := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(24 * 3600))}}
	sa := &corev1.ServiceAccount{ObjectMeta: meta}
	if err := admin.SubResource("token").Create(ctx, sa, token); err != nil {
		return nil, fmt.Errorf("a token for the bystander: %w", err)
	}
	c := rest.AnonymousClientConfig(cfg)
	c.BearerToken = token.Status.Token
	// Unthrottled: the latency measured is the server's, not a client queue's.
	c.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		return nil, err
	}
	return &bystander{cs: cs}, nil
}

// measure reads the ConfigMap n times in a row and returns the latencies.
func (b *bystander) measure(ctx context.Context, n int) (latency, error) {
	lat := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := b.cs.CoreV1().ConfigMaps(bystanderNamespace).Get(ctx, "reader", metav1.GetOptions{}); err != nil {
			return latency{}, fmt.Errorf("the bystander's read: %w", err)
		}
		lat = append(lat, time.Since(start))
	}
	return percentiles(lat), nil
}

// millis formats seconds as milliseconds.
func millis(seconds []float64) string {
	out := make([]string, len(seconds))
	for i, s := range seconds {
		out[i] = fmt.Sprintf("%.2f", 1000*s)
	}
	return strings.Join(out, " ") + " ms"
}

// taxRounds is how many rounds the bystander's reads are made in.
const taxRounds = 5

// rounds reads the ConfigMap in taxRounds rounds of n and returns the
// median round's percentiles, each percentile on its own, and each round's
// p99. One stall of the API server (a garbage collection, etcd compacting)
// then moves one round's p99, not the figure; a tax every round pays
// moves the median.
func (b *bystander) rounds(ctx context.Context, n int) (latency, []float64, error) {
	var all []latency
	for range taxRounds {
		lat, err := b.measure(ctx, n)
		if err != nil {
			return latency{}, nil, err
		}
		all = append(all, lat)
	}
	median := func(pick func(latency) float64) float64 {
		vs := make([]float64, 0, len(all))
		for _, l := range all {
			vs = append(vs, pick(l))
		}
		slices.Sort(vs)
		return vs[len(vs)/2]
	}
	p99s := make([]float64, 0, len(all))
	for _, l := range all {
		p99s = append(p99s, l.P99)
	}
	return latency{
		P50: median(func(l latency) float64 { return l.P50 }),
		P95: median(func(l latency) float64 { return l.P95 }),
		P99: median(func(l latency) float64 { return l.P99 }),
		Max: median(func(l latency) float64 { return l.Max }),
	}, p99s, nil
}

// clusterTax measures the bystander's latency and the API server's memory,
// into the empty or the loaded side of r.Tax.
func (b *bench) clusterTax(loaded bool) func(context.Context, *report) error {
	return func(ctx context.Context, r *report) error {
		// Warm the connection and the caches first: the first requests
		// measure TLS and cold paths, not the cluster's load.
		if _, err := b.bystander.measure(ctx, 100); err != nil {
			return err
		}
		lat, p99s, err := b.bystander.rounds(ctx, b.o.taxRequests)
		if err != nil {
			return err
		}
		rss, _, err := localcluster.ProcessUsage(b.cluster.PID("kube-apiserver"))
		if err != nil {
			return fmt.Errorf("the API server's memory: %w", err)
		}
		r.Tax.Requests = b.o.taxRequests
		if loaded {
			r.Tax.Loaded, r.Tax.LoadedRoundsP99, r.Tax.APIServerRSSN = lat, p99s, rss
		} else {
			r.Tax.Empty, r.Tax.EmptyRoundsP99, r.Tax.APIServerRSSEmpty = lat, p99s, rss
		}
		step("   median of %d rounds of %d reads: p50 %.2f ms, p99 %.2f ms (the rounds' p99: %s); API server RSS %.0f MiB",
			taxRounds, b.o.taxRequests, 1000*lat.P50, 1000*lat.P99, millis(p99s), rss)
		return nil
	}
}

// writeCounts are the cumulative write counters the onboarding figures
// are differences of.
type writeCounts struct {
	byResource, operator map[string]float64
}

func (b *bench) writeCounts(ctx context.Context) (writeCounts, error) {
	families, err := testutil.APIServerMetrics(ctx, b.cluster.Config)
	if err != nil {
		return writeCounts{}, err
	}
	w := writeCounts{byResource: map[string]float64{}, operator: map[string]float64{}}
	for _, m := range testutil.Series(families, "apiserver_request_total", nil) {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		verb, resource := labels["verb"], labels["resource"]
		if !writeVerbs[verb] || resource == "leases" {
			continue // node and leader heartbeats grow with time, not tenants
		}
		if sub := labels["subresource"]; sub != "" {
			resource += "/" + sub
		}
		w.byResource[verb+" "+resource] += m.GetCounter().GetValue()
	}
	ops, err := b.operator.metrics()
	if err != nil {
		return writeCounts{}, err
	}
	for _, m := range testutil.Series(ops, "rest_client_requests_total", nil) {
		for _, l := range m.GetLabel() {
			if l.GetName() == "method" && l.GetValue() != "GET" {
				w.operator[l.GetValue()] += m.GetCounter().GetValue()
			}
		}
	}
	return w, nil
}

var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true}

// since is what was written after before, per tenant, leaving out what
// rounds to nothing.
func (w writeCounts) since(before writeCounts, tenants int) (byResource, operator map[string]float64) {
	perTenant := func(now, then map[string]float64) map[string]float64 {
		out := map[string]float64{}
		for k, v := range now {
			if d := (v - then[k]) / float64(tenants); d >= 0.005 {
				out[k] = d
			}
		}
		return out
	}
	return perTenant(w.byResource, before.byResource), perTenant(w.operator, before.operator)
}

// profileAPIServer records a CPU profile of the API server over the next d
// in the background, to path (for go tool pprof bin/kube-apiserver path);
// failures are only reported, as the profile is an aid.
func profileAPIServer(ctx context.Context, cfg *rest.Config, d time.Duration, path string) {
	go func() {
		err := func() error {
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			data, err := cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
				Param("seconds", strconv.Itoa(int(d.Seconds()))).Timeout(d + 30*time.Second).DoRaw(ctx)
			if err != nil {
				return err
			}
			return os.WriteFile(path, data, 0o644)
		}()
		if err != nil && ctx.Err() == nil {
			step("   (no API server CPU profile: %v)", err)
		}
	}()
}
