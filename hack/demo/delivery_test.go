package main

import (
	"maps"
	"testing"

	"github.com/tenantry/tenantry/internal/localcluster"
)

func TestShortValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"[0.4918032786885246]", "0.492"},
		{"[0.004750000000000001]", "0.00475"},
		{"[1]", "1"},
		{"[0.5,0.25]", "0.5 0.25"},
		{"0.95", "0.95"},
		{`"ok"`, "ok"},
		{`"unhealthy: database"`, "unhealthy: database"},
		{"[]", ""},
		{"", ""},
	} {
		if got := shortValue(tc.in); got != tc.want {
			t.Errorf("shortValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPhaseNamed(t *testing.T) {
	phases := []localcluster.LoadPhase{
		{Phase: "start", URL: "http://a/", Sent: 7, OK: 7, Versions: map[string]int{"1.0.0": 7}},
		{Phase: "3.0.0", URL: "http://a/", Sent: 100, OK: 90, Failed: 10, Versions: map[string]int{"2.0.0": 80, "3.0.0": 20}},
		{Phase: "3.0.0", URL: "http://b/", Sent: 50, OK: 45, Failed: 5, Versions: map[string]int{"3.0.0": 5, "2.0.0": 40}},
	}
	for _, tc := range []struct {
		name, phase      string
		sent, ok, failed int
		versions         map[string]int
	}{
		{"one URL", "start", 7, 7, 0, map[string]int{"1.0.0": 7}},
		{"summed over URLs", "3.0.0", 150, 135, 15, map[string]int{"2.0.0": 120, "3.0.0": 25}},
		{"phase not seen", "after the abort", 0, 0, 0, map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := phaseNamed(phases, tc.phase)
			if got.Phase != tc.phase || got.Sent != tc.sent || got.OK != tc.ok || got.Failed != tc.failed || !maps.Equal(got.Versions, tc.versions) {
				t.Errorf("phaseNamed(%q) = %+v, want sent %d, ok %d, failed %d, versions %v", tc.phase, got, tc.sent, tc.ok, tc.failed, tc.versions)
			}
		})
	}
}
