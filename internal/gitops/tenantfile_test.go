package gitops

import (
	"bytes"
	"errors"
	"io/fs"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/gitops"
)

func TestMarshalTenant(t *testing.T) {
	acme := &v1alpha1.Tenant{
		TypeMeta: metav1.TypeMeta{Kind: "Tenant", APIVersion: "tenantry.dev/v1alpha1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "acme", UID: "1234", ResourceVersion: "42", Generation: 3,
			CreationTimestamp: metav1.Now(),
			ManagedFields:     []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
		Spec: v1alpha1.TenantSpec{
			Plan:         "pro",
			DisplayName:  "Acme Corp",
			Environments: []string{"prod", "staging"},
			Owners: []v1alpha1.Owner{
				{Kind: v1alpha1.SubjectUser, Name: "alice@acme.com", Role: v1alpha1.RoleAdmin},
				{Kind: v1alpha1.SubjectServiceAccount, Name: "ci", Namespace: "acme-ci", Role: v1alpha1.RoleDeveloper},
			},
			Quota: corev1.ResourceList{
				"requests.cpu":    resource.MustParse("6"),
				"requests.memory": resource.MustParse("8Gi"),
				"pods":            resource.MustParse("20"),
			},
		},
		Status: v1alpha1.TenantStatus{Phase: v1alpha1.PhaseReady, Namespaces: []string{"acme-prod"}},
	}
	// No TypeMeta: a Tenant built in code still gets apiVersion and kind.
	quoted := &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "globex",
			Labels:      map[string]string{"on": "y", "tier": "gold"},
			Annotations: map[string]string{"note": "", "hex": "0x10", "ticket": "1234"},
		},
		Spec: v1alpha1.TenantSpec{Plan: "free", Owners: []v1alpha1.Owner{{Kind: v1alpha1.SubjectGroup, Name: "no"}}},
	}

	tests := []struct {
		name   string
		tenant *v1alpha1.Tenant
		header string
		want   string
	}{{
		name:   "sorted keys, no status or server fields, quantities quoted",
		tenant: acme,
		want: `apiVersion: tenantry.dev/v1alpha1
kind: Tenant
metadata:
  name: acme
spec:
  displayName: Acme Corp
  environments:
    - prod
    - staging
  owners:
    - kind: User
      name: alice@acme.com
      role: admin
    - kind: ServiceAccount
      name: ci
      namespace: acme-ci
      role: developer
  plan: pro
  quota:
    pods: "20"
    requests.cpu: "6"
    requests.memory: 8Gi
`,
	}, {
		name:   "header comment, one line",
		tenant: &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "initech"}, Spec: v1alpha1.TenantSpec{Plan: "enterprise"}},
		header: "Initech is an enterprise customer.\n",
		want: `# Initech is an enterprise customer.
apiVersion: tenantry.dev/v1alpha1
kind: Tenant
metadata:
  name: initech
spec:
  plan: enterprise
`,
	}, {
		name:   "header comment, paragraphs",
		tenant: &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "initech"}, Spec: v1alpha1.TenantSpec{Plan: "enterprise"}},
		header: "Initech.\n\nRequested in TICKET-1.",
		want: `# Initech.
#
# Requested in TICKET-1.
apiVersion: tenantry.dev/v1alpha1
kind: Tenant
metadata:
  name: initech
spec:
  plan: enterprise
`,
	}, {
		name:   "labels and annotations; strings YAML 1.1 reads as bools or numbers quoted",
		tenant: quoted,
		want: `apiVersion: tenantry.dev/v1alpha1
kind: Tenant
metadata:
  annotations:
    hex: "0x10"
    note: ""
    ticket: "1234"
  labels:
    "on": "y"
    tier: gold
  name: globex
spec:
  owners:
    - kind: Group
      name: "no"
  plan: free
`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MarshalTenant(tc.tenant, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			back, err := UnmarshalTenant(got)
			if err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			if !sameTenant(t, back, tc.tenant) {
				t.Errorf("round trip changed the tenant:\n%+v\nwant\n%+v", back.Spec, tc.tenant.Spec)
			}
		})
	}
}

func TestUnmarshalTenantErrors(t *testing.T) {
	valid := "apiVersion: tenantry.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: acme\nspec:\n  plan: pro\n"
	tests := []struct {
		name string
		data string
		want string // fragment of the error
	}{
		{"plan file", strings.Replace(valid, "kind: Tenant", "kind: TenantPlan", 1), "holds kind TenantPlan of apiVersion tenantry.dev/v1alpha1; want kind Tenant"},
		{"other API version", strings.Replace(valid, "v1alpha1", "v1", 1), "holds kind Tenant of apiVersion tenantry.dev/v1;"},
		{"no kind", strings.Replace(valid, "kind: Tenant\n", "", 1), "holds no kind (apiVersion tenantry.dev/v1alpha1)"},
		{"unknown spec field", valid + "  plann: free\n", `unknown field "spec.plann"`},
		{"unknown owner field", valid + "  owners:\n    - {kind: User, name: a, rol: admin}\n", `unknown field "spec.owners[0].rol"`},
		{"unknown top-level field", valid + "extra: 1\n", `unknown field "extra"`},
		{"two unknown fields", valid + "  plann: x\n  owners: [{kind: User, nam: x}]\n", `tenant file: unknown field "spec.owners[0].nam"; unknown field "spec.plann"`},
		{"field with wrong case", strings.Replace(valid, "plan:", "Plan:", 1), `unknown field "spec.Plan"`},
		{"duplicate key", valid + "  plan: free\n", `"plan" already set`},
		{"two documents", valid + "---\n" + valid, "more than one YAML document"},
		{"empty", "", "empty"},
		{"a list", "- a\n- b\n", "not a YAML mapping"},
		{"wrong type", valid + "  suspended: maybe\n", "spec.suspended"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := UnmarshalTenant([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := UnmarshalTenant([]byte(valid)); err != nil {
		t.Errorf("valid file refused: %v", err)
	}
}

// exampleEdits are the edits the CLI makes, each with the file it must
// produce from the original: exactly the lines the edit is about change.
var exampleEdits = []struct {
	name  string
	edit  func(*v1alpha1.Tenant) error
	check func(*v1alpha1.Tenant) bool
	want  func(orig string) string
}{{
	name:  "change the plan",
	edit:  func(t *v1alpha1.Tenant) error { t.Spec.Plan = "gold"; return nil },
	check: func(t *v1alpha1.Tenant) bool { return t.Spec.Plan == "gold" },
	want: func(orig string) string {
		return regexp.MustCompile(`(?m)^  plan: .*$`).ReplaceAllString(orig, "  plan: gold")
	},
}, {
	name: "add an environment",
	edit: func(t *v1alpha1.Tenant) error {
		if !slices.Contains(t.Spec.Environments, "qa") {
			t.Spec.Environments = append(t.Spec.Environments, "qa")
		}
		return nil
	},
	check: func(t *v1alpha1.Tenant) bool {
		return len(t.Spec.Environments) > 0 && t.Spec.Environments[len(t.Spec.Environments)-1] == "qa"
	},
	want: func(orig string) string {
		flow := regexp.MustCompile(`(?m)^(  environments: \[.*)\]$`)
		if flow.MatchString(orig) {
			return flow.ReplaceAllString(orig, "$1, qa]")
		}
		return orig + "  environments:\n    - qa\n"
	},
}, {
	name: "add an owner",
	edit: func(t *v1alpha1.Tenant) error {
		newbie := v1alpha1.Owner{Kind: v1alpha1.SubjectUser, Name: "newbie@example.com", Role: v1alpha1.RoleViewer}
		if !slices.Contains(t.Spec.Owners, newbie) {
			t.Spec.Owners = append(t.Spec.Owners, newbie)
		}
		return nil
	},
	check: func(t *v1alpha1.Tenant) bool { return t.Spec.Owners[len(t.Spec.Owners)-1].Name == "newbie@example.com" },
	want: func(orig string) string {
		last := regexp.MustCompile(`(?m)^    - \{.*\}\n`).FindAllStringIndex(orig, -1)
		end := last[len(last)-1][1]
		return orig[:end] + "    - {kind: User, name: newbie@example.com, role: viewer}\n" + orig[end:]
	},
}, {
	name:  "remove the quota",
	edit:  func(t *v1alpha1.Tenant) error { t.Spec.Quota = nil; return nil },
	check: func(t *v1alpha1.Tenant) bool { return t.Spec.Quota == nil },
	want: func(orig string) string {
		return regexp.MustCompile(`(?m)^  quota:\n(    .*\n)*`).ReplaceAllString(orig, "")
	},
}, {
	name:  "suspend",
	edit:  func(t *v1alpha1.Tenant) error { t.Spec.Suspended = true; return nil },
	check: func(t *v1alpha1.Tenant) bool { return t.Spec.Suspended },
	want:  func(orig string) string { return orig + "  suspended: true\n" },
}}

func TestEditTenantExamples(t *testing.T) {
	files, err := fs.Glob(examples.Examples, "tenants/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example tenants: %v", err)
	}
	for _, file := range files {
		orig, err := examples.Examples.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range exampleEdits {
			t.Run(file+"/"+tc.name, func(t *testing.T) {
				got, err := EditTenant(orig, tc.edit)
				if err != nil {
					t.Fatal(err)
				}
				if want := tc.want(string(orig)); string(got) != want {
					t.Errorf("got\n%s\nwant\n%s", got, want)
				}

				edited, err := UnmarshalTenant(got)
				if err != nil {
					t.Fatalf("result does not parse: %v", err)
				}
				if !tc.check(edited) {
					t.Errorf("result does not have the change: %+v", edited.Spec)
				}
				want, _ := UnmarshalTenant(orig)
				if err := tc.edit(want); err != nil {
					t.Fatal(err)
				}
				if !sameTenant(t, edited, want) {
					t.Errorf("result holds\n%+v\nwant\n%+v", edited.Spec, want.Spec)
				}

				for _, line := range strings.Split(string(orig), "\n") {
					if strings.HasPrefix(strings.TrimSpace(line), "#") && !strings.Contains(string(got), line+"\n") {
						t.Errorf("comment %q lost", line)
					}
				}
				for _, flow := range []string{"  environments: [", "    domains: [", "    - {"} {
					if strings.Contains(string(orig), flow) && !strings.Contains(string(got), flow) {
						t.Errorf("flow style of %q lost", flow)
					}
				}
				assertStable(t, got)
				// The edits are idempotent: made again, they change nothing.
				again, err := EditTenant(got, tc.edit)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, got) {
					t.Errorf("the same edit again changed the file to\n%s", again)
				}
			})
		}
	}
}

// commented has comments of every kind yaml.v3 knows, values written
// differently from their canonical form, and what a `kubectl get -o yaml`
// adds.
const commented = `# Acme runs production and staging.
# Ticket: PLAT-12.

# Reviewed by the platform team.
apiVersion: tenantry.dev/v1alpha1
kind: Tenant
metadata:
  name: acme # the customer's short name
  creationTimestamp: "2026-01-02T03:04:05Z"
  resourceVersion: "42"
spec:
  # The plan is reviewed every quarter.
  plan: pro # upgraded in May
  displayName: 'Acme Corp'
  environments: [prod, staging, dev] # prod first
  owners:
    # Alice runs the tenant.
    - {kind: User, name: alice@acme.com, role: admin}
    # The developers' group, from the IdP.
    - kind: Group
      name: acme-developers # synced nightly
      role: developer
    - {kind: User, name: auditor@acme.com, role: viewer} # until Q3
  quota:
    requests.cpu: 6000m # six cores
    limits.cpu: "12"
  suspended: false
  # End of the spec.
status:
  phase: Ready
`

func TestEditTenantKeepsComments(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*v1alpha1.Tenant) error
		present []string // lines (or line fragments) that must be in the result
		absent  []string // that must not
	}{{
		name: "no-op drops only status and server fields",
		edit: func(*v1alpha1.Tenant) error { return nil },
		present: []string{
			"# Acme runs production and staging.\n# Ticket: PLAT-12.\n\n# Reviewed by the platform team.\napiVersion:",
			"  name: acme # the customer's short name\n",
			"  # The plan is reviewed every quarter.\n  plan: pro # upgraded in May\n",
			"  displayName: 'Acme Corp'\n",
			"  environments: [prod, staging, dev] # prod first\n",
			"    # Alice runs the tenant.\n    - {kind: User",
			"      name: acme-developers # synced nightly\n",
			"    requests.cpu: 6000m # six cores\n",
			"  suspended: false\n",
			"  # End of the spec.\n",
		},
		absent: []string{"status:", "phase: Ready", "creationTimestamp", "resourceVersion"},
	}, {
		name: "changed values keep their line comments and quotes",
		edit: func(t *v1alpha1.Tenant) error {
			t.Spec.Plan = "enterprise"
			t.Spec.DisplayName = "Acme Corporation"
			t.Spec.Quota["requests.cpu"] = resource.MustParse("8")
			return nil
		},
		present: []string{
			"  # The plan is reviewed every quarter.\n  plan: enterprise # upgraded in May\n",
			"  displayName: 'Acme Corporation'\n",
			`    requests.cpu: "8" # six cores` + "\n",
			`    limits.cpu: "12"` + "\n",
		},
	}, {
		name: "removed items take their comments, the others keep theirs",
		edit: func(t *v1alpha1.Tenant) error {
			t.Spec.Owners = append(t.Spec.Owners[:1], t.Spec.Owners[2:]...)
			t.Spec.Environments = []string{"prod", "dev"}
			return nil
		},
		present: []string{
			"  environments: [prod, dev] # prod first\n",
			"    # Alice runs the tenant.\n    - {kind: User, name: alice@acme.com, role: admin}\n    - {kind: User, name: auditor@acme.com, role: viewer} # until Q3\n",
		},
		absent: []string{"The developers' group", "synced nightly", "acme-developers"},
	}, {
		name: "removed keys take their comments; new keys go last",
		edit: func(t *v1alpha1.Tenant) error {
			t.Spec.Quota = nil
			t.Spec.Suspended = true
			t.Spec.Ingress.Domains = []string{"acme.example.com"}
			t.Labels = map[string]string{"tier": "gold"}
			return nil
		},
		present: []string{
			"  name: acme # the customer's short name\n  labels:\n    tier: gold\nspec:",
			"  suspended: true\n",
			"  ingress:\n    domains:\n      - acme.example.com\n",
		},
		absent: []string{"quota", "six cores"},
	}, {
		name: "an item changed in place keeps its comments",
		edit: func(t *v1alpha1.Tenant) error { t.Spec.Owners[1].Role = v1alpha1.RoleAdmin; return nil },
		present: []string{
			"    # The developers' group, from the IdP.\n    - kind: Group\n      name: acme-developers # synced nightly\n      role: admin\n",
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EditTenant([]byte(commented), tc.edit)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.present {
				if !strings.Contains(string(got), p) {
					t.Errorf("missing %q in\n%s", p, got)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(string(got), a) {
					t.Errorf("unexpected %q in\n%s", a, got)
				}
			}
			assertStable(t, got)
		})
	}
}

func TestEditTenantUnchangedReturnsInput(t *testing.T) {
	// Indentation yaml.v3 would not write: a no-op must not reformat it.
	data := []byte("apiVersion: tenantry.dev/v1alpha1\nkind: Tenant\nmetadata: {name: acme}\nspec:\n    plan: pro\n    owners:\n    - kind: User\n      name: alice\n")
	got, err := EditTenant(data, func(t *v1alpha1.Tenant) error { t.Spec.Plan = "pro"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("no-op edit rewrote the file:\n%s", got)
	}
}

func TestEditTenantRefuses(t *testing.T) {
	valid := "apiVersion: tenantry.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: acme\nspec:\n  plan: pro\n"
	errEdit := errors.New("plan gold does not exist")
	tests := []struct {
		name string
		data string
		edit func(*v1alpha1.Tenant) error
		want string
	}{
		{"the edit's error", valid, func(*v1alpha1.Tenant) error { return errEdit }, errEdit.Error()},
		{"not a tenant", strings.Replace(valid, "kind: Tenant", "kind: TenantPlan", 1), func(*v1alpha1.Tenant) error { return nil }, "kind TenantPlan"},
		{"unknown field", valid + "  plann: x\n", func(*v1alpha1.Tenant) error { return nil }, `"spec.plann"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := EditTenant([]byte(tc.data), tc.edit)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// assertStable checks that an edited file is a fixed point: a no-op edit
// returns it unchanged, and yaml.v3 writes it back byte for byte (so that a
// later edit elsewhere does not reformat these lines).
func assertStable(t *testing.T, data []byte) {
	t.Helper()
	again, err := EditTenant(data, func(*v1alpha1.Tenant) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Errorf("no-op edit changed the file:\n%s\nto\n%s", data, again)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out, err := encode(&doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, data) {
		t.Errorf("yaml.v3 rewrites the edited file:\n%s\nto\n%s", data, out)
	}
}

// sameTenant compares what a tenant file holds of two Tenants.
func sameTenant(t *testing.T, a, b *v1alpha1.Tenant) bool {
	t.Helper()
	ca, err := canonical(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := canonical(b)
	if err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(ca, cb)
}
