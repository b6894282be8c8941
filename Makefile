# Tenantry's build, test and demo entry points. `make help` lists them.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

BIN := $(CURDIR)/bin
KUBE_VERSION := v1.37.2
# Stamp the Kubernetes version into the binaries, as the official release
# build does, so `kubectl version` and version-skew checks see the real one.
KUBE_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 \
	-X k8s.io/component-base/version.gitTreeState=clean

KUBE_BINS := $(BIN)/kube-apiserver $(BIN)/kube-controller-manager $(BIN)/kube-scheduler
# The local cluster's real node: kubelet and kube-proxy (built with the
# control plane, with which they share most packages), containerd 2.x and its
# runc shim, the pod sandbox (pause) and CoreDNS, whose images localcluster
# builds at start; kube-router, which enforces NetworkPolicy; and the Debian
# packages hack/node-packages.sh installs.
NODE_BINS := $(BIN)/kubelet $(BIN)/kube-proxy $(BIN)/containerd $(BIN)/containerd-shim-runc-v2 \
	$(BIN)/runc $(BIN)/pause $(BIN)/coredns $(BIN)/kube-router
# Argo CD, run out of cluster by the GitOps tests and the demo: its
# multi-call binary, an in-memory Redis, and its CRDs.
# helm is the CLI its repo server runs to render Helm charts kept in Git.
ARGOCD_FILES := $(BIN)/argocd $(BIN)/argocd-redis $(BIN)/argocd-crds.yaml $(BIN)/helm
# Argo Rollouts' controller (a pod on the real node, a host process on
# kwok-only clusters) for the progressive-delivery tests and the demo, and
# its CRDs.
ROLLOUTS_FILES := $(BIN)/rollouts-controller $(BIN)/rollouts-crds.yaml
# Traefik, the real node's ingress controller and the canaries' traffic
# router, and its CRDs.
TRAEFIK_FILES := $(BIN)/traefik $(BIN)/traefik-crds.yaml
TESTBIN := $(BIN)/etcd $(KUBE_BINS) $(BIN)/kwok $(BIN)/kwok-stages.yaml $(ARGOCD_FILES) $(ROLLOUTS_FILES) $(TRAEFIK_FILES) \
	$(NODE_BINS) $(BIN)/prom-label-proxy node-packages
# The version tools/$(1)/go.mod requires of module $(2), in a require block
# or on a single require line.
pinned = $(shell awk '$$1 == "require" {$$1 = ""; $$0 = $$0} $$1 == "$(2)" {print $$2}' tools/$(1)/go.mod)
# Stamped as Argo CD's release build does, so its logs and User-Agent name
# the real version (3.2.6, without the v) rather than 99.99.99.
ARGOCD_VERSION := $(patsubst v%,%,$(call pinned,argocd,github.com/argoproj/argo-cd/v3))
ARGOCD_LDFLAGS := -X github.com/argoproj/argo-cd/v3/common.version=$(ARGOCD_VERSION)
# Likewise Argo Rollouts (its VERSION file says 1.2.0 and the default is
# 99.99.99); without the commit, which the module proxy does not say, it
# reports v<version>+unknown.
ROLLOUTS_VERSION := $(patsubst v%,%,$(call pinned,rollouts,github.com/argoproj/argo-rollouts))
ROLLOUTS_LDFLAGS := -X github.com/argoproj/argo-rollouts/utils/version.version=$(ROLLOUTS_VERSION) \
	-X github.com/argoproj/argo-rollouts/utils/version.gitTreeState=clean
# And helm as its release build does (its default is "v3.18" with
# "+unreleased"), with the Kubernetes version its client-go matches as the
# default .Capabilities.KubeVersion.
HELM_VERSION := $(call pinned,helm,helm.sh/helm/v3)
HELM_KUBE_MINOR := $(word 2,$(subst ., ,$(call pinned,helm,k8s.io/client-go)))
HELM_LDFLAGS := -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/internal/version.metadata= -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(HELM_KUBE_MINOR) \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(HELM_KUBE_MINOR)

# Tenantry's own binaries are static (no cgo): they run in images with no
# libc. go vet, the builds and the local cluster's image builds
# (internal/images) share one set of compiled packages that way; only the
# race detector's build (go test -race) needs cgo and compiles its own.
NOCGO := CGO_ENABLED=0

# Tests: the race detector fits the time budget for Tenantry's own code.
GO_TEST_FLAGS ?= -race -count=1 -timeout 30m

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
# Where the demo keeps its cluster's data and logs (emptied at start).
DEMO_DATA_DIR ?= $(BIN)/demo

# Built, not `go run`: go run exits 1 when it sees the Ctrl-C that stops the
# demo, even though the demo itself stops cleanly.
demo: testbin operator cli ## Run the operator and the example tenants on a local cluster with a real node until Ctrl-C.
	$(NOCGO) go build -o $(BIN)/tenantry-demo ./hack/demo
	$(BIN)/tenantry-demo --data-dir $(DEMO_DATA_DIR)

.PHONY: operator
operator: ## Build bin/tenantry-operator.
	$(NOCGO) go build -o $(BIN)/tenantry-operator ./cmd/tenantry-operator

.PHONY: demo-fleet
# Where the fleet demo keeps its clusters' data and logs (emptied at start).
DEMO_FLEET_DATA_DIR ?= $(BIN)/demo-fleet

demo-fleet: testbin operator cli ## Run a fleet (a hub with Argo CD, two member clusters), place the example tenants and move one, until Ctrl-C.
	$(NOCGO) go build -o $(BIN)/tenantry-demo-fleet ./hack/demo-fleet
	$(BIN)/tenantry-demo-fleet --data-dir $(DEMO_FLEET_DATA_DIR)

.PHONY: cli
cli: ## Build the CLI bin/tenantry, and bin/kubectl-tenant (the kubectl plugin: the same binary).
	$(NOCGO) go build -o $(BIN)/tenantry ./cmd/tenantry
	ln -sf tenantry $(BIN)/kubectl-tenant

# Modules kept apart so their heavy test-only dependencies stay out of the
# operator's go.mod; `make test` and `make lint` cover them too.
TEST_MODULES := test/reachability test/chart

.PHONY: test
test: testbin ## Build what is missing in bin/, then run every test on the local control plane.
	@rm -f $(BIN)/escape-summary.txt $(BIN)/gitops-summary.txt $(BIN)/delivery-summary.txt
	TENANTRY_ESCAPE_SUMMARY=$(BIN)/escape-summary.txt TENANTRY_GITOPS_SUMMARY=$(BIN)/gitops-summary.txt \
		TENANTRY_DELIVERY_SUMMARY=$(BIN)/delivery-summary.txt \
		go test $(GO_TEST_FLAGS) ./...
	@cat $(BIN)/escape-summary.txt $(BIN)/gitops-summary.txt $(BIN)/delivery-summary.txt 2>/dev/null || true
	for m in $(TEST_MODULES); do (cd $$m && go test $(GO_TEST_FLAGS) ./...); done

.PHONY: test-unit
# go vet is make lint's job: left to go test, it vets every package again.
# The main module's test/ suites are end to end (each test needs the control
# plane), so the fast tier does not link them only to skip every test.
test-unit: ## The fast tier: every test that needs no control plane (go test -short), in seconds; make test runs them too.
	go test -short -count=1 -vet=off $$(go list ./... | grep -v '/tenantry/test/')
	for m in $(TEST_MODULES); do (cd $$m && go test -short -count=1 -vet=off ./...); done

.PHONY: bench
bench: testbin operator ## Measure onboarding, latency, footprint, rest, restart and drift at 1,000 tenants (~12 min); writes bin/bench/report.md.
	go run ./test/bench $(BENCH_FLAGS)

# 10,000 two-environment tenants (20,000 namespaces): the ceilings at 1,000,
# the operator with a 2 GiB memory limit and without the per-namespace
# quota series, as a cluster that large runs it.
.PHONY: bench-10k
bench-10k: testbin operator ## The same at 10,000 tenants (~17 min); writes bin/bench/10k/report.md.
	go run ./test/bench -tenants 10000 -ceiling-tenants 1000 -rates 10 -steady 30s -rest 1m \
		-ready-timeout 30m -operator-memory-limit 2Gi -operator-quota-metrics=none \
		-out bin/bench/10k $(BENCH_FLAGS)

# A fleet: a hub with Argo CD and three member clusters, 1,000 tenants
# each, committed in one push.
.PHONY: bench-fleet
bench-fleet: testbin operator ## Place and onboard 3 members × 1,000 tenants from Git (~20 min); writes bin/bench/fleet/report.md.
	go run ./test/fleetbench -members 3 -tenants 3000 -out bin/bench/fleet $(BENCH_FLAGS)

.PHONY: testbin
# Two builds at a time: while one links (single-threaded), the other
# compiles, which takes minutes off a cold build on 2 cores.
testbin: ## Build the control-plane and real-node binaries into bin/ (only those missing or out of date).
	@$(MAKE) --no-print-directory -s -j2 testbin-files

.PHONY: testbin-files
testbin-files: $(TESTBIN)

# Each binary is rebuilt only when its pinning module changes. One go build
# for all five: kubelet and kube-proxy then cost about a minute more.
$(KUBE_BINS) $(BIN)/kubelet $(BIN)/kube-proxy &: tools/kube/go.mod tools/kube/go.sum
	hack/gobuild.sh tools/kube $(BIN)/ "$(KUBE_LDFLAGS)" \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler \
		k8s.io/kubernetes/cmd/kubelet \
		k8s.io/kubernetes/cmd/kube-proxy
	@touch $(KUBE_BINS) $(BIN)/kubelet $(BIN)/kube-proxy

$(BIN)/containerd $(BIN)/containerd-shim-runc-v2 &: tools/containerd/go.mod tools/containerd/go.sum
	hack/gobuild.sh tools/containerd $(BIN)/ "" \
		github.com/containerd/containerd/v2/cmd/containerd \
		github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
	@touch $(BIN)/containerd $(BIN)/containerd-shim-runc-v2

# runc with seccomp (cgo against Debian's libseccomp). Debian's own runc,
# 1.1.5, cannot start containers on this kernel's cgroup v1.
# Without libseccomp-dev (not root, so not installed) it is skipped, and the
# real-node tests skip saying runc is missing.
$(BIN)/runc: tools/runc/go.mod tools/runc/go.sum | node-packages
	@if [ -e /usr/include/seccomp.h ]; then \
		CGO_ENABLED=1 hack/gobuild.sh tools/runc $@ "" -tags=seccomp github.com/opencontainers/runc; \
	else echo ">> skipping runc: it needs libseccomp-dev (hack/node-packages.sh installs it as root)"; fi

# The CNI plugins and iptables come from Debian: they install in seconds
# where a build would cost minutes (docs/local-control-plane.md).
.PHONY: node-packages
node-packages:
	@hack/node-packages.sh

# The oldest Kubernetes release Tenantry supports (docs/install.md, the
# chart's kubeVersion), pinned in tools/kube-oldest and built into its own
# directory. Only `make test-oldest-kube` builds it: it is not in testbin,
# so `make test` never pays for a second Kubernetes build.
OLDEST_KUBE_VERSION := $(call pinned,kube-oldest,k8s.io/kubernetes)
OLDEST_KUBE_DIR := $(BIN)/kube-$(OLDEST_KUBE_VERSION)
OLDEST_KUBE_BINS := $(addprefix $(OLDEST_KUBE_DIR)/,kube-apiserver kube-controller-manager kube-scheduler)
OLDEST_KUBE_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(OLDEST_KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(OLDEST_KUBE_VERSION))) \
	-X k8s.io/component-base/version.gitTreeState=clean

$(OLDEST_KUBE_BINS) &: tools/kube-oldest/go.mod tools/kube-oldest/go.sum
	hack/gobuild.sh tools/kube-oldest $(OLDEST_KUBE_DIR)/ "$(OLDEST_KUBE_LDFLAGS)" \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler
	@touch $(OLDEST_KUBE_BINS)

.PHONY: test-oldest-kube
test-oldest-kube: $(BIN)/etcd $(BIN)/kwok $(BIN)/kwok-stages.yaml $(OLDEST_KUBE_BINS) ## Build the oldest supported Kubernetes into bin/kube-<version>/ and run the guardrail tests and test/e2e on it; writes bin/oldest-kube/report.md.
	tools/kube-oldest/test.sh $(OLDEST_KUBE_VERSION) $(OLDEST_KUBE_DIR) $(BIN)/oldest-kube

$(BIN)/etcd: tools/etcd/go.mod tools/etcd/go.sum
	hack/gobuild.sh tools/etcd $@ "" go.etcd.io/etcd/server/v3

$(BIN)/kwok: tools/kwok/go.mod tools/kwok/go.sum
	hack/gobuild.sh tools/kwok $@ "" sigs.k8s.io/kwok/cmd/kwok

$(BIN)/kwok-stages.yaml: tools/kwok/go.mod hack/kwok-stages.sh
	hack/kwok-stages.sh $@

# One binary plays every Argo CD component, chosen by ARGOCD_BINARY_NAME.
$(BIN)/argocd: tools/argocd/go.mod tools/argocd/go.sum
	hack/gobuild.sh tools/argocd $@ "$(ARGOCD_LDFLAGS)" github.com/argoproj/argo-cd/v3/cmd

$(BIN)/argocd-redis: tools/argocd/go.mod tools/argocd/go.sum tools/argocd/redis/main.go
	hack/gobuild.sh tools/argocd $@ "" github.com/tenantry/tenantry/tools/argocd/redis

$(BIN)/argocd-crds.yaml: tools/argocd/go.mod hack/argocd-crds.sh
	hack/argocd-crds.sh $@

$(BIN)/helm: tools/helm/go.mod tools/helm/go.sum
	hack/gobuild.sh tools/helm $@ "$(HELM_LDFLAGS)" helm.sh/helm/v3/cmd/helm

$(BIN)/rollouts-controller: tools/rollouts/go.mod tools/rollouts/go.sum
	hack/gobuild.sh tools/rollouts $@ "$(ROLLOUTS_LDFLAGS)" github.com/argoproj/argo-rollouts/cmd/rollouts-controller

$(BIN)/rollouts-crds.yaml: tools/rollouts/go.mod hack/rollouts-crds.sh
	hack/rollouts-crds.sh $@

# Traefik v3, static. hack/traefik-build.sh builds it against patched copies
# of two dependencies the module proxy cannot serve whole (it says which and
# why); they live under bin/traefik-build.
$(BIN)/traefik: tools/traefik/go.mod tools/traefik/go.sum tools/traefik/ext/ext.go \
		$(wildcard tools/traefik/patches/*) hack/traefik-build.sh
	hack/traefik-build.sh $@

$(BIN)/traefik-crds.yaml: tools/traefik/go.mod hack/traefik-crds.sh
	hack/traefik-crds.sh $@

# CoreDNS, the real node's cluster DNS: a static binary that localcluster
# puts into an image (tools/coredns/main.go keeps only the plugins it needs).
$(BIN)/coredns: tools/coredns/go.mod tools/coredns/go.sum tools/coredns/main.go
	CGO_ENABLED=0 hack/gobuild.sh tools/coredns $@ "" github.com/tenantry/tenantry/tools/coredns

# prom-label-proxy, the label enforcer behind the metrics gateway
# (docs/observability.md): the tests run it next to a real Prometheus and
# push it as the gateway's sidecar image. Static, so it fits a bare image.
$(BIN)/prom-label-proxy: tools/prom-label-proxy/go.mod tools/prom-label-proxy/go.sum
	CGO_ENABLED=0 hack/gobuild.sh tools/prom-label-proxy $@ "" github.com/prometheus-community/prom-label-proxy

# kube-router, the real node's NetworkPolicy engine (only its firewall
# controller runs; docs/isolation.md says why this one). Static: it calls
# the host's iptables and ipset commands.
# Stamped as its release build does, so its log's first line names it.
KUBE_ROUTER_LDFLAGS := -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$(call pinned,kube-router,github.com/cloudnativelabs/kube-router/v2)
$(BIN)/kube-router: tools/kube-router/go.mod tools/kube-router/go.sum
	CGO_ENABLED=0 hack/gobuild.sh tools/kube-router $@ "$(KUBE_ROUTER_LDFLAGS)" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router

$(BIN)/controller-gen: tools/codegen/go.mod tools/codegen/go.sum
	hack/gobuild.sh tools/codegen $@ "" sigs.k8s.io/controller-tools/cmd/controller-gen

$(BIN)/staticcheck: tools/lint/go.mod tools/lint/go.sum
	hack/gobuild.sh tools/lint $@ "" honnef.co/go/tools/cmd/staticcheck

.PHONY: generate
generate: $(BIN)/controller-gen ## Regenerate deepcopy code, CRDs, RBAC and the static install manifest.
	$(BIN)/controller-gen object paths=./api/...
	$(BIN)/controller-gen crd paths=./api/... output:crd:artifacts:config=charts/tenantry/crds
	$(BIN)/controller-gen rbac:roleName=tenantry-operator paths=./internal/controller/... \
		output:rbac:artifacts:config=charts/tenantry/templates
	$(NOCGO) go run ./hack/tenant-roles > charts/tenantry/templates/tenant-roles.yaml
	cd test/chart && go run ./cmd/static-manifest > ../../deploy/tenantry.yaml

.PHONY: lint
lint: $(BIN)/staticcheck $(BIN)/helm ## gofmt, go vet, staticcheck and helm lint.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(NOCGO) go vet ./...
	$(BIN)/staticcheck ./...
	for m in $(TEST_MODULES); do (cd $$m && go vet ./... && $(BIN)/staticcheck ./...); done
	@# test/chart lints the charts with the Helm SDK in `make test`; the helm CLI Argo CD runs, too.
	$(BIN)/helm lint --strict charts/tenantry charts/tenant-app

# Container images, built without a container engine by hack/images
# (go-containerregistry): one multi-platform image per command, a static
# binary on a distroless-style non-root layer, reproducible to the digest.
IMAGE_REGISTRY ?= ghcr.io/tenantry
IMAGE_TAG ?= $(shell awk -F'"' '/^appVersion:/ {print $$2}' charts/tenantry/Chart.yaml)

.PHONY: images
images: ## Build the images without Docker (go-containerregistry) and push them to IMAGE_REGISTRY.
	go run ./hack/images --registry $(IMAGE_REGISTRY) --tag $(IMAGE_TAG)

# The local cluster's pod sandbox process (in place of registry.k8s.io/pause).
$(BIN)/pause: hack/pause/main.go
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $@ ./hack/pause

.PHONY: clean
clean: ## Remove bin/ (the next `make testbin` is a cold build).
	rm -rf $(BIN)
