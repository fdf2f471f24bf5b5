//! The timeline of a finding: one lane per object (the root first, then its symptoms in
//! the order they were first seen), failing phases as bars, failing records as points,
//! dense runs collapsed into one marker (`×37 over 12m 0s`), and a band where the root
//! cause began; with the same facts as table rows (the chart's text alternative and the
//! Markdown twin).
//!
//! Invariant: x coordinates are integers computed from record times only (never the
//! wall clock), so the same replay draws the same bytes.

use std::collections::BTreeMap;

use crate::correlate::Status;
use crate::record::{ObjectRef, TsMs};

use super::data::{FindingHistory, ObjectActivity};
use super::text::{clip, duration, hhmm, utc};

pub const LABEL_W: i64 = 230;
pub const PLOT_W: i64 = 700;
const LANE_H: i64 = 30;
const TOP: i64 = 36;
/// Points closer than this many pixels join one run (doubled until a lane has at most
/// [`MAX_MARKERS`] markers).
const RUN_GAP_PX: i64 = 6;
/// Room a run's label needs to the right of its start, in pixels.
const LABEL_ROOM: i64 = 130;
/// Most markers drawn per lane.
pub const MAX_MARKERS: usize = 24;
/// A run of at least this many points is drawn as one marker.
const RUN_MIN: usize = 3;
/// Most lanes per timeline (the root and its first symptoms).
pub const MAX_LANES: usize = 16;

/// A failing phase.
#[derive(Debug, Clone)]
pub struct Bar {
    pub x: i64,
    pub w: i64,
    pub title: String,
}

/// A failure point, or a collapsed run of them.
#[derive(Debug, Clone)]
pub struct Point {
    /// Where the point (or the run) starts.
    pub x: i64,
    /// Width of a run (from its first to its last point); 0 for a single point.
    pub w: i64,
    /// `×37 over 12m 0s` for a run; empty for a single point.
    pub label: String,
    /// Where the label goes, and whether it ends there (near the right edge).
    pub label_x: i64,
    pub label_end: bool,
    pub title: String,
}

/// One lane.
#[derive(Debug, Clone)]
pub struct Lane {
    pub y: i64,
    pub label: String,
    pub root: bool,
    pub bars: Vec<Bar>,
    pub points: Vec<Point>,
}

/// A status change of the finding (fired, resolved, fired again) on the root's lane.
#[derive(Debug, Clone)]
pub struct Mark {
    pub x: i64,
    pub resolved: bool,
    pub title: String,
}

/// An axis tick.
#[derive(Debug, Clone)]
pub struct Tick {
    pub x: i64,
    pub label: String,
}

/// One row of the data table twin.
#[derive(Debug, Clone)]
pub struct TimelineRow {
    pub object: String,
    pub what: String,
    pub from: String,
    pub to: String,
    /// Records in the row (empty for a phase).
    pub count: String,
}

/// A laid-out timeline.
#[derive(Debug, Clone)]
pub struct TimelineView {
    pub id: String,
    pub title: String,
    pub desc: String,
    pub width: i64,
    pub height: i64,
    pub plot_x: i64,
    pub plot_end: i64,
    pub axis_y: i64,
    pub ticks: Vec<Tick>,
    /// The band where the root cause began.
    pub band_x: i64,
    /// The finding's status changes, on the root's lane.
    pub marks: Vec<Mark>,
    /// Where the marks' apexes sit (just over the root's lane).
    pub mark_y: i64,
    pub lanes: Vec<Lane>,
    pub rows: Vec<TimelineRow>,
    /// Symptoms without a lane (over [`MAX_LANES`]).
    pub more: usize,
}

/// Maps record time to x, in integers.
struct Scale {
    t0: TsMs,
    span: i64,
}

impl Scale {
    fn x(&self, t: TsMs) -> i64 {
        let off = (t - self.t0).clamp(0, self.span) as i128;
        LABEL_W + (off * PLOT_W as i128 / self.span as i128) as i64
    }
}

/// The lanes' facts before drawing.
struct LaneFacts {
    object: ObjectRef,
    root: bool,
    /// Failing phases (from, to).
    phases: Vec<(TsMs, TsMs)>,
    points: Vec<TsMs>,
    total: u64,
}

/// Failing phases from failure and success times: a failure opens one, the next
/// success closes it; one still open ends at `end`.
fn phases(a: &ObjectActivity, end: TsMs) -> Vec<(TsMs, TsMs)> {
    let mut ev: Vec<(TsMs, bool)> = a
        .failures
        .iter()
        .map(|t| (*t, true))
        .chain(a.successes.iter().map(|t| (*t, false)))
        .collect();
    ev.sort();
    let mut out = Vec::new();
    let mut open: Option<TsMs> = None;
    let mut last_fail = 0;
    for (t, fail) in ev {
        match (fail, open) {
            (true, None) => {
                open = Some(t);
                last_fail = t;
            }
            (true, Some(_)) => last_fail = t,
            (false, Some(s)) => {
                out.push((s, t.max(last_fail)));
                open = None;
            }
            (false, None) => {}
        }
    }
    if let Some(s) = open {
        out.push((s, end.max(last_fail)));
    }
    out
}

/// The end of a finding: its resolution, else its last sighting.
pub fn finding_end(h: &FindingHistory) -> TsMs {
    let f = &h.finding;
    if f.status == Status::Resolved {
        h.emissions
            .iter()
            .rev()
            .find(|e| e.status == Status::Resolved)
            .map_or(f.last_seen, |e| e.at.max(f.last_seen))
    } else {
        f.last_seen
    }
}

/// The timeline of one finding (see the module docs).
pub fn finding_timeline(
    id: &str,
    h: &FindingHistory,
    activity: &BTreeMap<ObjectRef, ObjectActivity>,
) -> TimelineView {
    let f = &h.finding;
    let end = finding_end(h);
    let mut facts = Vec::new();
    let detail: BTreeMap<&ObjectRef, _> = f.impact.iter().map(|d| (&d.object, d)).collect();
    let objs: Vec<(&ObjectRef, bool)> = std::iter::once((&f.subject, true))
        .chain(f.impacted.iter().take(MAX_LANES - 1).map(|o| (o, false)))
        .collect();
    for (o, root) in objs {
        let lane = match activity.get(o) {
            Some(a) if !a.failures.is_empty() => LaneFacts {
                object: o.clone(),
                root,
                phases: phases(a, end),
                points: a.failures.clone(),
                total: a.failures_total,
            },
            _ if root => LaneFacts {
                object: o.clone(),
                root,
                phases: vec![(f.first_seen, end)],
                points: h.finding.evidence.iter().filter_map(|e| e.ts).collect(),
                total: f.count,
            },
            _ => match detail.get(o) {
                Some(d) => LaneFacts {
                    object: o.clone(),
                    root,
                    phases: vec![(d.first_failed, d.last_failed)],
                    points: vec![d.first_failed, d.last_failed],
                    total: d.count,
                },
                None => LaneFacts {
                    object: o.clone(),
                    root,
                    phases: Vec::new(),
                    points: Vec::new(),
                    total: 0,
                },
            },
        };
        facts.push(lane);
    }
    let times = facts
        .iter()
        .flat_map(|l| {
            l.points
                .iter()
                .copied()
                .chain(l.phases.iter().flat_map(|p| [p.0, p.1]))
        })
        .chain([f.first_seen, end]);
    let t0 = times.clone().min().unwrap_or(f.first_seen);
    let t1 = times.max().unwrap_or(end);
    let scale = Scale {
        t0,
        span: (t1 - t0).max(60_000),
    };
    let mut lanes = Vec::new();
    let mut rows = Vec::new();
    for (i, l) in facts.iter().enumerate() {
        let y = TOP + i as i64 * LANE_H;
        let name = l.object.to_string();
        let bars = l
            .phases
            .iter()
            .map(|(a, b)| {
                let (xa, xb) = (scale.x(*a), scale.x(*b));
                rows.push(TimelineRow {
                    object: name.clone(),
                    what: "failing".into(),
                    from: utc(*a),
                    to: utc(*b),
                    count: String::new(),
                });
                Bar {
                    x: xa,
                    w: (xb - xa).max(2),
                    title: format!(
                        "{name}: failing {} – {} ({})",
                        utc(*a),
                        utc(*b),
                        duration(b - a)
                    ),
                }
            })
            .collect();
        let points = runs(&l.points, &scale, &name, &mut rows);
        lanes.push(Lane {
            y,
            label: clip(&name, 30),
            root: l.root,
            bars,
            points,
        });
        if l.total > l.points.len() as u64 {
            rows.push(TimelineRow {
                object: name.clone(),
                what: format!(
                    "{} more failing records not drawn",
                    l.total - l.points.len() as u64
                ),
                from: String::new(),
                to: String::new(),
                count: (l.total - l.points.len() as u64).to_string(),
            });
        }
    }
    let mut marks = Vec::new();
    let mut prev = None;
    for e in &h.emissions {
        if prev == Some(e.status) {
            continue;
        }
        let what = match (e.status, prev) {
            (Status::Resolved, _) => "finding resolved",
            (Status::Firing, None) => "finding fired",
            (Status::Firing, Some(_)) => "finding fired again",
        };
        prev = Some(e.status);
        rows.push(TimelineRow {
            object: f.subject.to_string(),
            what: what.to_string(),
            from: utc(e.at),
            to: utc(e.at),
            count: e.count.to_string(),
        });
        marks.push(Mark {
            x: scale.x(e.at),
            resolved: e.status == Status::Resolved,
            title: format!("{what} at {} ({} records)", utc(e.at), e.count),
        });
    }
    let axis_y = TOP + lanes.len() as i64 * LANE_H + 4;
    let ticks = (0..=4)
        .map(|k| {
            let t = t0 + scale.span * k / 4;
            Tick {
                x: scale.x(t),
                label: hhmm(t),
            }
        })
        .collect();
    // The root cause began at its own first failure when the input shows one earlier
    // than the finding (which waits for its threshold).
    let began = facts
        .first()
        .and_then(|l| {
            l.points
                .iter()
                .chain(l.phases.iter().map(|p| &p.0))
                .min()
                .copied()
        })
        .map_or(f.first_seen, |t| t.min(f.first_seen));
    let title = format!("Timeline of {}", f.subject);
    let desc = format!(
        "{} lanes from {} to {}; the root cause began at {}",
        lanes.len(),
        utc(t0),
        utc(t0 + scale.span),
        utc(began)
    );
    TimelineView {
        id: id.to_string(),
        title,
        desc,
        width: LABEL_W + PLOT_W + 20,
        height: axis_y + 24,
        plot_x: LABEL_W,
        plot_end: LABEL_W + PLOT_W,
        axis_y,
        ticks,
        band_x: scale.x(began),
        marks,
        mark_y: TOP - 1,
        lanes,
        rows,
        more: f.impacted.len().saturating_sub(MAX_LANES - 1),
    }
}

/// Groups of points (index ranges) whose neighbours are closer than `gap` pixels.
fn groups(pts: &[TsMs], scale: &Scale, gap: i64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < pts.len() {
        let mut j = i;
        while j + 1 < pts.len() && scale.x(pts[j + 1]) - scale.x(pts[j]) < gap {
            j += 1;
        }
        out.push((i, j));
        i = j + 1;
    }
    out
}

/// Markers a grouping draws: a run of [`RUN_MIN`] or more is one, others one each.
fn markers(g: &[(usize, usize)]) -> usize {
    g.iter()
        .map(|(i, j)| if j - i + 1 >= RUN_MIN { 1 } else { j - i + 1 })
        .sum()
}

/// Points in time order, runs of close ones collapsed.
fn runs(points: &[TsMs], scale: &Scale, name: &str, rows: &mut Vec<TimelineRow>) -> Vec<Point> {
    let mut pts = points.to_vec();
    pts.sort_unstable();
    pts.dedup();
    let mut gap = RUN_GAP_PX;
    let mut grouped = groups(&pts, scale, gap);
    while markers(&grouped) > MAX_MARKERS && gap < PLOT_W {
        gap *= 2;
        grouped = groups(&pts, scale, gap);
    }
    let mut out = Vec::new();
    for (i, j) in grouped {
        let n = j - i + 1;
        let (a, b) = (pts[i], pts[j]);
        if n >= RUN_MIN {
            let label = format!("×{n} over {}", duration(b - a));
            rows.push(TimelineRow {
                object: name.to_string(),
                what: format!("failures {label}"),
                from: utc(a),
                to: utc(b),
                count: n.to_string(),
            });
            let (xa, xb) = (scale.x(a), scale.x(b));
            // Labels start at the run, or end at it near the right edge.
            let label_end = xa > LABEL_W + PLOT_W - LABEL_ROOM;
            out.push(Point {
                x: xa,
                w: (xb - xa).max(4),
                title: format!("{name}: {label}, {} – {}", utc(a), utc(b)),
                label_x: if label_end { xb } else { xa },
                label_end,
                label,
            });
        } else {
            for t in &pts[i..=j] {
                rows.push(TimelineRow {
                    object: name.to_string(),
                    what: "failure".into(),
                    from: utc(*t),
                    to: utc(*t),
                    count: "1".into(),
                });
                out.push(Point {
                    x: scale.x(*t),
                    w: 0,
                    label: String::new(),
                    label_x: 0,
                    label_end: false,
                    title: format!("{name}: failure at {}", utc(*t)),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_open_on_failure_and_close_on_success() {
        let a = ObjectActivity {
            failures: vec![10, 20, 30, 100],
            failures_total: 4,
            successes: vec![40, 50],
        };
        assert_eq!(phases(&a, 200), vec![(10, 40), (100, 200)]);
    }

    #[test]
    fn dense_points_collapse_into_one_run() {
        let scale = Scale {
            t0: 0,
            span: 700_000,
        };
        let pts: Vec<TsMs> = (0..37).map(|i| 100_000 + i * 1000).collect();
        let mut rows = Vec::new();
        let p = runs(&pts, &scale, "o", &mut rows);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].label, "×37 over 36s");
        assert_eq!((p[0].x, p[0].w), (LABEL_W + 100, 36));
        assert_eq!(rows[0].count, "37");
        // Far apart: one point each.
        let p = runs(&[0, 350_000, 700_000], &scale, "o", &mut rows);
        assert_eq!(
            p.iter().map(|p| p.x).collect::<Vec<_>>(),
            vec![LABEL_W, LABEL_W + 350, LABEL_W + 700]
        );
    }
}
