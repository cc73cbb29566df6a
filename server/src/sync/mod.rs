//! The sync engine: full and changed synchronisation of a repository's users
//! and groups into the store. One run per repository at a time; a run that
//! does not read the directory completely never removes anyone.
//!
//! The engine (`engine`) starts a run on a thread of its own, the writer; a
//! reader thread per read (`reader`, entries decoded by `decode`) hands it
//! batches (`handover`) and follows referrals (`referred`); the run (`run`) writes users, groups or both, and
//! decides from pure rules (`plan`, `cookies`, `joint`, `fingerprint`).

mod cookies;
mod decode;
mod engine;
pub mod fingerprint;
mod handover;
mod joint;
pub mod outcome;
pub mod plan;
mod reader;
mod referred;
mod run;

pub use engine::SyncEngine;
pub use outcome::StartError;
