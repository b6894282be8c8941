// Command redis serves the Redis protocol from memory on a loopback port,
// for Argo CD's caches on the local control plane. It is miniredis, which
// Argo CD itself runs for its --core mode, so no redis-server package is
// needed on the machine. miniredis lets keys expire only when told time
// has passed, so a ticker tells it every second: Argo CD's cache of branch
// heads must expire, or it never sees a new commit without a refresh.
package main

import (
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "address to listen on")
	flag.Parse()

	server := miniredis.NewMiniRedis()
	if err := server.StartAddr(*addr); err != nil {
		log.Fatalf("redis: listen on %s: %v", *addr, err)
	}
	log.Printf("redis: serving on %s", server.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-stop:
			server.Close()
			return
		case now := <-tick.C:
			server.FastForward(now.Sub(last))
			last = now
		}
	}
}
