# syntax=docker/dockerfile:1

# Build:  docker build --build-arg VERSION=$(git describe --tags --always) -t envoi .
# Run:    docker run --rm -e ENVOI_SECRET_KEY=... -e ENVOI_DATABASE_URL=... envoi serve
# Templates, static files and migrations are embedded in the binary, so the
# runtime image holds nothing but /envoi.

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src

# Dependencies first, so this layer stays cached until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/envoi ./cmd/envoi

# distroless/static: CA certificates and tzdata, no shell, runs as uid 65532.
# No curl either, so health checks must come from outside (GET /healthz, /readyz).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/envoi /envoi
USER nonroot:nonroot
# The default ENVOI_LISTEN_ADDR is 127.0.0.1:8080, unreachable from outside a
# container: listen on all interfaces here.
ENV ENVOI_LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/envoi"]
CMD ["serve"]
