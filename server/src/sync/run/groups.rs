//! A run's groups: their reader, writing groups with their members, and
//! removing the groups a read shows are gone.

use super::{page_size, GroupsProgress, Run, GROUP_PAGE_MAX};
use crate::ldap::paged::PageSizer;
use crate::mapping;
use crate::memory;
use crate::memory::MAX_BATCH_VALUES;
use crate::store::rows::PreparedGroup;
use crate::store::writer::blocking;
use crate::sync::decode::{Decode, GroupReader};
use crate::sync::fingerprint::{self};
use crate::sync::handover::{Item, Read};
use crate::sync::outcome::RunFailure;
use crate::sync::reader::{Reader, Search};
use app::model::GroupCounts;

impl Run<'_> {
    /// Starts reading groups (completely, or by content sync from `cookie`)
    /// on a reader thread of their own.
    pub(super) fn groups_reader(
        &mut self,
        cookie: Option<Option<Vec<u8>>>,
    ) -> Result<tokio::sync::mpsc::Receiver<Read>, crate::store::StoreError> {
        let repo = self.repo;
        let search = Search {
            pages: PageSizer::by_values(page_size(repo).min(GROUP_PAGE_MAX), MAX_BATCH_VALUES),
            base: repo.groups.groups_dn.clone().unwrap_or_default(),
            scope: ldap3::Scope::Subtree,
            filter: crate::filter::user_filter(&repo.groups.object_classes, &[], None),
            attrs: mapping::group_attributes(repo),
            cookie,
        };
        let known = blocking(|| self.db.group_source_hashes(self.tenant, &repo.id))?;
        let groups = GroupReader { repo: repo.clone(), mapping_key: fingerprint::mapping_key(repo), keep: None, known };
        Ok(Reader::spawn(repo.clone(), self.secrets.clone(), search, Decode::Groups(Box::new(groups)), None))
    }

    /// Writes what a groups reader reads, groups with their members, and
    /// removes the groups it shows are gone. Returns the new cookie.
    pub(super) async fn read_groups(
        &mut self,
        mut rx: tokio::sync::mpsc::Receiver<Read>,
        content_sync: bool,
    ) -> Result<Option<Vec<u8>>, RunFailure> {
        let mut groups = GroupsProgress::default();
        let end = loop {
            let waited = std::time::Instant::now();
            let read = rx.recv().await;
            self.timings.groups_read += waited.elapsed();
            let (items, written) = match read {
                None | Some(Read::TooMany) | Some(Read::Separately(_)) => {
                    break Err("the directory reader stopped unexpectedly".to_string())
                }
                Some(Read::End(end)) => break end,
                Some(Read::Items(items, held)) => (items, held),
            };
            for item in items {
                self.take_group_item(item, &mut groups)?;
            }
            let members: usize = groups.batch.iter().map(|g| g.members.len()).sum();
            self.write_groups(&mut groups.batch, &mut groups.counts).await?;
            drop(written);
            memory::after_batch(members);
        };
        let (new_cookie, refresh_deletes) = end.map_err(RunFailure::Directory)?;
        let complete = !content_sync || groups.present_phase || !refresh_deletes;
        self.finish_groups(groups, complete).await?;
        Ok(new_cookie)
    }

    /// Takes one item of a groups' read: queues a group for writing, marks
    /// the UUIDs seen or reported gone.
    pub(super) fn take_group_item(&mut self, item: Item, groups: &mut GroupsProgress) -> Result<(), RunFailure> {
        match item {
            Item::Group(Ok(g)) => groups.batch.push(g),
            Item::Group(Err(e)) => self.error(e.dn, e.reason),
            Item::Unchanged(uuid) => {
                groups.counts.seen += 1;
                groups.counts.unchanged += 1;
                blocking(|| self.db.mark_groups(std::slice::from_ref(&uuid), false))?;
            }
            Item::Malformed(reason) => self.error(String::new(), reason),
            Item::User(_) | Item::UnchangedAt(_) | Item::NotUser(_) => {}
            Item::Present(uuids) => {
                groups.present_phase = true;
                groups.counts.seen += uuids.len() as u64;
                groups.counts.unchanged += uuids.len() as u64;
                blocking(|| self.db.mark_groups(&uuids, false))?;
            }
            Item::Deleted(uuids) => {
                groups.gone = true;
                blocking(|| self.db.mark_groups(&uuids, true))?;
            }
            Item::NotGroup(uuid) => return self.take_group_item(Item::Deleted(vec![uuid]), groups),
        }
        Ok(())
    }

    /// Commits a groups' read and removes the groups it shows are gone: after
    /// a `complete` read those it did not return, otherwise those reported
    /// deleted.
    pub(super) async fn finish_groups(&mut self, groups: GroupsProgress, complete: bool) -> Result<(), RunFailure> {
        let (repo, mut counts) = (self.repo, groups.counts);
        blocking(|| self.db.commit())?;
        if complete && counts.seen > 0 {
            counts.deleted = blocking(|| self.db.remove_groups(self.tenant, &repo.id, false))?;
        } else if groups.gone {
            counts.deleted = blocking(|| self.db.remove_groups(self.tenant, &repo.id, true))?;
        }
        self.group_counts = Some(counts);
        Ok(())
    }

    pub(super) async fn write_groups(
        &mut self,
        batch: &mut Vec<PreparedGroup>,
        counts: &mut GroupCounts,
    ) -> Result<(), RunFailure> {
        if batch.is_empty() {
            return Ok(());
        }
        blocking(|| self.db.write_groups(self.tenant, &self.repo.id, batch, &self.started, counts))?;
        batch.clear();
        Ok(())
    }
}
