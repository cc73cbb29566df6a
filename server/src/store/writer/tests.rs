//! The writer's tests, on temp store files.

use super::checkpoint::CHECKPOINT_EVERY;
use super::groups::MERGED_MEMBERS_MAX;
use super::*;
use crate::store::keys::StoredKey;
use crate::store::keys::UuidKey;
use crate::store::rows::{MemberKeys, PreparedGroup, PreparedUser, Removal, SeenPlaces};
use app::model::GroupCounts;
use rusqlite::Connection;
use std::path::Path;

/// A store in a file of a temp dir (kept while the dir is).
async fn store() -> (tempfile::TempDir, crate::store::Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::store::Store::open_file(&dir.path().join("s.db")).await.expect("store");
    (dir, store)
}

/// Rows of `t` in the database file alone, as if the WAL were lost:
/// what has been checkpointed.
fn rows_in_file(path: &Path, dir: &Path) -> i64 {
    let copy = dir.join("copy.db");
    std::fs::copy(path, &copy).expect("copy");
    let conn = Connection::open(&copy).expect("open copy");
    let rows = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
    drop(conn);
    let _ = std::fs::remove_file(&copy);
    let _ = std::fs::remove_file(dir.join("copy.db-wal"));
    rows
}

fn write_rows(path: &Path, background_checkpoints: bool) -> Writer {
    let mut bulk = Writer::open(path, background_checkpoints).expect("bulk");
    bulk.begin().expect("begin");
    for i in 0..1000 {
        bulk.conn.execute("INSERT INTO t (x) VALUES (?1)", [i]).expect("insert");
    }
    bulk.commit().expect("commit");
    bulk
}

#[test]
fn a_run_writer_checkpoints_in_the_background() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.db");
    // Another connection stays open, as the server's pool does: the last
    // connection to close would checkpoint by itself.
    let pool = Connection::open(&path).expect("open");
    pool.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);").expect("schema");
    pool.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint the schema");

    // Without a checkpointer a small run stays in the WAL.
    let plain = write_rows(&path, false);
    assert_eq!(rows_in_file(&path, dir.path()), 0);
    drop(plain);

    // With one, the rows reach the database file while the writer is
    // still open (waits for the checkpointer's next rounds).
    let run = write_rows(&path, true);
    let mut rows = 0;
    for _ in 0..100 {
        rows = rows_in_file(&path, dir.path());
        if rows == 2000 {
            break;
        }
        std::thread::sleep(CHECKPOINT_EVERY / 5);
    }
    assert_eq!(rows, 2000);
    drop(run);
    assert_eq!(pool.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).expect("count"), 2000);
}

/// Frames in the WAL since it was last restarted.
fn wal_frames(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1)).expect("checkpoint")
}

/// A run starts on a restarted WAL: the next write starts it from the
/// beginning instead of appending to what earlier writes left.
#[test]
fn a_run_starts_on_a_restarted_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.db");
    let pool = Connection::open(&path).expect("open");
    pool.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x INTEGER);")
        .expect("schema");
    let write_one = |conn: &Connection| conn.execute("INSERT INTO t (x) VALUES (1)", []).expect("insert");
    for restart in [false, true] {
        let mut earlier = Writer::open(&path, false).expect("bulk");
        earlier.conn.execute_batch("PRAGMA wal_autocheckpoint = 0;").expect("no autocheckpoint");
        earlier.begin().expect("begin");
        for i in 0..3000 {
            earlier.conn.execute("INSERT INTO t (x) VALUES (?1)", [i]).expect("insert");
        }
        earlier.commit().expect("commit");
        drop(earlier);
        let mut next = Writer::open(&path, false).expect("bulk");
        if restart {
            assert!(next.restart_wal().expect("restart"));
        }
        write_one(&next.conn);
        // (Counting the frames checkpoints them: only once per round.)
        let frames = wal_frames(&pool);
        if restart {
            assert!(frames <= 2, "restarted: {frames} frames");
        } else {
            assert!(frames > 5, "appended: {frames} frames");
        }
        // Start the next round from an empty WAL.
        pool.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("truncate");
    }
}

#[tokio::test]
async fn group_members_are_written_exactly_whatever_their_characters() {
    let (_dir, store) = store().await;
    let mut bulk = store.run_writer().expect("writer");
    let keys = ["cn=o\"brien,dc=x", "cn=back\\slash\\2c,dc=x", "uid=zoë,dc=x", "uid=a\nb", "uid=tab\t"];
    let group = PreparedGroup {
        uuid: "g1".into(),
        name: "g".into(),
        dn: "cn=g,dc=x".into(),
        dn_key: "cn=g,dc=x".into(),
        members: MemberKeys::new(keys.iter().chain(&keys[..2]).map(|k| k.to_string()).collect()),
        hash: vec![1],
        source_hash: None,
    };
    let mut counts = GroupCounts::default();
    bulk.begin().expect("begin");
    bulk.write_groups("t", "r", std::slice::from_ref(&group), "now", &mut counts).expect("write");
    bulk.commit().expect("commit");
    let mut stored: Vec<String> = bulk
        .conn
        .prepare(
            "SELECT member_key FROM group_members m JOIN groups g ON g.id = m.group_id WHERE g.tenant = 't' AND g.repository_id = 'r' AND g.ldap_uuid = 'g1'",
        )
        .expect("query")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("keys");
    stored.sort();
    let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    want.sort();
    assert_eq!(stored, want);
    assert_eq!((counts.seen, counts.added), (1, 1));
}

/// The member keys stored for group `uuid` of repository `r`, and its count.
fn members_of(bulk: &Writer, uuid: &str) -> (Vec<String>, i64) {
    let keys = bulk
        .conn
        .prepare(
            "SELECT member_key FROM group_members m JOIN groups g ON g.id = m.group_id WHERE g.tenant = 't' AND g.repository_id = 'r' AND g.ldap_uuid = ?1 ORDER BY 1",
        )
        .expect("query")
        .query_map([uuid], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("keys");
    let count = bulk
        .conn
        .query_row("SELECT member_count FROM groups WHERE ldap_uuid = ?1", [uuid], |r| r.get(0))
        .optional()
        .expect("count")
        .unwrap_or(-1);
    (keys, count)
}

/// A group that changes writes the difference from its stored member
/// list, not all its members again; a group that goes takes exactly its
/// member rows with it.
#[tokio::test]
async fn a_changed_group_writes_only_its_difference() {
    let (_dir, store) = store().await;
    let group = |uuid: &str, hash: u8, keys: &mut dyn Iterator<Item = String>| PreparedGroup {
        uuid: uuid.into(),
        name: uuid.into(),
        dn: format!("cn={uuid},dc=x"),
        dn_key: format!("cn={uuid},dc=x"),
        members: MemberKeys::new(keys.collect()),
        hash: vec![hash],
        source_hash: None,
    };
    let big = group("big", 1, &mut (0..1000).map(|i| format!("uid=u{i:04}")));
    let other = group("other", 1, &mut ["uid=u0001".to_string(), "uid=x".to_string()].into_iter());
    let mut bulk = store.run_writer().expect("writer");
    let mut counts = GroupCounts::default();
    bulk.begin().expect("begin");
    bulk.write_groups("t", "r", &[big, other.clone()], "now", &mut counts).expect("write");
    bulk.commit().expect("commit");

    // One member leaves, one joins.
    let changed = group("big", 2, &mut (1..1000).map(|i| format!("uid=u{i:04}")).chain(["uid=new".to_string()]));
    let before = bulk.conn.total_changes();
    bulk.begin().expect("begin");
    bulk.write_groups("t", "r", std::slice::from_ref(&changed), "now", &mut counts).expect("rewrite");
    bulk.commit().expect("commit");
    // The group's row, one delete, one insert (this writer has marked it
    // seen already).
    assert_eq!(bulk.conn.total_changes() - before, 3);
    let (keys, count) = members_of(&bulk, "big");
    assert_eq!(keys, changed.members.iter().map(String::from).collect::<Vec<_>>());
    assert_eq!((keys.len(), count), (1000, 1000));
    assert_eq!(members_of(&bulk, "other"), (vec!["uid=u0001".to_string(), "uid=x".to_string()], 2));
    drop(bulk);

    // A complete read that sees only "other": "big" goes, with its rows only.
    let mut bulk = store.run_writer().expect("writer");
    bulk.begin().expect("begin");
    bulk.write_groups("t", "r", std::slice::from_ref(&other), "now", &mut counts).expect("write");
    assert_eq!(bulk.remove_groups("t", "r", false).expect("remove"), 1);
    assert_eq!(members_of(&bulk, "big"), (vec![], -1));
    assert_eq!(members_of(&bulk, "other"), (vec!["uid=u0001".to_string(), "uid=x".to_string()], 2));
    let rows: i64 = bulk.conn.query_row("SELECT count(*) FROM group_members", [], |r| r.get(0)).expect("rows");
    assert_eq!(rows, 2);
}

/// New groups' member rows are all written whichever way they go: a
/// big group's from its own keys, the others' merged in key order.
#[tokio::test]
async fn new_groups_big_and_small_get_every_member_row() {
    let (_dir, store) = store().await;
    let group = |uuid: &str, keys: Vec<String>| PreparedGroup {
        uuid: uuid.into(),
        name: uuid.into(),
        dn: format!("cn={uuid},dc=x"),
        dn_key: format!("cn={uuid},dc=x"),
        members: MemberKeys::new(keys),
        hash: vec![1],
        source_hash: None,
    };
    let big: Vec<String> = (0..=MERGED_MEMBERS_MAX).map(|i| format!("uid=u{i:06}")).collect();
    let small = |from: usize| (from..from + 70).map(|i| format!("uid=u{i:06}")).collect::<Vec<_>>();
    let groups = [group("a", small(5)), group("big", big.clone()), group("b", small(0)), group("c", small(100))];
    let mut bulk = store.run_writer().expect("writer");
    let mut counts = GroupCounts::default();
    bulk.begin().expect("begin");
    bulk.write_groups("t", "r", &groups, "now", &mut counts).expect("write");
    bulk.commit().expect("commit");
    assert_eq!(members_of(&bulk, "big"), (big, (MERGED_MEMBERS_MAX + 1) as i64));
    for (uuid, from) in [("a", 5), ("b", 0), ("c", 100)] {
        assert_eq!(members_of(&bulk, uuid), (small(from), 70), "{uuid}");
    }
    let rows: i64 = bulk.conn.query_row("SELECT count(*) FROM group_members", [], |r| r.get(0)).expect("rows");
    assert_eq!(rows, (MERGED_MEMBERS_MAX + 1 + 3 * 70) as i64);
}

/// Groups an older release stored with a SHA-256 hash (32 bytes) are
/// not all counted as updated by the first run after an upgrade: one
/// with the same content is unchanged and hashed anew, one whose content
/// changed is updated.
#[tokio::test]
async fn groups_hashed_by_an_older_release_are_compared_by_content() {
    let (_dir, store) = store().await;
    let group = |uuid: &str, hash: Vec<u8>, keys: &[&str]| PreparedGroup {
        uuid: uuid.into(),
        name: uuid.into(),
        dn: format!("cn={uuid},dc=x"),
        dn_key: format!("cn={uuid},dc=x"),
        members: MemberKeys::new(keys.iter().map(|k| k.to_string()).collect()),
        hash,
        source_hash: None,
    };
    let mut bulk = store.run_writer().expect("writer");
    let mut counts = GroupCounts::default();
    let old = [group("same", vec![7; 32], &["uid=a", "uid=b"]), group("changed", vec![7; 32], &["uid=a"])];
    bulk.begin().expect("begin");
    bulk.write_groups("t", "r", &old, "then", &mut counts).expect("write");
    bulk.commit().expect("commit");

    let mut counts = GroupCounts::default();
    let new = [group("same", vec![9; 16], &["uid=b", "uid=a"]), group("changed", vec![9; 16], &["uid=a", "uid=c"])];
    bulk.begin().expect("begin");
    bulk.write_groups("t", "r", &new, "now", &mut counts).expect("rewrite");
    bulk.commit().expect("commit");
    assert_eq!((counts.seen, counts.unchanged, counts.updated, counts.added), (2, 1, 1, 0));
    let hash_of = |uuid: &str| -> Vec<u8> {
        bulk.conn.query_row("SELECT content_hash FROM groups WHERE ldap_uuid = ?1", [uuid], |r| r.get(0)).expect("hash")
    };
    assert_eq!((hash_of("same"), hash_of("changed")), (vec![9; 16], vec![9; 16]));
    assert_eq!(members_of(&bulk, "changed"), (vec!["uid=a".to_string(), "uid=c".to_string()], 2));
    assert_eq!(members_of(&bulk, "same"), (vec!["uid=a".to_string(), "uid=b".to_string()], 2));
}

fn user(uuid: &str, username: &str, enabled: bool) -> PreparedUser {
    crate::store::rows::PreparedUser::of(app::model::User {
        ldap_uuid: uuid.into(),
        username: username.into(),
        ldap_dn: format!("uid={uuid},dc=x"),
        enabled,
        ..Default::default()
    })
}

/// A complete read's removal takes exactly the users seen neither at a
/// place in read order nor in the seen-set, places or not (users stored
/// before read order was kept have none), canonical UUIDs or not.
#[tokio::test]
async fn unseen_users_are_those_seen_neither_by_place_nor_by_uuid() {
    let (_dir, store) = store().await;
    let uuid =
        |i: usize| if i.is_multiple_of(2) { format!("00000000-0000-4000-8000-{i:012}") } else { format!("u{i}") };
    let users: Vec<PreparedUser> = (1..=7).map(|i| user(&uuid(i), &format!("user{i}"), true)).collect();
    let mut bulk = store.run_writer().expect("writer");
    bulk.write_batch("t", "r", &users, "now", 0, true).expect("import");
    bulk.commit().expect("commit");
    let place = |bulk: &Writer, i: usize| -> Option<i64> {
        bulk.conn
            .query_row("SELECT seq FROM users WHERE ldap_uuid = ?1", [UuidKey::of(&uuid(i))], |r| r.get(0))
            .expect("seq")
    };
    bulk.conn.execute("UPDATE users SET seq = NULL WHERE seq >= ?1", [place(&bulk, 6)]).expect("no places");
    drop(bulk);
    // The next run saw 1 and 3 by place, 2 and 6 by UUID; 4, 5 and 7 are gone.
    let mut run = store.run_writer().expect("writer");
    let mut seen = SeenPlaces::default();
    for i in [1, 3] {
        seen.insert(place(&run, i).expect("a place"));
    }
    run.mark_seen(&[uuid(2), uuid(6)]).expect("seen");
    let missing = run.find_removable("t", "r", Removal::Unseen, false, &seen).expect("find");
    assert_eq!((missing.stored, missing.to_remove), (7, 3));
    let (n, changes) = run.remove_users("t", "r", Removal::Unseen, true, "now", 10).expect("remove");
    assert_eq!(n, 3);
    let mut removed: Vec<String> = changes.into_iter().map(|c| c.username).collect();
    removed.sort();
    assert_eq!(removed, ["user4", "user5", "user7"]);
    let left: i64 = run.conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0)).expect("count");
    assert_eq!(left, 4);
    assert!(!SeenPlaces::fits(0) && !SeenPlaces::fits(SeenPlaces::LIMIT) && SeenPlaces::fits(1));
    assert!(!seen.contains(2) && !seen.contains(-1) && !seen.contains(SeenPlaces::LIMIT + 1));
}

#[tokio::test]
async fn a_username_stays_with_the_enabled_user_that_has_it() {
    let (_dir, store) = store().await;
    let mut bulk = store.run_writer().expect("writer");
    let mut write = |users: Vec<PreparedUser>| {
        let out = bulk.write_batch("t", "r", &users, "now", 10, false).expect("write");
        bulk.commit().expect("commit");
        (out.added, out.updated, out.refused.iter().map(|e| e.dn.clone()).collect::<Vec<_>>())
    };
    // Within a batch and across batches, in any case: the first keeps it.
    assert_eq!(write(vec![user("a", "bob", true), user("b", "BOB", true)]), (1, 0, vec!["uid=b,dc=x".into()]));
    assert_eq!(write(vec![user("b", "Bob", true)]), (0, 0, vec!["uid=b,dc=x".into()]));
    // A rename onto a taken name is refused and changes nothing; renaming
    // in case only is not a conflict with oneself.
    assert_eq!(write(vec![user("c", "carol", true)]), (1, 0, vec![]));
    assert_eq!(write(vec![user("c", "bob", true)]), (0, 0, vec!["uid=c,dc=x".into()]));
    assert_eq!(write(vec![user("a", "BoB", true)]), (0, 1, vec![]));
    // A disabled holder does not keep it; re-enabled, it cannot take it back.
    assert_eq!(write(vec![user("a", "BoB", false)]), (0, 1, vec![]));
    assert_eq!(write(vec![user("b", "bob", true)]), (1, 0, vec![]));
    assert_eq!(write(vec![user("a", "BoB", true)]), (0, 0, vec!["uid=a,dc=x".into()]));
    let names: Vec<(String, String, bool)> = bulk
        .conn
        .prepare("SELECT ldap_uuid, username, enabled FROM users ORDER BY ldap_uuid")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("users");
    let want = [("a", "BoB", false), ("b", "bob", true), ("c", "carol", true)];
    assert_eq!(names, want.map(|(u, n, e)| (u.to_string(), n.to_string(), e)));
}

/// An import looks a username up only when its filter may have seen it:
/// the duplicates are still refused, in a batch and across batches.
#[tokio::test]
async fn an_import_refuses_duplicate_usernames_too() {
    let (_dir, store) = store().await;
    let mut bulk = store.run_writer().expect("writer");
    let mut write = |users: Vec<PreparedUser>| {
        let out = bulk.write_batch("t", "r", &users, "now", 0, true).expect("write");
        (out.added, out.refused.iter().map(|e| e.dn.clone()).collect::<Vec<_>>())
    };
    let many: Vec<PreparedUser> = (0..2000).map(|i| user(&format!("u{i}"), &format!("user{i}"), true)).collect();
    assert_eq!(write(many), (2000, vec![]));
    assert_eq!(write(vec![user("a", "alice", true), user("b", "ALICE", true)]), (1, vec!["uid=b,dc=x".into()]));
    assert_eq!(write(vec![user("c", "User7", true), user("d", "dora", true)]), (1, vec!["uid=c,dc=x".into()]));
    bulk.commit().expect("commit");
}

/// An import (no lookups by UUID, names checked through the filter)
/// writes every user whole and in read order, and refuses a duplicate
/// name within its batch.
#[tokio::test]
async fn an_import_writes_every_user_whole_and_in_read_order() {
    let (_dir, store) = store().await;
    let mut bulk = store.run_writer().expect("writer");
    let mut users: Vec<PreparedUser> =
        (0..100).map(|i| user(&format!("u{i:03}"), &format!("user{i}"), i % 7 != 0)).collect();
    users[70] = user("u070", "USER66", true);
    users[20].source_hash = Some([7; 16]);
    let out = bulk.write_batch("t", "r", &users, "now", 0, true).expect("write");
    assert_eq!((out.added, out.refused.len()), (99, 1));
    assert_eq!(out.refused[0].dn, "uid=u070,dc=x");
    bulk.commit().expect("commit");
    type Row = (String, String, String, bool, String, Vec<u8>, Option<Vec<u8>>, i64);
    let stored: Vec<Row> = bulk
        .conn
        .prepare("SELECT ldap_uuid, username, ldap_dn, enabled, body, content_hash, source_hash, seq FROM users WHERE scope = (SELECT id FROM user_scopes WHERE tenant = 't' AND repository_id = 'r') ORDER BY seq")
        .expect("query")
        .query_map([], |r| Ok((r.get::<_, StoredKey>(0)?.into_text(), r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("users");
    let want: Vec<Row> = users
        .iter()
        .filter(|p| p.ldap_uuid != "u070")
        .map(|p| {
            let source = p.source_hash.map(|h| h.to_vec());
            (
                p.ldap_uuid.clone(),
                p.username.clone(),
                p.ldap_dn.clone(),
                p.enabled,
                p.body.clone(),
                p.hash.to_vec(),
                source,
                0,
            )
        })
        .collect();
    let first_seq = stored.first().map(|r| r.7).unwrap_or_default();
    let unseq = |rows: Vec<Row>| rows.into_iter().map(|r| (r.0, r.1, r.2, r.3, r.4, r.5, r.6)).collect::<Vec<_>>();
    let seqs: Vec<i64> = stored.iter().map(|r| r.7 - first_seq).collect();
    assert_eq!(unseq(stored), unseq(want));
    assert_eq!(seqs, (0..99).collect::<Vec<i64>>());
}

/// A user read twice in one import (an entry moved while the directory
/// was read) is one row with the values read last, and every other user
/// is written.
#[tokio::test]
async fn an_import_that_reads_a_user_twice_keeps_the_later_values() {
    let (_dir, store) = store().await;
    let mut bulk = store.run_writer().expect("writer");
    let mut users: Vec<PreparedUser> = (0..96).map(|i| user(&format!("u{i:03}"), &format!("user{i}"), true)).collect();
    users[40] = user("u005", "renamed5", true);
    users[45] = user("u041", "moved", true);
    let out = bulk.write_batch("t", "r", &users, "now", 0, true).expect("write");
    assert!(out.refused.is_empty(), "{:?}", out.refused);
    bulk.commit().expect("commit");
    let stored: Vec<(String, String)> = bulk
        .conn
        .prepare("SELECT ldap_uuid, username FROM users ORDER BY seq")
        .expect("query")
        .query_map([], |r| Ok((r.get::<_, StoredKey>(0)?.into_text(), r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("users");
    let mut want: Vec<(String, String)> =
        (0..96).filter(|&i| i != 40 && i != 45).map(|i| (format!("u{i:03}"), format!("user{i}"))).collect();
    want[5].1 = "renamed5".into();
    want[40].1 = "moved".into();
    assert_eq!(stored, want);
}

#[test]
fn the_import_filter_knows_every_name_it_recorded_in_any_case() {
    let mut names = NamesWritten::new();
    assert!(!names.insert("Anna"));
    assert!(names.insert("anna"));
    assert!(names.insert("ANNA"));
    let fresh = (0..10_000).filter(|i| !names.insert(&format!("name{i}"))).count();
    // Nearly every new name is new to the filter (no lookup for it).
    assert!(fresh > 9_990, "{fresh}");
    assert!((0..10_000).all(|i| names.insert(&format!("NAME{i}"))));
}
