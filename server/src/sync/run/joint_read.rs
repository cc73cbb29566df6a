//! A run's joint read: users and groups in one content sync (see
//! `sync::joint`), falling back to reading them apart.

use super::{replay_limit, GroupsProgress, JointEnd, Run, UsersProgress};
use crate::memory;
use crate::store::rows::Removal;
use crate::store::writer::blocking;
use crate::sync::handover::{Item, Read};
use crate::sync::joint;
use crate::sync::outcome::Outcome;
use crate::sync::outcome::{nobody_removed, read_failed};
use crate::sync::reader::{Reader, Search};

impl Run<'_> {
    /// Reads users and groups in one content sync from `cookie` (see
    /// [`joint`]), writes them and removes those it reports gone. An answer
    /// that is not a replay of changes (a present phase) or an entry it
    /// cannot tell apart sends the run back to reading them apart (what was
    /// written stays: the separate reads replay it from the same cookies).
    pub(super) async fn read_joint(&mut self, search: Search, split: joint::JointRead) -> Result<JointEnd, Outcome> {
        let repo = self.repo;
        let ahead =
            self.users_ahead.take().filter(|a| a.joint && matches!(&search.cookie, Some(Some(c)) if *c == a.from));
        let mut rx = match ahead {
            Some(ahead) => ahead.rx,
            None => Reader::joint(repo, &self.secrets, search, split, replay_limit(self.stored_users)),
        };
        let mut users = UsersProgress::default();
        let mut groups = GroupsProgress::default();
        let mut received = false;
        let end = loop {
            let Some(batch) = self.next_batch(&mut rx).await else {
                break Err("the directory reader stopped unexpectedly".to_string());
            };
            let (items, written) = match batch {
                Read::Items(items, held) => (items, held),
                Read::End(end) => break end,
                abandoned @ (Read::TooMany | Read::Separately(_)) => {
                    self.keep_what_was_read().await?;
                    return Ok(match abandoned {
                        Read::Separately(why) => JointEnd::Separately(why),
                        _ => JointEnd::TooManyChanges,
                    });
                }
            };
            received = true;
            let (mut not_users, mut not_groups) = (Vec::new(), Vec::new());
            for item in items {
                match item {
                    // Not applied: the run reads apart instead (below).
                    Item::Present(_) => users.present_phase = true,
                    Item::NotUser(uuid) => not_users.push(uuid),
                    Item::NotGroup(uuid) => not_groups.push(uuid),
                    Item::Group(_) => self.take_group_item(item, &mut groups).map_err(nobody_removed)?,
                    Item::Deleted(uuids) => {
                        self.take_group_item(Item::Deleted(uuids.clone()), &mut groups).map_err(nobody_removed)?;
                        self.take_user_item(Item::Deleted(uuids), &mut users).map_err(nobody_removed)?;
                    }
                    other => self.take_user_item(other, &mut users).map_err(nobody_removed)?,
                }
            }
            if !not_users.is_empty() {
                self.take_user_item(Item::Deleted(not_users), &mut users).map_err(nobody_removed)?;
            }
            if !not_groups.is_empty() {
                self.take_group_item(Item::Deleted(not_groups), &mut groups).map_err(nobody_removed)?;
            }
            self.flush().await.map_err(nobody_removed)?;
            let members: usize = groups.batch.iter().map(|g| g.members.len()).sum();
            self.write_groups(&mut groups.batch, &mut groups.counts).await.map_err(nobody_removed)?;
            drop(written);
            memory::after_batch(members);
        };
        let (new_cookie, refresh_deletes) = match end {
            // Refused before anything was read (the common ancestor out of
            // reach, say): the separate reads may still work.
            Err(why) if !received => return Ok(JointEnd::Separately(why)),
            end => end.map_err(read_failed)?,
        };
        blocking(|| self.db.commit()).map_err(|e| nobody_removed(e.into()))?;
        if users.present_phase || (!refresh_deletes && received) {
            return Ok(JointEnd::Separately("the directory answered with its present set".into()));
        }
        self.remove_missing_users((users.gone > 0).then_some(Removal::Gone)).await?;
        self.finish_groups(groups, false).await.map_err(nobody_removed)?;
        Ok(JointEnd::Done(new_cookie))
    }
}
