#!/usr/bin/env bash
# Installs and runs a real Prometheus Alertmanager for fluxsight's end-to-end tests.
#
# Usage:
#   scripts/alertmanager.sh install
#       Makes a Prometheus Alertmanager available WITHOUT root: unless one is already
#       there (ALERTMANAGER_BIN, `alertmanager` on PATH, the Debian binary
#       /usr/bin/prometheus-alertmanager, or the project-local copy), it downloads the
#       Debian package `prometheus-alertmanager` with `apt-get download` (package lists
#       kept in .tools/apt, no system state touched) and unpacks it with `dpkg-deb -x`
#       into .tools/alertmanager. Nothing is installed system-wide, no service starts.
#       Needs network access to the Debian mirror and apt-get/dpkg-deb (any Debian or
#       Ubuntu machine).
#   scripts/alertmanager.sh start CONFIG PORT [STORAGE_DIR]
#       Runs (in the foreground, exec) `alertmanager` with CONFIG, listening on
#       127.0.0.1:PORT only, storage in STORAGE_DIR (default: a new temp dir) and
#       clustering disabled (`--cluster.listen-address=`). Stop it with SIGTERM.
#   scripts/alertmanager.sh version
#       Prints the installed version.
#
# Environment: ALERTMANAGER_BIN overrides the binary (default: `alertmanager` on PATH,
# else /usr/bin/prometheus-alertmanager, the Debian binary name, else the project-local
# .tools/alertmanager/usr/bin/prometheus-alertmanager).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOCAL_DIR="$ROOT/.tools/alertmanager"
LOCAL_BIN="$LOCAL_DIR/usr/bin/prometheus-alertmanager"
APT_DIR="$ROOT/.tools/apt"

find_bin() {
  if [ -n "${ALERTMANAGER_BIN:-}" ]; then echo "$ALERTMANAGER_BIN"; return 0; fi
  if command -v alertmanager >/dev/null 2>&1; then command -v alertmanager; return 0; fi
  if [ -x /usr/bin/prometheus-alertmanager ]; then echo /usr/bin/prometheus-alertmanager; return 0; fi
  if [ -x "$LOCAL_BIN" ]; then echo "$LOCAL_BIN"; return 0; fi
  return 1
}

# apt-get with package lists and cache under .tools/apt: works as any user.
local_apt() {
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
  apt-get -qq -o Dir::State::Lists="$APT_DIR/lists" -o Dir::Cache="$APT_DIR/cache" \
    -o Debug::NoLocking=1 "$@"
}

# Debian's build reads its default notification template from a fixed path
# (/usr/share/prometheus/alertmanager/default.tmpl) and exits without it: the
# project-local copy puts the package's templates there when that is writable (root, as
# CI runs), else says what to run.
ensure_templates() {
  local tmpl=/usr/share/prometheus/alertmanager
  [ -f "$tmpl/default.tmpl" ] && return 0
  if mkdir -p "$tmpl" 2>/dev/null && cp "$LOCAL_DIR$tmpl"/*.tmpl "$tmpl"/ 2>/dev/null; then
    echo "alertmanager: templates copied to $tmpl"
  else
    echo "alertmanager.sh: $tmpl/default.tmpl is missing and not writable; run once as root: mkdir -p $tmpl && cp $LOCAL_DIR$tmpl/*.tmpl $tmpl/" >&2
    return 1
  fi
}

install_am() {
  if bin=$(find_bin); then
    echo "alertmanager already installed: $bin"
    if [ "$bin" = "$LOCAL_BIN" ]; then ensure_templates || return 1; fi
    return 0
  fi
  for tool in apt-get dpkg-deb; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "alertmanager.sh: $tool not found; install Prometheus Alertmanager yourself and set ALERTMANAGER_BIN" >&2
      return 1
    fi
  done
  echo "alertmanager: downloading the Debian package prometheus-alertmanager into $LOCAL_DIR (no root needed)"
  local work
  work=$(mktemp -d -t fluxsight-am-deb.XXXXXX)
  # The system's package lists are used when present; else fetch our own.
  if ! (cd "$work" && apt-get -qq download prometheus-alertmanager) 2>/dev/null; then
    local_apt update
    (cd "$work" && local_apt download prometheus-alertmanager)
  fi
  local deb
  deb=$(ls "$work"/prometheus-alertmanager_*.deb)
  rm -rf "$LOCAL_DIR"
  mkdir -p "$LOCAL_DIR"
  dpkg-deb -x "$deb" "$LOCAL_DIR"
  rm -rf "$work"
  [ -x "$LOCAL_BIN" ] || { echo "alertmanager.sh: $deb holds no $LOCAL_BIN" >&2; return 1; }
  ensure_templates || return 1
  echo "installed: $("$LOCAL_BIN" --version 2>&1 | head -1) at $LOCAL_BIN"
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
