//! How the users table keys its rows (migration 0009): by an integer scope
//! per (tenant, repository) and by the user's UUID, as its 16 bytes when it
//! is a canonical UUID and as text otherwise. The same UUID text always
//! becomes the same key, and a key always reads back as that text.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Sqlite, TypeInfo, ValueRef};
use std::borrow::Cow;

/// A user's UUID as the users table (and a run's seen-sets) store it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UuidKey<'a> {
    /// A canonical UUID: 36 characters, lower-case hex digits and dashes.
    Bytes([u8; 16]),
    /// Any other UUID text (the UUID attribute can be configured freely).
    Text(&'a str),
}

impl<'a> UuidKey<'a> {
    pub fn of(uuid: &'a str) -> UuidKey<'a> {
        parse_canonical(uuid.as_bytes()).map_or(UuidKey::Text(uuid), UuidKey::Bytes)
    }
}

/// The 16 bytes of a canonical UUID (only that form: upper-case digits
/// would not read back as the same text). Read for every entry of a sync.
fn parse_canonical(text: &[u8]) -> Option<[u8; 16]> {
    let text: &[u8; 36] = text.try_into().ok()?;
    if [text[8], text[13], text[18], text[23]] != [b'-'; 4] {
        return None;
    }
    /// Where each byte's two digits start.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let digit = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    };
    let mut bytes = [0u8; 16];
    for (byte, at) in bytes.iter_mut().zip(AT) {
        *byte = (digit(text[at])? << 4) | digit(text[at + 1])?;
    }
    Some(bytes)
}

/// A UUID key read from the users table (or a run's seen-sets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredKey {
    Bytes([u8; 16]),
    Text(String),
    /// Bytes of another length, which this code never writes.
    Other(Vec<u8>),
}

impl StoredKey {
    fn of(bytes: &[u8], is_text: bool) -> StoredKey {
        match (is_text, <[u8; 16]>::try_from(bytes)) {
            (true, _) => StoredKey::Text(String::from_utf8_lossy(bytes).into_owned()),
            (false, Ok(b)) => StoredKey::Bytes(b),
            (false, Err(_)) => StoredKey::Other(bytes.to_vec()),
        }
    }

    /// Whether it is the key of that UUID (compared without formatting it).
    pub fn is(&self, key: &UuidKey) -> bool {
        match (self, key) {
            (StoredKey::Bytes(a), UuidKey::Bytes(b)) => a == b,
            (StoredKey::Text(a), UuidKey::Text(b)) => a == b,
            _ => false,
        }
    }

    /// The UUID's text (bytes of another length in hex).
    pub fn into_text(self) -> String {
        match self {
            StoredKey::Bytes(b) => {
                let hex = hex::encode(b);
                format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
            }
            StoredKey::Text(text) => text,
            StoredKey::Other(bytes) => hex::encode(bytes),
        }
    }
}

impl rusqlite::ToSql for UuidKey<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef as Value};
        Ok(ToSqlOutput::Borrowed(match self {
            UuidKey::Bytes(bytes) => Value::Blob(bytes),
            UuidKey::Text(text) => Value::Text(text.as_bytes()),
        }))
    }
}

impl rusqlite::types::FromSql for StoredKey {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        use rusqlite::types::{FromSqlError, ValueRef as Value};
        match value {
            Value::Blob(bytes) => Ok(StoredKey::of(bytes, false)),
            Value::Text(text) => Ok(StoredKey::of(text, true)),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

impl sqlx::Type<Sqlite> for UuidKey<'_> {
    fn type_info() -> SqliteTypeInfo {
        <&[u8] as sqlx::Type<Sqlite>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, Sqlite> for UuidKey<'q> {
    fn encode_by_ref(&self, args: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        args.push(match *self {
            UuidKey::Bytes(bytes) => SqliteArgumentValue::Blob(Cow::Owned(bytes.to_vec())),
            UuidKey::Text(text) => SqliteArgumentValue::Text(Cow::Borrowed(text)),
        });
        Ok(IsNull::No)
    }
}

impl sqlx::Type<Sqlite> for StoredKey {
    fn type_info() -> SqliteTypeInfo {
        <&[u8] as sqlx::Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <&[u8] as sqlx::Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Sqlite> for StoredKey {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let is_text = value.type_info().name() == "TEXT";
        Ok(StoredKey::of(<&[u8] as sqlx::Decode<Sqlite>>::decode(value)?, is_text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uuids_are_16_bytes_anything_else_text() {
        let uuid = "5c7b2a3e-1111-4e3b-9c1d-0242ac120002";
        let UuidKey::Bytes(bytes) = UuidKey::of(uuid) else { panic!("bytes") };
        assert_eq!(bytes[..4], [0x5c, 0x7b, 0x2a, 0x3e]);
        assert_eq!(StoredKey::Bytes(bytes).into_text(), uuid);
        assert!(StoredKey::Bytes(bytes).is(&UuidKey::of(uuid)));
        for other in [
            "5C7B2A3E-1111-4E3B-9C1D-0242AC120002",
            "5c7b2a3e11114e3b9c1d0242ac120002",
            "5c7b2a3e-1111-4e3b-9c1d-0242ac12000g",
            "5c7b2a3e-1111-4e3b-9c1d+0242ac120002",
            "5c7b2a3e-1111-4e3b-9c1d-0242ac1200022",
            "alice",
            "",
        ] {
            assert_eq!(UuidKey::of(other), UuidKey::Text(other));
            assert!(StoredKey::Text(other.into()).is(&UuidKey::of(other)));
            assert!(!StoredKey::Bytes(bytes).is(&UuidKey::of(other)));
        }
    }

    /// Keys go in and come out of both drivers as the same text, and the
    /// two forms never equal each other in SQL.
    #[tokio::test]
    async fn keys_read_back_as_their_text_through_both_drivers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.db");
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch("CREATE TABLE k (uuid PRIMARY KEY) WITHOUT ROWID").expect("table");
        let uuids = ["5c7b2a3e-1111-4e3b-9c1d-0242ac120002", "5C7B2A3E-1111-4E3B-9C1D-0242AC120002", "alice"];
        for uuid in uuids {
            conn.execute("INSERT INTO k VALUES (?1)", [UuidKey::of(uuid)]).expect("insert");
        }
        let types: Vec<String> = conn
            .prepare("SELECT typeof(uuid) FROM k ORDER BY uuid")
            .expect("query")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("types");
        assert_eq!(types, ["text", "text", "blob"]);
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.expect("pool");
        for uuid in uuids {
            let by_rusqlite: StoredKey =
                conn.query_row("SELECT uuid FROM k WHERE uuid = ?1", [UuidKey::of(uuid)], |r| r.get(0)).expect("row");
            let by_sqlx: StoredKey = sqlx::query_scalar("SELECT uuid FROM k WHERE uuid = ?")
                .bind(UuidKey::of(uuid))
                .fetch_one(&pool)
                .await
                .expect("row");
            assert!(by_rusqlite.is(&UuidKey::of(uuid)));
            assert_eq!((by_rusqlite.into_text(), by_sqlx.into_text()), (uuid.to_string(), uuid.to_string()));
        }
    }

    /// Migration 0009 moves every user to its scope and key, keeps every
    /// column, and its SQL picks exactly the UUIDs `UuidKey` stores as bytes.
    #[tokio::test]
    async fn compact_user_keys_keep_every_user() {
        use crate::store::test_support::{migrated_up_to, MIGRATIONS};
        let pool = migrated_up_to(8).await;
        let users = [
            ("t", "a", "5c7b2a3e-1111-4e3b-9c1d-0242ac120002", "anna", Some(1)),
            ("t", "a", "5C7B2A3E-1111-4E3B-9C1D-0242AC120003", "bob", Some(2)),
            ("t", "b", "5c7b2a3e-1111-4e3b-9c1d-0242ac120002", "anna", None),
            ("u", "a", "carol", "carol", Some(7)),
            ("u", "a", "5c7b2a3e11114e3b9c1d0242ac120004", "dave", Some(8)),
        ];
        for (tenant, repo, uuid, name, seq) in users {
            sqlx::query("INSERT INTO users (tenant, repository_id, ldap_uuid, username, ldap_dn, enabled, body, content_hash, synced_at, source_hash, seq) VALUES (?, ?, ?, ?, ?, 1, '{}', x'01', 'then', x'02', ?)")
                .bind(tenant)
                .bind(repo)
                .bind(uuid)
                .bind(name)
                .bind(format!("uid={name}"))
                .bind(seq)
                .execute(&pool)
                .await
                .expect("old user");
        }
        sqlx::raw_sql(MIGRATIONS[8]).execute(&pool).await.expect("migration 0009");
        for (tenant, repo, uuid, name, seq) in users {
            let row: (String, String, Option<i64>, Vec<u8>, Vec<u8>, String) = sqlx::query_as(
                "SELECT username, ldap_dn, seq, content_hash, source_hash, synced_at FROM users WHERE scope = (SELECT id FROM user_scopes WHERE tenant = ? AND repository_id = ?) AND ldap_uuid = ?",
            )
            .bind(tenant)
            .bind(repo)
            .bind(UuidKey::of(uuid))
            .fetch_one(&pool)
            .await
            .expect("migrated user");
            assert_eq!(row, (name.into(), format!("uid={name}"), seq, vec![1], vec![2], "then".into()), "{uuid}");
        }
        let keys: Vec<(String, StoredKey)> =
            sqlx::query_as("SELECT typeof(ldap_uuid), ldap_uuid FROM users ORDER BY rowid")
                .fetch_all(&pool)
                .await
                .expect("keys");
        let want = ["blob", "text", "blob", "text", "text"];
        assert_eq!(keys.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), want);
        let texts: Vec<String> = keys.into_iter().map(|(_, k)| k.into_text()).collect();
        assert_eq!(texts, users.map(|u| u.2.to_string()));
        let scopes: i64 =
            sqlx::query_scalar("SELECT count(*) FROM user_scopes").fetch_one(&pool).await.expect("scopes");
        assert_eq!(scopes, 3);
    }
}
