//! What guards and records logins: failures throttled per account and per
//! client address (see [`crate::throttle`]), and outcomes counted.

use crate::throttle::{Policy, Throttle};
use std::net::IpAddr;
use std::sync::Mutex;

/// Failures remembered per account (tenant, lower-cased username) and per client address.
pub struct LoginThrottle {
    accounts: Mutex<Throttle<(String, String)>>,
    addresses: Mutex<Throttle<IpAddr>>,
}

impl LoginThrottle {
    pub fn new(account: Policy, address: Policy) -> LoginThrottle {
        LoginThrottle { accounts: Mutex::new(Throttle::new(account)), addresses: Mutex::new(Throttle::new(address)) }
    }

    /// Seconds to wait, when an attempt may not go ahead now.
    pub(super) fn check(&self, account: &(String, String), client: Option<IpAddr>, now: i64) -> Option<u64> {
        let by_account = self.accounts.lock().ok().and_then(|t| t.check(account, now).err());
        let by_address = client.and_then(|ip| self.addresses.lock().ok().and_then(|t| t.check(&ip, now).err()));
        by_account.into_iter().chain(by_address).max()
    }

    pub(super) fn failed(&self, account: &(String, String), client: Option<IpAddr>, now: i64) {
        if let Ok(mut t) = self.accounts.lock() {
            t.failed(account, now);
        }
        if let (Some(ip), Ok(mut t)) = (client, self.addresses.lock()) {
            t.failed(&ip, now);
        }
    }

    pub(super) fn succeeded(&self, account: &(String, String)) {
        if let Ok(mut t) = self.accounts.lock() {
            t.succeeded(account);
        }
    }
}

/// Logins by outcome, for the log and (later) the metrics endpoint.
#[derive(Default)]
pub struct LoginCounts {
    by_outcome: Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl LoginCounts {
    pub(super) fn count(&self, outcome: &'static str) {
        if let Ok(mut m) = self.by_outcome.lock() {
            *m.entry(outcome).or_default() += 1;
        }
    }

    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        self.by_outcome.lock().map(|m| m.iter().map(|(k, v)| (*k, *v)).collect()).unwrap_or_default()
    }
}
