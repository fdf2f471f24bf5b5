//! Whether a workload lookup may start now: a per-workload minimum interval and a global
//! cap per minute. A state machine without a clock of its own (the caller passes
//! `now`), so it is tested with plain instants.
//!
//! Invariant: bounded state. The per-workload map holds only lookups started within the
//! interval (older entries are swept on each call), and at most `max_per_minute` start
//! per minute, so it never holds more than `max_per_minute × interval-in-minutes + 1`
//! entries; the window holds at most `max_per_minute` instants.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Why a lookup may not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The same workload started less than the interval ago.
    Duplicate,
    /// `max_per_minute` lookups started in the last minute.
    RateLimited,
}

const MINUTE: Duration = Duration::from_secs(60);

/// Admission of lookups by key (the workload's `kind/namespace/name`).
#[derive(Debug)]
pub struct Gate {
    interval: Duration,
    max_per_minute: usize,
    last: HashMap<String, Instant>,
    window: VecDeque<Instant>,
}

impl Gate {
    pub fn new(interval: Duration, max_per_minute: u32) -> Gate {
        Gate {
            interval,
            max_per_minute: max_per_minute.max(1) as usize,
            last: HashMap::new(),
            window: VecDeque::new(),
        }
    }

    /// Admits a lookup of `key` at `now` (and remembers it), or says why not. A refused
    /// request does not move the workload's interval.
    pub fn admit(&mut self, key: &str, now: Instant) -> Result<(), Refused> {
        let interval = self.interval;
        self.last
            .retain(|_, t| now.saturating_duration_since(*t) < interval);
        while self
            .window
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= MINUTE)
        {
            self.window.pop_front();
        }
        if self.last.contains_key(key) {
            return Err(Refused::Duplicate);
        }
        if self.window.len() >= self.max_per_minute {
            return Err(Refused::RateLimited);
        }
        self.window.push_back(now);
        if !interval.is_zero() {
            self.last.insert(key.to_string(), now);
        }
        Ok(())
    }

    /// Workloads remembered (for tests of the bound).
    pub fn remembered(&self) -> usize {
        self.last.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_workload_waits_the_interval_others_do_not() {
        let t0 = Instant::now();
        let mut g = Gate::new(Duration::from_secs(60), 10);
        assert_eq!(g.admit("Deployment/shop/web", t0), Ok(()));
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(
            g.admit("Deployment/shop/web", at(59)),
            Err(Refused::Duplicate)
        );
        assert_eq!(g.admit("Deployment/shop/api", at(59)), Ok(()));
        assert_eq!(g.admit("Deployment/shop/web", at(60)), Ok(()));
        // The refused request at 59 s did not restart the interval.
        assert_eq!(
            g.admit("Deployment/shop/web", at(100)),
            Err(Refused::Duplicate)
        );
    }

    #[test]
    fn global_cap_per_minute_and_bounded_memory() {
        let t0 = Instant::now();
        let mut g = Gate::new(Duration::from_secs(120), 3);
        for i in 0..3 {
            assert_eq!(g.admit(&format!("w{i}"), t0), Ok(()));
        }
        assert_eq!(g.admit("w3", t0), Err(Refused::RateLimited));
        let later = t0 + Duration::from_secs(60);
        assert_eq!(g.admit("w3", later), Ok(()));
        // Over an hour of steady requests the map holds only the last interval's.
        let mut now = later;
        for i in 0..600 {
            now += Duration::from_secs(6);
            let _ = g.admit(&format!("x{i}"), now);
        }
        assert!(g.remembered() <= 3 * 2 + 1, "{}", g.remembered());
        // Interval 0: no per-workload memory at all.
        let mut g = Gate::new(Duration::ZERO, 5);
        assert_eq!(g.admit("w", t0), Ok(()));
        assert_eq!(g.admit("w", t0), Ok(()));
        assert_eq!(g.remembered(), 0);
    }
}
