//! Sync runs: requests, counts, progress, the wire enums of a run's state,
//! method and changes, and when schedules fire next.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncMode {
    #[default]
    Full,
    Changed,
}

/// Body of `POST .../sync`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRequest {
    #[serde(default)]
    pub mode: SyncMode,
    /// Removes users even when more than `maxDeletePercent` would go (this run only).
    #[serde(default)]
    pub force: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncCounts {
    pub seen: u64,
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub disabled: u64,
    pub deleted: u64,
    pub failed: u64,
    /// Entries not stored because the repository's import is off
    /// (`sync.importEnabled` false): only users already stored are kept up.
    #[serde(default)]
    pub not_imported: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncProgress {
    pub done: u64,
    pub total: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncError {
    pub dn: String,
    pub message: String,
}

wire_enum! {
    /// Where a sync run stands.
    RunState {
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        /// Stopped by a safety rule (the max-delete guard) before removing anyone.
        Aborted = "aborted",
    }
}

wire_enum! {
    /// How a run read the directory.
    RunMethod {
        /// Not chosen yet (the run is connecting).
        Pending = "pending",
        /// A complete paged enumeration.
        Paged = "paged",
        /// RFC 4533 content synchronisation.
        Syncrepl = "syncrepl",
        /// Entries changed since the last run, by modifyTimestamp.
        Timestamps = "timestamps",
    }
}

wire_enum! {
    /// What a run did to a user.
    ChangeKind {
        Added = "added",
        Updated = "updated",
        Disabled = "disabled",
        Deleted = "deleted",
    }
}

/// One user a run added, changed or removed, with the attributes that changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncChange {
    pub username: String,
    pub ldap_dn: String,
    pub kind: ChangeKind,
    pub attributes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRun {
    pub id: String,
    pub repository_id: String,
    pub mode: SyncMode,
    /// How the directory was read.
    pub method: RunMethod,
    pub state: RunState,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub counts: SyncCounts,
    pub progress: SyncProgress,
    /// Why a run failed or was aborted.
    pub message: Option<String>,
    pub errors: Vec<SyncError>,
    pub changes: Vec<SyncChange>,
    /// The groups part of the run (absent when the repository maps no groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_counts: Option<GroupCounts>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCounts {
    pub seen: u64,
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
}

/// When each schedule of a repository fires next (RFC 3339, UTC).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextRuns {
    pub full: Option<String>,
    pub changed: Option<String>,
}
