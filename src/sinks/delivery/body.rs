//! Bodies of deliveries in each format: native, OCSF, ECS, CloudEvents (structured), and
//! the CloudEvents attributes used by binary modes (Kafka `ce_*` headers).

use serde_json::{json, Value};

use crate::correlate::{AuditRecord, Finding, Status};
use crate::render::finding as render;
use crate::sinks::config::BodyFormat;
use crate::sinks::Delivery;
use crate::time::format_rfc3339_ms;

/// CloudEvents `type` prefix.
pub const CE_TYPE_PREFIX: &str = "io.fluxsight";

/// CloudEvents context attributes of one item.
#[derive(Debug, Clone, PartialEq)]
pub struct CeAttributes {
    pub id: String,
    pub source: String,
    pub type_: String,
    pub subject: String,
    pub time: String,
    pub tenant: String,
}

/// One renderable item: a finding or an audit record.
pub enum Item<'a> {
    Finding(&'a Finding),
    Audit(&'a AuditRecord),
}

/// The items a delivery carries (a group carries several findings).
pub fn items(d: &Delivery) -> Vec<Item<'_>> {
    match d {
        Delivery::Finding(f) => vec![Item::Finding(f)],
        Delivery::Audit(a) => vec![Item::Audit(a)],
        Delivery::Group(g) => g.findings.iter().map(Item::Finding).collect(),
        // Digests go to chat sinks only; elsewhere they stand for their top findings.
        Delivery::Digest(d) => d.top.iter().map(Item::Finding).collect(),
        // Signals are not findings: only a signals sink sends them (`sinks::kafka`).
        Delivery::Signal(_) => Vec::new(),
    }
}

pub fn ce_attributes(item: &Item<'_>) -> CeAttributes {
    match item {
        Item::Finding(f) => {
            let verb = match (f.status, f.emission <= 1) {
                (Status::Resolved, _) => "resolved",
                (Status::Firing, true) => "created",
                (Status::Firing, false) => "updated",
            };
            CeAttributes {
                id: format!("{}-{}-{}", f.id, f.status.as_str(), f.last_seen),
                source: format!("//fluxsight/{}", f.cluster),
                type_: format!("{CE_TYPE_PREFIX}.finding.{verb}.v1"),
                subject: format!(
                    "{}/{}/{}",
                    f.subject.namespace, f.subject.kind, f.subject.name
                ),
                time: format_rfc3339_ms(f.last_seen),
                tenant: f.tenant.clone(),
            }
        }
        Item::Audit(a) => CeAttributes {
            id: Delivery::Audit(Box::new((*a).clone())).delivery_id(),
            source: format!("//fluxsight/{}", a.cluster),
            type_: format!("{CE_TYPE_PREFIX}.audit.{}.v1", a.action.replace('_', "-")),
            subject: format!(
                "{}/{}/{}",
                a.subject.namespace, a.subject.kind, a.subject.name
            ),
            time: format_rfc3339_ms(a.ts),
            tenant: a.tenant.clone(),
        },
    }
}

/// The data of one item in `fmt` (`Cloudevents` wraps the native form).
pub fn render_item(item: &Item<'_>, fmt: BodyFormat) -> Value {
    let data = match (item, fmt) {
        (Item::Finding(f), BodyFormat::Ocsf) => render::ocsf(f, f.emission <= 1),
        (Item::Finding(f), BodyFormat::Ecs) => render::ecs(f),
        (Item::Finding(f), _) => render::native(f),
        (Item::Audit(a), BodyFormat::Ocsf) => render::audit_ocsf(a),
        (Item::Audit(a), BodyFormat::Ecs) => render::audit_ecs(a),
        (Item::Audit(a), _) => render::audit_native(a),
    };
    if fmt == BodyFormat::Cloudevents {
        let ce = ce_attributes(item);
        json!({
            "specversion": "1.0", "id": ce.id, "source": ce.source, "type": ce.type_,
            "subject": ce.subject, "time": ce.time, "datacontenttype": "application/json",
            "tenant": ce.tenant, "data": data,
        })
    } else {
        data
    }
}

/// One JSON document per item.
pub fn render_all(d: &Delivery, fmt: BodyFormat) -> Vec<Value> {
    items(d).iter().map(|i| render_item(i, fmt)).collect()
}
