#!/usr/bin/env bash
# Installs and runs a real Prometheus Alertmanager for fluxsight's end-to-end tests.
#
# Usage:
#   scripts/alertmanager.sh install
#       Installs the Debian package `prometheus-alertmanager` unless `alertmanager` is
#       already on PATH. Needs root (or passwordless sudo). Runs `apt-get update` once,
#       then `apt-get install -y prometheus-alertmanager` with a temporary
#       /usr/sbin/policy-rc.d that forbids starting services: the packaged system
#       service is never started; tests run their own instances.
#   scripts/alertmanager.sh start CONFIG PORT [STORAGE_DIR]
#       Runs (in the foreground, exec) `alertmanager` with CONFIG, listening on
#       127.0.0.1:PORT only, storage in STORAGE_DIR (default: a new temp dir) and
#       clustering disabled (`--cluster.listen-address=`). Stop it with SIGTERM.
#   scripts/alertmanager.sh version
#       Prints the installed version.
#
# Environment: ALERTMANAGER_BIN overrides the binary (default: `alertmanager` on PATH,
# else /usr/bin/prometheus-alertmanager, the Debian binary name).
set -euo pipefail

find_bin() {
  if [ -n "${ALERTMANAGER_BIN:-}" ]; then echo "$ALERTMANAGER_BIN"; return 0; fi
  if command -v alertmanager >/dev/null 2>&1; then command -v alertmanager; return 0; fi
  if [ -x /usr/bin/prometheus-alertmanager ]; then echo /usr/bin/prometheus-alertmanager; return 0; fi
  return 1
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else
    echo "alertmanager.sh: need root to install prometheus-alertmanager" >&2; return 1; fi
}

install_am() {
  if bin=$(find_bin); then
    echo "alertmanager already installed: $bin"
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "alertmanager.sh: apt-get not found; install Prometheus Alertmanager and put 'alertmanager' on PATH" >&2
    return 1
  fi
  # Forbid service starts during the install (invoke-rc.d honours policy-rc.d; exit 101 =
  # action forbidden). Only if no policy exists already; removed afterwards.
  local policy=/usr/sbin/policy-rc.d created=""
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    created=1
  fi
  local rc=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
  if [ "$rc" = 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      prometheus-alertmanager || rc=$?
  fi
  if [ -n "$created" ]; then as_root rm -f "$policy"; fi
  if [ "$rc" != 0 ]; then
    echo "alertmanager.sh: installing prometheus-alertmanager failed (exit $rc)" >&2
    return "$rc"
  fi
  # The Debian binary is /usr/bin/prometheus-alertmanager; offer the upstream name too.
  if ! command -v alertmanager >/dev/null 2>&1 && [ -x /usr/bin/prometheus-alertmanager ]; then
    as_root ln -sf /usr/bin/prometheus-alertmanager /usr/local/bin/alertmanager
  fi
  find_bin >/dev/null
  echo "installed: $("$(find_bin)" --version 2>&1 | head -1)"
}

start_am() {
  local config=${1:?usage: alertmanager.sh start CONFIG PORT [STORAGE_DIR]}
  local port=${2:?usage: alertmanager.sh start CONFIG PORT [STORAGE_DIR]}
  local storage=${3:-$(mktemp -d -t fluxsight-am.XXXXXX)}
  local bin
  bin=$(find_bin) || { echo "alertmanager.sh: alertmanager not installed (run: $0 install)" >&2; exit 1; }
  exec "$bin" \
    --config.file="$config" \
    --web.listen-address="127.0.0.1:$port" \
    --storage.path="$storage" \
    --cluster.listen-address= \
    --log.level=info
}

case "${1:-}" in
  install) install_am ;;
  start) shift; start_am "$@" ;;
  version) "$(find_bin)" --version 2>&1 | head -1 ;;
  *) sed -n '2,19p' "$0" >&2; exit 2 ;;
esac
