// Command images builds Tenantry's container images without a container
// engine (internal/images, go-containerregistry) and pushes them: one
// multi-platform OCI image index per command, tagged <registry>/<command>:<tag>.
//
// `make images` runs it from the repository root:
//
//	go run ./hack/images --registry ghcr.io/tenantry --tag 0.1.0
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/internal/images"
)

// commands are the packages under cmd/ that ship as images; the image is
// named after the directory.
var commands = []string{"tenantry-operator", "tenantry", "demo-app"}

// chartFile holds the release version images are tagged with by default, so
// the chart's default image tag and the pushed tag cannot drift apart.
const chartFile = "charts/tenantry/Chart.yaml"

const source = "https://github.com/tenantry/tenantry"

// errUsage reports a flag error the flag package has already printed.
var errUsage = errors.New("usage")

type config struct {
	registry  string
	tag       string
	platforms []string
	push      bool
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if errors.Is(err, errUsage) {
		os.Exit(2) // the flag package has printed the error and the usage
	}
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		err = run(ctx, cfg)
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: go run ./hack/images [flags]

Builds the container images of Tenantry's commands without Docker:
  %s
one OCI image index per command, holding an image per platform: a static Go
binary at /app on a distroless-style layer, run as UID 65532. The same
sources give the same digests. Pushes each to <registry>/<command>:<tag>
(credentials from the Docker config; a registry on 127.0.0.1, localhost or
[::1] is spoken to over plain HTTP) and prints one line per image:
<registry>/<command>:<tag>@<digest>. Run it from the repository root.

Flags:
`, strings.Join(commands, " "))
		fs.PrintDefaults()
	}
	var cfg config
	var platforms string
	fs.StringVar(&cfg.registry, "registry", "ghcr.io/tenantry", "Registry and namespace the images are pushed to (127.0.0.1:5000 for a local one).")
	fs.StringVar(&cfg.tag, "tag", "", "Image tag, also the images' org.opencontainers.image.version label (default: appVersion of "+chartFile+").")
	fs.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "Comma-separated `os/arch` list the images are built for; only linux.")
	fs.BoolVar(&cfg.push, "push", true, "Push the images; --push=false only builds them and prints their digests.")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, err
		}
		return config{}, errUsage
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q (see --help)", fs.Args())
	}
	for _, p := range strings.Split(platforms, ",") {
		arch, ok := strings.CutPrefix(strings.TrimSpace(p), "linux/")
		if !ok || arch == "" || strings.Contains(arch, "/") {
			return config{}, fmt.Errorf("--platforms: %q is not linux/<arch> (for example linux/arm64)", p)
		}
		cfg.platforms = append(cfg.platforms, arch)
	}
	cfg.registry = strings.TrimSuffix(cfg.registry, "/")
	if cfg.tag == "" {
		version, err := chartAppVersion(chartFile)
		if err != nil {
			return config{}, fmt.Errorf("%w; run from the repository root or set --tag", err)
		}
		cfg.tag = version
	}
	return cfg, nil
}

func chartAppVersion(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(data, &chart); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if chart.AppVersion == "" {
		return "", fmt.Errorf("%s has no appVersion", path)
	}
	return chart.AppVersion, nil
}

func run(ctx context.Context, cfg config) error {
	tmp, err := os.MkdirTemp("", "tenantry-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	for _, cmd := range commands {
		ref := cfg.registry + "/" + cmd + ":" + cfg.tag
		idx, err := buildIndex(ctx, cfg, cmd, tmp)
		if err != nil {
			return err
		}
		var digest string
		if cfg.push {
			digest, err = images.Push(ctx, idx, ref)
		} else {
			var h v1.Hash
			h, err = idx.Digest()
			digest = h.String()
		}
		if err != nil {
			return err
		}
		fmt.Printf("%s@%s\n", ref, digest)
	}
	return nil
}

// buildIndex builds cmd for every platform and gathers the images into one
// index.
func buildIndex(ctx context.Context, cfg config, cmd, tmp string) (v1.ImageIndex, error) {
	var imgs []v1.Image
	for _, arch := range cfg.platforms {
		binary := filepath.Join(tmp, cmd+"-"+arch)
		if err := images.BuildGo(ctx, images.GoBuild{Dir: ".", Package: "./cmd/" + cmd, GOARCH: arch, Out: binary, Reproducible: true}); err != nil {
			return nil, err
		}
		img, err := images.FromBinary(binary, images.Options{
			Arch: arch, Title: cmd, Version: cfg.tag, Source: source,
		})
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, img)
	}
	return images.Index(imgs...)
}
