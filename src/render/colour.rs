//! ANSI colour for the human text output (`--output text`).
//!
//! Owns: which SGR sequence marks a status, a severity, a title. Does not decide whether
//! to colour: the command line does (a terminal on stdout, `NO_COLOR`, `--color`) and
//! passes a [`Palette`].
//!
//! Invariant: only text that the renderer produced is painted, and only after it was
//! sanitised (`finding::term`) and padded; escapes never come from the input, and
//! padding widths are counted on the visible text.

use crate::correlate::finding::Status;
use crate::record::Severity;

/// Select Graphic Rendition codes used here.
const BOLD: &str = "1";
const RED: &str = "31";
const BOLD_RED: &str = "1;31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const CYAN: &str = "36";

/// How the text output is styled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Palette {
    /// No escape sequences: pipes, files, `NO_COLOR`.
    #[default]
    Plain,
    /// ANSI SGR colours for a terminal.
    Ansi,
}

impl Palette {
    fn paint(self, sgr: &str, s: &str) -> String {
        match self {
            Palette::Plain => s.to_string(),
            Palette::Ansi => format!("\x1b[{sgr}m{s}\x1b[0m"),
        }
    }

    /// `s` in the colour of severity `sev` (critical bold red, error red, warning
    /// yellow, info cyan).
    pub fn severity(self, sev: Severity, s: &str) -> String {
        let sgr = match sev {
            Severity::Critical => BOLD_RED,
            Severity::Error => RED,
            Severity::Warning => YELLOW,
            Severity::Info => CYAN,
        };
        self.paint(sgr, s)
    }

    /// `s` marked as a firing (bold) or resolved (green) finding.
    pub fn status(self, status: Status, s: &str) -> String {
        match status {
            Status::Firing => self.paint(BOLD, s),
            Status::Resolved => self.paint(GREEN, s),
        }
    }

    /// What the eye should land on: a finding's title.
    pub fn strong(self, s: &str) -> String {
        self.paint(BOLD, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_adds_nothing() {
        let p = Palette::Plain;
        assert_eq!(p.severity(Severity::Critical, "critical"), "critical");
        assert_eq!(p.status(Status::Firing, "[FIRING]"), "[FIRING]");
        assert_eq!(p.strong("title"), "title");
    }

    #[test]
    fn ansi_wraps_and_resets() {
        let p = Palette::Ansi;
        assert_eq!(p.severity(Severity::Error, "error"), "\x1b[31merror\x1b[0m");
        assert_eq!(
            p.status(Status::Resolved, "[RESOLVED]"),
            "\x1b[32m[RESOLVED]\x1b[0m"
        );
        assert_ne!(
            p.severity(Severity::Warning, "x"),
            p.severity(Severity::Info, "x")
        );
    }
}
