//! What flows from the correlator to the sinks: the [`Delivery`] unit (a finding, an
//! audit record, a storm-control [`Group`] or a chat [`digest::Digest`]), and the
//! [`Signal`]s a sidecar publishes for `fluxsight central` (records and heartbeats,
//! to the sinks that ask for signals only).
//!
//! Owns: these data types, their stable delivery ids and their serde form, which is the
//! spool's record format. Does not own: how a delivery is routed, spooled, retried or
//! sent (`sinks`), nor how it is drawn (`render`).
//!
//! Why a module of its own: renderers draw deliveries and sinks send them; the types sit
//! below both (layer 3, beside `correlate`, whose findings they carry) so that `render`
//! never imports `sinks` (tests/layers.rs).
//!
//! Invariant: the serde form is stable: a spool written by an older build must still
//! read, so variants and fields are only added, with defaults.

pub mod digest;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::correlate::{AuditRecord, Finding};
use crate::signal::Signal;

/// A notification for several findings of one route group (storm control).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Route that produced the group.
    pub route: String,
    /// Stable group key (route + group_by label values).
    pub key: String,
    /// The group_by label values.
    pub labels: BTreeMap<String, String>,
    /// Latest state of every finding in the group, firing first.
    pub findings: Vec<Finding>,
}

/// What flows to a sink. The serde form is the spool's record format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v")]
pub enum Delivery {
    Finding(Box<Finding>),
    Audit(Box<AuditRecord>),
    Group(Box<Group>),
    /// One message for a storm of findings (chat sinks only).
    Digest(Box<digest::Digest>),
    /// A classified record or a heartbeat (signals sinks only: never routed).
    Signal(Box<Signal>),
}

impl Delivery {
    /// A stable id of this exact delivery (same finding update → same id), for
    /// receivers that de-duplicate (CloudEvents `id`, Kafka header).
    pub fn delivery_id(&self) -> String {
        match self {
            Delivery::Finding(f) => format!("{}-{}-{}", f.id, f.status.as_str(), f.last_seen),
            Delivery::Audit(a) => {
                let basis = format!(
                    "{}|{}|{}|{}",
                    a.subject,
                    a.action,
                    a.revision.as_deref().unwrap_or(""),
                    a.ts
                );
                crate::correlate::finding::finding_id(
                    "audit",
                    &crate::record::ObjectRef::new("", "", basis),
                )
            }
            Delivery::Group(g) => {
                let last = g.findings.iter().map(|f| f.last_seen).max().unwrap_or(0);
                format!("{}-{}-{}", g.key, g.findings.len(), last)
            }
            Delivery::Digest(d) => format!(
                "digest-{}-{}-{}-{}",
                d.route, d.window_start, d.window_end, d.total
            ),
            Delivery::Signal(s) => format!("signal-{}-{}-{}", s.cluster, s.t, s.seq),
        }
    }

    /// The findings this delivery carries (a digest: its top findings).
    pub fn findings(&self) -> Vec<&Finding> {
        match self {
            Delivery::Finding(f) => vec![f],
            Delivery::Group(g) => g.findings.iter().collect(),
            Delivery::Digest(d) => d.top.iter().collect(),
            Delivery::Audit(_) | Delivery::Signal(_) => vec![],
        }
    }
}
