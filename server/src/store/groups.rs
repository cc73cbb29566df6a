//! Groups and their memberships. Member values are stored as keys (a
//! normalized DN, or a lower-cased uid for `memberUid`) so a user's groups,
//! nested ones included, are resolved in the store with one recursive query.

use super::{ListFilter, Store, StoreError};
use app::model::Group;
use sqlx::{QueryBuilder, Row, Sqlite};

/// Nesting deeper than this is not followed (cycles end here too).
const MAX_NESTING: i64 = 32;

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
    use crate::store::rows::MemberKeys;
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
}
