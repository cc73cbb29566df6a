//! Memory settings of the dirbridge process (and of the benchmarks, which
//! measure it).
//!
//! Transparent huge pages: where the kernel enables them (`always`, or
//! `madvise` as here, since mimalloc asks for them on its arenas), a 2 MB
//! page becomes resident as a whole when any part of it is touched. A sync
//! allocates and frees in bursts all over those arenas; with at most ~25 MB
//! of live heap (Rust and SQLite) at 100,000 users, the benchmark's peak RSS
//! was 145-152 MB with huge pages and 98-114 MB without (mimalloc 2), at no
//! measurable cost in sync time.

/// Turns transparent huge pages off for this process (an error only on a
/// kernel without the setting, and then there is nothing to turn off).
#[cfg(target_os = "linux")]
fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and only sets
    // a flag of this process.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "transparent huge pages left as they are");
    }
}

#[cfg(not(target_os = "linux"))]
fn disable_transparent_huge_pages() {}

/// The memory settings of a dirbridge process; call first thing in `main`,
/// before the store opens.
pub fn configure_process() {
    disable_transparent_huge_pages();
    one_malloc_arena();
}

/// SQLite allocates with the C library's malloc (its page caches above
/// all), which by default gives each thread that mallocs an arena of its
/// own, up to 8 per core, and gives back the top of an arena as soon as
/// 128 KB or more of it is free. Each sync run writes on a new thread,
/// beside new reader and checkpoint threads, and closes its connection at
/// its end: the next run landed on an arena shrunk back, and grew it again
/// a page fault at a time. A changed sync of 1,000 users (100,000 stored)
/// took ~2,700-3,500 faults on its writer, ~7 ms of its CPU time.
///
/// One arena, which keeps up to `KEPT_FREE` at its top: the faults drop to
/// ~220 once it has grown to fit (one to three runs after a big run, which
/// gives everything back), and over 10 changed syncs the writer's median CPU
/// went from 34 to 25 ms, the run's from ~60 to ~45 ms. Rust's allocations
/// go to mimalloc, so few threads malloc at once and the one lock costs
/// nothing measurable. What is kept is bounded: an idle process holds at
/// most `KEPT_FREE` more, and a run that read many entries gives everything
/// back anyway ([`return_free_memory`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn one_malloc_arena() {
    const KEPT_FREE: i32 = 16 << 20;
    // SAFETY: mallopt takes two integers and only sets malloc's parameters.
    let set =
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, KEPT_FREE) == 1 };
    if !set {
        tracing::debug!("malloc's arenas or trim threshold left as they were");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}

/// Returns free memory to the system now rather than after mimalloc's purge
/// delay: this thread's free pages, and the pages of threads that have
/// ended (each run's reader threads end with it, and what the writer frees
/// of theirs would otherwise stay resident until some thread reclaims it).
/// Only the calling thread's pages are collected (free pages of an idle
/// thread stay resident until it allocates again), which is why each sync
/// run writes on a thread of its own. With both, group members no longer
/// passed as one JSON array, SQLite's frees trimmed too and the writer's
/// page cache shrunk before the groups, a 1,000,000-user full sync and
/// re-sync (groups of 200,000 members) peak at ~125 and ~105-135 MB
/// resident instead of ~215 (re-syncs reached 265). For after bursts: it
/// walks the heap, too slow for a hot loop. Harmless where mimalloc is not the global allocator
/// (the tests).
pub fn return_free_memory() {
    // SAFETY: mi_collect takes a flag and only touches mimalloc's own state.
    unsafe { mi_collect(true) }
    // SQLite allocates with the C library's malloc (page caches, sorts),
    // which keeps what it frees in per-thread arenas.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes a size and only touches malloc's own state.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What the calling thread has used so far, for the figures a run logs:
/// its CPU time tells a writer-bound run from one that waits on the
/// directory, its page faults how much of that went to memory coming back.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ThreadUsage {
    /// User + system.
    pub cpu: std::time::Duration,
    /// Minor faults: pages the kernel had to map in (fresh or given back).
    pub minor_faults: u64,
}

impl ThreadUsage {
    /// The calling thread's usage so far; zero where it cannot be read.
    pub fn now() -> ThreadUsage {
        #[cfg(target_os = "linux")]
        {
            let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
            // SAFETY: getrusage fills the struct it is given and nothing else.
            if unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) } == 0 {
                // SAFETY: filled by the successful call above.
                let usage = unsafe { usage.assume_init() };
                let of = |t: libc::timeval| {
                    std::time::Duration::from_secs(t.tv_sec.max(0) as u64)
                        + std::time::Duration::from_micros(t.tv_usec.max(0) as u64)
                };
                return ThreadUsage {
                    cpu: of(usage.ru_utime) + of(usage.ru_stime),
                    minor_faults: usage.ru_minflt.max(0) as u64,
                };
            }
        }
        ThreadUsage::default()
    }

    /// What was used since `earlier` (taken on the same thread).
    pub fn since(&self, earlier: ThreadUsage) -> ThreadUsage {
        ThreadUsage {
            cpu: self.cpu.saturating_sub(earlier.cpu),
            minor_faults: self.minor_faults.saturating_sub(earlier.minor_faults),
        }
    }
}

// The mimalloc crate links the library; its bindings of mi_collect would
// take another crate (libmimalloc-sys's `extended` feature).
use mimalloc as _;
extern "C" {
    fn mi_collect(force: bool);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn transparent_huge_pages_are_off_afterwards() {
        disable_transparent_huge_pages();
        // SAFETY: reads this process's flag.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) }, 1);
    }

    #[test]
    fn a_busy_thread_sees_its_cpu_time_grow_and_a_sleeping_one_does_not() {
        let start = ThreadUsage::now();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut spins = 0u64;
        while ThreadUsage::now().since(start).cpu < std::time::Duration::from_millis(5) {
            assert!(std::time::Instant::now() < deadline, "5 ms of CPU not seen in 10 s");
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
        let idle = std::thread::spawn(|| {
            let before = ThreadUsage::now();
            std::thread::sleep(std::time::Duration::from_millis(50));
            ThreadUsage::now().since(before).cpu
        })
        .join()
        .expect("thread");
        assert!(idle < std::time::Duration::from_millis(20), "{idle:?}");
    }

    #[test]
    fn touching_fresh_pages_counts_faults_on_this_thread_only() {
        const PAGES: usize = 256;
        let touch = || {
            let before = ThreadUsage::now();
            // SAFETY: a private anonymous mapping, written within its length
            // and unmapped before it goes out of scope.
            unsafe {
                let len = PAGES * 4096;
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                assert_ne!(p, libc::MAP_FAILED);
                for page in 0..PAGES {
                    std::ptr::write_volatile((p as *mut u8).add(page * 4096), 1);
                }
                libc::munmap(p, len);
            }
            ThreadUsage::now().since(before).minor_faults
        };
        let faults = touch();
        assert!(faults >= PAGES as u64, "{faults} faults for {PAGES} fresh pages");
        let before = ThreadUsage::now();
        let elsewhere = std::thread::spawn(touch).join().expect("thread");
        assert!(elsewhere >= PAGES as u64);
        let here = ThreadUsage::now().since(before).minor_faults;
        assert!(here < PAGES as u64 / 2, "another thread's {elsewhere} faults counted here ({here})");
    }
}
