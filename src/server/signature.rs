//! HMAC signatures of webhook bodies, both directions: the receiver verifies Flux
//! `generic-hmac` calls (`X-Signature: <algo>=<hex>` over the exact body) and the webhook
//! sink signs what it sends the same way, plus a timestamped form a receiver can bound
//! replays with (`X-Fluxsight-Timestamp: <unix seconds>`,
//! `X-Fluxsight-Signature: sha256=<hex HMAC(key, "<timestamp>.<body>")>`).
//!
//! Owns: the signature formats and the replay cache. Does not own: where keys come from
//! (config build steps) or HTTP status codes (the receiver).
//!
//! Invariant: every comparison of a received MAC goes through `Mac::verify_slice`, which
//! is constant time; a malformed header is a failed verification, never a panic.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};

/// Flux `generic-hmac` signature header (body only).
pub const SIGNATURE_HEADER: &str = "x-signature";
/// Unix seconds the timestamped signature covers.
pub const TIMESTAMP_HEADER: &str = "x-fluxsight-timestamp";
/// `sha256=<hex HMAC(key, "<timestamp>.<body>")>`.
pub const TIMESTAMPED_SIGNATURE_HEADER: &str = "x-fluxsight-signature";

/// Longest hex signature accepted (SHA-512 = 128 hex digits).
const MAX_HEX: usize = 128;

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > MAX_HEX {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `sha256=<hex>` of HMAC-SHA256(key, parts concatenated).
pub fn sign(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// The timestamped signature of `body` at `unix_secs` (the `X-Fluxsight-Signature` value).
pub fn sign_timestamped(key: &[u8], unix_secs: u64, body: &[u8]) -> String {
    sign(key, &[unix_secs.to_string().as_bytes(), b".", body])
}

fn verify_parts<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]], sig: &[u8]) -> bool {
    let Ok(mut m) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
        return false;
    };
    for p in parts {
        m.update(p);
    }
    m.verify_slice(sig).is_ok()
}

/// Verifies `<algo>=<hex>` (sha256 or sha512) over the concatenated `parts`, in
/// constant time. A truncated MAC fails (`verify_slice` wants the full length).
fn verify_header(key: &[u8], header: Option<&str>, parts: &[&[u8]]) -> bool {
    let Some((algo, hex)) = header.and_then(|h| h.trim().split_once('=')) else {
        return false;
    };
    let Some(sig) = decode_hex(hex) else {
        return false;
    };
    match algo.to_ascii_lowercase().as_str() {
        "sha256" => verify_parts::<Hmac<Sha256>>(key, parts, &sig),
        "sha512" => verify_parts::<Hmac<Sha512>>(key, parts, &sig),
        _ => false,
    }
}

/// Verifies Flux's `X-Signature: <algo>=<hex>` over `body` in constant time.
pub fn verify_signature(key: &[u8], header: Option<&str>, body: &[u8]) -> bool {
    verify_header(key, header, &[body])
}

/// Verifies the timestamped form: the MAC covers `"<timestamp>.<body>"` and the timestamp
/// lies within `window` of `now_secs` (either side, for clock skew).
pub fn verify_timestamped(
    key: &[u8],
    timestamp: Option<&str>,
    header: Option<&str>,
    body: &[u8],
    now_secs: u64,
    window: Duration,
) -> bool {
    let Some(ts) = timestamp.map(str::trim) else {
        return false;
    };
    let Ok(secs) = ts.parse::<u64>() else {
        return false;
    };
    within(
        secs.saturating_mul(1000),
        now_secs.saturating_mul(1000),
        window,
    ) && verify_header(key, header, &[ts.as_bytes(), b".", body])
}

/// Whether `ts_ms` lies within `window` of `now_ms`.
pub fn within(ts_ms: u64, now_ms: u64, window: Duration) -> bool {
    u128::from(ts_ms.abs_diff(now_ms)) <= window.as_millis()
}

/// Signatures accepted recently, so a captured request replayed inside the window is
/// recognised. Bounded: beyond `cap` the oldest entry is forgotten (and counted).
pub struct ReplayCache {
    window: Duration,
    cap: usize,
    order: VecDeque<(Instant, Vec<u8>)>,
    seen: HashSet<Vec<u8>>,
    /// Entries forgotten early because the cache was full.
    pub evicted: u64,
}

impl ReplayCache {
    pub fn new(window: Duration, cap: usize) -> Self {
        ReplayCache {
            window,
            cap: cap.max(1),
            order: VecDeque::new(),
            seen: HashSet::new(),
            evicted: 0,
        }
    }

    /// Records `key` at `now`; false when it was already seen inside the window.
    pub fn first_time(&mut self, key: &[u8], now: Instant) -> bool {
        while let Some((t, _)) = self.order.front() {
            if now.duration_since(*t) <= self.window {
                break;
            }
            if let Some((_, k)) = self.order.pop_front() {
                self.seen.remove(&k);
            }
        }
        if self.seen.contains(key) {
            return false;
        }
        if self.order.len() >= self.cap {
            if let Some((_, k)) = self.order.pop_front() {
                self.seen.remove(&k);
                self.evicted += 1;
            }
        }
        self.seen.insert(key.to_vec());
        self.order.push_back((now, key.to_vec()));
        true
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"secret";
    const BODY: &[u8] = b"{\"a\":1}";

    #[test]
    fn good_bad_missing_and_truncated_signatures() {
        let good = sign(KEY, &[BODY]);
        assert!(verify_signature(KEY, Some(&good), BODY));
        assert!(verify_signature(KEY, Some(&good.to_uppercase()), BODY));
        assert!(
            !verify_signature(KEY, Some(&good), b"{\"a\":2}"),
            "other body"
        );
        assert!(!verify_signature(b"other", Some(&good), BODY), "other key");
        assert!(!verify_signature(KEY, None, BODY), "missing");
        assert!(!verify_signature(KEY, Some(""), BODY), "empty");
        assert!(!verify_signature(KEY, Some("sha256="), BODY), "no digits");
        assert!(!verify_signature(KEY, Some("sha256=zz"), BODY), "not hex");
        assert!(!verify_signature(KEY, Some("md5=00"), BODY), "unknown algo");
        for cut in [2, 32, 62] {
            let truncated = &good[..good.len() - cut];
            assert!(!verify_signature(KEY, Some(truncated), BODY), "cut {cut}");
        }
        let long = format!("{good}{}", "0".repeat(200));
        assert!(!verify_signature(KEY, Some(&long), BODY), "overlong");
    }

    #[test]
    fn sha512_is_accepted() {
        let mut m = Hmac::<Sha512>::new_from_slice(KEY).unwrap();
        m.update(BODY);
        let h = format!("sha512={}", hex(&m.finalize().into_bytes()));
        assert!(verify_signature(KEY, Some(&h), BODY));
    }

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", &[b"what do ya want for nothing?"]),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn timestamped_signatures_bind_the_time() {
        let w = Duration::from_secs(300);
        let now = 1_800_000_000;
        let sig = sign_timestamped(KEY, now, BODY);
        let ts = now.to_string();
        assert!(verify_timestamped(KEY, Some(&ts), Some(&sig), BODY, now, w));
        assert!(verify_timestamped(
            KEY,
            Some(&ts),
            Some(&sig),
            BODY,
            now + 300,
            w
        ));
        assert!(
            !verify_timestamped(KEY, Some(&ts), Some(&sig), BODY, now + 301, w),
            "stale"
        );
        let later = (now + 10).to_string();
        assert!(
            !verify_timestamped(KEY, Some(&later), Some(&sig), BODY, now, w),
            "moved time"
        );
        assert!(!verify_timestamped(KEY, None, Some(&sig), BODY, now, w));
        assert!(!verify_timestamped(
            KEY,
            Some("x"),
            Some(&sig),
            BODY,
            now,
            w
        ));
        let body_only = sign(KEY, &[BODY]);
        assert!(!verify_timestamped(
            KEY,
            Some(&ts),
            Some(&body_only),
            BODY,
            now,
            w
        ));
        let far = now + 10_000_000;
        assert!(verify_timestamped(
            KEY,
            Some(&ts),
            Some(&sig),
            BODY,
            far,
            Duration::MAX
        ));
    }

    #[test]
    fn replay_cache_remembers_within_the_window_and_stays_bounded() {
        let t0 = Instant::now();
        let mut c = ReplayCache::new(Duration::from_secs(60), 3);
        assert!(c.first_time(b"a", t0));
        assert!(!c.first_time(b"a", t0 + Duration::from_secs(59)));
        assert!(c.first_time(b"a", t0 + Duration::from_secs(61)), "expired");
        for k in [b"b", b"c", b"d"] {
            assert!(c.first_time(k, t0 + Duration::from_secs(62)));
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.evicted, 1);
    }
}
