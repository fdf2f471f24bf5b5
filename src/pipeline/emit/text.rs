//! Live text output (`run -o text`): the detailed block of `replay --output text`
//! ([`finding::text_block_in`]) when a finding first fires, fires again after a
//! resolution, or resolves; one line ([`finding::text_line_in`]) for each update in
//! between. Rendering stays in `render`; this only remembers what was shown.

use std::collections::HashSet;

use crate::correlate::{Finding, Status};
use crate::render::colour::Palette;
use crate::render::finding;

/// Findings whose last text block was a firing one, remembered to print updates as one
/// line; past it the memory restarts (an update may then print its block again).
const MAX_TEXT_FIRING: usize = 100_000;

/// Live text output: which findings were last shown firing, so that a first fire, a
/// fire again and a resolution print the detailed block and updates one line.
#[derive(Default)]
pub(super) struct LiveText {
    firing: HashSet<String>,
}

impl LiveText {
    /// The text of one emission of `f`, newline-terminated.
    pub(super) fn render(&mut self, f: &Finding, palette: Palette) -> String {
        let block = match f.status {
            Status::Firing => {
                if self.firing.len() >= MAX_TEXT_FIRING {
                    self.firing.clear();
                }
                self.firing.insert(f.id.clone())
            }
            Status::Resolved => {
                self.firing.remove(&f.id);
                true
            }
        };
        if block {
            // A blank line after the block sets it apart from the one-line updates.
            finding::text_block_in(f, palette) + "\n"
        } else {
            format!("{}\n", finding::text_line_in(f, palette))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::PatternId;
    use crate::record::ObjectRef;

    fn finding(id: &str, status: Status, count: u64) -> Finding {
        Finding {
            id: id.into(),
            status,
            title: "cannot authenticate".into(),
            summary: format!("failed {count} times"),
            tenant: "team-a".into(),
            tenants: vec!["team-a".into()],
            first_seen: 1,
            last_seen: 2,
            count,
            remediation: "rotate the token".into(),
            last_counted: 2,
            ..Finding::example(
                PatternId::GitAuthFailure,
                ObjectRef::new("GitRepository", "team-a", "app"),
            )
        }
    }

    fn is_block(text: &str) -> bool {
        text.lines().any(|l| l == "    next step: rotate the token")
    }

    #[test]
    fn live_text_blocks_on_fire_and_resolve_and_one_line_for_updates() {
        let mut text = LiveText::default();
        let p = Palette::Plain;
        let first = text.render(&finding("a", Status::Firing, 1), p);
        assert!(first.starts_with("[FIRING]") && is_block(&first), "{first}");
        assert!(first.contains("    since ") && first.contains("failed 1 times"));
        let update = text.render(&finding("a", Status::Firing, 5), p);
        assert_eq!(update.lines().count(), 1, "{update}");
        assert!(update.starts_with("[FIRING]"));
        // Another finding firing is a first fire of its own.
        assert!(is_block(&text.render(&finding("b", Status::Firing, 1), p)));
        let resolved = text.render(&finding("a", Status::Resolved, 5), p);
        assert!(resolved.starts_with("[RESOLVED]") && is_block(&resolved));
        // Firing again after the resolution is announced in full again.
        assert!(is_block(&text.render(&finding("a", Status::Firing, 6), p)));
    }
}
