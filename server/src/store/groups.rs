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
    pub member_keys: Vec<String>,
    pub hash: Vec<u8>,
    /// The fingerprint of the entry it was mapped from (see `sync::fingerprint`).
    pub source_hash: Option<[u8; 16]>,
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
        let (total, rows) = self.list_page(GROUP_COLUMNS, "lower(t.name)", filter, None, offset, limit).await?;
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
        let mut q = QueryBuilder::<Sqlite>::new(
            "WITH RECURSIVE member_of(group_uuid, depth) AS (SELECT group_uuid, 0 FROM group_members WHERE tenant = ",
        );
        q.push_bind(tenant).push(" AND repository_id = ").push_bind(repository_id).push(" AND member_key IN (");
        let mut sep = q.separated(", ");
        for k in keys {
            sep.push_bind(k);
        }
        q.push(") UNION SELECT gm.group_uuid, m.depth + 1 FROM member_of m JOIN groups g ON g.tenant = ");
        q.push_bind(tenant).push(" AND g.repository_id = ").push_bind(repository_id);
        q.push(" AND g.ldap_uuid = m.group_uuid JOIN group_members gm ON gm.tenant = ");
        q.push_bind(tenant).push(" AND gm.repository_id = ").push_bind(repository_id);
        q.push(" AND gm.member_key = g.dn_key WHERE m.depth < ").push_bind(MAX_NESTING);
        q.push(") SELECT g.name, g.ldap_dn, MIN(m.depth) FROM member_of m JOIN groups g ON g.tenant = ");
        q.push_bind(tenant).push(" AND g.repository_id = ").push_bind(repository_id);
        q.push(" AND g.ldap_uuid = m.group_uuid GROUP BY g.ldap_uuid ORDER BY MIN(m.depth), g.name");
        Ok(q.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Membership { name: r.get(0), dn: r.get(1), depth: r.get(2) })
            .collect())
    }
}

const GROUP_COLUMNS: &str = "SELECT t.repository_id, t.ldap_uuid, t.name, t.ldap_dn, t.synced_at, (SELECT COUNT(*) FROM group_members gm WHERE gm.tenant = t.tenant AND gm.repository_id = t.repository_id AND gm.group_uuid = t.ldap_uuid) FROM groups t";

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
