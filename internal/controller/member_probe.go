package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Defaults of the member probe.
const (
	defaultProbeInterval = 10 * time.Second
	// probeFailures in a row make a member unavailable: one lost answer is
	// no outage.
	probeFailures = 3
	probeTimeout  = 5 * time.Second
)

// memberProbe tells which members of a fleet the hub can reach. Argo CD
// keeps showing the last state it saw of a cluster that stopped answering
// (its cluster cache is resynced every few hours), so its Applications do
// not say so in time. Every interval the probe asks each member's API
// server /readyz, with the server and credentials of its Argo CD cluster
// Secret, as Argo CD itself connects; a member is unavailable after
// probeFailures failures in a row, and available again at its first
// answer. Each change sends an event on changed.
type memberProbe struct {
	// reader lists the members' cluster Secrets with their data; it is
	// uncached, so the hub holds no credentials between probes but the
	// clients it builds from them.
	reader    client.Reader
	namespace string
	interval  time.Duration
	changed   chan event.GenericEvent

	mu      sync.Mutex
	members map[string]*memberHealth
}

// memberHealth is what the probe knows of one member.
type memberHealth struct {
	// version is the resourceVersion of the Secret client was built from.
	version string
	client  *http.Client
	url     string
	// unprobed says why the member is not probed (credentials only Argo
	// CD can use): it is then taken as available.
	unprobed string

	failures  int
	available bool
	since     time.Time // of the first failure in a row
	lastError string
}

func newMemberProbe(reader client.Reader, namespace string, interval time.Duration) *memberProbe {
	if interval <= 0 {
		interval = defaultProbeInterval
	}
	return &memberProbe{reader: reader, namespace: namespace, interval: interval,
		changed: make(chan event.GenericEvent, 1), members: map[string]*memberHealth{}}
}

// Start probes until ctx ends (a manager.Runnable).
func (p *memberProbe) Start(ctx context.Context) error {
	ticker := time.NewTicker(p.interval)
	defer ticker.Stop()
	for {
		if err := p.probeAll(ctx); err != nil {
			log.FromContext(ctx).Error(err, "probing the fleet's members")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// NeedLeaderElection: only the leader places tenants.
func (p *memberProbe) NeedLeaderElection() bool { return true }

// Available says whether the hub can reach the member, and if not, since
// when and why. A member not probed yet is available: a hub that starts
// must not report its whole fleet down.
func (p *memberProbe) Available(name string) (bool, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.members[name]
	if !ok || h.available {
		return true, ""
	}
	return false, fmt.Sprintf("its API server has not answered since %s: %s", h.since.UTC().Format(time.RFC3339), h.lastError)
}

func (p *memberProbe) probeAll(ctx context.Context) error {
	var secrets corev1.SecretList
	if err := p.reader.List(ctx, &secrets, client.InNamespace(p.namespace), client.HasLabels{v1alpha1.LabelMember}); err != nil {
		return err
	}
	p.mu.Lock()
	seen := map[string]*memberHealth{}
	for i := range secrets.Items {
		s := &secrets.Items[i]
		name := s.Labels[v1alpha1.LabelMember]
		h := p.members[name]
		if h == nil {
			h = &memberHealth{available: true}
		}
		if h.version != s.ResourceVersion {
			h.version = s.ResourceVersion
			h.url, h.client, h.unprobed = probeClient(s)
			if h.unprobed != "" {
				log.FromContext(ctx).Info("not probing a fleet member: it is taken as available", "member", name, "reason", h.unprobed)
			}
		}
		seen[name] = h
	}
	p.members = seen
	p.mu.Unlock()

	var wg sync.WaitGroup
	var changed atomic.Bool
	for name, h := range seen {
		if h.client == nil {
			continue
		}
		wg.Go(func() {
			err := probe(ctx, h.client, h.url)
			p.mu.Lock()
			flipped := h.record(err, time.Now())
			p.mu.Unlock()
			if flipped {
				log.FromContext(ctx).Info("fleet member availability changed", "member", name, "available", h.available, "error", h.lastError)
				changed.Store(true)
			}
		})
	}
	wg.Wait()
	if changed.Load() {
		select {
		case p.changed <- event.GenericEvent{}:
		default: // a pass is queued already
		}
	}
	return nil
}

// record adds a probe's result; true when the member's availability flips.
func (h *memberHealth) record(err error, now time.Time) bool {
	was := h.available
	if err == nil {
		h.failures, h.available, h.lastError = 0, true, ""
		return !was
	}
	if h.failures == 0 {
		h.since = now
	}
	h.failures++
	h.lastError = err.Error()
	if h.failures >= probeFailures {
		h.available = false
	}
	return was != h.available
}

// probe asks an API server whether it is ready. Any answer but a server
// error means it is reachable: refused credentials are Argo CD's to
// report.
func probe(ctx context.Context, c *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("GET /readyz: %s", resp.Status)
	}
	return nil
}

// argoClusterConfig is the part of an Argo CD cluster Secret's config the
// probe can use.
type argoClusterConfig struct {
	Username        string `json:"username"`
	Password        string `json:"password"`
	BearerToken     string `json:"bearerToken"`
	TLSClientConfig struct {
		Insecure   bool   `json:"insecure"`
		ServerName string `json:"serverName"`
		CAData     []byte `json:"caData"`
		CertData   []byte `json:"certData"`
		KeyData    []byte `json:"keyData"`
	} `json:"tlsClientConfig"`
	ExecProviderConfig json.RawMessage `json:"execProviderConfig"`
	AWSAuthConfig      json.RawMessage `json:"awsAuthConfig"`
}

// probeClient builds the client that probes a member from its cluster
// Secret; unprobed says why there is none.
func probeClient(s *corev1.Secret) (url string, c *http.Client, unprobed string) {
	server := strings.TrimSuffix(string(s.Data["server"]), "/")
	if server == "" {
		return "", nil, "the cluster Secret has no server"
	}
	var cfg argoClusterConfig
	if err := json.Unmarshal(s.Data["config"], &cfg); len(s.Data["config"]) > 0 && err != nil {
		return "", nil, "its config is not Argo CD's cluster config: " + err.Error()
	}
	if !slices.Contains([]string{"", "null"}, string(cfg.ExecProviderConfig)) || !slices.Contains([]string{"", "null"}, string(cfg.AWSAuthConfig)) {
		return "", nil, "it authenticates with an exec or AWS provider, which only Argo CD runs"
	}
	rc := &rest.Config{Host: server, Username: cfg.Username, Password: cfg.Password, BearerToken: cfg.BearerToken, Timeout: probeTimeout,
		TLSClientConfig: rest.TLSClientConfig{Insecure: cfg.TLSClientConfig.Insecure, ServerName: cfg.TLSClientConfig.ServerName,
			CAData: cfg.TLSClientConfig.CAData, CertData: cfg.TLSClientConfig.CertData, KeyData: cfg.TLSClientConfig.KeyData}}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return "", nil, "its credentials do not make a client: " + err.Error()
	}
	return server + "/readyz", hc, ""
}
