//! Login benchmark against a private slapd with N users (default 10,000),
//! in one run: the raw baseline (a loop doing search + bind per login on
//! the same pools and concurrency, no HTTP) and logins through dirbridge's
//! HTTP endpoint, C concurrent clients (default 32) for S seconds (default
//! 30) each, 90 % good and 10 % wrong passwords spread over the users; then
//! the medians of wrong-password and unknown-user logins (one client, so no
//! queueing). Prints `key: value` lines; no pass or fail.
//! Run: scripts/bench-login.sh [--users N] [--clients C] [--seconds S]

use app::model::Vendor;
use app::port::Backend;
use devdir::ldif::{username, USER_PASSWORD};
use devdir::{Options, Slapd};
use dirbridge::ldap::bind_result::Verdict;
use dirbridge::ldap::login::{self as directory, Found};
use dirbridge::ldap::pool::{PoolKind, PoolSettings, Pools};
use dirbridge::ldap::Secrets;
use dirbridge::service::ServicePort;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Login `i` of the mix: which user, and whether with a wrong password. Each
/// user gets one wrong password in ten passes over the users, between good
/// ones (which clear the account's failures): exactly 10 % wrong, and the
/// per-account throttle never engages.
fn plan(i: u64, users: u64) -> (usize, bool) {
    let user = i % users;
    let pass = i / users;
    (user as usize, user % 10 == pass % 10)
}

fn password(wrong: bool) -> &'static str {
    if wrong {
        "not-the-password"
    } else {
        USER_PASSWORD
    }
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn fail(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }
}

fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let at = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    sorted_us[at] as f64 / 1000.0
}

fn repository(slapd: &Slapd) -> app::model::Repository {
    let mut r = app::presets::new_repository(Vendor::OpenLdap);
    r.id = "bench".into();
    r.name = "Bench".into();
    r.connection.servers = vec![slapd.ldap_url()];
    r.connection.bind_dn = Some(devdir::ADMIN_DN.into());
    r.connection.bind_password = Some(Some(devdir::ADMIN_PASSWORD.into()));
    r.users.base_dn = devdir::ldif::BASE_DN.into();
    r.users.users_dn = Some(format!("ou=People,{}", devdir::ldif::BASE_DN));
    r.groups.groups_dn = Some(format!("ou=Groups,{}", devdir::ldif::BASE_DN));
    r
}

/// The baseline: search + bind per login on the same pools, no HTTP.
async fn baseline(slapd: &Slapd, users: u64, clients: u64, seconds: u64) -> (u64, Tally) {
    let repo = Arc::new(repository(slapd));
    let pools = Pools::new(PoolSettings::default());
    let secrets = Secrets { bind_password: Some(devdir::ADMIN_PASSWORD.into()), ..Default::default() };
    let pools = pools.of("default", &repo, &secrets).expect("pools");
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (repo, pools, next, secrets) = (repo.clone(), pools.clone(), next.clone(), secrets.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let (user, wrong) = plan(next.fetch_add(1, Ordering::Relaxed), users);
                let started = Instant::now();
                let found = {
                    let mut conn = pools.get(PoolKind::Service).await.expect("service connection");
                    directory::find_user(&mut conn, &repo, &secrets, &username(user)).await
                };
                let Ok(Found::One(entry, _)) = found else {
                    tally.fail(format!("find {}: {found:?}", username(user)));
                    continue;
                };
                let verdict = {
                    let mut conn = pools.get(PoolKind::UserBind).await.expect("bind connection");
                    directory::bind_user(&mut conn, &repo, &entry.dn, password(wrong)).await
                };
                match (verdict, wrong) {
                    (Ok(Verdict::Accepted { .. }), false) | (Ok(Verdict::Refused { .. }), true) => {
                        tally.latencies_us.push(started.elapsed().as_micros() as u64)
                    }
                    (other, _) => tally.fail(format!("bind {}: {other:?}", username(user))),
                }
            }
            tally
        }));
    }
    let mut tally = Tally::default();
    for t in tasks {
        tally.merge(t.await.expect("client"));
    }
    (next.load(Ordering::Relaxed), tally)
}

/// One keep-alive HTTP/1.1 connection that posts logins.
struct Client {
    stream: BufReader<tokio::net::TcpStream>,
    token: String,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr, token: &str) -> Client {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Client { stream: BufReader::new(stream), token: token.into() }
    }

    async fn login(&mut self, username: &str, password: &str) -> std::io::Result<u16> {
        let body = serde_json::json!({ "username": username, "password": password }).to_string();
        let request = format!(
            "POST /api/v1/tenants/default/login HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            self.token,
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok(status)
    }
}

#[tokio::main]
async fn main() {
    let users = arg("--users", 10_000);
    let clients = arg("--clients", 32);
    let seconds = arg("--seconds", 30);
    let slapd = tokio::task::spawn_blocking(move || {
        Slapd::start(Options { users: users as usize, content_sync: false, ..Default::default() })
    })
    .await
    .expect("join")
    .expect("slapd starts");
    println!("users: {users}\nclients: {clients}\nseconds_each: {seconds}");

    let (attempts, base) = baseline(&slapd, users, clients, seconds).await;
    let baseline_per_s = base.latencies_us.len() as f64 / seconds as f64;
    let mut sorted = base.latencies_us.clone();
    sorted.sort_unstable();
    println!("baseline_per_s: {baseline_per_s:.0}");
    println!("baseline_p50_ms: {:.2}", percentile_ms(&sorted, 0.5));
    println!("baseline_p99_ms: {:.2}", percentile_ms(&sorted, 0.99));
    println!("baseline_errors: {} of {attempts}", base.errors);

    // dirbridge on a real socket, its default settings but for the address
    // throttle: every client here comes from 127.0.0.1.
    let data = tempfile::tempdir().expect("tempdir");
    let config = dirbridge::config::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_path_buf(),
        admin_password: Some("bench-admin".into()),
        login: dirbridge::config::LoginLimits { max_failures_per_address: 10_000_000, ..Default::default() },
        audit_retention_days: 365,
        metrics_listen: None,
    };
    let service = dirbridge::open(&config).await.expect("service");
    let port = ServicePort(service.clone());
    port.create_repository("default", repository(&slapd)).await.expect("repository");
    // The users are synced first, as in a deployment: a login then writes
    // only what changed in the entry (nothing here).
    let run = port.start_sync("default", "bench", Default::default()).await.expect("sync starts");
    loop {
        let r = port.sync_run("default", "bench", &run).await.expect("run");
        if r.state != "running" {
            println!("synced_users: {} ({})", r.counts.added, r.state);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = port.sign_in("admin", "bench-admin", None).await.expect("token").token;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let addr = listener.local_addr().expect("addr");
    let router = dirbridge::http::router(service.clone(), dirbridge::http::leptos_options(addr));
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
    });

    let rss = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let rss = rss.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(mut r) = rss.lock() {
                    r.push(status_mb("VmRSS:"));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, token) = (next.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr, &token).await;
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let (user, wrong) = plan(next.fetch_add(1, Ordering::Relaxed), users);
                let started = Instant::now();
                match client.login(&username(user), password(wrong)).await {
                    Ok(200) if !wrong => tally.latencies_us.push(started.elapsed().as_micros() as u64),
                    Ok(401) if wrong => tally.latencies_us.push(started.elapsed().as_micros() as u64),
                    other => tally.fail(format!("{} wrong={wrong}: {other:?}", username(user))),
                }
            }
            tally
        }));
    }
    let mut http = Tally::default();
    for t in tasks {
        http.merge(t.await.expect("client"));
    }
    sampler.abort();
    let logins_per_s = http.latencies_us.len() as f64 / seconds as f64;
    let mut sorted = http.latencies_us.clone();
    sorted.sort_unstable();
    println!("logins_per_s: {logins_per_s:.0}");
    println!("login_vs_baseline_ratio: {:.2}", logins_per_s / baseline_per_s.max(1.0));
    println!("p50_ms: {:.2}", percentile_ms(&sorted, 0.5));
    println!("p99_ms: {:.2}", percentile_ms(&sorted, 0.99));
    println!("errors: {}", http.errors + base.errors);
    if let Some(e) = http.first_error.or(base.first_error) {
        println!("first_error: {e}");
    }
    let samples = rss.lock().map(|r| r.clone()).unwrap_or_default();
    let third = (samples.len() / 3).max(1);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len().max(1) as f64;
    println!("rss_first_third_mb: {:.1}", mean(&samples[..third.min(samples.len())]));
    println!("rss_last_third_mb: {:.1}", mean(&samples[samples.len().saturating_sub(third)..]));

    // Wrong password and unknown user, interleaved, one at a time: each
    // account once, so no throttle; unknown names never exist.
    let mut client = Client::connect(addr, &token).await;
    let (mut wrong_us, mut unknown_us) = (Vec::new(), Vec::new());
    for k in 0..300usize {
        let user = username((k * 7919) % users as usize);
        let started = Instant::now();
        let status = client.login(&user, "still-not-the-password").await.expect("answer");
        wrong_us.push(started.elapsed().as_micros() as u64);
        assert_eq!(status, 401, "wrong password for {user}");
        let started = Instant::now();
        let status = client.login(&format!("nobody.{k}"), "still-not-the-password").await.expect("answer");
        unknown_us.push(started.elapsed().as_micros() as u64);
        assert_eq!(status, 401, "unknown user");
    }
    wrong_us.sort_unstable();
    unknown_us.sort_unstable();
    println!("p50_wrong_password_ms: {:.2}", percentile_ms(&wrong_us, 0.5));
    println!("p50_unknown_user_ms: {:.2}", percentile_ms(&unknown_us, 0.5));
    println!("peak_rss_mb: {:.1}", status_mb("VmHWM:"));
}
