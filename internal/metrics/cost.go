package metrics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/cost"
	"github.com/tenantry/tenantry/internal/render"
)

// The cost families: the rate card and what each tenant namespace reserves,
// which the platform's recording rules turn into cost per hour with the
// kubelet's usage (docs/cost.md). They exist only while a PriceList does.
// Units follow kube-state-metrics: a resource and a unit label.
var (
	tenantPriceFamily = family{"tenantry_tenant_price_hourly",
		"Price per hour of one unit of a resource to a Tenant, its plan's over the PriceList's: cpu per core, memory and storage per GiB, tenant per tenant, environment per namespace.",
		[]string{"currency", "resource", "tenant", "unit"}}
	platformPriceFamily = family{"tenantry_platform_price_hourly",
		"The PriceList's own price per hour of one unit, at which shared namespaces and idle capacity are costed; resource platform is its fixed platform cost.",
		[]string{"currency", "resource", "unit"}}
	sharedNamespaceFamily = family{"tenantry_shared_namespace",
		"A namespace the PriceList shares between tenants (always 1).", []string{"namespace"}}
	namespaceInfoFamily = family{"tenantry_namespace_info",
		"A tenant namespace and its environment (always 1).", []string{"environment", "namespace", "tenant"}}
	namespaceRequestsFamily = family{"tenantry_namespace_resource_requests",
		"What a tenant namespace's pods and claims request (its quota's used requests.cpu, requests.memory, requests.storage).",
		[]string{"namespace", "resource", "tenant", "unit"}}
	namespaceCommittedFamily = family{"tenantry_namespace_resource_committed",
		"What a tenant namespace's quota holds (hard requests.*), for tenants billed on their quota.",
		[]string{"namespace", "resource", "tenant", "unit"}}

	costFamilies = []family{tenantPriceFamily, platformPriceFamily, sharedNamespaceFamily, namespaceInfoFamily,
		namespaceRequestsFamily, namespaceCommittedFamily}
)

// reservedResources are the quota resources reservations are read from,
// with the resource and unit labels their series carry.
var reservedResources = []struct {
	quota          corev1.ResourceName
	resource, unit string
}{
	{corev1.ResourceRequestsCPU, "cpu", "core"},
	{corev1.ResourceRequestsMemory, "memory", "byte"},
	{corev1.ResourceRequestsStorage, "storage", "byte"},
}

// priceList returns the platform's PriceList, or nil where there is none
// (or its kind is not installed): then the operator exports no cost.
func priceList(ctx context.Context, reader client.Reader) (*v1alpha1.PriceList, error) {
	list := &v1alpha1.PriceList{}
	err := reader.Get(ctx, client.ObjectKey{Name: v1alpha1.PriceListName}, list)
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading PriceList %s for the cost metrics: %w", v1alpha1.PriceListName, err)
	}
	return list, nil
}

// costs adds the cost families: each tenant's rates, the platform's, the
// shared namespaces, and each tenant namespace's environment and
// reservations. A tenant whose rates cannot be read (a price written past
// the API's validation) is left out, and the error returned with the rest.
func (s *series) costs(list *v1alpha1.PriceList, plans []v1alpha1.TenantPlan, tenants []v1alpha1.Tenant, quotas []corev1.ResourceQuota) error {
	var errs []error
	platform, err := cost.Platform(list)
	if err != nil {
		errs = append(errs, fmt.Errorf("PriceList %s: %w", list.Name, err))
	}
	currency := s.pair("currency", platform.Currency)
	for _, p := range []struct {
		resource, unit string
		value          float64
	}{
		{"cpu", "core", platform.CPUCoreHour}, {"memory", "GiB", platform.MemoryGiBHour}, {"platform", "platform", platform.PlatformHour},
	} {
		s.add(platformPriceFamily, s.value(p.value), currency, s.pair("resource", p.resource), s.pair("unit", p.unit))
	}
	for _, ns := range slices.Sorted(slices.Values(list.Spec.SharedNamespaces)) {
		s.add(sharedNamespaceFamily, s.one, s.pair("namespace", ns))
	}

	byName := map[string]*v1alpha1.TenantPlan{}
	for i := range plans {
		byName[plans[i].Name] = &plans[i]
	}
	committed := map[string]bool{}
	environments := map[string]string{} // namespace → environment
	for i := range tenants {
		t := &tenants[i]
		plan := byName[t.Status.Plan]
		if plan == nil {
			plan = byName[t.Spec.Plan]
		}
		rates, err := cost.ForPlan(list, plan)
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", t.Name, err))
			continue
		}
		committed[t.Name] = rates.Basis == v1alpha1.BasisQuota
		tenant := s.pair("tenant", t.Name)
		for _, p := range []struct {
			resource, unit string
			value          float64
		}{
			{"cpu", "core", rates.CPUCoreHour}, {"environment", "namespace", rates.EnvironmentHour},
			{"memory", "GiB", rates.MemoryGiBHour}, {"storage", "GiB", rates.StorageGiBHour}, {"tenant", "tenant", rates.TenantHour},
		} {
			s.add(tenantPriceFamily, s.value(p.value), currency, s.pair("resource", p.resource), tenant, s.pair("unit", p.unit))
		}
		for _, env := range render.Environments(t) {
			environments[env.Namespace] = env.Name
		}
	}

	sorted := make([]*corev1.ResourceQuota, 0, len(quotas))
	for i := range quotas {
		sorted = append(sorted, &quotas[i])
	}
	slices.SortFunc(sorted, func(a, b *corev1.ResourceQuota) int { return strings.Compare(a.Namespace, b.Namespace) })
	for _, q := range sorted {
		name := q.Labels[v1alpha1.LabelTenant]
		if _, priced := committed[name]; !priced {
			continue
		}
		ns := &dto.LabelPair{Name: ptr.To("namespace"), Value: &q.Namespace}
		tenant := s.pair("tenant", name)
		env, ok := environments[q.Namespace]
		if !ok { // an environment removed from the spec, its namespace retained
			env = strings.TrimPrefix(q.Namespace, name+"-")
		}
		s.add(namespaceInfoFamily, s.one, s.pair("environment", env), ns, tenant)
		for _, r := range reservedResources {
			labels := []*dto.LabelPair{ns, s.pair("resource", r.resource), tenant, s.pair("unit", r.unit)}
			used := q.Status.Used[r.quota]
			s.add(namespaceRequestsFamily, s.value(used.AsApproximateFloat64()), labels...)
			if committed[name] {
				hard := q.Status.Hard[r.quota]
				s.add(namespaceCommittedFamily, s.value(hard.AsApproximateFloat64()), labels...)
			}
		}
	}
	return errors.Join(errs...)
}
