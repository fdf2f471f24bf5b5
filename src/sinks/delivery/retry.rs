//! Retry delays: exponential back-off with full jitter, honouring `Retry-After`.
//!
//! One policy for every sink. Only retryable errors are retried (see
//! [`crate::sinks::SinkError`]); the worker retries until the delivery succeeds or shutdown.

use std::time::Duration;

/// Longest `Retry-After` honoured; a receiver asking for more is waited on this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// Back-off state of one sink.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial_ms: u64,
    max_ms: u64,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    pub fn new(initial_ms: u64, max_ms: u64, seed: u64) -> Self {
        Backoff {
            initial_ms: initial_ms.max(1),
            max_ms: max_ms.max(initial_ms.max(1)),
            attempt: 0,
            rng: seed | 1,
        }
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*: jitter only, no cryptographic need.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Delay before the next attempt: `retry_after` when the receiver asked for one,
    /// else a random delay in [cap/2, cap] with cap = initial·2^attempt bounded by max.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        if let Some(ra) = retry_after {
            return ra.min(MAX_RETRY_AFTER);
        }
        let exp = self.attempt.min(30) - 1;
        let cap = self.initial_ms.saturating_mul(1u64 << exp).min(self.max_ms);
        let half = cap / 2;
        let jitter = if half == 0 {
            0
        } else {
            self.next_rand() % (half + 1)
        };
        Duration::from_millis(half + jitter)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// Parses a `Retry-After` header: delta seconds (HTTP dates are treated as 1s, rare).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_millis((s * 1000.0) as u64)),
        _ => Some(Duration::from_secs(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_jitter_and_caps() {
        let mut b = Backoff::new(100, 1000, 42);
        let d: Vec<u64> = (0..8)
            .map(|_| b.next_delay(None).as_millis() as u64)
            .collect();
        assert!((50..=100).contains(&d[0]), "{d:?}");
        assert!((100..=200).contains(&d[1]), "{d:?}");
        assert!(d[7] <= 1000 && d[7] >= 500, "{d:?}");
        b.reset();
        assert!(b.next_delay(None).as_millis() <= 100);
    }

    #[test]
    fn honours_retry_after() {
        let mut b = Backoff::new(100, 1000, 1);
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(99_999))),
            MAX_RETRY_AFTER
        );
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::from_secs(1))
        );
        assert_eq!(parse_retry_after(""), None);
    }
}
