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
pub fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and only sets
    // a flag of this process.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "transparent huge pages left as they are");
    }
}

#[cfg(not(target_os = "linux"))]
pub fn disable_transparent_huge_pages() {}

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

/// CPU time (user + system) the calling thread has used so far, for the
/// timings a run logs; zero where it cannot be read.
pub fn thread_cpu_time() -> std::time::Duration {
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
            return of(usage.ru_utime) + of(usage.ru_stime);
        }
    }
    std::time::Duration::ZERO
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
        let start = thread_cpu_time();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut spins = 0u64;
        while thread_cpu_time() < start + std::time::Duration::from_millis(5) {
            assert!(std::time::Instant::now() < deadline, "5 ms of CPU not seen in 10 s");
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
        // Another thread's sleep costs this one nothing.
        let idle = std::thread::spawn(|| {
            let before = thread_cpu_time();
            std::thread::sleep(std::time::Duration::from_millis(50));
            thread_cpu_time() - before
        })
        .join()
        .expect("thread");
        assert!(idle < std::time::Duration::from_millis(20), "{idle:?}");
    }
}
