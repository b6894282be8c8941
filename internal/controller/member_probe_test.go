package controller

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestMemberHealthRecord(t *testing.T) {
	refused := errors.New("connection refused")
	start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		results   []error
		available bool
		flips     []bool
	}{
		{"answers", []error{nil, nil}, true, []bool{false, false}},
		{"one lost answer is no outage", []error{refused, refused, nil}, true, []bool{false, false, false}},
		{"three failures in a row", []error{refused, refused, refused, refused}, false, []bool{false, false, true, false}},
		{"back at the first answer", []error{refused, refused, refused, nil}, true, []bool{false, false, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &memberHealth{available: true}
			for i, err := range tt.results {
				if flipped := h.record(err, start.Add(time.Duration(i)*time.Second)); flipped != tt.flips[i] {
					t.Errorf("probe %d: flipped %v, want %v", i, flipped, tt.flips[i])
				}
			}
			if h.available != tt.available {
				t.Errorf("available %v, want %v", h.available, tt.available)
			}
			if !h.available && !h.since.Equal(start) {
				t.Errorf("down since %s, want the first failure, %s", h.since, start)
			}
		})
	}
}

func TestProbeClient(t *testing.T) {
	secret := func(server, config string) *corev1.Secret {
		return &corev1.Secret{Data: map[string][]byte{"server": []byte(server), "config": []byte(config)}}
	}
	tests := []struct {
		name     string
		secret   *corev1.Secret
		url      string
		unprobed string
	}{
		{"bearer token", secret("https://eu-1.example.com:6443/", `{"bearerToken":"t","tlsClientConfig":{"insecure":true}}`),
			"https://eu-1.example.com:6443/readyz", ""},
		{"no config: anonymous", secret("https://eu-1.example.com", ""), "https://eu-1.example.com/readyz", ""},
		{"exec provider", secret("https://eks.example.com", `{"execProviderConfig":{"command":"argocd-k8s-auth"}}`), "", "exec or AWS"},
		{"AWS", secret("https://eks.example.com", `{"awsAuthConfig":{"clusterName":"eu"}}`), "", "exec or AWS"},
		{"no server", secret("", `{}`), "", "no server"},
		{"not JSON", secret("https://eu-1.example.com", `bearerToken: t`), "", "not Argo CD's cluster config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, c, unprobed := probeClient(tt.secret)
			if url != tt.url || (tt.unprobed == "") != (c != nil) {
				t.Errorf("url %q client %v, want %q", url, c != nil, tt.url)
			}
			if tt.unprobed == "" && unprobed != "" || tt.unprobed != "" && !strings.Contains(unprobed, tt.unprobed) {
				t.Errorf("unprobed %q, want %q", unprobed, tt.unprobed)
			}
		})
	}
}
