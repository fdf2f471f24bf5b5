//! The progress line of a long replay: lines read and records/s on stderr, redrawn in
//! place, for a person watching a terminal.
//!
//! Owns: when a line is shown (only after [`SHOW_AFTER`], at most every
//! [`REDRAW_EVERY`]) and its text. Does not read a clock nor decide whether stderr is a
//! terminal: the caller passes the elapsed time and shows the meter only on a TTY, so
//! the logic is tested with plain calls.
//!
//! Invariant: a meter that drew a line erases it when the replay ends, so the summary
//! printed next starts on a clean line; one that drew nothing writes nothing.

use std::time::Duration;

/// A replay shorter than this shows no progress: most finish before a reader would
/// look, and a flash of text is noise.
pub const SHOW_AFTER: Duration = Duration::from_secs(2);
/// Redraws at most this often: readable, and cheap next to the replay.
pub const REDRAW_EVERY: Duration = Duration::from_millis(250);
/// Return to the line start, and erase to the end of the line (ANSI EL).
const CR: &str = "\r";
const ERASE_LINE: &str = "\x1b[K";

/// Counters handed to the progress hook of a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayProgress {
    /// Input lines read so far, all inputs together.
    pub lines: u64,
    /// Records fed to the correlator so far.
    pub records: u64,
    /// The replay has ended; this is the last call.
    pub done: bool,
}

/// Decides what to draw for each [`ReplayProgress`].
#[derive(Debug, Default)]
pub struct ProgressMeter {
    last_drawn: Option<Duration>,
}

impl ProgressMeter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The text to write to stderr for `p` at `elapsed` since the replay started, if any.
    pub fn update(&mut self, elapsed: Duration, p: ReplayProgress) -> Option<String> {
        if p.done {
            return self.last_drawn.map(|_| format!("{CR}{ERASE_LINE}"));
        }
        if elapsed < SHOW_AFTER {
            return None;
        }
        if self
            .last_drawn
            .is_some_and(|t| elapsed.saturating_sub(t) < REDRAW_EVERY)
        {
            return None;
        }
        self.last_drawn = Some(elapsed);
        let rate = p.records as f64 / elapsed.as_secs_f64();
        Some(format!(
            "{CR}fluxsight: replay: {} lines read, {} records, {:.0} records/s{ERASE_LINE}",
            p.lines, p.records, rate
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lines: u64, records: u64) -> ReplayProgress {
        ReplayProgress {
            lines,
            records,
            done: false,
        }
    }

    const DONE: ReplayProgress = ReplayProgress {
        lines: 0,
        records: 0,
        done: true,
    };

    #[test]
    fn a_short_replay_draws_nothing_not_even_the_erase() {
        let mut m = ProgressMeter::new();
        assert_eq!(m.update(Duration::from_millis(1_999), at(10, 10)), None);
        assert_eq!(m.update(Duration::from_millis(1_999), DONE), None);
    }

    #[test]
    fn after_two_seconds_it_shows_lines_and_rate_then_erases() {
        let mut m = ProgressMeter::new();
        let line = m
            .update(Duration::from_secs(4), at(50_000, 40_000))
            .unwrap();
        assert_eq!(
            line,
            "\rfluxsight: replay: 50000 lines read, 40000 records, 10000 records/s\x1b[K"
        );
        assert_eq!(
            m.update(Duration::from_secs(5), DONE).as_deref(),
            Some("\r\x1b[K")
        );
    }

    #[test]
    fn redraws_are_rate_limited() {
        let mut m = ProgressMeter::new();
        let t = Duration::from_millis(2_000);
        assert!(m.update(t, at(1, 1)).is_some());
        assert!(m.update(t + REDRAW_EVERY / 2, at(2, 2)).is_none());
        assert!(m.update(t + REDRAW_EVERY, at(3, 3)).is_some());
    }
}
