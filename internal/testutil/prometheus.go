package testutil

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// PromNamespaces asks a Prometheus HTTP API (Prometheus itself, or the
// metrics gateway in front of it) and returns the distinct namespace labels
// of the answer, sorted ("" for a series without one): what a caller can
// see. path is a query (/api/v1/query), series (/api/v1/series) or label
// values (/api/v1/label/namespace/values) path; form goes in the URL for
// GET and in the body for POST; authorization, when set, is the
// Authorization header.
func PromNamespaces(ctx context.Context, base, authorization, method, path string, form url.Values) ([]string, error) {
	var req *http.Request
	var err error
	if method == http.MethodPost {
		req, err = http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(form.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, method, base+path+"?"+form.Encode(), nil)
	}
	if err != nil {
		return nil, err
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s %s", method, path, resp.Status, body)
	}
	var answer struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	// Label values come as strings; series as label sets; query results
	// as {metric: labels, value...}.
	var values []string
	var series []map[string]string
	var results struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
		} `json:"result"`
	}
	switch {
	case strings.Contains(path, "/label/") && json.Unmarshal(answer.Data, &values) == nil:
		for _, v := range values {
			seen[v] = true
		}
	case strings.HasSuffix(path, "/series") && json.Unmarshal(answer.Data, &series) == nil:
		for _, s := range series {
			seen[s["namespace"]] = true
		}
	case json.Unmarshal(answer.Data, &results) == nil:
		for _, r := range results.Result {
			seen[r.Metric["namespace"]] = true
		}
	default:
		return nil, fmt.Errorf("unexpected answer %s", body)
	}
	return slices.Sorted(maps.Keys(seen)), nil
}
