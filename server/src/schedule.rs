//! When schedules fire. Each repository's `fullSync` / `changedSync` schedule
//! (cron or interval) counts from when it last fired, which is stored, so a
//! restart neither repeats a run nor forgets one it missed (a missed run
//! fires once at start, as anacron does). The loop that starts the runs is
//! `scheduler`, above the service.

use crate::cron::Cron;
use crate::store::Store;
use app::model::{NextRuns, Repository, Schedule, SyncMode};

/// When `schedule` fires next, given when it last fired (`None`: never, the
/// schedule is new). Disabled or unparsable schedules never fire.
pub fn next_fire(schedule: &Schedule, last_fired: Option<i64>, now: i64) -> Option<i64> {
    if !schedule.enabled {
        return None;
    }
    if let Some(expr) = schedule.cron.as_deref().filter(|c| !c.trim().is_empty()) {
        let cron = Cron::parse(expr).ok()?;
        return cron.next_after(last_fired.unwrap_or(now));
    }
    let interval = i64::from(schedule.interval_seconds.filter(|s| *s > 0)?);
    Some(last_fired.unwrap_or(now) + interval)
}

pub fn to_rfc3339(t: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
}

pub fn from_rfc3339(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}

pub fn mode_key(mode: SyncMode) -> &'static str {
    match mode {
        SyncMode::Full => "full",
        SyncMode::Changed => "changed",
    }
}

pub fn schedules(repo: &Repository) -> [(SyncMode, &Schedule); 2] {
    [(SyncMode::Full, &repo.sync.full_sync), (SyncMode::Changed, &repo.sync.changed_sync)]
}

/// Next run times to show for a repository.
pub async fn next_runs(store: &Store, tenant: &str, repo: &Repository, now: i64) -> NextRuns {
    let mut out = NextRuns::default();
    if !repo.enabled {
        return out;
    }
    for (mode, schedule) in schedules(repo) {
        let last = store.schedule_last_fired(tenant, &repo.id, mode_key(mode)).await.ok().flatten();
        // A due (missed) run fires at the next tick: show it as now.
        let next = next_fire(schedule, last.as_deref().and_then(from_rfc3339), now).map(|t| t.max(now));
        let text = next.and_then(to_rfc3339);
        match mode {
            SyncMode::Full => out.full = text,
            SyncMode::Changed => out.changed = text,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000; // 2026-09-21T14:13:20Z

    fn schedule(cron: Option<&str>, interval: Option<u32>) -> Schedule {
        Schedule { enabled: true, cron: cron.map(Into::into), interval_seconds: interval }
    }

    #[test]
    fn interval_schedules_count_from_the_last_run() {
        let s = schedule(None, Some(300));
        assert_eq!(next_fire(&s, None, NOW), Some(NOW + 300));
        assert_eq!(next_fire(&s, Some(NOW - 100), NOW), Some(NOW + 200));
        // Missed while dirbridge was down: due at once.
        assert!(next_fire(&s, Some(NOW - 3600), NOW).is_some_and(|t| t <= NOW));
    }

    #[test]
    fn cron_schedules_and_disabled_ones() {
        let quartz = schedule(Some("0 45 1 * * ?"), None);
        let next = next_fire(&quartz, Some(NOW), NOW).expect("fires");
        assert_eq!(to_rfc3339(next).as_deref(), Some("2026-09-22T01:45:00Z"));
        assert_eq!(next_fire(&Schedule { enabled: false, ..quartz.clone() }, None, NOW), None);
        assert_eq!(next_fire(&schedule(Some("not cron"), None), None, NOW), None);
        assert_eq!(next_fire(&schedule(None, None), None, NOW), None);
        assert_eq!(from_rfc3339("2026-09-22T01:45:00Z"), Some(next));
    }
}
