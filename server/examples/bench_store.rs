//! Store-only benchmark: writes N prepared users in batches through the same
//! code a sync uses, without a directory. Prints `key: value` lines.
use dirbridge::store::Store;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_file(&dir.path().join("b.db")).await.expect("store");
    let now = "2026-01-01T00:00:00Z";
    if let Ok(list) = std::env::var("DROP_INDEXES") {
        for i in list.split(',').filter(|i| !i.is_empty()) {
            sqlx::query(&format!("DROP INDEX {i}")).execute(store.pool()).await.expect("drop");
        }
    }
    let users: Vec<_> = (0..n)
        .map(|i| {
            let mut u = app::model::User {
                repository_id: "r".into(),
                username: format!("user{i}"),
                ldap_dn: format!("uid=user{i},ou=People,dc=example,dc=org"),
                // Directory UUIDs arrive in no particular order.
                ldap_uuid: {
                    let r = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    format!("{:08x}-0000-1000-8000-{:012x}", r >> 32, r & 0xffff_ffff_ffff)
                },
                email: Some(format!("user{i}@example.org")),
                first_name: Some("First".into()),
                last_name: Some("Last".into()),
                display_name: Some("First Last".into()),
                enabled: true,
                ..Default::default()
            };
            for a in ["title", "phone", "department", "employeeNumber", "preferredLanguage"] {
                u.attributes.insert(a.into(), vec![format!("value of {a} for {i}")]);
            }
            u.id = format!("r:{}", u.ldap_uuid);
            dirbridge::store::rows::PreparedUser::of(u)
        })
        .collect();
    // An import (into an empty repository: no lookups, no seen-set), then
    // a complete read that finds everything unchanged.
    for (pass, import) in [("insert", true), ("unchanged", false)] {
        let mut conn = store.bulk().expect("conn");
        let t = Instant::now();
        let mut seen_t = 0.0;
        for batch in users.chunks(1000) {
            if !import {
                let uuids: Vec<String> = batch.iter().map(|p| p.ldap_uuid.clone()).collect();
                let s = Instant::now();
                conn.mark_seen(&uuids).expect("seen");
                seen_t += s.elapsed().as_secs_f64();
            }
            conn.write_batch("default", "r", batch, now, 0, import).expect("write");
        }
        conn.commit().expect("commit");
        println!("{pass}_s: {:.3} (mark_seen {seen_t:.3})", t.elapsed().as_secs_f64());
    }
}
