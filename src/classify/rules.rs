//! The record-class rule table: raw YAML (`patterns/classes.yaml`) → validated, compiled
//! [`RuleSet`].
//!
//! Owns: the file schema (serde, `deny_unknown_fields`), its validation (every error names
//! the file, line and field) and compilation into one Aho-Corasick automaton over every
//! literal of every rule, plus a reason index and the regexes.
//! Does not own: the decision which class a record gets (see `classify`), or the
//! `emitters:` section's schema (see `emitter`, compiled from here).
//!
//! Invariant: literals are matched ASCII-case-insensitively by ONE automaton; a rule's
//! regex is only ever evaluated after one of its own literals or reasons matched.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::Regex;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::record::{Class, Level};

use super::emitter::{self, Emitter, EmitterRaw};

/// Most rules a table may hold; keeps the per-record match set a fixed-size bitset.
pub const MAX_RULES: usize = 512;
const WORDS: usize = MAX_RULES / 64;

/// Why a rule file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("{file}:{line}:{column}: {message}")]
    Yaml {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{file}:{line}: field `{field}`: {message}")]
    Invalid {
        file: String,
        line: u64,
        field: String,
        message: String,
    },
    #[error("{file}: building the literal automaton failed: {message}")]
    Automaton { file: String, message: String },
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFileRaw {
    version: Spanned<u32>,
    precedence: Vec<Spanned<String>>,
    #[serde(default)]
    emitters: Vec<EmitterRaw>,
    rules: Vec<RuleRaw>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleRaw {
    id: Spanned<String>,
    class: Spanned<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    fragments: Vec<String>,
    #[serde(default)]
    prefixes: Vec<String>,
    #[serde(default)]
    unless: Vec<String>,
    #[serde(default)]
    regex: Option<Spanned<String>>,
    #[serde(default, rename = "where")]
    where_: Option<WhereRaw>,
    #[serde(default)]
    examples: Vec<ExampleRaw>,
    #[serde(default)]
    counter_examples: Vec<ExampleRaw>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WhereRaw {
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    controllers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ExampleRaw {
    Msg(String),
    Record(Example),
}

/// A message a rule must (or must not) classify, as written in the rule file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Example {
    #[serde(default)]
    pub msg: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub controller: Option<String>,
    /// zap `logger` name (`event-server` is notification-controller's dispatcher).
    #[serde(default)]
    pub logger: Option<String>,
    #[serde(default)]
    pub level: Option<String>,
    /// `Normal` / `Warning` (Kubernetes) or `info` / `error` (Flux payload): the example
    /// is then an event record.
    #[serde(default)]
    pub event_type: Option<String>,
}

/// How a literal of a rule is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Anywhere in msg or error.
    Fragment,
    /// At the start of msg.
    Prefix,
    /// Anywhere; vetoes the rule.
    Unless,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub rule: u16,
    pub role: Role,
}

/// One compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub class: Class,
    /// Index of `class` in the precedence list: lower wins.
    pub(crate) rank: u16,
    pub(crate) regex: Option<Regex>,
    pub(crate) kinds: Vec<String>,
    pub(crate) controllers: Vec<String>,
    pub examples: Vec<Example>,
    pub counter_examples: Vec<Example>,
    /// Line of the rule's `id` in its file.
    pub line: u64,
}

/// A fixed-size set of rule indices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RuleBits([u64; WORDS]);

impl RuleBits {
    #[inline]
    pub fn set(&mut self, i: u16) {
        self.0[usize::from(i) / 64] |= 1 << (i % 64);
    }

    #[inline]
    pub fn union_with(&mut self, other: &RuleBits) {
        for (w, o) in self.0.iter_mut().zip(other.0.iter()) {
            *w |= o;
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// Set bits of `self` that are not in `minus`, in ascending order.
    pub fn iter_minus(self, minus: &RuleBits) -> impl Iterator<Item = u16> {
        let mut words = self.0;
        for (w, m) in words.iter_mut().zip(minus.0.iter()) {
            *w &= !m;
        }
        words.into_iter().enumerate().flat_map(|(wi, mut w)| {
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                // wi < WORDS and b < 64, so the index is < MAX_RULES and fits u16.
                Some((wi * 64 + b as usize) as u16)
            })
        })
    }
}

/// The compiled table.
#[derive(Debug)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub(crate) ac: Option<AhoCorasick>,
    /// `targets[target_start[p]..target_start[p + 1]]` are the uses of pattern `p`.
    target_start: Vec<u32>,
    targets: Vec<Target>,
    pub(crate) reasons: HashMap<String, RuleBits>,
    /// Who-spoke scopes, checked after a generic failure class won.
    pub emitters: Vec<Emitter>,
    /// Rank of every class; classes missing from the precedence list rank last.
    class_rank: Vec<u16>,
}

impl RuleSet {
    #[inline]
    pub(crate) fn targets(&self, pattern: usize) -> &[Target] {
        let a = self.target_start[pattern] as usize;
        let b = self.target_start[pattern + 1] as usize;
        &self.targets[a..b]
    }

    /// Rank of a class in the precedence list (lower = more specific).
    pub fn class_rank(&self, c: Class) -> u16 {
        let i = Class::ALL.iter().position(|x| *x == c).unwrap_or(0);
        self.class_rank[i]
    }

    /// Parses, validates and compiles a rule file.
    pub fn from_yaml(text: &str, file: &str) -> Result<RuleSet, ClassifyError> {
        let raw: RuleFileRaw = serde_saphyr::from_str(text).map_err(|e| yaml_error(file, &e))?;
        compile(raw, file)
    }
}

fn yaml_error(file: &str, e: &serde_saphyr::Error) -> ClassifyError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    // The rendered error carries a source snippet; keep its first line only.
    let rendered = e.to_string();
    let message = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid yaml")
        .trim()
        .to_string();
    ClassifyError::Yaml {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

pub(crate) fn invalid(
    file: &str,
    line: u64,
    field: &str,
    message: impl Into<String>,
) -> ClassifyError {
    ClassifyError::Invalid {
        file: file.to_string(),
        line,
        field: field.to_string(),
        message: message.into(),
    }
}

fn compile(raw: RuleFileRaw, file: &str) -> Result<RuleSet, ClassifyError> {
    if raw.version.value != 1 {
        return Err(invalid(
            file,
            raw.version.referenced.line(),
            "version",
            format!("unsupported version {}, expected 1", raw.version.value),
        ));
    }
    let class_rank = precedence(&raw.precedence, file)?;
    let emitters = emitter::compile(raw.emitters, &class_rank, file)?;
    if raw.rules.len() > MAX_RULES {
        return Err(invalid(
            file,
            0,
            "rules",
            format!("{} rules, at most {MAX_RULES} allowed", raw.rules.len()),
        ));
    }

    let mut rules = Vec::with_capacity(raw.rules.len());
    let mut reasons: HashMap<String, RuleBits> = HashMap::new();
    // Lower-cased literal → its uses; insertion order kept for stable pattern ids.
    let mut literal_ids: HashMap<String, usize> = HashMap::new();
    let mut literals: Vec<(String, Vec<Target>)> = Vec::new();
    let mut ids: HashMap<String, u64> = HashMap::new();

    for (i, r) in raw.rules.into_iter().enumerate() {
        let idx = i as u16; // i < MAX_RULES
        let line = r.id.referenced.line();
        if r.id.value.trim().is_empty() {
            return Err(invalid(file, line, "id", "empty rule id"));
        }
        if let Some(first) = ids.insert(r.id.value.clone(), line) {
            return Err(invalid(
                file,
                line,
                "id",
                format!("duplicate rule id `{}` (first on line {first})", r.id.value),
            ));
        }
        let class = Class::parse(&r.class.value).ok_or_else(|| {
            invalid(
                file,
                r.class.referenced.line(),
                "class",
                format!("unknown class `{}` in rule `{}`", r.class.value, r.id.value),
            )
        })?;
        let rank = class_rank[Class::ALL.iter().position(|c| *c == class).unwrap_or(0)];
        if rank == u16::MAX {
            return Err(invalid(
                file,
                r.class.referenced.line(),
                "class",
                format!(
                    "class `{}` of rule `{}` is not in `precedence`",
                    r.class.value, r.id.value
                ),
            ));
        }
        if r.reasons.is_empty() && r.fragments.is_empty() && r.prefixes.is_empty() {
            return Err(invalid(
                file,
                line,
                "rules",
                format!(
                    "rule `{}` needs at least one of reasons, fragments, prefixes",
                    r.id.value
                ),
            ));
        }
        let regex = match &r.regex {
            Some(s) => Some(Regex::new(&s.value).map_err(|e| {
                invalid(
                    file,
                    s.referenced.line(),
                    "regex",
                    format!("rule `{}`: {}", r.id.value, invalid_regex(&s.value, &e)),
                )
            })?),
            None => None,
        };
        for reason in &r.reasons {
            reasons.entry(reason.clone()).or_default().set(idx);
        }
        let uses = r
            .fragments
            .iter()
            .map(|f| (f, Role::Fragment))
            .chain(r.prefixes.iter().map(|f| (f, Role::Prefix)))
            .chain(r.unless.iter().map(|f| (f, Role::Unless)));
        for (lit, role) in uses {
            if lit.is_empty() {
                return Err(invalid(
                    file,
                    line,
                    "fragments",
                    format!("rule `{}` has an empty literal", r.id.value),
                ));
            }
            let key = lit.to_ascii_lowercase();
            let p = *literal_ids.entry(key.clone()).or_insert_with(|| {
                literals.push((key, Vec::new()));
                literals.len() - 1
            });
            literals[p].1.push(Target { rule: idx, role });
        }
        let (kinds, controllers) = match r.where_ {
            Some(w) => (w.kinds, w.controllers),
            None => (Vec::new(), Vec::new()),
        };
        rules.push(Rule {
            id: r.id.value,
            class,
            rank,
            regex,
            kinds,
            controllers,
            examples: r
                .examples
                .into_iter()
                .map(ExampleRaw::into_example)
                .collect(),
            counter_examples: r
                .counter_examples
                .into_iter()
                .map(ExampleRaw::into_example)
                .collect(),
            line,
        });
    }

    let mut target_start = Vec::with_capacity(literals.len() + 1);
    let mut targets = Vec::new();
    for (_, uses) in &literals {
        target_start.push(targets.len() as u32);
        targets.extend_from_slice(uses);
    }
    target_start.push(targets.len() as u32);

    let ac = if literals.is_empty() {
        None
    } else {
        // A contiguous NFA: the built-in table's DFA took 3.1 MiB of heap (a tenth of the
        // sidecar's RSS budget) for no measurable gain in classify throughput.
        let built = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(literals.iter().map(|(l, _)| l.as_str()))
            .map_err(|e| ClassifyError::Automaton {
                file: file.to_string(),
                message: e.to_string(),
            })?;
        Some(built)
    };

    Ok(RuleSet {
        rules,
        ac,
        target_start,
        targets,
        reasons,
        emitters,
        class_rank,
    })
}

/// Rank per class (index into `Class::ALL`); `u16::MAX` when not listed.
fn precedence(list: &[Spanned<String>], file: &str) -> Result<Vec<u16>, ClassifyError> {
    let mut rank = vec![u16::MAX; Class::ALL.len()];
    for (i, name) in list.iter().enumerate() {
        let line = name.referenced.line();
        let class = Class::parse(&name.value).ok_or_else(|| {
            invalid(
                file,
                line,
                "precedence",
                format!("unknown class `{}`", name.value),
            )
        })?;
        let slot = &mut rank[Class::ALL.iter().position(|c| *c == class).unwrap_or(0)];
        if *slot != u16::MAX {
            return Err(invalid(
                file,
                line,
                "precedence",
                format!("class `{}` listed twice", name.value),
            ));
        }
        *slot = i as u16;
    }
    Ok(rank)
}

/// The error text of a user's regex that does not compile: the pattern quoted and the
/// reason alone (`invalid regex "team-(a": unclosed group`), without the regex crate's
/// multi-line caret drawing, which a `file:line:` message cannot hold.
pub(crate) fn invalid_regex(pattern: &str, e: &regex::Error) -> String {
    let reason = match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().trim_start_matches("error: ").to_string())
            .unwrap_or_else(|| one_line(s)),
        other => one_line(&other.to_string()),
    };
    format!("invalid regex {pattern:?}: {reason}")
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl ExampleRaw {
    fn into_example(self) -> Example {
        match self {
            ExampleRaw::Msg(msg) => Example {
                msg,
                ..Default::default()
            },
            ExampleRaw::Record(e) => e,
        }
    }
}

impl Example {
    /// The record this example stands for.
    pub fn to_record(&self) -> crate::record::Record {
        use crate::record::{Detail, EventInfo, Format, ObjectRef, Record};
        let mut rec = Record {
            msg: self.msg.clone(),
            error: self.error.clone(),
            reason: self.reason.clone(),
            controller: self.controller.clone(),
            logger: self.logger.clone(),
            level: self.level.as_deref().and_then(Level::from_loose),
            object: self
                .kind
                .as_ref()
                .map(|k| ObjectRef::new(k.clone(), "", "")),
            ..Default::default()
        };
        if let Some(t) = &self.event_type {
            rec.format = Format::K8sEvent;
            rec.detail = Detail::Event(Box::new(EventInfo {
                event_type: Some(t.clone()),
                ..Default::default()
            }));
        }
        rec
    }
}
