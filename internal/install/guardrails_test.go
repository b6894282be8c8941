package install

import (
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/tenantry/tenantry/deploy"
	"github.com/tenantry/tenantry/internal/render"
)

// guardrails decodes the admission policies and bindings of the chart's
// default rendering.
func guardrails(t *testing.T) (map[string]*admissionregistrationv1.ValidatingAdmissionPolicy, map[string]*admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	t.Helper()
	objs, err := Decode(deploy.Tenantry)
	if err != nil {
		t.Fatal(err)
	}
	policies := map[string]*admissionregistrationv1.ValidatingAdmissionPolicy{}
	bindings := map[string]*admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
	for _, u := range ofKind(objs, "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding") {
		var err error
		switch u.GetKind() {
		case "ValidatingAdmissionPolicy":
			p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
			err = runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, p, true)
			policies[p.Name] = p
		case "ValidatingAdmissionPolicyBinding":
			b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
			err = runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, b, true)
			bindings[b.Name] = b
		}
		if err != nil {
			t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	return policies, bindings
}

// TestGuardrailsShape checks what the API server cannot: every policy is
// bound to deny, fails closed, and exempts exactly the identity the
// operator runs as; and the role-binding allowlist is the one the tenant
// admin role may bind. The policies' behaviour is tested on a real API
// server by test/e2e's escape suite.
func TestGuardrailsShape(t *testing.T) {
	policies, bindings := guardrails(t)
	if len(policies) < 8 {
		t.Errorf("%d policies, want one per rule group (at least 8)", len(policies))
	}
	for name, p := range policies {
		b, ok := bindings[name]
		if !ok {
			t.Errorf("policy %s has no binding of the same name", name)
			continue
		}
		if b.Spec.PolicyName != name || !slices.Equal(b.Spec.ValidationActions, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}) {
			t.Errorf("binding %s: policy %q, actions %v; want %s and [Deny]", name, b.Spec.PolicyName, b.Spec.ValidationActions, name)
		}
		if p.Spec.FailurePolicy == nil || *p.Spec.FailurePolicy != admissionregistrationv1.Fail {
			t.Errorf("policy %s must fail closed (failurePolicy: Fail)", name)
		}
		for _, mc := range p.Spec.MatchConditions {
			if mc.Name == "not-the-platform" && !strings.Contains(mc.Expression, "'"+OperatorUsername+"'") {
				t.Errorf("policy %s exempts another identity than the operator's %s:\n%s", name, OperatorUsername, mc.Expression)
			}
		}
		for _, v := range p.Spec.Validations {
			if !strings.Contains(v.Message+v.MessageExpression, "tenantry rule ") {
				t.Errorf("policy %s: a denial message does not name its rule: %q", name, v.Expression)
			}
		}
	}
	for name := range bindings {
		if _, ok := policies[name]; !ok {
			t.Errorf("binding %s has no policy", name)
		}
	}

	roles := policies["tenantry-role-bindings"]
	if roles == nil {
		t.Fatal("no tenantry-role-bindings policy")
	}
	want := "['" + strings.Join(render.BindableClusterRoles(), "', '") + "']"
	for _, v := range roles.Spec.Variables {
		if v.Name == "allowedClusterRoles" && v.Expression != want {
			t.Errorf("allowedClusterRoles = %s, want render.BindableClusterRoles() %s", v.Expression, want)
		}
	}
}
