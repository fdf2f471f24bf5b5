//! Limits of the event receiver: request rates (one token bucket per client address and
//! one global bucket) and open connections per client address.
//!
//! Owns: the buckets (sans-IO: the caller passes the time) and the per-address connection
//! table. Does not own: the HTTP answer (the receiver turns a rate refusal into 429 with
//! `Retry-After`) nor closing a refused connection (the accept loop does).
//!
//! Invariants: memory is bounded. At most [`MAX_CLIENTS`] buckets; when full, buckets
//! that have refilled (idle clients) are dropped first, and if every client is active the
//! table starts over (each forgotten client gets a fresh burst, counted in `resets`). The
//! connection table holds only addresses with an open connection (an entry goes with its
//! last [`IpSlot`]), so it never outgrows the connection cap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
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

/// Open connections per client address, at most `max` each.
#[derive(Debug)]
pub struct ConnectionsPerIp {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection of a client address; dropping it frees the place.
#[derive(Debug)]
pub struct IpSlot {
    table: Arc<ConnectionsPerIp>,
    ip: IpAddr,
}

impl ConnectionsPerIp {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(ConnectionsPerIp {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // A panic while holding the lock cannot leave a count half-updated.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for one more connection from `ip`, or `None` if it has `max` open.
    pub fn try_open(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut open = self.table();
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            table: self.clone(),
            ip,
        })
    }

    /// Connections `ip` has open.
    pub fn open(&self, ip: IpAddr) -> usize {
        self.table().get(&ip).copied().unwrap_or(0)
    }

    /// Addresses with at least one open connection.
    pub fn clients(&self) -> usize {
        self.table().len()
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.table.table();
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
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
    fn connections_per_ip_are_capped_and_freed() {
        let table = ConnectionsPerIp::new(2);
        let a = table.try_open(ip(1)).unwrap();
        let _b = table.try_open(ip(1)).unwrap();
        assert!(table.try_open(ip(1)).is_none(), "third from one address");
        let _other = table
            .try_open(ip(2))
            .expect("another address has its own count");
        drop(a);
        assert_eq!(table.open(ip(1)), 1);
        let _c = table
            .try_open(ip(1))
            .expect("a closed connection frees its place");
        drop(_other);
        assert_eq!(
            table.clients(),
            1,
            "an address without connections is forgotten"
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
