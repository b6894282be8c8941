// Command fleetbench measures a fleet at scale on this machine: a hub (Argo
// CD, a Git server, the operator binary with --fleet-hub) and -members
// member clusters (kwok nodes, the operator binary with --fleet-member),
// bootstrapped from gitops/fleet. It commits -tenants tenants to the
// platform repository in one push and measures the time until the hub
// holds them all, until it has placed them all, and until each is Ready on
// its member, and the hub's processes' memory and CPU. It writes a
// Markdown report and a JSON file to -out. `make bench-fleet` runs it; it
// is not part of `make test`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/localfleet"
	"github.com/tenantry/tenantry/internal/testutil"
)

type options struct {
	members, tenants int
	operator, out    string
	timeout          time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.members, "members", 3, "member clusters")
	flag.IntVar(&o.tenants, "tenants", 3000, "tenants committed in one push; each member takes at most tenants/members")
	flag.StringVar(&o.operator, "operator", "bin/tenantry-operator", "the operator binary")
	flag.StringVar(&o.out, "out", "bin/bench/fleet", "directory for report.md and report.json")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Minute, "how long the tenants may take to be Ready on their members")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		stop()
		os.Exit(1)
	}
}

// report is what one run measured.
type report struct {
	Members, Tenants int
	Date             string
	CPUs             int
	// Seconds from the push until the hub holds every Tenant, has placed
	// every one, and every one is Ready on its member.
	OnHubSeconds, PlacedSeconds, ReadySeconds float64
	PerMember                                 map[string]int
	// Hub is each hub process's RSS (MiB) at the end, its peak, and its
	// CPU seconds over the run.
	Hub []usage
}

type usage struct {
	Process             string
	RSSMiB, PeakRSSMiB  float64
	CPUSeconds, CPUFrom float64
}

func run(ctx context.Context, o options) error {
	ctrllog.SetLogger(logr.Discard())
	operator, err := filepath.Abs(o.operator)
	if err != nil {
		return err
	}
	scheme, err := install.NewScheme()
	if err != nil {
		return err
	}
	var clusters []*localcluster.Cluster
	defer func() {
		for _, c := range slices.Backward(clusters) {
			_ = c.Stop()
		}
	}()
	// Argo CD's own defaults: a refresh of each Application every two to
	// three minutes, not the tests' ten seconds.
	h, err := localfleet.StartHub(ctx, operator, scheme, localfleet.HubOptions{
		Cluster:      localcluster.Options{Nodes: 1, Progress: os.Stderr},
		ArgoCD:       map[string]string{"timeout.reconciliation": "120s", "timeout.reconciliation.jitter": "60s"},
		Repositories: []string{"platform.git"},
		OperatorArgs: []string{"--pprof-bind-address=" + pprofAddr},
	})
	if h != nil {
		clusters = append(clusters, h.Cluster)
	}
	if err != nil {
		return err
	}
	hub, argo, admin, gitURL := h.Cluster, h.ArgoCD, h.Admin, h.GitURL
	members := map[string]*localfleet.Member{}
	perMember := strconv.Itoa((o.tenants + o.members - 1) / o.members)
	for i := range o.members {
		name := fmt.Sprintf("member-%d", i+1)
		m, err := localfleet.StartMember(ctx, name, operator, scheme, localcluster.Options{Nodes: 1, Progress: os.Stderr})
		if m != nil {
			clusters = append(clusters, m.Cluster)
		}
		if err != nil {
			return err
		}
		members[name] = m
		if err := m.Register(ctx, admin, argo.Namespace, nil, map[string]string{v1alpha1.AnnotationMaxTenants: perMember}); err != nil {
			return err
		}
	}
	repoDir, err := os.MkdirTemp(hub.DataDir, "platform-")
	if err != nil {
		return err
	}
	plan, err := yaml.Marshal(benchPlan())
	if err != nil {
		return err
	}
	if err := gitops.Publish(repoDir, gitURL+"/platform.git", map[string][]byte{"gitops/plans/bench.yaml": plan},
		"The bench plan", "Platform Team", "platform@example.com"); err != nil {
		return err
	}
	if err := install.FleetBootstrap(ctx, admin, argo.Namespace, gitURL+"/platform.git"); err != nil {
		return err
	}
	// Every member has the plan before the tenants come.
	if err := poll(ctx, 5*time.Minute, "the plan on every member", func() (bool, string, error) {
		for name, m := range members {
			if err := m.Admin.Get(ctx, client.ObjectKey{Name: "bench"}, &v1alpha1.TenantPlan{}); err != nil {
				return false, name + ": " + err.Error(), nil
			}
		}
		return true, "", nil
	}); err != nil {
		return err
	}

	hubProcesses := []string{"tenantry-operator", "kube-apiserver", "etcd"}
	for _, c := range []string{"application-controller", "applicationset-controller", "repo-server", "redis"} {
		hubProcesses = append(hubProcesses, argo.Namespace+"-"+c)
	}
	start := map[string]usage{}
	for _, p := range hubProcesses {
		rss, cpu, err := localcluster.ProcessUsage(hub.PID(p))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		start[p] = usage{Process: p, RSSMiB: rss, PeakRSSMiB: rss, CPUFrom: cpu}
	}

	if err := commitTenants(repoDir, o.tenants); err != nil {
		return err
	}
	pushed := time.Now()
	// What the repository's webhook to Argo CD does: the hub's tenants
	// Application reads the new revision now, not at its next refresh.
	if err := argo.Refresh(ctx, "tenants"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "fleetbench: %d tenants pushed\n", o.tenants)
	r := report{Members: o.members, Tenants: o.tenants, Date: time.Now().UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(), PerMember: map[string]int{}}
	sample := func() {
		for _, p := range hubProcesses {
			if rss, _, err := localcluster.ProcessUsage(hub.PID(p)); err == nil {
				u := start[p]
				u.PeakRSSMiB = max(u.PeakRSSMiB, rss)
				start[p] = u
			}
		}
	}

	err = poll(ctx, o.timeout, "every tenant on the hub, placed, and Ready on its member", func() (bool, string, error) {
		sample()
		var list v1alpha1.TenantList
		if err := admin.List(ctx, &list); err != nil {
			return false, "", err
		}
		placed := 0
		for _, t := range list.Items {
			if t.Status.Placement != nil && t.Status.Placement.MovingTo == "" && t.Status.Placement.Cluster != "" {
				placed++
			}
		}
		if r.OnHubSeconds == 0 && len(list.Items) == o.tenants {
			r.OnHubSeconds = time.Since(pushed).Seconds()
		}
		if r.PlacedSeconds == 0 && placed == o.tenants {
			r.PlacedSeconds = time.Since(pushed).Seconds()
		}
		ready := 0
		for name, m := range members {
			var on v1alpha1.TenantList
			if err := m.Admin.List(ctx, &on); err != nil {
				return false, "", err
			}
			n := 0
			for _, t := range on.Items {
				if t.Status.Phase == v1alpha1.PhaseReady {
					n++
				}
			}
			r.PerMember[name] = n
			ready += n
		}
		return ready == o.tenants, fmt.Sprintf("%d on the hub, %d placed, %d Ready on members %v", len(list.Items), placed, ready, r.PerMember), nil
	})
	if err != nil {
		return err
	}
	r.ReadySeconds = time.Since(pushed).Seconds()
	// The hub operator's heap at the end, after a collection, for go tool
	// pprof: what its memory holds.
	if err := testutil.SaveProfile(ctx, pprofAddr, "heap?gc=1", filepath.Join(o.out, "hub-heap.pprof")); err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench: the hub operator's heap profile:", err)
	}
	for _, p := range hubProcesses {
		rss, cpu, err := localcluster.ProcessUsage(hub.PID(p))
		if err != nil {
			return err
		}
		u := start[p]
		u.RSSMiB, u.PeakRSSMiB, u.CPUSeconds = rss, max(u.PeakRSSMiB, rss), cpu-u.CPUFrom
		r.Hub = append(r.Hub, u)
	}
	return write(o.out, r)
}

// pprofAddr is where the hub's operator serves its profiles.
const pprofAddr = "127.0.0.1:6061"

// benchPlan is the bench tenants' plan: one namespace each, a small quota.
func benchPlan() *v1alpha1.TenantPlan {
	return &v1alpha1.TenantPlan{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "TenantPlan"},
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: v1alpha1.TenantPlanSpec{Quota: corev1.ResourceList{
			corev1.ResourceRequestsCPU: resource.MustParse("1"), corev1.ResourceRequestsMemory: resource.MustParse("1Gi"),
			corev1.ResourceLimitsCPU: resource.MustParse("2"), corev1.ResourceLimitsMemory: resource.MustParse("2Gi"), corev1.ResourcePods: resource.MustParse("10"),
		}},
	}
}

// commitTenants writes n tenants to gitops/tenants in one commit and
// pushes it, as a platform team's bulk import would.
func commitTenants(dir string, n int) error {
	tenants := filepath.Join(dir, "gitops", "tenants")
	if err := os.MkdirAll(tenants, 0o755); err != nil {
		return err
	}
	for i := range n {
		name := fmt.Sprintf("t%05d", i)
		data, err := yaml.Marshal(v1alpha1.Tenant{
			TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Tenant"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       v1alpha1.TenantSpec{Plan: "bench", Owners: []v1alpha1.Owner{{Kind: v1alpha1.SubjectGroup, Name: name + "-admins"}}},
		})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tenants, name+".yaml"), data, 0o644); err != nil {
			return err
		}
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.AddGlob("gitops/tenants/*.yaml"); err != nil {
		return err
	}
	if _, err := wt.Commit(fmt.Sprintf("Onboard %d tenants", n), &git.CommitOptions{}); err != nil {
		return err
	}
	return repo.Push(&git.PushOptions{RemoteName: "origin"})
}

// poll checks every two seconds until done, printing progress every ten.
func poll(ctx context.Context, timeout time.Duration, what string, check func() (bool, string, error)) error {
	start, last := time.Now(), time.Time{}
	for {
		done, state, err := check()
		if err != nil {
			return err
		}
		if done {
			fmt.Fprintf(os.Stderr, "fleetbench: %s after %.1fs\n", what, time.Since(start).Seconds())
			return nil
		}
		if time.Since(last) > 10*time.Second {
			fmt.Fprintf(os.Stderr, "fleetbench: [%4.0fs] waiting for %s: %s\n", time.Since(start).Seconds(), what, state)
			last = time.Now()
		}
		if time.Since(start) > timeout {
			return fmt.Errorf("timed out after %s waiting for %s: %s", timeout, what, state)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func write(dir string, r report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), data, 0o644); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# A fleet: %d members × %d tenants (%s, %d CPUs)\n\n", r.Members, r.Tenants/r.Members, r.Date, r.CPUs)
	fmt.Fprintf(&b, "| from the push of %d tenants until | seconds |\n| --- | --- |\n", r.Tenants)
	fmt.Fprintf(&b, "| every Tenant on the hub (Argo CD) | %.1f |\n| every Tenant placed (the hub) | %.1f |\n| every Tenant Ready on its member | %.1f |\n\n",
		r.OnHubSeconds, r.PlacedSeconds, r.ReadySeconds)
	names := slices.Sorted(maps.Keys(r.PerMember))
	for _, name := range names {
		fmt.Fprintf(&b, "- %s: %d tenants Ready\n", name, r.PerMember[name])
	}
	fmt.Fprintf(&b, "\n| hub process | RSS at the end (MiB) | peak RSS (MiB) | CPU over the run (s) |\n| --- | --- | --- | --- |\n")
	for _, u := range r.Hub {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f |\n", u.Process, u.RSSMiB, u.PeakRSSMiB, u.CPUSeconds)
	}
	fmt.Print(b.String())
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()), 0o644)
}
