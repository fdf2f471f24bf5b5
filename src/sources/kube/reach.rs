//! Whether the cluster's API server can be reached, and when to try it again: ONE
//! back-off state per connection, shared by every watch, log follower and probe.
//!
//! Owns: telling a connection failure (no answer, refused, TLS, credentials rejected)
//! from an API error of one request (404, 403: the server answered); the back-off
//! (exponential from [`BACKOFF_MIN`] to [`BACKOFF_MAX`], jittered); the operator's view
//! of an outage: one ERROR naming the server and the kube context, one WARN per
//! back-off step, one INFO when the server answers again; the failure counter.
//!
//! Why shared: a laptop with a stale kubeconfig runs a dozen watches and a follower per
//! controller container. Each retrying on its own gives a dozen log lines and a dozen
//! requests per step; sharing the state gives one of each.
//!
//! Invariant: a failure seen while a back-off step is pending (a request that started
//! before it) is counted but does not start a new step, so the steps grow however many
//! tasks fail together.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::telemetry::Telemetry;

/// First pause after the server stopped answering.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest pause: an API server back after a long outage is seen within this.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// One back-off step, decided by a failure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// 1 for the failure that began the outage.
    pub attempt: u32,
    /// The pause before the next attempt (jittered).
    pub pause: Duration,
}

/// The back-off state machine (no clock of its own, no logging).
#[derive(Debug, Default)]
struct Backoff {
    /// Steps taken in the current outage (0: reachable).
    steps: u32,
    /// The unjittered pause of the last step.
    base: Duration,
    /// Attempts wait until then.
    retry_at: Option<Instant>,
    /// When the outage began.
    since: Option<Instant>,
}

impl Backoff {
    /// A failure at `now`; `Some` when it starts a new step (`factor` scales the pause,
    /// the jitter).
    fn fail(&mut self, now: Instant, factor: f64) -> Option<Step> {
        if self.retry_at.is_some_and(|t| now < t) {
            return None;
        }
        self.base = if self.steps == 0 {
            BACKOFF_MIN
        } else {
            (self.base * 2).min(BACKOFF_MAX)
        };
        self.steps += 1;
        self.since.get_or_insert(now);
        let pause = self.base.mul_f64(factor).min(BACKOFF_MAX);
        self.retry_at = Some(now + pause);
        Some(Step {
            attempt: self.steps,
            pause,
        })
    }

    /// An answer: the outage (if any) is over; how long it lasted and in how many steps.
    fn succeed(&mut self, now: Instant) -> Option<(u32, Duration)> {
        let over = (self.steps > 0).then(|| {
            (
                self.steps,
                now.saturating_duration_since(self.since.unwrap_or(now)),
            )
        });
        *self = Backoff::default();
        over
    }
}

/// The shared reachability of one API server (see the module doc).
#[derive(Debug)]
pub struct Reachability {
    server: String,
    context: String,
    telemetry: Arc<Telemetry>,
    /// Fast path for every answered request: no lock while reachable.
    failing: AtomicBool,
    state: Mutex<Backoff>,
}

impl Reachability {
    /// The state of `server` (its URL) reached through kube context `context` (`-`
    /// in-cluster).
    pub fn new(server: &str, context: &str, telemetry: Arc<Telemetry>) -> Arc<Self> {
        Arc::new(Reachability {
            server: server.to_string(),
            context: context.to_string(),
            telemetry,
            failing: AtomicBool::new(false),
            state: Mutex::default(),
        })
    }

    /// Waits until the next attempt is due; `false` when `cancel` fired first.
    pub async fn ready(&self, cancel: &CancellationToken) -> bool {
        let at = self.lock().retry_at;
        match at {
            Some(at) => tokio::select! {
                _ = cancel.cancelled() => false,
                _ = tokio::time::sleep_until(at) => true,
            },
            None => !cancel.is_cancelled(),
        }
    }

    /// A request got no usable answer: counted, and logged when it starts a step.
    pub fn failed(&self, error: &dyn std::error::Error) {
        self.failed_at(Instant::now(), error);
    }

    fn failed_at(&self, now: Instant, error: &dyn std::error::Error) {
        self.telemetry
            .kube_connect_failures
            .fetch_add(1, Ordering::Relaxed);
        self.failing.store(true, Ordering::Relaxed);
        let factor = super::jitter(Duration::from_secs(1)).as_secs_f64();
        let Some(step) = self.lock().fail(now, factor) else {
            return;
        };
        let (server, context) = (self.server.as_str(), self.context.as_str());
        let error = super::connect::error_chain(error);
        let retry_in = format!("{:.1}s", step.pause.as_secs_f64());
        if step.attempt == 1 {
            tracing::error!(
                server,
                context,
                error,
                retry_in,
                "kubernetes API server {server} (context {context}) unreachable; watches and log followers wait and retry with back-off"
            );
        } else {
            tracing::warn!(
                server,
                context,
                attempt = step.attempt,
                error,
                retry_in,
                "kubernetes API server {server} still unreachable"
            );
        }
    }

    /// A request was answered (any status but the connection failures of
    /// [`is_connection_failure`]).
    pub fn answered(&self) {
        if !self.failing.swap(false, Ordering::Relaxed) {
            return;
        }
        if let Some((steps, down)) = self.lock().succeed(Instant::now()) {
            tracing::info!(
                server = %self.server,
                context = %self.context,
                attempts = steps,
                down_secs = down.as_secs(),
                "kubernetes API server {} reachable again",
                self.server
            );
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Backoff> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The request never got a usable answer from the server: transport (refused, reset,
/// timeout, TLS) or credentials rejected (401, which every request would get too). Any
/// other API status is about this one request and the server is up.
pub fn is_connection_failure(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 401,
        kube::Error::HyperError(_)
        | kube::Error::Service(_)
        | kube::Error::ReadEvents(_)
        | kube::Error::Auth(_)
        | kube::Error::RustlsTls(_) => true,
        _ => false,
    }
}

/// [`is_connection_failure`] for a watch's error.
pub fn is_watch_connection_failure(e: &kube::runtime::watcher::Error) -> bool {
    use kube::runtime::watcher::Error as W;
    match e {
        W::InitialListFailed(e) | W::WatchStartFailed(e) | W::WatchFailed(e) => {
            is_connection_failure(e)
        }
        W::WatchError(s) => s.code == 401,
        W::NoResourceVersion => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_double_up_to_the_cap_and_failures_within_a_step_do_not_add_one() {
        let mut b = Backoff::default();
        let mut now = Instant::now();
        let mut pauses = Vec::new();
        for _ in 0..12 {
            let step = b.fail(now, 1.0).expect("a due failure starts a step");
            // Ten more tasks fail during the pause: no new step.
            for _ in 0..10 {
                assert_eq!(b.fail(now + step.pause / 2, 1.0), None);
            }
            pauses.push(step.pause.as_secs());
            now += step.pause;
        }
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(b.steps, 12);
        // An answer ends the outage; the next failure starts from the first step again.
        let (steps, down) = b.succeed(now).unwrap();
        assert_eq!(steps, 12);
        assert_eq!(
            down.as_secs(),
            1 + 2 + 4 + 8 + 16 + 32 + 64 + 128 + 256 + 900
        );
        assert_eq!(b.succeed(now), None, "reported once");
        assert_eq!(b.fail(now, 1.0).unwrap().pause, BACKOFF_MIN);
    }

    #[test]
    fn jitter_scales_the_pause_but_never_past_the_cap() {
        let mut b = Backoff::default();
        let now = Instant::now();
        assert_eq!(b.fail(now, 1.5).unwrap().pause, Duration::from_millis(1500));
        b.base = BACKOFF_MAX;
        let at = b.retry_at.unwrap();
        assert_eq!(b.fail(at, 1.4).unwrap().pause, BACKOFF_MAX);
    }

    /// Fifteen tasks failing together for 30 s log one ERROR naming the server and the
    /// context, then one WARN per step, and count every failure.
    #[test]
    fn an_outage_logs_once_per_step_and_counts_every_failure() {
        let telemetry = Telemetry::new();
        let logs = crate::telemetry::logs::capture_for_test(|| {
            let r = Reachability::new("https://127.0.0.1:1/", "laptop", telemetry.clone());
            let err = std::io::Error::other("connection refused");
            let start = Instant::now();
            let mut now = start;
            while now < start + Duration::from_secs(30) {
                for _ in 0..15 {
                    r.failed_at(now, &err);
                }
                // Everyone waits for the step the first failure began.
                now = r.lock().retry_at.unwrap();
            }
            r.answered();
            r.answered();
        });
        let failures = telemetry.kube_connect_failures.load(Ordering::Relaxed);
        assert!(failures >= 15 * 5, "every failure counted: {failures}");
        let levels: Vec<&str> = logs.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(levels.first(), Some(&"ERROR"), "{logs:?}");
        assert!(
            logs[0].1.contains("https://127.0.0.1:1/") && logs[0].1.contains("laptop"),
            "{logs:?}"
        );
        // Jitter in [0.5, 1.5): 30 s hold 4 to 8 doubling steps.
        let warns = levels.iter().filter(|l| **l == "WARN").count();
        assert!((3..=8).contains(&warns), "{logs:?}");
        assert_eq!(levels.last(), Some(&"INFO"), "{logs:?}");
        assert_eq!(levels.len(), 1 + warns + 1, "nothing else: {logs:?}");
    }
}
