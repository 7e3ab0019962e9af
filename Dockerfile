# syntax=docker/dockerfile:1
# Build: docker build -t inkspot .
# Run:   docker run --stop-timeout 15 -p 8080:8080 -v "$PWD/config.toml:/app/config.toml:ro" -v inkspot-cache:/app/cache inkspot
# Demo:  docker run -p 8080:8080 inkspot serve --config /app/examples/offline.toml

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY src ./src
COPY migrations ./migrations
COPY fonts ./fonts
COPY templates ./templates
COPY benches ./benches
COPY bench/bare_hit.rs ./bench/bare_hit.rs
RUN cargo build --release --locked --bin inkspot

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app inkspot
WORKDIR /app
COPY --from=build /src/target/release/inkspot /usr/local/bin/inkspot
COPY templates ./templates
COPY fonts/LICENSE-DejaVu.txt ./fonts/
COPY config.toml ./config.toml
COPY examples ./examples
RUN mkdir -p /app/cache && chown inkspot /app/cache
USER inkspot
ENV INKSPOT_CONFIG=/app/config.toml RUST_LOG=info
EXPOSE 8080
VOLUME ["/app/cache"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["inkspot", "healthcheck"]
ENTRYPOINT ["inkspot"]
CMD ["serve"]
