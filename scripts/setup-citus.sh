#!/usr/bin/env bash
# Installs Citus (the distributed PostgreSQL ILS Central can run on) into the distribution's
# PostgreSQL, idempotently. Only the Citus test target and bench need it; `make test` runs on
# plain PostgreSQL.
#
# 1. Already installed (citus.control in PostgreSQL's extension folder): nothing to do.
# 2. A Citus package the configured apt sources offer (Citus's own repository,
#    packagecloud.io/citusdata, names them postgresql-<major>-citus-<version>): installed.
# 3. Otherwise built from a source tarball: CITUS_SOURCE names it (CI points it at
#    ../shared/vendor/citus/citus-13.2.2.tar.gz, the default when that file exists), checked
#    against CITUS_SHA256 when set; every `*.patch` beside the tarball that applies is applied
#    (the vendored one fixes a clash with PostgreSQL 15.20's headers). About 5 minutes on 2 cores.
#
# Citus 13.2 is the last line for PostgreSQL 15; Citus 14 needs PostgreSQL 16 or later.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=setup-common.sh
. "$(cd "$(dirname "$0")" && pwd)/setup-common.sh" setup-citus

PG_MAJOR="${PG_MAJOR:-$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)}"
[ -n "$PG_MAJOR" ] || { echo "setup-citus: no PostgreSQL installed; run scripts/setup-system.sh first" >&2; exit 1; }
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
[ -x "$PG_CONFIG" ] || PG_CONFIG="$(command -v pg_config || true)"
[ -n "$PG_CONFIG" ] || { echo "setup-citus: pg_config not found; install postgresql-server-dev-${PG_MAJOR}" >&2; exit 1; }
sharedir="$("$PG_CONFIG" --sharedir)"

if [ -f "$sharedir/extension/citus.control" ]; then
  log "Citus already installed ($(grep default_version "$sharedir/extension/citus.control" | tr -d "' "))"
  exit 0
fi

package="$(apt-cache pkgnames "postgresql-${PG_MAJOR}-citus-" 2>/dev/null | sort -V | tail -1 || true)"
if [ -n "$package" ]; then
  log "installing $package (Citus's own package)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$package"
  exit 0
fi

vendored="../shared/vendor/citus/citus-13.2.2.tar.gz"
source_tarball="${CITUS_SOURCE:-}"
if [ -z "$source_tarball" ] && [ -f "$vendored" ]; then source_tarball="$vendored"; fi
if [ -z "$source_tarball" ] || [ ! -f "$source_tarball" ]; then
  echo "setup-citus: no Citus package in the apt sources and no source tarball:" \
       "set CITUS_SOURCE to a Citus release's .tar.gz (13.2.x for PostgreSQL 15)" >&2
  exit 1
fi
source_tarball="$(realpath "$source_tarball")"
if [ -n "${CITUS_SHA256:-}" ]; then
  echo "${CITUS_SHA256}  ${source_tarball}" | sha256sum -c --quiet - \
    || { echo "setup-citus: $source_tarball does not match CITUS_SHA256" >&2; exit 1; }
fi

need=()
for p in build-essential "postgresql-server-dev-${PG_MAJOR}" liblz4-dev libzstd-dev libkrb5-dev \
         libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev libssl-dev; do
  installed "$p" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing the build's packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log "building Citus from $source_tarball"
tar -xzf "$source_tarball" -C "$work"
src="$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -1)"
for fix in "$(dirname "$source_tarball")"/*.patch; do
  [ -f "$fix" ] || continue
  if (cd "$src" && patch -p1 --dry-run -s <"$fix" >/dev/null 2>&1); then
    log "applying $(basename "$fix")"
    (cd "$src" && patch -p1 -s <"$fix")
  else
    log "skipping $(basename "$fix") (does not apply to this source)"
  fi
done
(
  cd "$src"
  ./configure --quiet --without-libcurl PG_CONFIG="$PG_CONFIG" >/dev/null
  make -s -j"$(nproc)" >/dev/null
  $SUDO make -s install >/dev/null
)
log "Citus installed ($(grep default_version "$sharedir/extension/citus.control" | tr -d "' "))"
