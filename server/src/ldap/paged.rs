//! RFC 2696 paged results, one page at a time: ldap3's PagedResults adapter
//! asks for the same size every time; group pages adapt to their size (see
//! [`PageSizer`]), so the reader asks for each page itself.

use crate::ldap::entry::RawEntry;
use ldap3::{Ldap, SearchStream};

/// A paged read, page by page (ldap3's PagedResults adapter asks for the
/// same size every time; groups need pages that adapt to their size).
pub struct Pages {
    pub ldap: Ldap,
    pub timeout: std::time::Duration,
    pub base: String,
    pub scope: ldap3::Scope,
    pub filter: String,
    pub attrs: Vec<String>,
    pub sizer: PageSizer,
    /// Entries and attribute values in the page being read.
    pub entries: usize,
    pub values: usize,
}

impl Pages {
    /// Asks for the page after `cookie` (empty: the first).
    pub async fn request(&mut self, cookie: Vec<u8>) -> Result<SearchStream<'static, String, Vec<String>>, String> {
        let size = i32::try_from(self.sizer.size()).unwrap_or(i32::MAX);
        self.entries = 0;
        self.values = 0;
        let paged = ldap3::controls::PagedResults { size, cookie }.into();
        stream(&mut self.ldap, self.timeout, paged, &self.base, self.scope, &self.filter, self.attrs.clone()).await
    }

    pub fn count(&mut self, entry: &ldap3::ResultEntry) {
        self.entries += 1;
        if self.sizer.adapts() {
            if let Some(raw) = RawEntry::of(&entry.0) {
                self.values += raw.attributes().flatten().map(|a| a.value_count()).sum::<usize>();
            }
        }
    }
}

/// Starts a streaming search with one request control.
pub async fn stream(
    ldap: &mut Ldap,
    timeout: std::time::Duration,
    control: ldap3::controls::RawControl,
    base: &str,
    scope: ldap3::Scope,
    filter: &str,
    attrs: Vec<String>,
) -> Result<SearchStream<'static, String, Vec<String>>, String> {
    ldap.with_timeout(timeout)
        .with_controls(control)
        .streaming_search(base, scope, filter, attrs)
        .await
        .map_err(|e| format!("search: {}", super::describe_ldap_error(&e)))
}

/// How many entries each page of a paged read asks for.
///
/// A page is decoded as it arrives, however slowly its entries are consumed,
/// so entries per page is what bounds a reader's memory. Users are alike and
/// take a fixed size. Groups range from a handful of members to hundreds of
/// thousands: their pages start at one entry, double while they stay light
/// and shrink at once after one carried more attribute values than
/// `values_per_page`, so a huge group comes (nearly) alone and a thousand
/// small ones still take few round trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageSizer {
    size: usize,
    max: usize,
    /// None: the size is fixed.
    values_per_page: Option<usize>,
}

impl PageSizer {
    pub fn fixed(size: usize) -> PageSizer {
        PageSizer { size: size.max(1), max: size.max(1), values_per_page: None }
    }

    /// Starts at one entry, never asks for more than `max`.
    pub fn by_values(max: usize, values_per_page: usize) -> PageSizer {
        PageSizer { size: 1, max: max.max(1), values_per_page: Some(values_per_page.max(1)) }
    }

    /// The size of the next page to ask for.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The largest page it asks for.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Whether pages adapt to what they carry (the reader then counts values).
    pub fn adapts(&self) -> bool {
        self.values_per_page.is_some()
    }

    /// Takes in what the last page carried: `entries` entries with `values`
    /// attribute values in all.
    pub fn page_read(&mut self, entries: usize, values: usize) {
        let Some(target) = self.values_per_page else { return };
        self.size = if values > target {
            // Entries like these, as many as fit the target.
            (entries.max(1) * target / values).clamp(1, self.max)
        } else if values.saturating_mul(2) <= target && entries >= self.size {
            (self.size * 2).min(self.max)
        } else {
            self.size
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_pages_never_change() {
        let mut pages = PageSizer::fixed(500);
        pages.page_read(500, 10_000_000);
        assert_eq!(pages.size(), 500);
        assert!(!pages.adapts());
        assert_eq!(PageSizer::fixed(0).size(), 1);
    }

    #[test]
    fn group_pages_grow_while_light_and_shrink_after_a_huge_group() {
        let mut pages = PageSizer::by_values(64, 50_000);
        assert!(pages.adapts());
        let mut sizes = vec![pages.size()];
        for _ in 0..8 {
            let n = pages.size();
            pages.page_read(n, n * 100);
            sizes.push(pages.size());
        }
        assert_eq!(sizes, [1, 2, 4, 8, 16, 32, 64, 64, 64]);
        // A page of 64 that held one group of 200,000 members.
        pages.page_read(64, 63 * 100 + 200_000);
        assert_eq!(pages.size(), 15);
        pages.page_read(15, 400_000);
        assert_eq!(pages.size(), 1);
        // Light again: grows back from one.
        pages.page_read(1, 20);
        assert_eq!(pages.size(), 2);
        // Near the target: stays.
        pages.page_read(2, 40_000);
        assert_eq!(pages.size(), 2);
        // The last, short page of a read says nothing about the next ones.
        pages.page_read(1, 10);
        assert_eq!(pages.size(), 2);
    }
}
