//! Classification: every record gets exactly one class of taxonomy.md §1, and a severity.
//!
//! Owns: the decision procedure over the rule table (`rules`, `emitter`), object-snapshot
//! status reading (`snapshot`) and secret redaction (`redact`).
//! Does not own: the rule texts (those live in `patterns/classes.yaml`) or parsing.
//!
//! Decision, in order (see [`Classifier::classify`]):
//! 1. metric samples → `metric`; object / Pod snapshots → their status (`snapshot`);
//! 2. an informational rule matched by a **prefix** of `msg` wins when the record has no
//!    separate error text (healthy templates quoting alarming commit subjects stay healthy);
//! 3. otherwise the failure rule whose class comes first in the file's `precedence` wins —
//!    unless the record was spoken by an emitter (`emitter`: controller, object kind,
//!    logger, reason or call-site message) for which that class is generic: then the
//!    emitter's own family wins, so who spoke decides before words like `timeout` do;
//! 4. error text that no failure rule explains → `error_other` on warning/error records;
//! 5. otherwise the best informational rule (reasons, non-prefix literals);
//! 6. nothing matched: warning / error records → `error_other`, the rest `info_other`.
//!
//! Invariant: the hot path allocates nothing when no rule matches and lower-cases
//! nothing; literals go through one case-insensitive Aho-Corasick automaton and a rule's
//! regex only runs after one of its own literals or reasons matched.

mod emitter;
pub mod redact;
pub mod rules;
mod snapshot;
pub mod workload;

use crate::record::{Class, Detail, Format, Level, Record, Severity};

pub use emitter::Emitter;
use emitter::{ClassSet, Speaker};
pub use rules::{ClassifyError, Example, Rule, RuleSet};
use rules::{Role, RuleBits};

/// The built-in rule file, compiled into the binary.
pub const BUILTIN_RULES: &str = include_str!("../../patterns/classes.yaml");
/// Name used for the built-in rule file in errors.
pub const BUILTIN_RULES_NAME: &str = "patterns/classes.yaml";

/// Reason the legacy helm-controller (≤ v0.36) and kustomize-controller v0.9 events carry
/// instead of a PascalCase reason when the event is a failure.
const LEGACY_ERROR_REASON: &str = "error";

/// The rule table, compiled.
#[derive(Debug)]
pub struct Classifier {
    rules: RuleSet,
}

impl Default for Classifier {
    fn default() -> Self {
        Self::builtin()
    }
}

/// What one record's texts matched.
#[derive(Default)]
struct Hits {
    /// Rules matched by a reason or a literal anywhere.
    any: RuleBits,
    /// Informational rules matched by a prefix at the start of `msg`.
    prefix: RuleBits,
    /// Rules vetoed by an `unless` literal.
    veto: RuleBits,
}

/// The texts and facts a rule's regex and `where` look at.
struct Subject<'a> {
    texts: [&'a str; 2],
    kind: Option<&'a str>,
    controller: Option<&'a str>,
}

/// What [`Classifier::best`] found among the matched rules.
struct Best {
    failure: Option<Class>,
    info: Option<Class>,
    /// Every failure class a valid (non-vetoed, `where`- and regex-confirmed) rule gave.
    failures: ClassSet,
}

/// Result of matching texts against the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub prefix_info: Option<Class>,
    pub failure: Option<Class>,
    pub info: Option<Class>,
}

impl Classifier {
    /// The built-in rules from `patterns/classes.yaml`.
    pub fn builtin() -> Self {
        // The built-in file is tested (`builtin_rules_compile`); failing here is a build bug.
        Self::from_yaml(BUILTIN_RULES, BUILTIN_RULES_NAME)
            .unwrap_or_else(|e| panic!("built-in rule table is invalid: {e}"))
    }

    /// Compiles a user-supplied rule file (same schema as `patterns/classes.yaml`).
    pub fn from_yaml(text: &str, file_name: &str) -> Result<Classifier, ClassifyError> {
        Ok(Classifier {
            rules: RuleSet::from_yaml(text, file_name)?,
        })
    }

    /// The compiled rules (for `patterns` listings and example checks).
    pub fn rules(&self) -> &[Rule] {
        &self.rules.rules
    }

    /// Sets `rec.class` and `rec.severity`.
    pub fn classify(&self, rec: &mut Record) {
        let class = self.class_of(rec);
        rec.class = class;
        rec.severity = severity(rec, class);
    }

    /// The class `rec` gets, without changing it.
    pub fn class_of(&self, rec: &Record) -> Class {
        let class = self.class_by_words(rec);
        if class == Class::ErrorOther {
            // A failure no rule explains still has a speaker: an emitter whose `over`
            // lists `error_other` names its family (image-reflector's policy errors).
            // A Pod snapshot names the controller it runs, not who spoke (the kubelet):
            // an image-reflector Pod that cannot pull is not an image automation failure.
            let kind = rec.object.as_ref().map(|o| o.kind.as_str());
            let about_pod = matches!(rec.detail, Detail::Pod(_)) || kind == Some("Pod");
            let speaker = Speaker {
                controller: rec.controller.as_deref().filter(|_| !about_pod),
                kind,
                logger: rec.logger.as_deref(),
                reason: rec.reason.as_deref(),
                more_reasons: &[],
                msg: rec.msg.trim_start(),
            };
            if let Some(e) = self
                .rules
                .emitters
                .iter()
                .find(|e| e.over.contains(Class::ErrorOther) && e.spoke(&speaker))
            {
                return e.family;
            }
        }
        class
    }

    fn class_by_words(&self, rec: &Record) -> Class {
        if matches!(rec.detail, Detail::Metric(_)) || rec.format == Format::Metric {
            return Class::Metric;
        }
        // Lines that carry no record of their own: their words are not a message.
        if matches!(
            rec.format,
            Format::Continuation | Format::TableHeader | Format::Command
        ) {
            return Class::InfoOther;
        }
        match &rec.detail {
            Detail::Object(o) => return snapshot::object_class(self, rec, o),
            Detail::Pod(p) => return snapshot::pod_class(self, rec, p),
            _ => {}
        }
        let error = rec.error.as_deref().filter(|e| !e.trim().is_empty());
        let v = self.verdict(&rec.msg, error, rec.reason.as_deref(), &[], rec);
        decide(v, error.is_some(), is_warning(rec))
    }

    /// Matches `msg`, `error` and reasons against the table.
    pub(crate) fn verdict(
        &self,
        msg: &str,
        error: Option<&str>,
        reason: Option<&str>,
        more_reasons: &[&str],
        rec: &Record,
    ) -> Verdict {
        let mut hits = Hits::default();
        let msg = msg.trim_start();
        self.scan(msg, true, &mut hits);
        if let Some(e) = error {
            self.scan(e, false, &mut hits);
        }
        for r in reason.into_iter().chain(more_reasons.iter().copied()) {
            if let Some(bits) = self.rules.reasons.get(r) {
                hits.any.union_with(bits);
            }
        }
        let kind = rec
            .object
            .as_ref()
            .map(|o| o.kind.as_str())
            .filter(|k| !k.is_empty());
        let subject = Subject {
            texts: [msg, error.unwrap_or("")],
            kind,
            controller: rec.controller.as_deref(),
        };
        let best = self.best(&hits.any, &hits.veto, &subject);
        let prefix_info = if hits.prefix.is_empty() {
            None
        } else {
            self.best(&hits.prefix, &hits.veto, &subject).info
        };
        let failure = best.failure.map(|winner| {
            let speaker = Speaker {
                controller: rec.controller.as_deref(),
                kind,
                logger: rec.logger.as_deref(),
                reason,
                more_reasons,
                msg,
            };
            self.who_spoke(winner, best.failures, &speaker)
        });
        Verdict {
            prefix_info,
            failure,
            info: best.info,
        }
    }

    /// The failure class once the emitter scopes had their say (see `emitter`).
    fn who_spoke(&self, winner: Class, matched: ClassSet, speaker: &Speaker<'_>) -> Class {
        self.rules
            .emitters
            .iter()
            .filter(|e| e.over.contains(winner) && e.spoke(speaker))
            .find_map(|e| e.prefer(winner, matched, |c| self.rules.class_rank(c)))
            .unwrap_or(winner)
    }

    fn scan(&self, text: &str, is_msg: bool, hits: &mut Hits) {
        let Some(ac) = &self.rules.ac else { return };
        if text.is_empty() {
            return;
        }
        for m in ac.find_overlapping_iter(text) {
            for t in self.rules.targets(m.pattern().as_usize()) {
                match t.role {
                    Role::Fragment => hits.any.set(t.rule),
                    Role::Unless => hits.veto.set(t.rule),
                    Role::Prefix => {
                        if is_msg && m.start() == 0 {
                            let rule = &self.rules.rules[usize::from(t.rule)];
                            // A failure rule anchored at the start is an ordinary match.
                            if !rule.class.is_failure() {
                                hits.prefix.set(t.rule);
                            }
                            hits.any.set(t.rule);
                        }
                    }
                }
            }
        }
    }

    /// Best failure and informational class among the matched, non-vetoed rules, and the
    /// set of every failure class matched (the emitter scopes need it).
    fn best(&self, bits: &RuleBits, veto: &RuleBits, s: &Subject<'_>) -> Best {
        let mut failure: Option<(u16, Class)> = None;
        let mut info: Option<(u16, Class)> = None;
        let mut failures = ClassSet::default();
        for i in bits.iter_minus(veto) {
            let rule = &self.rules.rules[usize::from(i)];
            let is_failure = rule.class.is_failure();
            let slot = if is_failure { &mut failure } else { &mut info };
            // A failure class already known to match needs no second confirmation; any
            // other rule is confirmed even when it cannot win, so `failures` is complete.
            let known = if is_failure {
                failures.contains(rule.class)
            } else {
                slot.is_some_and(|(rank, _)| rank <= rule.rank)
            };
            if known {
                continue;
            }
            if !where_ok(&rule.kinds, s.kind) || !where_ok(&rule.controllers, s.controller) {
                continue;
            }
            if let Some(re) = &rule.regex {
                if !s.texts.iter().any(|t| !t.is_empty() && re.is_match(t)) {
                    continue;
                }
            }
            if is_failure {
                failures.insert(rule.class);
            }
            if !slot.is_some_and(|(rank, _)| rank <= rule.rank) {
                *slot = Some((rule.rank, rule.class));
            }
        }
        Best {
            failure: failure.map(|x| x.1),
            info: info.map(|x| x.1),
            failures,
        }
    }

    /// Runs every rule's `examples` and `counter_examples`; returns one line per failure.
    pub fn check_examples(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for rule in self.rules() {
            for ex in &rule.examples {
                let mut rec = ex.to_record();
                self.classify(&mut rec);
                if rec.class != rule.class {
                    failures.push(format!(
                        "rule `{}` (line {}): example {:?} got `{}`, want `{}`",
                        rule.id, rule.line, ex.msg, rec.class, rule.class
                    ));
                }
            }
            for ex in &rule.counter_examples {
                let mut rec = ex.to_record();
                self.classify(&mut rec);
                if rec.class == rule.class {
                    failures.push(format!(
                        "rule `{}` (line {}): counter-example {:?} got `{}`",
                        rule.id, rule.line, ex.msg, rec.class
                    ));
                }
            }
        }
        failures
    }
}

fn where_ok(allowed: &[String], actual: Option<&str>) -> bool {
    allowed.is_empty() || actual.is_some_and(|a| allowed.iter().any(|x| x == a))
}

/// Steps 2–6 of the module doc.
pub(crate) fn decide(v: Verdict, has_error_text: bool, warning: bool) -> Class {
    if !has_error_text {
        if let Some(c) = v.prefix_info {
            return c;
        }
    }
    if let Some(c) = v.failure {
        return c;
    }
    if has_error_text && warning {
        return Class::ErrorOther;
    }
    if let Some(c) = v.info {
        return c;
    }
    if warning {
        Class::ErrorOther
    } else {
        Class::InfoOther
    }
}

/// Whether the record itself says something went wrong (level, event type, legacy reason).
fn is_warning(rec: &Record) -> bool {
    if rec.level.is_some_and(|l| l >= Level::Warning) {
        return true;
    }
    if rec.reason.as_deref() == Some(LEGACY_ERROR_REASON) {
        return true;
    }
    is_warning_event(rec)
}

fn is_warning_event(rec: &Record) -> bool {
    rec.event_info()
        .and_then(|e| e.event_type.as_deref())
        .is_some_and(|t| t.eq_ignore_ascii_case("warning") || t.eq_ignore_ascii_case("error"))
}

fn is_event(rec: &Record) -> bool {
    matches!(rec.format, Format::K8sEvent | Format::FluxEvent)
        || matches!(rec.detail, Detail::Event(_))
}

/// Severity of a classified record.
pub fn severity(rec: &Record, class: Class) -> Severity {
    if !class.is_failure() || matches!(class, Class::DependencyNotReady) {
        return class.default_severity();
    }
    if is_event(rec) {
        // Kubernetes has only Normal/Warning: a failure event is a warning.
        return Severity::Warning;
    }
    if rec.level == Some(Level::Error) {
        return Severity::Error;
    }
    Severity::Warning
}
