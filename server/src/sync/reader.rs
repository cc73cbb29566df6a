//! The reader: a directory read (paged, or a content sync from a cookie) on
//! a thread of its own with its own connection; entries are fingerprinted,
//! decoded and mapped where they arrive and handed to the run in batches
//! (see `handover`), at most two batches ahead.

use crate::ldap::content_sync::{self, SyncItem};
use crate::ldap::entry::AttributeNames;
use crate::ldap::paged::{stream, PageSizer, Pages};
use crate::ldap::referral;
use crate::ldap::{self, Secrets};
use crate::mapping;
use crate::memory;
use crate::memory::MAX_BATCH_VALUES;
use crate::store::known::KnownUsers;
use crate::sync::decode::{Decode, Decoded, GroupReader, JointReader, UserReader};
use crate::sync::fingerprint::{self};
use crate::sync::handover::{Handover, Item, Read, CHANGES_BATCH, MAX_VALUES_IN_FLIGHT};
use crate::sync::joint;
use crate::sync::referred::Referred;
use app::model::Repository;
use ldap3::{Ldap, SearchStream};
use std::sync::Arc;

/// A directory read as a stream of items, paged or by content synchronisation.
pub(crate) struct Reader {
    pub(crate) stream: SearchStream<'static, String, Vec<String>>,
    /// A paged read: how to ask for the next page (None: a content sync).
    pub(crate) pages: Option<Pages>,
    /// The last page's result, once a paged read is complete.
    pub(crate) done: Option<ldap3::LdapResult>,
    /// The connection, for reading the rest of windowed attributes.
    pub(crate) ldap: Ldap,
    pub(crate) timeout: std::time::Duration,
    /// The values handed to the writer and not yet written.
    pub(crate) in_flight: Arc<tokio::sync::Semaphore>,
    /// A paged read's current page, read whole before its entries are
    /// handed over, so the next page is asked for first: the server
    /// prepares it while this one is decoded, mapped and written (asked for
    /// after, the server idled while the reader caught up with each page).
    pub(crate) ahead: std::collections::VecDeque<ldap3::ResultEntry>,
    /// The cookie of the page after a heavy one: asked for once the heavy
    /// page is handed over and written (one huge group in memory at a time).
    pub(crate) deferred: Option<Vec<u8>>,
    /// The referrals a paged read follows (None: it skips them).
    pub(crate) referred: Option<Referred>,
}

/// What to search for.
pub(crate) struct Search {
    /// How many entries each page (and batch) holds.
    pub(crate) pages: PageSizer,
    pub(crate) base: String,
    pub(crate) scope: ldap3::Scope,
    pub(crate) filter: String,
    pub(crate) attrs: Vec<String>,
    /// Some: an RFC 4533 content sync from this cookie (None: from scratch).
    pub(crate) cookie: Option<Option<Vec<u8>>>,
}

impl Reader {
    pub(crate) async fn open(
        ldap: &mut Ldap,
        repo: &Repository,
        search: Search,
        in_flight: Arc<tokio::sync::Semaphore>,
    ) -> Result<Reader, String> {
        let timeout = ldap::timeout_of(repo);
        if let Some(cookie) = search.cookie {
            // OpenLDAP silently truncates a content-sync search that is also
            // paged: content sync reads without paging (its results are the
            // changes only).
            let control = content_sync::request(cookie);
            let stream =
                stream(ldap, timeout, control, &search.base, search.scope, &search.filter, search.attrs).await?;
            return Ok(Reader::new(stream, None, ldap.clone(), timeout, in_flight));
        }
        let mut pages = Pages {
            ldap: ldap.clone(),
            timeout,
            base: search.base,
            scope: search.scope,
            filter: search.filter,
            attrs: search.attrs,
            sizer: search.pages,
            entries: 0,
            values: 0,
        };
        let stream = pages.request(Vec::new()).await?;
        Ok(Reader::new(stream, Some(pages), ldap.clone(), timeout, in_flight))
    }

    pub(crate) fn new(
        stream: SearchStream<'static, String, Vec<String>>,
        pages: Option<Pages>,
        ldap: Ldap,
        timeout: std::time::Duration,
        in_flight: Arc<tokio::sync::Semaphore>,
    ) -> Reader {
        Reader {
            stream,
            pages,
            done: None,
            ldap,
            timeout,
            in_flight,
            ahead: Default::default(),
            deferred: None,
            referred: None,
        }
    }

    pub(crate) async fn next(&mut self) -> Result<Option<SyncItem>, String> {
        let Some(pages) = &mut self.pages else {
            // A content sync: one stream, handed over as it arrives.
            return match self.stream.next().await {
                Ok(Some(raw)) => content_sync::classify_any(raw).map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(Self::stopped(&mut self.stream, e).await),
            };
        };
        loop {
            if let Some(raw) = self.ahead.pop_front() {
                if raw.is_ref() {
                    if let Some(referred) = &mut self.referred {
                        referred.met(&referral::reference_urls(&raw))?;
                    }
                    continue;
                }
                return content_sync::classify_any(raw).map(Some);
            }
            if let Some(result) = &self.done {
                // A leg read whole; one that failed ends the read (finish()
                // reports it), else the next referred leg is read, if any.
                let Some(referred) = self.referred.as_mut().filter(|_| result.rc == 0) else {
                    return Ok(None);
                };
                let Some(leg) = referred.next_leg(pages).await? else {
                    return Ok(None);
                };
                self.ldap = leg.ldap;
                *pages = leg.pages;
                self.stream = leg.stream;
                self.done = None;
            }
            if let Some(cookie) = self.deferred.take() {
                // A huge group was read and handed over: the next page waits
                // until the writer is through, so one huge group is in memory
                // at a time, not two.
                let all = u32::try_from(MAX_VALUES_IN_FLIGHT).unwrap_or(u32::MAX);
                let _ = self.in_flight.acquire_many(all).await;
                self.stream = pages.request(cookie).await?;
            }
            loop {
                match self.stream.next().await {
                    Ok(Some(raw)) => {
                        pages.count(&raw);
                        self.ahead.push_back(raw);
                    }
                    Ok(None) => break,
                    Err(e) => return Err(Self::stopped(&mut self.stream, e).await),
                }
            }
            let result = self.stream.finish().await;
            // A page that failed ends the read; finish() reports it. A
            // malformed cookie is an error, never the end of the read: a
            // read taken for complete removes unseen users.
            let cookie = if result.rc == 0 { content_sync::paged_cookie(&result.ctrls)? } else { None };
            // No control: the server ignored paging and sent everything.
            let Some(cookie) = cookie.filter(|c| !c.is_empty()) else {
                let mut result = result;
                if let Some(referred) = self.referred.as_mut().filter(|_| result.rc == 10) {
                    // The base itself is held elsewhere: read where it leads.
                    referred.met(&result.refs)?;
                    result.rc = 0;
                }
                self.done = Some(result);
                continue;
            };
            pages.sizer.page_read(pages.entries, pages.values);
            if pages.values >= MAX_BATCH_VALUES {
                self.deferred = Some(cookie);
            } else {
                self.stream = pages.request(cookie).await?;
            }
        }
    }

    /// Why a read stopped: the stream's error (its search is ended).
    pub(crate) async fn stopped(
        stream: &mut SearchStream<'static, String, Vec<String>>,
        e: ldap3::LdapError,
    ) -> String {
        let _ = stream.finish().await;
        format!("the directory stopped answering mid-run: {}", ldap::describe_ldap_error(&e))
    }

    /// Reads on a thread of its own, a batch at a time and at most two
    /// batches ahead: decoding overlaps with mapping and writing, memory
    /// stays flat. The thread opens its own connection, so the messages are
    /// decoded, fingerprinted and mapped where they arrive (no hand-off of
    /// every entry between threads).
    /// Entries are fingerprinted there and, unless stored unchanged, decoded
    /// (users also mapped) per `decode`.
    /// With `limit`, a content sync that replays more changed entries than
    /// that is abandoned.
    pub(crate) fn spawn(
        repo: Repository,
        secrets: Secrets,
        search: Search,
        decode: Decode,
        limit: Option<u64>,
    ) -> tokio::sync::mpsc::Receiver<Read> {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let tx = Handover { tx, in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_VALUES_IN_FLIGHT)) };
        let read = async move {
            let mut conn = match ldap::connect(&repo).await {
                Ok(c) => c,
                Err((f, _)) => {
                    tx.end(Err(format!("connect: {}", f.into_message()))).await;
                    return;
                }
            };
            if let Err(m) = ldap::bind(&mut conn.ldap, &repo, &secrets).await {
                tx.end(Err(format!("bind: {m}"))).await;
                return;
            }
            // A content sync is one stream, not pages: smaller batches let the
            // writer start on the first changes while the rest arrive.
            let batch =
                if search.cookie.is_some() { search.pages.max().min(CHANGES_BATCH) } else { search.pages.max() };
            match Reader::open(&mut conn.ldap, &repo, search, tx.in_flight.clone()).await {
                Ok(mut reader) => {
                    if reader.pages.is_some() {
                        reader.referred = Referred::of(&repo, &secrets);
                    }
                    reader.read(batch, decode, limit, tx).await
                }
                Err(m) => tx.end(Err(m)).await,
            }
            let _ = conn.ldap.unbind().await;
        };
        // A single-threaded runtime of its own: the connection's driver and
        // the reading run on this thread; the shared runtime stays free for
        // the writer and the web server.
        if let Err(e) = on_own_thread("dirbridge-reader", read) {
            // Without a reader the channel closes at once and the run fails.
            tracing::error!(error = %e, "the reader thread could not start");
        }
        rx
    }

    /// A joint reader of users and groups (see [`joint`]): a content sync,
    /// every entry it returns changed.
    pub(crate) fn joint(
        repo: &Repository,
        secrets: &Secrets,
        search: Search,
        split: joint::JointRead,
        limit: u64,
    ) -> tokio::sync::mpsc::Receiver<Read> {
        let mapping_key = fingerprint::mapping_key(repo);
        let users = UserReader {
            repo: repo.clone(),
            mapping_key,
            keep: Some(AttributeNames::new(ldap::user_attributes(repo))),
            known: None,
        };
        let groups = GroupReader {
            repo: repo.clone(),
            mapping_key,
            keep: Some(AttributeNames::new(mapping::group_attributes(repo))),
            known: Default::default(),
        };
        let decode = Decode::Joint(Box::new(JointReader { users, groups, split }));
        Reader::spawn(repo.clone(), secrets.clone(), search, decode, Some(limit))
    }

    /// A users' reader (see [`Reader::spawn`]), with the stored source
    /// hashes of `known` to skip unchanged entries by.
    pub(crate) fn users(
        repo: &Repository,
        secrets: &Secrets,
        search: Search,
        known: Option<KnownUsers>,
        limit: Option<u64>,
    ) -> tokio::sync::mpsc::Receiver<Read> {
        let users = UserReader { repo: repo.clone(), mapping_key: fingerprint::mapping_key(repo), keep: None, known };
        Reader::spawn(repo.clone(), secrets.clone(), search, Decode::Users(Box::new(users)), limit)
    }

    pub(crate) async fn read(mut self, batch: usize, mut decode: Decode, limit: Option<u64>, tx: Handover) {
        let mut items = Vec::with_capacity(batch);
        let mut weight = 0usize;
        let mut changed = 0u64;
        loop {
            let item = match self.next().await {
                Ok(Some(SyncItem::Changed(_))) if limit.is_some_and(|l| changed >= l) => {
                    // ldap3 buffers whatever the server sends: stop the
                    // server rather than hold the whole directory.
                    self.abandon().await;
                    return tx.stop(items, weight, Read::TooMany).await;
                }
                Ok(Some(SyncItem::Changed(mut raw))) => {
                    // A group read without all its members must not be
                    // stored: failing to read the rest fails the run.
                    let read = match ldap::range::complete(&mut self.ldap, self.timeout, &mut raw.0).await {
                        Ok(()) => decode.read(raw.0),
                        Err(m) => Err(m),
                    };
                    // An entry of a joint read that is neither a user nor a
                    // group is no change of this repository (a separate read
                    // hears of it as a deletion): it does not count towards
                    // the replay limit, and it costs two UUIDs.
                    let neither = matches!(read, Ok(Decoded::Two(Item::NotUser(_), _)));
                    changed += u64::from(!neither);
                    match read {
                        Ok(Decoded::One(item)) => item,
                        Ok(Decoded::Two(first, second)) => {
                            weight += first.weight();
                            items.push(first);
                            second
                        }
                        Ok(Decoded::Unsure(why)) => {
                            self.abandon().await;
                            return tx.stop(items, weight, Read::Separately(why)).await;
                        }
                        Err(m) => return tx.fail(items, weight, m).await,
                    }
                }
                Ok(Some(SyncItem::Present(_))) if matches!(decode, Decode::Joint(_)) => {
                    // A present set says nothing about which entries are
                    // users: the run reads them apart (see [`joint`]).
                    self.abandon().await;
                    let why = "the directory answered with its present set".to_string();
                    return tx.stop(items, weight, Read::Separately(why)).await;
                }
                Ok(Some(SyncItem::Present(uuids))) => Item::Present(uuids),
                Ok(Some(SyncItem::Deleted(uuids))) => Item::Deleted(uuids),
                Ok(Some(SyncItem::Other)) => continue,
                Ok(None) => break,
                // The writer gets what was read, then the failure: the run
                // fails and removes nobody.
                Err(m) => return tx.fail(items, weight, m).await,
            };
            // Big entries (a group with 200,000 members) go on their own:
            // a batch is also full at MAX_BATCH_VALUES attribute values.
            weight += item.weight();
            items.push(item);
            if items.len() >= batch || weight >= MAX_BATCH_VALUES {
                if !tx.items(std::mem::take(&mut items), weight).await {
                    // The writer gave up (store error): stop reading.
                    return;
                }
                memory::after_batch(weight);
                weight = 0;
            }
        }
        if !tx.items(items, weight).await {
            return;
        }
        tx.end(self.finish().await).await;
    }

    /// Stops the server's search (its answer is not read any further).
    pub(crate) async fn abandon(&mut self) {
        let ldap = self.stream.ldap_handle();
        let id = ldap.last_id();
        let _ = ldap.abandon(id).await;
    }

    /// Ends the read: the Sync Done cookie and refreshDeletes flag, if any.
    pub(crate) async fn finish(mut self) -> Result<(Option<Vec<u8>>, bool), String> {
        let result = match self.done.take() {
            Some(result) => result,
            None => self.stream.finish().await,
        };
        if result.rc != 0 {
            return Err(format!(
                "the search did not complete: {}",
                ldap::describe_ldap_error(&ldap3::LdapError::LdapResult { result })
            ));
        }
        content_sync::sync_done(&result.ctrls)
    }
}

/// Runs `work` on a new thread of its own, on a single-threaded runtime.
pub(crate) fn on_own_thread(
    name: &str,
    work: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let thread = name.to_string();
    std::thread::Builder::new().name(thread.clone()).spawn(
        move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(work),
            Err(e) => tracing::error!(error = %e, thread, "a runtime could not start"),
        },
    )?;
    Ok(())
}
