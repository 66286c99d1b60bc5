# A minimal image of sluice: the binary (cgo, for the SQLite driver) on
# distroless's glibc base, as a non-root user, the embedded store in the
# /data volume. Build: docker build --build-arg VERSION=v1.2.3 -t sluice .
# Run: docker run -p 7070:7070 -v sluice-data:/data sluice
# (docs/operations.md, "Deploy").
FROM golang:1.26-bookworm AS build
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/sluice ./cmd/sluice \
 && mkdir -p /out/data

FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/sluice /usr/local/bin/sluice
COPY --from=build --chown=nonroot:nonroot /out/data /data
ENV SLUICE_DATA=/data SLUICE_LISTEN=0.0.0.0:7070
VOLUME /data
EXPOSE 7070
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["serve"]
