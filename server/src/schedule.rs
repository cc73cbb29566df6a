//! Scheduled syncs. Each repository's `fullSync` / `changedSync` schedule (cron
//! or interval) fires from one background loop; when a schedule last fired is
//! stored, so a restart neither repeats a run nor forgets one it missed (a
//! missed run fires once at start, as anacron does).

use crate::cron::Cron;
use crate::service::{unix_now, Service, ServicePort};
use app::model::{NextRuns, Repository, Schedule, SyncMode, SyncRequest};
use app::port::Backend;
use std::sync::Arc;
use std::time::Duration;

/// How often the loop looks for due schedules (6-field cron has seconds).
const TICK: Duration = Duration::from_secs(1);

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

fn to_rfc3339(t: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
}

fn from_rfc3339(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}

fn mode_key(mode: SyncMode) -> &'static str {
    match mode {
        SyncMode::Full => "full",
        SyncMode::Changed => "changed",
    }
}

fn schedules(repo: &Repository) -> [(SyncMode, &Schedule); 2] {
    [(SyncMode::Full, &repo.sync.full_sync), (SyncMode::Changed, &repo.sync.changed_sync)]
}

/// Next run times to show for a repository.
pub async fn next_runs(service: &Service, tenant: &str, repo: &Repository, now: i64) -> NextRuns {
    let mut out = NextRuns::default();
    if !repo.enabled {
        return out;
    }
    for (mode, schedule) in schedules(repo) {
        let last = service.store().schedule_last_fired(tenant, &repo.id, mode_key(mode)).await.ok().flatten();
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

/// Runs the scheduler for as long as the service is in use. It holds the
/// service weakly: a service that is dropped (and with it its store, its
/// connections and their page caches) is not kept alive by this loop, which
/// then ends. dirbridge keeps its one service until it stops; the benchmark
/// and tests open several in one process.
pub fn spawn(service: &Arc<Service>) {
    let service = Arc::downgrade(service);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(TICK).await;
            let Some(service) = service.upgrade() else { break };
            let port = ServicePort(service.clone());
            if let Err(e) = tick(&service, &port, unix_now()).await {
                tracing::warn!(error = %e, "scheduler pass failed");
            }
        }
    });
}

async fn tick(service: &Arc<Service>, port: &ServicePort, now: i64) -> Result<(), String> {
    let store = service.store();
    for (tenant, id) in store.active_repositories().await.map_err(|e| e.to_string())? {
        let Ok(repo) = port.get_repository(&tenant, &id).await else { continue };
        if !repo.enabled {
            continue;
        }
        for (mode, schedule) in schedules(&repo) {
            if !schedule.enabled {
                continue;
            }
            let key = mode_key(mode);
            let last = store.schedule_last_fired(&tenant, &id, key).await.map_err(|e| e.to_string())?;
            let Some(last) = last.as_deref().and_then(from_rfc3339) else {
                // First sight of this schedule: it counts from now.
                store.set_schedule_fired(&tenant, &id, key, &to_rfc3339(now).unwrap_or_default()).await.ok();
                continue;
            };
            match next_fire(schedule, Some(last), now) {
                Some(due) if due <= now => {}
                _ => continue,
            }
            // Recorded first: a run that cannot start (another one is going)
            // waits for the next due time instead of retrying every second.
            store.set_schedule_fired(&tenant, &id, key, &to_rfc3339(now).unwrap_or_default()).await.ok();
            match port.start_sync(&tenant, &id, SyncRequest { mode, force: false }).await {
                Ok(run) => tracing::info!(tenant, repository = id, mode = key, run, "scheduled sync started"),
                Err(e) => tracing::info!(tenant, repository = id, mode = key, reason = %e, "scheduled sync skipped"),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000; // 2026-09-21T14:13:20Z

    #[tokio::test]
    async fn a_dropped_service_is_not_kept_alive_by_its_scheduler() {
        let data = tempfile::tempdir().expect("tempdir");
        let config = crate::config::Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: data.path().to_path_buf(),
            admin_password: Some("scheduler-test".into()),
        };
        let service = crate::open(&config).await.expect("service");
        let weak = Arc::downgrade(&service);
        // Let the scheduler run a pass with the service alive.
        tokio::time::sleep(TICK + Duration::from_millis(200)).await;
        drop(service);
        // A pass in progress may hold it for a moment; after the next tick
        // nothing may.
        tokio::time::sleep(TICK + Duration::from_millis(500)).await;
        assert!(weak.upgrade().is_none(), "the service outlived its last handle");
    }

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
