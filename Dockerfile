# syntax=docker/dockerfile:1
# Build: docker build -t inkspot .
# Run:   docker run --stop-timeout 15 -p 8080:8080 -v "$PWD/config.toml:/app/config.toml:ro" -v inkspot-cache:/app/cache inkspot
# Demo:  docker run -p 8080:8080 inkspot serve --config /app/examples/offline.toml
# With a browser (screenshot spots, HTML templates, screenshot jobs and
# crawls): docker build --target browser -t inkspot:browser .
# The default image has none, and stays small; it can use a remote one
# (browser.ws_url / INKSPOT_BROWSER_WS_URL, see deploy/browser.yml).

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

FROM debian:bookworm-slim AS base
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

# Debian's Chromium beside inkspot, which starts it on the first picture.
FROM base AS browser
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
USER inkspot

# The default target: no browser.
FROM base AS slim
