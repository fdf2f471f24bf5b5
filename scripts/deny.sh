#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (policy: deny.toml, explained in SECURITY.md).
#
# licenses, bans, sources: always (they need only Cargo.lock and the crates.io index).
# advisories: needs the RustSec advisory database, a git repository on github.com. When
# github.com answers, the database is fetched and checked; when it does not but a copy
# fetched earlier is on disk, that copy is used (and said to be possibly stale); when
# neither, the check is skipped and says so loudly. It never passes silently.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-deny >/dev/null 2>&1; then
    echo "deny.sh: installing cargo-deny (once per machine, several minutes)"
    cargo install cargo-deny --locked
fi

echo "== cargo deny check licenses bans sources"
cargo deny --locked check licenses bans sources

db_root="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if timeout 20 git ls-remote --exit-code https://github.com/RustSec/advisory-db HEAD >/dev/null 2>&1; then
    echo "== cargo deny check advisories"
    cargo deny --locked check advisories
elif compgen -G "$db_root/advisory-db-*/crates" >/dev/null; then
    echo "== cargo deny check advisories (OFFLINE: local database copy, may be stale)"
    cargo deny --offline check advisories
else
    echo "== cargo deny check advisories: SKIPPED, the RustSec advisory database" \
        "(github.com/RustSec/advisory-db) is unreachable from this machine and no local copy exists"
fi
