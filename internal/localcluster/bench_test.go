package localcluster_test

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tenantry/tenantry/internal/localcluster"
)

// BenchmarkStart measures a full start (every component healthy, 3 Nodes
// Ready, the default ServiceAccount created) and stop, and the memory the
// running control plane holds:
//
//	go test -run '^$' -bench Start -benchtime 5x ./internal/localcluster/
func BenchmarkStart(b *testing.B) {
	var apiserver, ready, rss float64
	for b.Loop() {
		c, err := localcluster.Start(b.Context(), localcluster.Options{})
		if err != nil {
			b.Fatal(err)
		}
		apiserver += c.APIServerReadyAfter().Seconds()
		ready += c.StartupTotal().Seconds()
		for _, pid := range c.PIDs() {
			kib, err := rssKiB(pid)
			if err != nil {
				b.Fatal(err)
			}
			rss += float64(kib) / 1024
		}
		if err := c.Stop(); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(apiserver/n, "apiserver-ready-s")
	b.ReportMetric(ready/n, "all-ready-s")
	b.ReportMetric(rss/n, "rss-MiB")
}

// rssKiB reads a process's resident set size from /proc.
func rssKiB(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if value, ok := strings.CutPrefix(scanner.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(value), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
