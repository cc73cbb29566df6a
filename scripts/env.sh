# Sourced by the project's scripts: tool paths shared by all.
export PATH="$PWD/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# cargo-leptos builds debug with RUSTFLAGS="--cfg erase_components" (and adds
# it to whatever RUSTFLAGS holds): never export RUSTFLAGS around it. Plain
# cargo commands that should share its artifacts use $DIRBRIDGE_DEBUG_RUSTFLAGS.
unset RUSTFLAGS
export DIRBRIDGE_DEBUG_RUSTFLAGS="--cfg erase_components"
