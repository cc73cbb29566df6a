//! What the reader hands the run: batches of decoded items, bounded by the
//! attribute values in flight (back-pressure however large groups get), and
//! how the read ended.

use crate::mapping;
use crate::memory::MAX_BATCH_VALUES;
use crate::store::rows::PreparedGroup;
use crate::store::rows::PreparedUser;
use std::sync::Arc;

/// The reader's end of the channel to the writer.
pub(crate) struct Handover {
    pub(crate) tx: tokio::sync::mpsc::Sender<Read>,
    /// Attribute values handed over and not yet written (see
    /// [`MAX_VALUES_IN_FLIGHT`]).
    pub(crate) in_flight: Arc<tokio::sync::Semaphore>,
}

impl Handover {
    /// Hands a batch of `weight` attribute values over, once the values in
    /// flight leave room for it; false when the writer is gone.
    pub(crate) async fn items(&self, items: Vec<Item>, weight: usize) -> bool {
        if items.is_empty() {
            return !self.tx.is_closed();
        }
        let permits = u32::try_from(weight.min(MAX_VALUES_IN_FLIGHT)).unwrap_or(u32::MAX);
        // The semaphore is never closed: acquiring only waits.
        let held = self.in_flight.clone().acquire_many_owned(permits).await.ok();
        self.tx.send(Read::Items(items, held)).await.is_ok()
    }

    pub(crate) async fn end(&self, end: Result<(Option<Vec<u8>>, bool), String>) {
        let _ = self.tx.send(Read::End(end)).await;
    }

    /// Hands over what was read, then `read` (the search was abandoned).
    pub(crate) async fn stop(&self, items: Vec<Item>, weight: usize, read: Read) {
        if self.items(items, weight).await {
            let _ = self.tx.send(read).await;
        }
    }

    /// Hands over what was read, then why the read failed.
    pub(crate) async fn fail(&self, items: Vec<Item>, weight: usize, message: String) {
        if self.items(items, weight).await {
            self.end(Err(message)).await;
        }
    }
}

/// What the reader task hands the writer.
pub(crate) enum Read {
    /// Items, with their share of the values in flight: the writer drops it
    /// once they are written.
    Items(Vec<Item>, Option<tokio::sync::OwnedSemaphorePermit>),
    /// A content sync replayed more changed entries than the limit: the
    /// search was abandoned (see [`replay_limit`]).
    TooMany,
    /// A joint read met an entry it cannot tell apart (why): the search was
    /// abandoned, users and groups are to be read apart.
    Separately(String),
    /// The read is over: Sync Done (cookie, refreshDeletes), or why it failed.
    End(Result<(Option<Vec<u8>>, bool), String>),
}

/// One read item, decoded (and for users mapped) on the reader task.
pub(crate) enum Item {
    /// A group entry mapped on the reader (the entry itself is dropped
    /// there: only one representation of a large group travels), or why it
    /// could not be.
    Group(Result<PreparedGroup, mapping::MappingError>),
    User(Box<MappedUser>),
    /// A user entry whose fingerprint matches the stored one (its UUID).
    Unchanged(String),
    /// The same, when the stored user's place in read order is known (see
    /// [`SeenPlaces`]).
    UnchangedAt(i64),
    /// An entry that could not be decoded (why).
    Malformed(String),
    Present(Vec<String>),
    Deleted(Vec<String>),
    /// In a joint read (see [`joint`]): an entry that is not a user (any
    /// more), by UUID; what a users' refresh reports as deleted.
    NotUser(String),
    /// The same for groups.
    NotGroup(String),
}

/// Entries per batch of a content sync.
pub(crate) const CHANGES_BATCH: usize = 200;

/// Attribute values handed to the writer and not yet written, at most (a
/// bigger batch takes all of it): with the channel's two batches, this bounds
/// the memory between reader and writer however large groups get; a huge
/// group is mapped while the one before it is written, never queued behind it.
pub(crate) const MAX_VALUES_IN_FLIGHT: usize = 2 * MAX_BATCH_VALUES;

impl Item {
    /// Roughly how much memory the item holds, in attribute values.
    pub(crate) fn weight(&self) -> usize {
        match self {
            Item::Group(Ok(g)) => 1 + g.members.len(),
            Item::Group(Err(_)) => 1,
            Item::User(_) => 16,
            Item::Unchanged(_) | Item::UnchangedAt(_) | Item::Malformed(_) | Item::NotUser(_) | Item::NotGroup(_) => 1,
            Item::Present(u) | Item::Deleted(u) => u.len() / 16,
        }
    }
}

/// A user entry mapped and serialised on the reader task, so mapping
/// overlaps with writing.
pub(crate) struct MappedUser {
    /// The user (its DN and UUID are the prepared row's: no second copy
    /// travels, nor is freed on the writer's thread), or why the entry cannot
    /// be one.
    pub(crate) result: Result<PreparedUser, Unmapped>,
    /// Attributes whose values are not UTF-8 text.
    pub(crate) non_utf8: Vec<String>,
}

/// An entry that cannot be a user.
pub(crate) struct Unmapped {
    pub(crate) dn: String,
    /// The entry's UUID, if it has one: it still counts as seen (a mapping
    /// problem must never turn into a deletion).
    pub(crate) uuid: Option<String>,
    pub(crate) reason: String,
}
