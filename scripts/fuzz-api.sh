#!/usr/bin/env bash
# Property-based fuzzing of the HTTP API from its own OpenAPI document (schemathesis, from PyPI,
# in its own venv under ~/.cache), on a throwaway cluster: a temporary folder, a free port, a
# fresh database with the demo tenant, deleted at the end. It never touches .pgdata/ or a
# server you run yourself: fuzzing renames companies, disables users and erases patients.
#
# Runs every schemathesis phase (the documented examples, coverage, fuzzing, and the stateful
# phase that follows the document's response links from a created patient to its
# prescriptions and from a prescription to an order), as the demo admin, the demo ECP and the
# platform operator. Fails when any request gets a 5xx or the server dies. Then prints coverage
# from the server's own metrics: for each documented operation, how many requests got 2xx,
# 4xx and 5xx answers. scripts/fuzz_hooks.py makes half the generated prescriptions orderable,
# so that the stateful phase reaches lens orders.
#
#   ILS_FUZZ_EXAMPLES   examples per operation and phase (default 40)
#   ILS_FUZZ_SECONDS    time budget per identity: fuzzing and the stateful phase repeat until
#                       it is spent (default 60)
#   ILS_FUZZ_KEEP=1     keep the throwaway folder (logs, the schemathesis report)
# Not part of `make test`: it installs a Python tool and takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
EXAMPLES="${ILS_FUZZ_EXAMPLES:-40}"
SECONDS_EACH="${ILS_FUZZ_SECONDS:-60}"
venv="${HOME}/.cache/ils-fuzz-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "fuzz-api: installing schemathesis into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'schemathesis>=4.1,<5'
fi
st="$venv/bin/schemathesis"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tmp="$(mktemp -d /tmp/ils-fuzz.XXXXXX)"
chmod 755 "$tmp"
pg_port="$(free_port)"
api_port="$(free_port)"
BASE="http://127.0.0.1:$api_port"
METRICS_TOKEN="$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"

cleanup() {
  status=$?
  [ -n "${server_pid:-}" ] && kill -- "-$server_pid" 2>/dev/null || true
  sleep 1
  PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [ -f "$tmp/run/data/PG_VERSION" ]; then
    if [ "$(id -u)" -eq 0 ]; then
      runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$tmp/run/data" -m immediate stop >/dev/null 2>&1 || true
    else
      "$PG_BIN/pg_ctl" -D "$tmp/run/data" -m immediate stop >/dev/null 2>&1 || true
    fi
  fi
  if [ "${ILS_FUZZ_KEEP:-0}" = 1 ] || [ "$status" -ne 0 ]; then
    echo "fuzz-api: logs kept in $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT

echo "fuzz-api: starting a throwaway ILS Central in $tmp (database port $pg_port, API $BASE)"
# Budgets large enough that the rate limit never answers for the fuzzer; everything else is
# the configuration `make central` uses.
ILS_RUN_DIR="$tmp/run" ILS_PG_PORT="$pg_port" ILS_LISTEN="127.0.0.1:$api_port" ILS_LOG__FORMAT=json \
  ILS_RATE_LIMITS__API_PER_MINUTE__PRO=10000000 ILS_RATE_LIMITS__API_PER_MINUTE__ENTERPRISE=10000000 \
  ILS_HTTP__METRICS_TOKEN="$METRICS_TOKEN" \
  setsid scripts/run.sh >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
  curl -sf "$BASE/api/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "fuzz-api: the server did not start:" >&2; tail -20 "$tmp/server.log" >&2; exit 1; }
  sleep 0.5
done
curl -sf "$BASE/api/health" >/dev/null || { echo "fuzz-api: the server did not answer" >&2; exit 1; }
# shellcheck disable=SC1091
source "$tmp/run/credentials"

token() {
  curl -sf -X POST "$BASE/api/auth/login" -H 'content-type: application/json' \
    -d "{\"domain\":\"$1\",\"email\":\"$2\",\"password\":\"$3\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

failed=0
for who in "demo.ils.local ecp@demo.ils.local $DEMO_ECP_PASSWORD" \
           "demo.ils.local admin@demo.ils.local $DEMO_ADMIN_PASSWORD" \
           "platform.ils.local operator@platform.ils.local $PLATFORM_PASSWORD"; do
  # shellcheck disable=SC2086
  set -- $who
  echo "fuzz-api: as $2"
  # Sign-in and password routes are left out (they would lock or change the very accounts the
  # run signs in with), and so is key rotation; everything else, erasure included, is fuzzed.
  # Tokens last 15 minutes: each identity signs in afresh.
  SCHEMATHESIS_HOOKS=fuzz_hooks PYTHONPATH="$root/scripts" "$st" run "$BASE/api/openapi.json" \
    -H "Authorization: Bearer $(token "$1" "$2" "$3")" \
    --checks not_a_server_error --max-examples "$EXAMPLES" --max-time "$SECONDS_EACH" --no-color \
    --exclude-path-regex '(/api/auth/|password|signing-keys)' \
    --report junit --report-dir "$tmp/report-$2" \
    >"$tmp/schemathesis-$2.log" 2>&1 || failed=1
  tail -n 25 "$tmp/schemathesis-$2.log"
  kill -0 "$server_pid" 2>/dev/null || { echo "fuzz-api: the server died" >&2; exit 1; }
done

echo
echo "fuzz-api: coverage, from the server's metrics (requests by documented operation and answer)"
curl -sf "$BASE/metrics" -H "Authorization: Bearer $METRICS_TOKEN" >"$tmp/metrics.txt"
"${CARGO_TARGET_DIR:-$root/target}/debug/ils-server" openapi >"$tmp/openapi.json"
python3 "$root/scripts/fuzz_coverage.py" "$tmp/openapi.json" "$tmp/metrics.txt"
[ "$failed" -eq 0 ] || { echo "fuzz-api: schemathesis found failures (logs in $tmp)" >&2; exit 1; }
