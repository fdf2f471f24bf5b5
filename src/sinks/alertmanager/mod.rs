//! `type: alertmanager` sink: findings become Prometheus Alertmanager alerts posted to
//! `POST /api/v2/alerts` (output-formats.md §6).
//!
//! Owns: the finding → postable-alert mapping ([`AlertMapper`]), the set of alerts
//! Alertmanager currently knows from us ([`AlertSet`], sans-IO), and the HTTP client.
//! Does not own: grouping and notification timing (Alertmanager does that), retries and
//! spooling (the shared worker).
//!
//! Invariants:
//! - **Labels identify the finding** and stay low-cardinality: `alertname`, `pattern`,
//!   `severity`, `cluster`, `tenant`, `namespace`, `kind`, `name` plus static labels.
//!   Revisions, counts and messages go in annotations, never in labels, so a new
//!   revision or a growing count updates one alert instead of creating a new one.
//! - Alertmanager forgets a firing alert without `endsAt` after its `resolve_timeout`
//!   (default 5m), so every firing alert is re-posted every `repost_interval` (default
//!   1m) through [`Sink::tick`]. A resolved finding is posted with `endsAt` = its resolve
//!   time (≤ now) and re-posted as resolved for [`RESOLVED_REPOST`] (so a restarted
//!   Alertmanager still learns it ended), then forgotten.
//! - The tracked set is bounded ([`MAX_ACTIVE`]); evictions prefer resolved alerts and
//!   are counted. An evicted firing alert is no longer re-posted and resolves in
//!   Alertmanager after its `resolve_timeout`.
//! - Audit records are not alerts (they are events with no lifecycle to resolve); they
//!   are accepted and ignored. RBAC denials reach Alertmanager as `rbac_denied` findings.

pub mod config;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::classify::redact::redact;
use crate::correlate::finding::{Finding, Status};
use crate::record::{Severity, TsMs};
use crate::render::finding::{pattern_doc_url, PATTERN_DOCS_URL};
use crate::sinks::config::AlertmanagerConfig;
use crate::sinks::http;
use crate::sinks::{BoxFut, Delivery, Sink, SinkError};
use crate::time::{format_rfc3339_ms, parse_go_duration_ms};

/// Path of the alerts endpoint under the configured base URL.
pub const ALERTS_PATH: &str = "/api/v2/alerts";
/// Default re-post interval of firing alerts (below Alertmanager's default 5m
/// `resolve_timeout`).
pub const DEFAULT_REPOST_MS: u64 = 60_000;
/// Alertmanager's default `resolve_timeout`; `repost_interval` must be shorter.
pub const AM_DEFAULT_RESOLVE_TIMEOUT_MS: u64 = 300_000;
/// How long a resolved alert keeps being re-posted (Alertmanager's client guidance).
pub const RESOLVED_REPOST: Duration = Duration::from_secs(300);
/// Most alerts in one POST.
pub const MAX_ALERTS_PER_POST: usize = 64;
/// Most alerts tracked for re-posting.
pub const MAX_ACTIVE: usize = 10_000;
/// Longest label value in bytes; longer values are cut and suffixed with a hash so two
/// long names stay two alerts.
pub const MAX_LABEL_VALUE: usize = 256;
/// Longest annotation value in bytes (Alertmanager has no limit; receivers such as
/// Slack or PagerDuty do).
pub const MAX_ANNOTATION: usize = 2048;
/// Impacted objects listed in the `impacted` annotation; the rest are counted.
pub const MAX_IMPACTED_LISTED: usize = 10;
/// Default request timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// Label names (identity of an alert).
pub mod label {
    pub const ALERTNAME: &str = "alertname";
    pub const PATTERN: &str = "pattern";
    pub const SEVERITY: &str = "severity";
    pub const CLUSTER: &str = "cluster";
    pub const TENANT: &str = "tenant";
    pub const NAMESPACE: &str = "namespace";
    pub const KIND: &str = "kind";
    pub const NAME: &str = "name";
    /// Labels the sink sets itself; static config labels may not use these names.
    pub const RESERVED: &[&str] = &[
        ALERTNAME, PATTERN, SEVERITY, CLUSTER, TENANT, NAMESPACE, KIND, NAME,
    ];
}

/// Annotation names (free-form details).
pub mod annotation {
    /// One line: the finding's title (Alertmanager templates and Grafana show it as
    /// the headline).
    pub const SUMMARY: &str = "summary";
    /// The long text: the finding's summary.
    pub const DESCRIPTION: &str = "description";
    /// The pattern's runbook page (`docs/patterns/<pattern>.md`), the annotation
    /// name the Prometheus community alerting rules use.
    pub const RUNBOOK_URL: &str = "runbook_url";
    pub const TITLE: &str = "title";
    pub const REMEDIATION: &str = "remediation";
    pub const REVISION: &str = "revision";
    pub const FINDING_ID: &str = "finding_id";
    pub const COUNT: &str = "count";
    pub const FIRST_SEEN: &str = "first_seen";
    pub const LAST_SEEN: &str = "last_seen";
    pub const IMPACTED: &str = "impacted";
    pub const ROOT_CAUSE: &str = "root_cause";
    /// The internal severity (the `severity` label follows the Alertmanager convention
    /// info / warning / critical).
    pub const FLUXSIGHT_SEVERITY: &str = "fluxsight_severity";
}

/// Finding label that carries a Git revision.
const REVISION_KEY: &str = "revision";

/// A `postableAlert` of the Alertmanager v2 API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostableAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    /// Absent while firing (Alertmanager then uses now + `resolve_timeout`).
    #[serde(rename = "endsAt", skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
}

impl PostableAlert {
    /// The identity Alertmanager fingerprints: the label set.
    pub fn label_key(&self) -> String {
        let mut k = String::new();
        for (n, v) in &self.labels {
            k.push_str(n);
            k.push('\u{0}');
            k.push_str(v);
            k.push('\u{0}');
        }
        k
    }

    pub fn is_resolved(&self) -> bool {
        self.ends_at.is_some()
    }
}

/// Alertmanager's `severity` label convention (output-formats.md §10).
pub fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Error | Severity::Critical => "critical",
    }
}

/// `Flux` + the pattern in CamelCase: `git_auth_failure` → `FluxGitAuthFailure`.
pub fn alertname(pattern: &str) -> String {
    let mut out = String::from("Flux");
    for part in pattern.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut cs = part.chars();
        if let Some(c) = cs.next() {
            out.push(c.to_ascii_uppercase());
            out.extend(cs);
        }
    }
    if out.len() == 4 {
        out.push_str("Finding");
    }
    out
}

/// Whether `n` is a valid Alertmanager label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn valid_label_name(n: &str) -> bool {
    let mut cs = n.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Largest prefix of `s` of at most `max` bytes ending on a char boundary.
fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Control characters (ANSI escapes, NUL, CR) from hostile log lines are replaced by a
/// space; newlines and tabs survive in annotations only.
fn clean(s: &str, keep_newlines: bool) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && !(keep_newlines && (c == '\n' || c == '\t')) {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// A label value: no control characters, at most [`MAX_LABEL_VALUE`] bytes; a longer
/// value keeps a prefix plus 8 hex digits of its hash so distinct values stay distinct.
pub fn label_value(s: &str) -> String {
    let c = clean(s, false);
    if c.len() <= MAX_LABEL_VALUE {
        return c;
    }
    let h = Sha256::digest(c.as_bytes());
    let tag: String = h.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}~{tag}", prefix(&c, MAX_LABEL_VALUE - 9))
}

/// An annotation value: redacted, control characters removed (newlines kept), every `<`
/// followed by a word joiner, at most [`MAX_ANNOTATION`] bytes (cut on a char boundary,
/// marked with `…`). Alertmanager's Slack templates paste annotations into mrkdwn
/// unescaped, so a quoted `<!channel>` or `<http://evil|click>` would become a mention or
/// a forged link there; the joiner breaks Slack's control syntax and stays invisible in
/// every other receiver.
pub fn annotation_value(s: &str) -> String {
    let c = clean(&redact(s), true).replace('<', "<\u{2060}");
    if c.len() <= MAX_ANNOTATION {
        return c;
    }
    let ell = '…';
    format!("{}{ell}", prefix(&c, MAX_ANNOTATION - ell.len_utf8()))
}

/// Maps findings to postable alerts.
#[derive(Debug, Clone, Default)]
pub struct AlertMapper {
    /// Static labels added to every alert (validated names, never overriding ours).
    pub static_labels: BTreeMap<String, String>,
    /// `generatorURL` base: `{id}` is replaced by the finding id, else `/<id>` is appended.
    pub generator_url: Option<String>,
    /// Base of `runbook_url` (`<base>/<pattern>.md`); `None` is the repository's
    /// `docs/patterns` ([`PATTERN_DOCS_URL`]).
    pub runbook_base_url: Option<String>,
}

impl AlertMapper {
    /// The alert of finding `f` at wall time `now` (ms). `startsAt` = first seen (never
    /// after now: Alertmanager rejects an alert whose default end precedes its start);
    /// a resolved finding gets `endsAt` = its resolve time, clamped to [startsAt, now].
    pub fn alert(&self, f: &Finding, now: TsMs) -> PostableAlert {
        let mut labels = BTreeMap::new();
        for (k, v) in &self.static_labels {
            if !label::RESERVED.contains(&k.as_str()) && valid_label_name(k) && !v.is_empty() {
                labels.insert(k.clone(), label_value(v));
            }
        }
        let mut put = |k: &str, v: &str| {
            if !v.is_empty() {
                labels.insert(k.to_string(), label_value(v));
            }
        };
        put(label::ALERTNAME, &alertname(&f.pattern));
        put(label::PATTERN, &f.pattern);
        put(label::SEVERITY, severity_label(f.severity));
        put(label::CLUSTER, &f.cluster);
        put(label::TENANT, &f.tenant);
        put(label::NAMESPACE, &f.subject.namespace);
        put(label::KIND, &f.subject.kind);
        put(label::NAME, &f.subject.name);

        let mut ann = BTreeMap::new();
        let mut note = |k: &str, v: &str| {
            if !v.is_empty() {
                ann.insert(k.to_string(), annotation_value(v));
            }
        };
        // A title never holds a newline from a template, but one from a log line
        // could reach it through a label: the headline stays one line.
        let headline = clean(&f.title, false);
        note(annotation::SUMMARY, &headline);
        let long = if f.summary.is_empty() {
            &headline
        } else {
            &f.summary
        };
        note(annotation::DESCRIPTION, long);
        let base = self.runbook_base_url.as_deref().unwrap_or(PATTERN_DOCS_URL);
        note(annotation::RUNBOOK_URL, &pattern_doc_url(base, &f.pattern));
        note(annotation::TITLE, &f.title);
        note(annotation::REMEDIATION, &f.remediation);
        if let Some(rev) = f.labels.get(REVISION_KEY) {
            note(annotation::REVISION, rev);
        }
        note(annotation::FINDING_ID, &f.id);
        note(annotation::COUNT, &f.count.to_string());
        note(annotation::FIRST_SEEN, &format_rfc3339_ms(f.first_seen));
        note(annotation::LAST_SEEN, &format_rfc3339_ms(f.last_seen));
        note(annotation::FLUXSIGHT_SEVERITY, f.severity.as_str());
        if let Some(rc) = &f.root_cause {
            note(
                annotation::ROOT_CAUSE,
                &format!("{}: {}", rc.object, rc.message),
            );
        }
        if !f.impacted.is_empty() {
            let mut list: Vec<String> = f
                .impacted
                .iter()
                .take(MAX_IMPACTED_LISTED)
                .map(|o| o.to_string())
                .collect();
            if f.impacted.len() > MAX_IMPACTED_LISTED {
                list.push(format!(
                    "and {} more",
                    f.impacted.len() - MAX_IMPACTED_LISTED
                ));
            }
            note(annotation::IMPACTED, &list.join(", "));
        }

        let starts = f.first_seen.min(now);
        let ends_at = match f.status {
            Status::Firing => None,
            Status::Resolved => Some(format_rfc3339_ms(f.last_seen.clamp(starts, now))),
        };
        PostableAlert {
            labels,
            annotations: ann,
            starts_at: format_rfc3339_ms(starts),
            ends_at,
            generator_url: self.generator_url.as_ref().map(|base| {
                if base.contains("{id}") {
                    base.replace("{id}", &f.id)
                } else {
                    format!("{}/{}", base.trim_end_matches('/'), f.id)
                }
            }),
        }
    }
}

struct Tracked {
    alert: PostableAlert,
    finding: String,
    /// When it was posted as resolved (re-posted until [`RESOLVED_REPOST`] later).
    resolved_at: Option<Instant>,
    touched: Instant,
}

/// The alerts Alertmanager knows from us, keyed by label set (sans-IO).
pub struct AlertSet {
    tracked: BTreeMap<String, Tracked>,
    /// Finding id → label key of its current alert (a severity change changes labels).
    current: BTreeMap<String, String>,
    max: usize,
    resolved_for: Duration,
    /// Alerts dropped from tracking because the set was full.
    pub evicted: u64,
}

impl AlertSet {
    pub fn new(max: usize, resolved_for: Duration) -> Self {
        AlertSet {
            tracked: BTreeMap::new(),
            current: BTreeMap::new(),
            max: max.max(1),
            resolved_for,
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.tracked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracked.is_empty()
    }

    /// What to post for new finding states: the last state per label set, in order,
    /// plus a resolution of a finding's previous label set when its labels changed
    /// (otherwise the old alert would fire on until `resolve_timeout`). Pure: the set
    /// changes only in [`AlertSet::commit`], after Alertmanager accepted the post.
    pub fn plan(
        &self,
        alerts: Vec<(String, PostableAlert)>,
        now: TsMs,
    ) -> Vec<(String, PostableAlert)> {
        let mut out: Vec<(String, PostableAlert)> = Vec::new();
        for (finding, a) in alerts {
            let key = a.label_key();
            if let Some(old_key) = self.current.get(&finding) {
                if *old_key != key {
                    if let Some(old) = self.tracked.get(old_key) {
                        if !old.alert.is_resolved() {
                            let mut r = old.alert.clone();
                            r.ends_at = Some(format_rfc3339_ms(now));
                            out.retain(|(_, x)| x.label_key() != *old_key);
                            out.push((finding.clone(), r));
                        }
                    }
                }
            }
            out.retain(|(_, x)| x.label_key() != key);
            out.push((finding, a));
        }
        out
    }

    /// Records what Alertmanager accepted.
    pub fn commit(&mut self, posted: Vec<(String, PostableAlert)>, now: Instant) {
        for (finding, a) in posted {
            let key = a.label_key();
            let resolved_at = match self.tracked.get(&key) {
                Some(t) if a.is_resolved() => t.resolved_at.or(Some(now)),
                _ if a.is_resolved() => Some(now),
                _ => None,
            };
            if !self.tracked.contains_key(&key) && self.tracked.len() >= self.max {
                self.evict_one();
            }
            if !a.is_resolved() || self.current.get(&finding).is_none_or(|k| *k == key) {
                self.current.insert(finding.clone(), key.clone());
            }
            self.tracked.insert(
                key,
                Tracked {
                    alert: a,
                    finding,
                    resolved_at,
                    touched: now,
                },
            );
        }
    }

    fn evict_one(&mut self) {
        let victim = self
            .tracked
            .iter()
            .filter_map(|(k, t)| t.resolved_at.map(|r| (r, k)))
            .min()
            .map(|(_, k)| k.clone())
            .or_else(|| {
                self.tracked
                    .iter()
                    .min_by_key(|(_, t)| t.touched)
                    .map(|(k, _)| k.clone())
            });
        if let Some(k) = victim {
            self.remove(&k);
            self.evicted += 1;
            if self.evicted == 1 || self.evicted.is_multiple_of(1000) {
                tracing::warn!(
                    evicted = self.evicted,
                    max = self.max,
                    "alertmanager sink: tracked alerts at capacity; oldest evicted (firing ones resolve after Alertmanager's resolve_timeout)"
                );
            }
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(t) = self.tracked.remove(key) {
            if self.current.get(&t.finding).is_some_and(|k| k == key) {
                self.current.remove(&t.finding);
            }
        }
    }

    /// Forgets resolved alerts re-posted long enough; returns everything to re-post.
    pub fn due(&mut self, now: Instant) -> Vec<PostableAlert> {
        let expired: Vec<String> = self
            .tracked
            .iter()
            .filter(|(_, t)| {
                t.resolved_at
                    .is_some_and(|r| now.saturating_duration_since(r) >= self.resolved_for)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            self.remove(&k);
        }
        self.tracked.values().map(|t| t.alert.clone()).collect()
    }

    /// The tracked alert of a finding (tests, diagnostics).
    pub fn alert_of(&self, finding: &str) -> Option<&PostableAlert> {
        self.current
            .get(finding)
            .and_then(|k| self.tracked.get(k))
            .map(|t| &t.alert)
    }
}

/// The sink.
pub struct AlertmanagerSink {
    name: String,
    client: reqwest::Client,
    /// Pacing of posts (`min_interval`; zero: none).
    min_interval: Duration,
    /// May embed credentials (from `{env}`/`{file}`): never part of an error or log.
    endpoint: reqwest::Url,
    mapper: AlertMapper,
    set: AlertSet,
    repost: Duration,
}

// Hand-written: the endpoint may embed credentials, headers may be secret.
impl std::fmt::Debug for AlertmanagerSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertmanagerSink")
            .field("name", &self.name)
            .field("endpoint", &http::url_for_logs(&self.endpoint))
            .field("repost", &self.repost)
            .finish_non_exhaustive()
    }
}

impl AlertmanagerSink {
    async fn post(&self, alerts: &[PostableAlert]) -> Result<(), SinkError> {
        for chunk in alerts.chunks(MAX_ALERTS_PER_POST) {
            let resp = self
                .client
                .post(self.endpoint.clone())
                .json(chunk)
                .send()
                .await
                .map_err(http::transport_error)?;
            http::check_response(resp).await?;
        }
        Ok(())
    }
}

impl Sink for AlertmanagerSink {
    fn send<'a>(&'a mut self, batch: &'a [Delivery]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let now = crate::time::now_ms();
            let alerts: Vec<(String, PostableAlert)> = batch
                .iter()
                .flat_map(|d| d.findings())
                .map(|f| (f.id.clone(), self.mapper.alert(f, now)))
                .collect();
            if alerts.is_empty() {
                return Ok(());
            }
            let plan = self.set.plan(alerts, now);
            let body: Vec<PostableAlert> = plan.iter().map(|(_, a)| a.clone()).collect();
            self.post(&body).await?;
            self.set.commit(plan, Instant::now());
            tracing::debug!(sink = %self.name, alerts = body.len(), tracked = self.set.len(), "posted alerts");
            Ok(())
        })
    }

    fn max_batch(&self) -> usize {
        MAX_ALERTS_PER_POST
    }

    fn min_interval(&self) -> Option<Duration> {
        (!self.min_interval.is_zero()).then_some(self.min_interval)
    }

    fn tick(&mut self) -> BoxFut<'_, Result<(), SinkError>> {
        Box::pin(async move {
            let due = self.set.due(Instant::now());
            if due.is_empty() {
                return Ok(());
            }
            self.post(&due).await
        })
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(self.repost)
    }
}

/// The endpoint for a configured base URL (a URL already naming the endpoint is kept).
pub fn endpoint(base: &str) -> String {
    let b = base.trim_end_matches('/');
    if b.ends_with(ALERTS_PATH) {
        b.to_string()
    } else {
        format!("{b}{ALERTS_PATH}")
    }
}

/// Builds the sink (build step: reads secrets, prepares clients).
pub fn build(cfg: &AlertmanagerConfig) -> Result<Box<dyn Sink>, String> {
    let err = |m: String| format!("sink '{}': {m}", cfg.name);
    let url = cfg.url.resolve().map_err(|e| err(format!("url: {e}")))?;
    let dur = |v: &Option<String>, field: &str, default: u64| -> Result<u64, String> {
        match v {
            None => Ok(default),
            Some(s) => parse_go_duration_ms(s)
                .ok_or_else(|| err(format!("{field}: '{s}' is not a duration"))),
        }
    };
    let repost = dur(&cfg.repost_interval, "repost_interval", DEFAULT_REPOST_MS)?.max(100);
    let allow = cfg.http.allow();
    let client = cfg.http.client(&cfg.name)?;
    Ok(Box::new(AlertmanagerSink {
        name: cfg.name.clone(),
        client,
        min_interval: cfg.http.min_interval_or(config::DEFAULT_MIN_INTERVAL_MS),
        endpoint: http::parse_url(&cfg.name, "url", &endpoint(url.trim()), &allow)?,
        mapper: AlertMapper {
            static_labels: cfg.labels.clone(),
            generator_url: cfg.generator_url.clone(),
            runbook_base_url: cfg.runbook_base_url.clone(),
        },
        set: AlertSet::new(MAX_ACTIVE, RESOLVED_REPOST),
        repost: Duration::from_millis(repost),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::PatternId;
    use crate::record::ObjectRef;

    const T0: TsMs = 1_767_268_200_000; // 2026-01-01T11:50:00Z

    fn finding(name: &str, status: Status) -> Finding {
        let subject = ObjectRef::new("GitRepository", "flux-system", name);
        let mut labels = BTreeMap::new();
        labels.insert(
            "revision".to_string(),
            "main@sha1:731f7eaddfb6af01cb2173e18f0f75b0ba780ef1".to_string(),
        );
        labels.insert("host".to_string(), "github.com".to_string());
        Finding {
            id: crate::correlate::finding::finding_id(PatternId::GitAuthFailure.as_str(), &subject),
            pattern: PatternId::GitAuthFailure.as_str().into(),
            status,
            severity: Severity::Error,
            title: "Repeated Git authentication failures".into(),
            summary: "12 Git authentication failures in 10m: authentication required".into(),
            cluster: "prod-eu-1".into(),
            tenant: "team-a".into(),
            tenants: vec!["team-a".into()],
            subject,
            root_cause: None,
            impacted: vec![ObjectRef::new("Kustomization", "flux-system", "apps")],
            impact: Vec::new(),
            first_seen: T0,
            last_seen: T0 + 600_000,
            count: 12,
            evidence: Vec::new(),
            labels,
            remediation: "Rotate the deploy key in secret flux-system/podinfo-auth".into(),
            last_counted: T0 + 600_000,
            emission: 1,
            rule: Default::default(),
            workload: None,
            text_pending: Default::default(),
        }
    }

    fn mapper() -> AlertMapper {
        AlertMapper::default()
    }

    #[test]
    fn labels_identify_the_finding_and_never_carry_revision_count_or_message() {
        let f = finding("podinfo", Status::Firing);
        let a = mapper().alert(&f, T0 + 700_000);
        let names: Vec<&str> = a.labels.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "alertname",
                "cluster",
                "kind",
                "name",
                "namespace",
                "pattern",
                "severity",
                "tenant"
            ]
        );
        assert_eq!(a.labels["alertname"], "FluxGitAuthFailure");
        assert_eq!(a.labels["severity"], "critical");
        assert_eq!(a.labels["name"], "podinfo");
        for v in a.labels.values() {
            assert!(!v.contains("sha1"), "revision in label value {v}");
            assert!(!v.contains("12"), "count in label value {v}");
            assert!(!v.contains("authentication"), "message in label value {v}");
        }
        assert_eq!(
            a.annotations["revision"],
            "main@sha1:731f7eaddfb6af01cb2173e18f0f75b0ba780ef1"
        );
        assert_eq!(a.annotations["count"], "12");
        assert_eq!(a.annotations["summary"], f.title);
        assert_eq!(a.annotations["description"], f.summary);
        assert_eq!(a.annotations["finding_id"], f.id);
        assert_eq!(a.annotations["first_seen"], "2026-01-01T11:50:00.000Z");
        assert_eq!(a.annotations["impacted"], "Kustomization/flux-system/apps");

        // A new revision and a higher count change annotations only: same identity.
        let mut g = f.clone();
        g.labels.insert("revision".into(), "main@sha1:ffff".into());
        g.count = 40;
        g.summary = "40 failures".into();
        assert_eq!(mapper().alert(&g, T0).label_key(), a.label_key());
    }

    #[test]
    fn static_labels_cannot_override_identity_or_use_invalid_names() {
        let mut m = mapper();
        m.static_labels.insert("team".into(), "platform".into());
        m.static_labels.insert("severity".into(), "none".into());
        m.static_labels.insert("bad-name".into(), "x".into());
        m.static_labels.insert("0bad".into(), "x".into());
        let a = m.alert(&finding("podinfo", Status::Firing), T0);
        assert_eq!(a.labels["team"], "platform");
        assert_eq!(a.labels["severity"], "critical");
        assert!(!a.labels.contains_key("bad-name") && !a.labels.contains_key("0bad"));
    }

    #[test]
    fn alertname_and_severity_follow_the_conventions() {
        assert_eq!(
            alertname(PatternId::GitAuthFailure.as_str()),
            "FluxGitAuthFailure"
        );
        assert_eq!(alertname(PatternId::OomCascade.as_str()), "FluxOomCascade");
        assert_eq!(alertname(""), "FluxFinding");
        assert_eq!(severity_label(Severity::Info), "info");
        assert_eq!(severity_label(Severity::Warning), "warning");
        assert_eq!(severity_label(Severity::Error), "critical");
        assert_eq!(severity_label(Severity::Critical), "critical");
        assert!(valid_label_name("_a1") && !valid_label_name("") && !valid_label_name("a.b"));
    }

    #[test]
    fn firing_omits_ends_at_and_resolved_sets_it() {
        let now = T0 + 3_600_000;
        let firing = mapper().alert(&finding("podinfo", Status::Firing), now);
        assert_eq!(firing.ends_at, None);
        let json = serde_json::to_value(&firing).unwrap();
        assert!(json.get("endsAt").is_none(), "{json}");
        assert_eq!(json["startsAt"], "2026-01-01T11:50:00.000Z");

        let resolved = mapper().alert(&finding("podinfo", Status::Resolved), now);
        assert_eq!(
            resolved.ends_at.as_deref(),
            Some("2026-01-01T12:00:00.000Z")
        );
        assert_eq!(resolved.label_key(), firing.label_key());

        // A resolve time after the wall clock (replayed capture, skew) is clamped to now
        // so the alert is resolved at once; a start after now is clamped too, else
        // Alertmanager's default end (now + resolve_timeout) could precede it.
        let early = T0 + 60_000;
        let r = mapper().alert(&finding("podinfo", Status::Resolved), early);
        assert_eq!(r.starts_at, format_rfc3339_ms(T0));
        assert_eq!(r.ends_at, Some(format_rfc3339_ms(early)));
        let f = mapper().alert(&finding("podinfo", Status::Firing), T0 - 1000);
        assert_eq!(f.starts_at, format_rfc3339_ms(T0 - 1000));
    }

    #[test]
    fn annotation_values_are_redacted_cleaned_and_bounded() {
        let mut f = finding("podinfo", Status::Firing);
        f.summary = format!(
            "clone https://user:ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/x \x1b[31mred\x1b[0m \"q\" <b>\nline2\t{}",
            "é".repeat(3000)
        );
        let a = mapper().alert(&f, T0);
        let s = &a.annotations["description"];
        assert!(!s.contains("ghp_abcdefghijklmnopqrstuvwxyz"), "{s}");
        assert!(s.contains("[REDACTED]"), "{s}");
        assert!(!s.contains('\x1b'));
        assert!(s.contains('\n') && s.contains('\t'));
        assert!(s.len() <= MAX_ANNOTATION, "{}", s.len());
        assert!(s.ends_with('…'));
        // JSON escaping is serde's: the value survives a round trip byte for byte.
        let body = serde_json::to_string(&[&a]).unwrap();
        let back: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            back[0]["annotations"]["description"].as_str(),
            Some(s.as_str())
        );

        let mut many = finding("podinfo", Status::Firing);
        many.impacted = (0..25)
            .map(|i| ObjectRef::new("Kustomization", "apps", format!("k{i}")))
            .collect();
        let a = mapper().alert(&many, T0);
        assert!(a.annotations["impacted"].ends_with("and 15 more"));
        assert_eq!(
            a.annotations["impacted"].matches("Kustomization/").count(),
            10
        );
    }

    #[test]
    fn long_or_hostile_label_values_stay_distinct_and_bounded() {
        let a = label_value(&format!("{}a", "x".repeat(400)));
        let b = label_value(&format!("{}b", "x".repeat(400)));
        assert!(a.len() <= MAX_LABEL_VALUE && b.len() <= MAX_LABEL_VALUE);
        assert_ne!(a, b);
        assert_eq!(label_value("pod\ninfo\x00"), "pod info ");
        let multi = label_value(&"ü".repeat(300));
        assert!(multi.len() <= MAX_LABEL_VALUE);
    }

    #[test]
    fn summary_is_one_line_description_long_and_runbook_links_the_pattern_doc() {
        let mut f = finding("podinfo", Status::Firing);
        f.title = "GitRepository/flux-system/podinfo cannot\nauthenticate".into();
        f.summary = "Line one.\nLine two with detail.".into();
        let a = mapper().alert(&f, T0);
        assert_eq!(
            a.annotations["summary"],
            "GitRepository/flux-system/podinfo cannot authenticate"
        );
        assert_eq!(
            a.annotations["description"],
            "Line one.\nLine two with detail."
        );
        assert_eq!(
            a.annotations["runbook_url"],
            "https://github.com/fluxsight/fluxsight/blob/main/docs/patterns/git_auth_failure.md"
        );
        let m = AlertMapper {
            runbook_base_url: Some("https://runbooks.example/fluxsight/".into()),
            ..AlertMapper::default()
        };
        assert_eq!(
            m.alert(&f, T0).annotations["runbook_url"],
            "https://runbooks.example/fluxsight/git_auth_failure.md"
        );
        // Without a summary the description falls back to the title.
        f.summary.clear();
        assert_eq!(
            mapper().alert(&f, T0).annotations["description"],
            a.annotations["summary"]
        );
    }

    #[test]
    fn generator_url_and_endpoint() {
        let f = finding("podinfo", Status::Firing);
        let mut m = mapper();
        m.generator_url = Some("https://ui.example/findings/".into());
        assert_eq!(
            m.alert(&f, T0).generator_url.unwrap(),
            format!("https://ui.example/findings/{}", f.id)
        );
        m.generator_url = Some("https://ui.example/?f={id}".into());
        assert_eq!(
            m.alert(&f, T0).generator_url.unwrap(),
            format!("https://ui.example/?f={}", f.id)
        );
        assert_eq!(endpoint("http://am:9093/"), "http://am:9093/api/v2/alerts");
        assert_eq!(
            endpoint("http://am:9093/api/v2/alerts"),
            "http://am:9093/api/v2/alerts"
        );
    }

    fn plan_one(set: &AlertSet, f: &Finding, now: TsMs) -> Vec<(String, PostableAlert)> {
        set.plan(vec![(f.id.clone(), mapper().alert(f, now))], now)
    }

    #[test]
    fn set_reposts_firing_and_resolved_then_forgets() {
        let mut set = AlertSet::new(100, Duration::from_secs(300));
        let t = Instant::now();
        let f = finding("podinfo", Status::Firing);
        set.commit(plan_one(&set, &f, T0), t);
        assert_eq!(set.due(t + Duration::from_secs(60)).len(), 1);
        let r = finding("podinfo", Status::Resolved);
        set.commit(
            plan_one(&set, &r, T0 + 700_000),
            t + Duration::from_secs(60),
        );
        let due = set.due(t + Duration::from_secs(120));
        assert_eq!(due.len(), 1);
        assert!(due[0].is_resolved());
        // A duplicate resolved delivery keeps the first resolve time.
        set.commit(
            plan_one(&set, &r, T0 + 800_000),
            t + Duration::from_secs(200),
        );
        assert_eq!(set.due(t + Duration::from_secs(359)).len(), 1);
        assert!(set.due(t + Duration::from_secs(360)).is_empty());
        assert!(set.is_empty());
    }

    #[test]
    fn plan_keeps_the_last_state_and_resolves_a_changed_label_set() {
        let set0 = AlertSet::new(100, Duration::from_secs(300));
        let f = finding("podinfo", Status::Firing);
        let r = finding("podinfo", Status::Resolved);
        let p = set0.plan(
            vec![
                (f.id.clone(), mapper().alert(&f, T0)),
                (r.id.clone(), mapper().alert(&r, T0 + 700_000)),
            ],
            T0 + 700_000,
        );
        assert_eq!(p.len(), 1);
        assert!(p[0].1.is_resolved());

        let mut set = AlertSet::new(100, Duration::from_secs(300));
        set.commit(plan_one(&set, &f, T0), Instant::now());
        let mut worse = f.clone();
        worse.severity = Severity::Warning;
        let p = plan_one(&set, &worse, T0 + 1000);
        assert_eq!(p.len(), 2);
        assert!(p[0].1.is_resolved() && p[0].1.labels["severity"] == "critical");
        assert!(!p[1].1.is_resolved() && p[1].1.labels["severity"] == "warning");
        set.commit(p, Instant::now());
        assert_eq!(set.alert_of(&f.id).unwrap().labels["severity"], "warning");
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn set_is_bounded_and_evicts_resolved_first() {
        let mut set = AlertSet::new(3, Duration::from_secs(300));
        let t = Instant::now();
        for (i, n) in ["a", "b", "c"].iter().enumerate() {
            let f = finding(n, Status::Firing);
            set.commit(plan_one(&set, &f, T0), t + Duration::from_secs(i as u64));
        }
        let rb = finding("b", Status::Resolved);
        set.commit(plan_one(&set, &rb, T0 + 1000), t + Duration::from_secs(5));
        let d = finding("d", Status::Firing);
        set.commit(plan_one(&set, &d, T0), t + Duration::from_secs(6));
        assert_eq!(set.len(), 3);
        assert_eq!(set.evicted, 1);
        assert!(set.alert_of(&rb.id).is_none(), "resolved b evicted first");
        let e = finding("e", Status::Firing);
        set.commit(plan_one(&set, &e, T0), t + Duration::from_secs(7));
        assert_eq!(set.evicted, 2);
        assert!(
            set.alert_of(&finding("a", Status::Firing).id).is_none(),
            "oldest firing next"
        );
    }

    #[test]
    fn config_validation_rejects_what_would_break_alerts() {
        use crate::config::LoadPipeline;
        use crate::correlate::spec::{PatternSet, Settings};
        let text = "sinks:\n  - type: alertmanager\n    name: am\n    url: http://am:9093\n    repost_interval: 5m\n    generator_url: ftp://x\n    labels:\n      severity: high\n      bad-name: z\n      team: platform\n";
        let Err(errs) = Settings::pipeline_from_text(text, "p.yaml", PatternSet::builtin()) else {
            panic!("accepted an invalid alertmanager sink");
        };
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "sinks[0].repost_interval",
                "sinks[0].labels.bad-name",
                "sinks[0].labels.severity",
                "sinks[0].generator_url"
            ],
            "{errs:?}"
        );
        let ok = text
            .replace("5m", "30s")
            .replace("ftp://x", "https://ui.example/{id}")
            .replace("      severity: high\n      bad-name: z\n", "");
        assert!(Settings::pipeline_from_text(&ok, "p.yaml", PatternSet::builtin()).is_ok());
    }
}
