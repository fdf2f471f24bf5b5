//! Routing and storm control: which deliveries go to which sinks, and when.
//!
//! Sans-IO like the correlator: `on_output(out, now)`, `on_time(now)`,
//! `next_deadline()`; the caller passes time (record time in replay, wall time live).
//!
//! Storm control per route, Alertmanager-style: findings are grouped by the route's
//! `group_by` fields; a new group is notified after `group_wait`, a changed group at
//! most every `group_interval`, an unchanged firing group again after
//! `repeat_interval`. A route without grouping settings passes every finding update
//! through as it happens (what SIEM sinks want). Audit records are never held back.
//!
//! What goes where by default (`config::Route`): a route that does not name its record
//! types sends audit records only to its SIEM and storage sinks; chat and paging sinks
//! get them only from a route with `match: {type: audit}`. A route that would carry an
//! audit record to no sink does not match it, so later routes still see it.
//!
//! Chat sinks get storm control even without grouping: on a route without `group_by`,
//! their finding updates are held in a per-route window (`group_wait`, 30s when unset,
//! opened by the first update); when it closes, more than `digest_threshold` findings
//! become one [`Digest`], fewer are sent one by one (latest state of each). On a route
//! with `group_by`, a group notification of more than `digest_threshold` findings
//! reaches chat sinks as a digest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::correlate::{Finding, Output, PatternId, Status};
use crate::record::TsMs;
use crate::sinks::config::Route;
use crate::sinks::digest::Digest;
use crate::sinks::{Delivery, Group};

/// A delivery addressed to one sink.
pub type Addressed = (String, Delivery);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GroupState {
    labels: BTreeMap<String, String>,
    findings: BTreeMap<String, Finding>,
    changed: bool,
    next_send: Option<TsMs>,
    last_sent: Option<TsMs>,
}

/// Most findings one chat window holds; a storm beyond it is counted in the digest
/// (`not_held`) and in [`Router::overflowed`], not shown (the other sinks have them all).
const MAX_WINDOW_FINDINGS: usize = 10_000;

/// Finding updates held for a route's chat sinks: the latest state per finding id,
/// with the order of first arrival.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChatWindow {
    opened: TsMs,
    due: TsMs,
    findings: BTreeMap<String, (usize, Finding)>,
    #[serde(default)]
    not_held: usize,
}

impl ChatWindow {
    /// Holds `f`'s latest state; `false` when the window is full and `f` is new.
    fn hold(&mut self, f: &Finding) -> bool {
        let next = self.findings.len();
        match self.findings.get_mut(&f.id) {
            Some((_, held)) => *held = f.clone(),
            None if next >= MAX_WINDOW_FINDINGS => {
                self.not_held += 1;
                return false;
            }
            None => {
                self.findings.insert(f.id.clone(), (next, f.clone()));
            }
        }
        true
    }

    /// The held findings in order of first arrival.
    fn into_findings(self) -> Vec<Finding> {
        let mut v: Vec<(usize, Finding)> = self.findings.into_values().collect();
        v.sort_by_key(|(i, _)| *i);
        v.into_iter().map(|(_, f)| f).collect()
    }
}

/// The router of one pipeline.
pub struct Router {
    routes: Vec<Route>,
    groups: BTreeMap<(usize, String), GroupState>,
    /// Open chat windows, by route index.
    windows: BTreeMap<usize, ChatWindow>,
    /// Most groups kept per route; beyond it new groups are notified ungrouped.
    max_groups: usize,
    pub overflowed: u64,
    /// Groups changed since the last [`Router::take_snapshot`].
    dirty: bool,
}

/// The router's groups as persisted (`<state_dir>/router.json`): storm control's
/// pending notifications survive a restart. Routes are named, so an edited pipeline
/// file keeps the groups of the routes it still has.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RouterSnapshot {
    groups: Vec<(String, String, GroupState)>,
    /// Open chat windows by route name (absent in files of older versions).
    #[serde(default)]
    windows: Vec<(String, ChatWindow)>,
}

impl RouterSnapshot {
    /// Findings held in groups and chat windows.
    pub fn findings(&self) -> usize {
        self.groups
            .iter()
            .map(|(_, _, g)| g.findings.len())
            .sum::<usize>()
            + self
                .windows
                .iter()
                .map(|(_, w)| w.findings.len())
                .sum::<usize>()
    }
}

fn group_value(f: &Finding, field: &str) -> String {
    match field {
        "pattern" => f.pattern.clone(),
        "tenant" => f.tenant.clone(),
        "cluster" => f.cluster.clone(),
        "severity" => f.severity.as_str().to_string(),
        "namespace" => f.subject.namespace.to_string(),
        "kind" => f.subject.kind.to_string(),
        "name" => f.subject.name.to_string(),
        "id" => f.id.clone(),
        other => other
            .strip_prefix("label:")
            .and_then(|k| f.labels.get(k).cloned())
            .unwrap_or_default(),
    }
}

fn passthrough(r: &Route) -> bool {
    r.group_by.is_empty()
        && r.group_wait_ms == 0
        && r.group_interval_ms == 0
        && r.repeat_interval_ms.is_none()
}

impl Router {
    pub fn new(routes: Vec<Route>) -> Self {
        Router {
            routes,
            groups: BTreeMap::new(),
            windows: BTreeMap::new(),
            max_groups: 10_000,
            overflowed: 0,
            dirty: false,
        }
    }

    /// The groups to persist, when they changed since the last call.
    pub fn take_snapshot(&mut self) -> Option<RouterSnapshot> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        Some(RouterSnapshot {
            groups: self
                .groups
                .iter()
                .map(|((ri, key), g)| (self.routes[*ri].name.clone(), key.clone(), g.clone()))
                .collect(),
            windows: self
                .windows
                .iter()
                .map(|(ri, w)| (self.routes[*ri].name.clone(), w.clone()))
                .collect(),
        })
    }

    /// Makes the next [`Router::take_snapshot`] return the groups (a write failed).
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Takes back persisted groups; returns how many findings were held for routes no
    /// longer configured (the caller counts and logs them: never dropped silently).
    pub fn restore(&mut self, snap: RouterSnapshot) -> usize {
        let mut lost = 0;
        for (route, key, g) in snap.groups {
            match self.routes.iter().position(|r| r.name == route) {
                Some(i) => {
                    self.groups.insert((i, key), g);
                }
                None => lost += g.findings.len(),
            }
        }
        for (route, w) in snap.windows {
            match self.routes.iter().position(|r| r.name == route) {
                Some(i) => {
                    self.windows.insert(i, w);
                }
                None => lost += w.findings.len(),
            }
        }
        lost
    }

    fn matches_finding(r: &Route, f: &Finding) -> bool {
        r.findings
            && (r.patterns.is_empty() || r.patterns.contains(&f.pattern))
            && f.severity >= r.severity_min
            && (r.tenants.is_empty() || r.tenants.contains(&f.tenant))
    }

    /// Routes one correlator output; returns what is due now.
    pub fn on_output(&mut self, out: &Output, now: TsMs) -> Vec<Addressed> {
        let mut due = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            let matched = match out {
                Output::Finding(f) => Self::matches_finding(r, f),
                Output::Audit(a) => {
                    r.audit
                        && (r.tenants.is_empty() || r.tenants.contains(&a.tenant))
                        && (r.patterns.is_empty()
                            || (PatternId::RbacDenied.is(&a.action)
                                && r.patterns.contains(PatternId::RbacDenied.as_str())))
                }
            };
            if !matched {
                continue;
            }
            if let Output::Finding(f) = out {
                if !r.windowed_sinks().is_empty() {
                    let w = self.windows.entry(i).or_insert_with(|| ChatWindow {
                        opened: now,
                        due: now + r.chat_window_ms as i64,
                        findings: BTreeMap::new(),
                        not_held: 0,
                    });
                    if !w.hold(f) {
                        self.overflowed += 1;
                    }
                    self.dirty = true;
                }
            }
            match out {
                Output::Audit(a) => {
                    for s in &r.audit_sinks {
                        due.push((s.clone(), Delivery::Audit(a.clone())));
                    }
                }
                Output::Finding(_) if r.group_sinks().next().is_none() => {}
                Output::Finding(f) if passthrough(r) => {
                    for s in r.group_sinks() {
                        due.push((s.clone(), Delivery::Finding(f.clone())));
                    }
                }
                Output::Finding(f) => {
                    let labels: BTreeMap<String, String> = r
                        .group_by
                        .iter()
                        .map(|g| (g.clone(), group_value(f, g)))
                        .collect();
                    let key = if r.group_by.is_empty() {
                        format!("{}/{}", r.name, f.id)
                    } else {
                        let vals: Vec<String> =
                            labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        format!("{}/{}", r.name, vals.join(","))
                    };
                    let gk = (i, key);
                    if !self.groups.contains_key(&gk) && self.groups.len() >= self.max_groups {
                        self.overflowed += 1;
                        for s in r.group_sinks() {
                            due.push((s.clone(), Delivery::Finding(f.clone())));
                        }
                        continue;
                    }
                    let g = self.groups.entry(gk).or_insert_with(|| GroupState {
                        labels,
                        findings: BTreeMap::new(),
                        changed: false,
                        next_send: Some(now + r.group_wait_ms as i64),
                        last_sent: None,
                    });
                    g.findings.insert(f.id.clone(), (**f).clone());
                    g.changed = true;
                    self.dirty = true;
                    if g.next_send.is_none() {
                        let at = g
                            .last_sent
                            .map(|t| t + r.group_interval_ms as i64)
                            .unwrap_or(now)
                            .max(now);
                        g.next_send = Some(at);
                    }
                }
            }
            if !r.continue_matching {
                break;
            }
        }
        due.extend(self.on_time(now));
        due
    }

    /// Notifications of groups that are due at `now`.
    pub fn on_time(&mut self, now: TsMs) -> Vec<Addressed> {
        let mut due = Vec::new();
        let mut empty = Vec::new();
        for ((ri, key), g) in self.groups.iter_mut() {
            let r = &self.routes[*ri];
            let send_change = g.changed && g.next_send.is_some_and(|t| t <= now);
            let send_repeat = !g.changed
                && r.repeat_interval_ms
                    .is_some_and(|rep| g.last_sent.is_some_and(|l| now - l >= rep as i64))
                && g.findings.values().any(|f| f.status == Status::Firing);
            if !(send_change || send_repeat) {
                continue;
            }
            let mut findings: Vec<Finding> = g.findings.values().cloned().collect();
            findings.sort_by(|a, b| {
                (a.status != Status::Firing)
                    .cmp(&(b.status != Status::Firing))
                    .then_with(|| b.severity.cmp(&a.severity))
                    .then_with(|| a.id.cmp(&b.id))
            });
            let digest =
                (findings.len() > r.digest_threshold && !r.chat_sinks.is_empty()).then(|| {
                    let since = g
                        .last_sent
                        .unwrap_or_else(|| g.next_send.unwrap_or(now) - r.group_wait_ms as i64);
                    Digest::new(&r.name, (since, now), &findings, &r.digest_hint)
                });
            let group = Group {
                route: r.name.clone(),
                key: key.clone(),
                labels: g.labels.clone(),
                findings,
            };
            for s in r.group_sinks() {
                let d = match &digest {
                    Some(d) if r.chat_sinks.contains(s) => Delivery::Digest(Box::new(d.clone())),
                    _ => Delivery::Group(Box::new(group.clone())),
                };
                due.push((s.clone(), d));
            }
            g.last_sent = Some(now);
            g.changed = false;
            self.dirty = true;
            g.next_send = None;
            // Resolved findings were announced once: forget them.
            g.findings.retain(|_, f| f.status == Status::Firing);
            if g.findings.is_empty() {
                empty.push((*ri, key.clone()));
            }
        }
        for k in empty {
            self.groups.remove(&k);
        }
        due.extend(self.close_windows(now));
        due
    }

    /// Chat windows due at `now`: one digest per chat sink when more than the route's
    /// threshold of findings are held, else each finding's latest state.
    fn close_windows(&mut self, now: TsMs) -> Vec<Addressed> {
        let closing: Vec<usize> = self
            .windows
            .iter()
            .filter(|(_, w)| w.due <= now)
            .map(|(ri, _)| *ri)
            .collect();
        let mut due = Vec::new();
        for ri in closing {
            let Some(w) = self.windows.remove(&ri) else {
                continue;
            };
            self.dirty = true;
            let r = &self.routes[ri];
            let (opened, not_held) = (w.opened, w.not_held);
            let findings = w.into_findings();
            if findings.len() + not_held > r.digest_threshold {
                let mut d = Digest::new(&r.name, (opened, now), &findings, &r.digest_hint);
                d.not_held = not_held;
                for s in r.windowed_sinks() {
                    due.push((s.clone(), Delivery::Digest(Box::new(d.clone()))));
                }
            } else {
                for f in findings {
                    for s in r.windowed_sinks() {
                        due.push((s.clone(), Delivery::Finding(Box::new(f.clone()))));
                    }
                }
            }
        }
        due
    }

    /// Sends every pending group now (end of a replay).
    pub fn flush(&mut self) -> Vec<Addressed> {
        let last = self
            .groups
            .values()
            .filter_map(|g| g.next_send)
            .chain(self.windows.values().map(|w| w.due))
            .max()
            .unwrap_or(0);
        self.on_time(last)
    }

    /// When `on_time` next has something to send.
    pub fn next_deadline(&self) -> Option<TsMs> {
        self.groups
            .iter()
            .filter_map(|((ri, _), g)| {
                let r = &self.routes[*ri];
                if g.changed {
                    g.next_send
                } else {
                    r.repeat_interval_ms
                        .and_then(|rep| g.last_sent.map(|l| l + rep as i64))
                }
            })
            .chain(self.windows.values().map(|w| w.due))
            .min()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::{ObjectRef, Severity};
    use std::collections::BTreeSet;

    fn route(group_by: &[&str], wait: u64, interval: u64, repeat: Option<u64>) -> Route {
        Route {
            name: "r".into(),
            patterns: BTreeSet::new(),
            severity_min: Severity::Warning,
            tenants: BTreeSet::new(),
            findings: true,
            audit: true,
            sinks: vec!["s".into()],
            audit_sinks: vec!["s".into()],
            chat_sinks: Vec::new(),
            chat_window_ms: 30_000,
            digest_threshold: 10,
            digest_hint: String::new(),
            group_by: group_by.iter().map(|s| s.to_string()).collect(),
            group_wait_ms: wait,
            group_interval_ms: interval,
            repeat_interval_ms: repeat,
            continue_matching: false,
        }
    }

    fn finding(name: &str, pattern: PatternId, sev: Severity, status: Status) -> Output {
        let subject = ObjectRef::new("Kustomization", "t1", name);
        Output::Finding(Box::new(Finding {
            status,
            severity: sev,
            tenant: "t1".into(),
            ..Finding::example(pattern, subject)
        }))
    }

    #[test]
    fn passthrough_and_severity_filter() {
        let mut r = Router::new(vec![route(&[], 0, 0, None)]);
        assert_eq!(
            r.on_output(
                &finding(
                    "a",
                    PatternId::BuildFailure,
                    Severity::Error,
                    Status::Firing
                ),
                0
            )
            .len(),
            1
        );
        assert!(r
            .on_output(
                &finding(
                    "a",
                    PatternId::DriftDetected,
                    Severity::Info,
                    Status::Firing
                ),
                0
            )
            .is_empty());
    }

    #[test]
    fn group_wait_interval_and_repeat() {
        let mut r = Router::new(vec![route(&["pattern"], 30_000, 300_000, Some(3_600_000))]);
        assert!(r
            .on_output(
                &finding(
                    "a",
                    PatternId::BuildFailure,
                    Severity::Error,
                    Status::Firing
                ),
                0
            )
            .is_empty());
        assert!(r
            .on_output(
                &finding(
                    "b",
                    PatternId::BuildFailure,
                    Severity::Error,
                    Status::Firing
                ),
                10_000
            )
            .is_empty());
        assert_eq!(r.next_deadline(), Some(30_000));
        let out = r.on_time(30_000);
        assert_eq!(out.len(), 1);
        match &out[0].1 {
            Delivery::Group(g) => assert_eq!(g.findings.len(), 2),
            other => panic!("{other:?}"),
        }
        // A change within group_interval waits for it.
        assert!(r
            .on_output(
                &finding(
                    "c",
                    PatternId::BuildFailure,
                    Severity::Error,
                    Status::Firing
                ),
                60_000
            )
            .is_empty());
        assert!(r.on_time(200_000).is_empty());
        assert_eq!(r.on_time(330_000).len(), 1);
        // Nothing changes: repeat after an hour.
        assert!(r.on_time(1_000_000).is_empty());
        assert_eq!(r.on_time(330_000 + 3_600_000).len(), 1);
    }

    fn chat_route(threshold: usize) -> Route {
        Route {
            chat_sinks: vec!["s".into()],
            digest_threshold: threshold,
            ..route(&[], 0, 0, None)
        }
    }

    #[test]
    fn chat_window_turns_a_storm_into_one_digest() {
        let mut r = Router::new(vec![chat_route(3)]);
        for i in 0..4 {
            let f = finding(
                &format!("o{i}"),
                PatternId::BuildFailure,
                Severity::Error,
                Status::Firing,
            );
            assert!(r.on_output(&f, i * 1000).is_empty(), "held in the window");
        }
        assert_eq!(r.next_deadline(), Some(30_000));
        assert!(r.on_time(29_999).is_empty());
        let out = r.on_time(30_000);
        assert_eq!(out.len(), 1, "{out:?}");
        match &out[0].1 {
            Delivery::Digest(d) => {
                assert_eq!((d.total, d.firing), (4, 4));
                assert_eq!(d.by_pattern.get(PatternId::BuildFailure.as_str()), Some(&4));
                assert_eq!((d.window_start, d.window_end), (0, 30_000));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.next_deadline(), None, "the window closed");
    }

    #[test]
    fn chat_window_below_the_threshold_sends_each_finding_once() {
        let mut r = Router::new(vec![chat_route(3)]);
        let a = finding(
            "a",
            PatternId::BuildFailure,
            Severity::Warning,
            Status::Firing,
        );
        let a2 = finding(
            "a",
            PatternId::BuildFailure,
            Severity::Critical,
            Status::Firing,
        );
        let b = finding(
            "b",
            PatternId::BuildFailure,
            Severity::Error,
            Status::Firing,
        );
        for (o, t) in [(&a, 0), (&b, 1000), (&a2, 2000)] {
            assert!(r.on_output(o, t).is_empty());
        }
        let out = r.flush();
        let sent: Vec<Severity> = out
            .iter()
            .map(|(_, d)| match d {
                Delivery::Finding(f) => f.severity,
                other => panic!("{other:?}"),
            })
            .collect();
        // `a`'s two updates are one message with its latest state.
        assert_eq!(sent, vec![Severity::Critical, Severity::Error]);
    }

    #[test]
    fn grouped_route_sends_chat_sinks_a_digest_and_others_the_group() {
        let mut rt = route(&["pattern"], 10_000, 0, None);
        rt.sinks = vec!["s".into(), "siem".into()];
        rt.chat_sinks = vec!["s".into()];
        rt.digest_threshold = 2;
        let mut r = Router::new(vec![rt]);
        for (i, name) in ["x", "y", "z"].iter().enumerate() {
            let f = finding(
                name,
                PatternId::BuildFailure,
                Severity::Error,
                Status::Firing,
            );
            r.on_output(&f, i as i64);
        }
        let out = r.on_time(10_000);
        let kinds: Vec<(&str, &str)> = out
            .iter()
            .map(|(s, d)| {
                let k = match d {
                    Delivery::Digest(_) => "digest",
                    Delivery::Group(_) => "group",
                    _ => "other",
                };
                (s.as_str(), k)
            })
            .collect();
        assert_eq!(kinds, vec![("s", "digest"), ("siem", "group")]);
    }

    /// Routes of a pipeline file, validated as `fluxsight` loads them.
    fn routes_of(text: &str) -> Vec<Route> {
        let (_, plan, _) = crate::config::load(
            text,
            "t.yaml",
            crate::correlate::spec::PatternSet::builtin(),
        )
        .unwrap();
        plan.routes
    }

    /// An audit record as the correlator outputs it (shared with the pipeline's tests).
    pub(crate) fn audit_output() -> Output {
        Output::Audit(Box::new(crate::correlate::AuditRecord {
            ts: 0,
            cluster: "c".into(),
            controller: None,
            action: "revision_applied".into(),
            subject: ObjectRef::new("Kustomization", "t1", "app"),
            tenant: "t1".into(),
            source: None,
            source_url: None,
            revision: None,
            commit: None,
            changes: Default::default(),
            outcome: "success".into(),
            message: String::new(),
        }))
    }

    const SINKS: &str = "sinks:\n  - name: chat\n    type: slack\n    url: {env: X}\n  - name: pager\n    type: alertmanager\n    url: http://127.0.0.1:9093\n  - name: siem\n    type: kafka\n    brokers: 127.0.0.1:9092\n  - name: archive\n    type: file\n    path: /tmp/x.jsonl\n";

    #[test]
    fn without_routes_audit_goes_to_siem_and_storage_sinks_only() {
        let mut r = Router::new(routes_of(SINKS));
        let to: Vec<String> = r
            .on_output(&audit_output(), 0)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(to, vec!["siem", "archive"]);
    }

    #[test]
    fn a_route_without_type_lets_audit_fall_through_to_later_routes() {
        let text = format!(
            "{SINKS}routes:\n  - name: ops\n    sinks: [chat, pager]\n  - name: rest\n    sinks: [archive]\n"
        );
        let mut r = Router::new(routes_of(&text));
        let to: Vec<String> = r
            .on_output(&audit_output(), 0)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(to, vec!["archive"]);
        let text = format!(
            "{SINKS}routes:\n  - name: ops\n    match: {{type: audit}}\n    sinks: [chat, pager]\n"
        );
        let mut r = Router::new(routes_of(&text));
        let to: Vec<String> = r
            .on_output(&audit_output(), 0)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(to, vec!["chat", "pager"]);
    }
}
