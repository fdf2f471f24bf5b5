#!/usr/bin/env bash
# tansu: the Kafka-compatible broker the Kafka sink's end-to-end tests run against.
#
#   scripts/tansu.sh install              install tansu (cargo install, from source) if missing
#   scripts/tansu.sh path                 print the tansu binary's path (exit 1 if missing)
#   scripts/tansu.sh start PORT [LOGFILE] start a broker on 127.0.0.1:PORT with in-memory
#                                         storage, in the background; prints its pid once
#                                         the port accepts connections
#   scripts/tansu.sh stop PID             stop a broker started by `start`
#
# Storage is `memory://`: a restarted broker starts with no topics and no records.
# TANSU_VERSION pins the version installed (default below); the install builds from
# crates.io with the `dynostore` feature (needed for memory:// storage): ~824 crates,
# an unoptimised (--debug) build of about 6 minutes on an idle 2-core machine. Once
# installed (in $CARGO_HOME/bin) it is reused.
set -euo pipefail

TANSU_VERSION="${TANSU_VERSION:-0.6.0}"

tansu_path() {
  if command -v tansu >/dev/null 2>&1; then
    command -v tansu
  elif [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/tansu" ]; then
    echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu"
  else
    return 1
  fi
}

cmd="${1:-}"
case "$cmd" in
  install)
    if p="$(tansu_path)" && "$p" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
      echo "tansu: $("$p" --version) already installed at $p"
      exit 0
    fi
    echo "tansu: installing $TANSU_VERSION (cargo install --debug, dynostore feature)"
    start=$(date +%s)
    # --debug: the broker only serves a few hundred test records, and an unoptimised
    # build of its ~800 crates takes a fraction of the release build's time, which
    # keeps a fresh CI run within its budget.
    cargo install tansu --version "$TANSU_VERSION" --features dynostore --locked --debug
    echo "tansu: installed in $(( $(date +%s) - start ))s"
    ;;
  path)
    tansu_path
    ;;
  start)
    port="${2:?usage: tansu.sh start PORT [LOGFILE]}"
    log="${3:-/dev/null}"
    bin="$(tansu_path)" || { echo "tansu: not installed (run scripts/tansu.sh install)" >&2; exit 1; }
    url="tcp://127.0.0.1:${port}"
    "$bin" broker \
      --listener-url "$url" \
      --advertised-listener-url "$url" \
      --storage-engine "memory://tansu/" \
      >"$log" 2>&1 </dev/null &
    pid=$!
    for _ in $(seq 1 150); do
      if ! kill -0 "$pid" 2>/dev/null; then
        echo "tansu: broker exited at start (log: $log)" >&2
        exit 1
      fi
      if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
        echo "$pid"
        exit 0
      fi
      sleep 0.2
    done
    kill "$pid" 2>/dev/null || true
    echo "tansu: broker did not listen on 127.0.0.1:${port} within 30s (log: $log)" >&2
    exit 1
    ;;
  stop)
    pid="${2:?usage: tansu.sh stop PID}"
    kill "$pid" 2>/dev/null || exit 0
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || exit 0
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    ;;
  *)
    echo "usage: scripts/tansu.sh install|path|start PORT [LOGFILE]|stop PID" >&2
    exit 2
    ;;
esac
