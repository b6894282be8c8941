package reachability

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenantry/tenantry/internal/demoapp"
)

// The addresses outside the pod network that the measured matrix probes,
// all on this machine so a refusal is the policies' doing and not an absent
// host: an "internet" server and the cloud metadata address, both in a
// network namespace the test creates behind a veth (routed from the host as
// a gateway would route them), and listeners on the node's own address.
const (
	outsideNetns    = "tenantry-reach"
	outsideHostLink = "trreach0" // the host's end of the veth
	outsideNSLink   = "trreach1" // the namespace's end
	// outsideGateway is the host's address on the veth; pod traffic leaves
	// the node masqueraded to it (the bridge plugin's ipMasq).
	outsideGateway = "198.51.100.1/24"
	// internetIP is in TEST-NET-2: public as far as every policy is
	// concerned (outside the private ranges render leaves out of internet
	// egress), reserved for documentation so it is no one's real server.
	internetIP = "198.51.100.10"
	metadataIP = "169.254.169.254"
	// outsidePort is where demo-app serves in the namespace: HTTP (TCP) and
	// its UDP echo, on both addresses.
	outsidePort = 8080
)

// outsideServers is the network namespace and what runs in it: a demo-app
// per address. One on both would answer UDP from the namespace's primary
// address whichever one was asked, and the prober, whose socket is
// connected to the address it asked, would never see the echo.
type outsideServers struct {
	servers []*exec.Cmd
	exited  []chan error
}

// startOutside creates the namespace, its veth and routes, and runs the
// demo-app binary in it. stop undoes all of it; it runs even when start
// fails half-way (t.Cleanup), and each step ignores what is already gone.
func startOutside(t *testing.T, demoApp string) *outsideServers {
	t.Helper()
	o := &outsideServers{}
	t.Cleanup(o.stop)
	steps := [][]string{
		{"netns", "add", outsideNetns},
		{"link", "add", outsideHostLink, "type", "veth", "peer", "name", outsideNSLink, "netns", outsideNetns},
		{"addr", "add", outsideGateway, "dev", outsideHostLink},
		{"link", "set", outsideHostLink, "up"},
		// The metadata address is not on the veth's subnet: the host routes
		// it there as a cloud's hypervisor would intercept it.
		{"route", "add", metadataIP + "/32", "dev", outsideHostLink},
		{"-n", outsideNetns, "addr", "add", internetIP + "/24", "dev", outsideNSLink},
		{"-n", outsideNetns, "addr", "add", metadataIP + "/32", "dev", outsideNSLink},
		{"-n", outsideNetns, "link", "set", outsideNSLink, "up"},
		{"-n", outsideNetns, "link", "set", "lo", "up"},
		{"-n", outsideNetns, "route", "add", "default", "via", strings.Split(outsideGateway, "/")[0]},
	}
	for _, args := range steps {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, ip := range []string{internetIP, metadataIP} {
		addr := net.JoinHostPort(ip, strconv.Itoa(outsidePort))
		server := exec.Command("ip", "netns", "exec", outsideNetns, demoApp)
		server.Env = append(os.Environ(), "ADDR="+addr, "TENANT=outside", "SHUTDOWN_DELAY=0s")
		server.Stdout, server.Stderr = os.Stderr, os.Stderr
		// Its own process group, so stop signals demo-app and not only ip.
		server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := server.Start(); err != nil {
			t.Fatalf("starting demo-app on %s in netns %s: %v", addr, outsideNetns, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- server.Wait() }()
		o.servers, o.exited = append(o.servers, server), append(o.exited, exited)
		// Ready once it answers from the host.
		for {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("demo-app in netns %s does not answer on %s: %v", outsideNetns, addr, err)
			}
			select {
			case err := <-exited:
				t.Fatalf("demo-app on %s in netns %s exited: %v", addr, outsideNetns, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return o
}

func (o *outsideServers) stop() {
	for i, server := range o.servers {
		_ = syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
		<-o.exited[i]
	}
	o.servers, o.exited = nil, nil
	// The veth's other end goes with the namespace, and its routes with it.
	_ = exec.Command("ip", "link", "delete", outsideHostLink).Run()
	_ = exec.Command("ip", "netns", "delete", outsideNetns).Run()
}

// nodeListeners are a TCP listener and a UDP echo on the node's address,
// served by the test process: what a pod reaches when it reaches the node.
type nodeListeners struct {
	tcp net.Listener
	udp net.PacketConn
}

// listenOnNode opens both on one port number, so the matrix probes the
// node as it probes every other destination.
func listenOnNode(t *testing.T, nodeIP string) *nodeListeners {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var l nodeListeners
	for attempt := 0; attempt < 10 && l.udp == nil; attempt++ {
		tcp, err := net.Listen("tcp", net.JoinHostPort(nodeIP, "0"))
		if err != nil {
			t.Fatal(err)
		}
		udp, err := net.ListenPacket("udp", tcp.Addr().String())
		if err != nil {
			tcp.Close()
			continue // taken for UDP: try another number
		}
		l.tcp, l.udp = tcp, udp
	}
	if l.udp == nil {
		t.Fatalf("no port on %s is free for both TCP and UDP", nodeIP)
	}
	go func() {
		for {
			conn, err := l.tcp.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	go func() {
		if err := demoapp.ServeUDPEcho(ctx, l.udp); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Logf("UDP echo on the node: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		l.tcp.Close()
	})
	return &l
}

func (l *nodeListeners) port() int { return l.tcp.Addr().(*net.TCPAddr).Port }

func (l *nodeListeners) String() string {
	return fmt.Sprintf("tcp and udp %s", l.tcp.Addr())
}
