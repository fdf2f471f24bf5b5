//! The dependency family ([`DependencyGraph`]): `dependency_cycle` and
//! `dependency_blocked` over the dependency graph (`spec.dependsOn` and dependency
//! messages), and the source-failure root (`dependency_blocked` whose subject is a
//! failing or missing source).
//!
//! Owns: cycle and chain detection over waiting objects, the source-failure root,
//! and the parameter table of its two patterns. Its state is shared: `waiting` and
//! each object's `depends_on`. Does not own: the claim rules (`claims`).

use std::collections::{BTreeMap, BTreeSet};

use super::claims::{most_affected, ClaimRank};
use super::detector::{duration, Consumes, Detector, PatternParams, TickPhase};
use super::finding::{ImpactDetail, RootCause};
use super::pattern_id::PatternId;
use super::shared::Shared;
use super::vars;
use crate::record::{Class, ObjectRef, Record, TsMs};

/// The dependency family: objects waiting for others, and what they wait for.
pub(crate) struct DependencyGraph;

impl DependencyGraph {
    /// The patterns this family emits and the parameters it reads (durations in ms).
    pub const PARAMS: &'static [PatternParams] = &[
        PatternParams {
            pattern: PatternId::DependencyCycle,
            params: &[
                duration("waiting_within", 900_000.0),
                duration("resolve_after", 900_000.0),
            ],
        },
        PatternParams {
            pattern: PatternId::DependencyBlocked,
            params: &[
                duration("waiting_within", 900_000.0),
                duration("source_min_failing", 300_000.0),
                duration("resolve_after", 900_000.0),
            ],
        },
    ];
}

impl Detector for DependencyGraph {
    fn name(&self) -> &'static str {
        "DependencyGraph"
    }

    fn consumes(&self) -> Consumes {
        Consumes {
            classes: &[Class::DependencyNotReady],
            runs: false,
            recovery: true,
            controller_records: false,
            workload_records: false,
        }
    }

    fn params(&self) -> &'static [PatternParams] {
        Self::PARAMS
    }

    fn claims(&self) -> &'static [ClaimRank] {
        &[ClaimRank::SourceFailure, ClaimRank::Dependency]
    }

    fn on_record(&mut self, sh: &mut Shared, rec: &Record, obj: &ObjectRef, ts: TsMs) {
        sh.waiting.insert(obj.clone());
        for dep in deps_in_message(&rec.message(), obj) {
            let s = sh.obj_mut(obj, ts);
            if !s.depends_on.contains(&dep) {
                s.depends_on.push(dep);
            }
        }
    }

    fn on_recovery(&mut self, sh: &mut Shared, _rec: &Record, obj: &ObjectRef, ts: TsMs) {
        sh.findings.resolve(PatternId::DependencyBlocked, obj, ts);
    }

    fn on_tick(&mut self, sh: &mut Shared, now: TsMs, phase: TickPhase) {
        if phase == TickPhase::Main {
            self.prune_waiting(sh, now);
            self.check_graph(sh, now);
            self.check_sources(sh, now);
        }
    }

    fn next_deadline(&self, sh: &Shared, tick: TsMs) -> Option<TsMs> {
        (!sh.waiting.is_empty() || !sh.failing.is_empty()).then_some(tick)
    }
}

/// Dependencies named in a message: `dependency 'ns/name' is not ready`.
pub fn deps_in_message(msg: &str, of: &ObjectRef) -> Vec<ObjectRef> {
    let mut out = Vec::new();
    let mut rest = msg;
    while let Some(i) = rest.find("dependency '") {
        let after = &rest[i + 12..];
        let Some(j) = after.find('\'') else { break };
        let r = &after[..j];
        let (ns, name) = match r.split_once('/') {
            Some((ns, n)) => (ns, n),
            None => (of.namespace.as_str(), r),
        };
        if !name.is_empty() && name.len() < 254 {
            out.push(ObjectRef::new(of.kind.clone(), ns, name));
        }
        rest = &after[j..];
    }
    out
}

impl DependencyGraph {
    /// Forgets objects that stopped waiting (no dependency message within
    /// `waiting_within`).
    fn prune_waiting(&mut self, sh: &mut Shared, now: TsMs) {
        let ww = sh
            .settings
            .patterns
            .get(PatternId::DependencyBlocked)
            .ms("waiting_within");
        let objects = &sh.objects;
        sh.waiting.retain(|o| {
            objects
                .get(o)
                .and_then(|s| s.waiting_at)
                .is_some_and(|t| now - t <= ww)
        });
    }

    fn deps<'a>(&self, sh: &'a Shared, o: &ObjectRef) -> &'a [ObjectRef] {
        sh.objects
            .get(o)
            .map(|s| s.depends_on.as_slice())
            .unwrap_or(&[])
    }

    /// Cycles among waiting objects, each rotated to start at its smallest member.
    fn find_cycles(&self, sh: &Shared) -> BTreeSet<Vec<ObjectRef>> {
        let mut cycles = BTreeSet::new();
        for start in &sh.waiting {
            // DFS with an explicit stack of (node, next-edge index).
            let mut path: Vec<ObjectRef> = vec![start.clone()];
            let mut idx: Vec<usize> = vec![0];
            let mut steps = 0;
            while let Some(top) = path.last().cloned() {
                steps += 1;
                if steps > 10_000 || path.len() > 64 {
                    break;
                }
                let i = *idx.last().unwrap_or(&0);
                let deps = self.deps(sh, &top);
                if i >= deps.len() {
                    path.pop();
                    idx.pop();
                    continue;
                }
                if let Some(x) = idx.last_mut() {
                    *x += 1;
                }
                let next = deps[i].clone();
                if next == *start {
                    let min_pos = path
                        .iter()
                        .enumerate()
                        .min_by(|a, b| a.1.cmp(b.1))
                        .map(|(p, _)| p)
                        .unwrap_or(0);
                    let mut c = path[min_pos..].to_vec();
                    c.extend_from_slice(&path[..min_pos]);
                    cycles.insert(c);
                } else if !path.contains(&next) && sh.objects.contains_key(&next) {
                    path.push(next);
                    idx.push(0);
                }
            }
        }
        cycles
    }

    fn check_graph(&mut self, sh: &mut Shared, now: TsMs) {
        if sh.waiting.is_empty() {
            return;
        }
        let cyc_pat = sh.settings.patterns.shared(PatternId::DependencyCycle);
        let cycles = self.find_cycles(sh);
        let mut in_cycle: BTreeSet<ObjectRef> = BTreeSet::new();
        for c in &cycles {
            if !c.iter().all(|m| sh.waiting.contains(m)) {
                continue;
            }
            in_cycle.extend(c.iter().cloned());
            let same_ns = c.iter().all(|m| m.namespace == c[0].namespace);
            let label = |o: &ObjectRef| {
                if same_ns {
                    o.name.to_string()
                } else {
                    format!("{}/{}", o.namespace, o.name)
                }
            };
            let mut names: Vec<String> = c.iter().map(label).collect();
            names.push(label(&c[0]));
            let tenants: Vec<String> = c.iter().map(|o| sh.tenant_of(o)).collect();
            let subject = c[0].clone();
            let f = sh.findings.upsert(
                PatternId::DependencyCycle,
                &subject,
                cyc_pat.severity,
                now,
                cyc_pat.ms("resolve_after") as u64,
            );
            f.count = c.len() as u64;
            for m in c {
                f.add_impacted(m);
            }
            for t in &tenants {
                f.add_tenant(t);
            }
            f.tenant = tenants[0].clone();
            f.labels.insert("cycle".into(), names.join(" -> "));
            vars::fill_text(f, &cyc_pat);
            for m in c {
                sh.claim(m, PatternId::DependencyCycle, &subject);
            }
        }
        // Blocked chains: waiting objects whose chain ends at an object failing for
        // another reason.
        let blk_pat = sh.settings.patterns.shared(PatternId::DependencyBlocked);
        let mut by_root: BTreeMap<ObjectRef, Vec<ObjectRef>> = BTreeMap::new();
        for w in &sh.waiting {
            if in_cycle.contains(w) {
                continue;
            }
            let mut seen = BTreeSet::new();
            let mut stack: Vec<ObjectRef> = self.deps(sh, w).to_vec();
            while let Some(d) = stack.pop() {
                if !seen.insert(d.clone()) || seen.len() > 256 {
                    continue;
                }
                let Some(s) = sh.objects.get(&d) else {
                    continue;
                };
                let failing_other = s.failing_since.is_some()
                    && s.attempts
                        .back()
                        .is_some_and(|a| a.class != Class::DependencyNotReady);
                if failing_other {
                    by_root.entry(d.clone()).or_default().push(w.clone());
                } else if sh.waiting.contains(&d) {
                    stack.extend(s.depends_on.iter().cloned());
                }
            }
        }
        for (root, waiters) in by_root {
            let Some(s) = sh.objects.get(&root) else {
                continue;
            };
            let Some(last) = s.attempts.back().cloned() else {
                continue;
            };
            let tenants: Vec<String> = waiters.iter().map(|o| sh.tenant_of(o)).collect();
            let tenant = sh.tenant_of(&root);
            let f = sh.findings.upsert(
                PatternId::DependencyBlocked,
                &root,
                blk_pat.severity,
                now,
                blk_pat.ms("resolve_after") as u64,
            );
            f.count = waiters.len() as u64;
            f.root_cause = Some(RootCause {
                object: root.clone(),
                class: last.class,
                message: last.message.clone(),
            });
            for w in &waiters {
                f.add_impacted(w);
            }
            f.tenant = tenant.clone();
            f.add_tenant(&tenant);
            for t in &tenants {
                f.add_tenant(t);
            }
            vars::fill_text(f, &blk_pat);
            for w in waiters {
                sh.claim(&w, PatternId::DependencyBlocked, &root);
            }
        }
    }

    /// The source-failure root: consumers failing with `source_not_ready` behind a
    /// source that is missing or failing for a reason no higher root explains (its
    /// own fetch, storage or other error) are grouped under one `dependency_blocked`
    /// finding about the source, once the oldest has been blocked for
    /// `source_min_failing`. Consumers of a source another root claims are attached
    /// to that root instead.
    fn check_sources(&mut self, sh: &mut Shared, now: TsMs) {
        let pat = sh.settings.patterns.shared(PatternId::DependencyBlocked);
        let (within, min_failing) = (pat.ms("waiting_within"), pat.ms("source_min_failing"));
        let mut by_source: BTreeMap<ObjectRef, Vec<(ObjectRef, TsMs)>> = BTreeMap::new();
        let mut attach: Vec<(ObjectRef, TsMs, Class, String)> = Vec::new();
        for o in &sh.failing {
            let Some(s) = sh.objects.get(o) else {
                continue;
            };
            let (Some(since), Some(last), Some(src)) =
                (s.failing_since, s.attempts.back(), s.source_ref.as_ref())
            else {
                continue;
            };
            if last.class != Class::SourceNotReady || now - last.ts > within {
                continue;
            }
            if sh
                .root_of(src)
                .is_some_and(|(_, _, r)| r > ClaimRank::SourceFailure)
            {
                attach.push((o.clone(), last.ts, last.class, last.message.clone()));
                continue;
            }
            let source = sh.objects.get(src);
            let missing = source.is_some_and(|x| x.missing_at.is_some());
            // Auth, rate-limit and network failures have roots of their own, ranked
            // above this one; until those fire the source is not the root here.
            let failing = source.and_then(|x| x.current_failure()).is_some_and(|a| {
                !matches!(
                    a.class,
                    Class::DependencyNotReady
                        | Class::GitAuthFailed
                        | Class::RateLimited
                        | Class::NetworkError
                )
            });
            if missing || failing {
                by_source
                    .entry(src.clone())
                    .or_default()
                    .push((o.clone(), since));
            }
        }
        for (o, ts, class, message) in attach {
            sh.group_symptom(&o, ts, class, &message);
        }
        for (src, blocked) in by_source {
            let already = sh.findings.is_firing(PatternId::DependencyBlocked, &src);
            let oldest = blocked.iter().map(|(_, t)| *t).min().unwrap_or(now);
            if !already && now - oldest < min_failing {
                continue;
            }
            self.source_root(sh, &src, &blocked, now);
        }
    }

    /// Opens or updates the `dependency_blocked` finding of a failing or missing
    /// source and claims its blocked consumers (and the source itself, so its own
    /// stalled finding does not repeat the root).
    fn source_root(
        &mut self,
        sh: &mut Shared,
        src: &ObjectRef,
        blocked: &[(ObjectRef, TsMs)],
        now: TsMs,
    ) {
        let pat = sh.settings.patterns.shared(PatternId::DependencyBlocked);
        let own = sh
            .objects
            .get(src)
            .and_then(|s| s.current_failure())
            .cloned();
        let symptoms: Vec<(ObjectRef, String, Option<ImpactDetail>)> = blocked
            .iter()
            .map(|(o, _)| (o.clone(), sh.tenant_of(o), sh.impact_seed(o)))
            .collect();
        let root_cause = match &own {
            Some(a) => RootCause {
                object: src.clone(),
                class: a.class,
                message: a.message.clone(),
            },
            None => RootCause {
                object: src.clone(),
                class: Class::SourceNotReady,
                message: symptoms
                    .iter()
                    .find_map(|(_, _, d)| d.as_ref().map(|d| d.message.clone()))
                    .unwrap_or_else(|| format!("{src} not found")),
            },
        };
        let tenant = most_affected(symptoms.iter().map(|(_, t, _)| t.as_str()))
            .unwrap_or_else(|| sh.tenant_of(src));
        let f = sh.findings.upsert(
            PatternId::DependencyBlocked,
            src,
            pat.severity,
            now,
            pat.ms("resolve_after") as u64,
        );
        f.count = symptoms.len() as u64;
        f.root_cause = Some(root_cause);
        for (o, t, seed) in symptoms.iter() {
            match seed {
                Some(d) => f.add_impact(d.clone()),
                None => f.add_impacted(o),
            }
            f.add_tenant(t);
        }
        f.tenant = tenant;
        vars::fill_text(f, &pat);
        for (o, _, _) in symptoms {
            sh.claim(&o, PatternId::DependencyBlocked, src);
        }
        sh.claim(src, PatternId::DependencyBlocked, src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_names() {
        let of = ObjectRef::new("Kustomization", "flux-system", "apps");
        let d = deps_in_message("dependency 'flux-system/infra' is not ready", &of);
        assert_eq!(
            d,
            vec![ObjectRef::new("Kustomization", "flux-system", "infra")]
        );
        let d = deps_in_message("dependency 'infra' not found", &of);
        assert_eq!(d[0].namespace, "flux-system");
        assert!(deps_in_message("Dependencies do not meet ready condition", &of).is_empty());
    }
}
