#!/usr/bin/env bash
# Soak: the realistic mix at a steady rate (open loop) against one `phananh serve` for a long
# time, sampling the server's memory (VmRSS), open file descriptors and PostgreSQL connections to
# its database every minute. Writes docs/soak.md: the per-minute table, the mix's results (errors
# by status) and the verdict.
#
#   scripts/soak.sh                      # 30 minutes at 10 operations/s
#   DURATION=5m RATE=20 scripts/soak.sh
#
# Env: DURATION (30m), RATE (10 ops/s), SAMPLE_EVERY (60 s), REPORTS (20000), PORT (18091),
# CARGO_TARGET_DIR. Needs what scripts/bench.sh needs (not pgbench).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30m}
RATE=${RATE:-10}
SAMPLE_EVERY=${SAMPLE_EVERY:-60}
PORT=${PORT:-18091}
DB=phananh_soak
WORK=$(mktemp -d -t phananh-soak.XXXXXX)
source scripts/bench-common.sh
OUT=docs/soak.md
SAMPLES="$WORK/samples.tsv"
LOADGEN_PID=

cleanup() {
  if [ -n "$LOADGEN_PID" ]; then kill "$LOADGEN_PID" 2>/dev/null || true; fi
  stop_servers
  echo "work directory (logs, samples): $WORK" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started_at=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
build
prepare_database
start_server "$PORT"
server=$LAST_SERVER_PID

sample() { # minute
  local rss fds conns
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$server/status")
  fds=$(ls "/proc/$server/fd" | wc -l)
  conns=$(psql -tA -d postgres -c "select count(*) from pg_stat_activity where datname = '$DB'")
  printf '%s\t%s\t%s\t%s\n' "$1" "$rss" "$fds" "$conns" >>"$SAMPLES"
  printf 'minute %s: RSS %s KiB, %s fds, %s PostgreSQL connections\n' "$1" "$rss" "$fds" "$conns" >&2
}

log "soak: $RATE ops/s for $DURATION"
sample 0
printf '%s\n' "$BIN/loadgen mix --url http://127.0.0.1:$PORT --rate $RATE --duration $DURATION --progress 60s --label soak" >>"$COMMANDS"
"$BIN/loadgen" mix --url "http://127.0.0.1:$PORT" --rate "$RATE" --duration "$DURATION" \
  --progress 60s --label soak --json-out "$WORK/soak.jsonl" >"$WORK/loadgen.txt" 2>"$WORK/loadgen.err" &
LOADGEN_PID=$!
minute=0
next=$(( $(date +%s) + SAMPLE_EVERY ))
while kill -0 "$LOADGEN_PID" 2>/dev/null; do
  sleep 1
  if [ "$(date +%s)" -ge "$next" ]; then
    minute=$((minute + 1))
    next=$((next + SAMPLE_EVERY))
    sample "$minute"
  fi
done
loadgen_status=0
wait "$LOADGEN_PID" || loadgen_status=$?
LOADGEN_PID=
sample end
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cat "$WORK/loadgen.txt"
if [ "$loadgen_status" -ne 0 ]; then
  echo "loadgen failed ($loadgen_status):" >&2
  cat "$WORK/loadgen.err" >&2
  exit 1
fi

log "writing $OUT"
errors=$(grep '^{' "$WORK/loadgen.txt" | tail -1 | python3 -c '
import json, sys
line = json.load(sys.stdin)
print(sum(sum(op["errors"].values()) for op in line["ops"]))')
# Verdict. Memory: the first minutes after warm-up (1-5, median) against the last five, and the
# highest value of the last third against the highest before it. The allocator keeps freed memory
# for a while and returns it in steps, so RSS can move in a sawtooth; it is "flat" when the last
# third sets no new high (within 5 %) or ends within 5 % / 8 MiB of the start, "growing" otherwise.
verdict=$(awk -F'\t' '
  $1 != "end" && $1 >= 1 { n++; rss[n] = $2; fds[n] = $3; conns[n] = $4 }
  function med(a, from, to,   i, j, t, k, b) {
    k = 0; for (i = from; i <= to; i++) b[++k] = a[i]
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t }
    return b[int((k + 1) / 2)]
  }
  function max(a, from, to,   i, m) { m = a[from]; for (i = from + 1; i <= to; i++) if (a[i] > m) m = a[i]; return m }
  END {
    if (n < 3) { print "- Too few samples for a verdict."; exit }
    w = (n >= 10) ? 5 : int(n / 2)
    r0 = med(rss, 1, w); r1 = med(rss, n - w + 1, n)
    f0 = med(fds, 1, w); f1 = med(fds, n - w + 1, n)
    c0 = med(conns, 1, w); c1 = med(conns, n - w + 1, n)
    t = int(n * 2 / 3)
    early = max(rss, 1, t); late = max(rss, t + 1, n)
    growth = (r1 - r0) / 1024
    flat = (late <= 1.05 * early) || ((r1 - r0) <= 0.05 * r0 || growth <= 8)
    printf "- Memory: median RSS of minutes 1-%d %.1f MiB, of the last %d minutes %.1f MiB (%+.1f MiB, %+.1f %%); highest until minute %d %.1f MiB, after it %.1f MiB: %s.\n", \
      w, r0 / 1024, w, r1 / 1024, growth, 100 * (r1 - r0) / r0, t, early / 1024, late / 1024, \
      flat ? "**flat** (no new high in the last third, or no growth from start to end)" : "**growing**"
    printf "- Open file descriptors: %d then %d (highest %d): %s.\n", f0, f1, max(fds, 1, n), (f1 <= f0 + 2) ? "**flat**" : "**growing**"
    printf "- PostgreSQL connections to the database: %d then %d (highest %d; the pool holds at most 16): %s.\n", c0, c1, max(conns, 1, n), (c1 <= c0 + 2) ? "**flat**" : "**growing**"
  }' "$SAMPLES")
{
  echo "# Soak: $DURATION of the mix at $RATE operations/s"
  echo
  echo "Produced by \`DURATION=$DURATION RATE=$RATE scripts/soak.sh\` on $started_at."
  echo "Machine: $(nproc) cores, load average (1, 5, 15 min) before: $load_before; after: $load_after."
  echo "One \`phananh serve\` on a fresh database with $REPORTS synthetic reports; the mix (feed 35 %,"
  echo "detail 30 %, staff queue 15 %, submission of two phone photos 20 %) in open loop: an operation"
  echo "starts every 1/$RATE s whatever the answers, latency counted from the scheduled start."
  echo
  echo "## Verdict"
  echo
  if [ "$errors" = 0 ]; then
    echo "- Errors: **none** (every answer 2xx)."
  else
    echo "- Errors: **$errors** (see the results below)."
  fi
  echo "$verdict"
  echo
  echo "## Every minute"
  echo
  echo "| minute | server RSS (MiB) | open fds | PostgreSQL connections |"
  echo "|---:|---:|---:|---:|"
  awk -F'\t' '{ printf "| %s | %.1f | %d | %d |\n", $1, $2 / 1024, $3, $4 }' "$SAMPLES"
  echo
  echo "## Mix results"
  echo
  echo '```'
  grep -v '^{' "$WORK/loadgen.txt"
  echo '```'
  echo
  echo "Progress (cumulative, every minute):"
  echo
  echo '```'
  cat "$WORK/loadgen.err"
  echo '```'
  echo
  echo "## Commands"
  echo
  echo '```sh'
  cat "$COMMANDS"
  echo '```'
} >"$OUT"
cat "$OUT"
