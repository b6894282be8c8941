package metricsgateway

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
)

// maxCachedReviews bounds the cache: past it, expired entries are dropped,
// and if none has expired, all of them (a burst of new tokens costs
// TokenReviews again, never unbounded memory).
const maxCachedReviews = 10000

// CachingReviewer remembers successful reviews for TTL, so a dashboard's
// burst of queries costs one TokenReview rather than one per panel. A
// revoked token (its ServiceAccount deleted) is therefore accepted for up
// to TTL more. Failed reviews are not cached: a token just minted is not
// refused for TTL because the API server saw it a moment too early.
type CachingReviewer struct {
	Reviewer Reviewer
	TTL      time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedReview
}

type cachedReview struct {
	status  authenticationv1.TokenReviewStatus
	expires time.Time
}

// Review implements Reviewer.
func (c *CachingReviewer) Review(ctx context.Context, token string, audiences []string) (authenticationv1.TokenReviewStatus, error) {
	key := sha256.Sum256([]byte(strings.Join(audiences, ",") + "\x00" + token))
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.status, nil
	}
	status, err := c.Reviewer.Review(ctx, token, audiences)
	if err != nil || !status.Authenticated || c.TTL <= 0 {
		return status, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[[sha256.Size]byte]cachedReview{}
	}
	if len(c.entries) >= maxCachedReviews {
		for k, v := range c.entries {
			if !now.Before(v.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedReviews {
			clear(c.entries)
		}
	}
	c.entries[key] = cachedReview{status: status, expires: now.Add(c.TTL)}
	return status, nil
}

func (c *CachingReviewer) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
