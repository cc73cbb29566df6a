//! Sync benchmark: loads N users (and groups) into a fresh private slapd, then
//! measures in the same run the raw baseline (a paged `ldapsearch` dump of the
//! same entries and attributes to /dev/null, best of three), a full sync into
//! an empty store (best of `--full-runs`, default 3, each into a store of its
//! own), a full re-sync with nothing changed (best of two), and a changed sync
//! after changing 1% of the users (best of two rounds); prints `key: value`
//! lines, with every run's time beside the best. Run: scripts/bench-sync.sh
//! [--users N] [--groups N] [--page-size N] [--full-runs N] [--changed-rounds N]
//! [--live-heap].

use app::model::{SyncMode, SyncRequest, SyncRun, Vendor};
use app::port::Backend;
use devdir::{Options, Slapd};
use dirbridge::service::ServicePort;
use std::alloc::{GlobalAlloc, Layout};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

// The same allocator as the dirbridge binary; with `--live-heap` it also
// counts the bytes allocated and not yet freed (what the process holds, as
// opposed to what the allocator keeps resident), at a small cost per call.
#[global_allocator]
static GLOBAL: Counting = Counting;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
// Signed: blocks allocated before counting began may be freed after.
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK_LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed on to mimalloc unchanged; the counters only
// observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted_alloc(layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted_alloc(layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
            counted_alloc(new_size);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

fn counted_alloc(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        let size = size as isize;
        let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        PEAK_LIVE.fetch_max(live, Ordering::Relaxed);
    }
}

/// Peak live heap since the last reset, in MB (None unless `--live-heap`).
fn peak_live_mb() -> Option<f64> {
    COUNTING.load(Ordering::Relaxed).then(|| PEAK_LIVE.load(Ordering::Relaxed).max(0) as f64 / 1_048_576.0)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A memory figure of this process from /proc/self/status, in MB.
fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Peak resident set of this process since the last reset, in MB.
fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

/// The highest anonymous, file-backed and shared resident memory seen by
/// [`sample_rss_parts`] since the last reset (MB): VmHWM has no such split,
/// and SQLite's WAL index is a shared mapping.
static RSS_PARTS: std::sync::Mutex<[f64; 3]> = std::sync::Mutex::new([0.0; 3]);

/// Samples the parts of the resident set every 50 ms, for the whole run.
fn sample_rss_parts() {
    std::thread::spawn(|| loop {
        let now = [status_mb("RssAnon:"), status_mb("RssFile:"), status_mb("RssShmem:")];
        if let Ok(mut peak) = RSS_PARTS.lock() {
            for (p, n) in peak.iter_mut().zip(now) {
                *p = p.max(n);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    });
}

fn report_rss_parts(phase: &str) {
    if let Ok(peak) = RSS_PARTS.lock() {
        println!("peak_rss_parts_{phase}_mb: anon={:.1} file={:.1} shmem={:.1}", peak[0], peak[1], peak[2]);
    }
}

/// CPU seconds (user + system) a process has used, from /proc/<pid>/stat.
fn cpu_s(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces): utime is the
    // 12th and stime the 13th; clock ticks are 1/100 s on Linux.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds of this process's threads by thread name.
fn cpu_by_thread() -> std::collections::BTreeMap<String, f64> {
    let mut by_name = std::collections::BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let tid = task.file_name().to_string_lossy().to_string();
        let name = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).unwrap_or_default();
        *by_name.entry(name.trim().to_string()).or_insert(0.0) += cpu_s(&format!("self/task/{tid}"));
    }
    by_name
}

/// Where the CPU went during a phase: this process (by thread) and slapd.
struct CpuMeter {
    slapd_pid: String,
    slapd: f64,
    process: f64,
    threads: std::collections::BTreeMap<String, f64>,
}

impl CpuMeter {
    fn start(slapd_pid: &str) -> CpuMeter {
        CpuMeter {
            slapd_pid: slapd_pid.to_string(),
            slapd: cpu_s(slapd_pid),
            process: cpu_s("self"),
            threads: cpu_by_thread(),
        }
    }

    /// What was used since `start`.
    fn stop(self) -> CpuUse {
        let process = cpu_s("self") - self.process;
        let mut split = Vec::new();
        let mut accounted = 0.0;
        for (name, now) in cpu_by_thread() {
            let used = now - self.threads.get(&name).copied().unwrap_or(0.0);
            if used >= 0.01 {
                accounted += used;
                split.push(format!("{name}={used:.2}"));
            }
        }
        split.push(format!("other={:.2}", process - accounted));
        CpuUse { process, slapd: cpu_s(&self.slapd_pid) - self.slapd, split: split.join(" ") }
    }

    fn report(self, phase: &str) {
        self.stop().report(phase);
    }
}

struct CpuUse {
    process: f64,
    slapd: f64,
    /// By thread (finished reader threads are gone, hence "other").
    split: String,
}

impl CpuUse {
    /// Prints `<phase>_cpu_s` and `<phase>_slapd_cpu_s`; the split by thread
    /// goes to stderr.
    fn report(&self, phase: &str) {
        println!("{phase}_cpu_s: {:.2}", self.process);
        println!("{phase}_slapd_cpu_s: {:.2}", self.slapd);
        eprintln!("{phase} cpu by thread: {}", self.split);
    }
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    if let Ok(mut peak) = RSS_PARTS.lock() {
        *peak = [0.0; 3];
    }
    PEAK_LIVE.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// Prints the live heap's peak of a phase, when counted, and SQLite's own
/// (its allocations do not go through the global allocator); resets the latter.
fn report_live(phase: &str) {
    if let Some(mb) = peak_live_mb() {
        println!("peak_live_heap_{phase}_mb: {mb:.1}");
        // SAFETY: reads (and resets) SQLite's memory statistics.
        let sqlite = unsafe { rusqlite::ffi::sqlite3_memory_highwater(1) };
        println!("peak_sqlite_heap_{phase}_mb: {:.1}", sqlite as f64 / 1_048_576.0);
    }
}

async fn run_sync(port: &ServicePort, mode: SyncMode) -> (f64, SyncRun) {
    // Told of each run's end as soon as it is stored (what the console's
    // event stream waits on), so no polling adds to the time or the CPU.
    let mut ends = port.0.sync_run_ends();
    let started = Instant::now();
    let id = port.start_sync("default", "bench", SyncRequest { mode, force: false }).await.expect("start");
    loop {
        let run = port.sync_run("default", "bench", &id).await.expect("run");
        if run.state != "running" {
            assert_eq!(run.state, "succeeded", "{run:?}");
            return (started.elapsed().as_secs_f64(), run);
        }
        ends.changed().await.expect("the sync engine is running");
    }
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let data = runtime.block_on(bench());
    // The service's scheduler ends with the runtime, before its store goes.
    drop(runtime);
    if std::env::args().any(|a| a == "--keep-store") {
        // To look at the store's tables and indexes afterwards.
        println!("store_kept_in: {}", data.keep().display());
    }
}

/// Seconds, as a space-separated list.
fn seconds_list(runs: &[f64]) -> String {
    runs.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>().join(" ")
}

/// Drops a store's service (its scheduler holds it weakly) and gives what
/// its connections held back to the system before the next measurement.
async fn close(port: ServicePort) {
    drop(port);
    // sqlx closes the pool's connections on their own threads.
    tokio::time::sleep(Duration::from_millis(200)).await;
    dirbridge::allocator::return_free_memory();
}

/// A service on an empty store of its own, with the benchmark's repository.
async fn fresh_store(repo: &app::model::Repository) -> (tempfile::TempDir, ServicePort) {
    let data = tempfile::tempdir().expect("tempdir");
    let config = dirbridge::config::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_path_buf(),
        admin_password: Some("bench".into()),
        login: Default::default(),
        audit_retention_days: 365,
        metrics_listen: None,
    };
    let port = ServicePort(dirbridge::open(&config).await.expect("service"));
    port.create_repository("default", repo.clone()).await.expect("repository");
    (data, port)
}

/// Runs the benchmark; returns the data dir (with the store) to remove.
async fn bench() -> tempfile::TempDir {
    // Run summaries (with where the time went) go to stderr.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn,dirbridge::sync=info"))
        .with_writer(std::io::stderr)
        .init();
    // As the dirbridge binary does.
    dirbridge::allocator::configure_process();
    if std::env::args().any(|a| a == "--live-heap") {
        // Counted from here: what was allocated before is not in the figure.
        COUNTING.store(true, Ordering::Relaxed);
        // SQLite's own heap is counted by SQLite (off in the product).
        dirbridge::store::configure_sqlite(true);
    }
    let users = arg("--users", 100_000);
    let groups = arg("--groups", 1_000);
    // The LDAP page size of the sync and of the baseline alike.
    let page_size = arg("--page-size", 1_000);
    let started = Instant::now();
    let slapd = Slapd::start(Options { users, extra_groups: groups, ..Default::default() }).expect("slapd");
    println!("users: {users}");
    println!("groups: {groups}");
    println!("page_size: {page_size}");
    println!("load_s: {:.2}", started.elapsed().as_secs_f64());

    let people = format!("ou=People,{}", devdir::ldif::BASE_DN);
    let groups_dn = format!("ou=Groups,{}", devdir::ldif::BASE_DN);
    let mut repo = app::presets::new_repository(Vendor::OpenLdap);
    repo.id = "bench".into();
    repo.name = "bench".into();
    repo.connection.servers = vec![slapd.ldap_url()];
    repo.connection.bind_dn = Some(devdir::ADMIN_DN.into());
    repo.connection.bind_password = Some(Some(devdir::ADMIN_PASSWORD.into()));
    repo.users.base_dn = devdir::ldif::BASE_DN.into();
    repo.users.users_dn = Some(people.clone());
    repo.groups.groups_dn = Some(groups_dn.clone());
    repo.sync.page_size = u32::try_from(page_size).expect("page size");
    // The same entries and attributes a full sync reads: users, then groups.
    let user_attrs = dirbridge::ldap::user_attributes(&repo);
    let group_attrs = dirbridge::mapping::group_attributes(&repo);
    let dump = || {
        let t = Instant::now();
        let search = |base: &str, filter: &str, attrs: &[String]| {
            let status = Command::new("ldapsearch")
                .args(["-x", "-LLL", "-H", &slapd.ldap_url(), "-D", devdir::ADMIN_DN, "-w", devdir::ADMIN_PASSWORD])
                .args(["-b", base, "-E", &format!("pr={page_size}/noprompt"), filter])
                .args(attrs)
                .stdout(Stdio::null())
                .status()
                .expect("ldapsearch");
            assert!(status.success());
        };
        search(&people, "(&(objectClass=inetOrgPerson)(objectClass=organizationalPerson))", &user_attrs);
        search(&groups_dn, "(objectClass=groupOfNames)", &group_attrs);
        t.elapsed().as_secs_f64()
    };
    // Warm slapd's caches, then take the best of three dumps as the baseline.
    dump();
    let slapd_pid = slapd.pid().map(|p| p.to_string()).unwrap_or_default();
    let meter = CpuMeter::start(&slapd_pid);
    let first = dump();
    // ldapsearch's own CPU is a child's, not this process's.
    println!("baseline_slapd_cpu_s: {:.2}", cpu_s(&slapd_pid) - meter.slapd);
    let baseline = first.min(dump()).min(dump());
    println!("baseline_dump_s: {baseline:.3}");

    // The first full sync, into an empty store; the re-sync and the changed
    // syncs below run on that store, in a process holding no other (as
    // dirbridge does). More full syncs, each into an empty store of its own,
    // follow them (`--full-runs`, default 3): like the baseline, the best
    // time counts (this machine's run-to-run spread is large). Each store's
    // service is dropped once its runs are over, so every run has the
    // process to itself; the later full runs' peak is printed apart.
    let (data, port) = fresh_store(&repo).await;
    // What the process holds before any sync (the service, the runtime and
    // this harness): part of every peak below.
    println!("rss_before_sync_mb: {:.1}", status_mb("VmRSS:"));
    sample_rss_parts();
    reset_peak_rss();
    let meter = CpuMeter::start(&slapd_pid);
    let (seconds, run) = run_sync(&port, SyncMode::Full).await;
    assert_eq!(run.counts.added, run.counts.seen, "{run:?}");
    let mut best = (seconds, meter.stop());
    let rss_full = peak_rss_mb();
    report_rss_parts("full");
    report_live("full");
    println!("full_sync_added: {}", run.counts.added);
    let seen = run.counts.seen;
    let mut fulls = vec![seconds];

    // Like the baseline, the better of two runs.
    println!("rss_before_resync_mb: {:.1}", status_mb("VmRSS:"));
    reset_peak_rss();
    let meter = CpuMeter::start(&slapd_pid);
    let (first, run) = run_sync(&port, SyncMode::Full).await;
    meter.report("resync");
    assert_eq!(run.counts.unchanged, run.counts.seen);
    let (second, run) = run_sync(&port, SyncMode::Full).await;
    assert_eq!(run.counts.unchanged, run.counts.seen);
    let rss_resync = peak_rss_mb();
    report_rss_parts("resync");
    report_live("resync");
    let resync = first.min(second);

    // Rounds of 1% changes (`--changed-rounds`, default 2), each synchronised
    // by a changed sync; the best one counts, as for the re-sync.
    let mut changes = Vec::new();
    let mut method = app::model::RunMethod::default();
    reset_peak_rss();
    for round in 0..arg("--changed-rounds", 2).max(1) {
        let step = 100;
        let mut ldif = String::new();
        for i in (0..users).step_by(step) {
            ldif.push_str(&format!(
                "dn: {}\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +1 555 99{round} {i}\n\n",
                devdir::ldif::user_dn(i)
            ));
        }
        slapd.modify(&ldif).expect("modify 1%");
        let (seconds, run) = run_sync(&port, SyncMode::Changed).await;
        assert_eq!(run.counts.updated, users.div_ceil(step) as u64, "{run:?}");
        println!("changed_users: {}", run.counts.updated);
        method = run.method;
        changes.push(seconds);
    }
    let changed = changes.iter().copied().fold(f64::INFINITY, f64::min);
    let rss_change = peak_rss_mb();
    report_rss_parts("changed");
    report_live("changed");
    let (after_change, run) = run_sync(&port, SyncMode::Full).await;
    assert_eq!(run.counts.updated, 0, "the changed sync already wrote every change: {run:?}");
    let db = std::fs::metadata(data.path().join("dirbridge.db")).map(|m| m.len()).unwrap_or(0);
    close(port).await;

    // The further full syncs.
    let mut rss_later_full: Option<f64> = None;
    for _ in 1..arg("--full-runs", 3).max(1) {
        let (later_data, later_port) = fresh_store(&repo).await;
        reset_peak_rss();
        let meter = CpuMeter::start(&slapd_pid);
        let (seconds, run) = run_sync(&later_port, SyncMode::Full).await;
        assert_eq!(run.counts.added, run.counts.seen, "{run:?}");
        let used = meter.stop();
        rss_later_full = Some(rss_later_full.unwrap_or(0.0).max(peak_rss_mb()));
        fulls.push(seconds);
        if seconds < best.0 {
            best = (seconds, used);
        }
        close(later_port).await;
        drop(later_data);
    }
    let (full, used) = best;
    used.report("full");
    if let Some(mb) = rss_later_full {
        println!("peak_rss_later_full_mb: {mb:.1}");
    }
    println!("full_sync_runs_s: {}", seconds_list(&fulls));
    println!("full_sync_s: {full:.3}");
    println!("full_vs_dump_ratio: {:.2}", full / baseline);
    println!("users_per_s: {:.0}", seen as f64 / full);
    println!("resync_runs_s: {first:.3} {second:.3}");
    println!("resync_s: {resync:.3}");
    println!("resync_vs_dump_ratio: {:.2}", resync / baseline);
    println!("changed_sync_method: {method}");
    println!("changed_sync_runs_s: {}", seconds_list(&changes));
    println!("changed_sync_s: {changed:.3}");
    println!("changed_vs_full_ratio: {:.3}", changed / full);
    println!("full_sync_after_changed_s: {after_change:.3}");
    println!("peak_rss_mb: {:.1}", rss_full.max(rss_resync).max(rss_change));
    println!("peak_rss_full_mb: {rss_full:.1}");
    println!("peak_rss_resync_mb: {rss_resync:.1}");
    println!("store_mb: {:.1}", db as f64 / 1_048_576.0);
    data
}
