package demoapp

import (
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	defaults := Config{Tenant: "unknown", Version: buildVersion(), Addr: ":8080", ShutdownDelay: 5 * time.Second}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    Config
		wantErr []string // fragments the error must contain; nil means no error
	}{
		{name: "defaults", want: defaults},
		{
			name: "from the environment",
			env: map[string]string{"TENANT": "acme", "VERSION": "1.2.3", "ADDR": ":9090",
				"FAILURE_RATE": "0.25", "LATENCY": "300ms", "SHUTDOWN_DELAY": "0"},
			want: Config{Tenant: "acme", Version: "1.2.3", Addr: ":9090", FailureRate: 0.25, Latency: 300 * time.Millisecond},
		},
		{
			name: "flags win over the environment",
			env:  map[string]string{"TENANT": "acme", "FAILURE_RATE": "0.25"},
			args: []string{"--tenant=globex", "--failure-rate", "1", "--latency=2s", "--shutdown-delay=1s", "--version=v2", "--addr=:1"},
			want: Config{Tenant: "globex", Version: "v2", Addr: ":1", FailureRate: 1, Latency: 2 * time.Second, ShutdownDelay: time.Second},
		},
		{name: "empty variables mean the default", env: map[string]string{"TENANT": " ", "LATENCY": ""}, want: defaults},
		{name: "failure rate above 1", env: map[string]string{"FAILURE_RATE": "1.5"},
			wantErr: []string{`invalid FAILURE_RATE (--failure-rate) "1.5"`, "from 0 to 1"}},
		{name: "failure rate below 0", env: map[string]string{"FAILURE_RATE": "-0.1"},
			wantErr: []string{"FAILURE_RATE", "from 0 to 1"}},
		{name: "failure rate not a number", env: map[string]string{"FAILURE_RATE": "half"},
			wantErr: []string{`FAILURE_RATE (--failure-rate) "half"`, "from 0 to 1"}},
		{name: "failure rate NaN", args: []string{"--failure-rate=NaN"},
			wantErr: []string{"FAILURE_RATE", "from 0 to 1"}},
		{name: "failure rate as a percentage", env: map[string]string{"FAILURE_RATE": "50%"},
			wantErr: []string{"FAILURE_RATE", "from 0 to 1"}},
		{name: "latency not a duration", env: map[string]string{"LATENCY": "300"},
			wantErr: []string{`invalid LATENCY (--latency) "300"`, "300ms"}},
		{name: "latency negative", args: []string{"--latency=-1s"},
			wantErr: []string{`LATENCY (--latency) "-1s"`, "0 or more"}},
		{name: "shutdown delay invalid", env: map[string]string{"SHUTDOWN_DELAY": "soon"},
			wantErr: []string{`SHUTDOWN_DELAY (--shutdown-delay) "soon"`}},
		{name: "every invalid variable reported at once", env: map[string]string{"FAILURE_RATE": "2", "LATENCY": "x"},
			wantErr: []string{"FAILURE_RATE", "LATENCY"}},
		{name: "unknown flag", args: []string{"--fail=1"}, wantErr: []string{"-fail", "see --help"}},
		{name: "positional argument", args: []string{"acme"}, wantErr: []string{`unexpected arguments ["acme"]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			got, err := ParseConfig(tt.args, func(k string) string { return tt.env[k] }, &out)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ParseConfig: %v", err)
				}
				if got != tt.want {
					t.Errorf("ParseConfig = %+v, want %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseConfig = %+v, want an error containing %q", got, tt.wantErr)
			}
			for _, frag := range tt.wantErr {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q does not contain %q", err, frag)
				}
			}
			if out.Len() > 0 {
				t.Errorf("wrote %q on an error; only --help should write", out.String())
			}
		})
	}
}

func TestParseConfigHelp(t *testing.T) {
	var out strings.Builder
	_, err := ParseConfig([]string{"--help"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("ParseConfig(--help) error = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"TENANT", "VERSION", "ADDR", "FAILURE_RATE", "LATENCY", "SHUTDOWN_DELAY",
		"-failure-rate", "/healthz", `503 "failing"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not mention %q:\n%s", want, out.String())
		}
	}
}
