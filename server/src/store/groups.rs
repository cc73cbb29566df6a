//! Groups and their memberships. Member values are stored as keys (a
//! normalized DN, or a lower-cased uid for `memberUid`) so a user's groups,
//! nested ones included, are resolved in the store with one recursive query.

use super::{Store, StoreError};
use app::model::{Group, GroupCounts};
use sqlx::pool::PoolConnection;
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::HashMap;

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
    /// Prepares the per-run seen-set of groups on the run's connection.
    pub async fn start_group_read(conn: &mut PoolConnection<Sqlite>) -> Result<(), StoreError> {
        for table in ["group_seen", "group_gone"] {
            sqlx::query(&format!("CREATE TEMP TABLE IF NOT EXISTS {table} (uuid TEXT PRIMARY KEY) WITHOUT ROWID"))
                .execute(&mut **conn)
                .await?;
            sqlx::query(&format!("DELETE FROM temp.{table}")).execute(&mut **conn).await?;
        }
        Ok(())
    }

    /// Marks group UUIDs as seen (`gone = false`) or reported deleted (`gone = true`).
    pub async fn mark_groups(
        conn: &mut PoolConnection<Sqlite>,
        uuids: &[String],
        gone: bool,
    ) -> Result<(), StoreError> {
        let table = if gone { "temp.group_gone" } else { "temp.group_seen" };
        for chunk in uuids.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new(format!("INSERT OR IGNORE INTO {table} (uuid) "));
            q.push_values(chunk, |mut b, u| {
                b.push_bind(u);
            });
            q.build().execute(&mut **conn).await?;
        }
        Ok(())
    }

    /// Writes a batch of groups: unchanged ones (same hash) are left alone,
    /// changed ones get their member rows replaced.
    pub async fn write_groups(
        conn: &mut PoolConnection<Sqlite>,
        tenant: &str,
        repo: &str,
        groups: &[PreparedGroup],
        now: &str,
        counts: &mut GroupCounts,
    ) -> Result<(), StoreError> {
        let mut tx = sqlx::Connection::begin(&mut **conn).await?;
        let mut existing: HashMap<String, Vec<u8>> = HashMap::new();
        for chunk in groups.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new("SELECT ldap_uuid, content_hash FROM groups WHERE tenant = ");
            q.push_bind(tenant).push(" AND repository_id = ").push_bind(repo).push(" AND ldap_uuid IN (");
            let mut sep = q.separated(", ");
            for g in chunk {
                sep.push_bind(&g.uuid);
            }
            q.push(")");
            for row in q.build().fetch_all(&mut *tx).await? {
                existing.insert(row.get(0), row.get(1));
            }
        }
        for g in groups {
            counts.seen += 1;
            match existing.get(&g.uuid) {
                Some(h) if *h == g.hash => {
                    counts.unchanged += 1;
                    continue;
                }
                Some(_) => counts.updated += 1,
                None => counts.added += 1,
            }
            sqlx::query(
                "INSERT INTO groups (tenant, repository_id, ldap_uuid, name, ldap_dn, dn_key, content_hash, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, repository_id, ldap_uuid) DO UPDATE SET name = excluded.name, ldap_dn = excluded.ldap_dn, dn_key = excluded.dn_key, content_hash = excluded.content_hash, synced_at = excluded.synced_at",
            )
            .bind(tenant)
            .bind(repo)
            .bind(&g.uuid)
            .bind(&g.name)
            .bind(&g.dn)
            .bind(&g.dn_key)
            .bind(&g.hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM group_members WHERE tenant = ? AND repository_id = ? AND group_uuid = ?")
                .bind(tenant)
                .bind(repo)
                .bind(&g.uuid)
                .execute(&mut *tx)
                .await?;
            for chunk in g.member_keys.chunks(200) {
                let mut q = QueryBuilder::<Sqlite>::new(
                    "INSERT OR IGNORE INTO group_members (tenant, repository_id, group_uuid, member_key) ",
                );
                q.push_values(chunk, |mut b, key| {
                    b.push_bind(tenant).push_bind(repo).push_bind(&g.uuid).push_bind(key);
                });
                q.build().execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the groups a complete read did not return (`gone = false`) or
    /// the directory reported deleted (`gone = true`), with their memberships.
    pub async fn remove_groups(
        conn: &mut PoolConnection<Sqlite>,
        tenant: &str,
        repo: &str,
        gone: bool,
    ) -> Result<u64, StoreError> {
        let cond = if gone {
            "ldap_uuid IN (SELECT uuid FROM temp.group_gone)"
        } else {
            "ldap_uuid NOT IN (SELECT uuid FROM temp.group_seen)"
        };
        let mut tx = sqlx::Connection::begin(&mut **conn).await?;
        sqlx::query(&format!(
            "DELETE FROM group_members WHERE tenant = ?1 AND repository_id = ?2 AND group_uuid IN (SELECT ldap_uuid FROM groups WHERE tenant = ?1 AND repository_id = ?2 AND {cond})"
        ))
        .bind(tenant)
        .bind(repo)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query(&format!("DELETE FROM groups WHERE tenant = ?1 AND repository_id = ?2 AND {cond}"))
            .bind(tenant)
            .bind(repo)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

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
