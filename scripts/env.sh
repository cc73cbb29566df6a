# Sourced by the project's scripts: tool paths and build flags shared by all.
export PATH="$PWD/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# cargo-leptos builds debug with this cfg; use it everywhere so `cargo test`,
# `cargo clippy` and `cargo leptos build` share compiled dependencies.
export RUSTFLAGS="--cfg erase_components"
