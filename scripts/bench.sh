#!/usr/bin/env bash
# Throughput and latency of the realistic mix against one and two `phananh serve` processes, each
# operation alone, and beside them the limits measured in the same run: pgbench -S (one-row
# reads), the photo pipeline alone (submissions), a plain actix-web handler (the HTTP floor).
# Writes docs/benchmarks.md.
#
#   DURATION=30s CONCURRENCY=16 scripts/bench.sh
#
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, PGHOST/PGPORT/PGUSER to change), pgbench,
# curl, and ../shared/data. Env: DURATION (30s), CONCURRENCY (16), REPORTS (20000 synthetic),
# PORT1/PORT2 (18081/18082), PGBENCH_SCALE (10), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30s}
CONCURRENCY=${CONCURRENCY:-16}
PORT1=${PORT1:-18081}
PORT2=${PORT2:-18082}
PGBENCH_SCALE=${PGBENCH_SCALE:-10}
DB=phananh_bench
PGBENCH_DB=phananh_pgbench
WORK=$(mktemp -d -t phananh-bench.XXXXXX)
source scripts/bench-common.sh
RESULTS="$WORK/results.jsonl"
OUT=docs/benchmarks.md

cleanup() {
  stop_servers
  echo "work directory (logs, JSON lines): $WORK" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started_at=$(date -u '+%Y-%m-%d %H:%M UTC')
build
prepare_database
LOADGEN="$BIN/loadgen"
mix() {
  run "$LOADGEN" mix --concurrency "$CONCURRENCY" --duration "$DURATION" --json-out "$RESULTS" "$@"
}

start_server "$PORT1"
log "mix, one server"
mix --url "http://127.0.0.1:$PORT1" --label one-server
for op in feed detail queue submission; do
  log "$op alone, one server"
  mix --url "http://127.0.0.1:$PORT1" --only "$op" --label "$op-alone"
done

start_server "$PORT2"
log "mix, two servers"
mix --url "http://127.0.0.1:$PORT1" --url "http://127.0.0.1:$PORT2" --label two-servers
stop_servers

log "limits: pgbench -S (one-row reads) at the same concurrency"
run psql -q -d postgres -c "DROP DATABASE IF EXISTS $PGBENCH_DB WITH (FORCE)" -c "CREATE DATABASE $PGBENCH_DB"
run pgbench -i -q -s "$PGBENCH_SCALE" "$PGBENCH_DB" 2>&1 | tail -1
secs=$(seconds_of "$DURATION")
run pgbench -S -c "$CONCURRENCY" -j 2 -T "$secs" "$PGBENCH_DB" | tee "$WORK/pgbench.txt"
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$WORK/pgbench.txt" | head -1)
latency=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$WORK/pgbench.txt" | head -1)
printf '{"kind":"pgbench","clients":%s,"scale":%s,"tps":%s,"latency_avg_ms":%s}\n' \
  "$CONCURRENCY" "$PGBENCH_SCALE" "${tps:-null}" "${latency:-null}" >>"$RESULTS"
psql -q -d postgres -c "DROP DATABASE IF EXISTS $PGBENCH_DB WITH (FORCE)"

log "limits: the photo pipeline alone"
run "$LOADGEN" pipeline --duration "$DURATION" --json-out "$RESULTS"
log "limits: the HTTP floor"
run "$LOADGEN" floor --concurrency "$CONCURRENCY" --duration "$DURATION" --json-out "$RESULTS"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

log "writing $OUT"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
pg=$(psql -tA -d postgres -c 'show server_version')
autovacuum=$(psql -tA -d postgres -c 'show autovacuum')
{
  echo "# Benchmarks: throughput, latency and the limits they run into"
  echo
  echo "Produced by \`DURATION=$DURATION CONCURRENCY=$CONCURRENCY scripts/bench.sh\` on $started_at."
  echo "Machine: $(nproc) cores ($cpu), $mem RAM, PostgreSQL $pg on the same machine."
  echo "Load average (1, 5, 15 min) before the run: $load_before; after: $load_after."
  echo
  echo "Database: $REPORTS synthetic reports (\`phananh synth\`), the real Đơn Dương boundaries,"
  echo "\`VACUUM ANALYZE\` after loading (this server's autovacuum: $autovacuum)."
  echo "Each run lasts $DURATION. The mix is feed 35 %, detail 30 %, staff queue 15 %, submission 20 %"
  echo "(closed loop: $CONCURRENCY clients, each sends its next request when the previous one is answered)."
  echo "A submission is two photo uploads (\`POST /api/v1/media\`, real phone photos of 2.2 MB"
  echo "(Nokia 8.3, 4608×1976) and 2.0 MB (iPhone, 3264×2448)) and \`POST /api/v1/reports\` with both,"
  echo "timed end to end; the ↳ rows are its steps. Latencies are of successful operations; any non-2xx"
  echo "answer is an error, counted by status. The load generator runs on the same machine as the"
  echo "servers and PostgreSQL, so all three share the $(nproc) cores."
  echo
  "$LOADGEN" table "$RESULTS"
  echo
  echo "## Commands"
  echo
  echo '```sh'
  cat "$COMMANDS"
  echo '```'
} >"$OUT"
cat "$OUT"
