//! The live pipeline's clock: the one time the correlator, the router and the sinks see.
//!
//! `Clock::Auto` (default) keeps that time consistent in event time. While the input
//! runs behind the wall clock by more than [`BEHIND_AFTER_MS`] (a backlog, a file of
//! old logs, the first minutes after a restart), time is the records' own, a watermark
//! that never moves back and only advances with records; once the input has caught up,
//! the wall clock drives it (so a quiet cluster still resolves what stopped failing).
//! `Clock::Wall` and `Clock::Record` fix one of the two for the whole run.
//!
//! Invariant: while behind, nothing but a record moves time forward: the wall clock
//! never resolves a finding merely because it moved past old records.

use crate::record::TsMs;

/// How far behind the wall clock the input may run before time follows the records.
pub const BEHIND_AFTER_MS: TsMs = 2 * 60_000;

/// What drives the correlator's clock in live mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    /// The records' time while the input runs behind, the wall clock once caught up.
    #[default]
    Auto,
    /// The wall clock (following a live cluster).
    Wall,
    /// The records' own timestamps (recorded input, like `replay`).
    Record,
}

impl Clock {
    /// The names `--clock` accepts, in the order of its help.
    pub const NAMES: [&'static str; 3] = ["auto", "wall", "record"];

    pub fn parse(s: &str) -> Option<Clock> {
        match s {
            "auto" => Some(Clock::Auto),
            "wall" => Some(Clock::Wall),
            "record" => Some(Clock::Record),
            _ => None,
        }
    }
}

/// A change of what drives time under `Clock::Auto`, to be logged once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    /// The input runs `lag_ms` behind the wall clock: time follows the records.
    Behind { lag_ms: TsMs },
    /// The input caught up (it was behind): the wall clock drives time again.
    CaughtUp,
}

/// Which of the two times drives [`Clock::Auto`] now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    /// No dated record yet.
    Undecided,
    Records,
    Wall,
}

/// The live clock's state: its kind, the records' watermark and, under `Auto`, which
/// time drives.
#[derive(Debug, Clone)]
pub struct LiveClock {
    kind: Clock,
    behind_after_ms: TsMs,
    /// Newest record time seen; never moves back.
    watermark: Option<TsMs>,
    driver: Driver,
}

impl LiveClock {
    pub fn new(kind: Clock, behind_after_ms: TsMs) -> Self {
        let driver = match kind {
            Clock::Auto => Driver::Undecided,
            Clock::Wall => Driver::Wall,
            Clock::Record => Driver::Records,
        };
        LiveClock {
            kind,
            behind_after_ms,
            watermark: None,
            driver,
        }
    }

    /// A batch arrived at wall time `wall`, its newest record dated `newest`. Under
    /// `Auto`, decides what drives time from here on; the change, if any, is returned.
    ///
    /// Only a record that advances the watermark can put the input behind: an old
    /// straggler (an object's last transition, a re-listed Event) after recent records,
    /// or a quiet spell, says nothing about how far behind the input runs.
    pub fn observe(&mut self, newest: Option<TsMs>, wall: TsMs) -> Option<Drift> {
        let ts = newest?;
        let advanced = self.watermark.is_none_or(|w| ts > w);
        let watermark = self.watermark.map_or(ts, |w| w.max(ts));
        self.watermark = Some(watermark);
        if self.kind != Clock::Auto {
            return None;
        }
        let lag_ms = wall.saturating_sub(watermark);
        match self.driver {
            _ if lag_ms <= self.behind_after_ms => {
                let was = std::mem::replace(&mut self.driver, Driver::Wall);
                (was == Driver::Records).then_some(Drift::CaughtUp)
            }
            Driver::Records => None,
            _ if advanced => {
                self.driver = Driver::Records;
                Some(Drift::Behind { lag_ms })
            }
            _ => None,
        }
    }

    /// No dated record came and undated ones wait: input without timestamps is live,
    /// so the wall clock drives.
    pub fn decide_wall(&mut self) {
        if self.driver == Driver::Undecided {
            self.driver = Driver::Wall;
        }
    }

    /// Whether `Auto` still waits for a dated record to decide.
    pub fn undecided(&self) -> bool {
        self.driver == Driver::Undecided
    }

    /// The wall time to advance the correlator to, when the wall clock drives it.
    pub fn wall_drives(&self, wall: TsMs) -> Option<TsMs> {
        (self.driver == Driver::Wall).then_some(wall)
    }

    /// The time of the router and the sinks: the wall clock when it drives, else the
    /// correlator's (record) time.
    pub fn now(&self, wall: TsMs, correlator_now: Option<TsMs>) -> TsMs {
        match self.driver {
            Driver::Wall => wall,
            _ => correlator_now.unwrap_or(wall),
        }
    }

    /// At the end of the input: whether to finish as `replay` does (judge what is
    /// open at the last record's time) rather than advance to the wall clock.
    pub fn finishes_in_record_time(&self) -> bool {
        self.driver != Driver::Wall
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: TsMs = 60_000;
    /// A wall clock in 2026, months after the records below.
    const WALL: TsMs = 1_796_000_000_000;
    const OLD: TsMs = 1_772_000_000_000;

    fn auto() -> LiveClock {
        LiveClock::new(Clock::Auto, BEHIND_AFTER_MS)
    }

    #[test]
    fn old_records_put_auto_behind_and_the_wall_clock_never_drives() {
        let mut c = auto();
        assert_eq!(
            c.observe(Some(OLD), WALL),
            Some(Drift::Behind { lag_ms: WALL - OLD })
        );
        // Ticks much later: still no wall time for the correlator.
        for later in [WALL + MIN, WALL + 60 * MIN] {
            assert_eq!(c.wall_drives(later), None);
            assert_eq!(c.now(later, Some(OLD)), OLD);
        }
        // More old records: no second note.
        assert_eq!(c.observe(Some(OLD + MIN), WALL + MIN), None);
        assert!(c.finishes_in_record_time());
    }

    #[test]
    fn auto_catches_up_once_within_the_threshold_and_says_so_once() {
        let mut c = auto();
        c.observe(Some(WALL - 10 * MIN), WALL);
        assert_eq!(c.observe(Some(WALL - MIN), WALL), Some(Drift::CaughtUp));
        assert_eq!(c.observe(Some(WALL), WALL), None);
        assert_eq!(c.wall_drives(WALL + 5), Some(WALL + 5));
        assert_eq!(c.now(WALL + 5, Some(WALL)), WALL + 5);
        assert!(!c.finishes_in_record_time());
    }

    #[test]
    fn recent_input_from_the_start_is_wall_driven_without_a_note() {
        let mut c = auto();
        assert_eq!(c.observe(Some(WALL - 5_000), WALL), None);
        assert_eq!(c.wall_drives(WALL), Some(WALL));
    }

    #[test]
    fn quiet_spells_and_old_stragglers_keep_a_caught_up_clock_on_the_wall() {
        let mut c = auto();
        c.observe(Some(WALL), WALL);
        // Ten quiet minutes, then an object whose last transition is days old.
        assert_eq!(c.observe(Some(OLD), WALL + 10 * MIN), None);
        assert_eq!(c.observe(None, WALL + 20 * MIN), None);
        assert_eq!(c.wall_drives(WALL + 20 * MIN), Some(WALL + 20 * MIN));
    }

    #[test]
    fn a_backlog_after_catching_up_puts_the_clock_behind_again() {
        let mut c = auto();
        c.observe(Some(WALL), WALL);
        // Records keep coming, but 5 minutes late (the pipeline fell behind).
        assert_eq!(
            c.observe(Some(WALL + MIN), WALL + 6 * MIN),
            Some(Drift::Behind { lag_ms: 5 * MIN })
        );
        assert_eq!(c.wall_drives(WALL + 6 * MIN), None);
    }

    #[test]
    fn undated_input_alone_is_decided_for_the_wall_clock() {
        let mut c = auto();
        assert_eq!(c.observe(None, WALL), None);
        assert!(c.undecided());
        assert_eq!(c.wall_drives(WALL), None);
        c.decide_wall();
        assert!(!c.undecided());
        assert_eq!(c.wall_drives(WALL), Some(WALL));
    }

    #[test]
    fn wall_and_record_clocks_never_change_driver() {
        let mut wall = LiveClock::new(Clock::Wall, BEHIND_AFTER_MS);
        assert_eq!(wall.observe(Some(OLD), WALL), None);
        assert_eq!(wall.wall_drives(WALL), Some(WALL));
        assert!(!wall.finishes_in_record_time());
        let mut record = LiveClock::new(Clock::Record, BEHIND_AFTER_MS);
        assert_eq!(record.observe(Some(WALL), WALL), None);
        assert_eq!(record.wall_drives(WALL), None);
        assert_eq!(record.now(WALL + MIN, Some(WALL)), WALL);
        assert!(record.finishes_in_record_time());
    }

    #[test]
    fn clock_names_parse() {
        for name in Clock::NAMES {
            assert!(Clock::parse(name).is_some(), "{name}");
        }
        assert_eq!(Clock::parse("auto"), Some(Clock::default()));
        assert_eq!(Clock::parse("now"), None);
    }
}
