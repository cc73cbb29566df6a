#!/usr/bin/env bash
# Prints the release bundle sizes (raw and gzip) and the binary size.
# Target: wasm + js + css gzip <= 400 KB.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${SKIP_BUILD:-}" == 1 ]] || bash scripts/build-release.sh >/dev/null
pkg=target/site/pkg
total_gz=0
for f in "$pkg/dirbridge.wasm" "$pkg/dirbridge.js" "$pkg/dirbridge.css"; do
  raw=$(stat -c %s "$f")
  gz=$(gzip -9 -c "$f" | wc -c)
  total_gz=$((total_gz + gz))
  name=$(basename "$f" | tr . _)
  echo "${name}_bytes: $raw"
  echo "${name}_gzip_bytes: $gz"
done
echo "bundle_gzip_bytes: $total_gz"
echo "bundle_gzip_kb: $((total_gz / 1024))"
echo "bundle_target_kb: 400"
echo "binary_bytes: $(stat -c %s target/release/dirbridge)"
