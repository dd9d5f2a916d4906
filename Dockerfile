# syntax=docker/dockerfile:1
#
# One image holds every kycflow binary: ingest, enricher, notifier, kycflow
# (the operator commands and "kycflow run"), jumiosim and healthcheck. Each
# Deployment or compose service picks its binary with its command. One tag
# to build, scan, sign and pin; the binaries share most of their code, so
# the image is barely larger than one of them.
#
#   docker build -t kycflow:1.0.0 .
#   docker run --rm kycflow:1.0.0 kycflow --help

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download && go mod verify
COPY . .
# Static binaries (no cgo), without local paths (-trimpath), with the time
# zone database built in (the final image has no /usr/share/zoneinfo).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -tags timetzdata -ldflags="-s -w" -o /out/bin/ ./cmd/... \
 && mkdir -p /out/tmp

# scratch plus the CA bundle: nothing but the binaries can run in it (no
# shell, no package manager), which is why compose health checks use the
# healthcheck binary.
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/bin/ /usr/local/bin/
# A writable /tmp owned by the runtime user, for "docker run" without a
# tmpfs; Kubernetes mounts an emptyDir there and keeps the root read-only.
COPY --from=build --chown=65532:65532 /out/tmp /tmp
ENV PATH=/usr/local/bin
# A numeric user, so that Kubernetes can verify runAsNonRoot.
USER 65532:65532
# ingest, enricher, notifier (/healthz, /readyz, /metrics); ingest's admin
# port when KYCFLOW_INGEST_ADMIN_ADDR=:9090 (the Kubernetes manifests);
# jumiosim.
EXPOSE 8080 8081 8082 9090 8090
CMD ["kycflow", "--help"]
