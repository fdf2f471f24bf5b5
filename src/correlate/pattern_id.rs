//! The finding pattern ids (taxonomy.md §2) as a type.
//!
//! Owns: the one table of pattern ids ([`PatternId`]), their wire names, the built-in
//! pattern files compiled in from `patterns/<id>.yaml` and their runbooks from
//! `docs/patterns/<id>.md` ([`PatternId::runbook`]). Detectors, claims, renderers and
//! sinks name a pattern through a variant, so a typo is a compile error rather than a
//! finding that never fires or a label that never matches. Does not own: the pattern
//! files' contents (`spec`) or the record classes (`crate::record::Class`).
//!
//! Invariant: [`PatternId::as_str`] is byte-identical to the taxonomy name; it is what
//! `Finding.pattern` carries and what every output (native, OCSF, ECS, Alertmanager,
//! chat) prints. tests/pattern_ids.rs checks that every `patterns/*.yaml` (besides
//! `classes.yaml`) has a variant and every variant a pattern file and a runbook.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A name that is not a finding pattern id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown pattern '{0}'")]
pub struct UnknownPattern(pub String);

macro_rules! pattern_ids {
    ($($variant:ident => $id:literal,)*) => {
        /// A finding pattern (taxonomy.md §2); serialized as its id string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum PatternId {
            $(
                #[doc = concat!("`", $id, "`")]
                $variant,
            )*
        }

        impl PatternId {
            /// Every pattern, in taxonomy order.
            pub const ALL: &'static [PatternId] = &[$(PatternId::$variant,)*];

            /// The id as written in pattern files, findings and every output.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(PatternId::$variant => $id,)*
                }
            }

            /// The pattern of an id string; `None` for anything else (exact match).
            pub fn parse(s: &str) -> Option<PatternId> {
                match s {
                    $($id => Some(PatternId::$variant),)*
                    _ => None,
                }
            }
        }

        /// The built-in pattern files, compiled in: `(id, yaml text)` in taxonomy order.
        pub const BUILTIN_PATTERNS: &[(&str, &str)] = &[
            $( ($id, include_str!(concat!("../../patterns/", $id, ".yaml"))), )*
        ];

        impl PatternId {
            /// The pattern's runbook, `docs/patterns/<id>.md`, compiled in (what
            /// `fluxsight explain <pattern>` prints).
            pub const fn runbook(self) -> &'static str {
                match self {
                    $(PatternId::$variant => include_str!(concat!("../../docs/patterns/", $id, ".md")),)*
                }
            }
        }
    };
}

pattern_ids! {
    GitAuthFailure => "git_auth_failure",
    RateLimitExhaustion => "rate_limit_exhaustion",
    NetworkDegradation => "network_degradation",
    ControllerOom => "controller_oom",
    OomCascade => "oom_cascade",
    ControllerCrashloop => "controller_crashloop",
    GuiltyTenant => "guilty_tenant",
    ReconcileLoop => "reconcile_loop",
    DriftDetected => "drift_detected",
    DependencyCycle => "dependency_cycle",
    DependencyBlocked => "dependency_blocked",
    StalledReconciliation => "stalled_reconciliation",
    SlowReconciliation => "slow_reconciliation",
    HealthCheckFailure => "health_check_failure",
    HelmReleaseFailure => "helm_release_failure",
    BuildFailure => "build_failure",
    DecryptionFailure => "decryption_failure",
    RbacDenied => "rbac_denied",
    ApplyConflict => "apply_conflict",
    NotificationFailure => "notification_failure",
    ImageAutomationFailure => "image_automation_failure",
    MemoryGrowth => "memory_growth",
    QueueBackpressure => "queue_backpressure",
    WorkloadFailure => "workload_failure",
    FleetRateLimit => "fleet_rate_limit",
    FleetSourceFailure => "fleet_source_failure",
    FleetChartFailure => "fleet_chart_failure",
}

impl PatternId {
    /// True when `s` (a `Finding.pattern`) names this pattern.
    pub fn is(self, s: &str) -> bool {
        self.as_str() == s
    }
}

impl fmt::Display for PatternId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PatternId {
    type Err = UnknownPattern;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PatternId::parse(s).ok_or_else(|| UnknownPattern(s.to_string()))
    }
}

impl AsRef<str> for PatternId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Serialize for PatternId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PatternId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_every_form() {
        for &p in PatternId::ALL {
            assert_eq!(PatternId::parse(p.as_str()), Some(p));
            assert_eq!(p.as_str().parse::<PatternId>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(serde_json::from_str::<PatternId>(&json).unwrap(), p);
        }
        assert_eq!(
            "git_auth".parse::<PatternId>(),
            Err(UnknownPattern("git_auth".into()))
        );
        assert!(serde_json::from_str::<PatternId>("\"Git_Auth_Failure\"").is_err());
    }

    #[test]
    fn builtin_files_follow_the_table() {
        assert_eq!(BUILTIN_PATTERNS.len(), PatternId::ALL.len());
        for (&p, (id, text)) in PatternId::ALL.iter().zip(BUILTIN_PATTERNS) {
            assert_eq!(p.as_str(), *id);
            assert!(
                text.contains(&format!("id: {id}")),
                "{id}.yaml names its id"
            );
            assert!(
                p.runbook().starts_with(&format!("# {id}\n")),
                "docs/patterns/{id}.md is its runbook"
            );
        }
    }
}
