#!/usr/bin/env bash
# Installs everything dirbridge needs to build, run its demo and run its tests on a
# fresh Debian machine (as root). Idempotent: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10        # 0.3.11 needs rustc 1.96
WASM_BINDGEN_VERSION=0.2.130       # must equal the `=` pin in Cargo.toml
BINARYEN_NPM_VERSION=132           # Debian's binaryen 108 breaks hydration

log() { printf '[install] %s\n' "$*" >&2; }
export PATH="$HOME/.cargo/bin:$PATH"

# --- Debian packages ---------------------------------------------------------
# samba-ad-dc + samba-ad-provision: the Samba AD DC of the Active Directory tests.
apt_pkgs=(slapd ldap-utils chromium openssl ca-certificates curl samba-ad-dc samba-ad-provision)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt: installing ${missing[*]}"
  # No system slapd instance: tests and the demo run private ones.
  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packages may still start default instances; we never use them (the
  # tests run private ones, and Samba's LDAP port must stay free).
  for s in slapd samba-ad-dc smbd nmbd winbind; do (service "$s" stop >/dev/null 2>&1 || true); done
else
  log "apt: all present"
fi

# --- Rust targets and tools ----------------------------------------------------
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup: adding wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# The tools' own release profiles use fat LTO and one codegen unit (~20 min
# for cargo-leptos alone on 2 cores). Cargo's configuration environment
# overrides the manifests' profiles for these installs only. cargo-leptos only
# starts cargo and copies files: unoptimised serves. wasm-bindgen rewrites the
# whole wasm bundle on every build: lightly optimised.
tool_profile=(
  CARGO_PROFILE_RELEASE_LTO=off
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
  CARGO_PROFILE_RELEASE_DEBUG=false
  CARGO_PROFILE_RELEASE_INCREMENTAL=false
)

if [[ "$(cargo leptos --version 2>/dev/null || true)" != *"$CARGO_LEPTOS_VERSION"* ]]; then
  log "cargo-leptos $CARGO_LEPTOS_VERSION: building"
  env "${tool_profile[@]}" CARGO_PROFILE_RELEASE_OPT_LEVEL=0 cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION"
fi

if [[ "$(wasm-bindgen --version 2>/dev/null || true)" != *"$WASM_BINDGEN_VERSION"* ]]; then
  log "wasm-bindgen-cli $WASM_BINDGEN_VERSION: building"
  # --locked fails (a locked crate is missing from the index); fall back to
  # versions compatible with this rustc instead.
  env "${tool_profile[@]}" CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback \
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# --- npm: wasm-opt and the end-to-end test runner --------------------------------
mkdir -p .tools
if [[ ! -x .tools/node_modules/.bin/wasm-opt ]] || \
   ! grep -q "\"version\": \"$BINARYEN_NPM_VERSION" .tools/node_modules/binaryen/package.json 2>/dev/null; then
  log "npm: binaryen@$BINARYEN_NPM_VERSION"
  (cd .tools && npm install --no-audit --no-fund --silent "binaryen@$BINARYEN_NPM_VERSION" >/dev/null)
fi
if [[ ! -d end2end/node_modules/@playwright/test ]]; then
  log "npm: end2end dependencies"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi
log "done"
