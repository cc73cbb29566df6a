//! How a run ends: its state and the reason, and the failures that say
//! nobody was removed; and why the engine could not start a run.

use crate::store::StoreError;
use app::model::RunState;

/// The state a run ends in, with its reason.
pub(crate) struct Outcome {
    pub(crate) state: RunState,
    pub(crate) message: Option<String>,
}

pub(crate) fn failed(message: String) -> Outcome {
    Outcome { state: RunState::Failed, message: Some(message) }
}

/// A run that failed before removing anyone.
pub(crate) fn nobody_removed(m: String) -> Outcome {
    failed(format!("{m}; nobody was removed"))
}

pub(crate) fn failed_store(e: StoreError) -> Outcome {
    failed(store_error(e))
}

pub(crate) fn store_error(e: StoreError) -> String {
    format!("store: {e}")
}

/// Why the engine did not start a run.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("a sync of repository '{0}' is already running")]
    AlreadyRunning(String),
    #[error("the set of running syncs is poisoned")]
    Poisoned,
    #[error("the run could not be recorded: {0}")]
    Store(#[from] StoreError),
    #[error("the sync thread could not start: {0}")]
    Thread(std::io::Error),
}
