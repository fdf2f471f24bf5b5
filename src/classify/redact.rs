//! Secret redaction of every message and field that leaves a record.
//!
//! Owns: the credential shapes fluxsight recognises and their replacement by
//! [`REDACTED`]. Does not own: deciding which fields leave (renderers call this).
//!
//! Invariant: text without a trigger literal is returned `Cow::Borrowed` after one
//! case-insensitive Aho-Corasick scan; regexes run only for the families whose trigger
//! matched, and are compiled once.
//!
//! Recognised: URL credentials (`https://user:token@host`; user-only userinfo too, except
//! for ssh/git URLs where `git@` is a user name, not a secret), `Authorization:` headers,
//! bare `Bearer <token>` / `Basic <base64>`, `password|passwd|token|secret|api_key|apikey|
//! api-key|access_key|AccountKey|SharedAccessKey|subscription-key|sig|amz-signature|
//! amz-credential|client-key-data|private_key` pairs (`=`, `:`, JSON and Python-dict
//! quoting; this covers `X-Api-Key` headers, Azure connection strings, SAS tokens and
//! `Ocp-Apim-Subscription-Key`, AWS `aws_secret_access_key` and presigned-URL
//! `X-Amz-Signature`/`X-Amz-Credential`/`X-Amz-Security-Token`, kubeconfig keys,
//! service-account JSON), PEM private-key blocks, GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`,
//! `ghr_`, `github_pat_`), GitLab `glpat-`, Slack tokens and webhook URLs, Stripe keys
//! (`sk_`/`rk_`/`pk_` + `live_`/`test_`) anywhere in text, AWS access key ids
//! (`AKIA`/`ASIA`), JWTs, age secret keys, Google API keys.
//!
//! A bare (unquoted) value runs to a delimiter; a bracketed value (`[abc]`, Go's
//! `map[X-Api-Key:[abc]]`) is taken whole, and a closing bracket ends a value only when
//! a delimiter or the end follows it. So redaction is idempotent (`[REDACTED]` is
//! recognised as a value and kept) and leaves neither a stray bracket nor a secret's
//! tail after a `]` inside it.
//!
//! Heuristic limit: an unquoted `key: value` pair (colon and space) is redacted only when
//! the value contains a digit or is at least 16 characters long, so prose such as
//! `failed to get token: context deadline exceeded` keeps its meaning. Header names that
//! are never prose (`HEADER_KEYS`: `X-Api-Key`, `Ocp-Apim-Subscription-Key`, the
//! `X-Amz-*` ones) are redacted whatever their value looks like.

use std::borrow::Cow;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::{Captures, Regex};

use crate::record::{Detail, Record};

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Credential families; each has a trigger set and one regex replacement.
#[derive(Clone, Copy)]
enum Family {
    Pem = 0,
    UrlUserinfo,
    SlackWebhook,
    Github,
    Gitlab,
    SlackToken,
    Aws,
    Jwt,
    Age,
    Google,
    Stripe,
    AuthHeader,
    Bearer,
    Basic,
    JsonPair,
    KeyEquals,
    KeyColon,
}

const FAMILIES: usize = 17;

/// Trigger literal → families it enables. Matched ASCII-case-insensitively.
const TRIGGERS: &[(&str, &[Family])] = &[
    ("private key", &[Family::Pem]),
    ("://", &[Family::UrlUserinfo]),
    ("hooks.slack.com/services/", &[Family::SlackWebhook]),
    ("ghp_", &[Family::Github]),
    ("gho_", &[Family::Github]),
    ("ghu_", &[Family::Github]),
    ("ghs_", &[Family::Github]),
    ("ghr_", &[Family::Github]),
    ("github_pat_", &[Family::Github]),
    ("glpat-", &[Family::Gitlab]),
    ("xoxb-", &[Family::SlackToken]),
    ("xoxp-", &[Family::SlackToken]),
    ("xoxa-", &[Family::SlackToken]),
    ("xoxs-", &[Family::SlackToken]),
    ("xoxr-", &[Family::SlackToken]),
    ("xapp-", &[Family::SlackToken]),
    ("akia", &[Family::Aws]),
    ("asia", &[Family::Aws]),
    ("eyj", &[Family::Jwt]),
    ("age-secret-key-1", &[Family::Age]),
    ("aiza", &[Family::Google]),
    ("sk_live_", &[Family::Stripe]),
    ("sk_test_", &[Family::Stripe]),
    ("rk_live_", &[Family::Stripe]),
    ("rk_test_", &[Family::Stripe]),
    ("pk_live_", &[Family::Stripe]),
    ("pk_test_", &[Family::Stripe]),
    ("authorization", &[Family::AuthHeader]),
    ("bearer", &[Family::Bearer]),
    ("basic", &[Family::Basic]),
    (
        "password",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    (
        "passwd",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    (
        "token",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    (
        "secret",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    (
        "api_key",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    (
        "api-key",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    (
        "apikey",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    (
        "access_key",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    (
        "access-key",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    // Azure storage / Service Bus connection strings, SAS tokens.
    (
        "accountkey",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    (
        "sharedaccesskey",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    ("sig=", &[Family::KeyEquals]),
    // Azure API Management `Ocp-Apim-Subscription-Key`.
    (
        "subscription-key",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    // AWS SigV4 presigned URLs and headers (`X-Amz-Security-Token` is a `token`).
    (
        "amz-signature",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    (
        "amz-credential",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    // kubeconfig `client-key-data`, service-account JSON `private_key`.
    (
        "key-data",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
    (
        "private_key",
        &[Family::JsonPair, Family::KeyEquals, Family::KeyColon],
    ),
];

/// Key names whose values are secrets (suffix match: `client_secret`, `access_token`).
const KEY: &str = r"[A-Za-z0-9_.-]*?(?:password|passwd|token|secret|api[_-]?key|apikey|access[_-]?key|accountkey|sharedaccesskey|subscription-key|amz-signature|amz-credential|client-key-data|private_key|sig)";

/// Header names (lower case, suffix match) whose `Name: value` is a credential even
/// when the value looks like a word: they never occur in prose, unlike `token:`.
const HEADER_KEYS: &[&str] = &[
    "x-api-key",
    "subscription-key",
    "amz-signature",
    "amz-credential",
    "amz-security-token",
];

/// An unquoted value: value characters or whole bracketed groups, and closing brackets
/// only between them. `token=abc]def` is one value (no tail left); in `map[token:abc]`
/// the `]` closes the map; `[REDACTED]` and `[abc]` are one value each (no stray `]`).
const BARE: &str =
    r#"(?:\[[^\]\s]*\]|[^\s"',;&}\])])+(?:[\])}]+(?:\[[^\]\s]*\]|[^\s"',;&}\])])+)*"#;

/// URL schemes whose user-only userinfo is an account name, not a credential.
const USER_NAME_SCHEMES: &[&str] = &["ssh", "git", "git+ssh", "ssh+git", "sftp"];

struct Redactor {
    triggers: AhoCorasick,
    /// Per trigger pattern: bitmask of families.
    masks: Vec<u32>,
    regexes: Vec<Regex>,
}

fn redactor() -> &'static Redactor {
    static R: OnceLock<Redactor> = OnceLock::new();
    R.get_or_init(|| {
        let triggers = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(TRIGGERS.iter().map(|(t, _)| *t))
            .expect("static trigger set builds");
        let masks = TRIGGERS
            .iter()
            .map(|(_, fams)| fams.iter().fold(0u32, |m, f| m | 1 << (*f as u32)))
            .collect();
        let src: [String; FAMILIES] = [
            r"(?s)-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)".into(),
            r"(?i)\b([a-z][a-z0-9+.-]*)://([^\s/@:]+)(:[^\s/@]*)?@".into(),
            r"(?i)(hooks\.slack\.com/services/)[A-Za-z0-9_/-]+".into(),
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})".into(),
            r"\bglpat-[A-Za-z0-9_-]{16,}".into(),
            r"\bx(?:ox[abposr]|app)-[A-Za-z0-9-]{8,}".into(),
            r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b".into(),
            r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*".into(),
            r"\bAGE-SECRET-KEY-1[0-9A-Z]{20,}".into(),
            r"\bAIza[0-9A-Za-z_-]{30,}".into(),
            r"\b[spr]k_(?:live|test)_[0-9A-Za-z]{8,}".into(),
            // 2: already redacted; 3: `[` of Go's `map[Authorization:[Bearer x]]`;
            // 4: scheme; 5: credential (a `]` ends it unless more credential follows).
            r#"(?i)(authorization\s*[:=]\s*"?)(?:(\[REDACTED\])|(\[)?(?:(bearer|basic|token|bot|digest)\s+)?(\[REDACTED\]|[^\s",;\]]+(?:\]+[^\s",;\]]+)*))"#.into(),
            r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/-]{16,}=*".into(),
            r"(?i)\b(basic)\s+([A-Za-z0-9+/]{12,}={0,2})".into(),
            format!(r#"(?i)(\\?["']{KEY}\\?["']\s*:\s*)(\\?"(?:[^"\\]|\\[^"])*\\?"|'(?:[^'\\]|\\.)*'|{BARE})"#),
            format!(r#"(?i)\b({KEY}\s*=\s*)("[^"]*"|'[^']*'|{BARE})"#),
            format!(r#"(?i)\b({KEY}\s*:\s*)("[^"]*"|'[^']*'|{BARE})"#),
        ];
        let regexes = src
            .iter()
            .map(|s| Regex::new(s).expect("static redaction regex compiles"))
            .collect();
        Redactor {
            triggers,
            masks,
            regexes,
        }
    })
}

/// Replaces credentials in `s` with `[REDACTED]`.
pub fn redact(s: &str) -> Cow<'_, str> {
    let r = redactor();
    let mut mask = 0u32;
    for m in r.triggers.find_overlapping_iter(s) {
        mask |= r.masks[m.pattern().as_usize()];
    }
    if mask == 0 {
        return Cow::Borrowed(s);
    }
    let mut out = Cow::Borrowed(s);
    for f in 0..FAMILIES {
        if mask & (1 << f) == 0 {
            continue;
        }
        let re = &r.regexes[f];
        let replaced = match re.replace_all(&out, |c: &Captures<'_>| replacement(f, c)) {
            Cow::Borrowed(_) => None,
            Cow::Owned(o) => Some(o),
        };
        if let Some(o) = replaced {
            out = Cow::Owned(o);
        }
    }
    // Families that found a trigger but no secret leave the text as it was.
    match out {
        Cow::Owned(o) if o == s => Cow::Borrowed(s),
        other => other,
    }
}

fn replacement(family: usize, c: &Captures<'_>) -> String {
    let whole = || c[0].to_string();
    let g = |i: usize| c.get(i).map_or("", |m| m.as_str());
    match family {
        f if f == Family::UrlUserinfo as usize => {
            let scheme = g(1).to_ascii_lowercase();
            let has_password = c.get(3).is_some();
            if !has_password && USER_NAME_SCHEMES.contains(&scheme.as_str()) {
                return whole();
            }
            format!("{}://{REDACTED}@", g(1))
        }
        f if f == Family::SlackWebhook as usize => format!("{}{REDACTED}", g(1)),
        f if f == Family::AuthHeader as usize => {
            if c.get(2).is_some() || is_redacted(g(5)) {
                return whole();
            }
            match c.get(4) {
                Some(scheme) => format!("{}{}{} {REDACTED}", g(1), g(3), scheme.as_str()),
                None => format!("{}{}{REDACTED}", g(1), g(3)),
            }
        }
        f if f == Family::Bearer as usize => format!("{} {REDACTED}", g(1)),
        f if f == Family::Basic as usize => {
            let v = g(2);
            if v.bytes()
                .any(|b| b.is_ascii_digit() || b == b'=' || b == b'+' || b == b'/')
            {
                format!("{} {REDACTED}", g(1))
            } else {
                whole()
            }
        }
        f if f == Family::JsonPair as usize => {
            let v = g(2);
            if v.contains(REDACTED) {
                return whole();
            }
            let q = if v.starts_with("\\\"") {
                "\\\""
            } else if v.starts_with('"') {
                "\""
            } else if v.starts_with('\'') {
                "'"
            } else {
                ""
            };
            format!("{}{q}{REDACTED}{q}", g(1))
        }
        f if f == Family::KeyEquals as usize => {
            if is_redacted(g(2)) {
                return whole();
            }
            format!("{}{REDACTED}", g(1))
        }
        f if f == Family::KeyColon as usize => {
            let v = g(2);
            let quoted = v.starts_with('"') || v.starts_with('\'');
            let looks_secret = quoted || v.bytes().any(|b| b.is_ascii_digit()) || v.len() >= 16;
            // `key:value` without a space is a pair; `key: word` is usually prose.
            let tight = !g(1).ends_with(char::is_whitespace);
            if is_redacted(v) || v.starts_with("//") || !(looks_secret || tight || is_header(g(1)))
            {
                return whole();
            }
            format!("{}{REDACTED}", g(1))
        }
        _ => REDACTED.to_string(),
    }
}

/// Whether a matched value is an earlier redaction: `[REDACTED]`, or it inside a
/// bracketed list (`[[REDACTED]` of Go's `map[X-Api-Key:[[REDACTED]]]` after the Stripe
/// family ran). Replacing it again would leave its closing bracket behind.
fn is_redacted(v: &str) -> bool {
    let inner = &REDACTED[1..REDACTED.len() - 1];
    v.trim_start_matches('[').trim_end_matches(']') == inner && v.contains(REDACTED)
}

/// Whether the `Name:` prefix of a KeyColon match names a [`HEADER_KEYS`] header.
fn is_header(prefix: &str) -> bool {
    let name = prefix.trim_end_matches(|c: char| c == ':' || c.is_whitespace());
    HEADER_KEYS.iter().any(|h| {
        name.len() >= h.len()
            && name.as_bytes()[name.len() - h.len()..].eq_ignore_ascii_case(h.as_bytes())
    })
}

fn redact_in_place(s: &mut String) {
    if let Cow::Owned(o) = redact(s) {
        *s = o;
    }
}

/// Redacts msg, error, revision, reason, extra fields and detail strings in place.
pub fn redact_record(rec: &mut Record) {
    redact_in_place(&mut rec.msg);
    for s in [&mut rec.error, &mut rec.revision, &mut rec.reason]
        .into_iter()
        .flatten()
    {
        redact_in_place(s);
    }
    for (_, v) in &mut rec.fields {
        redact_in_place(v);
    }
    match &mut rec.detail {
        Detail::Event(e) => {
            for (_, v) in &mut e.metadata {
                redact_in_place(v);
            }
        }
        Detail::Object(o) => {
            for c in &mut o.conditions {
                redact_in_place(&mut c.message);
            }
            if let Some(u) = &mut o.url {
                redact_in_place(u);
            }
        }
        Detail::None | Detail::Pod(_) | Detail::Metric(_) => {}
    }
}

#[cfg(test)]
mod tests;
