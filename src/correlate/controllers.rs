//! The controller family ([`ControllerHealth`]): `controller_oom`,
//! `controller_crashloop`, `oom_cascade`, `memory_growth`, `queue_backpressure`,
//! `guilty_tenant`.
//!
//! Owns: per-controller state (restarts, OOM kills, memory and queue samples, work
//! by tenant: `ctrls`), the controllers' own records (metrics, Pod status, Pod and
//! Node Events, controller lines), and the parameter table of its six patterns.
//! Does not own: the failures it attributes to a cascade (`Shared::recent_failures`).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use super::claims::ClaimRank;
use super::detector::{
    count, duration, float, ratio, Consumes, Detector, PatternParams, TickPhase,
};
use super::finding::{Evidence, RootCause};
use super::pattern_id::PatternId;
use super::shared::{RecentFailure, Shared};
use super::sources::{heaviest_of, host_of_failure, shares_from};
use super::state::{self, push_capped, Caps, CtrlState, Evictions, ObjState};
use super::{controller_of, vars};
use crate::parse::message::controller_from_pod;
use crate::record::{Class, Detail, ObjectRef, Record, TsMs};

/// The controller family: the health of the Flux controllers themselves, and who
/// loads them.
#[derive(Default)]
pub(crate) struct ControllerHealth {
    /// Controller name → its state.
    pub ctrls: BTreeMap<String, CtrlState>,
    /// The artifact-load tops of every controller at one instant: the cascade check
    /// and the guilty-tenant check of one tick both ask for them, per controller, and
    /// each answer walks every object. Taken in one walk for all controllers and kept
    /// while the time and the object count stay the same.
    hogs: RefCell<Option<HogMemo>>,
}

/// The loaded-most tenant of each controller ([`ControllerHealth::memory_hog`]) at
/// `now` with `objects` objects known.
/// Per controller, its top tenant by artifact load: (tenant, share, heaviest objects).
type HogTops = FxHashMap<String, Option<(String, f64, String)>>;

struct HogMemo {
    now: TsMs,
    /// `Shared::load_gen` when computed.
    load_gen: u64,
    /// Some load counted runs in the last hour (no interval known): it changes with
    /// time alone.
    by_time: bool,
    tops: HogTops,
}

impl ControllerHealth {
    /// The patterns this family emits and the parameters it reads (durations in ms).
    pub const PARAMS: &'static [PatternParams] = &[
        PatternParams {
            pattern: PatternId::ControllerOom,
            params: &[duration("resolve_after", 1_800_000.0)],
        },
        PatternParams {
            pattern: PatternId::OomCascade,
            params: &[
                duration("window", 1_800_000.0),
                count("min_tenants", 2.0),
                ratio("hog_share", 0.5),
                duration("resolve_after", 1_800_000.0),
            ],
        },
        PatternParams {
            pattern: PatternId::ControllerCrashloop,
            params: &[
                count("min_restarts", 3.0),
                duration("window", 1_800_000.0),
                duration("resolve_after", 1_800_000.0),
            ],
        },
        PatternParams {
            pattern: PatternId::GuiltyTenant,
            params: &[
                ratio("min_share", 0.5),
                count("min_tenants", 2.0),
                duration("window", 3_600_000.0),
                count("min_runs", 20.0),
                duration("resolve_after", 1_800_000.0),
            ],
        },
        PatternParams {
            pattern: PatternId::MemoryGrowth,
            params: &[
                float("min_slope_mib_per_hour", 10.0),
                duration("min_span", 7_200_000.0),
                count("min_samples", 8.0),
                duration("resolve_after", 3_600_000.0),
            ],
        },
        PatternParams {
            pattern: PatternId::QueueBackpressure,
            params: &[
                float("min_depth", 100.0),
                duration("min_duration", 300_000.0),
                duration("resolve_after", 600_000.0),
            ],
        },
    ];
}

impl Detector for ControllerHealth {
    fn name(&self) -> &'static str {
        "ControllerHealth"
    }

    fn consumes(&self) -> Consumes {
        Consumes {
            // Rate limits: the provider pressure behind a guilty tenant.
            classes: &[
                Class::OomKilled,
                Class::ControllerRestarted,
                Class::RateLimited,
            ],
            runs: true,
            recovery: false,
            controller_records: true,
            workload_records: false,
        }
    }

    fn params(&self) -> &'static [PatternParams] {
        Self::PARAMS
    }

    fn claims(&self) -> &'static [ClaimRank] {
        &[ClaimRank::OomCascade]
    }

    fn on_record(&mut self, sh: &mut Shared, rec: &Record, obj: &ObjectRef, ts: TsMs) {
        let Some(c) = controller_of(rec, obj) else {
            return;
        };
        match rec.class {
            // Provider pressure counts only where the source family finds the host.
            Class::RateLimited if host_of_failure(sh, rec, obj).is_some() => {
                self.ctrl_mut(&c, &sh.caps, &mut sh.evictions)
                    .rate_limited_at = Some(ts);
            }
            Class::OomKilled | Class::ControllerRestarted => {
                let message = crate::classify::redact::redact(&rec.message()).into_owned();
                self.note_restart(sh, &c, ts, rec.class == Class::OomKilled, &message);
            }
            _ => {}
        }
    }

    fn on_run(&mut self, sh: &mut Shared, rec: &Record, obj: &ObjectRef, c: &str, ts: TsMs) {
        let size = sh
            .objects
            .get(obj)
            .and_then(|s| s.artifact_size)
            .unwrap_or(0);
        let w = state::Work {
            runs: 1.0,
            duration_ms: rec.duration_ms.unwrap_or(0) as f64,
            errors: if rec.class.is_failure() { 1.0 } else { 0.0 },
            bytes: size as f64,
        };
        let tenant = sh.tenant_of(obj);
        let caps = sh.caps;
        let cs = self.ctrl_mut(c, &caps, &mut sh.evictions);
        cs.add_work(ts, &tenant, w, &caps, &mut sh.evictions);
        cs.add_object_work(obj, &w, caps.objects, &mut sh.evictions);
        let s = sh.obj_mut(obj, ts);
        push_capped(&mut s.runs, ts, caps.history);
        if s.interval_ms.is_none_or(|iv| iv == 0) {
            // Its load is its runs in the last hour.
            sh.load_gen += 1;
        }
    }

    fn on_controller_record(&mut self, sh: &mut Shared, rec: &Record, ts: TsMs) {
        match &rec.detail {
            Detail::Metric(_) => return self.on_metric(sh, rec, ts),
            Detail::Pod(_) => return self.on_pod(sh, rec, ts),
            _ => {}
        }
        let Some(obj) = &rec.object else {
            return self.on_controller_line(sh, rec, ts);
        };
        match obj.kind.as_str() {
            "Pod" => self.on_pod_event(sh, rec, obj, ts),
            "Node" => self.on_node_event(sh, rec, ts),
            // Deployment, ReplicaSet: only their failures say something.
            _ if rec.class.is_failure() => self.on_controller_line(sh, rec, ts),
            _ => {}
        }
    }

    fn on_tick(&mut self, sh: &mut Shared, now: TsMs, phase: TickPhase) {
        match phase {
            TickPhase::Main => self.check_controllers(sh, now),
            TickPhase::Late => self.check_tenants(sh, now),
        }
    }

    fn next_deadline(&self, _sh: &Shared, tick: TsMs) -> Option<TsMs> {
        (!self.ctrls.is_empty()).then_some(tick)
    }
}

const MIB: f64 = 1024.0 * 1024.0;
/// Restart signals closer than this are one restart (Pod status, BackOff event and
/// `starting manager` line of the same restart).
const RESTART_DEDUPE_MS: i64 = 60_000;
/// Longest kubelet crash back-off (5m): a `starting manager` line this soon after an
/// exit signal is that restart's new container, not another restart.
const MAX_CRASH_BACKOFF_MS: i64 = 300_000;
/// Reason recorded for a restart known only from its `starting manager` line.
const START_REASON: &str = "starting manager";

fn deployment(name: &str, ns: &str) -> ObjectRef {
    ObjectRef::new("Deployment", ns, name)
}

/// Theil–Sen slope (units per ms) of `(t, v)` samples; robust to outliers and restarts.
pub fn theil_sen(samples: &[(i64, f64)]) -> Option<f64> {
    // Thin to at most 120 points so the pairwise step stays cheap.
    let step = samples.len().div_ceil(120).max(1);
    let pts: Vec<(i64, f64)> = samples.iter().step_by(step).copied().collect();
    let mut slopes = Vec::with_capacity(pts.len() * pts.len() / 2);
    for i in 0..pts.len() {
        for j in i + 1..pts.len() {
            let dt = (pts[j].0 - pts[i].0) as f64;
            if dt > 0.0 {
                slopes.push((pts[j].1 - pts[i].1) / dt);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(|a, b| a.total_cmp(b));
    Some(slopes[slopes.len() / 2])
}

impl ControllerHealth {
    fn on_metric(&mut self, sh: &mut Shared, rec: &Record, ts: TsMs) {
        let Some(m) = rec.metric() else { return };
        let ctrl = rec.controller.clone().or_else(|| {
            m.label("pod")
                .and_then(controller_from_pod)
                .map(str::to_string)
        });
        let Some(c) = ctrl else { return };
        let cap = sh.caps.samples;
        match m.name.as_str() {
            "process_resident_memory_bytes" | "container_memory_working_set_bytes" => {
                let cs = self.ctrl_mut(&c, &sh.caps, &mut sh.evictions);
                if let Some(ns) = m.label("namespace") {
                    cs.namespace = ns.to_string();
                }
                push_capped(&mut cs.memory, (ts, m.value), cap);
            }
            "workqueue_depth" => {
                let cs = self.ctrl_mut(&c, &sh.caps, &mut sh.evictions);
                push_capped(&mut cs.queue, (ts, m.value), cap);
                self.detect_queue(sh, &c, ts);
            }
            _ => {}
        }
    }

    fn on_pod(&mut self, sh: &mut Shared, rec: &Record, ts: TsMs) {
        let Some(p) = rec.pod_info() else { return };
        let ctrl = rec.controller.clone().or_else(|| {
            rec.object
                .as_ref()
                .and_then(|o| controller_from_pod(&o.name))
                .map(str::to_string)
        });
        let Some(c) = ctrl else { return };
        let ns = rec
            .object
            .as_ref()
            .map(|o| o.namespace.clone())
            .unwrap_or_default();
        let restarts: u64 = p.containers.iter().map(|c| c.restart_count).sum();
        let oom = p.containers.iter().find(|k| {
            k.last_terminated_reason.as_deref() == Some("OOMKilled")
                || k.terminated_reason.as_deref() == Some("OOMKilled")
                || k.last_terminated_exit_code == Some(137)
        });
        let oom_at = oom.map(|k| k.last_terminated_finished_ms.unwrap_or(ts));
        let waiting = p
            .containers
            .iter()
            .filter_map(|k| k.waiting_reason.clone())
            .next();
        let prev = {
            let cs = self.ctrl_mut(&c, &sh.caps, &mut sh.evictions);
            if !ns.is_empty() {
                cs.namespace = ns.to_string();
            }
            let prev = cs.restart_count;
            cs.restart_count = cs.restart_count.max(restarts);
            prev
        };
        if restarts > prev {
            if let Some(t) = oom_at {
                self.note_restart(
                    sh,
                    &c,
                    t,
                    true,
                    "container terminated: OOMKilled (exit code 137)",
                );
            } else {
                let why = waiting.unwrap_or_else(|| "restarted".into());
                self.note_restart(sh, &c, ts, false, &why);
            }
        }
    }

    /// kubelet events about a controller pod: BackOff, Killing, Unhealthy, OOMKilled.
    fn on_pod_event(&mut self, sh: &mut Shared, rec: &Record, pod: &ObjectRef, ts: TsMs) {
        let Some(c) = controller_from_pod(&pod.name)
            .map(str::to_string)
            .or(rec.controller.clone())
        else {
            return;
        };
        if rec.class == Class::OomKilled {
            self.note_restart(sh, &c, ts, true, &rec.message());
        } else if rec.class == Class::ControllerRestarted {
            self.note_restart(sh, &c, ts, false, &rec.message());
        }
    }

    /// Node `OOMKilling` events name the killed process.
    fn on_node_event(&mut self, sh: &mut Shared, rec: &Record, ts: TsMs) {
        if rec.class != Class::OomKilled {
            return;
        }
        let msg = rec.message();
        let proc_name = msg.find("Killed process ").and_then(|i| {
            let rest = &msg[i..];
            let a = rest.find('(')?;
            let b = rest[a..].find(')')?;
            Some(rest[a + 1..a + b].to_string())
        });
        let c = proc_name
            .as_deref()
            .and_then(|p| crate::parse::message::controller_in_text(p).or(controller_from_pod(p)))
            .map(str::to_string)
            .or_else(|| rec.controller.clone());
        if let Some(c) = c {
            self.note_restart(sh, &c, ts, true, &msg);
        }
    }

    /// A controller's `starting manager` line: a restart of its own, unless it is the
    /// start of the new container after an exit already noted (crash back-off delays
    /// the start by up to [`MAX_CRASH_BACKOFF_MS`]).
    fn note_start(&mut self, sh: &mut Shared, c: &str, ts: TsMs) {
        let after_exit = self.ctrls.get(c).is_some_and(|cs| {
            cs.restarts
                .iter()
                .any(|(t, _)| *t <= ts && ts - t <= MAX_CRASH_BACKOFF_MS)
        });
        if !after_exit {
            self.note_restart(sh, c, ts, false, START_REASON);
        }
    }

    /// Notes a restart (or OOM kill) of a controller and re-evaluates it.
    fn note_restart(&mut self, sh: &mut Shared, c: &str, ts: TsMs, oom: bool, why: &str) {
        let cap = sh.caps.history;
        {
            let cs = self.ctrl_mut(c, &sh.caps, &mut sh.evictions);
            if oom && !cs.ooms.iter().any(|t| (t - ts).abs() <= RESTART_DEDUPE_MS) {
                push_capped(&mut cs.ooms, ts, cap);
            }
            // An exit noted after the start of the container that replaced it (a late
            // Pod status): the start was this restart, keep the exit's reason.
            if let Some(r) = cs.restarts.iter_mut().find(|(t, w)| {
                w == START_REASON && *t > ts + RESTART_DEDUPE_MS && *t - ts <= MAX_CRASH_BACKOFF_MS
            }) {
                *r = (ts, why.to_string());
            } else if !cs
                .restarts
                .iter()
                .any(|(t, _)| (t - ts).abs() <= RESTART_DEDUPE_MS)
            {
                push_capped(&mut cs.restarts, (ts, why.to_string()), cap);
            } else if oom {
                // Keep the most telling reason for this restart.
                if let Some(r) = cs
                    .restarts
                    .iter_mut()
                    .find(|(t, _)| (t - ts).abs() <= RESTART_DEDUPE_MS)
                {
                    r.1 = why.to_string();
                }
            }
        }
        self.detect_controller(sh, c, ts);
    }

    fn detect_controller(&mut self, sh: &mut Shared, c: &str, now: TsMs) {
        let Some(cs) = self.ctrls.get(c) else { return };
        let subject = deployment(c, &cs.namespace);
        let oom_pat = sh.settings.patterns.shared(PatternId::ControllerOom);
        let crash_pat = sh.settings.patterns.shared(PatternId::ControllerCrashloop);
        let window = crash_pat.ms("window");
        let ooms: Vec<TsMs> = cs
            .ooms
            .iter()
            .copied()
            .filter(|t| now - t <= window)
            .collect();
        let restarts: Vec<(TsMs, String)> = cs
            .restarts
            .iter()
            .filter(|(t, _)| now - t <= window)
            .cloned()
            .collect();
        let restart_count = cs.restart_count;
        let memory = cs.memory.back().map(|(_, v)| v / MIB);
        if let Some(&last) = ooms.last() {
            let f = sh.findings.upsert(
                PatternId::ControllerOom,
                &subject,
                oom_pat.severity,
                last,
                oom_pat.ms("resolve_after") as u64,
            );
            f.count = ooms.len() as u64;
            f.tenant = subject.namespace.to_string();
            f.add_tenant(&subject.namespace);
            f.labels.insert(
                "restarts".into(),
                restart_count.max(restarts.len() as u64).to_string(),
            );
            if let Some(m) = memory {
                f.labels.insert("memory_mib".into(), format!("{m:.0}"));
            } else {
                f.labels.insert("memory_mib".into(), "unknown".into());
            }
            f.add_evidence(Evidence {
                ts: Some(last),
                controller: Some(c.to_string()),
                class: Class::OomKilled,
                message: format!("{c} OOM-killed"),
            });
            vars::fill_text(f, &oom_pat);
        } else if restarts.len() as u64 >= crash_pat.n("min_restarts") {
            let reasons: BTreeSet<&str> = restarts.iter().map(|(_, r)| r.as_str()).collect();
            let reasons = reasons.into_iter().take(5).collect::<Vec<_>>().join("; ");
            let last = restarts.last().map(|(t, _)| *t).unwrap_or(now);
            let f = sh.findings.upsert(
                PatternId::ControllerCrashloop,
                &subject,
                crash_pat.severity,
                last,
                crash_pat.ms("resolve_after") as u64,
            );
            f.count = restarts.len() as u64;
            f.tenant = subject.namespace.to_string();
            f.add_tenant(&subject.namespace);
            f.labels.insert(
                "restarts".into(),
                restart_count.max(restarts.len() as u64).to_string(),
            );
            f.labels
                .insert("reasons".into(), vars::truncate(&reasons, 300));
            vars::fill_text(f, &crash_pat);
        }
    }

    /// Time-driven controller checks.
    fn check_controllers(&mut self, sh: &mut Shared, now: TsMs) {
        let names: Vec<String> = self.ctrls.keys().cloned().collect();
        for c in names {
            self.detect_cascade(sh, &c, now);
            self.detect_memory(sh, &c, now);
        }
    }

    /// Failures after a controller OOM / crash loop, across tenants, become symptoms of
    /// one `oom_cascade` finding.
    fn detect_cascade(&mut self, sh: &mut Shared, c: &str, now: TsMs) {
        let pat = sh.settings.patterns.shared(PatternId::OomCascade);
        let window = pat.ms("window");
        let Some(cs) = self.ctrls.get(c) else { return };
        let crash_min = sh
            .settings
            .patterns
            .get(PatternId::ControllerCrashloop)
            .n("min_restarts");
        let recent_restarts: Vec<TsMs> = cs
            .restarts
            .iter()
            .map(|(t, _)| *t)
            .filter(|t| now - t <= window)
            .collect();
        let had_oom = cs.ooms.iter().any(|t| now - t <= window);
        if !had_oom && (recent_restarts.len() as u64) < crash_min {
            return;
        }
        let t0 = cs
            .ooms
            .iter()
            .copied()
            .filter(|t| now - t <= window)
            .chain(recent_restarts.iter().copied())
            .min()
            .unwrap_or(now);
        let subject = deployment(c, &cs.namespace);
        // Symptoms: failures from this controller's objects, or consumers that cannot
        // reach it (artifact downloads from source-controller).
        // Borrowed while deciding (this runs every tick while a controller is in
        // trouble); copied only when the finding is updated.
        let mut impacted: Vec<&RecentFailure> = Vec::new();
        let mut seen: BTreeSet<&ObjectRef> = BTreeSet::new();
        for f in sh.recent_failures.since(t0 - 60_000) {
            if f.ts > now {
                continue;
            }
            let related = f.controller.as_deref() == Some(c)
                || (c == "source-controller" && f.class == Class::SourceNotReady)
                || f.mentions_host(c);
            if !related {
                continue;
            }
            // An object already failing before the controller's trouble is not its symptom.
            let failing_before = sh
                .objects
                .get(&f.object)
                .and_then(|s| s.failing_since)
                .is_some_and(|since| since < t0 - 60_000);
            if !failing_before && seen.insert(&f.object) {
                impacted.push(f);
            }
        }
        let tenants: BTreeSet<String> = impacted.iter().map(|f| sh.tenant_of(&f.object)).collect();
        let already = sh.findings.is_firing(PatternId::OomCascade, &subject);
        if (tenants.len() as u64) < pat.n("min_tenants") && !already {
            return;
        }
        let mut impacted: Vec<(TsMs, ObjectRef, Class, String)> = impacted
            .into_iter()
            .map(|f| (f.ts, f.object.clone(), f.class, f.message.clone()))
            .collect();
        impacted.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let hog = self.memory_hog(sh, c, now);
        let restarts = self.ctrls.get(c).map(|cs| cs.restart_count).unwrap_or(0);
        let first = impacted.first().cloned();
        let f = sh.findings.upsert(
            PatternId::OomCascade,
            &subject,
            pat.severity,
            now.max(t0),
            pat.ms("resolve_after") as u64,
        );
        f.count = impacted.len() as u64;
        for (_, o, _, _) in &impacted {
            f.add_impacted(o);
        }
        for t in &tenants {
            f.add_tenant(t);
        }
        f.root_cause = Some(RootCause {
            object: subject.clone(),
            class: if had_oom {
                Class::OomKilled
            } else {
                Class::ControllerRestarted
            },
            message: if had_oom {
                format!("{c} OOM-killed ({restarts} restarts)")
            } else {
                format!("{c} crash-looping ({restarts} restarts)")
            },
        });
        f.labels.insert("restarts".into(), restarts.to_string());
        match &hog {
            Some((t, share, heaviest)) if *share >= pat.p("hog_share") => {
                f.tenant = t.clone();
                f.labels.insert("hog".into(), format!("{t} ({heaviest})"));
                f.labels.insert("hog_tenant".into(), t.clone());
                f.labels.insert("share".into(), format!("{share:.2}"));
            }
            _ => {
                f.labels.insert("hog".into(), "none stands out".into());
                if f.tenant.is_empty() {
                    f.tenant = tenants.iter().next().cloned().unwrap_or_default();
                }
            }
        }
        if let Some((ts, o, class, msg)) = first {
            f.add_evidence(Evidence {
                ts: Some(ts),
                controller: None,
                class,
                message: format!("{o}: {msg}"),
            });
        }
        vars::fill_text(f, &pat);
        for (_, o, _, _) in impacted {
            sh.claim(&o, PatternId::OomCascade, &subject);
        }
    }

    /// The tenant whose objects move the most artifact bytes through `c` (size ×
    /// polling rate), falling back to run counts.
    fn memory_hog(&self, sh: &Shared, c: &str, now: TsMs) -> Option<(String, f64, String)> {
        let mut memo = self.hogs.borrow_mut();
        // The loads are the same while nothing they are computed from changed (and,
        // for loads counted from runs, while the time is the same).
        let fresh = memo
            .as_ref()
            .is_some_and(|m| m.load_gen == sh.load_gen && (m.now == now || !m.by_time));
        if !fresh {
            let (tops, by_time) = memory_hogs(sh, now);
            *memo = Some(HogMemo {
                now,
                load_gen: sh.load_gen,
                by_time,
                tops,
            });
        }
        let tops = &memo.as_ref().expect("filled above").tops;
        tops.get(c).cloned().flatten()
    }

    fn detect_memory(&mut self, sh: &mut Shared, c: &str, now: TsMs) {
        let pat = sh.settings.patterns.shared(PatternId::MemoryGrowth);
        let Some(cs) = self.ctrls.get(c) else { return };
        // Use the series since the last big drop (a restart resets memory).
        let mut start = 0;
        let mut peak = 0f64;
        for (i, (_, v)) in cs.memory.iter().enumerate() {
            if *v < peak * 0.5 {
                start = i;
                peak = 0.0;
            }
            peak = peak.max(*v);
        }
        let series: Vec<(i64, f64)> = cs.memory.iter().skip(start).copied().collect();
        if (series.len() as u64) < pat.n("min_samples") {
            return;
        }
        let span = series.last().map(|x| x.0).unwrap_or(0) - series[0].0;
        if span < pat.ms("min_span") {
            return;
        }
        let Some(slope) = theil_sen(&series) else {
            return;
        };
        let mib_h = slope * 3_600_000.0 / MIB;
        let subject = deployment(c, &cs.namespace);
        let current = series.last().map(|x| x.1 / MIB).unwrap_or(0.0);
        if mib_h < pat.p("min_slope_mib_per_hour") {
            return;
        }
        let f = sh.findings.upsert(
            PatternId::MemoryGrowth,
            &subject,
            pat.severity,
            now,
            pat.ms("resolve_after") as u64,
        );
        f.count = series.len() as u64;
        f.tenant = subject.namespace.to_string();
        f.add_tenant(&subject.namespace);
        f.labels
            .insert("slope_mib_per_hour".into(), format!("{mib_h:.1}"));
        f.labels
            .insert("current_mib".into(), format!("{current:.0}"));
        f.labels.insert("span".into(), vars::human_ms(span));
        vars::fill_text(f, &pat);
    }

    fn detect_queue(&mut self, sh: &mut Shared, c: &str, now: TsMs) {
        let pat = sh.settings.patterns.shared(PatternId::QueueBackpressure);
        let Some(cs) = self.ctrls.get(c) else { return };
        let min_depth = pat.p("min_depth");
        // Length of the current run of samples above the threshold.
        let mut run_start = None;
        for (t, v) in cs.queue.iter().rev() {
            if *v > min_depth {
                run_start = Some(*t);
            } else {
                break;
            }
        }
        let Some(start) = run_start else { return };
        let dur = now - start;
        if dur < pat.ms("min_duration") {
            return;
        }
        let depth = cs.queue.back().map(|x| x.1).unwrap_or(0.0);
        let subject = deployment(c, &cs.namespace);
        let work = cs.work_since(now, 3_600_000);
        let mut per: Vec<(&str, f64)> = work.into_iter().map(|(t, w)| (t, w.runs)).collect();
        per.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let f = sh.findings.upsert(
            PatternId::QueueBackpressure,
            &subject,
            pat.severity,
            now,
            pat.ms("resolve_after") as u64,
        );
        f.count += 1;
        f.tenant = per
            .first()
            .map(|x| x.0.to_string())
            .unwrap_or_else(|| subject.namespace.to_string());
        for (t, _) in per.iter().take(3) {
            f.add_tenant(t);
        }
        f.labels.insert("depth".into(), format!("{depth:.0}"));
        f.labels
            .insert("min_depth".into(), format!("{min_depth:.0}"));
        f.labels.insert("duration".into(), vars::human_ms(dur));
        vars::fill_text(f, &pat);
    }

    /// Guilty tenant: per controller under pressure, the tenant with most of its work.
    fn check_tenants(&mut self, sh: &mut Shared, now: TsMs) {
        let pat = sh.settings.patterns.shared(PatternId::GuiltyTenant);
        let window = pat.ms("window");
        let names: Vec<String> = self.ctrls.keys().cloned().collect();
        for c in names {
            let cs = &self.ctrls[&c];
            let subject_ctrl = deployment(&c, &cs.namespace);
            let oom = cs.ooms.iter().any(|t| now - t <= window)
                || sh
                    .findings
                    .is_firing(PatternId::ControllerCrashloop, &subject_ctrl);
            let queue = sh
                .findings
                .is_firing(PatternId::QueueBackpressure, &subject_ctrl);
            let rate = cs.rate_limited_at.is_some_and(|t| now - t <= window);
            let (pressure, measure) = if oom {
                ("OOM kills", "artifact bytes")
            } else if queue {
                ("work queue backlog", "reconcile time")
            } else if rate {
                ("provider rate limits", "requests")
            } else {
                continue;
            };
            let work = cs.work_since(now, window);
            let total_runs: f64 = work.values().map(|w| w.runs).sum();
            let active = work.values().filter(|w| w.runs > 0.0).count();
            if (active as u64) < pat.n("min_tenants") || total_runs < pat.p("min_runs") {
                continue;
            }
            let top = match measure {
                "artifact bytes" => self.memory_hog(sh, &c, now),
                _ => {
                    let per: BTreeMap<String, f64> = work
                        .iter()
                        .map(|(t, w)| {
                            let x = if measure == "reconcile time" && w.duration_ms > 0.0 {
                                w.duration_ms
                            } else {
                                w.runs
                            };
                            (t.to_string(), x)
                        })
                        .collect();
                    // Shares first: listing the heaviest objects walks every object of
                    // the controller, so it is done only for a tenant over the bar.
                    match shares_from(per.clone(), Vec::new()).top {
                        Some((t, share, _)) if share >= pat.p("min_share") => {
                            let objs: Vec<(f64, ObjectRef, String)> = cs
                                .object_runs
                                .iter()
                                .filter_map(|(o, w)| {
                                    let ot = sh.tenant_of(o);
                                    (ot == t).then(|| (w.runs, o.clone(), ot))
                                })
                                .collect();
                            shares_from(per, objs).top
                        }
                        other => other,
                    }
                }
            };
            let Some((tenant, share, heaviest)) = top else {
                continue;
            };
            if share < pat.p("min_share") {
                continue;
            }
            let subject = ObjectRef::new("Namespace", "", tenant.clone());
            let heaviest = self.describe_heaviest(sh, &tenant, &c, &heaviest);
            let f = sh.findings.upsert(
                PatternId::GuiltyTenant,
                &subject,
                pat.severity,
                now,
                pat.ms("resolve_after") as u64,
            );
            f.count = total_runs as u64;
            f.tenant = tenant.clone();
            f.add_tenant(&tenant);
            f.labels.insert("controller".into(), c.clone());
            f.labels.insert("measure".into(), measure.into());
            f.labels.insert("pressure".into(), pressure.into());
            f.labels.insert("share".into(), format!("{share:.2}"));
            f.labels
                .insert("share_pct".into(), format!("{:.0}%", share * 100.0));
            f.labels.insert("heaviest".into(), heaviest);
            f.labels.insert("active_tenants".into(), active.to_string());
            vars::fill_text(f, &pat);
        }
    }

    /// "Kustomization/juliet/app-3 (every 15s), …" for the tenant's heaviest objects.
    fn describe_heaviest(&self, sh: &Shared, tenant: &str, c: &str, fallback: &str) -> String {
        let mut v: Vec<(f64, &ObjectRef, Option<u64>)> = sh
            .objects
            .iter()
            .filter(|(o, s)| s.controller == Some(c) && sh.tenant_of(o) == tenant)
            .map(|(o, s)| {
                let rate = s
                    .interval_ms
                    .map(|i| 3_600_000.0 / i.max(1) as f64)
                    .unwrap_or(s.runs.len() as f64);
                (rate * s.artifact_size.unwrap_or(1) as f64, o, s.interval_ms)
            })
            .collect();
        if v.is_empty() {
            return fallback.to_string();
        }
        v.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        v.iter()
            .take(3)
            .map(|(_, o, iv)| match iv {
                Some(i) => format!("{o} (every {})", vars::human_ms(*i as i64)),
                None => o.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A controller's own lines without an object (start-up, leader election, klog).
    fn on_controller_line(&mut self, sh: &mut Shared, rec: &Record, ts: TsMs) {
        let Some(c) = rec.controller.clone() else {
            return;
        };
        let msg = rec.message();
        let lower = msg.to_ascii_lowercase();
        if rec.class == Class::Lifecycle && lower.starts_with("starting manager") {
            self.note_start(sh, &c, ts);
        } else if rec.class == Class::OomKilled {
            self.note_restart(sh, &c, ts, true, &msg);
        } else if rec.class == Class::ControllerRestarted {
            self.note_restart(sh, &c, ts, false, &msg);
        }
    }

    /// The state of controller `name`, created on first sight; a new one beyond
    /// `caps.controllers` evicts the first in name order.
    fn ctrl_mut(&mut self, name: &str, caps: &Caps, ev: &mut Evictions) -> &mut CtrlState {
        if !self.ctrls.contains_key(name) && self.ctrls.len() >= caps.controllers {
            if let Some(k) = self.ctrls.keys().next().cloned() {
                self.ctrls.remove(&k);
                ev.controllers += 1;
            }
        }
        self.ctrls
            .entry(name.to_string())
            .or_insert_with(|| CtrlState {
                namespace: "flux-system".into(),
                ..Default::default()
            })
    }
}

/// [`ControllerHealth::memory_hog`] of every controller with objects, in one walk over
/// the objects.
/// The top tenant per controller by artifact load, and whether any load was counted
/// from runs (so changes with time alone).
fn memory_hogs(sh: &Shared, now: TsMs) -> (HogTops, bool) {
    // Summed per controller and namespace first (no allocation per object), then per
    // tenant.
    #[derive(Default)]
    struct Load<'a> {
        per_ns: FxHashMap<&'a str, f64>,
        per_obj: Vec<(f64, &'a ObjectRef)>,
    }
    let mut loads: FxHashMap<&str, Load> = FxHashMap::default();
    let mut by_time = false;
    for (o, s) in &sh.objects {
        let Some(c) = s.controller else {
            continue;
        };
        by_time |= s.interval_ms.is_none_or(|iv| iv == 0) && !s.runs.is_empty();
        let load = object_load(s, now);
        if load <= 0.0 {
            continue;
        }
        let l = loads.entry(c).or_default();
        *l.per_ns.entry(o.namespace.as_str()).or_default() += load;
        l.per_obj.push((load, o));
    }
    let tops = loads
        .into_iter()
        .map(|(c, l)| {
            let mut ns_tenant: FxHashMap<&str, String> =
                FxHashMap::with_capacity_and_hasher(l.per_ns.len(), Default::default());
            let mut per_tenant: BTreeMap<String, f64> = BTreeMap::new();
            for (ns, load) in l.per_ns {
                let t = sh.tenant_of_ns(ns);
                *per_tenant.entry(t.clone()).or_default() += load;
                ns_tenant.insert(ns, t);
            }
            // Only the top tenant's objects are listed, so only they are cloned.
            let top = shares_from(per_tenant, Vec::new()).top.map(|top| {
                let mut objs: Vec<(f64, &ObjectRef)> = l
                    .per_obj
                    .into_iter()
                    .filter(|(_, o)| ns_tenant.get(o.namespace.as_str()) == Some(&top.0))
                    .collect();
                let heaviest = heaviest_of(&mut objs);
                (top.0, top.1, heaviest)
            });
            (c.to_string(), top)
        })
        .collect();
    (tops, by_time)
}

/// Artifact bytes an object moves per hour (size × polling rate), falling back to runs
/// in the last hour when the interval is unknown.
fn object_load(s: &ObjState, now: TsMs) -> f64 {
    let rate = match s.interval_ms {
        Some(iv) if iv > 0 => 3_600_000.0 / iv as f64,
        _ => s.runs.iter().filter(|t| now - **t <= 3_600_000).count() as f64,
    };
    rate * s.artifact_size.map(|b| b as f64).unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theil_sen_ignores_outliers() {
        let mut s: Vec<(i64, f64)> = (0..50).map(|i| (i * 60_000, 100.0 + i as f64)).collect();
        s[10].1 = 10_000.0;
        s[20].1 = -5_000.0;
        let slope = theil_sen(&s).unwrap();
        assert!((slope * 60_000.0 - 1.0).abs() < 1e-6, "{slope}");
    }
}
