#!/usr/bin/env bash
# Install the system programs the dashboard and its tests run: redis-server, PostgreSQL 15
# binaries (the test suite's second database), Chromium (browser tests) and promtool (package
# prometheus: the metrics test checks /metrics with it) and nginx (the cluster lane's load balancer),
# from Debian's packages.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium fonts-liberation)
command -v node >/dev/null || missing+=(nodejs npm)
command -v promtool >/dev/null || missing+=(prometheus)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Faltam pacotes do sistema: ${missing[*]}. Instale-os (sudo apt-get install ${missing[*]}) e rode de novo." >&2
  exit 1
fi
echo "Instalando pacotes do sistema: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a system redis-server, PostgreSQL, Prometheus and nginx on install; the dashboard needs none of them.
(systemctl disable --now redis-server postgresql prometheus nginx >/dev/null 2>&1 \
  || { service redis-server stop; service prometheus stop; service nginx stop; } >/dev/null 2>&1 || true)
