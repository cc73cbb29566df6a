//! Login throttling: failures counted per key (a tenant and username, or a
//! client address) over a sliding window. After `slow_after` failures each
//! further attempt waits longer (doubling from `base_delay`); at
//! `max_failures` in the window attempts are refused until the oldest
//! failure leaves it. So dirbridge never sends more than `max_failures`
//! wrong passwords for one account per window to the directory, whose own
//! lockout stays out of reach when the setting is below it. Pure: time is
//! passed in (seconds).
//!
//! Hand-written rather than a rate-limiting crate: those (governor) limit
//! the rate of all attempts, while this counts failures only and forgets
//! them on success.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub window_seconds: i64,
    /// Failures in the window before attempts are spaced out.
    pub slow_after: u32,
    /// Failures in the window at which attempts are refused.
    pub max_failures: u32,
    pub base_delay_seconds: i64,
    pub max_delay_seconds: i64,
}

impl Policy {
    /// Per account: at most 4 wrong passwords in 15 minutes, below the
    /// lockout thresholds directories are usually given (5 or more).
    pub const PER_ACCOUNT: Policy =
        Policy { window_seconds: 900, slow_after: 2, max_failures: 4, base_delay_seconds: 2, max_delay_seconds: 60 };
    /// Per client address: many users behind one proxy, so more room.
    pub const PER_ADDRESS: Policy =
        Policy { window_seconds: 900, slow_after: 10, max_failures: 50, base_delay_seconds: 1, max_delay_seconds: 30 };
}

/// How many keys are remembered at most; beyond, the stalest are forgotten.
const MAX_KEYS: usize = 100_000;

pub struct Throttle<K> {
    policy: Policy,
    /// The latest failures of each key, oldest first (at most `max_failures`).
    failures: HashMap<K, VecDeque<i64>>,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    pub fn new(policy: Policy) -> Self {
        Throttle { policy, failures: HashMap::new() }
    }

    /// Ok when an attempt may go ahead now; otherwise the seconds to wait.
    /// Logarithmic in the failures kept (they are in time order).
    pub fn check(&self, key: &K, now: i64) -> Result<(), u64> {
        let Some(list) = self.failures.get(key) else {
            return Ok(());
        };
        let p = &self.policy;
        let from = now - p.window_seconds;
        let count = (list.len() - list.partition_point(|&t| t <= from)) as u32;
        let max = p.max_failures.max(1);
        let wait_until = if count >= max {
            // The oldest failure that still counts leaves the window.
            list[list.len() - max as usize] + p.window_seconds
        } else if count >= p.slow_after && count > 0 {
            let doublings = (count - p.slow_after).min(16);
            let delay = (p.base_delay_seconds << doublings).min(p.max_delay_seconds);
            list[list.len() - 1] + delay
        } else {
            return Ok(());
        };
        if now < wait_until {
            Err((wait_until - now) as u64)
        } else {
            Ok(())
        }
    }

    pub fn failed(&mut self, key: &K, now: i64) {
        if self.failures.len() >= MAX_KEYS && !self.failures.contains_key(key) {
            self.forget_stale(now);
        }
        let keep = self.policy.max_failures.max(1) as usize;
        let list = self.failures.entry(key.clone()).or_default();
        list.push_back(now);
        while list.len() > keep {
            list.pop_front();
        }
    }

    pub fn succeeded(&mut self, key: &K) {
        self.failures.remove(key);
    }

    /// Drops keys without a failure in the window; when all are recent,
    /// the half with the oldest latest failure.
    fn forget_stale(&mut self, now: i64) {
        let from = now - self.policy.window_seconds;
        self.failures.retain(|_, list| list.back().is_some_and(|&t| t > from));
        if self.failures.len() >= MAX_KEYS {
            let mut latest: Vec<i64> = self.failures.values().filter_map(|l| l.back().copied()).collect();
            latest.sort_unstable();
            let cut = latest[latest.len() / 2];
            self.failures.retain(|_, list| list.back().is_some_and(|&t| t > cut));
        }
    }

    pub fn len(&self) -> usize {
        self.failures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy =
        Policy { window_seconds: 900, slow_after: 2, max_failures: 4, base_delay_seconds: 2, max_delay_seconds: 60 };

    #[test]
    fn failures_slow_then_refuse_and_never_exceed_the_maximum_per_window() {
        let mut t = Throttle::new(P);
        let key = "anna";
        let mut now = 1_000;
        let mut sent = 0;
        // An attacker retrying as soon as allowed for an hour.
        while now < 1_000 + 3_600 {
            match t.check(&key, now) {
                Ok(()) => {
                    sent += 1;
                    t.failed(&key, now);
                }
                Err(wait) => assert!(wait >= 1),
            }
            now += 1;
        }
        // At most 4 per 15 minutes: 4 windows' worth in an hour.
        assert!(sent <= 4 * 4, "{sent} attempts reached the directory");
        assert!(sent >= 4, "{sent}");
    }

    #[test]
    fn delays_double_after_the_slow_threshold() {
        let mut t = Throttle::new(P);
        t.failed(&"k", 0);
        assert_eq!(t.check(&"k", 0), Ok(()));
        t.failed(&"k", 0);
        assert_eq!(t.check(&"k", 0), Err(2));
        assert_eq!(t.check(&"k", 2), Ok(()));
        t.failed(&"k", 2);
        assert_eq!(t.check(&"k", 2), Err(4));
        t.failed(&"k", 6);
        // The fourth failure: refused until the first leaves the window.
        assert_eq!(t.check(&"k", 6), Err(894));
        assert_eq!(t.check(&"k", 900), Ok(()));
    }

    #[test]
    fn success_forgets_and_keys_are_apart() {
        let mut t = Throttle::new(P);
        for s in 0..4 {
            t.failed(&"a", s);
        }
        assert!(t.check(&"a", 10).is_err());
        assert_eq!(t.check(&"b", 10), Ok(()));
        t.succeeded(&"a");
        assert_eq!(t.check(&"a", 10), Ok(()));
        assert!(t.is_empty());
    }

    #[test]
    fn old_failures_expire() {
        let mut t = Throttle::new(P);
        for s in 0..4 {
            t.failed(&"a", s);
        }
        assert_eq!(t.check(&"a", 2_000), Ok(()));
    }
}
