//! A run's users: reading them (paged or by content sync), counting and
//! writing each batch, and removing those the directory no longer has,
//! within the max-delete guard.

use super::{replay_limit, users_search, Run, UsersProgress, UsersRead};
use crate::store::rows::Removal;
use crate::store::sync::MAX_SAMPLES;
use crate::store::writer::blocking;
use crate::sync::handover::{Item, Read};
use crate::sync::outcome::{failed_store, nobody_removed, read_failed, Outcome, RunFailure};
use crate::sync::plan::{self};
use crate::sync::reader::Reader;
use app::model::DeletionPolicyKind;

impl Run<'_> {
    /// Reads users (paged, or by content sync from `cookie`), writes them and
    /// removes the ones the directory no longer has: after a `complete` read
    /// those it did not return, after a content sync those it reported gone.
    /// Returns the new cookie.
    pub(super) async fn read_users(
        &mut self,
        filter: &str,
        cookie: Option<Option<Vec<u8>>>,
        complete: bool,
    ) -> Result<UsersRead, Outcome> {
        let repo = self.repo;
        let content_sync = cookie.is_some();
        let search = users_search(repo, filter, cookie);
        let mut read = UsersProgress::default();
        let limit = content_sync.then(|| replay_limit(self.stored_users));
        // Nothing to recognise in an import, nor in a content sync (the
        // server sends only entries that changed). Only a complete read
        // follows the stored order.
        // The reader started ahead serves this read if it reads the same.
        let ahead =
            self.users_ahead.take().filter(|a| !a.joint && matches!(&search.cookie, Some(Some(c)) if *c == a.from));
        let mut rx = match ahead {
            Some(ahead) => ahead.rx,
            None => {
                let known = if self.import || content_sync {
                    None
                } else {
                    Some(self.store.known_users(self.tenant, &repo.id, complete).map_err(failed_store)?)
                };
                Reader::users(repo, &self.secrets, search, known, limit)
            }
        };
        let end = loop {
            let Some(batch) = self.next_batch(&mut rx).await else {
                break Err("the directory reader stopped unexpectedly".to_string());
            };
            let (items, written) = match batch {
                Read::Items(items, held) => (items, held),
                Read::End(end) => break end,
                Read::TooMany | Read::Separately(_) => {
                    // What was replayed is written; the caller reads everything.
                    self.keep_what_was_read().await?;
                    return Ok(UsersRead::TooManyChanges);
                }
            };
            for item in items {
                self.take_user_item(item, &mut read).map_err(nobody_removed)?;
            }
            self.flush().await.map_err(nobody_removed)?;
            drop(written);
        };
        let (new_cookie, refresh_deletes) = end.map_err(read_failed)?;
        if self.groups_in_full && self.groups_ahead.is_none() {
            // The users' reader and its memory are gone: nothing huge is held
            // beside the groups' first batches.
            self.groups_ahead = Some(self.groups_reader(None).map_err(failed_store)?);
        }
        blocking(|| self.db.commit()).map_err(|e| nobody_removed(e.into()))?;

        let which = if !content_sync {
            complete.then_some(Removal::Unseen)
        } else if refresh_deletes && !read.present_phase {
            (read.gone > 0).then_some(Removal::Gone)
        } else if read.present_phase || self.counts.seen > 0 {
            // A present phase (e.g. a cookie too old for the server's session
            // log): whatever was not reported is gone.
            Some(Removal::Unseen)
        } else {
            None
        };
        self.remove_missing_users(which).await?;
        Ok(UsersRead::Done(new_cookie))
    }

    /// The reader's next batch, its wait counted as read time; None when the
    /// reader is gone.
    pub(super) async fn next_batch(&mut self, rx: &mut tokio::sync::mpsc::Receiver<Read>) -> Option<Read> {
        let waited = std::time::Instant::now();
        let batch = rx.recv().await;
        self.timings.read += waited.elapsed();
        batch
    }

    /// Writes and commits what an abandoned read handed over (the read that
    /// follows replays it).
    pub(super) async fn keep_what_was_read(&mut self) -> Result<(), Outcome> {
        self.flush().await.map_err(nobody_removed)?;
        blocking(|| self.db.commit()).map_err(|e| nobody_removed(e.into()))
    }

    /// Takes one item of a users' read: counts it, queues a user for the
    /// next [`Run::flush`], marks the UUIDs reported present or gone.
    pub(super) fn take_user_item(&mut self, item: Item, read: &mut UsersProgress) -> Result<(), RunFailure> {
        match item {
            Item::User(user) => self.batch.push(*user),
            Item::Unchanged(uuid) => self.unchanged.push(uuid),
            Item::UnchangedAt(seq) => {
                self.counts.seen += 1;
                self.counts.unchanged += 1;
                self.seen_places.insert(seq);
            }
            Item::Malformed(reason) => {
                // Its UUID is unknown: removal of unseen users is skipped.
                self.counts.seen += 1;
                self.counts.failed += 1;
                self.unidentified += 1;
                self.error(String::new(), reason);
            }
            Item::Group(_) | Item::NotGroup(_) => {}
            Item::Present(uuids) => {
                read.present_phase = true;
                self.counts.seen += uuids.len() as u64;
                self.counts.unchanged += uuids.len() as u64;
                blocking(|| self.db.mark_seen(&uuids))?;
            }
            Item::Deleted(uuids) => {
                read.gone += uuids.len() as u64;
                blocking(|| self.db.mark_gone(&uuids))?;
            }
            Item::NotUser(uuid) => return self.take_user_item(Item::Deleted(vec![uuid]), read),
        }
        Ok(())
    }

    /// Removes the users `which` names (none when None), unless nobody may
    /// be: an import, or unidentified entries in a read that removes the
    /// unseen.
    pub(super) async fn remove_missing_users(&mut self, which: Option<Removal>) -> Result<(), Outcome> {
        let Some(which) = which.filter(|_| !self.import) else { return Ok(()) };
        if which == Removal::Unseen && self.unidentified > 0 {
            return Ok(());
        }
        let removal_started = std::time::Instant::now();
        self.remove_users(which).await?;
        self.timings.removal = removal_started.elapsed();
        Ok(())
    }

    /// Disables or deletes users per the repository's policy, within the
    /// max-delete guard.
    pub(super) async fn remove_users(&mut self, which: Removal) -> Result<(), Outcome> {
        let force = self.force;
        let repo = self.repo;
        let delete = repo.sync.deletion.policy == DeletionPolicyKind::Delete;
        let store_err = failed_store;
        let missing = blocking(|| self.db.find_removable(self.tenant, &repo.id, which, !delete, &self.seen_places))
            .map_err(store_err)?;
        // Content sync reports deletions explicitly, so an otherwise empty
        // answer is not suspicious there; the percentage guard still applies.
        let seen = if which == Removal::Gone { self.counts.seen.max(1) } else { self.counts.seen };
        plan::removal_allowed(missing.stored, missing.to_remove, seen, repo.sync.deletion.max_delete_percent, force)
            .map_err(|reason| Outcome::from(RunFailure::Aborted(reason)))?;
        if missing.to_remove == 0 {
            return Ok(());
        }
        let want = MAX_SAMPLES.saturating_sub(self.changes.len());
        let (n, removed) = blocking(|| self.db.remove_users(self.tenant, &repo.id, which, delete, &self.started, want))
            .map_err(store_err)?;
        if delete {
            self.counts.deleted += n;
        } else {
            self.counts.disabled += n;
        }
        self.changes.extend(removed);
        Ok(())
    }

    /// Counts and writes the pending batch (mapped on the reader).
    pub(super) async fn flush(&mut self) -> Result<(), RunFailure> {
        if self.batch.is_empty() && self.unchanged.is_empty() {
            // Users found unchanged by their place were counted: show them.
            let store_started = std::time::Instant::now();
            self.record_progress()?;
            self.timings.store += store_started.elapsed();
            return Ok(());
        }
        let repo = self.repo;
        let collect_started = std::time::Instant::now();
        let mut prepared = Vec::with_capacity(self.batch.len());
        let mut seen = std::mem::take(&mut self.unchanged);
        self.counts.seen += seen.len() as u64;
        self.counts.unchanged += seen.len() as u64;
        for user in std::mem::take(&mut self.batch) {
            self.counts.seen += 1;
            let (dn, uuid) = match &user.result {
                Ok(p) => (&p.ldap_dn, Some(&p.ldap_uuid)),
                Err(unmapped) => (&unmapped.dn, unmapped.uuid.as_ref()),
            };
            for attribute in &user.non_utf8 {
                self.error(
                    dn.clone(),
                    format!("{attribute} has a value that is not UTF-8 text; it was stored base64-encoded"),
                );
            }
            match uuid {
                // An import removes nobody: it needs no seen-set.
                Some(uuid) if !self.import => seen.push(uuid.clone()),
                Some(_) => {}
                None => self.unidentified += 1,
            }
            match user.result {
                Ok(p) => prepared.push(p),
                Err(unmapped) => {
                    self.counts.failed += 1;
                    self.error(unmapped.dn, unmapped.reason);
                }
            }
        }
        let store_started = std::time::Instant::now();
        self.timings.collect += store_started - collect_started;
        // Only a read that removes the unseen needs the seen-set; a joint
        // read never does (a present set sends the run back to separate reads).
        if !self.import && !self.reading_jointly {
            blocking(|| self.db.mark_seen(&seen))?;
        }
        let want = MAX_SAMPLES.saturating_sub(self.changes.len());
        let import = self.import;
        let outcome = blocking(|| self.db.write_batch(self.tenant, &repo.id, &prepared, &self.started, want, import))?;
        self.counts.added += outcome.added;
        self.counts.updated += outcome.updated;
        self.counts.unchanged += outcome.unchanged;
        self.counts.not_imported += outcome.not_imported;
        self.counts.failed += outcome.refused.len() as u64;
        self.changes.extend(outcome.changes);
        for refused in outcome.refused {
            self.error(refused.dn, refused.message);
        }
        self.record_progress()?;
        self.timings.store += store_started.elapsed();
        Ok(())
    }

    /// Progress is committed with the users it counts, about once a second.
    pub(super) fn record_progress(&mut self) -> Result<(), RunFailure> {
        let counts = serde_json::to_string(&self.counts).unwrap_or_default();
        blocking(|| self.db.commit_if_due(self.run_id, &counts, self.counts.seen))?;
        Ok(())
    }
}
