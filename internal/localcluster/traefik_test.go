package localcluster

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseTraefikVersion(t *testing.T) {
	tests := []struct {
		name, out, want, wantErr string
	}{
		{
			name: "release build",
			out:  "Version:      v3.7.13\nCodename:     cheddar\nGo version:   go1.26.8\nBuilt:        2026-09-04T12:33:51Z\nOS/Arch:      linux/amd64\n",
			want: "v3.7.13",
		},
		{
			name:    "unstamped build",
			out:     "Version:      dev\nCodename:     cheddar\n",
			wantErr: "hack/traefik-build.sh stamps it",
		},
		{name: "no version line", out: "usage: traefik ...", wantErr: "no version in `traefik version` output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTraefikVersion(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestParseServiceWeights(t *testing.T) {
	tests := []struct {
		name, body string
		want       map[string]int
		wantErr    string
	}{
		{
			name: "canary at 20",
			// Traefik's /api/http/services/<name> answer, trimmed.
			body: `{"weighted":{"services":[{"name":"globex_shop_wrr_0_globex_shop-stable_http","weight":80},{"name":"globex_shop_wrr_1_globex_shop-canary_http","weight":20}]},"status":"enabled","usedBy":["globex_shop_0@kubernetescrd"],"name":"globex_shop@kubernetescrd","provider":"kubernetescrd","type":"weighted"}`,
			want: map[string]int{"globex_shop_wrr_0_globex_shop-stable_http": 80, "globex_shop_wrr_1_globex_shop-canary_http": 20},
		},
		{
			name: "weight left out counts 1",
			body: `{"weighted":{"services":[{"name":"a"},{"name":"b","weight":0}]}}`,
			want: map[string]int{"a": 1, "b": 0},
		},
		{name: "a load balancer", body: `{"loadBalancer":{"servers":[{"url":"http://10.245.0.7:8080"}]}}`, wantErr: "not a weighted service"},
		{name: "not JSON", body: `404 page not found`, wantErr: "reading Traefik's service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseServiceWeights([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestTraefikObjects checks what the API server would only show at run
// time: Traefik passes Pod Security restricted in a namespace enforcing
// it, listens where its Service and probes point, serves both Kubernetes
// providers with the settings zero-downtime canaries depend on, and
// reads, never writes, the routing kinds.
func TestTraefikObjects(t *testing.T) {
	o := traefikObjects("traefik", "registry.tenantry.dev/traefik@sha256:0")
	if got := o.namespace.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace enforces %q, want restricted", got)
	}
	spec := o.deployment.Spec.Template.Spec
	if v := restrictedViolations(spec); len(v) > 0 {
		t.Errorf("Traefik's pod violates Pod Security restricted:\n%s", strings.Join(v, "\n"))
	}
	c := spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
		if p.ContainerPort < 1024 {
			t.Errorf("port %s is %d: an unprivileged process cannot bind it", p.Name, p.ContainerPort)
		}
	}
	if got := o.service.Spec.Ports[0]; got.Port != 80 || ports[got.TargetPort.StrVal] != traefikWebPort {
		t.Errorf("Service port %d → %s, want 80 → the web entry point (%d)", got.Port, got.TargetPort.String(), traefikWebPort)
	}
	if got := c.ReadinessProbe.HTTPGet; got.Path != "/ping" || ports[got.Port.StrVal] != traefikAdminPort {
		t.Errorf("readiness probe %s on %s, want /ping on the admin entry point", got.Path, got.Port.String())
	}
	for _, want := range []string{
		"--entryPoints.web.address=:8000",
		"--providers.kubernetescrd=true",
		"--providers.kubernetescrd.allowEmptyServices=true",
		"--providers.kubernetescrd.safeNaming=true",
		"--providers.kubernetesingress=true",
		"--providers.kubernetesingress.allowEmptyServices=true",
		"--providers.kubernetesingress.ingressEndpoint.publishedService=traefik/traefik",
		"--global.sendAnonymousUsage=false",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args lack %s: %v", want, c.Args)
		}
	}
	for _, a := range c.Args {
		// Cross-namespace references would let a tenant's route reach
		// another tenant's Service.
		if strings.Contains(a, "allowCrossNamespace=true") || strings.Contains(a, "allowExternalNameServices=true") {
			t.Errorf("arg %s lets routes leave their namespace", a)
		}
	}
	for _, r := range o.clusterRole.Rules {
		for _, v := range r.Verbs {
			if v != "get" && v != "list" && v != "watch" && !slices.Equal(r.Resources, []string{"ingresses/status"}) {
				t.Errorf("Traefik may %s %v: it only reads, but for Ingress status", v, r.Resources)
			}
		}
	}
	if o.ingressClass.Spec.Controller != "traefik.io/ingress-controller" || o.ingressClass.Annotations["ingressclass.kubernetes.io/is-default-class"] != "true" {
		t.Errorf("IngressClass %+v, want Traefik's controller as the default class", o.ingressClass)
	}
}
