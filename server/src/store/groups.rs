//! Groups and their memberships. Member values are stored as keys (a
//! normalized DN, or a lower-cased uid for `memberUid`) so a user's groups,
//! nested ones included, are resolved in the store with one recursive query.

use super::{Store, StoreError};
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
        tenant: &str,
        repository_id: Option<&str>,
        search: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(u64, Vec<Group>), StoreError> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM groups g WHERE g.tenant = ");
        let mut page = QueryBuilder::<Sqlite>::new(GROUP_COLUMNS);
        for q in [&mut count, &mut page] {
            q.push_bind(tenant.to_string());
            if let Some(r) = repository_id {
                q.push(" AND g.repository_id = ").push_bind(r.to_string());
            }
            if let Some(s) = search.filter(|s| !s.is_empty()) {
                q.push(" AND g.name LIKE ").push_bind(super::sync::like_prefix(s)).push(" ESCAPE '\\'");
            }
        }
        let total: i64 = count.build().fetch_one(&self.pool).await?.get(0);
        page.push(" ORDER BY g.name LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
        let groups = page.build().fetch_all(&self.pool).await?.iter().map(group_of).collect();
        Ok((total as u64, groups))
    }

    pub async fn get_group(&self, tenant: &str, repository_id: &str, uuid: &str) -> Result<Group, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new(GROUP_COLUMNS);
        q.push_bind(tenant).push(" AND g.repository_id = ").push_bind(repository_id);
        q.push(" AND g.ldap_uuid = ").push_bind(uuid);
        q.build().fetch_optional(&self.pool).await?.map(|r| group_of(&r)).ok_or(StoreError::NotFound)
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

const GROUP_COLUMNS: &str = "SELECT g.repository_id, g.ldap_uuid, g.name, g.ldap_dn, g.synced_at, (SELECT COUNT(*) FROM group_members gm WHERE gm.tenant = g.tenant AND gm.repository_id = g.repository_id AND gm.group_uuid = g.ldap_uuid) FROM groups g WHERE g.tenant = ";

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
