//! The process's metrics (prometheus-client): what each layer counts, and
//! the Prometheus text `GET /metrics` answers. Pure bookkeeping: layers
//! record here, gauges of pools and the store are set just before a scrape.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoginLabels {
    pub outcome: String,
    pub repository: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunLabels {
    pub mode: String,
    pub method: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModeLabels {
    pub mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChangeLabels {
    pub change: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub repository: String,
    pub pool: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolErrorLabels {
    pub repository: String,
    pub pool: String,
    pub error: String,
}

fn seconds_histogram() -> Histogram {
    // 0.5 ms .. ~33 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 17))
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub logins: Family<LoginLabels, Counter>,
    pub login_duration: Family<LoginLabels, Histogram, fn() -> Histogram>,
    pub sync_runs: Family<RunLabels, Counter>,
    pub sync_duration: Family<ModeLabels, Histogram, fn() -> Histogram>,
    pub sync_users: Family<ChangeLabels, Counter>,
    pub ldap_connections: Family<PoolLabels, Gauge>,
    pub ldap_pool_errors: Family<PoolErrorLabels, Counter>,
    pub store_bytes: Gauge,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("dirbridge");
        let m = Metrics {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(seconds_histogram),
            logins: Family::default(),
            login_duration: Family::new_with_constructor(seconds_histogram),
            sync_runs: Family::default(),
            sync_duration: Family::new_with_constructor(seconds_histogram),
            sync_users: Family::default(),
            ldap_connections: Family::default(),
            ldap_pool_errors: Family::default(),
            store_bytes: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("http_requests", "HTTP requests by route, method and status", m.http_requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", m.http_duration.clone());
        registry.register("logins", "Logins by outcome and repository", m.logins.clone());
        registry.register(
            "login_duration_seconds",
            "Login latency by outcome and repository",
            m.login_duration.clone(),
        );
        registry.register("sync_runs", "Sync runs ended, by mode, method and state", m.sync_runs.clone());
        registry.register("sync_run_duration_seconds", "Sync run duration by mode", m.sync_duration.clone());
        registry.register("sync_users", "Users seen, added, updated and removed by sync runs", m.sync_users.clone());
        registry.register(
            "ldap_connections",
            "Pooled LDAP connections by repository, pool and state",
            m.ldap_connections.clone(),
        );
        registry.register(
            "ldap_pool_errors",
            "Pooled LDAP connections not had, by repository, pool and why",
            m.ldap_pool_errors.clone(),
        );
        registry.register("store_bytes", "Size of the SQLite store's files", m.store_bytes.clone());
        Metrics { registry, ..m }
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    pub fn http_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let labels = RequestLabels { route: route.into(), method: method.into(), status };
        self.http_requests.get_or_create(&labels).inc();
        self.http_duration.get_or_create(&RouteLabels { route: route.into() }).observe(took.as_secs_f64());
    }

    pub fn login(&self, outcome: &str, repository: &str, took: Duration) {
        let labels = LoginLabels { outcome: outcome.into(), repository: repository.into() };
        self.logins.get_or_create(&labels).inc();
        self.login_duration.get_or_create(&labels).observe(took.as_secs_f64());
    }

    pub fn sync_run(&self, mode: &str, method: &str, state: &str, took: Duration, counts: &app::model::SyncCounts) {
        let labels = RunLabels { mode: mode.into(), method: method.into(), state: state.into() };
        self.sync_runs.get_or_create(&labels).inc();
        self.sync_duration.get_or_create(&ModeLabels { mode: mode.into() }).observe(took.as_secs_f64());
        for (change, n) in [
            ("seen", counts.seen),
            ("added", counts.added),
            ("updated", counts.updated),
            ("removed", counts.disabled + counts.deleted),
        ] {
            self.sync_users.get_or_create(&ChangeLabels { change: change.into() }).inc_by(n);
        }
    }

    pub fn pool_error(&self, repository: &str, pool: &str, error: &str) {
        let labels = PoolErrorLabels { repository: repository.into(), pool: pool.into(), error: error.into() };
        self.ldap_pool_errors.get_or_create(&labels).inc();
    }
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_come_out_in_the_text_format_with_the_prefix() {
        let m = Metrics::new();
        m.http_request("/api/v1/tenants", "GET", 200, Duration::from_millis(3));
        m.login("success", "corp", Duration::from_millis(2));
        m.sync_run(
            "full",
            "paged",
            "succeeded",
            Duration::from_secs(1),
            &app::model::SyncCounts { seen: 5, added: 5, ..Default::default() },
        );
        let text = m.render();
        assert!(
            text.contains(r#"dirbridge_http_requests_total{route="/api/v1/tenants",method="GET",status="200"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"dirbridge_logins_total{outcome="success",repository="corp"} 1"#), "{text}");
        assert!(
            text.contains(r#"dirbridge_sync_runs_total{mode="full",method="paged",state="succeeded"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"dirbridge_sync_users_total{change="added"} 5"#), "{text}");
        assert!(text.contains("dirbridge_http_request_duration_seconds_bucket"), "{text}");
    }
}
