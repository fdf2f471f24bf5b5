//! Object and Pod snapshots: the class a status shows (taxonomy.md §1, last paragraph).
//!
//! Owns: reading `status.conditions` of Flux objects and container states of Pods.
//! Does not own: the texts of failure classes; condition reasons and messages go through
//! the same rule table as log lines.
//!
//! Invariant: a snapshot whose status shows no failure is `object_state` (or
//! `suspended` / `progressing`), never a failure class.

use super::Classifier;
use crate::record::{Class, Condition, ObjectInfo, PodInfo, Record};

/// Exit code of a container killed by SIGKILL, which is what the OOM killer sends.
const OOM_EXIT_CODE: i64 = 137;
const OOM_KILLED: &str = "OOMKilled";
const CRASH_LOOP: &str = "CrashLoopBackOff";
/// Waiting reasons of a container that is merely starting.
const STARTING: &[&str] = &["ContainerCreating", "PodInitializing"];

const READY: &str = "Ready";
const STALLED: &str = "Stalled";
const RECONCILING: &str = "Reconciling";

fn is(c: Option<&Condition>, status: &str) -> bool {
    c.is_some_and(|c| c.status.eq_ignore_ascii_case(status))
}

/// Class of a Flux (or other Kubernetes) object snapshot.
pub(super) fn object_class(cls: &Classifier, rec: &Record, o: &ObjectInfo) -> Class {
    if o.suspend {
        return Class::Suspended;
    }
    let stalled = o.condition(STALLED).filter(|c| is(Some(c), "True"));
    let ready = o.condition(READY);
    let failing: Vec<&Condition> = stalled
        .into_iter()
        .chain(ready.filter(|c| c.status.eq_ignore_ascii_case("False")))
        .collect();
    if !failing.is_empty() {
        for c in &failing {
            let v = cls.verdict(&c.message, None, Some(&c.reason), &[], rec);
            if let Some(f) = v.failure {
                return f;
            }
        }
        // Ready=False while a new attempt is under way reads as progress, not failure.
        let c = failing[0];
        let v = cls.verdict(&c.message, None, Some(&c.reason), &[], rec);
        if v.prefix_info == Some(Class::Progressing) || v.info == Some(Class::Progressing) {
            return Class::Progressing;
        }
        return Class::ErrorOther;
    }
    if is(ready, "Unknown") || is(o.condition(RECONCILING), "True") {
        return Class::Progressing;
    }
    Class::ObjectState
}

/// Class of a Pod snapshot.
pub(super) fn pod_class(cls: &Classifier, rec: &Record, p: &PodInfo) -> Class {
    let oom = p.containers.iter().any(|c| {
        c.terminated_reason.as_deref() == Some(OOM_KILLED)
            || c.last_terminated_reason.as_deref() == Some(OOM_KILLED)
            || c.terminated_exit_code == Some(OOM_EXIT_CODE)
            || c.last_terminated_exit_code == Some(OOM_EXIT_CODE)
    });
    if oom {
        return Class::OomKilled;
    }
    let reasons: Vec<&str> = p
        .containers
        .iter()
        .flat_map(|c| {
            [
                &c.waiting_reason,
                &c.terminated_reason,
                &c.last_terminated_reason,
            ]
            .into_iter()
            .filter_map(|r| r.as_deref())
        })
        .collect();
    if reasons.contains(&CRASH_LOOP) || p.containers.iter().any(|c| c.restart_count > 0) {
        return Class::ControllerRestarted;
    }
    if !reasons.is_empty() {
        let v = cls.verdict("", None, None, &reasons, rec);
        if let Some(f) = v.failure {
            return f;
        }
    }
    let stuck = p.containers.iter().any(|c| {
        c.waiting_reason
            .as_deref()
            .is_some_and(|r| !STARTING.contains(&r))
    });
    let failed_phase = p
        .phase
        .as_deref()
        .is_some_and(|ph| ph.eq_ignore_ascii_case("Failed"));
    if stuck || failed_phase {
        return Class::ErrorOther;
    }
    Class::ObjectState
}
