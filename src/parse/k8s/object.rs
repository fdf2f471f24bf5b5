//! Object snapshots: Flux objects (spec, conditions, revisions, failure counters) and any
//! other Kubernetes kind (kind/namespace/name, conditions).
//!
//! Invariant: `reason`/`msg`/`level` say what the object's own conditions say (Stalled
//! over Ready, flux-catalog.md §4.1) and nothing more; the classifier decides the class.

use serde_json::{Map, Value};

use super::{
    arr_at, bool_at, controller_for_kind, controller_from_pod, i64_at, obj_at, obj_path,
    object_ref, str_at, string_map, ts_at, u64_at,
};
use crate::parse::time::parse_go_duration_ms;
use crate::record::{
    Condition, Detail, Format, Level, ObjectInfo, ObjectRef, OwnerRef, PvcInfo, Record,
    WorkloadInfo,
};

/// Kinds whose documents carry replica counts ([`WorkloadInfo`]).
const WORKLOAD_KINDS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
];
/// Most inventory entries read from one Flux object.
const MAX_INVENTORY: usize = 1_000;

/// Record field holding an Alert's `spec.providerRef.name`.
const FIELD_PROVIDER_REF: &str = "provider_ref";
/// Record field holding the kind of a bookmark or empty List.
const FIELD_KIND: &str = "kind";

/// Builds the record of any object that is not an Event or a Pod.
pub(super) fn from_object(
    obj: &Map<String, Value>,
    kind: &str,
    watch_type: Option<&str>,
) -> Record {
    let meta = obj_at(obj, "metadata");
    let name = meta.and_then(|m| str_at(m, "name")).unwrap_or_default();
    let namespace = meta
        .and_then(|m| str_at(m, "namespace"))
        .unwrap_or_default();
    let spec = obj_at(obj, "spec");
    let status = obj_at(obj, "status");
    let mut info = ObjectInfo {
        api_version: str_at(obj, "apiVersion").unwrap_or_default().to_string(),
        watch_type: watch_type.map(str::to_string),
        generation: meta.and_then(|m| i64_at(m, "generation")),
        resource_version: meta
            .and_then(|m| str_at(m, "resourceVersion"))
            .map(str::to_string),
        labels: string_map(meta.and_then(|m| obj_at(m, "labels"))),
        uid: meta.and_then(|m| str_at(m, "uid")).map(str::to_string),
        owner: meta.and_then(owner),
        ..Default::default()
    };
    if WORKLOAD_KINDS.contains(&kind) {
        info.workload = Some(Box::new(workload(meta, spec, status, kind, &info.labels)));
    } else if kind == "PersistentVolumeClaim" {
        info.pvc = Some(PvcInfo {
            phase: status.and_then(|s| str_at(s, "phase")).map(str::to_string),
            storage_class: spec
                .and_then(|s| str_at(s, "storageClassName"))
                .map(str::to_string),
        });
    }
    let mut fields = Vec::new();
    if let Some(spec) = spec {
        read_spec(spec, kind, namespace, &mut info);
        if let Some(p) = obj_at(spec, "providerRef").and_then(|p| str_at(p, "name")) {
            fields.push((FIELD_PROVIDER_REF.to_string(), p.to_string()));
        }
    }
    if let Some(status) = status {
        read_status(status, &mut info);
    }
    let mut rec = Record {
        // A deletion is the newest thing an object being deleted can show.
        ts: info
            .conditions
            .iter()
            .filter_map(|c| c.last_transition_ms)
            .chain(meta.and_then(|m| ts_at(m, "deletionTimestamp")))
            .max()
            .or_else(|| meta.and_then(|m| ts_at(m, "creationTimestamp"))),
        format: Format::K8sObject,
        level: Some(Level::Info),
        controller: object_controller(kind, name).map(str::to_string),
        object: Some(ObjectRef::new(kind, namespace, name)),
        revision: revision(status, &info),
        interval_ms: info.interval_ms,
        fields,
        ..Default::default()
    };
    summarise_conditions(&info, &mut rec);
    if kind == "Status" {
        // The `object` of a watch `ERROR` event: `{"kind":"Status","status":"Failure",…}`.
        rec.reason = str_at(obj, "reason").map(str::to_string);
        rec.msg = str_at(obj, "message").unwrap_or_default().to_string();
        if str_at(obj, "status") == Some("Failure") {
            rec.level = Some(Level::Error);
        }
    }
    rec.detail = Detail::Object(Box::new(info));
    rec
}

/// A watch `BOOKMARK`: only a kind and a resourceVersion, about no object.
pub(super) fn bookmark(obj: &Map<String, Value>) -> Record {
    let info = ObjectInfo {
        api_version: str_at(obj, "apiVersion").unwrap_or_default().to_string(),
        watch_type: Some("BOOKMARK".to_string()),
        resource_version: obj_at(obj, "metadata")
            .and_then(|m| str_at(m, "resourceVersion"))
            .map(str::to_string),
        ..Default::default()
    };
    Record {
        format: Format::K8sObject,
        fields: str_at(obj, "kind")
            .map(|k| (FIELD_KIND.to_string(), k.to_string()))
            .into_iter()
            .collect(),
        detail: Detail::Object(Box::new(info)),
        ..Default::default()
    }
}

/// Flux kinds map to their controller; a controller's own Deployment or ReplicaSet
/// names it.
fn object_controller(kind: &str, name: &str) -> Option<&'static str> {
    controller_for_kind(kind).or_else(|| match kind {
        "Deployment" | "ReplicaSet" => controller_from_pod(name),
        _ => None,
    })
}

fn duration_at(spec: &Map<String, Value>, key: &str) -> Option<u64> {
    str_at(spec, key).and_then(parse_go_duration_ms)
}

fn read_spec(spec: &Map<String, Value>, kind: &str, namespace: &str, info: &mut ObjectInfo) {
    info.interval_ms = duration_at(spec, "interval");
    info.retry_interval_ms = duration_at(spec, "retryInterval");
    info.timeout_ms = duration_at(spec, "timeout");
    info.suspend = bool_at(spec, "suspend").unwrap_or(false);
    info.depends_on = arr_at(spec, "dependsOn")
        .filter_map(Value::as_object)
        .filter_map(|d| object_ref(d, kind, namespace))
        .collect();
    let chart_spec = obj_path(spec, &["chart", "spec"]);
    info.source_ref = [
        obj_at(spec, "sourceRef"),
        chart_spec.and_then(|c| obj_at(c, "sourceRef")),
        obj_at(spec, "chartRef"),
    ]
    .into_iter()
    .flatten()
    .find_map(|r| object_ref(r, default_source_kind(kind), namespace))
    .or_else(|| {
        obj_at(spec, "imageRepositoryRef").and_then(|r| object_ref(r, "ImageRepository", namespace))
    });
    info.service_account = str_at(spec, "serviceAccountName").map(str::to_string);
    info.url = ["url", "endpoint", "image"]
        .iter()
        .find_map(|k| str_at(spec, k))
        .map(str::to_string);
    // HelmRelease keeps chart and version under spec.chart.spec, HelmChart in spec.
    let chart_from = chart_spec.unwrap_or(spec);
    info.chart = str_at(chart_from, "chart").map(str::to_string);
    info.chart_version = str_at(chart_from, "version").map(str::to_string);
}

/// The kind a `sourceRef` without one means (ImageUpdateAutomation: GitRepository).
fn default_source_kind(kind: &str) -> &'static str {
    match kind {
        "ImageUpdateAutomation" => "GitRepository",
        _ => "",
    }
}

/// The controller owner of an object's `metadata` (else its first owner).
pub(crate) fn owner(meta: &Map<String, Value>) -> Option<OwnerRef> {
    let owners: Vec<OwnerRef> = arr_at(meta, "ownerReferences")
        .filter_map(Value::as_object)
        .filter_map(|o| {
            Some(OwnerRef {
                kind: str_at(o, "kind")?.to_string(),
                name: str_at(o, "name")?.to_string(),
                uid: str_at(o, "uid").map(str::to_string),
                controller: bool_at(o, "controller").unwrap_or(false),
            })
        })
        .collect();
    let i = owners.iter().position(|o| o.controller).unwrap_or(0);
    owners.into_iter().nth(i)
}

/// Replica counts and rollout facts of a workload document.
fn workload(
    meta: Option<&Map<String, Value>>,
    spec: Option<&Map<String, Value>>,
    status: Option<&Map<String, Value>>,
    kind: &str,
    labels: &[(String, String)],
) -> WorkloadInfo {
    let st = |k: &str| status.and_then(|s| i64_at(s, k));
    let (desired, ready, available, updated) = match kind {
        "DaemonSet" => (
            st("desiredNumberScheduled"),
            st("numberReady"),
            st("numberAvailable"),
            st("updatedNumberScheduled"),
        ),
        "Job" => (
            spec.and_then(|s| i64_at(s, "parallelism")),
            st("ready"),
            st("active"),
            None,
        ),
        _ => (
            spec.and_then(|s| i64_at(s, "replicas")).or(Some(1)),
            st("readyReplicas").or(status.map(|_| 0)),
            st("availableReplicas").or(status.map(|_| 0)),
            st("updatedReplicas"),
        ),
    };
    let annotations = string_map(meta.and_then(|m| obj_at(m, "annotations")));
    WorkloadInfo {
        desired,
        updated,
        ready,
        available,
        revision: annotations
            .into_iter()
            .find(|(k, _)| k == "deployment.kubernetes.io/revision")
            .map(|(_, v)| v),
        pod_template_hash: labels
            .iter()
            .find(|(k, _)| k == "pod-template-hash")
            .map(|(_, v)| v.clone()),
        claim_templates: spec
            .into_iter()
            .flat_map(|s| arr_at(s, "volumeClaimTemplates"))
            .filter_map(Value::as_object)
            .filter_map(|t| obj_at(t, "metadata").and_then(|m| str_at(m, "name")))
            .map(str::to_string)
            .collect(),
    }
}

/// cli-utils `ObjMetadata` id `<ns>_<name>_<group>_<Kind>` → reference; RBAC names
/// encode `:` as `__`, so the name is what lies between the first and the last two
/// separators.
fn inventory_id(id: &str) -> Option<ObjectRef> {
    let (rest, kind) = id.rsplit_once('_')?;
    let (rest, _group) = rest.rsplit_once('_')?;
    let (ns, name) = rest.split_once('_')?;
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    Some(ObjectRef::new(kind, ns, name.replace("__", ":")))
}

fn read_status(status: &Map<String, Value>, info: &mut ObjectInfo) {
    info.inventory = obj_at(status, "inventory")
        .into_iter()
        .flat_map(|inv| {
            inv.get("entries")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .take(MAX_INVENTORY)
        })
        .filter_map(Value::as_object)
        .filter_map(|e| str_at(e, "id"))
        .filter_map(inventory_id)
        .collect();
    info.observed_generation = i64_at(status, "observedGeneration");
    info.conditions = arr_at(status, "conditions")
        .filter_map(Value::as_object)
        .filter_map(condition)
        .collect();
    let string = |k: &str| str_at(status, k).map(str::to_string);
    info.last_applied_revision = string("lastAppliedRevision");
    info.last_attempted_revision = string("lastAttemptedRevision");
    let artifact = obj_at(status, "artifact");
    info.artifact_revision = artifact
        .and_then(|a| str_at(a, "revision"))
        .map(str::to_string);
    info.artifact_size = artifact.and_then(|a| u64_at(a, "size"));
    let counters: Vec<u64> = ["failures", "installFailures", "upgradeFailures"]
        .iter()
        .filter_map(|k| u64_at(status, k))
        .collect();
    if !counters.is_empty() {
        info.failures = Some(counters.iter().fold(0u64, |a, b| a.saturating_add(*b)));
    }
}

fn condition(c: &Map<String, Value>) -> Option<Condition> {
    Some(Condition {
        type_: str_at(c, "type")?.to_string(),
        status: str_at(c, "status").unwrap_or("Unknown").to_string(),
        reason: str_at(c, "reason").unwrap_or_default().to_string(),
        message: str_at(c, "message").unwrap_or_default().to_string(),
        last_transition_ms: ts_at(c, "lastTransitionTime"),
    })
}

/// The revision the object is at: applied, stored, released chart version or latest
/// image; the attempted revision only when none of those is known.
fn revision(status: Option<&Map<String, Value>>, info: &ObjectInfo) -> Option<String> {
    let status_str = |path: &[&str], key: &str| {
        status
            .and_then(|s| obj_path(s, path))
            .and_then(|o| str_at(o, key))
            .map(str::to_string)
    };
    let history_chart = status
        .and_then(|s| arr_at(s, "history").next())
        .and_then(Value::as_object)
        .and_then(|h| str_at(h, "chartVersion"))
        .map(str::to_string);
    info.last_applied_revision
        .clone()
        .or_else(|| info.artifact_revision.clone())
        .or(history_chart)
        .or_else(|| status_str(&[], "latestImage"))
        .or_else(|| status_str(&[], "lastPushCommit"))
        .or_else(|| info.last_attempted_revision.clone())
}

/// Stalled=True wins over Ready; Ready=False or Stalled=True make a warning.
fn summarise_conditions(info: &ObjectInfo, rec: &mut Record) {
    let stalled = info.condition("Stalled").filter(|c| c.status == "True");
    let ready = info.condition("Ready");
    let Some(c) = stalled.or(ready) else {
        return;
    };
    if stalled.is_some() || c.status == "False" {
        rec.level = Some(Level::Warning);
    }
    rec.reason = (!c.reason.is_empty()).then(|| c.reason.clone());
    rec.msg = c.message.clone();
}

#[cfg(test)]
mod inventory_tests {
    use super::inventory_id;
    use crate::record::ObjectRef;

    #[test]
    fn inventory_ids() {
        assert_eq!(
            inventory_id("shop_web_apps_Deployment"),
            Some(ObjectRef::new("Deployment", "shop", "web"))
        );
        assert_eq!(
            inventory_id("_cert-manager__Namespace"),
            Some(ObjectRef::new("Namespace", "", "cert-manager"))
        );
        assert_eq!(
            inventory_id("_system__controller_rbac.authorization.k8s.io_ClusterRole"),
            Some(ObjectRef::new("ClusterRole", "", "system:controller"))
        );
        assert_eq!(inventory_id("garbage"), None);
    }
}
