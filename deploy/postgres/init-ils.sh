#!/usr/bin/env bash
# ILS Central's roles, database and extension, made once on an empty cluster.
#
# The postgres image runs this from /docker-entrypoint-initdb.d on the first start of an empty
# data directory (never again); on any other PostgreSQL 15+ with pgvector, run it once as the
# administrator with PGHOST/PGUSER/PGPASSWORD set (`POSTGRES_USER` names that administrator).
# It is idempotent: a second run changes nothing but the two passwords.
#
# The roles are the ones the migrations expect (migrations/postgres/20261128000001_core.sql) and
# `make central` makes (scripts/run.sh):
#   ils_app      NOLOGIN NOBYPASSRLS: holds the grants the migrations give the service;
#   ils_service  the service's login (ILS_DATABASE__URL): a member of ils_app, owns nothing,
#                no BYPASSRLS, so row-level security applies to every query it makes;
# and the owner the migrations run as (ILS_DATABASE__MIGRATE_URL), which `make central` plays
# with the superuser itself:
#   ils_owner    owns the database and every object the migrations create, and has BYPASSRLS
#                (the migrations' SECURITY DEFINER functions read across tenants as their owner);
#                not a superuser, so the superuser's password stays out of the service's setup.
# pgvector is not a trusted extension, so only a superuser may create it: it is created here,
# and the migrations' own `CREATE EXTENSION IF NOT EXISTS vector` then finds it in place.
#
# Passwords come from the environment (ILS_OWNER_DB_PASSWORD, ILS_SERVICE_DB_PASSWORD), never
# from this file. Use URL-safe ones (e.g. `openssl rand -hex 24`): they go into connection URLs.
set -euo pipefail

: "${ILS_OWNER_DB_PASSWORD:?set ILS_OWNER_DB_PASSWORD (the migrator ils_owner's password)}"
: "${ILS_SERVICE_DB_PASSWORD:?set ILS_SERVICE_DB_PASSWORD (the service ils_service's password)}"
database="${ILS_DB_NAME:-ils}"
admin="${POSTGRES_USER:-postgres}"

psql -v ON_ERROR_STOP=1 --quiet --no-psqlrc --username "$admin" --dbname postgres \
  -v db="$database" \
  -v owner_password="$ILS_OWNER_DB_PASSWORD" \
  -v service_password="$ILS_SERVICE_DB_PASSWORD" <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ils_app') THEN CREATE ROLE ils_app NOLOGIN NOBYPASSRLS; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ils_service') THEN
    CREATE ROLE ils_service LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT IN ROLE ils_app;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ils_owner') THEN
    CREATE ROLE ils_owner LOGIN NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END $$;
ALTER ROLE ils_service PASSWORD :'service_password';
ALTER ROLE ils_owner PASSWORD :'owner_password';
SELECT format('CREATE DATABASE %I OWNER ils_owner', :'db')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
\connect :db
CREATE EXTENSION IF NOT EXISTS vector;
SQL
echo "init-ils: roles ils_app, ils_service, ils_owner and database $database with pgvector are ready"
