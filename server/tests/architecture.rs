//! The layers of `server/src` hold: each module imports only from its own
//! layer or below, the named forbidden imports never appear, and the sync
//! engine's rooms point one way. Read from the source itself (production
//! code only: test modules may reach anywhere), so a new import that breaks
//! a rule fails here. See docs/architecture.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top-level modules of the crate, bottom layer first. A module may import
/// from its own layer or any layer below it, never above.
const LAYERS: &[&[&str]] = &[
    // Pure rules and process settings: no I/O, no directory, no store.
    &[
        "allocator",
        "audit",
        "auth",
        "clock",
        "config",
        "crypto",
        "cron",
        "dn",
        "entry",
        "filter",
        "ldap_url",
        "mapping",
        "memory",
        "metrics",
        "referral",
        "throttle",
        "validate",
    ],
    // I/O: the directory and the store (neither imports the other).
    &["ldap", "store"],
    // The sync engine and when schedules fire.
    &["sync", "schedule"],
    // The application service (implements the console's port).
    &["service"],
    // What drives the service: HTTP and the scheduler loop.
    &["http", "scheduler"],
];

/// Imports forbidden even where the layers would allow them.
const FORBIDDEN: &[(&str, &str)] = &[
    ("ldap", "store"),
    ("store", "ldap"),
    ("ldap", "mapping"),
    ("ldap", "validate"),
    ("mapping", "store"),
    ("mapping", "ldap"),
    ("validate", "ldap"),
    ("sync", "schedule"),
    ("schedule", "sync"),
    ("http", "scheduler"),
    ("scheduler", "http"),
];

/// The sync engine's own rooms, bottom first: the pure rules, what a run
/// ends in, the hand-over, decoding, the reader, the run, the engine.
const SYNC_ROOMS: &[&[&str]] = &[
    &["plan", "cookies", "joint", "fingerprint"],
    &["outcome"],
    &["handover", "referred"],
    &["decode"],
    &["reader"],
    &["run"],
    &["engine"],
];

fn layer_of(layers: &[&[&str]], module: &str) -> Option<usize> {
    layers.iter().position(|layer| layer.contains(&module))
}

/// A source file's production code: without its test module (by this
/// project's convention the last item of a file) and without comments.
fn production_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let is_module = |next: &&str| {
            let next = next.trim_start();
            ["mod ", "pub mod ", "pub(crate) mod "].iter().any(|start| next.starts_with(start))
        };
        if line.trim() == "#[cfg(test)]" && lines.peek().is_some_and(is_module) {
            if lines.peek().is_some_and(|next| next.trim_end().ends_with(';')) {
                lines.next();
                continue;
            }
            break;
        }
        let code = line.split("//").next().unwrap_or_default();
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The names that follow `prefix` in `code` (`crate::` gives the modules
/// named as `crate::<module>`), in order, each once.
fn names_after(code: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let after = &rest[at + prefix.len()..];
        let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() && !found.contains(&name) {
            found.push(name);
        }
        rest = after;
    }
    found
}

/// The modules `code` names as `crate::<module>`, `use crate::{a, b::c}` lists included.
fn crate_imports(code: &str) -> Vec<String> {
    let mut found = names_after(code, "crate::");
    let mut rest = code;
    while let Some(at) = rest.find("crate::{") {
        let after = &rest[at + "crate::{".len()..];
        let list = after.split('}').next().unwrap_or_default();
        for item in list.split(',') {
            let name: String = item.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && !found.contains(&name) {
                found.push(name);
            }
        }
        rest = after;
    }
    found
}

/// (top-level module, sync room if inside `sync/`) of a file under `src/`.
fn place_of(relative: &Path) -> (String, Option<String>) {
    let parts: Vec<String> =
        relative.with_extension("").components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let top = parts.first().cloned().unwrap_or_default();
    let room = (top == "sync" && parts.len() > 1 && parts[1] != "mod").then(|| parts[1].clone());
    (top, room)
}

/// Every rule `files` (path under `src/`, text) break.
fn violations(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, text) in files {
        let (module, room) = place_of(path);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = layer_of(LAYERS, &module) else {
            out.push(format!("{}: module '{module}' has no layer in tests/architecture.rs", path.display()));
            continue;
        };
        let code = production_code(text);
        for import in crate_imports(&code) {
            if import == module {
                if let (Some(room), "sync") = (&room, module.as_str()) {
                    // Inside the engine: rooms point down too.
                    for used in names_after(&code, "crate::sync::") {
                        if let (Some(from), Some(to)) = (layer_of(SYNC_ROOMS, room), layer_of(SYNC_ROOMS, &used)) {
                            if to > from {
                                out.push(format!(
                                    "{}: sync::{room} imports sync::{used}, a room above it",
                                    path.display()
                                ));
                            }
                        }
                    }
                }
                continue;
            }
            match layer_of(LAYERS, &import) {
                Some(theirs) if theirs > own => {
                    out.push(format!("{}: {module} imports {import}, a layer above it", path.display()))
                }
                None => out.push(format!("{}: {module} imports crate::{import}, which has no layer", path.display())),
                _ => {}
            }
            if FORBIDDEN.contains(&(module.as_str(), import.as_str())) {
                out.push(format!("{}: {module} must never import {import}", path.display()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read src").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") && path.file_name().is_some_and(|n| n != "tests.rs") {
            let text = std::fs::read_to_string(&path).expect("read source");
            out.push((path.strip_prefix(root).expect("under src").to_path_buf(), text));
        }
    }
}

#[test]
fn the_layers_hold_in_the_server_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    assert!(files.len() > 40, "found only {} source files under {}", files.len(), root.display());
    let modules: BTreeMap<String, usize> = files.iter().map(|(p, _)| (place_of(p).0, 0)).collect();
    for layer in LAYERS {
        for module in *layer {
            assert!(modules.contains_key(*module), "tests/architecture.rs names '{module}', which is gone");
        }
    }
    let broken = violations(&files);
    assert!(broken.is_empty(), "layering rules broken:\n{}", broken.join("\n"));
}

#[test]
fn a_forbidden_or_upward_import_is_found() {
    let file = |path: &str, text: &str| (PathBuf::from(path), text.to_string());
    let files = [
        file("mapping.rs", "use crate::store::rows::PreparedGroup;\n"),
        file("ldap/entry.rs", "use crate::{entry::Entry, mapping::map_user};\n"),
        file("sync/reader.rs", "fn f() { crate::http::router(); }\n"),
        file("sync/handover.rs", "use crate::sync::run::Run;\n"),
        file("store/rows.rs", "// crate::service is only named in a comment\n#[cfg(test)]\npub(crate) mod tests {\n    use crate::service::Service;\n}\n"),
        file("nowhere.rs", "fn f() {}\n"),
    ];
    let broken = violations(&files);
    let expect = [
        "ldap/entry.rs: ldap must never import mapping",
        "mapping.rs: mapping imports store, a layer above it",
        "mapping.rs: mapping must never import store",
        "nowhere.rs: module 'nowhere' has no layer in tests/architecture.rs",
        "sync/handover.rs: sync::handover imports sync::run, a room above it",
        "sync/reader.rs: sync imports http, a layer above it",
    ];
    assert_eq!(broken, expect);
}
