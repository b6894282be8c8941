package demoapp

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	go func() {
		for {
			conn, err := tcp.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	closedTCP := closedPort(t, "tcp")

	echo := listenUDP(t)
	go ServeUDPEcho(ctx, echo)
	// silent receives datagrams and never answers: a dropped reply looks
	// like this from the prober's side.
	silent := listenUDP(t)
	defer silent.Close()
	closedUDP := closedPort(t, "udp")

	dns := listenUDP(t)
	go serveDNS(dns, net.IPv4(10, 0, 0, 1))
	defer dns.Close()

	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "teapot", http.StatusTeapot)
	}))
	defer web.Close()

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"tcp reached", []string{"tcp", tcp.Addr().String()}, 0, "reached in"},
		{"tcp refused", []string{"tcp", closedTCP}, 1, "refused after"},
		{"udp echoed", []string{"udp", echo.LocalAddr().String()}, 0, "reached in"},
		{"udp port unreachable", []string{"udp", closedUDP}, 1, "refused after"},
		{"udp unanswered", []string{"udp", silent.LocalAddr().String(), "--timeout", "200ms"}, 1, "timeout after"},
		{"dns through a given server", []string{"dns", "web.acme.svc.cluster.local@" + dns.LocalAddr().String()}, 0, "resolved to 10.0.0.1"},
		{"dns through the host's resolver", []string{"dns", "localhost"}, 0, "resolved to"},
		{"dns server silent", []string{"--timeout", "300ms", "dns", "web@" + silent.LocalAddr().String()}, 1, "timeout after"},
		{"http answered with an error status", []string{"http", web.URL}, 0, "answered 418"},
		{"http refused", []string{"http", "http://" + closedTCP + "/"}, 1, "refused after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Probe(ctx, tt.args, &out, &errOut)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("Probe(%q) = %d, printed %q (stderr %q); want %d and %q", tt.args, code, out.String(), errOut.String(), tt.wantCode, tt.wantOut)
			}
			if lines := strings.Count(out.String(), "\n"); lines != 1 {
				t.Errorf("printed %d lines, want one: %q", lines, out.String())
			}
		})
	}
}

func TestProbeArguments(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"help", []string{"--help"}, 0, "Usage: demo-app probe", ""},
		{"no target", []string{"tcp"}, 2, "", "want tcp|udp|dns|http, one TARGET"},
		{"unknown kind", []string{"icmp", "10.0.0.1"}, 2, "", "want tcp|udp|dns|http"},
		{"two targets", []string{"tcp", "a:1", "b:2"}, 2, "", "one TARGET"},
		{"bad timeout", []string{"tcp", "a:1", "--timeout", "soon"}, 2, "", "--timeout"},
		{"zero timeout", []string{"tcp", "a:1", "--timeout", "0s"}, 2, "", "positive duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Probe(context.Background(), tt.args, &out, &errOut)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(errOut.String(), tt.wantErr) {
				t.Errorf("Probe(%q) = %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, out.String(), errOut.String(), tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}

func listenUDP(t *testing.T) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// closedPort is a loopback address nothing listens on: a port just freed.
func closedPort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		pc := listenUDP(t)
		defer pc.Close()
		return pc.LocalAddr().String()
	}
	ln, err := net.Listen(network, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serveDNS answers every A question with ip and every other question
// (AAAA) with no records, as a cluster DNS server does for a Service with an
// IPv4 address. It writes the answer by hand (RFC 1035 section 4): the
// question copied back, then one record that points at it.
func serveDNS(pc net.PacketConn, ip net.IP) {
	buf := make([]byte, 512)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		query := buf[:n]
		// The question: labels up to the zero byte, then type and class.
		end := 12
		for end < n && query[end] != 0 {
			end += int(query[end]) + 1
		}
		end += 5
		if end > n {
			continue
		}
		qtype := binary.BigEndian.Uint16(query[end-4:])
		resp := append([]byte(nil), query[:end]...)
		resp[2] = 0x81 // a response, recursion desired copied
		resp[3] = 0x80 // recursion available, no error
		binary.BigEndian.PutUint16(resp[6:], 0)
		binary.BigEndian.PutUint16(resp[8:], 0)
		binary.BigEndian.PutUint16(resp[10:], 0)
		if qtype == 1 {
			binary.BigEndian.PutUint16(resp[6:], 1)
			resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4)
			resp = append(resp, ip.To4()...)
		}
		_, _ = pc.WriteTo(resp, from)
	}
}
