#!/usr/bin/env bash
# What the tests need besides the Rust toolchain: python3 (stdlib only) for the
# Kubernetes API emulator of tests/kube_e2e.rs.
set -euo pipefail
if ! command -v python3 >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq python3
fi
python3 -c 'import http.server, json, threading' 
