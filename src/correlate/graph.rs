//! The dependency graph (`spec.dependsOn` and dependency messages):
//! `dependency_cycle` and `dependency_blocked`.

use std::collections::{BTreeMap, BTreeSet};

use super::finding::RootCause;
use super::pattern_id::PatternId;
use super::{vars, Correlator};
use crate::record::{Class, ObjectRef, TsMs};

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

impl Correlator {
    fn deps(&self, o: &ObjectRef) -> &[ObjectRef] {
        self.objects
            .get(o)
            .map(|s| s.depends_on.as_slice())
            .unwrap_or(&[])
    }

    /// Cycles among waiting objects, each rotated to start at its smallest member.
    fn find_cycles(&self) -> BTreeSet<Vec<ObjectRef>> {
        let mut cycles = BTreeSet::new();
        for start in &self.waiting {
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
                let deps = self.deps(&top);
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
                } else if !path.contains(&next) && self.objects.contains_key(&next) {
                    path.push(next);
                    idx.push(0);
                }
            }
        }
        cycles
    }

    pub(super) fn check_graph(&mut self, now: TsMs) {
        if self.waiting.is_empty() {
            return;
        }
        let cyc_pat = self.settings.patterns.shared(PatternId::DependencyCycle);
        let cycles = self.find_cycles();
        let mut in_cycle: BTreeSet<ObjectRef> = BTreeSet::new();
        for c in &cycles {
            if !c.iter().all(|m| self.waiting.contains(m)) {
                continue;
            }
            in_cycle.extend(c.iter().cloned());
            let same_ns = c.iter().all(|m| m.namespace == c[0].namespace);
            let label = |o: &ObjectRef| {
                if same_ns {
                    o.name.clone()
                } else {
                    format!("{}/{}", o.namespace, o.name)
                }
            };
            let mut names: Vec<String> = c.iter().map(label).collect();
            names.push(label(&c[0]));
            let tenants: Vec<String> = c.iter().map(|o| self.tenant_of(o)).collect();
            let subject = c[0].clone();
            let f = self.findings.upsert(
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
                self.claim(m, PatternId::DependencyCycle, &subject);
            }
        }
        // Blocked chains: waiting objects whose chain ends at an object failing for
        // another reason.
        let blk_pat = self.settings.patterns.shared(PatternId::DependencyBlocked);
        let mut by_root: BTreeMap<ObjectRef, Vec<ObjectRef>> = BTreeMap::new();
        for w in &self.waiting {
            if in_cycle.contains(w) {
                continue;
            }
            let mut seen = BTreeSet::new();
            let mut stack: Vec<ObjectRef> = self.deps(w).to_vec();
            while let Some(d) = stack.pop() {
                if !seen.insert(d.clone()) || seen.len() > 256 {
                    continue;
                }
                let Some(s) = self.objects.get(&d) else {
                    continue;
                };
                let failing_other = s.failing_since.is_some()
                    && s.attempts
                        .back()
                        .is_some_and(|a| a.class != Class::DependencyNotReady);
                if failing_other {
                    by_root.entry(d.clone()).or_default().push(w.clone());
                } else if self.waiting.contains(&d) {
                    stack.extend(s.depends_on.iter().cloned());
                }
            }
        }
        for (root, waiters) in by_root {
            let Some(s) = self.objects.get(&root) else {
                continue;
            };
            let Some(last) = s.attempts.back().cloned() else {
                continue;
            };
            let tenants: Vec<String> = waiters.iter().map(|o| self.tenant_of(o)).collect();
            let tenant = self.tenant_of(&root);
            let f = self.findings.upsert(
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
                self.claim(&w, PatternId::DependencyBlocked, &root);
            }
        }
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
