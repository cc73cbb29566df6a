#!/usr/bin/env bash
# Release build: size-optimised wasm (profile wasm-release), precompressed
# assets, and one `dirbridge` binary with the site embedded.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo leptos build --release --precompress
# The server may have been compiled before the site was complete on a first
# build; build.rs watches target/site, so this second pass only re-embeds.
cargo leptos build --release --precompress
cargo build --release -p devdir
ls -l target/release/dirbridge
