//! The scheduler: one background loop that starts the runs schedules make
//! due (see `schedule` for when they fire), through the service's port like
//! any other caller.

use crate::clock::unix_now;
use crate::schedule::{from_rfc3339, mode_key, next_fire, schedules, to_rfc3339};
use crate::service::{Service, ServicePort};
use app::model::SyncRequest;
use app::port::Backend;
use std::sync::Arc;
use std::time::Duration;

/// How often the loop looks for due schedules (6-field cron has seconds).
const TICK: Duration = Duration::from_secs(1);

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

    #[tokio::test]
    async fn a_dropped_service_is_not_kept_alive_by_its_scheduler() {
        let data = tempfile::tempdir().expect("tempdir");
        let config = crate::config::Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: data.path().to_path_buf(),
            admin_password: Some("scheduler-test".into()),
            login: Default::default(),
            audit_retention_days: 365,
            metrics_listen: None,
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
}
