//! Pod snapshots: container states, restarts and the failing state they add up to.
//!
//! Invariant: `reason` is the most severe container reason the Pod shows (an
//! `OOMKilled` last termination outranks the `CrashLoopBackOff` it causes), so the
//! root cause survives into classification; `msg` still names every failing state.

use serde_json::{Map, Value};

use super::{
    arr_at, bool_at, controller_from_pod, i64_at, obj_at, obj_path, str_at, string_map, ts_at,
    u64_at,
};
use crate::record::{
    Condition, ContainerInfo, Detail, Format, Level, ObjectRef, PodInfo, Record, TsMs,
};

/// Rank of a container state reason; 0 = benign. Unknown waiting or terminated
/// reasons rank just below the named failures.
fn severity_rank(reason: &str) -> u8 {
    match reason {
        "OOMKilled" => 100,
        "CrashLoopBackOff" => 90,
        "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" | "ErrImageNeverPull" => 80,
        "CreateContainerConfigError"
        | "CreateContainerError"
        | "RunContainerError"
        | "ContainerCannotRun"
        | "StartError" => 75,
        "Error" | "DeadlineExceeded" | "Evicted" => 70,
        "Completed" | "ContainerCreating" | "PodInitializing" => 0,
        _ => 50,
    }
}

/// A container state reason and the part of the summary that describes it.
struct Failure {
    rank: u8,
    reason: String,
}

/// Builds the record of a `Pod` object.
pub(super) fn from_pod(obj: &Map<String, Value>, watch_type: Option<&str>) -> Record {
    let meta = obj_at(obj, "metadata");
    let name = meta.and_then(|m| str_at(m, "name")).unwrap_or_default();
    let namespace = meta
        .and_then(|m| str_at(m, "namespace"))
        .unwrap_or_default();
    let labels = string_map(meta.and_then(|m| obj_at(m, "labels")));
    let status = obj_at(obj, "status");
    let mut instants: Vec<TsMs> = [
        meta.and_then(|m| ts_at(m, "creationTimestamp")),
        meta.and_then(|m| ts_at(m, "deletionTimestamp")),
        status.and_then(|s| ts_at(s, "startTime")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(s) = status {
        instants.extend(
            arr_at(s, "conditions")
                .filter_map(Value::as_object)
                .filter_map(|c| ts_at(c, "lastTransitionTime")),
        );
    }
    let mut containers = Vec::new();
    let mut summaries = Vec::new();
    let mut worst: Option<Failure> = None;
    for key in ["initContainerStatuses", "containerStatuses"] {
        for cs in status
            .into_iter()
            .flat_map(|s| arr_at(s, key))
            .filter_map(Value::as_object)
        {
            let (info, times) = container(cs);
            instants.extend(times);
            if let Some((summary, failure)) = summarise(&info) {
                summaries.push(summary);
                if !matches!(&worst, Some(w) if w.rank >= failure.rank) {
                    worst = Some(failure);
                }
            }
            containers.push(info);
        }
    }
    let spec = obj_at(obj, "spec");
    // Memory limits live in the spec, container states in the status: joined by name.
    for spec_c in spec
        .into_iter()
        .flat_map(|s| arr_at(s, "initContainers").chain(arr_at(s, "containers")))
        .filter_map(Value::as_object)
    {
        let (Some(name), Some(limit)) = (
            str_at(spec_c, "name"),
            obj_path(spec_c, &["resources", "limits"]).and_then(|l| str_at(l, "memory")),
        ) else {
            continue;
        };
        if let Some(c) = containers.iter_mut().find(|c| c.name == name) {
            c.memory_limit = Some(limit.to_string());
        }
    }
    let phase = status.and_then(|s| str_at(s, "phase"));
    let ready = containers.iter().filter(|c| c.ready).count();
    let level = if phase == Some("Failed") {
        Level::Error
    } else if worst.is_some() {
        Level::Warning
    } else {
        Level::Info
    };
    let msg = if summaries.is_empty() {
        let phase = phase.unwrap_or("pod");
        match status.and_then(|s| str_at(s, "message")) {
            // An evicted or failed Pod says why in `status.message`.
            Some(m) => format!("{phase}: {m}"),
            None => format!("{phase}: {ready}/{} containers ready", containers.len()),
        }
    } else {
        summaries.join("; ")
    };
    let reason = worst
        .map(|w| w.reason)
        .or_else(|| status.and_then(|s| str_at(s, "reason")).map(str::to_string));
    let controller = controller_from_pod(name).or_else(|| {
        labels
            .iter()
            .filter(|(k, _)| k == "app" || k == "app.kubernetes.io/name")
            .find_map(|(_, v)| controller_from_pod(v))
    });
    Record {
        ts: instants.into_iter().max(),
        format: Format::K8sObject,
        level: Some(level),
        controller: controller.map(str::to_string),
        pod: (!name.is_empty()).then(|| name.to_string()),
        object: Some(ObjectRef::new("Pod", namespace, name)),
        reason,
        msg,
        detail: Detail::Pod(Box::new(PodInfo {
            watch_type: watch_type.map(str::to_string),
            phase: phase.map(str::to_string),
            labels,
            containers,
            uid: meta.and_then(|m| str_at(m, "uid")).map(str::to_string),
            owner: meta.and_then(super::object::owner),
            node_name: spec.and_then(|s| str_at(s, "nodeName")).map(str::to_string),
            claim_names: spec
                .into_iter()
                .flat_map(|s| arr_at(s, "volumes"))
                .filter_map(Value::as_object)
                .filter_map(|v| obj_at(v, "persistentVolumeClaim"))
                .filter_map(|p| str_at(p, "claimName"))
                .map(str::to_string)
                .collect(),
            conditions: status
                .into_iter()
                .flat_map(|s| arr_at(s, "conditions"))
                .filter_map(Value::as_object)
                .filter_map(condition)
                .collect(),
            status_reason: status.and_then(|s| str_at(s, "reason")).map(str::to_string),
            status_message: status
                .and_then(|s| str_at(s, "message"))
                .map(str::to_string),
        })),
        ..Default::default()
    }
}

/// One `status.conditions[]` entry of a Pod.
fn condition(c: &Map<String, Value>) -> Option<Condition> {
    Some(Condition {
        type_: str_at(c, "type")?.to_string(),
        status: str_at(c, "status").unwrap_or("Unknown").to_string(),
        reason: str_at(c, "reason").unwrap_or_default().to_string(),
        message: str_at(c, "message").unwrap_or_default().to_string(),
        last_transition_ms: ts_at(c, "lastTransitionTime"),
    })
}

/// One `containerStatuses[]` entry and the instants it shows.
fn container(cs: &Map<String, Value>) -> (ContainerInfo, Vec<TsMs>) {
    let state = |path: &[&str]| obj_path(cs, path);
    let waiting = state(&["state", "waiting"]);
    let terminated = state(&["state", "terminated"]);
    let last = state(&["lastState", "terminated"]);
    let times = [
        state(&["state", "running"]).and_then(|r| ts_at(r, "startedAt")),
        terminated.and_then(|t| ts_at(t, "finishedAt")),
        terminated.and_then(|t| ts_at(t, "startedAt")),
        last.and_then(|t| ts_at(t, "finishedAt")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let info = ContainerInfo {
        name: str_at(cs, "name").unwrap_or_default().to_string(),
        ready: bool_at(cs, "ready").unwrap_or(false),
        restart_count: u64_at(cs, "restartCount").unwrap_or(0),
        image: str_at(cs, "image").map(str::to_string),
        waiting_reason: waiting
            .and_then(|w| str_at(w, "reason"))
            .map(str::to_string),
        terminated_reason: terminated
            .and_then(|t| str_at(t, "reason"))
            .map(str::to_string),
        terminated_exit_code: terminated.and_then(|t| i64_at(t, "exitCode")),
        last_terminated_reason: last.and_then(|t| str_at(t, "reason")).map(str::to_string),
        last_terminated_exit_code: last.and_then(|t| i64_at(t, "exitCode")),
        last_terminated_finished_ms: last.and_then(|t| ts_at(t, "finishedAt")),
        waiting_message: waiting
            .and_then(|w| str_at(w, "message"))
            .map(str::to_string),
        terminated_message: last
            .or(terminated)
            .and_then(|t| str_at(t, "message"))
            .map(str::to_string),
        memory_limit: None,
    };
    (info, times)
}

/// `container manager waiting: CrashLoopBackOff, last terminated: OOMKilled (exit code
/// 137), restarts 3` and the most severe reason, or `None` for a healthy container.
fn summarise(c: &ContainerInfo) -> Option<(String, Failure)> {
    let mut parts = Vec::new();
    let mut worst: Option<Failure> = None;
    let mut consider = |reason: &str, exit: Option<i64>, label: &str| {
        let rank = match (severity_rank(reason), exit) {
            (0, Some(code)) if code != 0 => 70,
            (r, _) => r,
        };
        if rank == 0 {
            return;
        }
        parts.push(match exit {
            Some(code) => format!("{label}: {reason} (exit code {code})"),
            None => format!("{label}: {reason}"),
        });
        if !matches!(&worst, Some(w) if w.rank >= rank) {
            worst = Some(Failure {
                rank,
                reason: reason.to_string(),
            });
        }
    };
    if let Some(r) = &c.waiting_reason {
        consider(r, None, "waiting");
    }
    if c.terminated_reason.is_some() || c.terminated_exit_code.is_some() {
        let r = c.terminated_reason.as_deref().unwrap_or("Terminated");
        consider(r, c.terminated_exit_code, "terminated");
    }
    // A past termination only matters once the container restarted because of it.
    if c.restart_count > 0
        && (c.last_terminated_reason.is_some() || c.last_terminated_exit_code.is_some())
    {
        let r = c.last_terminated_reason.as_deref().unwrap_or("Terminated");
        consider(r, c.last_terminated_exit_code, "last terminated");
    }
    let worst = worst?;
    let summary = format!(
        "container {} {}, restarts {}",
        c.name,
        parts.join(", "),
        c.restart_count
    );
    Some((summary, worst))
}
