#!/usr/bin/env bash
# Login throughput of the release server: wrk POSTs /api/v1/auth/login (right password) for
# $DURATION with $CONNECTIONS connections and prints requests/s and latency percentiles.
# Needs wrk (Debian: apt install wrk) and a PostgreSQL it can create a database on
# (BENCH_ADMIN_URL, default postgres://postgres@127.0.0.1/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-8}
ADMIN=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1/postgres}
DB=phananh_loginbench
PORT=${PORT:-18181}

cargo build --release -q
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
base=${ADMIN%/*}
DATABASE_URL="$base/$DB" PHANANH_LISTEN="127.0.0.1:$PORT" PHANANH_LOG__FILTER=error \
  PHANANH_DATA_DIR="$(mktemp -d)" PHANANH_AUTH__LOGIN_PER_MINUTE_PER_IP=100000000 \
  PHANANH_AUTH__LOCKOUT_AFTER_FAILURES=100000 \
  ./target/release/phananh serve &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/register" -H 'Content-Type: application/json' \
  -d '{"phone": "0912000000", "password": "núi Langbiang 2026", "full_name": "Bench"}' >/dev/null
echo "cores: $(nproc); hash concurrency: default; $CONNECTIONS connections for $DURATION"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/login.lua "http://127.0.0.1:$PORT/api/v1/auth/login"
