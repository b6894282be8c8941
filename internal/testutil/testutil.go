// Package testutil holds the polling and assertion helpers the tests on the
// local control plane share.
package testutil

import (
	"strings"
	"testing"
	"time"
)

// Eventually polls check until it returns nil, failing the test with the
// last error when timeout passes.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WantRefusal fails the test unless err is a refusal that is(err) accepts
// and whose message holds every fragment.
func WantRefusal(t testing.TB, err error, is func(error) bool, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("request succeeded; want it refused")
	}
	if !is(err) {
		t.Fatalf("refused with the wrong status: %v", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("refusal %q does not mention %q", err.Error(), f)
		}
	}
}
