//! Targeted lookups of a failing workload: when Flux says `health check failed …
//! timeout waiting for: [Deployment/shop/web status: 'InProgress']`, the cause is on the
//! workload's Pods, ReplicaSets, PVCs and their Events, which Flux never prints. A
//! lookup fetches exactly those, by name and by label selector, and returns them as
//! the lines the watch sources send (one compact JSON watch event per object), so the
//! decoder and the correlator read them like any other Kubernetes document.
//!
//! What one lookup of `kind/namespace/name` asks (`requests` counts them; at most
//! [`MAX_REQUESTS`]):
//! - GET the workload (Deployment, StatefulSet, DaemonSet, Job, CronJob; any other kind,
//!   a HelmRelease or Kustomization, is not a workload and is not looked up);
//! - Deployment: LIST its ReplicaSets by the Deployment's selector, keep the current
//!   one (revision annotation) and the one before; CronJob: GET its active Jobs;
//! - LIST the Pods by the workload's (or Job's) label selector, `limit` [`POD_LIMIT`],
//!   keeping those the workload (or its kept ReplicaSets) controls: never all Pods of
//!   a namespace or of the cluster, and never without a selector;
//! - GET each PVC the Pods mount and a StatefulSet's templates name
//!   (`<template>-<sts>-<ordinal>`), at most [`MAX_PVCS`];
//! - LIST Events by field selector `involvedObject.kind=…,involvedObject.name=…` for the
//!   workload, its ReplicaSets or Jobs, the first [`EVENT_PODS`] Pods (unhealthy first)
//!   and the PVCs; the newest [`EVENTS_PER_OBJECT`] of each, newest first.
//!
//! RBAC fallback: a resource that answers 403 is listed in [`Fetched::denied`] and not
//! asked again in that lookup; the others go on. With `pods` (or the workload) denied,
//! the Pods' Events are found by one LIST of the namespace's Pod Events
//! (`involvedObject.kind=Pod`, `limit` [`EVENT_LIST_LIMIT`]) kept by the names their
//! controllers generate (`<replicaset>-<suffix>`, else `<deployment>-<hash>-<suffix>`,
//! `<sts>-<ordinal>`: [`plan::named_after`]); with `replicasets` (or the Deployment)
//! denied, the ReplicaSets' Events alike: Events only. A 404 is a fact ([`Fetched::not_found`]: a missing PVC is a cause); any other
//! error is counted and returned, and after a connection failure the lookup stops.
//!
//! Limits ([`Lookups`]): [`CONCURRENCY`] lookups at once, a per-workload minimum
//! interval and a global cap per minute (`kubernetes.lookups`; a request refused by
//! either is dropped and counted), and a deadline per lookup (what was fetched by then
//! is kept). Counters: `fluxsight_lookups_total{result}`,
//! `fluxsight_lookup_requests_total`.
//!
//! Does not own: deciding when to look up (the correlator asks), what the documents
//! mean (parse, correlate), the wiring (pipeline).

pub mod gate;
pub mod plan;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::Client;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::config::LookupSettings;
use super::reach::is_connection_failure;
use crate::telemetry::{LookupResult, LookupStats, Telemetry};
use gate::{Gate, Refused};

/// Lookups running at once; more wait for a slot (within their deadline).
pub const CONCURRENCY: usize = 2;
/// `limit` of the Pod and ReplicaSet lists.
pub const POD_LIMIT: u32 = 50;
/// `limit` of each Event list (the newest are kept of what it returns).
pub const EVENT_LIST_LIMIT: u32 = 100;
/// Events kept per object.
pub const EVENTS_PER_OBJECT: usize = 10;
/// Pods whose Events are listed (unhealthy ones first: replicas usually fail alike).
pub const EVENT_PODS: usize = 5;
/// PVCs fetched.
pub const MAX_PVCS: usize = 8;
/// Active Jobs of a CronJob fetched.
pub const MAX_JOBS: usize = 3;
/// Requests one lookup may make; what is left undone is marked `truncated`.
pub const MAX_REQUESTS: u32 = 32;

/// One API resource a lookup reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Res {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

impl Res {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.into(),
            version: self.version.into(),
            api_version: self.api_version(),
            kind: self.kind.into(),
            plural: self.plural.into(),
        }
    }
}

const fn res(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
) -> Res {
    Res {
        group,
        version,
        kind,
        plural,
    }
}

pub const DEPLOYMENTS: Res = res("apps", "v1", "Deployment", "deployments");
pub const REPLICASETS: Res = res("apps", "v1", "ReplicaSet", "replicasets");
pub const STATEFULSETS: Res = res("apps", "v1", "StatefulSet", "statefulsets");
pub const DAEMONSETS: Res = res("apps", "v1", "DaemonSet", "daemonsets");
pub const JOBS: Res = res("batch", "v1", "Job", "jobs");
pub const CRONJOBS: Res = res("batch", "v1", "CronJob", "cronjobs");
pub const PODS: Res = res("", "v1", "Pod", "pods");
pub const PVCS: Res = res("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims");
pub const EVENTS: Res = res("", "v1", "Event", "events");

/// Every resource a lookup may read: what the RBAC manifests grant `get`/`list` on.
pub const READS: [Res; 9] = [
    DEPLOYMENTS,
    REPLICASETS,
    STATEFULSETS,
    DAEMONSETS,
    JOBS,
    CRONJOBS,
    PODS,
    PVCS,
    EVENTS,
];

/// The workload kinds a lookup follows down to Pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
}

impl WorkloadKind {
    /// The kind as Flux prints it (`Deployment`); case does not matter. `None` for
    /// anything else (HelmRelease, Kustomization, Service, …).
    pub fn parse(kind: &str) -> Option<WorkloadKind> {
        [
            WorkloadKind::Deployment,
            WorkloadKind::StatefulSet,
            WorkloadKind::DaemonSet,
            WorkloadKind::Job,
            WorkloadKind::CronJob,
        ]
        .into_iter()
        .find(|k| k.res().kind.eq_ignore_ascii_case(kind))
    }

    pub fn res(self) -> Res {
        match self {
            WorkloadKind::Deployment => DEPLOYMENTS,
            WorkloadKind::StatefulSet => STATEFULSETS,
            WorkloadKind::DaemonSet => DAEMONSETS,
            WorkloadKind::Job => JOBS,
            WorkloadKind::CronJob => CRONJOBS,
        }
    }
}

/// What to look up: an object a Flux health check named.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadTarget {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl WorkloadTarget {
    pub fn new(kind: &str, namespace: &str, name: &str) -> WorkloadTarget {
        WorkloadTarget {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// `Kind/namespace/name`, as in Flux's messages; the rate limiter's key.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// What one lookup fetched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    /// One compact JSON line per object and Event, as the watch sources send them
    /// (`{"type":"ADDED","object":{…}}`): the workload, its ReplicaSets or Jobs, Pods,
    /// PVCs, then Events (per object, newest first).
    pub docs: Vec<String>,
    /// Resources (plural, e.g. `pods`) that answered 403 Forbidden.
    pub denied: Vec<String>,
    /// Objects that answered 404 (`persistentvolumeclaims/shop/data-db-0`), or a
    /// resource the server does not serve (`cronjobs`).
    pub not_found: Vec<String>,
    /// Other failed requests (`list pods: …`).
    pub errors: Vec<String>,
    /// API requests made.
    pub requests: u32,
    /// The deadline passed: what is here was fetched by then.
    pub timed_out: bool,
    /// [`MAX_REQUESTS`] was reached before everything was asked.
    pub truncated: bool,
}

impl Fetched {
    /// The `result` label this lookup is counted under.
    pub fn result(&self) -> LookupResult {
        if self.timed_out {
            LookupResult::Timeout
        } else if !self.errors.is_empty() {
            LookupResult::Error
        } else if !self.denied.is_empty() {
            LookupResult::Denied
        } else {
            LookupResult::Ok
        }
    }
}

/// How a lookup request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Requests were made (see [`Fetched::result`]).
    Fetched(Fetched),
    /// Nothing was asked: not a workload, a duplicate, the rate cap, or turned off.
    Skipped(LookupResult),
}

impl Outcome {
    pub fn fetched(self) -> Option<Fetched> {
        match self {
            Outcome::Fetched(f) => Some(f),
            Outcome::Skipped(_) => None,
        }
    }
}

/// The lookup runner: limits and counters around [`fetch`]. Shared (`Arc`) by whoever
/// asks; every method takes `&self`.
pub struct Lookups {
    client: Client,
    settings: LookupSettings,
    gate: Mutex<Gate>,
    slots: Semaphore,
    telemetry: Arc<Telemetry>,
    /// Resources already reported as denied (one WARN each per process).
    warned: Mutex<BTreeSet<String>>,
}

impl Lookups {
    pub fn new(client: Client, settings: LookupSettings, telemetry: Arc<Telemetry>) -> Lookups {
        Lookups {
            client,
            gate: Mutex::new(Gate::new(settings.interval, settings.max_per_minute)),
            settings,
            slots: Semaphore::new(CONCURRENCY),
            telemetry,
            warned: Mutex::new(BTreeSet::new()),
        }
    }

    /// Looks `target` up, unless the limits drop the request. Never fails: what could
    /// not be read is in the [`Fetched`] lists, and every outcome is counted.
    pub async fn lookup(&self, target: &WorkloadTarget) -> Outcome {
        let stats = &self.telemetry.lookups;
        let skip = |r: LookupResult| {
            stats.count(r);
            tracing::debug!(workload = %target.key(), result = r.as_str(), "workload lookup skipped");
            Outcome::Skipped(r)
        };
        if !self.settings.enabled {
            return skip(LookupResult::Disabled);
        }
        let Some(kind) = WorkloadKind::parse(&target.kind) else {
            return skip(LookupResult::NotWorkload);
        };
        let admitted = self.gate.lock().unwrap_or_else(|e| e.into_inner()).admit(
            &WorkloadTarget::new(kind.res().kind, &target.namespace, &target.name).key(),
            Instant::now(),
        );
        match admitted {
            Err(Refused::Duplicate) => return skip(LookupResult::Duplicate),
            Err(Refused::RateLimited) => return skip(LookupResult::RateLimited),
            Ok(()) => {}
        }
        let deadline = tokio::time::Instant::now() + self.settings.timeout;
        let mut got = Fetched::default();
        match tokio::time::timeout_at(deadline, self.slots.acquire()).await {
            Ok(Ok(_slot)) => {
                let run = fetch(
                    &self.client,
                    kind,
                    &target.namespace,
                    &target.name,
                    stats,
                    &mut got,
                );
                if tokio::time::timeout_at(deadline, run).await.is_err() {
                    got.timed_out = true;
                }
            }
            // Closed never happens (the semaphore is never closed); a full wait is a
            // timeout.
            _ => got.timed_out = true,
        }
        let result = got.result();
        stats.count(result);
        self.warn_denied(&got.denied);
        tracing::debug!(
            workload = %target.key(),
            result = result.as_str(),
            docs = got.docs.len(),
            requests = got.requests,
            denied = ?got.denied,
            "workload lookup"
        );
        Outcome::Fetched(got)
    }

    fn warn_denied(&self, denied: &[String]) {
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        for r in denied {
            if warned.insert(r.clone()) {
                tracing::warn!(
                    resource = %r,
                    "workload lookups may not read {r} (403): findings name causes from Events only; grant get/list on {r} to fluxsight's ClusterRole"
                );
            }
        }
    }

    /// The configured limits.
    pub fn settings(&self) -> &LookupSettings {
        &self.settings
    }
}

/// One lookup's requests, in the order the module doc lists, into `out` (so a caller
/// whose deadline passed keeps what was fetched). No limits but [`MAX_REQUESTS`].
pub async fn fetch(
    client: &Client,
    kind: WorkloadKind,
    namespace: &str,
    name: &str,
    stats: &LookupStats,
    out: &mut Fetched,
) {
    let mut f = Fetcher {
        client,
        ns: namespace,
        stats,
        out,
        gone: false,
    };
    let wres = kind.res();
    let workload = f.get(wres, name).await;
    if let Some(w) = &workload {
        f.push(w.clone(), wres);
    }
    let mut ask = Ask {
        about: vec![(wres.kind, name.to_string())],
        parents: Vec::new(),
        pod_queries: Vec::new(),
    };
    if let Some(w) = &workload {
        f.children(kind, w, &mut ask).await;
    }
    let pods = f.pods(&ask.pod_queries).await;
    let mut claims: Vec<String> = pods.iter().flat_map(plan::claim_names).collect();
    if let (WorkloadKind::StatefulSet, Some(w)) = (kind, &workload) {
        claims.extend(plan::template_claims(w, MAX_PVCS));
    }
    for p in pods.iter().take(EVENT_PODS) {
        if let Some(n) = plan::name(p) {
            ask.about.push((PODS.kind, n.to_string()));
        }
    }
    for p in pods {
        f.push(p, PODS);
    }
    f.claims(claims, &mut ask.about).await;
    for (k, n) in &ask.about {
        let sel = format!("involvedObject.kind={k},involvedObject.name={n}");
        f.events(&sel, |_| true, EVENTS_PER_OBJECT).await;
    }
    // Events only, for what could not be listed: the namespace's Events of that kind,
    // kept by the names their controllers generate (plan::named_after).
    let unread = workload.is_none() && f.is_denied(wres);
    if ask.parents.is_empty() {
        let segments = match kind {
            WorkloadKind::Deployment | WorkloadKind::CronJob => 2,
            _ => 1,
        };
        ask.parents.push((name.to_string(), segments));
    }
    if unread || f.is_denied(PODS) {
        let sel = format!("involvedObject.kind={}", PODS.kind);
        let ours = |n: &str| ask.parents.iter().any(|(p, k)| plan::named_after(n, p, *k));
        f.events(&sel, ours, EVENTS_PER_OBJECT * EVENT_PODS).await;
    }
    if kind == WorkloadKind::Deployment && (unread || f.is_denied(REPLICASETS)) {
        let sel = format!("involvedObject.kind={}", REPLICASETS.kind);
        f.events(&sel, |n| plan::named_after(n, name, 1), EVENTS_PER_OBJECT)
            .await;
    }
}

/// What a lookup asks after the workload: the objects whose Events it lists, the
/// names its Pods are generated from, and its Pod lists.
struct Ask {
    /// (kind, name) of each object whose Events are listed.
    about: Vec<(&'static str, String)>,
    /// (parent, segments) for [`plan::named_after`]: the Pods' ReplicaSets or Jobs when
    /// known (one segment), else the workload.
    parents: Vec<(String, usize)>,
    /// (label selector, uids whose Pods are kept; empty = every Pod selected).
    pod_queries: Vec<(String, Vec<String>)>,
}

/// The label-selector text of a workload's or Job's `spec.selector`.
fn selector_of(w: &Value) -> Option<String> {
    w.pointer("/spec/selector").and_then(plan::label_selector)
}

/// The object's own uid as the one owner whose Pods are kept.
fn own_uid(w: &Value) -> Vec<String> {
    plan::uid(w).map(str::to_string).into_iter().collect()
}

/// The requests of one lookup, and what their answers add to [`Fetched`].
struct Fetcher<'a> {
    client: &'a Client,
    ns: &'a str,
    stats: &'a LookupStats,
    out: &'a mut Fetched,
    /// A connection failure was seen: no further request.
    gone: bool,
}

enum Verb {
    Get,
    List,
}

impl Fetcher<'_> {
    fn api(&self, r: Res) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), self.ns, &r.api_resource())
    }

    fn is_denied(&self, r: Res) -> bool {
        self.out.denied.iter().any(|d| d == r.plural)
    }

    /// Whether one more request may go out (counted when it may).
    fn may_ask(&mut self, r: Res) -> bool {
        if self.gone || self.is_denied(r) {
            return false;
        }
        if self.out.requests >= MAX_REQUESTS {
            self.out.truncated = true;
            return false;
        }
        self.out.requests += 1;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        true
    }

    fn failed(&mut self, r: Res, verb: Verb, name: &str, e: kube::Error) {
        match &e {
            kube::Error::Api(s) if s.code == 403 => {
                if !self.is_denied(r) {
                    self.out.denied.push(r.plural.to_string());
                }
            }
            kube::Error::Api(s) if s.code == 404 => self.out.not_found.push(match verb {
                Verb::Get => format!("{}/{}/{name}", r.plural, self.ns),
                Verb::List => r.plural.to_string(),
            }),
            _ => {
                self.gone = is_connection_failure(&e);
                let verb = match verb {
                    Verb::Get => "get",
                    Verb::List => "list",
                };
                self.out.errors.push(format!("{verb} {}: {e}", r.plural));
            }
        }
    }

    async fn get(&mut self, r: Res, name: &str) -> Option<Value> {
        if !self.may_ask(r) {
            return None;
        }
        match self.api(r).get(name).await {
            Ok(o) => to_value(o),
            Err(e) => {
                self.failed(r, Verb::Get, name, e);
                None
            }
        }
    }

    async fn list(&mut self, r: Res, lp: &ListParams) -> Option<Vec<Value>> {
        if !self.may_ask(r) {
            return None;
        }
        match self.api(r).list(lp).await {
            Ok(l) => Some(l.items.into_iter().filter_map(to_value).collect()),
            Err(e) => {
                self.failed(r, Verb::List, "", e);
                None
            }
        }
    }

    /// A workload's ReplicaSets or Jobs (sent), and how to find its Pods.
    async fn children(&mut self, kind: WorkloadKind, w: &Value, ask: &mut Ask) {
        match kind {
            WorkloadKind::Deployment => {
                let Some(sel) = selector_of(w) else { return };
                let lp = ListParams::default().labels(&sel).limit(POD_LIMIT);
                let Some(rss) = self.list(REPLICASETS, &lp).await else {
                    // The owners are unknown (denied, failed): keep every Pod selected.
                    ask.pod_queries.push((sel, Vec::new()));
                    return;
                };
                let kept = plan::current_and_previous(w, rss);
                let uids = kept.iter().flat_map(own_uid).collect::<Vec<_>>();
                for r in kept {
                    if let Some(n) = plan::name(&r) {
                        ask.about.push((REPLICASETS.kind, n.to_string()));
                        ask.parents.push((n.to_string(), 1));
                    }
                    self.push(r, REPLICASETS);
                }
                // No ReplicaSet of this Deployment: it has no Pods to ask for.
                if !uids.is_empty() {
                    ask.pod_queries.push((sel, uids));
                }
            }
            WorkloadKind::StatefulSet | WorkloadKind::DaemonSet | WorkloadKind::Job => {
                if let Some(sel) = selector_of(w) {
                    ask.pod_queries.push((sel, own_uid(w)));
                }
            }
            WorkloadKind::CronJob => {
                for job in plan::active_jobs(w).into_iter().take(MAX_JOBS) {
                    let Some(j) = self.get(JOBS, &job).await else {
                        continue;
                    };
                    if let Some(sel) = selector_of(&j) {
                        ask.pod_queries.push((sel, own_uid(&j)));
                    }
                    ask.about.push((JOBS.kind, job.clone()));
                    ask.parents.push((job.clone(), 1));
                    self.push(j, JOBS);
                }
            }
        }
    }

    /// The Pods of each query its owners control, at most [`POD_LIMIT`], unhealthy
    /// first.
    async fn pods(&mut self, queries: &[(String, Vec<String>)]) -> Vec<Value> {
        let mut pods: Vec<Value> = Vec::new();
        for (sel, owners) in queries {
            let lp = ListParams::default().labels(sel).limit(POD_LIMIT);
            let Some(items) = self.list(PODS, &lp).await else {
                continue;
            };
            let owners: Vec<&str> = owners.iter().map(String::as_str).collect();
            for p in plan::owned_by(items, &owners) {
                if pods.len() < POD_LIMIT as usize
                    && !pods.iter().any(|q| plan::name(q) == plan::name(&p))
                {
                    pods.push(p);
                }
            }
        }
        plan::unhealthy_first(&mut pods);
        pods
    }

    /// GETs each claim (first [`MAX_PVCS`], duplicates once), sends what it reads, and
    /// adds the PVCs whose Events to list to `about`.
    async fn claims(&mut self, mut claims: Vec<String>, about: &mut Vec<(&'static str, String)>) {
        let mut seen = BTreeSet::new();
        claims.retain(|c| seen.insert(c.clone()));
        for c in claims.into_iter().take(MAX_PVCS) {
            match self.get(PVCS, &c).await {
                Some(pvc) => {
                    self.push(pvc, PVCS);
                    about.push((PVCS.kind, c));
                }
                // Denied: its Events may still say why it does not bind.
                None if self.is_denied(PVCS) => about.push((PVCS.kind, c)),
                None => {}
            }
        }
    }

    /// Lists Events by field selector `fields`, keeps those about an object whose name
    /// `keep` accepts, and sends the newest `most` of them, newest first.
    async fn events(&mut self, fields: &str, keep: impl Fn(&str) -> bool, most: usize) {
        let lp = ListParams::default().fields(fields).limit(EVENT_LIST_LIMIT);
        let Some(evs) = self.list(EVENTS, &lp).await else {
            return;
        };
        let about = |e: &Value| {
            e.pointer("/involvedObject/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let ours: Vec<Value> = evs.into_iter().filter(|e| keep(&about(e))).collect();
        for e in plan::newest_events(ours, most) {
            self.push(e, EVENTS);
        }
    }

    fn push(&mut self, obj: Value, r: Res) {
        self.out
            .docs
            .push(plan::line(obj, &r.api_version(), r.kind));
    }
}

fn to_value(o: DynamicObject) -> Option<Value> {
    serde_json::to_value(o).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_kinds_and_not_workloads() {
        assert_eq!(
            WorkloadKind::parse("Deployment"),
            Some(WorkloadKind::Deployment)
        );
        assert_eq!(
            WorkloadKind::parse("statefulset"),
            Some(WorkloadKind::StatefulSet)
        );
        assert_eq!(WorkloadKind::parse("CronJob"), Some(WorkloadKind::CronJob));
        for not in ["HelmRelease", "Kustomization", "Service", "Pod", ""] {
            assert_eq!(WorkloadKind::parse(not), None, "{not}");
        }
        assert_eq!(DEPLOYMENTS.api_version(), "apps/v1");
        assert_eq!(PVCS.api_version(), "v1");
    }

    /// The lead spawns lookups on the runtime: the future must be `Send`.
    #[allow(dead_code)]
    fn lookup_future_is_send(l: &'static Lookups, t: &'static WorkloadTarget) {
        fn send<T: Send>(_: T) {}
        send(l.lookup(t));
    }

    #[test]
    fn result_prefers_timeout_then_errors_then_denials() {
        let mut f = Fetched::default();
        assert_eq!(f.result(), LookupResult::Ok);
        f.not_found.push("persistentvolumeclaims/shop/x".into());
        assert_eq!(f.result(), LookupResult::Ok);
        f.denied.push("pods".into());
        assert_eq!(f.result(), LookupResult::Denied);
        f.errors.push("list pods: 500".into());
        assert_eq!(f.result(), LookupResult::Error);
        f.timed_out = true;
        assert_eq!(f.result(), LookupResult::Timeout);
    }
}
