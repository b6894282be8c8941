package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The API server itself refuses invalid Tenants and TenantPlans, with the
// CRD's OpenAPI schema and CEL rules: these tests need only the API server.
var apiServer client.Client

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if testutil.ShortMode() {
		return m.Run()
	}
	ctx := context.Background()
	cluster, err := localcluster.Start(ctx, localcluster.Options{Nodes: -1, Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the local control plane:", err)
		return 1
	}
	defer func() { _ = cluster.Stop() }()
	if apiServer, err = client.New(cluster.Config, client.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := install.CRDs(ctx, apiServer); err != nil {
		fmt.Fprintln(os.Stderr, "installing the CRDs:", err)
		return 1
	}
	return m.Run()
}

const validPlanSpec = `
quota: {requests.cpu: "1", requests.memory: 1Gi, limits.cpu: "2", limits.memory: 2Gi, pods: "10"}
quotaCeiling: {requests.cpu: "4"}
limits:
  defaultRequest: {cpu: 100m}
  max: {cpu: "1"}
allowedRegistries: [ghcr.io/acme/]
`

const validPriceListSpec = `
currency: EUR
prices: {cpuCoreHour: "0.0316", memoryGiBHour: "0.0042", storageGiBMonth: "0.08", tenantMonth: "20"}
sharedNamespaces: [tenantry-system, argocd, monitoring]
platformMonth: "1500"
`

const validTenantSpec = `
plan: pro
owners: [{kind: User, name: alice@acme.com, role: admin}]
environments: [prod, staging]
apps:
  - {name: web, environment: prod, repoURL: "git://git.example.com/acme/web", path: deploy}
  - {name: db, environment: staging, repoURL: "https://charts.example.com", chart: postgres, values: {auth: {database: shop}}}
`

func TestValidObjectsAreAccepted(t *testing.T) {
	testutil.NeedsCluster(t)
	for _, obj := range []*unstructured.Unstructured{
		object(t, "TenantPlan", "valid-plan", validPlanSpec, ""),
		object(t, "TenantPlan", "any-registry", validPlanSpec, `allowedRegistries: ["*"]`),
		object(t, "TenantPlan", "no-registry", validPlanSpec, "allowedRegistries: null"),
		object(t, "Tenant", "valid-tenant", validTenantSpec, ""),
		object(t, "TenantPlan", "plan-metrics-address", validPlanSpec, `analysis: {prometheusAddress: "http://prom:9090"}`),
		// A Tenant may name a credential of its own, for an external backend.
		object(t, "Tenant", "own-credential", validTenantSpec, `analysis: {credentialsSecret: acme-token}`),
		object(t, "PriceList", "default", validPriceListSpec, ""),
		object(t, "TenantPlan", "committed-plan", validPlanSpec, `prices: {cpuCoreHour: "0.025", basis: Quota}`),
		object(t, "TenantPlan", "storage-plan", validPlanSpec,
			`{quota: {requests.cpu: "1", requests.memory: 1Gi, limits.cpu: "2", limits.memory: 2Gi, pods: "10", requests.storage: 10Gi}, prices: {storageGiBMonth: "0.1"}}`),
	} {
		if err := apiServer.Create(t.Context(), obj, client.DryRunAll); err != nil {
			t.Errorf("valid %s refused: %v", obj.GetKind(), err)
		}
	}
}

func TestInvalidObjectsAreRefusedWithAMessageNamingTheField(t *testing.T) {
	testutil.NeedsCluster(t)
	tests := []struct {
		name    string
		kind    string
		objName string
		spec    string
		patch   string // YAML merged over spec
		want    string
	}{
		{"tenant name not a DNS label", "Tenant", "acme.corp", validTenantSpec, "",
			"metadata.name: a tenant name must be a DNS label"},
		{"reserved tenant name kube-system", "Tenant", "kube-system", validTenantSpec, "",
			"metadata.name: default, kube, kube-*, tenantry and argocd are reserved"},
		{"reserved tenant name default", "Tenant", "default", validTenantSpec, "",
			"are reserved for the cluster and the platform"},
		{"namespace name too long", "Tenant", "a-very-long-tenant-name-that-is-forty-chars", validTenantSpec,
			"environments: [production-eu-west-and-more]", "spec.environments: <tenant>-<environment> must fit a 63-character namespace name"},
		{"duplicate environment", "Tenant", "dup-env", validTenantSpec, "environments: [prod, prod]",
			"spec.environments: each environment must be listed once"},
		{"environment not a DNS label", "Tenant", "bad-env", validTenantSpec, "environments: [Prod]",
			"spec.environments[0]"},
		{"unknown owner role", "Tenant", "bad-role", validTenantSpec, "owners: [{kind: User, name: alice, role: owner}]",
			`spec.owners[0].role: Unsupported value: "owner": supported values: "admin", "developer", "viewer"`},
		{"unknown owner kind", "Tenant", "bad-kind", validTenantSpec, "owners: [{kind: Robot, name: r2d2}]",
			`spec.owners[0].kind: Unsupported value: "Robot"`},
		{"service account owner without namespace", "Tenant", "sa-no-ns", validTenantSpec, "owners: [{kind: ServiceAccount, name: deployer}]",
			"spec.owners[].namespace: set it for kind ServiceAccount, and only for that kind"},
		{"owner listed twice", "Tenant", "dup-owner", validTenantSpec,
			"owners: [{kind: User, name: alice, role: admin}, {kind: User, name: alice, role: viewer}]",
			"spec.owners: an identity is listed twice"},
		{"no owners", "Tenant", "no-owners", validTenantSpec, "owners: []",
			"spec.owners: Invalid value: 0: spec.owners in body should have at least 1 items"},
		{"no plan", "Tenant", "no-plan", validTenantSpec, "plan: null", "spec.plan: Required value"},
		{"quota value not a quantity", "Tenant", "bad-quota", validTenantSpec, "quota: {requests.cpu: lots}",
			"spec.quota"},
		{"platform label on namespaces", "Tenant", "bad-label", validTenantSpec,
			"namespaceMetadata: {labels: {tenantry.dev/tenant: other}}", "spec.namespaceMetadata.labels: keys under tenantry.dev/"},
		{"wildcard domain", "Tenant", "wild-domain", validTenantSpec, `ingress: {domains: ["*.acme.com"]}`,
			"spec.ingress.domains[0]"},
		{"top-level domain", "Tenant", "tld-domain", validTenantSpec, "ingress: {domains: [com]}",
			"spec.ingress.domains[0]"},
		{"app with both path and chart", "Tenant", "app-both", validTenantSpec,
			`apps: [{name: web, environment: prod, repoURL: "git://x/y", path: ., chart: web}]`,
			"spec.apps[]: set path (a directory in a Git repository) or chart (a chart in a Helm repository), not both"},
		{"app in an unknown environment", "Tenant", "app-env", validTenantSpec,
			`apps: [{name: web, environment: qa, repoURL: "git://x/y", path: .}]`,
			"spec.apps[].environment: name one of spec.environments"},
		{"app without environment on a tenant with environments", "Tenant", "app-no-env", validTenantSpec,
			`apps: [{name: web, repoURL: "git://x/y", path: .}]`,
			"spec.apps[].environment: name one of spec.environments"},
		{"app listed twice", "Tenant", "app-twice", validTenantSpec,
			`apps: [{name: web, environment: prod, repoURL: "git://x/y", path: .}, {name: web, environment: staging, repoURL: "git://x/z", path: .}]`,
			`spec.apps[1]: Duplicate value`},
		{"plan without environments", "TenantPlan", "no-envs", validPlanSpec, "maxEnvironments: 0",
			"spec.maxEnvironments: Invalid value: 0: spec.maxEnvironments in body should be greater than or equal to 1"},
		{"plan quota leaves pods unbounded", "TenantPlan", "no-pods", validPlanSpec,
			`quota: {requests.cpu: "1", requests.memory: 1Gi, limits.cpu: "2", limits.memory: 2Gi}`,
			"spec.quota: must cap requests.cpu, requests.memory, limits.cpu, limits.memory and pods"},
		{"registry without trailing slash", "TenantPlan", "bad-registry", validPlanSpec, "allowedRegistries: [ghcr.io]",
			"spec.allowedRegistries[0]"},
		{"every registry combined with a prefix", "TenantPlan", "bad-wildcard", validPlanSpec, `allowedRegistries: ["*", ghcr.io/]`,
			`spec.allowedRegistries: "*" allows every registry and cannot be combined with others`},
		{"registry wildcard inside a prefix", "TenantPlan", "bad-glob", validPlanSpec, `allowedRegistries: ["ghcr.io/*/"]`,
			"spec.allowedRegistries[0]"},
		{"default request above max", "TenantPlan", "bad-limits", validPlanSpec,
			`limits: {defaultRequest: {cpu: "2"}, max: {cpu: "1"}}`, "spec.limits.defaultRequest: a value is above spec.limits.max"},
		{"limit on an unknown resource", "TenantPlan", "bad-limit-key", validPlanSpec,
			`limits: {max: {nvidia.com/gpu: "1"}}`, "spec.limits.max: only cpu, memory and ephemeral-storage can be set"},
		{"unknown service type", "TenantPlan", "bad-service-type", validPlanSpec, "allowedServiceTypes: [Ingress]",
			`spec.allowedServiceTypes[0]: Unsupported value: "Ingress"`},
		{"node pool label with a comma", "TenantPlan", "bad-pool", validPlanSpec, `nodeSelector: {pool: "a,b"}`,
			"spec.nodeSelector: keys and values cannot hold ',' or '='"},
		{"storage class not a DNS name", "TenantPlan", "bad-class", validPlanSpec, "storageClasses: [Fast_SSD]",
			"spec.storageClasses[0]"},
		{"plan sharing one metrics credential with all its tenants", "TenantPlan", "shared-credential", validPlanSpec,
			`analysis: {prometheusAddress: "http://prom:9090", credentialsSecret: prom-token}`,
			"spec.analysis.credentialsSecret: a plan's credential would be shared by every tenant on it, letting each read the others' metrics"},
		{"price list not named default", "PriceList", "prices", validPriceListSpec, "",
			`the platform reads one PriceList, named "default"`},
		{"currency not an ISO code", "PriceList", "default", validPriceListSpec, "currency: euro",
			"spec.currency: want an ISO 4217 code"},
		{"price with its currency", "PriceList", "default", validPriceListSpec, `prices: {cpuCoreHour: "$0.03"}`,
			"spec.prices.cpuCoreHour: Invalid value: \"$0.03\": want a decimal amount such as 0.0316"},
		{"negative price", "PriceList", "default", validPriceListSpec, `platformMonth: "-5"`,
			"spec.platformMonth: Invalid value: \"-5\": want a decimal amount"},
		{"unknown cost basis", "PriceList", "default", validPriceListSpec, "basis: Usage",
			`spec.basis: Unsupported value: "Usage": supported values: "Requests", "Quota"`},
		{"plan pricing storage its quota does not cap", "TenantPlan", "storage-unbilled", validPlanSpec, `prices: {storageGiBMonth: "0.1"}`,
			"spec.prices.storageGiBMonth: storage is billed on the quota's requests.storage, which spec.quota does not cap"},
		{"plan price too precise", "TenantPlan", "fine-price", validPlanSpec, `prices: {memoryGiBHour: "0.0000001"}`,
			"spec.prices.memoryGiBHour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := object(t, tt.kind, tt.objName, tt.spec, tt.patch)
			err := apiServer.Create(t.Context(), obj, client.DryRunAll)
			testutil.WantRefusal(t, err, apierrors.IsInvalid, tt.want)
			t.Logf("refused: %v", err)
		})
	}
}

// object builds a Tenant or TenantPlan from a YAML spec with patch's
// top-level fields replacing the spec's (a null deletes the field).
func object(t *testing.T, kind, name, spec, patch string) *unstructured.Unstructured {
	t.Helper()
	fields := map[string]any{}
	if err := yaml.Unmarshal([]byte(spec), &fields); err != nil {
		t.Fatal(err)
	}
	overrides := map[string]any{}
	if err := yaml.Unmarshal([]byte(patch), &overrides); err != nil {
		t.Fatal(err)
	}
	for k, v := range overrides {
		if v == nil {
			delete(fields, k)
			continue
		}
		fields[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "tenantry.dev/v1alpha1",
		"kind":       kind,
		"metadata":   map[string]any{"name": name},
		"spec":       fields,
	}}
}
