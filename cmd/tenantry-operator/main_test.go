package main

import (
	"slices"
	"strings"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    int64
		wantErr string
	}{
		{name: "nothing set", env: map[string]string{}, want: 0},
		{name: "90 % of the container's limit", env: map[string]string{memoryLimitEnv: "268435456"}, want: 241591905},
		{name: "GOMEMLIMIT wins", env: map[string]string{"GOMEMLIMIT": "100MiB", memoryLimitEnv: "268435456"}, want: 0},
		{name: "empty", env: map[string]string{memoryLimitEnv: ""}, want: 0},
		{name: "a quantity, not bytes", env: map[string]string{memoryLimitEnv: "256Mi"}, wantErr: "TENANTRY_MEMORY_LIMIT=\"256Mi\": want the container's memory limit in bytes"},
		{name: "zero", env: map[string]string{memoryLimitEnv: "0"}, wantErr: "want the container's memory limit in bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := memoryLimit(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("memoryLimit = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestParseCIDRs(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "169.254.20.10/32", want: []string{"169.254.20.10/32"}},
		{in: "169.254.20.10/32, fd00::a/128,", want: []string{"169.254.20.10/32", "fd00::a/128"}},
		{in: "169.254.20.10", wantErr: `--dns-cidrs "169.254.20.10": want CIDRs like 169.254.20.10/32`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseCIDRs("--dns-cidrs", tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("parseCIDRs(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}
