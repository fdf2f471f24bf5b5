//! Who spoke: emitter scopes of the rule table (`emitters:` in `patterns/classes.yaml`).
//!
//! Owns: the `emitters` schema, its validation and the one decision it adds: for a record
//! in an emitter's scope, the emitter's own failure family outranks the classes the
//! emitter lists as generic (`over`), and when only generic rules matched, the record gets
//! the family. A notification-controller dispatch that ends in `context deadline exceeded`
//! is therefore `notification_failed`: the words say "timeout", but who spoke says which
//! operation timed out.
//! Does not own: matching texts (see `rules`) or the global precedence.
//!
//! Invariant: a scope only changes a verdict whose winning failure class is generic for
//! that emitter; records of other speakers, and records whose winner is specific, keep the
//! class the global precedence gave them. The check runs only after a failure rule matched,
//! and allocates nothing.

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::record::Class;

use super::rules::{invalid, ClassifyError};

/// One `emitters:` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmitterRaw {
    id: Spanned<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    controllers: Vec<String>,
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    loggers: Vec<String>,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    messages: Vec<String>,
    family: Spanned<String>,
    over: Spanned<Vec<String>>,
}

/// A set of classes, one bit per index of [`Class::ALL`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ClassSet(u64);

// One bit per class; a new class beyond 64 must widen the set.
const _: () = assert!(Class::ALL.len() <= 64);

impl ClassSet {
    fn index(c: Class) -> usize {
        Class::ALL.iter().position(|x| *x == c).unwrap_or(0)
    }

    #[inline]
    pub fn insert(&mut self, c: Class) {
        self.0 |= 1 << Self::index(c);
    }

    #[inline]
    pub fn contains(self, c: Class) -> bool {
        self.0 & (1 << Self::index(c)) != 0
    }

    #[inline]
    pub fn minus(self, other: ClassSet) -> ClassSet {
        ClassSet(self.0 & !other.0)
    }

    #[inline]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Class> {
        Class::ALL
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, c)| *c)
    }
}

/// One compiled emitter scope.
#[derive(Debug)]
pub struct Emitter {
    pub id: String,
    /// The failure class this emitter's failures belong to.
    pub family: Class,
    /// Classes whose words any emitter prints (timeouts, transport errors, HTTP statuses).
    pub(crate) over: ClassSet,
    controllers: Vec<String>,
    kinds: Vec<String>,
    loggers: Vec<String>,
    reasons: Vec<String>,
    /// Lower-cased `msg` prefixes: the call site's constant message names the speaker.
    messages: Vec<String>,
    /// Line of the emitter's `id` in its file.
    pub line: u64,
}

/// The facts of a record an emitter scope looks at.
pub(crate) struct Speaker<'a> {
    pub controller: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub logger: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub more_reasons: &'a [&'a str],
    pub msg: &'a str,
}

impl Emitter {
    /// True when any one listed fact holds for the record.
    pub(crate) fn spoke(&self, s: &Speaker<'_>) -> bool {
        let listed =
            |list: &[String], v: Option<&str>| v.is_some_and(|v| list.iter().any(|x| x == v));
        listed(&self.controllers, s.controller)
            || listed(&self.kinds, s.kind)
            || listed(&self.loggers, s.logger)
            || s.reason
                .into_iter()
                .chain(s.more_reasons.iter().copied())
                .any(|r| self.reasons.iter().any(|x| x == r))
            || self
                .messages
                .iter()
                .any(|p| starts_with_ignore_case(s.msg, p))
    }

    /// The class a record in this scope gets, given the globally winning failure class
    /// and every failure class that matched. `None` leaves the verdict unchanged.
    pub(crate) fn prefer(
        &self,
        winner: Class,
        matched: ClassSet,
        rank: impl Fn(Class) -> u16,
    ) -> Option<Class> {
        if !self.over.contains(winner) {
            return None;
        }
        let specific = matched.minus(self.over);
        if specific.is_empty() || specific.contains(self.family) {
            return Some(self.family);
        }
        // Generic words are demoted for this speaker; its other specific evidence decides.
        specific.iter().min_by_key(|c| rank(*c))
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Validates and compiles the `emitters:` list. `class_rank[i]` is `u16::MAX` for classes
/// missing from `precedence`.
pub(crate) fn compile(
    raw: Vec<EmitterRaw>,
    class_rank: &[u16],
    file: &str,
) -> Result<Vec<Emitter>, ClassifyError> {
    let mut out: Vec<Emitter> = Vec::with_capacity(raw.len());
    for e in raw {
        let line = e.id.referenced.line();
        let id = e.id.value;
        if id.trim().is_empty() {
            return Err(invalid(file, line, "id", "empty emitter id"));
        }
        if let Some(first) = out.iter().find(|x| x.id == id) {
            return Err(invalid(
                file,
                line,
                "id",
                format!("duplicate emitter id `{id}` (first on line {})", first.line),
            ));
        }
        let family = failure_class(&e.family.value, class_rank, file, &e.family, "family", &id)?;
        let mut over = ClassSet::default();
        for name in &e.over.value {
            let c = failure_class(name, class_rank, file, &e.over, "over", &id)?;
            if c == family {
                return Err(invalid(
                    file,
                    e.over.referenced.line(),
                    "over",
                    format!("emitter `{id}` lists its own family `{name}` as generic"),
                ));
            }
            over.insert(c);
        }
        if over.is_empty() {
            return Err(invalid(
                file,
                e.over.referenced.line(),
                "over",
                format!("emitter `{id}` needs at least one generic class"),
            ));
        }
        let facts = e.controllers.len()
            + e.kinds.len()
            + e.loggers.len()
            + e.reasons.len()
            + e.messages.len();
        if facts == 0 {
            return Err(invalid(
                file,
                line,
                "emitters",
                format!(
                    "emitter `{id}` needs at least one of controllers, kinds, loggers, reasons, messages"
                ),
            ));
        }
        if e.messages.iter().any(String::is_empty) {
            return Err(invalid(
                file,
                line,
                "messages",
                format!("emitter `{id}` has an empty message prefix"),
            ));
        }
        out.push(Emitter {
            id,
            family,
            over,
            controllers: e.controllers,
            kinds: e.kinds,
            loggers: e.loggers,
            reasons: e.reasons,
            messages: e.messages.iter().map(|m| m.to_ascii_lowercase()).collect(),
            line,
        });
    }
    Ok(out)
}

fn failure_class<T>(
    name: &str,
    class_rank: &[u16],
    file: &str,
    at: &Spanned<T>,
    field: &str,
    id: &str,
) -> Result<Class, ClassifyError> {
    let line = at.referenced.line();
    let c = Class::parse(name).ok_or_else(|| {
        invalid(
            file,
            line,
            field,
            format!("unknown class `{name}` in emitter `{id}`"),
        )
    })?;
    if !c.is_failure() {
        return Err(invalid(
            file,
            line,
            field,
            format!("class `{name}` of emitter `{id}` is not a failure class"),
        ));
    }
    if class_rank[ClassSet::index(c)] == u16::MAX {
        return Err(invalid(
            file,
            line,
            field,
            format!("class `{name}` of emitter `{id}` is not in `precedence`"),
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emitter(over: &[Class], family: Class) -> Emitter {
        let mut set = ClassSet::default();
        for c in over {
            set.insert(*c);
        }
        Emitter {
            id: "e".into(),
            family,
            over: set,
            controllers: vec![],
            kinds: vec!["Alert".into()],
            loggers: vec!["event-server".into()],
            reasons: vec![],
            messages: vec!["failed to send notification".into()],
            line: 1,
        }
    }

    fn set(cs: &[Class]) -> ClassSet {
        let mut s = ClassSet::default();
        for c in cs {
            s.insert(*c);
        }
        s
    }

    fn rank(c: Class) -> u16 {
        Class::ALL.iter().position(|x| *x == c).unwrap_or(0) as u16
    }

    #[test]
    fn generic_winner_yields_to_the_family() {
        let e = emitter(&[Class::NetworkError], Class::NotificationFailed);
        let both = set(&[Class::NetworkError, Class::NotificationFailed]);
        assert_eq!(
            e.prefer(Class::NetworkError, both, rank),
            Some(Class::NotificationFailed)
        );
        // Only generic words matched: who spoke decides.
        let only = set(&[Class::NetworkError]);
        assert_eq!(
            e.prefer(Class::NetworkError, only, rank),
            Some(Class::NotificationFailed)
        );
    }

    #[test]
    fn specific_winners_and_other_evidence_are_kept() {
        let e = emitter(&[Class::NetworkError], Class::NotificationFailed);
        let m = set(&[Class::RateLimited, Class::NetworkError]);
        assert_eq!(e.prefer(Class::RateLimited, m, rank), None);
        // A specific class other than the family stays ahead of demoted generic words.
        let m = set(&[Class::NetworkError, Class::ControllerRestarted]);
        assert_eq!(
            e.prefer(Class::NetworkError, m, rank),
            Some(Class::ControllerRestarted)
        );
    }

    #[test]
    fn any_one_fact_puts_a_record_in_scope() {
        let e = emitter(&[Class::NetworkError], Class::NotificationFailed);
        let base = Speaker {
            controller: Some("kustomize-controller"),
            kind: Some("Kustomization"),
            logger: None,
            reason: None,
            more_reasons: &[],
            msg: "Reconciliation failed",
        };
        assert!(!e.spoke(&base));
        assert!(e.spoke(&Speaker {
            logger: Some("event-server"),
            ..base
        }));
        assert!(e.spoke(&Speaker {
            kind: Some("Alert"),
            ..base
        }));
        assert!(e.spoke(&Speaker {
            msg: "Failed to send notification for Kustomization/a/b: x",
            ..base
        }));
        // Prefix cut inside a multi-byte character must not panic.
        assert!(!e.spoke(&Speaker {
            msg: "failed to send notificatio\u{e9}",
            ..base
        }));
    }
}
