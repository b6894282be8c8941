# syntax=docker/dockerfile:1
# One Dockerfile for Tenantry's binaries: CMD picks which (tenantry-operator,
# the tenantry CLI, or demo-app once it exists). `make images` builds each.
#   docker build --build-arg CMD=tenantry-operator -t ghcr.io/tenantry/tenantry-operator:0.1.0 .
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG CMD=tenantry-operator
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# A static binary (no cgo) runs on an image with no libc.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
	go build -trimpath -ldflags="-s -w" -o /out/app ./cmd/${CMD}

# Distroless static: no shell, no package manager; the nonroot variant runs
# as UID 65532, the user the chart's securityContext names.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]
