//! The detector seam: one `Detector` trait that every detector family implements as
//! its own type (`SourceHealth`, `ControllerHealth`, `ObjectPatterns`,
//! `DependencyGraph`).
//!
//! Owns: the trait, what a family declares about itself (the records it consumes
//! ([`Consumes`]), its patterns and their parameters with defaults ([`PatternParams`],
//! one static table per family), the claim ranks it grants ([`ClaimRank`]), and when
//! its time-driven checks have work), and [`PARAM_TABLES`], the union of the tables
//! that `patterns/*.yaml` `params:` and `--config` overrides are checked against
//! (`spec`). Does not own: the state every family shares (`shared::Shared`) or the
//! order in which the correlator calls them (`Correlator`'s `RECORD_ORDER` and
//! `TICK_ORDER`).
//!
//! Invariant: a pattern belongs to exactly one family, and a family reads exactly the
//! parameters its table declares (tests below; `spec::Pattern` panics in debug builds
//! on a read of an undeclared name).

use super::claims::ClaimRank;
use super::controllers::ControllerHealth;
use super::graph::DependencyGraph;
use super::objects::ObjectPatterns;
use super::pattern_id::PatternId;
use super::shared::Shared;
use super::sources::SourceHealth;
use super::workload::WorkloadHealth;
use crate::record::{Class, ObjectRef, Record, TsMs};

/// How a parameter's value is written and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A duration: a Go/humantime string (`15m`) or a number of seconds; held in ms.
    Duration,
    /// A whole number of things (attempts, sources, samples); read with `n()`.
    Count,
    /// A share between 0 and 1.
    Ratio,
    /// Any other non-negative number (a factor, a depth, a slope).
    Float,
}

/// One parameter a detector reads: its name in pattern files, kind and default
/// (durations in milliseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    pub default: f64,
}

/// A duration parameter (default in ms).
pub const fn duration(name: &'static str, default_ms: f64) -> Param {
    Param {
        name,
        kind: ParamKind::Duration,
        default: default_ms,
    }
}

/// A count parameter.
pub const fn count(name: &'static str, default: f64) -> Param {
    Param {
        name,
        kind: ParamKind::Count,
        default,
    }
}

/// A ratio parameter (0..1).
pub const fn ratio(name: &'static str, default: f64) -> Param {
    Param {
        name,
        kind: ParamKind::Ratio,
        default,
    }
}

/// A plain number parameter.
pub const fn float(name: &'static str, default: f64) -> Param {
    Param {
        name,
        kind: ParamKind::Float,
        default,
    }
}

/// A pattern a family emits and the parameters its detector reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PatternParams {
    pub pattern: PatternId,
    pub params: &'static [Param],
}

/// Every family's parameter table, in the correlator's record order. A pattern file
/// may set exactly the parameters listed here for its pattern.
pub const PARAM_TABLES: &[&[PatternParams]] = &[
    WorkloadHealth::PARAMS,
    ObjectPatterns::PARAMS,
    SourceHealth::PARAMS,
    DependencyGraph::PARAMS,
    ControllerHealth::PARAMS,
    // Not a family of the correlator: stage 2 of `central` (`crate::fleet`), fed
    // partials instead of records.
    crate::fleet::FLEET_PARAMS,
];

/// The parameters of `pattern`, from the table of the family that emits it.
pub fn params_of(pattern: PatternId) -> Option<&'static [Param]> {
    PARAM_TABLES
        .iter()
        .flat_map(|t| t.iter())
        .find(|pp| pp.pattern == pattern)
        .map(|pp| pp.params)
}

/// What a family is fed.
#[derive(Debug, Clone, Copy)]
pub struct Consumes {
    /// Classes of records about a Flux object (log lines, Events, failing snapshots)
    /// given to `Detector::on_record`. A failure class no family consumes is a
    /// symptom: it is attached to the root that explains it (`claims`).
    pub classes: &'static [Class],
    /// Whether `Detector::on_run` is called for every run of an object (a success
    /// or a failure its controller logged), before the class is dispatched.
    pub runs: bool,
    /// Whether `Detector::on_recovery` is called when an object succeeds.
    pub recovery: bool,
    /// Whether the controllers' own records (metric samples, Pod status, Pod and Node
    /// Events, controller lines) are given to `Detector::on_controller_record`.
    pub controller_records: bool,
    /// Whether workload-side records (workload, ReplicaSet, Pod and PVC documents,
    /// Events about them and about Nodes, Flux snapshots with an inventory) are given
    /// to `Detector::on_workload_record`, besides their usual route.
    pub workload_records: bool,
}

impl Consumes {
    /// True when records of `class` about an object reach this family.
    pub fn class(&self, class: Class) -> bool {
        self.classes.contains(&class)
    }
}

/// When a family's time-driven check runs within a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickPhase {
    /// The checks of every family, in `TICK_ORDER`.
    Main,
    /// Judgements that read what the main phase concluded (guilty tenant: pressure
    /// from crash loops and queue backlog).
    Late,
}

/// A detector family: one type owning its own state, fed by the correlator with the
/// state every family shares.
pub(crate) trait Detector {
    /// The family's name (docs, test messages).
    fn name(&self) -> &'static str;

    /// The records it is fed.
    fn consumes(&self) -> Consumes;

    /// The patterns it emits with their parameters and defaults.
    fn params(&self) -> &'static [PatternParams];

    /// The claim ranks its root findings take (`claims::ClaimRank`): what it explains
    /// for grouping.
    fn claims(&self) -> &'static [ClaimRank];

    /// A record about `obj` of a class it consumes; `ts` never runs ahead of the clock.
    fn on_record(&mut self, sh: &mut Shared, rec: &Record, obj: &ObjectRef, ts: TsMs);

    /// A run of `obj` by controller `ctrl` (work accounting).
    fn on_run(
        &mut self,
        _sh: &mut Shared,
        _rec: &Record,
        _obj: &ObjectRef,
        _ctrl: &str,
        _ts: TsMs,
    ) {
    }

    /// `obj` succeeded (a run, a stored artifact, an apply that ends a run) and the
    /// shared state already says so: resolve what the success ends.
    fn on_recovery(&mut self, _sh: &mut Shared, _rec: &Record, _obj: &ObjectRef, _ts: TsMs) {}

    /// A controller's own record (no Flux object as subject).
    fn on_controller_record(&mut self, _sh: &mut Shared, _rec: &Record, _ts: TsMs) {}

    /// A workload-side record (see `Consumes::workload_records`).
    fn on_workload_record(&mut self, _sh: &mut Shared, _rec: &Record, _ts: TsMs) {}

    /// The time-driven checks of `phase` at tick time `now`.
    fn on_tick(&mut self, _sh: &mut Shared, _now: TsMs, _phase: TickPhase) {}

    /// End of input at `now`: no later record can settle what is still open.
    fn on_end(&mut self, _sh: &mut Shared, _now: TsMs) {}

    /// The earliest time its time-driven checks could change something, given the
    /// next tick of the correlator's grid; `None` while they have nothing to look at
    /// until a record arrives.
    fn next_deadline(&self, _sh: &Shared, _tick: TsMs) -> Option<TsMs> {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::claims::claim_rank;
    use super::*;

    fn families() -> (
        SourceHealth,
        ControllerHealth,
        ObjectPatterns,
        DependencyGraph,
    ) {
        (
            SourceHealth::default(),
            ControllerHealth::default(),
            ObjectPatterns,
            DependencyGraph,
        )
    }

    /// (family, its source files, its table), for the table/source checks.
    fn declared() -> Vec<(&'static str, Vec<&'static str>, &'static [PatternParams])> {
        let (s, c, o, g) = families();
        vec![
            (s.name(), vec![include_str!("sources.rs")], s.params()),
            (c.name(), vec![include_str!("controllers.rs")], c.params()),
            (o.name(), vec![include_str!("objects.rs")], o.params()),
            (g.name(), vec![include_str!("graph.rs")], g.params()),
            (
                "FleetCorrelator",
                vec![include_str!("../fleet/mod.rs")],
                crate::fleet::FLEET_PARAMS,
            ),
            {
                let w = WorkloadHealth::new(10);
                (
                    w.name(),
                    vec![include_str!("workload/mod.rs")],
                    WorkloadHealth::PARAMS,
                )
            },
        ]
    }

    /// Parameter names read through an accessor (`.p("x")`, `.ms("x")`, `.n("x")`) in
    /// `src`; `#[cfg(test)]` code excluded.
    fn reads(src: &str) -> BTreeSet<String> {
        let code = src.split("#[cfg(test)]").next().unwrap_or(src);
        let mut out = BTreeSet::new();
        for acc in [".p(\"", ".ms(\"", ".n(\""] {
            let mut rest = code;
            while let Some(i) = rest.find(acc) {
                let after = &rest[i + acc.len()..];
                let j = after.find('"').expect("closing quote");
                out.insert(after[..j].to_string());
                rest = &after[j..];
            }
        }
        out
    }

    #[test]
    fn every_pattern_belongs_to_exactly_one_family() {
        for p in PatternId::ALL {
            let n = PARAM_TABLES
                .iter()
                .flat_map(|t| t.iter())
                .filter(|pp| pp.pattern == *p)
                .count();
            assert_eq!(n, 1, "{p}: declared by {n} families, want exactly 1");
        }
    }

    #[test]
    fn every_declared_parameter_is_read_and_every_read_one_declared() {
        for (family, files, table) in declared() {
            let read: BTreeSet<String> = files.iter().flat_map(|f| reads(f)).collect();
            let declared: BTreeSet<String> = table
                .iter()
                .flat_map(|pp| pp.params.iter().map(|p| p.name.to_string()))
                .collect();
            let unread: Vec<_> = declared.difference(&read).collect();
            let undeclared: Vec<_> = read.difference(&declared).collect();
            assert!(
                unread.is_empty(),
                "{family}: declared, never read: {unread:?}"
            );
            assert!(
                undeclared.is_empty(),
                "{family}: read, not declared: {undeclared:?}"
            );
        }
        // The engine itself reads no parameter: every read sits in a family.
        for (file, src) in [
            ("mod.rs", include_str!("mod.rs")),
            ("shared.rs", include_str!("shared.rs")),
            ("claims.rs", include_str!("claims.rs")),
        ] {
            assert!(reads(src).is_empty(), "{file} reads {:?}", reads(src));
        }
    }

    #[test]
    fn parameter_names_are_unique_within_a_pattern() {
        for pp in PARAM_TABLES.iter().flat_map(|t| t.iter()) {
            let names: BTreeSet<&str> = pp.params.iter().map(|p| p.name).collect();
            assert_eq!(names.len(), pp.params.len(), "{}", pp.pattern);
        }
    }

    #[test]
    fn claim_ranks_are_granted_by_the_family_that_emits_the_root() {
        let (s, c, o, g) = families();
        let fams: [&dyn Detector; 4] = [&s, &c, &o, &g];
        let mut all = BTreeSet::new();
        for f in fams {
            for pp in f.params() {
                let subject = ObjectRef::new("GitRepository", "ns", "x");
                let rank = claim_rank(pp.pattern, &subject);
                let other = claim_rank(pp.pattern, &ObjectRef::new("Kustomization", "ns", "x"));
                assert!(
                    rank == ClaimRank::Own || f.claims().contains(&rank),
                    "{}: {} claims as {rank:?}, not declared",
                    f.name(),
                    pp.pattern
                );
                assert!(
                    other == ClaimRank::Own || f.claims().contains(&other),
                    "{}: {} claims as {other:?}, not declared",
                    f.name(),
                    pp.pattern
                );
            }
            all.extend(f.claims().iter().copied());
        }
        for r in [
            ClaimRank::Own,
            ClaimRank::Dependency,
            ClaimRank::SourceFailure,
            ClaimRank::SourceAuth,
            ClaimRank::HostNetwork,
            ClaimRank::HostRateLimit,
            ClaimRank::OomCascade,
        ] {
            assert!(all.contains(&r), "no family grants {r:?}");
        }
    }

    #[test]
    fn a_failure_class_reaches_only_the_families_that_consume_it() {
        let (s, c, o, g) = families();
        let fams: [&dyn Detector; 4] = [&o, &s, &g, &c];
        let fed = |class: Class| -> Vec<&str> {
            fams.iter()
                .filter(|f| f.consumes().class(class))
                .map(|f| f.name())
                .collect()
        };
        assert_eq!(fed(Class::GitAuthFailed), ["SourceHealth"]);
        assert_eq!(
            fed(Class::RateLimited),
            ["SourceHealth", "ControllerHealth"]
        );
        assert_eq!(fed(Class::OomKilled), ["ControllerHealth"]);
        assert_eq!(fed(Class::HealthCheckFailed), ["ObjectPatterns"]);
        assert_eq!(fed(Class::DependencyNotReady), ["DependencyGraph"]);
        // A symptom: no family of its own, grouped under its root.
        assert!(fed(Class::SourceNotReady).is_empty());
        let controller: Vec<&str> = fams
            .iter()
            .filter(|f| f.consumes().controller_records)
            .map(|f| f.name())
            .collect();
        assert_eq!(controller, ["ControllerHealth"]);
    }
}
