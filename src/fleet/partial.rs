//! Partials: what stage 1 of `fluxsight central` publishes for stage 2 (docs/fleet.md
//! "Stage 2"), on `fluxsight.fleet-partials.v1`, keyed by a **fleet key**.
//!
//! Owns: the versioned wire schema [`PARTIAL_SCHEMA`] ([`Partial`]: a cluster's status
//! for a fleet key, a cluster's use of a fleet key, a watermark tick), its encoding and
//! decoding, and the fleet keys ([`FleetKey`]) with their normalisation (source URLs
//! lowercased without user-info, port, `.git` or the ssh/https difference). Does not own
//! which findings map to which keys (`fleet::derive`) nor what stage 2 concludes
//! (`fleet::FleetCorrelator`).
//!
//! Invariants:
//! - **Idempotent upserts.** A status or inventory partial says "cluster *c* has status
//!   *s* for key *k* as of event time *t*": applying it twice, or an older one after a
//!   newer one, changes nothing.
//! - **No secret on the wire.** The only free text (`sample`) is redacted when built.
//! - **Versioned.** v1 is only extended (new optional fields, new kinds); a reader
//!   rejects another `schema` (to the dead-letter topic).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::record::TsMs;

/// The schema every partial names.
pub const PARTIAL_SCHEMA: &str = "fluxsight.partial/v1";
/// Default partials topic (`central.fleet.partials_topic`).
pub const DEFAULT_PARTIALS_TOPIC: &str = "fluxsight.fleet-partials.v1";

/// What a partial is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartialKind {
    /// A cluster's status for a fleet key (failing or ok), on every change and
    /// refreshed while failing.
    Status,
    /// A cluster uses a fleet key (it has an object whose URL or chart gives it),
    /// refreshed: the denominator of "N of M clusters".
    Inventory,
    /// A stage-1 source's event-time watermark, sent to every partials partition:
    /// stage 2's clock on partitions without status traffic.
    Tick,
}

/// A cluster's status for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Failing,
    Ok,
}

/// One partial, as published (JSON). The Kafka key is `key` (a tick: `tick:<src>`,
/// sent to an explicit partition), the timestamp `t`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// [`PARTIAL_SCHEMA`].
    pub schema: Cow<'static, str>,
    pub kind: PartialKind,
    /// The fleet key (`ratelimit:github.com/acme`); empty for a tick.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// The cluster (status, inventory); empty for a tick.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Event time (the cluster's clock; a tick: its watermark), ms since the epoch.
    pub t: TsMs,
    /// `kind: status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<KeyStatus>,
    /// Failing since (the cluster's first failure of the key), ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<TsMs>,
    /// The stage-1 pattern and finding id behind a failing status (the link to the
    /// cluster's own finding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
    /// Failed attempts counted by the cluster's finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The cluster's last error (redacted, at most 300 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
    /// `ratelimit-host:` status: the organisations (`ratelimit:` key bodies) the
    /// cluster's rate limit covers. Stage 2 leaves a host-wide finding to the org's
    /// when all failing clusters name the same one org.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orgs: Vec<String>,
    /// `kind: tick`: the stage-1 source (`<signals topic>/<partition>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    /// `kind: tick`: how many tick sources there are (the signals topic's partition
    /// count), when stage 1 knows it: stage 2 holds its clock until it heard from all
    /// (or the idle timeout passed since its first tick).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<u32>,
}

/// Why bytes are not a partial this build reads.
#[derive(Debug, thiserror::Error)]
pub enum PartialError {
    #[error("not a partial: {0}")]
    Json(#[from] serde_json::Error),
    #[error("schema '{0}' is not {PARTIAL_SCHEMA}")]
    Schema(String),
    #[error("{0}")]
    Shape(&'static str),
}

impl Partial {
    fn base(kind: PartialKind, key: &FleetKey, cluster: &str, t: TsMs) -> Partial {
        Partial {
            schema: Cow::Borrowed(PARTIAL_SCHEMA),
            kind,
            key: key.to_string(),
            cluster: cluster.to_string(),
            t,
            status: None,
            since: None,
            pattern: None,
            finding: None,
            count: None,
            sample: None,
            orgs: Vec::new(),
            src: None,
            of: None,
        }
    }

    /// `cluster` uses `key` as of `t`.
    pub fn inventory(key: &FleetKey, cluster: &str, t: TsMs) -> Partial {
        Partial::base(PartialKind::Inventory, key, cluster, t)
    }

    /// `cluster`'s status for `key` as of `t`.
    pub fn status(key: &FleetKey, cluster: &str, t: TsMs, status: KeyStatus) -> Partial {
        Partial {
            status: Some(status),
            ..Partial::base(PartialKind::Status, key, cluster, t)
        }
    }

    /// A watermark tick of stage-1 source `src`.
    pub fn tick(src: &str, watermark: TsMs) -> Partial {
        Partial {
            schema: Cow::Borrowed(PARTIAL_SCHEMA),
            kind: PartialKind::Tick,
            key: String::new(),
            cluster: String::new(),
            t: watermark,
            status: None,
            since: None,
            pattern: None,
            finding: None,
            count: None,
            sample: None,
            orgs: Vec::new(),
            src: Some(src.to_string()),
            of: None,
        }
    }

    /// The Kafka record key: the fleet key, or `tick:<src>`.
    pub fn kafka_key(&self) -> String {
        match self.kind {
            PartialKind::Tick => format!("tick:{}", self.src.as_deref().unwrap_or("")),
            _ => self.key.clone(),
        }
    }

    /// The compact JSON form.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a partial: another schema, a status without a status, a status or
    /// inventory without key or cluster, a tick without a source are errors.
    pub fn decode(bytes: &[u8]) -> Result<Partial, PartialError> {
        let p: Partial = serde_json::from_slice(bytes)?;
        if p.schema != PARTIAL_SCHEMA {
            return Err(PartialError::Schema(p.schema.into_owned()));
        }
        match p.kind {
            PartialKind::Tick if p.src.as_deref().is_none_or(str::is_empty) => {
                Err(PartialError::Shape("a tick without src"))
            }
            PartialKind::Status | PartialKind::Inventory
                if p.key.is_empty() || p.cluster.is_empty() =>
            {
                Err(PartialError::Shape(
                    "a status or inventory partial without key or cluster",
                ))
            }
            PartialKind::Status if p.status.is_none() => {
                Err(PartialError::Shape("a status partial without status"))
            }
            PartialKind::Status | PartialKind::Inventory if FleetKey::parse(&p.key).is_none() => {
                Err(PartialError::Shape("an unknown fleet key form"))
            }
            _ => Ok(p),
        }
    }
}

/// What a fleet key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyKind {
    /// `ratelimit:<host>/<org>`: a Git provider's organisation (limits are per token;
    /// the org is the best proxy seen without secrets).
    RateLimit,
    /// `ratelimit-host:<host>`: a provider-wide limit or outage.
    RateLimitHost,
    /// `git:<host>/<path>`: one Git repository.
    Git,
    /// `helm:<host>/<path>`: a Helm repository index.
    Helm,
    /// `oci:<registry>/<repo>`: an OCI repository or OCI Helm repository.
    Oci,
    /// `chart:<repo>/<name>@<version>` (`chart:<name>@<version>` when the repository
    /// URL is not known).
    Chart,
}

impl KeyKind {
    pub const ALL: [KeyKind; 6] = [
        KeyKind::RateLimit,
        KeyKind::RateLimitHost,
        KeyKind::Git,
        KeyKind::Helm,
        KeyKind::Oci,
        KeyKind::Chart,
    ];

    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::RateLimit => "ratelimit",
            KeyKind::RateLimitHost => "ratelimit-host",
            KeyKind::Git => "git",
            KeyKind::Helm => "helm",
            KeyKind::Oci => "oci",
            KeyKind::Chart => "chart",
        }
    }
}

/// A normalised fleet key: `<kind>:<body>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FleetKey {
    pub kind: KeyKind,
    pub body: String,
}

impl fmt::Display for FleetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.prefix(), self.body)
    }
}

/// A source URL taken apart: lowercase host (no user-info, no port) and path (no
/// leading or trailing `/`, no `.git`, no query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalUrl {
    pub oci: bool,
    pub host: String,
    pub path: String,
}

/// Normalises a source URL: `https://user@GitHub.com:443/Acme/App.git/`,
/// `ssh://git@github.com/acme/app` and `git@github.com:acme/app.git` are all
/// `github.com` + `acme/app`. `None` when no host can be read.
pub fn normalise_url(url: &str) -> Option<NormalUrl> {
    let u = url.trim().to_ascii_lowercase();
    let (oci, rest) = match u.split_once("://") {
        Some((scheme, rest)) => (scheme == "oci", rest.to_string()),
        None => {
            // scp-like `user@host:path` (no scheme).
            let (authority, path) = u.split_once(':')?;
            if authority.contains('/') {
                return None;
            }
            (false, format!("{authority}/{path}"))
        }
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    let mut path = path.trim_matches('/').to_string();
    if let Some(p) = path.strip_suffix(".git") {
        path = p.trim_end_matches('/').to_string();
    }
    Some(NormalUrl {
        oci,
        host: host.to_string(),
        path,
    })
}

impl FleetKey {
    pub fn new(kind: KeyKind, body: impl Into<String>) -> FleetKey {
        FleetKey {
            kind,
            body: body.into(),
        }
    }

    /// Reads `<kind>:<body>`; `None` for an unknown kind or an empty body.
    pub fn parse(s: &str) -> Option<FleetKey> {
        let (prefix, body) = s.split_once(':')?;
        let kind = KeyKind::ALL.into_iter().find(|k| k.prefix() == prefix)?;
        (!body.is_empty()).then(|| FleetKey::new(kind, body))
    }

    /// The key of a source object of `kind` (`GitRepository`, `HelmRepository`,
    /// `OCIRepository`) at `url`.
    pub fn source(kind: &str, url: &str) -> Option<FleetKey> {
        let n = normalise_url(url)?;
        let body = if n.path.is_empty() {
            n.host.clone()
        } else {
            format!("{}/{}", n.host, n.path)
        };
        let k = match kind {
            "GitRepository" if !n.oci => KeyKind::Git,
            "HelmRepository" if !n.oci => KeyKind::Helm,
            "HelmRepository" | "OCIRepository" => KeyKind::Oci,
            _ => return None,
        };
        Some(FleetKey::new(k, body))
    }

    /// `ratelimit:<host>/<org>` of a URL whose path names an organisation.
    pub fn rate_limit_org(url: &str) -> Option<FleetKey> {
        let n = normalise_url(url)?;
        let org = n.path.split('/').next().filter(|o| !o.is_empty())?;
        Some(FleetKey::new(
            KeyKind::RateLimit,
            format!("{}/{org}", n.host),
        ))
    }

    /// `ratelimit-host:<host>`.
    pub fn rate_limit_host(host: &str) -> FleetKey {
        FleetKey::new(KeyKind::RateLimitHost, host.trim().to_ascii_lowercase())
    }

    /// `chart:<repo>/<name>@<version>`; `repo_url` the chart's repository (normalised
    /// to host/path), or `chart:<name>@<version>` without one. Version `*` when none.
    pub fn chart(repo_url: Option<&str>, name: &str, version: Option<&str>) -> Option<FleetKey> {
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() {
            return None;
        }
        let version = version
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or("*");
        let repo = repo_url.and_then(normalise_url).map(|n| {
            if n.path.is_empty() {
                n.host
            } else {
                format!("{}/{}", n.host, n.path)
            }
        });
        Some(FleetKey::new(
            KeyKind::Chart,
            match repo {
                Some(r) => format!("{r}/{name}@{version}"),
                None => format!("{name}@{version}"),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_urls_in_every_spelling_give_one_key() {
        let want = "git:github.com/acme/app";
        for u in [
            "https://github.com/acme/app",
            "https://github.com/Acme/App.git",
            "https://token:x-oauth@github.com/acme/app.git/",
            "http://github.com:443/acme/app?ref=main",
            "ssh://git@github.com/acme/app",
            "ssh://git@github.com:22/acme/app.git",
            "git@github.com:acme/app.git",
            "  GIT@GITHUB.COM:acme/app  ",
        ] {
            assert_eq!(
                FleetKey::source("GitRepository", u).map(|k| k.to_string()),
                Some(want.to_string()),
                "{u}"
            );
        }
        assert_eq!(
            FleetKey::source(
                "GitRepository",
                "https://gitlab.example.com/group/sub/repo.git"
            )
            .unwrap()
            .to_string(),
            "git:gitlab.example.com/group/sub/repo"
        );
        assert!(FleetKey::source("GitRepository", "").is_none());
        assert!(FleetKey::source("Bucket", "https://s3.amazonaws.com/b").is_none());
    }

    #[test]
    fn orgs_hosts_registries_and_charts() {
        let k = |o: Option<FleetKey>| o.map(|k| k.to_string()).unwrap_or_default();
        assert_eq!(
            k(FleetKey::rate_limit_org("git@github.com:Acme/app.git")),
            "ratelimit:github.com/acme"
        );
        assert_eq!(k(FleetKey::rate_limit_org("https://github.com")), "");
        assert_eq!(
            FleetKey::rate_limit_host("GitHub.com").to_string(),
            "ratelimit-host:github.com"
        );
        assert_eq!(
            k(FleetKey::source(
                "HelmRepository",
                "oci://ghcr.io/stefanprodan/charts"
            )),
            "oci:ghcr.io/stefanprodan/charts"
        );
        assert_eq!(
            k(FleetKey::source(
                "HelmRepository",
                "https://charts.bitnami.com/bitnami/"
            )),
            "helm:charts.bitnami.com/bitnami"
        );
        assert_eq!(
            k(FleetKey::chart(
                Some("oci://ghcr.io/stefanprodan/charts"),
                "podinfo",
                Some("6.5.0")
            )),
            "chart:ghcr.io/stefanprodan/charts/podinfo@6.5.0"
        );
        assert_eq!(k(FleetKey::chart(None, "Podinfo", None)), "chart:podinfo@*");
        for s in [
            "ratelimit:github.com/acme",
            "ratelimit-host:github.com",
            "git:github.com/acme/app",
            "chart:podinfo@6.5.0",
        ] {
            assert_eq!(FleetKey::parse(s).unwrap().to_string(), s);
        }
        assert!(FleetKey::parse("nope:x").is_none());
        assert!(FleetKey::parse("git:").is_none());
    }

    #[test]
    fn partials_round_trip_and_bad_ones_are_refused_with_a_reason() {
        let key = FleetKey::parse("ratelimit:github.com/acme").unwrap();
        let mut p = Partial::status(&key, "c01", 1_000, KeyStatus::Failing);
        p.since = Some(900);
        p.finding = Some("abc".into());
        let bytes = p.encode();
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            r#"{"schema":"fluxsight.partial/v1","kind":"status","key":"ratelimit:github.com/acme","cluster":"c01","t":1000,"status":"failing","since":900,"finding":"abc"}"#
        );
        assert_eq!(Partial::decode(&bytes).unwrap(), p);
        let t = Partial::tick("fluxsight.signals.v1/3", 5_000);
        assert_eq!(t.kafka_key(), "tick:fluxsight.signals.v1/3");
        assert_eq!(Partial::decode(&t.encode()).unwrap(), t);
        for bad in [
            &b"not json"[..],
            br#"{"schema":"fluxsight.partial/v9","kind":"tick","t":1,"src":"a"}"#,
            br#"{"schema":"fluxsight.partial/v1","kind":"tick","t":1}"#,
            br#"{"schema":"fluxsight.partial/v1","kind":"status","key":"git:a/b","cluster":"c","t":1}"#,
            br#"{"schema":"fluxsight.partial/v1","kind":"inventory","key":"git:a/b","t":1}"#,
            br#"{"schema":"fluxsight.partial/v1","kind":"inventory","key":"what:a/b","cluster":"c","t":1}"#,
        ] {
            let e = Partial::decode(bad).unwrap_err();
            assert!(!e.to_string().is_empty());
        }
    }
}
