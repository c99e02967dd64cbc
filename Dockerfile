# For people with a registry: a multi-stage build, the binary on a distroless base
# (glibc, CA certificates, nonroot 65532, /etc/nsswitch.conf, no shell).
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     -t REGISTRY/pod-eni-exporter:0.1.0 .
# Without a registry, scripts/image builds the same image from the local release binary
# with buildah (a test compares the two: user, entrypoint, command, port, working
# directory, environment, labels, the binary's path).
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so that source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY benches benches
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin pod-eni-exporter \
    && rm -rf src
COPY src src
COPY data data
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin pod-eni-exporter \
    && strip target/release/pod-eni-exporter

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pod-eni-exporter" \
    org.opencontainers.image.description="Branch ENIs per node for EKS security groups for pods, as EC2 sees them" \
    org.opencontainers.image.source="https://github.com/pod-eni-exporter/pod-eni-exporter" \
    org.opencontainers.image.version="${VERSION}" \
    org.opencontainers.image.revision="${REVISION}" \
    org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /src/target/release/pod-eni-exporter /usr/local/bin/pod-eni-exporter
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /home/nonroot
USER 65532:65532
EXPOSE 9823
ENTRYPOINT ["/usr/local/bin/pod-eni-exporter"]
CMD ["serve"]
