#!/usr/bin/env bash
# Property-based fuzzing of the HTTP API from its own OpenAPI document (schemathesis, from PyPI),
# against a server started with `make run`, as the demo admin, the demo ECP and the platform
# operator. Fails when any generated request gets a 5xx. Not part of `make test` (it installs a
# Python tool and needs the running server).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${ILS_BASE:-http://127.0.0.1:8080}"
EXAMPLES="${ILS_FUZZ_EXAMPLES:-40}"
command -v schemathesis >/dev/null 2>&1 || python3 -m pip install -q schemathesis
[ -f .pgdata/credentials ] || { echo "fuzz-api: start the server with 'make run' first" >&2; exit 1; }
# shellcheck disable=SC1091
source .pgdata/credentials
token() {
  curl -sf -X POST "$BASE/api/auth/login" -H 'content-type: application/json' \
    -d "{\"domain\":\"$1\",\"email\":\"$2\",\"password\":\"$3\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
for who in "demo.ils.local admin@demo.ils.local $DEMO_ADMIN_PASSWORD" \
           "demo.ils.local ecp@demo.ils.local $DEMO_ECP_PASSWORD" \
           "platform.ils.local operator@platform.ils.local $PLATFORM_PASSWORD"; do
  # shellcheck disable=SC2086
  set -- $who
  echo "fuzz-api: as $2"
  # Sign-in, password and erasure routes are left out: fuzzing them would lock or erase the
  # very accounts and data the run needs.
  schemathesis run "$BASE/api/openapi.json" -H "Authorization: Bearer $(token "$1" "$2" "$3")" \
    --checks not_a_server_error -n "$EXAMPLES" --no-color \
    --exclude-path-regex '(/api/auth/|password|erasure|signing-keys)'
done
