//! Servers tried in order, skipping for a short while one that just failed
//! (it is tried again after the back-off, or when no other answers).

use super::{open_one, Connected};
use app::model::Repository;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// No server of a repository answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreachable {
    /// The servers tried, in the order tried.
    pub servers: Vec<String>,
    /// Why each failed.
    pub reasons: Vec<String>,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.reasons.is_empty() {
            f.write_str("no server is configured")
        } else {
            write!(f, "no server answered: {}", self.reasons.join("; "))
        }
    }
}

/// Which servers of one repository failed recently.
pub struct ServerHealth {
    back_off: Duration,
    down_since: Mutex<HashMap<String, Instant>>,
}

impl ServerHealth {
    pub fn new(back_off: Duration) -> ServerHealth {
        ServerHealth { back_off, down_since: Mutex::new(HashMap::new()) }
    }

    /// The servers in the order to try them: those not in back-off as
    /// configured, then those in back-off (better late than none).
    pub fn order<'a>(&self, servers: &'a [String]) -> Vec<&'a str> {
        let down = self.down_since.lock().map(|d| d.clone()).unwrap_or_default();
        let resting = |url: &str| down.get(url).is_some_and(|since| since.elapsed() < self.back_off);
        let (mut up, rest): (Vec<&str>, Vec<&str>) = servers.iter().map(String::as_str).partition(|u| !resting(u));
        up.extend(rest);
        up
    }

    fn failed(&self, url: &str) {
        if let Ok(mut d) = self.down_since.lock() {
            d.insert(url.to_string(), Instant::now());
        }
    }

    fn answered(&self, url: &str) {
        if let Ok(mut d) = self.down_since.lock() {
            d.remove(url);
        }
    }
}

/// Opens a connection to the first server that answers, in `health`'s order.
pub async fn connect(repo: &Repository, health: &ServerHealth) -> Result<Connected, Unreachable> {
    let mut unreachable = Unreachable { servers: Vec::new(), reasons: Vec::new() };
    for url in health.order(&repo.connection.servers) {
        unreachable.servers.push(url.to_string());
        match open_one(repo, url).await {
            Ok(mut c) => {
                health.answered(url);
                c.skipped = unreachable.reasons;
                return Ok(c);
            }
            Err(f) => {
                health.failed(url);
                unreachable.reasons.push(f.into_message());
            }
        }
    }
    Err(unreachable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_server_goes_last_until_its_back_off_ends() {
        let servers = vec!["ldap://a".to_string(), "ldap://b".to_string(), "ldap://c".to_string()];
        let health = ServerHealth::new(Duration::from_secs(60));
        assert_eq!(health.order(&servers), ["ldap://a", "ldap://b", "ldap://c"]);
        health.failed("ldap://a");
        assert_eq!(health.order(&servers), ["ldap://b", "ldap://c", "ldap://a"]);
        health.answered("ldap://a");
        assert_eq!(health.order(&servers), ["ldap://a", "ldap://b", "ldap://c"]);
        let brief = ServerHealth::new(Duration::ZERO);
        brief.failed("ldap://a");
        assert_eq!(brief.order(&servers), ["ldap://a", "ldap://b", "ldap://c"]);
    }
}
