//! The referred legs of a paged read: the continuation references and
//! referral results a read meets are decided (`crate::referral`), and once
//! a leg is read whole the next one is opened on the referred server with
//! the same filter, attributes and page size. A leg that fails fails the
//! read, so a run never takes an unreachable subtree for an empty one (and
//! removes nobody).

use crate::ldap::paged::Pages;
use crate::ldap::referral::{self, Hop};
use crate::ldap::Secrets;
use crate::referral::Itinerary;
use app::model::{ReferralStrategy, Repository};
use ldap3::{Ldap, SearchStream};
use std::collections::VecDeque;

/// A leg ready to read: its connection, its pages and its first page.
pub(crate) struct Leg {
    pub(crate) ldap: Ldap,
    pub(crate) pages: Pages,
    pub(crate) stream: SearchStream<'static, String, Vec<String>>,
}

/// The referrals of one read still to follow.
pub(crate) struct Referred {
    repo: Repository,
    secrets: Secrets,
    trip: Itinerary,
    pending: VecDeque<(Hop, usize)>,
    /// How many referrals deep the leg being read is.
    depth: usize,
    /// The connection of the leg being read, when it is a referred one.
    open: Option<Ldap>,
    /// Referrals met and followed, for the run's messages.
    pub(crate) followed: Vec<String>,
}

impl Referred {
    /// None when the repository follows no referrals (they are skipped).
    pub(crate) fn of(repo: &Repository, secrets: &Secrets) -> Option<Referred> {
        (repo.connection.referrals.strategy != ReferralStrategy::FollowNone).then(|| Referred {
            repo: repo.clone(),
            secrets: secrets.clone(),
            trip: Itinerary::default(),
            pending: VecDeque::new(),
            depth: 0,
            open: None,
            followed: Vec::new(),
        })
    }

    /// Takes in referral URLs met by the leg being read.
    pub(crate) fn met(&mut self, urls: &[String]) -> Result<(), String> {
        let hops = self.trip.plan(&self.repo.connection.referrals, urls, self.depth)?;
        self.pending.extend(hops.into_iter().map(|h| (h, self.depth + 1)));
        Ok(())
    }

    /// Opens the next leg like `template` (its filter, attributes and page
    /// size) on the next referred server; None when all are read.
    pub(crate) async fn next_leg(&mut self, template: &Pages) -> Result<Option<Leg>, String> {
        self.close().await;
        let Some((hop, depth)) = self.pending.pop_front() else {
            return Ok(None);
        };
        self.depth = depth;
        let ldap = referral::open(&self.repo, &self.secrets, &hop).await?;
        self.open = Some(ldap.clone());
        let mut pages = Pages {
            ldap: ldap.clone(),
            timeout: template.timeout,
            base: hop.base.clone().unwrap_or_else(|| template.base.clone()),
            scope: referral::scope_for(&hop, template.scope),
            filter: template.filter.clone(),
            attrs: template.attrs.clone(),
            sizer: template.sizer,
            entries: 0,
            values: 0,
        };
        let stream = pages.request(Vec::new()).await.map_err(|m| format!("referral to {}: {m}", hop.server))?;
        self.followed.push(format!("{}/{}", hop.server, pages.base));
        Ok(Some(Leg { ldap, pages, stream }))
    }

    /// Ends the referred connection of the leg just read.
    pub(crate) async fn close(&mut self) {
        if let Some(mut ldap) = self.open.take() {
            let _ = ldap.unbind().await;
        }
    }
}
