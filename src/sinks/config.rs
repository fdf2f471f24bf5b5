//! Sink, route and delivery configuration: the `sinks:`, `routes:` and `delivery:`
//! sections of a pipeline file, and the parts every sink kind shares.
//!
//! Raw (serde, `deny_unknown_fields`) → validated (pure, every error with file, line and
//! field) → built (the only step with I/O: reading secrets, opening files, connecting).
//! Each kind's section and the check of its own fields live in its folder
//! (`sinks/<kind>/config.rs`, re-exported here); [`validate`] checks what every sink has
//! (a unique name, secrets by reference only) and hands each sink to its kind's check
//! ([`SinkConfig::check`]) with the one error collector, [`Ctx`]. Route and delivery
//! fields are `Spanned`, so their errors sit where the parser read them.
//!
//! Also owns what each kind of sink receives by default ([`SinkClass`]: chat and paging
//! sinks get findings only, SIEM and storage sinks findings and audit records, signals
//! sinks signals only; a route naming `type` overrides it) and its description for
//! `fluxsight validate` ([`describe`]). Signals are not routed: every signals sink gets
//! all of them ([`SinkConfig::signals_heartbeat_ms`]).
//!
//! Invariant: secrets (webhook URLs of Slack, HMAC keys, tokens, passwords, credential
//! headers) are never accepted as plain text in the file: only `{env: NAME}` or
//! `{file: PATH}` references, resolved at build time and never logged. A plain value in
//! a secret field is dropped while parsing ([`SecretRef`] keeps nothing of it) and
//! reported by validation as "`<field>` holds a secret", so no error can quote it.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_saphyr::Spanned;

pub use super::alertmanager::config::AlertmanagerConfig;
pub use super::chat_webhook::ChatWebhookConfig;
pub use super::endpoint::HttpEndpoint;
pub use super::file::config::FileConfig;
pub use super::gchat::config::GoogleChatConfig;
pub use super::kafka::config::KafkaConfig;
pub use super::secret::{plaintext_secret_message, SecretRef, SECRET_FORMS};
pub use super::slack::config::SlackConfig;
use super::ssrf::{self, Allow};
pub use super::stdout::config::StdoutConfig;
pub use super::teams::config::TeamsConfig;
pub use super::webhook::config::WebhookConfig;
use crate::correlate::PatternId;
use crate::record::Severity;
use crate::spec_error::{Position, PositionIndex, SpecError};
use crate::time::parse_go_duration_ms;

/// A header value: plain text for non-secret headers, or a secret reference.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum HeaderValue {
    Plain(String),
    Secret(SecretRef),
}

/// A value that may be given in plain text or by reference (URLs that are not secret).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum MaybeSecret {
    Plain(String),
    Secret(SecretRef),
}

impl MaybeSecret {
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            MaybeSecret::Plain(s) => Ok(s.clone()),
            MaybeSecret::Secret(r) => r.resolve(),
        }
    }
}

/// Body format of findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    #[default]
    Native,
    Ocsf,
    Ecs,
    /// CloudEvents 1.0 structured mode, `data` = the native finding.
    Cloudevents,
    /// Human text (stdout only).
    Text,
}

/// One sink, by `type`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SinkConfig {
    Stdout(StdoutConfig),
    File(FileConfig),
    Webhook(WebhookConfig),
    Slack(SlackConfig),
    Teams(TeamsConfig),
    #[serde(rename = "googlechat", alias = "gchat")]
    GoogleChat(GoogleChatConfig),
    Alertmanager(AlertmanagerConfig),
    Kafka(KafkaConfig),
}

impl SinkConfig {
    pub fn name(&self) -> &str {
        match self {
            SinkConfig::Stdout(c) => &c.name,
            SinkConfig::File(c) => &c.name,
            SinkConfig::Webhook(c) => &c.name,
            SinkConfig::Slack(c) => &c.name,
            SinkConfig::Teams(c) => &c.name,
            SinkConfig::GoogleChat(c) => &c.name,
            SinkConfig::Alertmanager(c) => &c.name,
            SinkConfig::Kafka(c) => &c.name,
        }
    }

    /// What kind of destination the sink is: decides what it receives by default.
    /// A new sink type picks its class here, and nothing else.
    pub fn class(&self) -> SinkClass {
        match self {
            SinkConfig::Slack(_) | SinkConfig::Teams(_) | SinkConfig::GoogleChat(_) => {
                SinkClass::Chat
            }
            SinkConfig::Alertmanager(_) => SinkClass::Paging,
            SinkConfig::Kafka(c) if c.signals => SinkClass::Signals,
            SinkConfig::Kafka(_) | SinkConfig::Webhook(_) => SinkClass::Siem,
            SinkConfig::File(_) | SinkConfig::Stdout(_) => SinkClass::Storage,
        }
    }

    /// Whether a route that does not say which types it wants (or no route at all)
    /// sends this sink audit records.
    pub fn receives_audit_by_default(&self) -> bool {
        self.class().receives_audit_by_default()
    }

    /// The heartbeat interval (ms) of a sink that publishes signals; `None` for every
    /// other sink (they never see a signal).
    pub fn signals_heartbeat_ms(&self) -> Option<u64> {
        match self {
            SinkConfig::Kafka(c) => c.heartbeat_ms(),
            _ => None,
        }
    }

    /// Every secret field of the sink, by its key: validation rejects plain-text values
    /// in each of them with one message ([`plaintext_secret_message`]). A new secret
    /// field is listed here.
    pub fn secret_fields(&self) -> Vec<(&'static str, &SecretRef)> {
        let mut out = Vec::new();
        match self {
            SinkConfig::Slack(c) => {
                if let Some(r) = &c.url {
                    out.push(("url", r));
                }
                if let Some(r) = &c.token {
                    out.push(("token", r));
                }
            }
            SinkConfig::Teams(c) | SinkConfig::GoogleChat(c) => out.push(("url", &c.url)),
            SinkConfig::Webhook(c) => {
                if let Some(r) = &c.hmac_secret {
                    out.push(("hmac_secret", r));
                }
                if let MaybeSecret::Secret(r) = &c.url {
                    out.push(("url", r));
                }
            }
            SinkConfig::Alertmanager(c) => {
                if let MaybeSecret::Secret(r) = &c.url {
                    out.push(("url", r));
                }
            }
            SinkConfig::Kafka(c) => {
                if let Some(r) = &c.sasl_username {
                    out.push(("sasl_username", r));
                }
                if let Some(r) = &c.sasl_password {
                    out.push(("sasl_password", r));
                }
            }
            SinkConfig::File(_) | SinkConfig::Stdout(_) => {}
        }
        out
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            SinkConfig::Stdout(_) => "stdout",
            SinkConfig::File(_) => "file",
            SinkConfig::Webhook(_) => "webhook",
            SinkConfig::Slack(_) => "slack",
            SinkConfig::Teams(_) => "teams",
            SinkConfig::GoogleChat(_) => "googlechat",
            SinkConfig::Alertmanager(_) => "alertmanager",
            SinkConfig::Kafka(_) => "kafka",
        }
    }

    /// Validates the kind's own fields (each kind owns its arm; the shared ones, name and
    /// secrets, are checked by [`validate`]).
    pub fn check(&self, cx: &mut Ctx<'_>, base: &str) {
        match self {
            SinkConfig::Stdout(_) => {}
            SinkConfig::File(c) => c.check(cx, base),
            SinkConfig::Webhook(c) => c.check(cx, base),
            SinkConfig::Slack(c) => c.check(cx, base),
            SinkConfig::Teams(c) | SinkConfig::GoogleChat(c) => c.check(cx, base),
            SinkConfig::Alertmanager(c) => c.check(cx, base),
            SinkConfig::Kafka(c) => c.check(cx, base),
        }
    }

    /// Chat sinks: people read them, so they get findings only by default and a storm
    /// of findings as one digest.
    pub fn is_chat(&self) -> bool {
        self.class() == SinkClass::Chat
    }
}

/// What kind of destination a sink is (see [`SinkConfig::class`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkClass {
    /// People read it (Slack, Teams, Google Chat): findings only by default, and a
    /// storm of findings becomes one digest message.
    Chat,
    /// It pages people (Alertmanager): findings only by default.
    Paging,
    /// A machine stream (Kafka, webhooks into a SIEM): findings and audit records.
    Siem,
    /// Kept for later (file, stdout): findings and audit records.
    Storage,
    /// Feeds `fluxsight central` (a Kafka sink with `signals: true`): signals, and
    /// findings or audit records only from a route that names them (`match: {type: …}`).
    Signals,
}

impl SinkClass {
    /// Whether a route that does not name its types sends the sink findings.
    pub fn receives_findings_by_default(self) -> bool {
        self != SinkClass::Signals
    }

    /// Audit records ("revision applied", …) belong to the SIEM stream: chat and paging
    /// sinks get them only through a route that asks for them (`match: {type: audit}`).
    pub fn receives_audit_by_default(self) -> bool {
        matches!(self, SinkClass::Siem | SinkClass::Storage)
    }

    /// Whether storms reach the sink as one digest instead of a message per finding.
    pub fn digests(self) -> bool {
        self == SinkClass::Chat
    }
}

/// One value or a list (`type: audit`, `type: [finding, audit]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn values(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// The record types a route may name.
pub const TYPE_FINDING: &str = "finding";
pub const TYPE_AUDIT: &str = "audit";

/// What a route matches. Empty lists match everything.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// Finding patterns (taxonomy.md §2).
    #[serde(default)]
    pub patterns: Vec<Spanned<String>>,
    /// Lowest finding severity routed (`info`, `warning`, `error`, `critical`).
    #[serde(default)]
    pub severity_min: Option<Spanned<String>>,
    /// Tenants (exact).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Record types: `finding` and/or `audit`, one value or a list. Without it, the
    /// route sends findings to all its sinks and audit records only to the sinks that
    /// take them by default (SIEM and storage sinks, not chat or paging sinks).
    #[serde(default, rename = "type")]
    pub types: Option<OneOrMany>,
    /// Older spelling of `type` (a list), still accepted.
    #[serde(default)]
    pub kinds: Vec<String>,
}

/// A route: which deliveries go to which sinks, with storm control.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub name: String,
    #[serde(default, rename = "match")]
    pub matcher: RouteMatch,
    /// Sink names.
    pub sinks: Vec<Spanned<String>>,
    /// Finding fields that form a group: `pattern`, `tenant`, `cluster`, `severity`,
    /// `namespace`, `kind`, `name`, `id`, or `label:<key>`. Empty = each finding alone
    /// (no grouping: every update is delivered as it happens).
    #[serde(default)]
    pub group_by: Vec<Spanned<String>>,
    /// Wait before the first notification of a new group (default `0s`).
    #[serde(default)]
    pub group_wait: Option<Spanned<String>>,
    /// Minimum time between notifications of a changed group (default `0s`).
    #[serde(default)]
    pub group_interval: Option<Spanned<String>>,
    /// Re-notify a firing, unchanged group this often (default never).
    #[serde(default)]
    pub repeat_interval: Option<Spanned<String>>,
    /// Chat sinks of this route get one digest message instead of the individual
    /// notifications when more than this many findings change within one group window
    /// (`group_wait`, 30s for chat sinks when unset). Default 10.
    #[serde(default)]
    pub digest_threshold: Option<usize>,
    /// Keep matching later routes after this one (default false).
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
}

/// How delivery persists and retries (`delivery:` section).
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Directory for spools, cursors and dead letters. Without it, queues are in memory
    /// only (nothing survives a restart).
    #[serde(default)]
    pub state_dir: Option<String>,
    /// `always` (fsync every append), `interval` (default: every `fsync_interval`), `never`.
    #[serde(default)]
    pub fsync: Option<Spanned<String>>,
    /// Default `1s`.
    #[serde(default)]
    pub fsync_interval: Option<Spanned<String>>,
    /// Spool size limit per sink in bytes (default 1 GiB); beyond it new deliveries are
    /// dropped and counted.
    #[serde(default)]
    pub spool_max_bytes: Option<u64>,
    /// In-memory read-ahead per sink (default 256 deliveries).
    #[serde(default)]
    pub queue_capacity: Option<usize>,
    /// First retry delay (default `500ms`).
    #[serde(default)]
    pub retry_initial: Option<Spanned<String>>,
    /// Longest retry delay (default `1m`).
    #[serde(default)]
    pub retry_max: Option<Spanned<String>>,
    /// How long shutdown waits for sinks to drain (default `20s`).
    #[serde(default)]
    pub shutdown_timeout: Option<Spanned<String>>,
}

/// fsync policy of the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    Always,
    Interval(u64),
    Never,
}

/// Validated delivery settings (durations in ms).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    pub state_dir: Option<String>,
    pub fsync: FsyncPolicy,
    pub spool_max_bytes: u64,
    pub queue_capacity: usize,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    pub shutdown_timeout_ms: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            state_dir: None,
            fsync: FsyncPolicy::Interval(1000),
            spool_max_bytes: 1 << 30,
            queue_capacity: 256,
            retry_initial_ms: 500,
            retry_max_ms: 60_000,
            shutdown_timeout_ms: 20_000,
        }
    }
}

/// A validated route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub name: String,
    pub patterns: BTreeSet<String>,
    pub severity_min: Severity,
    pub tenants: BTreeSet<String>,
    pub findings: bool,
    /// The route matches audit records (it has sinks to send them to).
    pub audit: bool,
    pub sinks: Vec<String>,
    /// The sinks audit records go to: all of `sinks` when the route names `type:
    /// audit`, otherwise those whose class takes audit by default.
    pub audit_sinks: Vec<String>,
    /// Chat sinks of the route: their finding notifications are held for
    /// `chat_window_ms` (when the route has no `group_by`) and become one digest when
    /// more than `digest_threshold` findings changed.
    pub chat_sinks: Vec<String>,
    pub chat_window_ms: u64,
    pub digest_threshold: usize,
    /// Where a digest's reader sees every finding (a command or a file).
    pub digest_hint: String,
    pub group_by: Vec<String>,
    pub group_wait_ms: u64,
    pub group_interval_ms: u64,
    pub repeat_interval_ms: Option<u64>,
    pub continue_matching: bool,
}

impl Route {
    /// Sinks whose findings go through the route's storm-control groups: all of them
    /// with `group_by`; without it, all but the chat sinks (which have their window).
    pub fn group_sinks(&self) -> impl Iterator<Item = &String> {
        self.sinks
            .iter()
            .filter(|s| !(self.group_by.is_empty() && self.chat_sinks.contains(s)))
    }

    /// Chat sinks whose findings are held in the route's chat window (routes without
    /// `group_by`; with it, the groups are the window).
    pub fn windowed_sinks(&self) -> &[String] {
        if self.group_by.is_empty() {
            &self.chat_sinks
        } else {
            &[]
        }
    }

    /// The finding filter in words (`severity >= warning, tenant in {a}`, or `all`).
    fn finding_filter(&self) -> String {
        let mut parts = Vec::new();
        if self.severity_min > Severity::Info {
            parts.push(format!("severity >= {}", self.severity_min.as_str()));
        }
        if !self.patterns.is_empty() {
            parts.push(format!("pattern in {{{}}}", join(&self.patterns)));
        }
        if !self.tenants.is_empty() {
            parts.push(format!("tenant in {{{}}}", join(&self.tenants)));
        }
        if parts.is_empty() {
            "all".into()
        } else {
            parts.join(", ")
        }
    }

    /// The audit filter in words (the router matches audit records by tenant, and by
    /// pattern only for `rbac_denied`).
    fn audit_filter(&self) -> String {
        let mut parts = Vec::new();
        if !self.patterns.is_empty() {
            parts.push(if self.patterns.contains(PatternId::RbacDenied.as_str()) {
                "rbac_denied only".to_string()
            } else {
                "none (patterns match no audit record)".to_string()
            });
        }
        if !self.tenants.is_empty() {
            parts.push(format!("tenant in {{{}}}", join(&self.tenants)));
        }
        if parts.is_empty() {
            "all".into()
        } else {
            parts.join(", ")
        }
    }
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// `30s`, `1500ms`.
fn ms_text(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// What each sink will receive, one line per sink, for `fluxsight validate`:
/// `sink slack-ops (slack): findings (severity >= warning via route 'ops'; digest
/// above 10 in a 30s window); audit: no`. A route is described by its own match, even
/// when an earlier route without `continue` takes some records first.
pub fn describe(plan: &DeliveryPlan) -> Vec<String> {
    plan.sinks
        .iter()
        .map(|s| {
            let name = s.name();
            let mut findings = Vec::new();
            let mut audit = Vec::new();
            for r in plan
                .routes
                .iter()
                .filter(|r| r.sinks.iter().any(|n| n == name))
            {
                if r.findings {
                    let mut d = format!("{} via route '{}'", r.finding_filter(), r.name);
                    if r.chat_sinks.iter().any(|n| n == name) {
                        d.push_str(&match r.group_by.is_empty() {
                            true => format!(
                                ", digest above {} in a {} window",
                                r.digest_threshold,
                                ms_text(r.chat_window_ms)
                            ),
                            false => format!(", digest above {} per group", r.digest_threshold),
                        });
                    }
                    findings.push(d);
                }
                if r.audit_sinks.iter().any(|n| n == name) {
                    audit.push(format!("{} via route '{}'", r.audit_filter(), r.name));
                }
            }
            let list = |what: &str, v: Vec<String>| match v.is_empty() {
                true => format!("{what}: no"),
                false => format!("{what} ({})", v.join("; ")),
            };
            let signals = match s.signals_heartbeat_ms() {
                Some(ms) => format!("; signals (every record, heartbeat every {})", ms_text(ms)),
                None => String::new(),
            };
            format!(
                "sink {name} ({}): {}; {}{signals}",
                s.type_name(),
                list("findings", findings),
                list("audit", audit)
            )
        })
        .collect()
}

/// Everything the delivery side needs, validated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeliveryPlan {
    pub sinks: Vec<SinkConfig>,
    pub routes: Vec<Route>,
    pub settings: DeliverySettings,
    /// The cluster signals are published for (the pipeline file's `cluster`, set by
    /// `crate::config`; empty: `default`).
    pub cluster: String,
}

impl DeliveryPlan {
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }
}

/// Name of the route used when the pipeline file has none.
pub const DEFAULT_ROUTE: &str = "default";
/// Group window of chat sinks whose route sets no `group_wait`: long enough that a
/// storm lands in one window, short enough for an alert.
pub const DEFAULT_CHAT_GROUP_WAIT_MS: u64 = 30_000;
/// Findings in one window above which chat sinks get a digest.
pub const DEFAULT_DIGEST_THRESHOLD: usize = 10;

/// The record types a route asked for.
struct Wants {
    /// The route named its types (`type:` or `kinds:`).
    explicit: bool,
    findings: bool,
    audit: bool,
}

impl Wants {
    fn of(types: &[String]) -> Wants {
        let explicit = !types.is_empty();
        Wants {
            explicit,
            findings: !explicit || types.iter().any(|t| t == TYPE_FINDING),
            audit: types.iter().any(|t| t == TYPE_AUDIT),
        }
    }

    /// The route's sinks that get findings: all of them when the route names its types
    /// (it has findings only if it asked), else those that take findings by default.
    fn finding_sinks(&self, all: &[SinkConfig], named: &[String]) -> Vec<String> {
        named
            .iter()
            .filter(|n| {
                self.explicit
                    || all
                        .iter()
                        .find(|s| s.name() == n.as_str())
                        .is_none_or(|s| s.class().receives_findings_by_default())
            })
            .cloned()
            .collect()
    }

    /// The route's sinks that get audit records: all of them when the route asks for
    /// audit, none when it names only findings, else those that take audit by default.
    fn audit_sinks(&self, all: &[SinkConfig], named: &[String]) -> Vec<String> {
        named
            .iter()
            .filter(|n| {
                if self.explicit {
                    self.audit
                } else {
                    all.iter()
                        .find(|s| s.name() == n.as_str())
                        .is_some_and(SinkConfig::receives_audit_by_default)
                }
            })
            .cloned()
            .collect()
    }
}

/// The chat sinks among `named`.
fn chat_sinks(all: &[SinkConfig], named: &[String]) -> Vec<String> {
    named
        .iter()
        .filter(|n| {
            all.iter()
                .find(|s| s.name() == n.as_str())
                .is_some_and(|s| s.class().digests())
        })
        .cloned()
        .collect()
}

/// Where a digest tells its reader to find every finding: the pipeline's file sink
/// when it has one, else the replay command.
fn digest_hint(sinks: &[SinkConfig], file: &str) -> String {
    match sinks.iter().find_map(|s| match s {
        SinkConfig::File(f) => Some(f.path.as_str()),
        _ => None,
    }) {
        Some(path) => format!("every finding: {path}"),
        None => format!("every finding: fluxsight replay --output text --config {file} <logs>"),
    }
}

/// Group-by fields a route may use.
fn valid_group_field(f: &str) -> bool {
    matches!(
        f,
        "pattern" | "tenant" | "cluster" | "severity" | "namespace" | "kind" | "name" | "id"
    ) || f.strip_prefix("label:").is_some_and(|k| !k.is_empty())
}

/// What validation collects errors into: the file, its text (to place each error at its
/// field) and the errors so far. Each kind's `check` takes it.
pub struct Ctx<'a> {
    file: &'a str,
    /// The positions of every field as serde-saphyr read them, built on the first error
    /// (kinds flatten [`HttpEndpoint`] and `sinks:` items are internally tagged: serde
    /// buffers both, so their fields cannot carry a `Spanned` location themselves).
    index: Option<PositionIndex>,
    text: &'a str,
    errs: Vec<SpecError>,
}

impl Ctx<'_> {
    /// An error about the field at `field` (`sinks[2].timeout`).
    pub fn err(&mut self, field: &str, message: impl Into<String>) {
        let text = self.text;
        let index = self
            .index
            .get_or_insert_with(|| PositionIndex::new(text).unwrap_or_else(PositionIndex::empty));
        let pos = index
            .nearest(field)
            .unwrap_or(Position { line: 1, column: 0 });
        self.errs
            .push(SpecError::located(self.file, pos, field, message));
    }

    /// An error about the field at `field`, placed where the parser read `value` (a list
    /// item, not the list); at the field's path when the parser gave no location.
    pub fn err_at<T>(&mut self, field: &str, value: &Spanned<T>, message: impl Into<String>) {
        match Position::of(value.referenced) {
            Some(pos) => self
                .errs
                .push(SpecError::located(self.file, pos, field, message)),
            None => self.err(field, message),
        }
    }

    /// [`Ctx::dur`] of a field read with its location.
    pub fn dur_at(&mut self, v: &Option<Spanned<String>>, field: &str, default: u64) -> u64 {
        match v {
            None => default,
            Some(s) => parse_go_duration_ms(&s.value).unwrap_or_else(|| {
                let message = format!("'{}' is not a duration such as 30s or 5m", s.value);
                self.err_at(field, s, message);
                default
            }),
        }
    }

    /// A duration field in milliseconds, `default` when unset or invalid (the error is
    /// recorded).
    pub fn dur(&mut self, v: &Option<String>, field: &str, default: u64) -> u64 {
        match v {
            None => default,
            Some(s) => parse_go_duration_ms(s).unwrap_or_else(|| {
                self.err(field, format!("'{s}' is not a duration such as 30s or 5m"));
                default
            }),
        }
    }

    /// A body format for machines: `text` is for stdout only.
    pub fn machine_format(&mut self, base: &str, format: BodyFormat) {
        if format == BodyFormat::Text {
            self.err(&format!("{base}.format"), "text is for stdout only");
        }
    }

    /// Checks a URL written in the file; with `guard`, also its host against the SSRF
    /// guard (names and IP literals as written; resolution is checked again at connect
    /// time).
    pub fn url(&mut self, u: &str, field: &str, guard: Option<&Allow>) {
        let lower = u.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            self.err(field, format!("'{u}' is not an http(s) URL"));
        } else if let Some(why) = guard.and_then(|allow| {
            let url = reqwest::Url::parse(u).ok()?;
            ssrf::check_url(&url, allow).err()
        }) {
            let key = field.rsplit('.').next().unwrap_or(field);
            self.err(field, ssrf::refusal(key, why));
        } else if u.contains('@')
            && u.split("://")
                .nth(1)
                .is_some_and(|r| r.split('/').next().is_some_and(|h| h.contains('@')))
        {
            self.err(
                field,
                "credentials in URLs must come from {env: NAME} or {file: PATH}",
            );
        }
    }
}

/// Validates the raw sections (pure; no secrets are read here).
pub fn validate(
    sinks: Vec<SinkConfig>,
    routes: Vec<RouteConfig>,
    delivery: Option<DeliveryConfig>,
    file: &str,
    text: &str,
) -> Result<DeliveryPlan, Vec<SpecError>> {
    let mut cx = Ctx {
        file,
        index: None,
        text,
        errs: Vec::new(),
    };
    let mut names = BTreeSet::new();
    for (i, s) in sinks.iter().enumerate() {
        let base = format!("sinks[{i}]");
        if s.name().is_empty() {
            cx.err(&format!("{base}.name"), "must not be empty");
        } else if !names.insert(s.name().to_string()) {
            cx.err(
                &format!("{base}.name"),
                format!("duplicate sink name '{}'", s.name()),
            );
        }
        for (key, secret) in s.secret_fields() {
            let field = format!("{base}.{key}");
            if let Some(message) = secret.problem(&field) {
                cx.err(&field, message);
            }
        }
        s.check(&mut cx, &base);
    }
    let mut out_routes = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        let base = format!("routes[{i}]");
        for s in &r.sinks {
            if !names.contains(&s.value) {
                let message = format!("no sink named '{}'", s.value);
                cx.err_at(&format!("{base}.sinks"), s, message);
            }
        }
        let route_sinks: Vec<String> = r.sinks.iter().map(|s| s.value.clone()).collect();
        if r.sinks.is_empty() {
            cx.err(&format!("{base}.sinks"), "a route needs at least one sink");
        }
        for p in &r.matcher.patterns {
            if crate::correlate::PatternId::parse(&p.value).is_none() {
                let message = format!("unknown pattern '{}'", p.value);
                cx.err_at(&format!("{base}.match.patterns"), p, message);
            }
        }
        let severity_min = match &r.matcher.severity_min {
            None => Severity::Info,
            Some(s) => Severity::parse(&s.value).unwrap_or_else(|| {
                let message = format!("'{}' is not one of info, warning, error, critical", s.value);
                cx.err_at(&format!("{base}.match.severity_min"), s, message);
                Severity::Info
            }),
        };
        let typed = r.matcher.types.as_ref().map(OneOrMany::values);
        for (key, values) in [
            ("type", typed.as_deref()),
            ("kinds", Some(&r.matcher.kinds[..])),
        ] {
            for k in values.unwrap_or_default() {
                if k != TYPE_FINDING && k != TYPE_AUDIT {
                    cx.err(
                        &format!("{base}.match.{key}"),
                        format!("'{k}' is not {TYPE_FINDING} or {TYPE_AUDIT}"),
                    );
                }
            }
        }
        let digest_threshold = r.digest_threshold.unwrap_or(DEFAULT_DIGEST_THRESHOLD);
        if digest_threshold == 0 {
            cx.err(&format!("{base}.digest_threshold"), "must be above 0");
        }
        for g in &r.group_by {
            if !valid_group_field(&g.value) {
                let message = format!("'{}' is not a groupable field", g.value);
                cx.err_at(&format!("{base}.group_by"), g, message);
            }
        }
        let group_by: Vec<String> = r.group_by.iter().map(|g| g.value.clone()).collect();
        let mut types: Vec<String> = typed.unwrap_or_default();
        types.extend(r.matcher.kinds.iter().cloned());
        let wants = Wants::of(&types);
        let group_wait_ms = cx.dur_at(&r.group_wait, &format!("{base}.group_wait"), 0);
        let chat_window_ms = match r.group_wait {
            Some(_) => group_wait_ms,
            None => DEFAULT_CHAT_GROUP_WAIT_MS,
        };
        out_routes.push(Route {
            name: r.name.clone(),
            patterns: r.matcher.patterns.iter().map(|p| p.value.clone()).collect(),
            severity_min,
            tenants: r.matcher.tenants.iter().cloned().collect(),
            findings: wants.findings,
            audit: false,
            audit_sinks: wants.audit_sinks(&sinks, &route_sinks),
            chat_sinks: chat_sinks(&sinks, &route_sinks),
            sinks: wants.finding_sinks(&sinks, &route_sinks),
            chat_window_ms,
            digest_threshold,
            digest_hint: String::new(),
            group_by,
            group_wait_ms,
            group_interval_ms: cx.dur_at(&r.group_interval, &format!("{base}.group_interval"), 0),
            repeat_interval_ms: r
                .repeat_interval
                .as_ref()
                .map(|_| cx.dur_at(&r.repeat_interval, &format!("{base}.repeat_interval"), 0)),
            continue_matching: r.continue_matching,
        });
    }
    // Without routes, every sink gets every finding, and the sinks that take audit
    // records by default get those (a one-sink pipeline needs no routes).
    if routes.is_empty() && !sinks.is_empty() {
        let all: Vec<String> = sinks.iter().map(|s| s.name().to_string()).collect();
        out_routes.push(Route {
            name: DEFAULT_ROUTE.into(),
            patterns: BTreeSet::new(),
            severity_min: Severity::Info,
            tenants: BTreeSet::new(),
            findings: true,
            audit: false,
            audit_sinks: Wants::of(&[]).audit_sinks(&sinks, &all),
            chat_sinks: chat_sinks(&sinks, &all),
            chat_window_ms: DEFAULT_CHAT_GROUP_WAIT_MS,
            digest_threshold: DEFAULT_DIGEST_THRESHOLD,
            digest_hint: String::new(),
            sinks: Wants::of(&[]).finding_sinks(&sinks, &all),
            group_by: Vec::new(),
            group_wait_ms: 0,
            group_interval_ms: 0,
            repeat_interval_ms: None,
            continue_matching: false,
        });
    }
    let hint = digest_hint(&sinks, file);
    for r in &mut out_routes {
        // A route that carries an audit record to no sink does not match it, so later
        // routes still see it.
        r.audit = !r.audit_sinks.is_empty();
        r.digest_hint = hint.clone();
    }
    let d = delivery.unwrap_or_default();
    let defaults = DeliverySettings::default();
    let fsync_interval = cx.dur_at(&d.fsync_interval, "delivery.fsync_interval", 1000);
    let fsync = match d.fsync.as_ref().map(|f| (f.value.as_str(), f)) {
        None | Some(("interval", _)) => FsyncPolicy::Interval(fsync_interval),
        Some(("always", _)) => FsyncPolicy::Always,
        Some(("never", _)) => FsyncPolicy::Never,
        Some((other, at)) => {
            let message = format!("'{other}' is not one of always, interval, never");
            cx.err_at("delivery.fsync", at, message);
            defaults.fsync
        }
    };
    let settings = DeliverySettings {
        state_dir: d.state_dir.clone(),
        fsync,
        spool_max_bytes: d.spool_max_bytes.unwrap_or(defaults.spool_max_bytes),
        queue_capacity: d.queue_capacity.unwrap_or(defaults.queue_capacity).max(1),
        retry_initial_ms: cx.dur_at(
            &d.retry_initial,
            "delivery.retry_initial",
            defaults.retry_initial_ms,
        ),
        retry_max_ms: cx.dur_at(&d.retry_max, "delivery.retry_max", defaults.retry_max_ms),
        shutdown_timeout_ms: cx.dur_at(
            &d.shutdown_timeout,
            "delivery.shutdown_timeout",
            defaults.shutdown_timeout_ms,
        ),
    };
    if cx.errs.is_empty() {
        Ok(DeliveryPlan {
            sinks,
            routes: out_routes,
            settings,
            cluster: String::new(),
        })
    } else {
        Err(cx.errs)
    }
}
