#!/usr/bin/env bash
# Login benchmark (prints `key: value` lines; no pass/fail): a fresh private
# slapd with N users (default 10000); the raw search + bind baseline and
# logins through dirbridge's HTTP endpoint, 32 clients for 30 s each.
#   bash scripts/bench-login.sh [--users N] [--clients C] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release -p server --example bench_login >&2
exec target/release/examples/bench_login "$@"
