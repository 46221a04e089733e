#!/usr/bin/env bash
# `make central`: runs ILS Central on a local PostgreSQL (kept in .pgdata/ between runs) with a demo tenant.
# First run: creates the cluster, the roles, the database, migrates, bootstraps the platform
# operator and seeds the demo tenant with generated passwords (saved in .pgdata/credentials,
# readable by you only). Later runs reuse all of it. Ctrl-C stops the server and the database.
# ILS_RUN_DIR puts all of it in another folder (scripts/fuzz-api.sh runs on a throwaway one).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
PORT="${ILS_PG_PORT:-54329}"
LISTEN="${ILS_LISTEN:-127.0.0.1:8080}"
run_dir="${ILS_RUN_DIR:-$root/.pgdata}"
data="$run_dir/data"
sock="$run_dir/sock"
creds="$run_dir/credentials"

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

mkdir -p "$run_dir" "$sock"
if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$run_dir" "$sock"; fi
if [ ! -f "$data/PG_VERSION" ]; then
  echo "run: creating the local PostgreSQL cluster in $run_dir"
  as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
fi
if ! as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$run_dir/server.log" -w \
    -o "-p $PORT -k $sock -c listen_addresses=127.0.0.1" start >/dev/null
fi
stop_db() { as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true; }
trap stop_db EXIT

admin="postgres://postgres@127.0.0.1:$PORT"
psql_admin() { psql -q -v ON_ERROR_STOP=1 "$admin/postgres" "$@"; }
psql_admin -c "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ils_app') THEN CREATE ROLE ils_app NOLOGIN NOBYPASSRLS; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ils_service') THEN
    CREATE ROLE ils_service LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT IN ROLE ils_app;
  END IF; END \$\$;"
if ! psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'ils'" | grep -q 1; then
  psql_admin -c "CREATE DATABASE ils"
fi

echo "run: building ils-server"
# Built as the tests build (the whole workspace, so that features resolve the same way): right
# after `make test` this only links the binaries instead of recompiling most crates.
cargo build -q --locked --workspace --bins
bin="${CARGO_TARGET_DIR:-$root/target}/debug/ils-server"

export ILS_DATABASE__URL="postgres://ils_service@127.0.0.1:$PORT/ils"
export ILS_DATABASE__MIGRATE_URL="$admin/ils"
export ILS_LISTEN="$LISTEN"
export ILS_LOG__FORMAT="${ILS_LOG__FORMAT:-pretty}"
"$bin" migrate

if [ ! -f "$creds" ]; then
  gen() { head -c 18 /dev/urandom | base64 | tr '+/' '-_'; }
  umask 077
  cat > "$creds" <<CREDS
PLATFORM_PASSWORD=$(gen)
DEMO_ADMIN_PASSWORD=$(gen)
DEMO_ECP_PASSWORD=$(gen)
CREDS
fi
# The key that seals the token-signing keys in the database: kept beside the demo's passwords,
# outside the database (a cluster made before it existed gets one now).
if ! grep -q '^KEY_ENCRYPTION_KEY=' "$creds"; then
  (umask 077; echo "KEY_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')" >> "$creds")
fi
# shellcheck disable=SC1090
source "$creds"
export ILS_AUTH__KEY_ENCRYPTION_KEY="$KEY_ENCRYPTION_KEY"
ILS_BOOTSTRAP_PASSWORD="$PLATFORM_PASSWORD" "$bin" bootstrap --domain platform.ils.local --email operator@platform.ils.local
ILS_DEMO_ADMIN_PASSWORD="$DEMO_ADMIN_PASSWORD" ILS_DEMO_ECP_PASSWORD="$DEMO_ECP_PASSWORD" "$bin" seed-demo --domain demo.ils.local

cat <<INFO

ILS Central is starting on http://$LISTEN   (Ctrl-C stops it and the database)

Sign in (POST /api/auth/login with JSON {domain, email, password}):
  demo practice admin : demo.ils.local      admin@demo.ils.local          $DEMO_ADMIN_PASSWORD
  demo practice ECP   : demo.ils.local      ecp@demo.ils.local            $DEMO_ECP_PASSWORD
  platform operator   : platform.ils.local  operator@platform.ils.local   $PLATFORM_PASSWORD
(these are also in $creds)

Try:
  curl -s http://$LISTEN/api/health
  TOKEN=\$(curl -s -X POST http://$LISTEN/api/auth/login -H 'content-type: application/json' \\
    -d '{"domain":"demo.ils.local","email":"admin@demo.ils.local","password":"$DEMO_ADMIN_PASSWORD"}' | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')
  curl -s http://$LISTEN/api/users -H "authorization: Bearer \$TOKEN"
  API description: http://$LISTEN/api/openapi.json

INFO
"$bin" serve
