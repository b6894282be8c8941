package demoapp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const probeUsage = `Usage: demo-app probe tcp|udp|dns|http TARGET [--timeout 2s] [--tcp]

Tries one connection from where it runs and prints one line: what was
reached, or why not. Exit code 0 when reached, 1 when refused or timed out,
2 on bad arguments. Run in a pod (the app's image has no shell, nc or dig),
it measures what that pod's NetworkPolicies let through:

  probe tcp HOST:PORT        opens a TCP connection
  probe udp HOST:PORT        sends a datagram and waits for its echo (demo-app
                             echoes UDP on its HTTP port number)
  probe dns NAME             resolves NAME through the pod's resolver
                             (/etc/resolv.conf, search domains included)
  probe dns NAME@SERVER[:53] asks SERVER directly, over UDP (--tcp: TCP)
  probe http URL             sends GET URL; any HTTP answer counts

  kubectl exec POD -- /demo-app probe dns kubernetes.default.svc.cluster.local

Flags:
`

// Probe outcomes, the first word after the target on the printed line.
const (
	ProbeReached = "reached"
	ProbeRefused = "refused"
	ProbeTimeout = "timeout"
)

// probeKinds are the connection kinds Probe knows, by its first argument.
var probeKinds = map[string]func(ctx context.Context, target string, tcpDNS bool) (string, error){
	"tcp":  probeTCP,
	"udp":  probeUDP,
	"dns":  probeDNS,
	"http": probeHTTP,
}

// Probe is `demo-app probe`: one connection attempt, for reachability
// matrices measured from inside pods. Unlike `get` it does not retry: a
// refusal is the answer, not a reason to wait.
func Probe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo-app probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", 2*time.Second, "How long to wait for an answer, a Go duration.")
	tcpDNS := fs.Bool("tcp", false, "dns NAME@SERVER: ask over TCP instead of UDP.")
	positional, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, probeUsage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	}
	if err != nil || len(positional) != 2 || probeKinds[positional[0]] == nil || *timeout <= 0 {
		fmt.Fprintln(stderr, "demo-app probe: want tcp|udp|dns|http, one TARGET and optional --timeout (a positive duration) and --tcp (see probe --help)")
		return 2
	}
	kind, target := positional[0], positional[1]
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	start := time.Now()
	detail, err := probeKinds[kind](ctx, target, *tcpDNS)
	took := time.Since(start).Round(time.Microsecond)
	if err != nil {
		fmt.Fprintf(stdout, "%s %s: %s after %s: %v\n", kind, target, probeOutcome(ctx, err), took, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s %s: %s in %s: %s\n", kind, target, ProbeReached, took, detail)
	return 0
}

// parseInterspersed parses flags wherever they stand among the positional
// arguments ("probe tcp HOST:PORT --timeout 1s"), which package flag alone
// stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// probeOutcome tells a refusal (a reset, an ICMP unreachable, a name that
// does not exist) from silence (a dropped packet, the deadline).
func probeOutcome(ctx context.Context, err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil, errors.Is(err, os.ErrDeadlineExceeded):
		return ProbeTimeout
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout:
		return ProbeTimeout
	default:
		return ProbeRefused
	}
}

func probeTCP(ctx context.Context, target string, _ bool) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return "connected from " + conn.LocalAddr().String(), nil
}

// probeUDP sends a random token and waits for it to come back: UDP has no
// handshake, so only an answer proves the datagram arrived.
func probeUDP(ctx context.Context, target string, _ bool) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", target)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return "", err
		}
	}
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	want := []byte("tenantry-probe " + hex.EncodeToString(token))
	if _, err := conn.Write(want); err != nil {
		return "", err
	}
	buf := make([]byte, 2*len(want))
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return "", err
		}
		// A stray datagram (an earlier probe's late echo) is not the answer.
		if bytes.Equal(buf[:n], want) {
			return "echoed by " + conn.RemoteAddr().String(), nil
		}
	}
}

// probeDNS resolves a name with Go's own resolver: through the pod's
// resolv.conf, or through the server after "@".
func probeDNS(ctx context.Context, target string, tcp bool) (string, error) {
	name, server, direct := strings.Cut(target, "@")
	r := &net.Resolver{PreferGo: true}
	if direct {
		if _, _, err := net.SplitHostPort(server); err != nil {
			server = net.JoinHostPort(server, "53")
		}
		r.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			if tcp {
				network = "tcp"
			}
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		}
	}
	addrs, err := r.LookupHost(ctx, name)
	if err != nil {
		return "", err
	}
	return "resolved to " + strings.Join(addrs, ","), nil
}

// probeHTTP sends one GET; any status counts, since a server answered.
func probeHTTP(ctx context.Context, target string, _ bool) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return "answered " + resp.Status, nil
}

// ServeUDPEcho answers every datagram on pc with itself until ctx is done,
// then closes pc. demo-app serves it on its HTTP port number, so a
// `probe udp` can measure UDP reachability to any demo-app pod.
func ServeUDPEcho(ctx context.Context, pc net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("udp echo on %s: %w", pc.LocalAddr(), err)
		}
		// A lost reply is a lost datagram, as UDP allows.
		_, _ = pc.WriteTo(buf[:n], from)
	}
}
