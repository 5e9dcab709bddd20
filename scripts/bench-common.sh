# Shared by scripts/bench.sh and scripts/soak.sh (sourced, not run): build, a fresh database with
# synthetic history and a staff account, and starting `phananh serve` processes on it.
# Expects: set -euo pipefail, the working directory at the repository root, $DB and $WORK set.

PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER
REPORTS=${REPORTS:-20000}
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/release"
DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB"
export DATABASE_URL
# Same secret for every process: a token issued by one is accepted by the others.
JWT_SECRET=${JWT_SECRET:-loadgen-bench-secret-0123456789abcdef0123456789}
STAFF_PHONE=0912345678
STAFF_PASSWORD='cán bộ kinh tế Ka Đô 2026'
export LOADGEN_STAFF_LOGIN=$STAFF_PHONE LOADGEN_STAFF_PASSWORD=$STAFF_PASSWORD
DATA_DIR="$WORK/data"
SERVER_PIDS=()
COMMANDS="$WORK/commands.txt"
: >"$COMMANDS"

log() { printf '\n==> %s\n' "$*" >&2; }
# Runs a command and records it (as typed) for the report.
run() {
  local arg line= plain='^[-A-Za-z0-9_./:=,@%+$]+$'
  for arg in "$@"; do
    arg=${arg//"$WORK"/\$WORK}
    if [[ $arg =~ $plain ]]; then
      line+="$arg "
    else
      line+="'${arg//\'/\'\\\'\'}' "
    fi
  done
  printf '%s\n' "${line% }" >>"$COMMANDS"
  "$@"
}

stop_servers() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${SERVER_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  SERVER_PIDS=()
}

build() {
  log "cargo build --release --bins"
  run cargo build --release --bins
}

prepare_database() {
  log "fresh database $DB with $REPORTS synthetic reports"
  run psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  run "$BIN/phananh" migrate
  run "$BIN/phananh" seed
  run "$BIN/phananh" areas import ../shared/data/boundaries/don-duong-communes.geojson
  run "$BIN/phananh" synth --reports "$REPORTS"
  # Planner statistics for the new rows, as autovacuum would gather them in production (it may be
  # off on a benchmark machine: `show autovacuum`), so the plans measured are the usual ones.
  run psql -q -d "$DB" -c 'VACUUM ANALYZE'
  printf '%s\n' "$STAFF_PASSWORD" | run "$BIN/phananh" user create --role staff \
    --department 24943-kinh-te --phone "$STAFF_PHONE" --full-name 'Cán bộ thử tải' --password-stdin
}

# start_server PORT: one `phananh serve` on 127.0.0.1:PORT (the database and data dir shared by all).
start_server() {
  local port=$1
  log "phananh serve on 127.0.0.1:$port"
  printf '%s\n' "PHANANH_LISTEN=127.0.0.1:$port PHANANH_DATA_DIR=\$WORK/data PHANANH_AUTH__JWT_SECRET=… PHANANH_HTTP__WRITES_PER_MINUTE=0 PHANANH_AUTH__LOGIN_PER_MINUTE_PER_IP=100000 PHANANH_AUTH__REGISTER_PER_HOUR_PER_IP=100000 PHANANH_LOG__FILTER=warn $BIN/phananh serve &" >>"$COMMANDS"
  PHANANH_LISTEN="127.0.0.1:$port" \
    PHANANH_DATA_DIR="$DATA_DIR" \
    PHANANH_DATABASE__PRIVATE_CLUSTER=false \
    PHANANH_AUTH__JWT_SECRET="$JWT_SECRET" \
    PHANANH_HTTP__WRITES_PER_MINUTE=0 \
    PHANANH_AUTH__LOGIN_PER_MINUTE_PER_IP=100000 \
    PHANANH_AUTH__REGISTER_PER_HOUR_PER_IP=100000 \
    PHANANH_LOG__FILTER=warn \
    "$BIN/phananh" serve >>"$WORK/server-$port.log" 2>&1 &
  SERVER_PIDS+=("$!")
  LAST_SERVER_PID=$!
  local i
  for i in $(seq 300); do
    if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then
      return 0
    fi
    if ! kill -0 "$LAST_SERVER_PID" 2>/dev/null; then
      echo "the server on port $port exited; its log:" >&2
      tail -20 "$WORK/server-$port.log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "the server on port $port was not ready within 60 s" >&2
  return 1
}

# 30s, 5m, 1h -> seconds
seconds_of() {
  local d=$1
  case "$d" in
    *ms) echo $(( ${d%ms} / 1000 )) ;;
    *s) echo "${d%s}" ;;
    *m) echo $(( ${d%m} * 60 )) ;;
    *h) echo $(( ${d%h} * 3600 )) ;;
    *) echo "$d" ;;
  esac
}
