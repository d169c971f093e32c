#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks drive for real (nginx with its Lua
# module and HAProxy as data planes Aviary drives, and as the proxy benchmark's peers, wrk as
# the load generator, prometheus for the Prometheus metric provider's
# integration test, chromium for the dashboard's browser test and screenshot, tmux for the
# real-terminal test of `aviary get --watch`, Postgres 15 for the Postgres store's tests and the
# several-instance set-up). Idempotent: does nothing when they are present.
set -euo pipefail
need=()
for pair in nginx:nginx haproxy:haproxy wrk:wrk prometheus:prometheus chromium:chromium tmux:tmux; do
  cmd=${pair%%:*} pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/usr/bin/$cmd" ] || need+=("$pkg")
done
# nginx's Lua module (with lua-resty-core) holds Aviary's state in a shared dict: no reload.
[ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] || need+=(libnginx-mod-http-lua)
# Postgres 15 by path: the tests start their own server with this version's initdb and pg_ctl.
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The nginx and haproxy packages start system instances where an init system runs; the tests
# and benchmarks run their own on loopback ports in temporary directories.
(systemctl disable --now nginx || service nginx stop || nginx -s quit) >/dev/null 2>&1 || true
(systemctl disable --now haproxy || service haproxy stop) >/dev/null 2>&1 || true
# The prometheus package starts a system instance on :9090 where an init system runs; the
# integration test runs its own on a free port with a temporary config and storage.
(systemctl disable --now prometheus || service prometheus stop) >/dev/null 2>&1 || true
# The postgresql package creates and starts a cluster (15/main on :5432) where an init system
# runs; the tests run their own servers in temporary directories on free loopback ports.
if [[ " ${need[*]} " == *" postgresql-15 "* ]]; then
  (pg_ctlcluster 15 main stop) >/dev/null 2>&1 || true
  (systemctl disable --now postgresql || service postgresql stop) >/dev/null 2>&1 || true
fi
