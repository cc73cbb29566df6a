// The site (wasm, js, css) is embedded into the release binary: rebuild when
// cargo-leptos writes a new one.
fn main() {
    println!("cargo:rerun-if-changed=../target/site");
    println!("cargo:rerun-if-changed=migrations");
}
