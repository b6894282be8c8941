// Command redis serves the Redis protocol from memory on a loopback port,
// for Argo CD's caches on the local control plane. It is miniredis, which
// Argo CD itself runs for its --core mode, so no redis-server package is
// needed on the machine.
package main

import (
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

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
	<-stop
	server.Close()
}
