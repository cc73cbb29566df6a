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

/// Why a run failed or was stopped, by cause. Its text is the run's message.
#[derive(Debug, thiserror::Error)]
pub enum RunFailure {
    /// The directory: a read that failed or was cut off (what it said).
    #[error("{0}")]
    Directory(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A safety rule stopped the run before it removed anyone (why).
    #[error("{0}")]
    Aborted(String),
    /// Any of these, met before the run removed anyone.
    #[error("{0}; nobody was removed")]
    NobodyRemoved(Box<RunFailure>),
}

impl From<RunFailure> for Outcome {
    fn from(failure: RunFailure) -> Outcome {
        let state = if matches!(failure, RunFailure::Aborted(_)) { RunState::Aborted } else { RunState::Failed };
        Outcome { state, message: Some(failure.to_string()) }
    }
}

/// A run that failed before removing anyone.
pub(crate) fn nobody_removed(failure: RunFailure) -> Outcome {
    RunFailure::NobodyRemoved(Box::new(failure)).into()
}

/// A directory read that failed before the run removed anyone.
pub(crate) fn read_failed(message: String) -> Outcome {
    nobody_removed(RunFailure::Directory(message))
}

pub(crate) fn failed_store(e: StoreError) -> Outcome {
    RunFailure::Store(e).into()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_ends_a_run_with_its_cause_in_the_message() {
        let cut_off = read_failed("the directory stopped answering mid-run: timeout".into());
        assert_eq!(cut_off.state, RunState::Failed);
        assert_eq!(
            cut_off.message.as_deref(),
            Some("the directory stopped answering mid-run: timeout; nobody was removed")
        );
        let store = nobody_removed(StoreError::NotFound.into());
        assert_eq!(
            store.message.as_deref(),
            Some(format!("store: {}; nobody was removed", StoreError::NotFound)).as_deref()
        );
        let guard = Outcome::from(RunFailure::Aborted("would remove 40% of the users".into()));
        assert_eq!((guard.state, guard.message.as_deref()), (RunState::Aborted, Some("would remove 40% of the users")));
        assert_eq!(failed_store(StoreError::NotFound).state, RunState::Failed);
    }
}
