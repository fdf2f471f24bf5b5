//! The pure half of a workload lookup: what to ask for next, given what the API server
//! answered (JSON values in, selectors, names and kept objects out).
//!
//! Owns: turning `spec.selector` into label-selector text (never an empty selector: an
//! empty one selects everything), choosing a Deployment's current and previous
//! ReplicaSet, keeping only what the workload owns, the PVC names of Pods and of a
//! StatefulSet's templates, the order Pods are looked at (unhealthy first) and Events
//! kept (newest first), and the line each object is sent as. Does not own: requests,
//! limits or timing (`super`).
//!
//! Invariant: every function takes any JSON shape; a missing or mistyped field reads as
//! absent, never a panic.

use serde_json::{Map, Value};

use crate::parse::time::parse_ts;

/// Annotation on a Deployment and its ReplicaSets: the rollout revision.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// Annotation `kubectl apply` leaves: the whole last applied object, dropped from lines.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn s<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// `metadata.uid`.
pub fn uid(obj: &Value) -> Option<&str> {
    s(obj, "/metadata/uid")
}

/// `metadata.name`.
pub fn name(obj: &Value) -> Option<&str> {
    s(obj, "/metadata/name")
}

/// A key or value that fits label-selector text without quoting (the API server's own
/// rules are stricter; anything that could change the selector's meaning is refused).
fn plain(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 317
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

/// The label selector `sel` (a `metav1.LabelSelector`: `matchLabels` and
/// `matchExpressions`) as query text, e.g. `app=web,tier in (a,b),!legacy`, terms in
/// key order. `None` when it selects everything (empty), or a term cannot be written
/// safely (an unknown operator, a key or value with other characters): a lookup never
/// lists without a selector.
pub fn label_selector(sel: &Value) -> Option<String> {
    let mut terms: Vec<String> = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            let v = v.as_str()?;
            // An empty value is a value (`tier=` selects `tier: ""`).
            if !plain(k) || !(v.is_empty() || plain(v)) {
                return None;
            }
            terms.push(format!("{k}={v}"));
        }
    }
    for e in arr(sel, "/matchExpressions") {
        let key = s(e, "/key").filter(|k| plain(k))?;
        let values: Vec<&str> = arr(e, "/values").iter().filter_map(Value::as_str).collect();
        if values.iter().any(|v| !plain(v)) {
            return None;
        }
        let term = match s(e, "/operator")? {
            "In" if !values.is_empty() => format!("{key} in ({})", values.join(",")),
            "NotIn" if !values.is_empty() => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return None,
        };
        terms.push(term);
    }
    // Only negative terms would still select nearly everything.
    let positive = terms
        .iter()
        .any(|t| !t.starts_with('!') && !t.contains(" notin "));
    positive.then(|| terms.join(","))
}

fn revision(obj: &Value) -> Option<i64> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|r| r.trim().parse().ok())
}

/// The uid of the controller owner (`ownerReferences[].controller: true`).
pub fn controller_uid(obj: &Value) -> Option<&str> {
    arr(obj, "/metadata/ownerReferences")
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .and_then(|o| s(o, "/uid"))
}

/// Objects of `items` whose controller is one of `owners`; all of them when `owners` is
/// empty (the owner is unknown: its GET or list was refused).
pub fn owned_by(items: Vec<Value>, owners: &[&str]) -> Vec<Value> {
    if owners.is_empty() {
        return items;
    }
    items
        .into_iter()
        .filter(|o| controller_uid(o).is_some_and(|u| owners.contains(&u)))
        .collect()
}

/// A Deployment's current ReplicaSet and the one before it, from the ReplicaSets its
/// selector matched: current is the one whose revision annotation equals the
/// Deployment's (else the highest revision, else the newest), previous the highest
/// revision below it. ReplicaSets another controller owns are ignored.
pub fn current_and_previous(deploy: &Value, rss: Vec<Value>) -> Vec<Value> {
    let owners: Vec<&str> = uid(deploy).into_iter().collect();
    let mut rss = owned_by(rss, &owners);
    let key = |r: &Value| {
        (
            revision(r).unwrap_or(-1),
            s(r, "/metadata/creationTimestamp")
                .and_then(parse_ts)
                .unwrap_or(i64::MIN),
        )
    };
    rss.sort_by_key(|r| std::cmp::Reverse(key(r)));
    let want = revision(deploy);
    let cur = want
        .and_then(|w| rss.iter().position(|r| revision(r) == Some(w)))
        .unwrap_or(0);
    if rss.is_empty() {
        return rss;
    }
    let current = rss.remove(cur);
    let cur_rev = revision(&current);
    let previous = rss
        .into_iter()
        .find(|r| cur_rev.is_none() || revision(r) < cur_rev);
    std::iter::once(current).chain(previous).collect()
}

/// The PVCs a Pod mounts (`spec.volumes[].persistentVolumeClaim.claimName`).
pub fn claim_names(pod: &Value) -> Vec<String> {
    arr(pod, "/spec/volumes")
        .iter()
        .filter_map(|v| s(v, "/persistentVolumeClaim/claimName"))
        .map(str::to_string)
        .collect()
}

/// A StatefulSet's PVCs from its `volumeClaimTemplates`: `<template>-<sts>-<ordinal>`
/// for the first `max_ordinals` ordinals of `spec.replicas` (default 1).
pub fn template_claims(sts: &Value, max_ordinals: usize) -> Vec<String> {
    let Some(sts_name) = name(sts) else {
        return Vec::new();
    };
    let replicas = sts
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .min(max_ordinals as u64);
    let mut out = Vec::new();
    for t in arr(sts, "/spec/volumeClaimTemplates") {
        let Some(tpl) = name(t) else { continue };
        for i in 0..replicas {
            out.push(format!("{tpl}-{sts_name}-{i}"));
        }
    }
    out
}

/// The Jobs a CronJob runs now (`status.active[].name`).
pub fn active_jobs(cron: &Value) -> Vec<String> {
    arr(cron, "/status/active")
        .iter()
        .filter_map(|r| s(r, "/name"))
        .map(str::to_string)
        .collect()
}

/// Whether `name` is one a controller generates from `parent`: `<parent>-` then
/// `segments` alphanumeric parts joined by `-` (a Deployment's ReplicaSet
/// `web-7d9f8c6b5` is one segment after `web`, its Pods `web-7d9f8c6b5-a1b2c` two; a
/// StatefulSet's Pod `db-0` one). How Events are tied to objects that could not be
/// listed: by name, inferred.
pub fn named_after(name: &str, parent: &str, segments: usize) -> bool {
    let Some(rest) = name.strip_prefix(parent).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('-').collect();
    parts.len() == segments
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A Pod that is not plainly healthy: not Running, or a container waiting or not ready.
pub fn unhealthy(pod: &Value) -> bool {
    let running = s(pod, "/status/phase") == Some("Running");
    let statuses = arr(pod, "/status/containerStatuses");
    !running
        || statuses.is_empty()
        || statuses.iter().any(|c| {
            c.pointer("/state/waiting").is_some()
                || c.get("ready").and_then(Value::as_bool) != Some(true)
        })
}

/// Pods in the order their Events are looked up: unhealthy ones first, then by name.
pub fn unhealthy_first(pods: &mut [Value]) {
    pods.sort_by(|a, b| (!unhealthy(a), name(a)).cmp(&(!unhealthy(b), name(b))));
}

/// When an Event last happened (ms): `lastTimestamp`, `series.lastObservedTime`,
/// `eventTime`, `firstTimestamp`, then its creation.
pub fn event_time(ev: &Value) -> Option<i64> {
    [
        "/lastTimestamp",
        "/series/lastObservedTime",
        "/eventTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| s(ev, p).and_then(parse_ts))
}

/// The newest `keep` Events, newest first (ties by name, so the order is stable).
pub fn newest_events(mut events: Vec<Value>, keep: usize) -> Vec<Value> {
    events.sort_by(|a, b| {
        event_time(b)
            .cmp(&event_time(a))
            .then_with(|| name(a).cmp(&name(b)))
    });
    events.truncate(keep);
    events
}

/// The line an object is sent as: the watch sources' shape
/// (`{"type":"ADDED","object":{…}}`, compact), with `apiVersion` and `kind` set (list
/// items carry neither) and without `metadata.managedFields` and the last-applied
/// annotation (large, and nothing reads them).
pub fn line(mut obj: Value, api_version: &str, kind: &str) -> String {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), api_version.into());
        m.insert("kind".into(), kind.into());
        if let Some(md) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            md.remove("managedFields");
            if let Some(a) = md.get_mut("annotations").and_then(Value::as_object_mut) {
                a.remove(LAST_APPLIED_ANNOTATION);
            }
        }
    }
    let mut w = Map::new();
    w.insert("type".into(), "ADDED".into());
    w.insert("object".into(), obj);
    Value::Object(w).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_are_written_in_key_order_and_never_empty_or_unsafe() {
        let sel = json!({"matchLabels": {"app": "web", "tier": "front"},
            "matchExpressions": [
                {"key": "track", "operator": "In", "values": ["stable", "canary"]},
                {"key": "legacy", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["x"]},
                {"key": "team", "operator": "Exists"}]});
        assert_eq!(
            label_selector(&sel).as_deref(),
            Some("app=web,tier=front,track in (stable,canary),!legacy,zone notin (x),team")
        );
        assert_eq!(
            label_selector(&json!({"matchLabels": {"app": "web", "tier": ""}})).as_deref(),
            Some("app=web,tier=")
        );
        assert_eq!(label_selector(&json!({})), None);
        assert_eq!(label_selector(&json!({"matchLabels": {}})), None);
        assert_eq!(label_selector(&Value::Null), None);
        // Negative terms alone select nearly everything.
        let neg = json!({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]});
        assert_eq!(label_selector(&neg), None);
        for bad in [
            json!({"matchLabels": {"app": "web,x=y"}}),
            json!({"matchLabels": {"app": 3}}),
            json!({"matchLabels": {"a b": "c"}}),
            json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "k", "operator": "Gt", "values": ["1"]}]}),
            json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "k", "operator": "In", "values": []}]}),
        ] {
            assert_eq!(label_selector(&bad), None, "{bad}");
        }
    }

    fn rs(name: &str, rev: &str, owner: &str) -> Value {
        json!({"metadata": {"name": name, "uid": format!("u-{name}"),
            "annotations": {REVISION_ANNOTATION: rev},
            "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": owner, "controller": true}]}})
    }

    #[test]
    fn current_replicaset_follows_the_deployments_revision_and_keeps_the_one_before() {
        let d = json!({"metadata": {"name": "web", "uid": "d1", "annotations": {REVISION_ANNOTATION: "3"}}});
        let rss = vec![
            rs("web-a", "1", "d1"),
            rs("web-c", "3", "d1"),
            rs("web-b", "2", "d1"),
            rs("web-d", "4", "d1"),
            rs("other", "9", "d2"),
        ];
        let kept = current_and_previous(&d, rss.clone());
        let names: Vec<&str> = kept.iter().filter_map(name).collect();
        assert_eq!(names, ["web-c", "web-b"]);
        // Without the Deployment's revision: the highest one.
        let d = json!({"metadata": {"name": "web", "uid": "d1"}});
        let kept = current_and_previous(&d, rss);
        let names: Vec<&str> = kept.iter().filter_map(name).collect();
        assert_eq!(names, ["web-d", "web-c"]);
        assert!(current_and_previous(&d, vec![]).is_empty());
        let one = current_and_previous(&d, vec![rs("web-a", "1", "d1")]);
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn ownership_filters_only_when_the_owner_is_known() {
        let p = |n: &str, o: Option<&str>| match o {
            Some(o) => {
                json!({"metadata": {"name": n, "ownerReferences": [{"uid": o, "controller": true}]}})
            }
            None => json!({"metadata": {"name": n}}),
        };
        let pods = vec![p("a", Some("rs1")), p("b", Some("rs9")), p("c", None)];
        let kept = owned_by(pods.clone(), &["rs1"]);
        assert_eq!(kept.iter().filter_map(name).collect::<Vec<_>>(), ["a"]);
        assert_eq!(owned_by(pods, &[]).len(), 3);
    }

    #[test]
    fn claims_of_pods_and_statefulset_templates() {
        let pod = json!({"spec": {"volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}},
            {"name": "cfg", "configMap": {"name": "x"}}]}});
        assert_eq!(claim_names(&pod), ["data-db-0"]);
        let sts = json!({"metadata": {"name": "db"}, "spec": {"replicas": 3,
            "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}});
        assert_eq!(
            template_claims(&sts, 2),
            ["data-db-0".to_string(), "data-db-1".to_string()]
        );
        assert!(template_claims(&json!({"spec": 1}), 5).is_empty());
        let cron = json!({"status": {"active": [{"name": "backup-123"}, {"kind": "Job"}]}});
        assert_eq!(active_jobs(&cron), ["backup-123"]);
    }

    #[test]
    fn generated_names() {
        assert!(named_after("web-7d9f8c6b5-a1b2c", "web", 2));
        assert!(named_after("web-7d9f8c6b5-a1b2c", "web-7d9f8c6b5", 1));
        assert!(named_after("web-7d9f8c6b5", "web", 1));
        assert!(named_after("db-0", "db", 1));
        assert!(!named_after("web-debug", "web", 2));
        assert!(!named_after("web-7d9f8c6b5-a1b2c", "web", 1));
        assert!(!named_after("webapp-1-2", "web", 2));
        assert!(!named_after("web--x", "web", 2));
        assert!(!named_after("web", "web", 1));
    }

    #[test]
    fn unhealthy_pods_first_and_newest_events_first() {
        let ok = json!({"metadata": {"name": "a"}, "status": {"phase": "Running",
            "containerStatuses": [{"ready": true, "state": {"running": {}}}]}});
        let waiting = json!({"metadata": {"name": "b"}, "status": {"phase": "Pending",
            "containerStatuses": [{"ready": false, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}});
        let mut pods = vec![ok.clone(), waiting.clone()];
        unhealthy_first(&mut pods);
        assert_eq!(pods, [waiting, ok]);
        let ev = |n: &str, t: &str| json!({"metadata": {"name": n}, "lastTimestamp": t});
        let evs = vec![
            ev("e1", "2026-12-07T10:00:00Z"),
            ev("e3", "2026-12-07T10:02:00Z"),
            json!({"metadata": {"name": "e2"}, "eventTime": "2026-12-07T10:01:00.500000Z"}),
        ];
        let kept = newest_events(evs, 2);
        assert_eq!(
            kept.iter().filter_map(name).collect::<Vec<_>>(),
            ["e3", "e2"]
        );
    }

    #[test]
    fn lines_are_watch_events_without_managed_fields() {
        let obj = json!({"metadata": {"name": "web", "managedFields": [{"manager": "kubectl"}],
            "annotations": {LAST_APPLIED_ANNOTATION: "{…}", "keep": "1"}}, "spec": {}});
        let l = line(obj, "apps/v1", "Deployment");
        assert!(!l.contains('\n'));
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["type"], "ADDED");
        assert_eq!(v["object"]["kind"], "Deployment");
        assert_eq!(v["object"]["apiVersion"], "apps/v1");
        assert!(v["object"]["metadata"].get("managedFields").is_none());
        assert_eq!(v["object"]["metadata"]["annotations"], json!({"keep": "1"}));
        // Not an object: still one line, never a panic.
        assert!(line(json!(3), "v1", "Pod").contains("\"object\":3"));
    }
}
