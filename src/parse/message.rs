//! Facts inside message text and names: durations, revisions, object references,
//! controller names.
//!
//! Owns: the table of Flux kinds and controllers ([`controller_for_kind`],
//! [`canonical_kind`]), pod/file-name → controller mapping, and [`enrich`], which fills
//! typed record fields a parser left empty from the `msg` and `error` text. Does not own:
//! format detection or field extraction from structured keys (see `zap`).
//!
//! Invariant: [`enrich`] only fills fields that are still `None`; what a parser read from a
//! structured key always wins over what the text suggests. Every function is total: no
//! panics, no slicing off UTF-8 character boundaries (all cuts are at ASCII bytes found by
//! `find`).

use crate::parse::time::parse_go_duration_ms;
use crate::record::{ObjectRef, Record};

pub const SOURCE_CONTROLLER: &str = "source-controller";
pub const KUSTOMIZE_CONTROLLER: &str = "kustomize-controller";
pub const HELM_CONTROLLER: &str = "helm-controller";
pub const NOTIFICATION_CONTROLLER: &str = "notification-controller";
pub const IMAGE_REFLECTOR_CONTROLLER: &str = "image-reflector-controller";
pub const IMAGE_AUTOMATION_CONTROLLER: &str = "image-automation-controller";
/// Flux ≥ 2.7 `ArtifactGenerator` controller.
pub const SOURCE_WATCHER: &str = "source-watcher";

/// Every Flux controller deployment name.
pub const CONTROLLERS: &[&str] = &[
    SOURCE_CONTROLLER,
    KUSTOMIZE_CONTROLLER,
    HELM_CONTROLLER,
    NOTIFICATION_CONTROLLER,
    IMAGE_REFLECTOR_CONTROLLER,
    IMAGE_AUTOMATION_CONTROLLER,
    SOURCE_WATCHER,
];

/// Flux kinds: (lower-case, canonical, controller).
const KINDS: &[(&str, &str, &str)] = &[
    ("gitrepository", "GitRepository", SOURCE_CONTROLLER),
    ("ocirepository", "OCIRepository", SOURCE_CONTROLLER),
    ("helmrepository", "HelmRepository", SOURCE_CONTROLLER),
    ("helmchart", "HelmChart", SOURCE_CONTROLLER),
    ("bucket", "Bucket", SOURCE_CONTROLLER),
    ("kustomization", "Kustomization", KUSTOMIZE_CONTROLLER),
    ("helmrelease", "HelmRelease", HELM_CONTROLLER),
    ("alert", "Alert", NOTIFICATION_CONTROLLER),
    ("provider", "Provider", NOTIFICATION_CONTROLLER),
    ("receiver", "Receiver", NOTIFICATION_CONTROLLER),
    (
        "imagerepository",
        "ImageRepository",
        IMAGE_REFLECTOR_CONTROLLER,
    ),
    ("imagepolicy", "ImagePolicy", IMAGE_REFLECTOR_CONTROLLER),
    (
        "imageupdateautomation",
        "ImageUpdateAutomation",
        IMAGE_AUTOMATION_CONTROLLER,
    ),
    ("artifactgenerator", "ArtifactGenerator", SOURCE_WATCHER),
];

fn kind_entry(kind: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    let k = kind.trim();
    KINDS
        .iter()
        .find(|(lower, _, _)| k.eq_ignore_ascii_case(lower))
}

/// The controller that reconciles a Flux kind, case-insensitive (`gitrepository`,
/// `GitRepository` → `source-controller`).
pub fn controller_for_kind(kind: &str) -> Option<&'static str> {
    kind_entry(kind).map(|e| e.2)
}

/// The canonical spelling of a Flux kind (`gitRepository`, `helmrelease` →
/// `GitRepository`, `HelmRelease`).
pub fn canonical_kind(kind: &str) -> Option<&'static str> {
    kind_entry(kind).map(|e| e.1)
}

/// The Flux kind named by a logger (`controller.gitrepository`, `controllers.GitRepository`).
pub fn kind_for_logger(logger: &str) -> Option<&'static str> {
    let rest = logger
        .strip_prefix("controllers.")
        .or_else(|| logger.strip_prefix("controller."))?;
    canonical_kind(rest)
}

/// `source-controller-7d9f8c6b5-x2x7k` (Deployment) or `source-controller-0`
/// (StatefulSet) → `source-controller`. Only known Flux controller names are returned.
pub fn controller_from_pod(pod: &str) -> Option<&'static str> {
    let pod = pod.trim();
    CONTROLLERS
        .iter()
        .copied()
        .filter(|c| {
            pod.strip_prefix(c)
                .is_some_and(|rest| rest.is_empty() || rest.len() > 1 && rest.starts_with('-'))
        })
        .max_by_key(|c| c.len())
}

/// The first Flux controller name found in `s` (file names, logger names, lease names).
pub fn controller_in_text(s: &str) -> Option<&'static str> {
    CONTROLLERS
        .iter()
        .filter_map(|c| s.find(c).map(|pos| (pos, *c)))
        .min_by_key(|(pos, c)| (*pos, usize::MAX - c.len()))
        .map(|(_, c)| c)
}

/// Fills typed fields a parser left empty from the message and error text.
pub fn enrich(rec: &mut Record) {
    let msg = rec.msg.as_str();
    let err = rec.error.as_deref().unwrap_or("");
    let texts = [msg, err];
    // One pass of a literal automaton per text tells which phrases occur at all; only
    // those are searched for again (most lines contain none).
    let hits = [phrase_hits(msg), phrase_hits(err)];
    if rec.duration_ms.is_none() {
        rec.duration_ms = find_duration(&texts, &hits, DURATION_PHRASES);
    }
    if rec.interval_ms.is_none() {
        rec.interval_ms = find_duration(&texts, &hits, INTERVAL_PHRASES);
    }
    if rec.revision.is_none() {
        rec.revision = texts
            .iter()
            .zip(hits)
            .find_map(|(t, h)| find_revision(t, h));
    }
    let mut inferred_controller = None;
    if rec.object.is_none() {
        if let Some((obj, ctrl)) = texts.iter().find_map(|t| find_object(t)) {
            inferred_controller = ctrl;
            rec.object = Some(obj);
        }
    }
    if rec.controller.is_none() {
        let from_obj = rec
            .object
            .as_ref()
            .and_then(|o| controller_for_kind(&o.kind));
        let from_logger = rec
            .logger
            .as_deref()
            .and_then(kind_for_logger)
            .and_then(controller_for_kind);
        let from_lease = lease_controller(&rec.msg);
        rec.controller = inferred_controller
            .or(from_obj)
            .or(from_logger)
            .or(from_lease)
            .map(str::to_string);
    }
}

/// Phrases followed by the reconcile duration.
const DURATION_PHRASES: &[&str] = &[
    "Reconciliation finished in ",
    "reconciliation finished in ",
    "Reconciliation failed after ",
    "reconciliation failed after ",
    "Health check passed in ",
    "health check failed after ",
];

/// Phrases followed by the next run / retry interval.
const INTERVAL_PHRASES: &[&str] = &[
    "next run in ",
    "next try in ",
    "retrying in ",
    "Retrying in ",
    "next scan in ",
    "retrying after ",
    "requeueing after ",
];

/// Every phrase [`enrich`] looks for, in one automaton; bit `i` of [`phrase_hits`] is
/// `ALL_PHRASES[i]`.
const ALL_PHRASE_LISTS: &[&[&str]] = &[
    DURATION_PHRASES,
    INTERVAL_PHRASES,
    QUOTED_REVISION_PHRASES,
    BARE_REVISION_PHRASES,
];

fn phrase_automaton() -> &'static (aho_corasick::AhoCorasick, Vec<&'static str>) {
    static AC: std::sync::OnceLock<(aho_corasick::AhoCorasick, Vec<&'static str>)> =
        std::sync::OnceLock::new();
    AC.get_or_init(|| {
        let all: Vec<&'static str> = ALL_PHRASE_LISTS
            .iter()
            .flat_map(|l| l.iter().copied())
            .collect();
        assert!(all.len() <= 64, "phrase bitmask holds 64 phrases");
        let ac = aho_corasick::AhoCorasick::new(&all).expect("literal phrases build");
        (ac, all)
    })
}

/// Bitmask of the phrases that occur in `t`.
fn phrase_hits(t: &str) -> u64 {
    if t.is_empty() {
        return 0;
    }
    let (ac, _) = phrase_automaton();
    ac.find_overlapping_iter(t)
        .fold(0, |m, h| m | 1 << h.pattern().as_usize())
}

/// Bits of `hits` that belong to `list` (one of [`ALL_PHRASE_LISTS`]), from bit 0.
fn hits_of(hits: u64, list: &[&str]) -> u64 {
    let mut base = 0;
    for l in ALL_PHRASE_LISTS {
        if std::ptr::eq(*l, list) {
            return hits >> base;
        }
        base += l.len();
    }
    0
}

fn find_duration(texts: &[&str], hits: &[u64], phrases: &[&str]) -> Option<u64> {
    texts.iter().zip(hits).find_map(|(t, h)| {
        if *h == 0 {
            return None;
        }
        let h = hits_of(*h, phrases);
        phrases.iter().enumerate().find_map(|(i, p)| {
            if h & (1 << i) == 0 {
                return None;
            }
            let rest = after(t, p)?;
            parse_go_duration_ms(duration_token(rest))
        })
    })
}

/// The text after the first occurrence of `needle`.
fn after<'a>(hay: &'a str, needle: &str) -> Option<&'a str> {
    hay.find(needle).and_then(|i| hay.get(i + needle.len()..))
}

/// The Go duration at the start of `s` (`10m0s, next…` → `10m0s`).
fn duration_token(s: &str) -> &str {
    let end = s
        .find(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == ')' || c == '\'')
        .unwrap_or(s.len());
    s.get(..end).unwrap_or("").trim_end_matches('.')
}

/// Phrases followed by a quoted revision.
const QUOTED_REVISION_PHRASES: &[&str] = &["revision '", "revision: '"];
/// Phrases followed by a bare revision token.
const BARE_REVISION_PHRASES: &[&str] = &["Applied revision: ", "for revision "];

fn find_revision(t: &str, hits: u64) -> Option<String> {
    let quoted = hits_of(hits, QUOTED_REVISION_PHRASES);
    for (i, p) in QUOTED_REVISION_PHRASES.iter().enumerate() {
        if quoted & (1 << i) == 0 {
            continue;
        }
        if let Some(rest) = after(t, p) {
            if let Some(end) = rest.find('\'') {
                let v = rest.get(..end).unwrap_or("").trim();
                if !v.is_empty() {
                    return Some(v.to_string());
                }
            }
        }
    }
    let bare = hits_of(hits, BARE_REVISION_PHRASES);
    for (i, p) in BARE_REVISION_PHRASES.iter().enumerate() {
        if bare & (1 << i) == 0 {
            continue;
        }
        if let Some(rest) = after(t, p) {
            let end = rest
                .find(|c: char| {
                    c.is_whitespace()
                        || matches!(c, '\'' | '"' | '`' | '\\' | '(' | ')' | '[' | ']')
                })
                .unwrap_or(rest.len());
            let v = trim_token(rest.get(..end).unwrap_or(""));
            if !v.is_empty() {
                return Some(v.to_string());
            }
        }
    }
    tokens(t)
        .find(|tok| is_revision_token(tok))
        .map(str::to_string)
}

/// Whitespace/quote separated words with surrounding punctuation removed.
fn tokens(t: &str) -> impl Iterator<Item = &str> {
    t.split(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '(' | ')' | '[' | ']'))
        .map(trim_token)
        .filter(|s| !s.is_empty())
}

fn trim_token(s: &str) -> &str {
    s.trim_matches(|c: char| matches!(c, '\'' | '"' | '`' | '(' | ')' | '[' | ']' | '{' | '}'))
        .trim_end_matches(['.', ',', ';', ':'])
}

const DIGEST_ALGOS: &[&str] = &["sha1:", "sha256:", "sha384:", "sha512:", "blake3:"];

fn is_hex(s: &str, min: usize) -> bool {
    s.len() >= min
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// `ref@sha1:<hex>`, `sha256:<hex>` or legacy `ref/<40|64 hex>`; image references
/// (`ghcr.io/org/app@sha256:…`) and URLs are not revisions.
pub fn is_revision_token(tok: &str) -> bool {
    // Shortest forms: `sha1:` + 7 hex (12 bytes) and `r/` + 40 hex; both need `:` or `/`.
    if tok.len() < 12 || memchr::memchr2(b':', b'/', tok.as_bytes()).is_none() {
        return false;
    }
    let (reference, digest) = match tok.rfind('@') {
        Some(i) => (tok.get(..i).unwrap_or(""), tok.get(i + 1..).unwrap_or("")),
        None => ("", tok),
    };
    // A registry host (`ghcr.io/…`) or URL scheme in the reference means an image or link.
    let ref_ok = |r: &str| {
        let host_like = r.contains('/') && r.split('/').next().unwrap_or("").contains('.');
        !r.contains(':') && !r.contains('@') && !host_like
    };
    if let Some(hex) = DIGEST_ALGOS.iter().find_map(|a| digest.strip_prefix(a)) {
        return is_hex(hex, 7) && (reference.is_empty() || ref_ok(reference));
    }
    if tok.contains('@') {
        return false;
    }
    match tok.rfind('/') {
        Some(i) => {
            let (r, hex) = (tok.get(..i).unwrap_or(""), tok.get(i + 1..).unwrap_or(""));
            (hex.len() == 40 || hex.len() == 64) && is_hex(hex, 40) && !r.is_empty() && ref_ok(r)
        }
        None => false,
    }
}

/// SSA verbs/phrases that follow a `Kind/ns/name` applied by kustomize-controller.
const SSA_FOLLOWERS: &[&str] = &[
    "created",
    "configured",
    "unchanged",
    "deleted",
    "dry-run failed",
    "apply failed",
    "immutable field detected",
    "namespace not specified",
    "not found",
    "is SOPS encrypted",
    "failed to migrate",
    "metadata.managedFields",
];

/// An object reference in text, and the controller that text implies when it is not the
/// kind's own controller (ssa lines and `Source '…' not found` come from
/// kustomize-controller).
fn find_object(t: &str) -> Option<(ObjectRef, Option<&'static str>)> {
    if let Some(found) = find_kind_ns_name(t) {
        return Some(found);
    }
    find_kind_quoted_ns_name(t)
}

fn is_kind_word(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_uppercase()) && b.all(|c| c.is_ascii_alphanumeric())
}

fn is_k8s_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
}

/// `Kind/namespace/name` as in ssa change sets and `Source '…' not found`.
fn find_kind_ns_name(t: &str) -> Option<(ObjectRef, Option<&'static str>)> {
    let mut offset = 0;
    for raw in t.split(char::is_whitespace) {
        let start = offset;
        offset += raw.len() + 1;
        let tok = trim_token(raw);
        let mut parts = tok.split('/');
        let (Some(kind), Some(ns), Some(name), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if !(is_kind_word(kind) && is_k8s_name(ns) && is_k8s_name(name)) {
            continue;
        }
        let before = t.get(..start).unwrap_or("");
        let following = t.get(offset.min(t.len())..).unwrap_or("").trim_start();
        let ctrl = if before.ends_with("Source '")
            || SSA_FOLLOWERS.iter().any(|f| following.starts_with(f))
        {
            Some(KUSTOMIZE_CONTROLLER)
        } else {
            None
        };
        return Some((ObjectRef::new(kind, ns, name), ctrl));
    }
    None
}

/// `HelmChart 'ns/name'`, `HelmRelease 'ns/name'` and the like (Flux kinds only).
fn find_kind_quoted_ns_name(t: &str) -> Option<(ObjectRef, Option<&'static str>)> {
    let mut rest = t;
    while let Some(i) = rest.find(" '") {
        let word_start = rest
            .get(..i)
            .and_then(|b| b.rfind(|c: char| !c.is_ascii_alphanumeric()).map(|j| j + 1))
            .unwrap_or(0);
        let word = rest.get(word_start..i).unwrap_or("");
        let quoted = rest.get(i + 2..).unwrap_or("");
        if let (Some(kind), Some(end)) = (canonical_kind(word), quoted.find('\'')) {
            if let Some((ns, name)) = quoted.get(..end).and_then(|q| q.split_once('/')) {
                if is_k8s_name(ns) && is_k8s_name(name) {
                    return Some((ObjectRef::new(kind, ns, name), None));
                }
            }
        }
        rest = rest.get(i + 2..).unwrap_or("");
    }
    None
}

/// Leader-election messages name the controller in the lease:
/// `…lease flux-system/source-controller-leader-election`.
fn lease_controller(msg: &str) -> Option<&'static str> {
    if !msg.contains("-leader-election") {
        return None;
    }
    let tok = tokens(msg).find(|t| t.contains("-leader-election"))?;
    let name = tok.rsplit('/').next().unwrap_or(tok);
    controller_from_pod(name.split("-leader-election").next().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enriched(msg: &str, err: Option<&str>) -> Record {
        let mut r = Record {
            msg: msg.to_string(),
            error: err.map(str::to_string),
            ..Default::default()
        };
        enrich(&mut r);
        r
    }

    #[test]
    fn kinds_and_controllers() {
        assert_eq!(
            controller_for_kind("GitRepository"),
            Some(SOURCE_CONTROLLER)
        );
        assert_eq!(
            controller_for_kind("gitrepository"),
            Some(SOURCE_CONTROLLER)
        );
        assert_eq!(controller_for_kind("HelmRelease"), Some(HELM_CONTROLLER));
        assert_eq!(
            controller_for_kind("provider"),
            Some(NOTIFICATION_CONTROLLER)
        );
        assert_eq!(
            controller_for_kind("ImagePolicy"),
            Some(IMAGE_REFLECTOR_CONTROLLER)
        );
        assert_eq!(
            controller_for_kind("imageupdateautomation"),
            Some(IMAGE_AUTOMATION_CONTROLLER)
        );
        assert_eq!(controller_for_kind("Deployment"), None);
        assert_eq!(canonical_kind("gitRepository"), Some("GitRepository"));
        assert_eq!(canonical_kind("ociRepository"), Some("OCIRepository"));
        assert_eq!(
            kind_for_logger("controller.kustomization"),
            Some("Kustomization")
        );
        assert_eq!(
            kind_for_logger("controllers.GitRepository"),
            Some("GitRepository")
        );
        assert_eq!(kind_for_logger("setup"), None);
    }

    #[test]
    fn pods_and_files() {
        assert_eq!(
            controller_from_pod("source-controller-7d9f8c6b5-x2x7k"),
            Some(SOURCE_CONTROLLER)
        );
        assert_eq!(
            controller_from_pod("helm-controller-0"),
            Some(HELM_CONTROLLER)
        );
        assert_eq!(
            controller_from_pod("kustomize-controller"),
            Some(KUSTOMIZE_CONTROLLER)
        );
        assert_eq!(controller_from_pod("source-controllerx-1"), None);
        assert_eq!(controller_from_pod("podinfo-7d9f8c6b5-x2x7k"), None);
        assert_eq!(controller_from_pod(""), None);
        assert_eq!(
            controller_in_text("kustomize-controller-6c9b8d7f5-abcde_flux-system_manager.log"),
            Some(KUSTOMIZE_CONTROLLER)
        );
        assert_eq!(
            controller_in_text("logs/source-controller.log"),
            Some(SOURCE_CONTROLLER)
        );
        assert_eq!(controller_in_text("app.log"), None);
    }

    #[test]
    fn durations_and_intervals() {
        let r = enriched("Reconciliation finished in 1.25s, next run in 10m0s", None);
        assert_eq!((r.duration_ms, r.interval_ms), (Some(1250), Some(600_000)));
        let r = enriched(
            "Reconciliation failed after 67.047568ms, next try in 1m0s",
            None,
        );
        assert_eq!((r.duration_ms, r.interval_ms), (Some(67), Some(60_000)));
        let r = enriched("reconciliation finished in 2s, next run in 5m0s", None);
        assert_eq!((r.duration_ms, r.interval_ms), (Some(2000), Some(300_000)));
        let r = enriched("Health check passed in 12.5s", None);
        assert_eq!(r.duration_ms, Some(12_500));
        let r = enriched(
            "Dependencies do not meet ready condition, retrying in 30s",
            None,
        );
        assert_eq!(r.interval_ms, Some(30_000));
        let r = enriched("no new tags found, next scan in 5m0s", None);
        assert_eq!(r.interval_ms, Some(300_000));
        let r = enriched("Source artifact not found, Retrying in 30s.", None);
        assert_eq!(r.interval_ms, Some(30_000));
        let r = enriched("next run in never", None);
        assert_eq!(r.interval_ms, None);
    }

    #[test]
    fn revisions() {
        let sha = "1eabc9a41ca088515cab83f1cce49eb43e84b67f";
        let cases = [
            (
                format!(
                    "no changes since last reconciliation: observed revision 'main@sha1:{sha}'"
                ),
                format!("main@sha1:{sha}"),
            ),
            (
                format!("stored artifact for revision 'main/{sha}'"),
                format!("main/{sha}"),
            ),
            (
                format!("Applied revision: main@sha1:{sha}"),
                format!("main@sha1:{sha}"),
            ),
            (
                format!("building artifact: new upstream revision 'v1.2.0@sha1:{sha}'"),
                format!("v1.2.0@sha1:{sha}"),
            ),
            (
                format!("artifact up-to-date with remote revision: '6.5.0@sha256:{sha}{sha}'"),
                format!("6.5.0@sha256:{sha}{sha}"),
            ),
            (
                format!("something about refs/heads/main@sha1:{sha}, ok"),
                format!("refs/heads/main@sha1:{sha}"),
            ),
            (format!("digest sha256:{sha}"), format!("sha256:{sha}")),
            (format!("legacy main/{sha}."), format!("main/{sha}")),
        ];
        for (msg, want) in cases {
            assert_eq!(
                enriched(&msg, None).revision.as_deref(),
                Some(want.as_str()),
                "{msg}"
            );
        }
        for msg in [
            format!("pulled ghcr.io/org/app@sha256:{sha}"),
            format!("see https://github.com/org/repo/commit/{sha}"),
            "main/abc".to_string(),
        ] {
            assert_eq!(enriched(&msg, None).revision, None, "{msg}");
        }
    }

    #[test]
    fn objects() {
        let r = enriched("Source 'GitRepository/flux-system/podinfo' not found", None);
        let o = r.object.unwrap();
        assert_eq!(
            (o.kind.as_str(), o.namespace.as_str(), o.name.as_str()),
            ("GitRepository", "flux-system", "podinfo")
        );
        assert_eq!(r.controller.as_deref(), Some(KUSTOMIZE_CONTROLLER));

        let r = enriched(
            "Deployment/apps/podinfo dry-run failed (Invalid): spec is bad",
            None,
        );
        assert_eq!(r.object.unwrap().to_string(), "Deployment/apps/podinfo");
        assert_eq!(r.controller.as_deref(), Some(KUSTOMIZE_CONTROLLER));

        let r = enriched("HelmChart 'flux-system/podinfo-podinfo' is not ready", None);
        assert_eq!(
            r.object.unwrap().to_string(),
            "HelmChart/flux-system/podinfo-podinfo"
        );
        assert_eq!(r.controller.as_deref(), Some(SOURCE_CONTROLLER));

        let r = enriched("failed: TCP/IP/Thing and https://a/b/c", None);
        assert_eq!(r.object, None);
        assert_eq!(r.controller, None);
    }

    #[test]
    fn parser_facts_win() {
        let mut r = Record {
            msg: "Reconciliation finished in 1s, next run in 1m0s".into(),
            revision: Some("keep".into()),
            duration_ms: Some(5),
            controller: Some("x".into()),
            ..Default::default()
        };
        enrich(&mut r);
        assert_eq!(r.revision.as_deref(), Some("keep"));
        assert_eq!(r.duration_ms, Some(5));
        assert_eq!(r.interval_ms, Some(60_000));
        assert_eq!(r.controller.as_deref(), Some("x"));
    }

    #[test]
    fn controller_from_logger_and_lease() {
        let mut r = Record {
            logger: Some("controller.helmrelease".into()),
            ..Default::default()
        };
        enrich(&mut r);
        assert_eq!(r.controller.as_deref(), Some(HELM_CONTROLLER));
        let r = enriched(
            "attempting to acquire leader lease flux-system/source-controller-leader-election...",
            None,
        );
        assert_eq!(r.controller.as_deref(), Some(SOURCE_CONTROLLER));
    }

    #[test]
    fn never_panics_on_odd_text() {
        for s in [
            "",
            "'",
            "revision '",
            "Applied revision: ",
            "é' 'ü/ä/ö",
            "Kind 'a/",
            " '",
            "next run in é",
        ] {
            let _ = enriched(s, Some(s));
        }
    }
}
