package controller

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/render"
)

// When a minted metrics token is renewed: two thirds into its lifetime,
// at once when the Secret has no token or no readable dates.
func TestRenewalDue(t *testing.T) {
	issued := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	secret := func(token, issuedAt, expiresAt string) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
				v1alpha1.AnnotationCredentialIssuedAt: issuedAt, v1alpha1.AnnotationCredentialExpiresAt: expiresAt,
			}},
			Data: map[string][]byte{render.AnalysisKeyAuthorization: []byte(token)},
		}
	}
	day := secret("Bearer t", "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z")
	renewAt := issued.Add(16 * time.Hour)
	for _, tc := range []struct {
		name        string
		now         time.Time
		current     *corev1.Secret
		wantDue     bool
		wantRenewAt time.Time
	}{
		{"no Secret yet", issued, nil, true, time.Time{}},
		{"a Secret without a token (the operator's first write)", issued, secret("", "", ""), true, time.Time{}},
		{"just minted", issued.Add(time.Minute), day, false, renewAt},
		{"a second before two thirds", renewAt.Add(-time.Second), day, false, renewAt},
		{"at two thirds", renewAt, day, true, time.Time{}},
		{"expired", issued.Add(25 * time.Hour), day, true, time.Time{}},
		{"the API server's 10-minute minimum: renewed after 6m40s", issued.Add(6*time.Minute + 40*time.Second),
			secret("Bearer t", "2026-12-01T00:00:00Z", "2026-12-01T00:10:00Z"), true, time.Time{}},
		{"dates someone removed", issued, secret("Bearer t", "", ""), true, time.Time{}},
		{"dates that make no sense", issued, secret("Bearer t", "2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z"), true, time.Time{}},
		{"a token copied in by hand, no dates", issued, secret("Bearer mine", "yesterday", "tomorrow"), true, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			due, at := renewalDue(tc.now, tc.current)
			if due != tc.wantDue || !at.Equal(tc.wantRenewAt) {
				t.Errorf("renewalDue = %v, %v; want %v, %v", due, at, tc.wantDue, tc.wantRenewAt)
			}
		})
	}
}

func TestSoonest(t *testing.T) {
	for _, tc := range []struct{ a, b, want time.Duration }{
		{0, 0, 0}, {0, time.Hour, time.Hour}, {time.Second, 0, time.Second}, {time.Second, time.Hour, time.Second}, {time.Hour, time.Minute, time.Minute},
	} {
		if got := soonest(tc.a, tc.b); got != tc.want {
			t.Errorf("soonest(%s, %s) = %s, want %s", tc.a, tc.b, got, tc.want)
		}
	}
}
