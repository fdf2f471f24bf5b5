#!/usr/bin/env bash
# What the tests need besides the Rust toolchain:
# - python3 (stdlib only) for the Kubernetes API emulator of tests/kube_e2e.rs;
# - Debian's chromium for tests/report.rs, which renders the post-mortem report
#   headless (DOM, console, screenshot, dark mode). Without it that test fails.
set -euo pipefail
missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-test-deps.sh: installing ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
fi
python3 -c 'import http.server, json, threading'
chromium --version
