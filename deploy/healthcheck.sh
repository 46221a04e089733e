#!/bin/bash
# The image's HEALTHCHECK: GET /api/health on this container's own listener, 0 when it answers
# 200 (PostgreSQL answers), 1 otherwise. It speaks HTTP/1.0 through bash's /dev/tcp, so the
# image needs no curl or wget. Orchestrators that probe over HTTP themselves (Kubernetes,
# Railway, the load balancer) do not use it.
#
# The port is ILS_LISTEN's (default 0.0.0.0:8080); the check connects to 127.0.0.1, which a
# listener on 0.0.0.0 or [::] (dual-stack on Linux) also accepts.
set -eu
listen="${ILS_LISTEN:-0.0.0.0:8080}"
port="${listen##*:}"
exec 3<>"/dev/tcp/127.0.0.1/${port}"
printf 'GET /api/health HTTP/1.0\r\nHost: localhost\r\nUser-Agent: ils-healthcheck\r\n\r\n' >&3
IFS=' ' read -r -t 5 _version status _reason <&3
[ "$status" = "200" ]
