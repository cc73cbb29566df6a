//! Groups and their memberships. Member values are stored as keys (a
//! normalized DN, or a lower-cased uid for `memberUid`) so a user's groups,
//! nested ones included, are resolved in the store with one recursive query.

use super::{ListFilter, Store, StoreError};
use app::model::Group;
use sqlx::{QueryBuilder, Row, Sqlite};

/// Nesting deeper than this is not followed (cycles end here too).
const MAX_NESTING: i64 = 32;

/// A group read from the directory, ready to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedGroup {
    pub uuid: String,
    pub name: String,
    pub dn: String,
    pub dn_key: String,
    pub members: MemberKeys,
    pub hash: Vec<u8>,
    /// The fingerprint of the entry it was mapped from (see `sync::fingerprint`).
    pub source_hash: Option<[u8; 16]>,
}

/// A group's member keys, sorted (by bytes) and without duplicates, packed
/// in one buffer as `<byte length>:<key>` pieces. This is the form the
/// group's row keeps (`groups.members`, built the same way by migration
/// 0008): a changed group is compared with it and only the difference is
/// written, and it holds a huge group in one allocation instead of one
/// string per member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberKeys {
    packed: Vec<u8>,
    len: usize,
}

impl MemberKeys {
    /// Sorts and deduplicates `keys`, then packs them.
    pub fn new(mut keys: Vec<String>) -> MemberKeys {
        keys.sort_unstable();
        keys.dedup();
        let mut packed = Vec::with_capacity(keys.iter().map(|k| k.len() + 4).sum());
        for k in &keys {
            packed.extend_from_slice(k.len().to_string().as_bytes());
            packed.push(b':');
            packed.extend_from_slice(k.as_bytes());
        }
        MemberKeys { packed, len: keys.len() }
    }

    /// Reads the stored form back, checking it against the stored `count`:
    /// a damaged value is an error, never a shorter member list (that would
    /// leave memberships behind).
    pub fn from_stored(packed: Vec<u8>, count: i64) -> Result<MemberKeys, String> {
        let mut len = 0;
        let mut previous: Option<&str> = None;
        let mut rest = packed.as_slice();
        while !rest.is_empty() {
            let (key, after) = split_piece(rest).ok_or("a group's stored member list is damaged")?;
            if previous.is_some_and(|p| p >= key) {
                return Err("a group's stored member list is out of order".into());
            }
            previous = Some(key);
            len += 1;
            rest = after;
        }
        if i64::try_from(len).ok() != Some(count) {
            return Err(format!("a group's stored member list has {len} keys, its count says {count}"));
        }
        Ok(MemberKeys { packed, len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed form, as stored.
    pub fn as_bytes(&self) -> &[u8] {
        &self.packed
    }

    /// The keys, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let mut rest = self.packed.as_slice();
        std::iter::from_fn(move || {
            let (key, after) = split_piece(rest)?;
            rest = after;
            Some(key)
        })
    }

    /// What changes from `self` to `new`: the keys only `self` has, and
    /// the keys only `new` has (one merge of the two sorted lists).
    pub fn difference<'a>(&'a self, new: &'a MemberKeys) -> (Vec<&'a str>, Vec<&'a str>) {
        let (mut gone, mut added) = (Vec::new(), Vec::new());
        let (mut old_keys, mut new_keys) = (self.iter().peekable(), new.iter().peekable());
        loop {
            match (old_keys.peek(), new_keys.peek()) {
                (Some(o), Some(n)) => match o.cmp(n) {
                    std::cmp::Ordering::Less => gone.extend(old_keys.next()),
                    std::cmp::Ordering::Greater => added.extend(new_keys.next()),
                    std::cmp::Ordering::Equal => {
                        old_keys.next();
                        new_keys.next();
                    }
                },
                (Some(_), None) => gone.extend(old_keys.next()),
                (None, Some(_)) => added.extend(new_keys.next()),
                (None, None) => return (gone, added),
            }
        }
    }
}

/// The first `<length>:<key>` piece of `packed` and what follows it; None
/// when there is none or it is malformed.
fn split_piece(packed: &[u8]) -> Option<(&str, &[u8])> {
    let colon = packed.iter().take(20).position(|&b| b == b':')?;
    let digits = std::str::from_utf8(&packed[..colon]).ok()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: usize = digits.parse().ok()?;
    let rest = &packed[colon + 1..];
    let key = std::str::from_utf8(rest.get(..len)?).ok()?;
    Some((key, &rest[len..]))
}

/// A group a user belongs to, directly (depth 0) or through nesting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub name: String,
    pub dn: String,
    pub depth: i64,
}

impl Store {
    pub async fn list_groups(
        &self,
        filter: ListFilter<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<(u64, Vec<Group>), StoreError> {
        let listed = super::Listed { select: GROUP_COLUMNS, owner: super::Owner::Columns, name: "lower(t.name)" };
        let (total, rows) = self.list_page(&listed, filter, None, offset, limit).await?;
        let groups = rows.iter().map(group_of).collect();
        Ok((total, groups))
    }

    /// The groups whose members include any of `keys`, and the groups those
    /// groups are members of, to any depth.
    pub async fn memberships(
        &self,
        tenant: &str,
        repository_id: &str,
        keys: &[String],
    ) -> Result<Vec<Membership>, StoreError> {
        let mut q = QueryBuilder::new("");
        push_memberships(&mut q, tenant, repository_id, keys);
        Ok(q.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Membership { name: r.get(0), dn: r.get(1), depth: r.get(2) })
            .collect())
    }
}

/// Pushes the recursive memberships query of [`Store::memberships`].
fn push_memberships<'a>(q: &mut QueryBuilder<'a, Sqlite>, tenant: &'a str, repository_id: &'a str, keys: &'a [String]) {
    // Member rows carry only the group's id: each step keeps the groups
    // of this tenant and repository (another repository of the same
    // directory has the same member keys). CROSS JOIN fixes the join
    // order: from the member keys to the groups, never a walk of all the
    // repository's groups probing each.
    q.push(
            "WITH RECURSIVE member_of(group_id, depth) AS (SELECT g.id, 0 FROM group_members gm CROSS JOIN groups g ON g.id = gm.group_id WHERE gm.member_key IN (",
        );
    let mut sep = q.separated(", ");
    for k in keys {
        sep.push_bind(k);
    }
    q.push(") AND g.tenant = ").push_bind(tenant).push(" AND g.repository_id = ").push_bind(repository_id);
    q.push(" UNION SELECT parent.id, m.depth + 1 FROM member_of m CROSS JOIN groups g ON g.id = m.group_id");
    q.push(
        " CROSS JOIN group_members gm ON gm.member_key = g.dn_key CROSS JOIN groups parent ON parent.id = gm.group_id",
    );
    q.push(" WHERE parent.tenant = ").push_bind(tenant).push(" AND parent.repository_id = ").push_bind(repository_id);
    q.push(" AND m.depth < ").push_bind(MAX_NESTING);
    q.push(") SELECT g.name, g.ldap_dn, MIN(m.depth) FROM member_of m CROSS JOIN groups g ON g.id = m.group_id");
    q.push(" GROUP BY m.group_id ORDER BY MIN(m.depth), g.name");
}

const GROUP_COLUMNS: &str =
    "SELECT t.repository_id, t.ldap_uuid, t.name, t.ldap_dn, t.synced_at, t.member_count FROM groups t";

fn group_of(r: &sqlx::sqlite::SqliteRow) -> Group {
    let repository_id: String = r.get(0);
    let ldap_uuid: String = r.get(1);
    Group {
        id: format!("{repository_id}:{ldap_uuid}"),
        repository_id,
        ldap_uuid,
        name: r.get(2),
        ldap_dn: r.get(3),
        synced_at: r.get(4),
        member_count: r.get::<i64, _>(5) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{migrated_up_to, MIGRATIONS};

    /// A user's groups are found from its member keys, on a million users
    /// and thousands of groups: index seeks from the keys, never a walk of
    /// the repository's groups.
    #[tokio::test]
    async fn memberships_start_from_the_member_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_file(&dir.path().join("t.db")).await.expect("store");
        let keys = ["uid=a".to_string(), "a".to_string()];
        let mut q = QueryBuilder::new("EXPLAIN QUERY PLAN ");
        push_memberships(&mut q, "t", "r", &keys);
        let text = crate::store::test_support::plan_of(store.pool(), q.build()).await;
        assert!(text.contains("SEARCH gm USING PRIMARY KEY (member_key=?)"), "{text}");
        assert!(!text.contains("groups_by_") && !text.contains("SCAN g"), "{text}");
    }
    /// Migration 0007 moves a store's groups and memberships to integer group
    /// ids without losing or mixing up any (run here on a store built with
    /// the migrations before it).
    #[tokio::test]
    async fn integer_group_keys_keep_every_membership() {
        let pool = migrated_up_to(6).await;
        sqlx::raw_sql(
            "INSERT INTO groups (tenant, repository_id, ldap_uuid, name, ldap_dn, dn_key, content_hash, synced_at, source_hash) VALUES
                ('t', 'a', 'g1', 'Ops', 'cn=Ops', 'cn=ops', x'01', 'now', x'02'),
                ('t', 'b', 'g1', 'Ops B', 'cn=Ops', 'cn=ops', x'03', 'now', NULL),
                ('t', 'a', 'g2', 'All', 'cn=All', 'cn=all', x'04', 'now', NULL);
             INSERT INTO group_members (tenant, repository_id, group_uuid, member_key) VALUES
                ('t', 'a', 'g1', 'uid=x'), ('t', 'a', 'g1', 'uid=y'), ('t', 'b', 'g1', 'uid=z'),
                ('t', 'a', 'g2', 'cn=ops'), ('t', 'a', 'gone', 'uid=orphan');",
        )
        .execute(&pool)
        .await
        .expect("old rows");
        sqlx::raw_sql(MIGRATIONS[6]).execute(&pool).await.expect("migration 0007");
        let members: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT g.repository_id, g.ldap_uuid, g.name, m.member_key FROM group_members m JOIN groups g ON g.id = m.group_id ORDER BY 1, 2, 4",
        )
        .fetch_all(&pool)
        .await
        .expect("members");
        let want = [
            ("a", "g1", "Ops", "uid=x"),
            ("a", "g1", "Ops", "uid=y"),
            ("a", "g2", "All", "cn=ops"),
            ("b", "g1", "Ops B", "uid=z"),
        ];
        assert_eq!(members, want.map(|(r, g, n, k)| (r.into(), g.into(), n.into(), k.into())));
        let kept: (i64, Option<Vec<u8>>) =
            sqlx::query_as("SELECT count(*), max(source_hash) FROM groups").fetch_one(&pool).await.expect("groups");
        assert_eq!(kept, (3, Some(vec![2])));
    }

    /// Migration 0008 keeps every membership in the one b-tree and gives
    /// each group its count and packed member list, exactly as the writer
    /// packs them (a changed group is compared with that list).
    #[tokio::test]
    async fn one_membership_btree_keeps_every_membership_and_lists_them() {
        let pool = migrated_up_to(7).await;
        sqlx::raw_sql(
            "INSERT INTO groups (id, tenant, repository_id, ldap_uuid, name, ldap_dn, dn_key, content_hash, synced_at) VALUES
                (1, 't', 'a', 'g1', 'Ops', 'cn=Ops', 'cn=ops', x'01', 'now'),
                (2, 't', 'b', 'g1', 'Ops B', 'cn=Ops', 'cn=ops', x'03', 'now'),
                (3, 't', 'a', 'g2', 'Empty', 'cn=Empty', 'cn=empty', x'04', 'now');
             INSERT INTO group_members (group_id, member_key) VALUES
                (1, 'uid=y'), (1, 'uid=x:10'), (1, 'uid=zoë'), (1, 'cn=a\\2c b'), (2, 'uid=z'), (9, 'uid=orphan');",
        )
        .execute(&pool)
        .await
        .expect("old rows");
        sqlx::raw_sql(MIGRATIONS[7]).execute(&pool).await.expect("migration 0008");
        let rows: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as("SELECT id, member_count, members FROM groups ORDER BY id")
            .fetch_all(&pool)
            .await
            .expect("groups");
        let packed = |keys: &[&str]| MemberKeys::new(keys.iter().map(|k| k.to_string()).collect()).as_bytes().to_vec();
        assert_eq!(
            rows,
            vec![
                (1, 4, packed(&["uid=y", "uid=x:10", "uid=zoë", "cn=a\\2c b"])),
                (2, 1, packed(&["uid=z"])),
                (3, 0, Vec::new())
            ]
        );
        let members: Vec<(String, i64)> =
            sqlx::query_as("SELECT member_key, group_id FROM group_members").fetch_all(&pool).await.expect("members");
        let want = [("cn=a\\2c b", 1), ("uid=x:10", 1), ("uid=y", 1), ("uid=z", 2), ("uid=zoë", 1)];
        assert_eq!(members, want.map(|(k, g)| (k.to_string(), g)));
    }

    #[test]
    fn member_keys_pack_sorted_without_duplicates_and_read_back() {
        let keys = ["uid=b", "12:uid=a", "", "uid=b", "cn=x\nline", "uid=zoë"];
        let members = MemberKeys::new(keys.iter().map(|k| k.to_string()).collect());
        let listed: Vec<&str> = members.iter().collect();
        assert_eq!(listed, ["", "12:uid=a", "cn=x\nline", "uid=b", "uid=zoë"]);
        assert_eq!(members.len(), 5);
        let back = MemberKeys::from_stored(members.as_bytes().to_vec(), 5).expect("reads back");
        assert_eq!(back, members);
        assert!(MemberKeys::from_stored(Vec::new(), 0).expect("empty").is_empty());
    }

    #[test]
    fn a_damaged_member_list_is_an_error_not_a_shorter_list() {
        let members = MemberKeys::new(vec!["uid=a".into(), "uid=b".into()]);
        let whole = members.as_bytes().to_vec();
        for cut in 1..whole.len() {
            assert!(MemberKeys::from_stored(whole[..cut].to_vec(), 2).is_err(), "cut at {cut}");
        }
        assert!(MemberKeys::from_stored(whole.clone(), 2).is_ok());
        assert!(MemberKeys::from_stored(whole, 3).is_err());
        for bad in ["x:uid=a", "5uid=a", ":uid=a", "5:uid=b5:uid=a", "5:uid=a5:uid=a", "-1:"] {
            assert!(MemberKeys::from_stored(bad.as_bytes().to_vec(), 2).is_err(), "{bad}");
            assert!(MemberKeys::from_stored(bad.as_bytes().to_vec(), 1).is_err(), "{bad}");
        }
        assert!(MemberKeys::from_stored(b"2:\xff\xfe".to_vec(), 1).is_err());
    }

    #[test]
    fn the_difference_of_two_member_lists_is_what_one_has_and_the_other_not() {
        let of = |keys: &[&str]| MemberKeys::new(keys.iter().map(|k| k.to_string()).collect());
        let old = of(&["a", "b", "d", "f"]);
        let new = of(&["b", "c", "d", "g", "h"]);
        assert_eq!(old.difference(&new), (vec!["a", "f"], vec!["c", "g", "h"]));
        assert_eq!(new.difference(&new), (vec![], vec![]));
        assert_eq!(of(&[]).difference(&old), (vec![], vec!["a", "b", "d", "f"]));
        assert_eq!(old.difference(&of(&[])), (vec!["a", "b", "d", "f"], vec![]));
    }
}
