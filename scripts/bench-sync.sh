#!/usr/bin/env bash
# Sync benchmark (prints `key: value` lines; no pass/fail): a fresh private
# slapd with N users (default 100000) and 1000 groups, the ldapsearch baseline
# and dirbridge's full sync, no-op re-sync and sync after a 1% change.
#   bash scripts/bench-sync.sh [--users N] [--groups N] [--page-size N] [--live-heap]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release -p server --example bench_sync >&2
exec target/release/examples/bench_sync "$@"
