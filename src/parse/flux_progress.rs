//! Flux CLI progress output: what `flux reconcile`, `flux check`, `flux bootstrap`,
//! `flux install`, `flux create`, `flux suspend` / `resume` print (flux2 `cmd/flux/log.go`:
//! `►` action, `✚` generate, `◎` waiting, `✔` success, `⚠️` warning, `✗` failure).
//!
//! Owns: the glyph grammar, the object and controller a line names in the CLI's own
//! wording, and [`ProgressState`], the object earlier `►` / `◎` lines named — a `✗` line
//! often names nothing and is a failure of that object (`► annotating Kustomization podinfo
//! in apps namespace`, `◎ waiting for Kustomization reconciliation`, `✗ Kustomization
//! reconciliation failed: …`).
//! Does not own: the meaning of the failure text (the classifier reads `msg`), or which
//! lines reach this parser (the decoder keeps one state per input).
//!
//! Invariant: never panics; every cut is at a boundary a `&str` combinator or `split`
//! found. A line that is not progress output is `NotThisFormat`, and the state is only
//! changed by lines that parse.

use nom::{
    branch::alt,
    bytes::complete::{tag, take_till1, take_while, take_while1},
    character::complete::{char, space1},
    combinator::{map_opt, opt, rest, value},
    IResult, Parser,
};

use super::message::{canonical_kind, controller_for_kind, controller_in_text, CONTROLLERS};
use super::ParseError;
use crate::record::{Format, Level, ObjectRef, Record};

/// Format of progress records. The lead adds `Format::FluxProgress` (`flux_progress`);
/// switch this constant when it lands.
const FORMAT: Format = Format::FluxProgress;

/// The emoji variation selector the CLI prints after `⚠` (`⚠️`).
const VARIATION_SELECTOR: char = '\u{FE0F}';

/// What the `✗` line of `flux check` says when only the CLI is outdated: a hint, not a
/// failure of the cluster.
const NEW_VERSION_HINT: &str = "version is available";

/// The six glyphs of the CLI logger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Glyph {
    Action,
    Generate,
    Waiting,
    Success,
    Warning,
    Failure,
}

impl Glyph {
    fn level(self) -> Level {
        match self {
            Glyph::Warning => Level::Warning,
            Glyph::Failure => Level::Error,
            Glyph::Action | Glyph::Generate | Glyph::Waiting | Glyph::Success => Level::Info,
        }
    }

    /// `►` and `◎` lines name the object the next lines are about.
    fn sets_context(self) -> bool {
        matches!(self, Glyph::Action | Glyph::Waiting)
    }
}

/// What earlier progress lines said, kept by the decoder across lines.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProgressState {
    /// Canonical kind of the last object a `►` / `◎` line named.
    kind: Option<&'static str>,
    /// Its namespace and name, when the line gave them.
    ns_name: Option<(String, String)>,
}

impl ProgressState {
    /// The full object, when kind, namespace and name are known.
    fn object(&self) -> Option<ObjectRef> {
        let kind = self.kind?;
        let (ns, name) = self.ns_name.as_ref()?;
        Some(ObjectRef::new(kind, ns.clone(), name.clone()))
    }
}

/// What one line names.
#[derive(Debug, Default, PartialEq, Eq)]
struct Named<'a> {
    kind: Option<&'static str>,
    ns_name: Option<(&'a str, &'a str)>,
    controller: Option<&'static str>,
}

fn glyph(i: &str) -> IResult<&str, Glyph> {
    alt((
        value(Glyph::Action, char('►')),
        value(Glyph::Generate, char('✚')),
        value(Glyph::Waiting, char('◎')),
        value(Glyph::Success, char('✔')),
        value(Glyph::Warning, char('⚠')),
        value(Glyph::Failure, char('✗')),
    ))
    .parse(i)
}

/// Grammar (the CLI prints `fmt.Fprintln(stderr, glyph, text)`; CI logs indent it):
/// ```text
/// line  = *(SP / HTAB) glyph [U+FE0F] 1*(SP / HTAB) text
/// glyph = "►" / "✚" / "◎" / "✔" / "⚠" / "✗"
/// text  = 1*CHAR          -- trailing spaces trimmed; empty text is refused
/// ```
fn line(i: &str) -> IResult<&str, (Glyph, &str)> {
    let (i, (_, g, _, _, text)) = (
        take_while(|c| c == ' ' || c == '\t'),
        glyph,
        opt(char(VARIATION_SELECTOR)),
        space1,
        rest,
    )
        .parse(i)?;
    Ok((i, (g, text)))
}

fn word(i: &str) -> IResult<&str, &str> {
    take_till1(|c| c == ' ')(i)
}

fn flux_kind(i: &str) -> IResult<&str, &'static str> {
    map_opt(word, canonical_kind).parse(i)
}

/// `annotating Kustomization podinfo in apps namespace` (also `suspending`, `resuming`,
/// `deleting`, with the kind in any case: `suspending kustomization apps in …`).
fn verb_object(i: &str) -> IResult<&str, (&'static str, &str, &str)> {
    let (i, (_, _, kind, _, name, _, ns, _)) = (
        take_while1(|c: char| c.is_ascii_lowercase()),
        char(' '),
        flux_kind,
        char(' '),
        word,
        tag(" in "),
        word,
        tag(" namespace"),
    )
        .parse(i)?;
    Ok((i, (kind, ns, name)))
}

/// `Kind "ns/name"` anywhere (bootstrap: `waiting for Kustomization "flux-system/flux-system"
/// to be reconciled`).
fn quoted_object(text: &str) -> Option<(&'static str, &str, &str)> {
    let words: Vec<&str> = text.split(' ').collect();
    words.windows(2).find_map(|w| {
        let kind = canonical_kind(w[0])?;
        let inner = w[1].strip_prefix('"')?;
        let inner = &inner[..inner.find('"')?];
        let (ns, name) = inner.split_once('/')?;
        (!ns.is_empty() && !name.is_empty() && !name.contains('/')).then_some((kind, ns, name))
    })
}

/// A kind that opens the text (`Kustomization reconciliation failed: …`, `GitRepository
/// annotated`), possibly after `waiting for`.
fn leading_kind(text: &str) -> Option<&'static str> {
    let t = text.strip_prefix("waiting for ").unwrap_or(text);
    let first = t.split([' ', ':']).next()?;
    canonical_kind(first)
}

/// A controller the text names: `flux check` component lines (`source-controller:
/// deployment not ready`) and the image lines under them (`ghcr.io/fluxcd/source-controller:v1.2.3`).
fn named_controller(text: &str) -> Option<&'static str> {
    if let Some((head, _)) = text.split_once(':') {
        if let Some(c) = CONTROLLERS.iter().copied().find(|c| *c == head) {
            return Some(c);
        }
    }
    let image = !text.contains(' ') && text.contains('/');
    image.then(|| controller_in_text(text)).flatten()
}

fn named(text: &str) -> Named<'_> {
    let controller = named_controller(text);
    if let Ok((_, (kind, ns, name))) = verb_object(text) {
        return Named {
            kind: Some(kind),
            ns_name: Some((ns, name)),
            controller,
        };
    }
    if let Some((kind, ns, name)) = quoted_object(text) {
        return Named {
            kind: Some(kind),
            ns_name: Some((ns, name)),
            controller,
        };
    }
    Named {
        kind: leading_kind(text),
        ns_name: None,
        controller,
    }
}

/// Parses one progress line; `st` carries the object named by earlier `►` / `◎` lines.
///
/// Grammar: see [`line`]. A `✗` line is a failure of the object it names, or, when it
/// names none (or only the kind of the context object), of the context object; its `msg`
/// is the failure text, so the classifier classifies it by its words.
pub fn parse(line_text: &str, st: &mut ProgressState) -> Result<Record, ParseError> {
    let (_, (g, text)) = line(line_text).map_err(|_| ParseError::NotThisFormat)?;
    let text = text.trim_end();
    if text.is_empty() {
        return Err(ParseError::NotThisFormat);
    }
    let n = named(text);
    let object = match (n.kind, n.ns_name) {
        (Some(kind), Some((ns, name))) => Some(ObjectRef::new(kind, ns, name)),
        // Only a kind: the context object when it is of that kind.
        (Some(kind), None) => st.object().filter(|o| o.kind == kind),
        (None, _) if n.controller.is_some() => None,
        (None, _) => st.object(),
    };
    let kind = n.kind.or_else(|| {
        // A line naming nothing speaks of the context (kind-only context included).
        (n.controller.is_none()).then_some(st.kind).flatten()
    });
    if g.sets_context() {
        *st = match (n.kind, n.ns_name) {
            (Some(kind), Some((ns, name))) => ProgressState {
                kind: Some(kind),
                ns_name: Some((ns.to_string(), name.to_string())),
            },
            // `◎ waiting for Kustomization reconciliation` keeps the annotated object.
            (Some(kind), None) if st.kind == Some(kind) => st.clone(),
            (Some(kind), None) => ProgressState {
                kind: Some(kind),
                ns_name: None,
            },
            // `► checking controllers`: a new step about no object.
            (None, _) => ProgressState::default(),
        };
    }
    // `flux check` marks an outdated CLI with ✗, but nothing in the cluster failed: a
    // notice, not a warning (the classifier would make any warning a failure class).
    let level = if g == Glyph::Failure && text.contains(NEW_VERSION_HINT) {
        Level::Info
    } else {
        g.level()
    };
    Ok(Record {
        format: FORMAT,
        level: Some(level),
        controller: n
            .controller
            .or_else(|| kind.and_then(controller_for_kind))
            .map(str::to_string),
        object,
        msg: text.to_string(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> Vec<Record> {
        let mut st = ProgressState::default();
        lines
            .iter()
            .map(|l| parse(l, &mut st).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect()
    }

    fn obj(r: &Record) -> Option<String> {
        r.object.as_ref().map(ToString::to_string)
    }

    #[test]
    fn every_glyph_has_its_level() {
        let cases = [
            ("► checking prerequisites", Level::Info),
            ("✚ generating Kustomization", Level::Info),
            ("◎ waiting for Kustomization reconciliation", Level::Info),
            ("✔ Kubernetes 1.28.14 >=1.26.0-0", Level::Info),
            ("⚠️ Multiple deploy keys found", Level::Warning),
            ("⚠ Multiple deploy keys found", Level::Warning),
            ("✗ check failed", Level::Error),
        ];
        for (line, level) in cases {
            let r = run(&[line]).remove(0);
            assert_eq!(r.level, Some(level), "{line}");
            assert_eq!(r.format, FORMAT);
        }
        let r = run(&["⚠️ Multiple deploy keys found"]).remove(0);
        assert_eq!(r.msg, "Multiple deploy keys found");
    }

    #[test]
    fn reconcile_failure_belongs_to_the_annotated_object() {
        // flux reconcile kustomization podinfo -n apps
        let rs = run(&[
            "► annotating Kustomization podinfo in apps namespace",
            "✔ Kustomization annotated",
            "◎ waiting for Kustomization reconciliation",
            "✗ Kustomization reconciliation failed: Health check failed after 5m0s: timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']",
        ]);
        for r in &rs {
            assert_eq!(
                obj(r).as_deref(),
                Some("Kustomization/apps/podinfo"),
                "{}",
                r.msg
            );
            assert_eq!(r.controller.as_deref(), Some("kustomize-controller"));
        }
        let failed = &rs[3];
        assert_eq!(failed.level, Some(Level::Error));
        assert_eq!(
            failed.msg,
            "Kustomization reconciliation failed: Health check failed after 5m0s: timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']"
        );
    }

    #[test]
    fn with_source_switches_context_per_object() {
        // flux reconcile kustomization flux-system --with-source (flux2 v2.x wording)
        let rs = run(&[
            "► annotating GitRepository flux-system in flux-system namespace",
            "✔ GitRepository annotated",
            "◎ waiting for GitRepository reconciliation",
            "✔ fetched revision main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f",
            "► annotating Kustomization apps in flux-system namespace",
            "◎ waiting for Kustomization reconciliation",
            "✔ applied revision main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f",
        ]);
        let want = [
            "GitRepository/flux-system/flux-system",
            "GitRepository/flux-system/flux-system",
            "GitRepository/flux-system/flux-system",
            "GitRepository/flux-system/flux-system",
            "Kustomization/flux-system/apps",
            "Kustomization/flux-system/apps",
            "Kustomization/flux-system/apps",
        ];
        for (r, w) in rs.iter().zip(want) {
            assert_eq!(obj(r).as_deref(), Some(w), "{}", r.msg);
        }
        assert_eq!(rs[3].controller.as_deref(), Some("source-controller"));
        assert_eq!(rs[6].controller.as_deref(), Some("kustomize-controller"));
    }

    #[test]
    fn bootstrap_quoted_objects_and_bare_failures() {
        // flux2#1344 / #4191: the wait gives up with a text that names nothing.
        let rs = run(&[
            "    ► applying sync manifests",
            "    ✔ reconciled sync configuration",
            "    ◎ waiting for Kustomization \"flux-system/flux-system\" to be reconciled",
            "    ✗ client rate limiter Wait returned an error: context deadline exceeded",
            "    ► confirming components are healthy",
            "    ✗ helm-controller: deployment not ready",
            "    ✗ bootstrap failed with 1 health check failure(s)",
        ]);
        assert_eq!(
            obj(&rs[2]).as_deref(),
            Some("Kustomization/flux-system/flux-system")
        );
        assert_eq!(
            obj(&rs[3]).as_deref(),
            Some("Kustomization/flux-system/flux-system")
        );
        assert_eq!(rs[3].level, Some(Level::Error));
        assert_eq!(
            rs[3].msg,
            "client rate limiter Wait returned an error: context deadline exceeded"
        );
        // `► confirming …` starts a step about no object.
        assert_eq!(obj(&rs[5]), None);
        assert_eq!(rs[5].controller.as_deref(), Some("helm-controller"));
        assert_eq!((obj(&rs[6]), rs[6].controller.as_deref()), (None, None));
        assert_eq!(rs[0].object, None);
    }

    #[test]
    fn flux_check_lines_name_controllers() {
        // notification-controller#965 / helm-controller#289
        let rs = run(&[
            "✗ flux 2.2.3 <2.4.0 (new CLI version is available, please upgrade)",
            "✔ Kubernetes 1.28.14 >=1.26.0-0",
            "► checking controllers",
            "✗ source-controller: deployment not ready",
            "► ghcr.io/fluxcd/source-controller:v1.2.3",
            "✔ kustomize-controller: deployment ready",
            "► checking crds",
            "✔ alerts.notification.toolkit.fluxcd.io/v1beta3",
            "✗ check failed",
        ]);
        assert_eq!(rs[0].level, Some(Level::Info));
        assert_eq!(rs[3].controller.as_deref(), Some("source-controller"));
        assert_eq!(rs[3].level, Some(Level::Error));
        assert_eq!(rs[3].msg, "source-controller: deployment not ready");
        assert_eq!(rs[4].controller.as_deref(), Some("source-controller"));
        assert_eq!(rs[5].controller.as_deref(), Some("kustomize-controller"));
        for r in &rs {
            assert_eq!(r.object, None, "{}", r.msg);
        }
        assert_eq!(rs[8].controller, None);
    }

    #[test]
    fn kind_only_context_gives_the_controller_but_no_object() {
        // flux create kustomization (flux2#718): the name is never printed before the failure.
        let rs = run(&[
            "✚ generating Kustomization",
            "► applying Kustomization",
            "✔ Kustomization updated",
            "◎ waiting for Kustomization reconciliation",
            "✗ failed to download artifact from http://source-controller.flux-system.svc.cluster.local./gitrepository/flux-system/flux-system/c1de637b.tar.gz, error: dial tcp 10.0.186.186:80: i/o timeout",
        ]);
        let failed = &rs[4];
        assert_eq!(failed.object, None);
        assert_eq!(failed.controller.as_deref(), Some("kustomize-controller"));
        assert_eq!(failed.level, Some(Level::Error));
    }

    #[test]
    fn lower_case_kinds_and_other_verbs() {
        let rs = run(&[
            "► suspending kustomization apps in flux-system namespace",
            "✔ kustomization suspended",
            "► resuming helmrelease podinfo in podinfo namespace",
            "◎ waiting for HelmRelease reconciliation",
            "✗ HelmRelease reconciliation failed: Helm upgrade failed: another operation (install/upgrade/rollback) is in progress",
        ]);
        assert_eq!(
            obj(&rs[0]).as_deref(),
            Some("Kustomization/flux-system/apps")
        );
        assert_eq!(
            obj(&rs[1]).as_deref(),
            Some("Kustomization/flux-system/apps")
        );
        assert_eq!(obj(&rs[4]).as_deref(), Some("HelmRelease/podinfo/podinfo"));
        assert_eq!(rs[4].controller.as_deref(), Some("helm-controller"));
    }

    #[test]
    fn a_named_kind_other_than_the_context_does_not_borrow_its_name() {
        let rs = run(&[
            "► annotating Kustomization apps in flux-system namespace",
            "✗ HelmRelease reconciliation failed",
        ]);
        assert_eq!(rs[1].object, None);
        assert_eq!(rs[1].controller.as_deref(), Some("helm-controller"));
    }

    #[test]
    fn refused_lines_leave_the_state_alone() {
        let mut st = ProgressState::default();
        parse(
            "► annotating Kustomization apps in flux-system namespace",
            &mut st,
        )
        .unwrap();
        let before = st.clone();
        for l in [
            "",
            "✗",
            "✗   ",
            "►checking",
            "checking prerequisites",
            "2025-01-22T14:07:30.686Z info Kustomization/apps.flux-system - x",
            "{\"level\":\"info\"}",
        ] {
            assert_eq!(parse(l, &mut st), Err(ParseError::NotThisFormat), "{l:?}");
        }
        assert_eq!(st, before);
    }

    #[test]
    fn failure_text_is_classified_by_its_words() {
        use crate::classify::Classifier;
        use crate::record::Class;
        let c = Classifier::builtin();
        let mut rs = run(&[
            "► annotating Kustomization podinfo in apps namespace",
            "◎ waiting for Kustomization reconciliation",
            "✗ Kustomization reconciliation failed: Health check failed after 5m0s: timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']",
            "✗ Kustomization reconciliation failed: dependency 'flux-system/infra' is not ready",
        ]);
        let classes: Vec<Class> = rs
            .iter_mut()
            .map(|r| {
                c.classify(r);
                r.class
            })
            .collect();
        assert_eq!(
            classes,
            [
                Class::InfoOther,
                Class::Progressing,
                Class::HealthCheckFailed,
                Class::DependencyNotReady
            ]
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut st = ProgressState::default();
        let glyphs = [
            "►", "✚", "◎", "✔", "⚠", "⚠️", "✗", "\u{FE0F}", " ", "\t", "\"",
        ];
        let bits = [
            "Kustomization",
            "\"a/",
            "\"/\"",
            "\"ns/name\"",
            "é",
            "🦀",
            "in",
            "namespace",
            ":",
            "source-controller:",
            "ghcr.io/fluxcd/",
            "\u{0}",
            "annotating",
        ];
        // Every short combination of glyphs and fragments, in both orders.
        for g in glyphs {
            for a in bits {
                for b in bits {
                    for l in [
                        format!("{g} {a} {b}"),
                        format!("{g}{a}{b}"),
                        format!("{a} {g} {b}"),
                        format!("{g} annotating {a} {b} in {a} namespace"),
                        format!("{g} waiting for {a} {b}"),
                    ] {
                        let _ = parse(&l, &mut st);
                    }
                }
            }
        }
        let r = parse("✗ 🦀 \u{FE0F} é", &mut st).unwrap();
        assert_eq!(r.level, Some(Level::Error));
    }
}
