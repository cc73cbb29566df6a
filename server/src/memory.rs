//! The sync's memory policy, in one place: when what a run freed goes back
//! to the system (after a heavy batch, after a phase, after a run) and how
//! heavy a batch may get. Built on the allocator's `return_free_memory`.

use crate::allocator::return_free_memory;

/// Attribute values per batch at most: big entries (a group with 200,000
/// members) go in batches of their own.
pub const MAX_BATCH_VALUES: usize = 50_000;

/// After a batch of `values` attribute values was handed over or written:
/// a heavy one (a huge group's message, tree and entry, or its member rows)
/// is given back at once, so one huge group is in memory at a time.
pub fn after_batch(values: usize) {
    if values >= MAX_BATCH_VALUES {
        return_free_memory();
    }
}

/// After a run's users, before its groups: what the users' read left free.
pub fn after_phase(seen: u64) {
    unless_small(seen);
}

/// After a run that saw `seen` entries, once its writer is closed.
pub fn after_run(seen: u64) {
    unless_small(seen);
}

/// Gives free memory back to the system after a run (or its users) that
/// saw `seen` entries, unless that is below [`SMALL_RUN_ENTRIES`].
fn unless_small(seen: u64) {
    if seen >= SMALL_RUN_ENTRIES {
        return_free_memory();
    }
}

/// A run that sees fewer entries keeps what it freed for the next one
/// instead of giving it back to the system: what it holds is small, and
/// giving it back made the next run fault it in again (~6 ms of a 1,000-
/// change sync at 100,000 users, a tenth of it). Bigger runs give back
/// their page cache and batches, so the memory of a full sync does not
/// stay with an idle server.
const SMALL_RUN_ENTRIES: u64 = 10_000;
