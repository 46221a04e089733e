#!/usr/bin/env bash
# ILS Central beyond one process (crates/ils-server/benches/scale.rs): the clinic mix against
# one replica, one replica with Redis, and three replicas with Redis, directly and behind
# nginx, then one and three replicas on Citus (make setup-citus). nginx is only needed here, so
# it is installed here (Debian's package), not by setup.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -x /usr/sbin/nginx ] && ! command -v nginx >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "bench-scale: installing nginx (the load balancer of the three-replica setup)"
  $SUDO apt-get update -qq
  # A policy-rc.d keeps the package from starting the distribution's nginx on port 80 (one
  # already there, as in containers, is left as it is).
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx-light \
    || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx
  [ -z "$made_policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi
cargo bench --locked -p ils-server --bench scale
