#!/usr/bin/env bash
# Spec-driven fuzzing: schemathesis against the served /openapi.json, once per role.
#
# Starts `phananh serve` (the debug binary unless PHANANH_BIN is set) on a fresh database
# `phananh_schemathesis_<pid>` on the local PostgreSQL (dropped at the end), makes one account per role and an IOC key, then
# runs schemathesis with every check as: anonymous, the IOC (X-Api-Key), a citizen, staff, a
# manager and an admin (bearer tokens from scripts/schemathesis_hooks.py). The admin runs last:
# it may rename or remove what the others use. Fails if any run finds a failure.
#
#   scripts/schemathesis.sh                 # every role
#   ST_ROLES="citizen staff" scripts/schemathesis.sh
#   ST_MAX_EXAMPLES=20 ST_SEED=1 scripts/schemathesis.sh
#
# Needs: schemathesis from PyPI (the pinned version is installed if missing), PostgreSQL on
# PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
ROLES=${ST_ROLES:-"anonymous ioc citizen staff manager admin"}
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-5}
# One worker: with two, Python 3.11's `ast` has crashed now and then inside Hypothesis when both
# threads describe a strategy at once ("AST constructor recursion depth mismatch").
WORKERS=${ST_WORKERS:-1}
SEED=${ST_SEED:-$RANDOM}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=phananh_schemathesis_$$
DB_URL=${PG_ADMIN_URL%/*}/$DB
PASSWORD='schemathesis-long-password-1'

if ! python3 -c "import schemathesis, sys; sys.exit(schemathesis.__version__ != '$ST_VERSION')" 2>/dev/null; then
  python3 -m pip install --quiet "schemathesis==$ST_VERSION"
fi

if [ -z "${PHANANH_BIN:-}" ]; then
  cargo build --quiet --bin phananh
  PHANANH_BIN=target/debug/phananh
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

export DATABASE_URL=$DB_URL
export PHANANH_DATA_DIR=$work/data
export PHANANH_LISTEN=127.0.0.1:0
export PHANANH_LOG__FORMAT=json
export PHANANH_LOG__FILTER=warn,phananh::startup=info
# The fuzzer is one client sending thousands of writes and wrong passwords: no rate limits.
export PHANANH_HTTP__WRITES_PER_MINUTE=0
export PHANANH_AUTH__LOGIN_PER_MINUTE_PER_IP=1000000
export PHANANH_AUTH__REGISTER_PER_HOUR_PER_IP=1000000
export PHANANH_AUTH__LOCKOUT_AFTER_FAILURES=1000000
export PHANANH_AUTH__HASH_CONCURRENCY=2

"$PHANANH_BIN" migrate >/dev/null
"$PHANANH_BIN" seed >/dev/null
if [ -f ../shared/data/boundaries/don-duong-communes.geojson ]; then
  "$PHANANH_BIN" areas import ../shared/data/boundaries/don-duong-communes.geojson >/dev/null
fi
for role in staff manager admin; do
  dept=()
  [ "$role" != admin ] && dept=(--department 24943-kinh-te)
  echo "$PASSWORD" | "$PHANANH_BIN" user create --role "$role" "${dept[@]}" \
    --email "st-$role@example.vn" --full-name "Schemathesis $role" --password-stdin >/dev/null
done
ioc_key=$("$PHANANH_BIN" apikey create --name schemathesis-ioc | tail -n 1)

"$PHANANH_BIN" serve >"$work/server.log" 2>&1 &
server_pid=$!
base=
for _ in $(seq 1 300); do
  port=$(grep -o '"port":[0-9]*' "$work/server.log" | head -n 1 | cut -d: -f2) || true
  [ -n "$port" ] && base=http://127.0.0.1:$port
  [ -n "$base" ] && curl -sf --max-time 5 "$base/readyz" >/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.2
done
[ -n "$base" ] || { echo "server did not start"; cat "$work/server.log"; exit 1; }
echo "server at $base, seed $SEED, $MAX_EXAMPLES examples per operation"

curl -sf --max-time 30 -H 'Content-Type: application/json' "$base/api/v1/auth/register" \
  -d "{\"email\":\"st-citizen@example.vn\",\"password\":\"$PASSWORD\",\"full_name\":\"Schemathesis citizen\"}" >/dev/null

# Whether a run's output shows no failed check and no error but Hypothesis's own crash.
only_hypothesis_crashed() {
  local out=$1 errors crashes
  grep -q '^Failures:' "$out" && return 1
  errors=$(grep -c '^Runtime Error' "$out" || true)
  crashes=$(grep -A2 '^Runtime Error' "$out" | grep -c 'AST constructor recursion depth mismatch' || true)
  [ "$errors" -gt 0 ] && [ "$errors" = "$crashes" ] || return 1
  # The summary's "Errors:" list names no other kind of error.
  ! awk '/^Errors:/ { on = 1; next } on && /^$/ { exit } on' "$out" | grep -v 'Runtime Error' | grep -q .
}

failed=()
for role in $ROLES; do
  args=()
  export ST_ROLE=$role ST_BASE_URL=$base ST_LOGIN= ST_PASSWORD=
  case $role in
    anonymous) ;;
    # The IOC's key opens the statistics and nothing else (every other operation is tested
    # by the roles that may call it; a key on them is a plain 403).
    ioc) args=(-H "X-Api-Key: $ioc_key" --include-path-regex '^/api/v1/stats/') ;;
    citizen) ST_LOGIN=st-$role@example.vn ST_PASSWORD=$PASSWORD ;;
    # Only a citizen can be registered anew after the fuzzer deletes the account (DELETE /me,
    # tested in the citizen's run); the others would lose their account for the rest of the run.
    staff | manager | admin)
      ST_LOGIN=st-$role@example.vn ST_PASSWORD=$PASSWORD
      args=(--exclude-operation-id delete_me) ;;
    *) echo "unknown role $role"; exit 2 ;;
  esac
  start=$(date +%s)
  passed=
  for attempt in 1 2; do
    printf '\n==> schemathesis as %s (seed %s)\n' "$role" "$SEED"
    rm -rf "$work/report-$role"
    if env PYTHONPATH=scripts SCHEMATHESIS_HOOKS=schemathesis_hooks \
        python3 -m schemathesis.cli --config-file scripts/schemathesis.toml \
        run "$base/openapi.json" \
        "${args[@]}" --checks all --workers "$WORKERS" --max-examples "$MAX_EXAMPLES" \
        --seed "$SEED" --request-timeout 30 --no-color --suppress-health-check all \
        --report junit --report-dir "$work/report-$role" 2>&1 | tee "$work/out-$role"; then
      passed=1
      break
    fi
    # Hypothesis has now and then crashed inside its own code while describing a strategy
    # ("AST constructor recursion depth mismatch"): a run whose only trouble is that is run
    # once more. A failed check, or any other error (a reset connection, a timeout), never is.
    if [ "$attempt" = 1 ] && only_hypothesis_crashed "$work/out-$role"; then
      echo "schemathesis as $role: Hypothesis crashed in its own code, no failed check; once more"
      continue
    fi
    break
  done
  if [ -n "$passed" ]; then
    echo "schemathesis as $role: passed in $(($(date +%s) - start)) s"
  else
    echo "schemathesis as $role: FAILED in $(($(date +%s) - start)) s"
    failed+=("$role")
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "the server died"; tail -n 50 "$work/server.log"; exit 1
  fi
done

# Our own errors (a 500 is logged at ERROR); actix-http's notes about requests it could not even
# parse (a NUL in a header, say) are the fuzzer's doing and were answered 400.
if grep '"level":"ERROR"' "$work/server.log" | grep -qv '"target":"actix_http::' \
    || grep -q 'panicked at' "$work/server.log"; then
  echo "the server logged errors:"
  grep -E '"level":"ERROR"|panicked at' "$work/server.log" | grep -v '"target":"actix_http::' \
    | head -n 20
  failed+=(server-errors)
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "schemathesis failed for: ${failed[*]} (seed $SEED)"
  exit 1
fi
echo "schemathesis: every role passed (seed $SEED)"
