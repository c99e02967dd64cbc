# Multi-stage build: compile with the Rust toolchain, ship only the binary on a
# distroless base (glibc, CA certificates, a non-root user, no shell).
#   docker build -t REGISTRY/pod-eni-exporter:TAG .
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so that source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY benches/scale.rs benches/scale.rs
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin pod-eni-exporter \
    && rm -rf src
COPY src src
COPY data data
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin pod-eni-exporter \
    && strip target/release/pod-eni-exporter

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/pod-eni-exporter /usr/local/bin/pod-eni-exporter
USER 65532:65532
EXPOSE 9823
ENTRYPOINT ["/usr/local/bin/pod-eni-exporter"]
CMD ["serve"]
