//! Request rate limits of the event receiver: one token bucket per client address and
//! one global bucket.
//!
//! Owns: the buckets (sans-IO: the caller passes the time). Does not own: the HTTP
//! answer (the receiver turns a refusal into 429 with `Retry-After`).
//!
//! Invariant: memory is bounded: at most [`MAX_CLIENTS`] buckets; when full, buckets that
//! have refilled (idle clients) are dropped first, and if every client is active the
//! table starts over (each forgotten client gets a fresh burst, counted in `resets`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Most client buckets kept.
pub const MAX_CLIENTS: usize = 10_000;

/// A token bucket: `burst` tokens, refilled at `rate` per second.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Bucket {
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(burst);
        self.at = now;
    }

    /// Wait until one token is available.
    fn wait(&self, rate: f64) -> Duration {
        if rate <= 0.0 {
            return Duration::from_secs(60);
        }
        Duration::from_secs_f64(((1.0 - self.tokens) / rate).max(0.0))
    }
}

/// Rates of the two limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Requests per second per client address.
    pub client_rate: f64,
    pub client_burst: f64,
    /// Requests per second over all clients.
    pub global_rate: f64,
    pub global_burst: f64,
}

/// The receiver's limiter.
#[derive(Debug)]
pub struct RateLimiter {
    rates: Rates,
    global: Bucket,
    clients: HashMap<IpAddr, Bucket>,
    /// Times the client table was full of active clients and started over.
    pub resets: u64,
}

impl RateLimiter {
    pub fn new(rates: Rates, now: Instant) -> Self {
        RateLimiter {
            rates,
            global: Bucket::full(rates.global_burst, now),
            clients: HashMap::new(),
            resets: 0,
        }
    }

    /// Takes one token from `client`'s bucket and the global one, or says how long to
    /// wait (the `Retry-After`). A refused request takes no token.
    pub fn check(&mut self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let r = self.rates;
        if !self.clients.contains_key(&client) && self.clients.len() >= MAX_CLIENTS {
            self.clients.retain(|_, b| {
                b.refill(r.client_rate, r.client_burst, now);
                b.tokens < r.client_burst
            });
            if self.clients.len() >= MAX_CLIENTS {
                self.clients.clear();
                self.resets += 1;
            }
        }
        let bucket = self
            .clients
            .entry(client)
            .or_insert_with(|| Bucket::full(r.client_burst, now));
        bucket.refill(r.client_rate, r.client_burst, now);
        self.global.refill(r.global_rate, r.global_burst, now);
        if bucket.tokens < 1.0 {
            return Err(bucket.wait(r.client_rate));
        }
        if self.global.tokens < 1.0 {
            return Err(self.global.wait(r.global_rate));
        }
        bucket.tokens -= 1.0;
        self.global.tokens -= 1.0;
        Ok(())
    }

    pub fn clients(&self) -> usize {
        self.clients.len()
    }
}

/// `Retry-After` seconds for a wait (at least 1: the header has whole seconds).
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    const RATES: Rates = Rates {
        client_rate: 2.0,
        client_burst: 3.0,
        global_rate: 100.0,
        global_burst: 5.0,
    };

    #[test]
    fn per_client_burst_then_refill() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(RATES, t0);
        for _ in 0..3 {
            assert!(l.check(ip(1), t0).is_ok());
        }
        let wait = l.check(ip(1), t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(retry_after_secs(wait), 1);
        assert!(
            l.check(ip(2), t0).is_ok(),
            "another client has its own bucket"
        );
        assert!(l.check(ip(1), t0 + Duration::from_millis(500)).is_ok());
    }

    #[test]
    fn global_limit_spans_clients() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(RATES, t0);
        for n in 0..5 {
            assert!(l.check(ip(n), t0).is_ok());
        }
        assert!(l.check(ip(9), t0).is_err(), "global burst of 5 spent");
        assert!(l.check(ip(9), t0 + Duration::from_millis(10)).is_ok());
    }

    #[test]
    fn client_table_is_bounded() {
        let t0 = Instant::now();
        let rates = Rates {
            global_rate: 1e9,
            global_burst: 1e9,
            ..RATES
        };
        let mut l = RateLimiter::new(rates, t0);
        for i in 0..(MAX_CLIENTS as u32 + 10) {
            let a = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(l.check(a, t0).is_ok());
        }
        assert!(l.clients() <= MAX_CLIENTS);
        assert_eq!(l.resets, 1);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
