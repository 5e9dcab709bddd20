# syntax=docker/dockerfile:1
# Build: the release binary. Runtime: Debian slim with only CA certificates and the binary.
FROM rust:1.95-bookworm AS build
# nasm: mozjpeg builds its SIMD decoder with it (photo decoding ~1.5x faster).
RUN apt-get update && apt-get install -y --no-install-recommends nasm && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
COPY openapi openapi
RUN cargo build --release --locked --bin phananh && cp target/release/phananh /usr/local/bin/phananh

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/phananh phananh \
 && mkdir -p /var/lib/phananh && chown phananh /var/lib/phananh
COPY --from=build /usr/local/bin/phananh /usr/local/bin/phananh
USER phananh
ENV PHANANH_LISTEN=0.0.0.0:8080 \
    PHANANH_DATA_DIR=/var/lib/phananh
EXPOSE 8080
# SIGTERM stops it gracefully: in-flight requests finish (PHANANH_HTTP__SHUTDOWN_TIMEOUT_SECS).
STOPSIGNAL SIGTERM
ENTRYPOINT ["phananh"]
CMD ["serve"]
