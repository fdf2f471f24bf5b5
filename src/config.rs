//! The pipeline file (`--config FILE`) as one checked whole: composes every component's
//! section into the correlator settings, the delivery plan and the live-mode settings.
//!
//! Owns: the file's top-level schema ([`PipelineConfig`], serde with
//! `deny_unknown_fields`) and the order in which sections are validated, so one run
//! reports every error of the file. Does not own any section's meaning: the correlator
//! validates its own (`correlate::spec`: cluster, tenants, pattern overrides, repeat
//! interval), sinks theirs (`sinks::config`: sinks, routes, delivery), the server the
//! receiver, the findings API (`api:`) and listen addresses, the Kubernetes sources
//! `kubernetes:`, `fluxsight central` its `central:`. All report [`SpecError`]s placed at the field (`crate::spec_error`).
//!
//! Why a module of its own: the composition needs every component, so it sits above
//! them (tests/layers.rs) and below `pipeline` and the CLI, which load through it.
//!
//! Invariant: pure (no I/O); the same text always yields the same settings or errors.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::correlate::spec::{CorrelateConfig, ParamValue, PatternSet, Settings, TenantRule};
use crate::server::api::{ApiSection, ApiSettings};
use crate::server::ReceiverSection;
use crate::sinks::config::{DeliveryConfig, DeliveryPlan, RouteConfig, SinkConfig};
use crate::sources::kube::{KubeSettings, KubernetesSection};
use crate::sources::signals::{CentralSection, CentralSettings};
use crate::spec_error::{yaml_error, SpecError};

/// A pipeline file (`--config FILE`) as written: every component's section.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Cluster name reported in every finding (default `default`).
    #[serde(default)]
    pub cluster: Option<String>,
    /// Namespace → tenant rules, first match wins; unmatched namespaces are their own tenant.
    #[serde(default)]
    pub tenants: Vec<TenantRule>,
    /// Per-pattern parameter overrides, e.g. `git_auth_failure: {min_attempts: 5}`.
    #[serde(default)]
    pub patterns: BTreeMap<String, BTreeMap<String, ParamValue>>,
    /// Re-emit a firing finding whose count changed after this long (default `1h`).
    #[serde(default)]
    pub repeat_interval: Option<String>,
    /// Destinations of findings and audit records (see `sinks::config`).
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// Which deliveries go to which sinks, with storm control.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Spool, fsync, retry and shutdown settings.
    #[serde(default)]
    pub delivery: Option<DeliveryConfig>,
    /// `fluxsight run`: address of the event receiver, also serving `/metrics`,
    /// `/healthz` and `/readyz` (default `0.0.0.0:9797`; Flux controllers use 8080, 9440
    /// and 9090).
    #[serde(default)]
    pub listen: Option<Spanned<String>>,
    /// `fluxsight run`: address of `/healthz`, `/readyz` and `/metrics` alone, with their
    /// own connection cap, for the probes (default `0.0.0.0:9440`; `none` or empty
    /// turns it off).
    #[serde(default)]
    pub health_listen: Option<Spanned<String>>,
    /// `fluxsight run`: the Flux event receiver.
    #[serde(default)]
    pub receiver: Option<ReceiverSection>,
    /// `fluxsight run`: the read-only findings API on `listen` (`/api/v1/findings`):
    /// on or off, how long resolved findings stay, how many are held.
    #[serde(default)]
    pub api: Option<ApiSection>,
    /// `fluxsight run` / `record`: the Kubernetes sources (namespace, selector, Event
    /// namespaces, metrics scrape, checkpoint).
    #[serde(default)]
    pub kubernetes: Option<KubernetesSection>,
    /// `fluxsight central`: the signals topic, consumer group, rebuild lookback and
    /// dead-letter topic (docs/fleet.md).
    #[serde(default)]
    pub central: Option<CentralSection>,
}
/// Live-mode settings of a pipeline file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveSection {
    pub listen: Option<String>,
    pub health_listen: Option<String>,
    pub receiver: ReceiverSection,
    pub api: ApiSettings,
    pub kubernetes: KubeSettings,
    /// `central:` (`None`: the file names no brokers there).
    pub central: Option<CentralSettings>,
}

/// Loads a whole pipeline file: correlation settings on top of `patterns`, the delivery
/// plan and the live-mode sections (pure). Collects every error of every section.
pub fn load(
    text: &str,
    file: &str,
    patterns: PatternSet,
) -> Result<(Settings, DeliveryPlan, LiveSection), Vec<SpecError>> {
    let cfg: PipelineConfig =
        serde_saphyr::from_str(text).map_err(|e| vec![yaml_error(&e, file, text)])?;
    let correlate = CorrelateConfig {
        cluster: cfg.cluster,
        tenants: cfg.tenants,
        patterns: cfg.patterns,
        repeat_interval: cfg.repeat_interval,
    };
    let mut errs = Vec::new();
    let settings = Settings::from_sections(correlate, file, text, patterns)
        .map_err(|e| errs.extend(e))
        .ok();
    let plan = crate::sinks::config::validate(cfg.sinks, cfg.routes, cfg.delivery, file, text)
        .unwrap_or_else(|e| {
            errs.extend(e);
            Default::default()
        });
    if let Some(l) = &cfg.listen {
        if l.value.parse::<std::net::SocketAddr>().is_err() {
            let message = format!("'{}' is not an address such as 0.0.0.0:9797", l.value);
            errs.push(SpecError::at_value(file, text, "listen", l, message));
        }
    }
    if let Some(l) = &cfg.health_listen {
        if crate::server::parse_optional_listen(&l.value).is_err() {
            let message = format!(
                "'{}' is not an address such as 0.0.0.0:9440, nor none",
                l.value
            );
            errs.push(SpecError::at_value(file, text, "health_listen", l, message));
        }
    }
    let receiver = cfg.receiver.unwrap_or_default();
    errs.extend(receiver.check(file, text));
    let api = cfg.api.unwrap_or_default();
    errs.extend(api.check(file, text));
    let kubernetes = KubeSettings::from_section(
        &cfg.kubernetes.unwrap_or_default(),
        plan.settings.state_dir.as_deref(),
        file,
        text,
    )
    .unwrap_or_else(|e| {
        errs.extend(e);
        Default::default()
    });
    let central = cfg
        .central
        .unwrap_or_default()
        .settings(file, text)
        .unwrap_or_else(|e| {
            errs.extend(e);
            None
        });
    let mut plan = plan;
    if let Some(s) = &settings {
        plan.cluster = s.cluster.clone();
    }
    match settings {
        Some(settings) if errs.is_empty() => Ok((
            settings,
            plan,
            LiveSection {
                listen: cfg.listen.map(|l| l.value),
                health_listen: cfg.health_listen.map(|l| l.value),
                receiver,
                api: api.settings(),
                kubernetes,
                central,
            },
        )),
        _ => Err(errs),
    }
}

/// The pipeline-file loaders as `Settings::…` calls, the form every command and test
/// has always used. They live here, not in `correlate`, because they need every
/// component's section; import this trait to call them.
pub trait LoadPipeline: Sized {
    /// Loads a pipeline file's correlation settings (every section is still checked).
    fn from_config_text(
        text: &str,
        file: &str,
        patterns: PatternSet,
    ) -> Result<Self, Vec<SpecError>>;

    /// Loads a pipeline file: correlation settings and the delivery plan (pure).
    fn pipeline_from_text(
        text: &str,
        file: &str,
        patterns: PatternSet,
    ) -> Result<(Self, DeliveryPlan), Vec<SpecError>>;

    /// Loads a whole pipeline file including its live-mode sections (pure); see [`load`].
    fn pipeline_full(
        text: &str,
        file: &str,
        patterns: PatternSet,
    ) -> Result<(Self, DeliveryPlan, LiveSection), Vec<SpecError>>;
}

impl LoadPipeline for Settings {
    fn from_config_text(
        text: &str,
        file: &str,
        patterns: PatternSet,
    ) -> Result<Self, Vec<SpecError>> {
        load(text, file, patterns).map(|(s, _, _)| s)
    }

    fn pipeline_from_text(
        text: &str,
        file: &str,
        patterns: PatternSet,
    ) -> Result<(Self, DeliveryPlan), Vec<SpecError>> {
        load(text, file, patterns).map(|(s, p, _)| (s, p))
    }

    fn pipeline_full(
        text: &str,
        file: &str,
        patterns: PatternSet,
    ) -> Result<(Self, DeliveryPlan, LiveSection), Vec<SpecError>> {
        load(text, file, patterns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::PatternId;

    #[test]
    fn config_overrides_and_tenants() {
        let text = "cluster: prod\ntenants:\n  - namespace: 'team-(.*)'\n    tenant: '$1'\npatterns:\n  git_auth_failure:\n    min_attempts: 5\n";
        let s = Settings::from_config_text(text, "c.yaml", PatternSet::builtin()).unwrap();
        assert_eq!(s.cluster, "prod");
        assert_eq!(s.tenants.tenant("team-a"), "a");
        assert_eq!(s.tenants.tenant("other"), "other");
        assert_eq!(
            s.patterns.get(PatternId::GitAuthFailure).n("min_attempts"),
            5
        );
        let bad = "cluster: prod\nclustr: x\n";
        let e = Settings::from_config_text(bad, "c.yaml", PatternSet::builtin()).unwrap_err();
        assert!(e[0].message.contains("clustr") || e[0].field == "(document)");
    }

    fn pipeline_errors(text: &str) -> Vec<SpecError> {
        Settings::pipeline_full(text, "p.yaml", PatternSet::builtin()).unwrap_err()
    }

    /// The issue-19 example: a type error inside a `sinks:` item (an internally tagged
    /// enum, which serde-saphyr can only place at the item's first key, 2:5) is
    /// reported at the offending value `"ten"`, 5:16, and names the field.
    #[test]
    fn type_error_in_a_list_item_points_at_the_value() {
        let text = "sinks:\n  - name: hook\n    type: webhook\n    url: http://127.0.0.1:1/x\n    max_batch: \"ten\"\n";
        let e = pipeline_errors(text);
        assert_eq!((e[0].line, e[0].column), (5, 16), "{e:?}");
        assert_eq!(e[0].field, "sinks[0].max_batch");
        assert!(e[0].message.contains("invalid type"), "{e:?}");
        assert_eq!(
            e[0].to_string(),
            format!("p.yaml:5:16: sinks[0].max_batch: {}", e[0].message)
        );
    }

    /// An unknown key in the second item, whose name is a valid key of the first:
    /// searching the text for `url:` found the first item's line.
    #[test]
    fn unknown_field_in_a_list_item_points_at_its_key() {
        let text = "sinks:\n  - name: hook\n    type: webhook\n    url: http://127.0.0.1:1/x\n  - name: out\n    type: stdout\n    url: http://127.0.0.1:1/y\n";
        let e = pipeline_errors(text);
        assert_eq!((e[0].line, e[0].column), (7, 5), "{e:?}");
        assert_eq!(e[0].field, "sinks[1].url");
        assert!(e[0].message.contains("unknown field `url`"), "{e:?}");
    }

    /// A type error in a nested route field (a plain struct, located by serde-saphyr)
    /// names the field; a semantic error there points at the value's column.
    #[test]
    fn nested_route_fields_are_named_and_placed() {
        let route = |m: &str| {
            format!("sinks:\n  - name: out\n    type: stdout\nroutes:\n  - name: a\n    sinks: [out]\n  - name: b\n    sinks: [out]\n    match:\n      {m}\n")
        };
        let e = pipeline_errors(&route("kinds: finding"));
        assert_eq!((e[0].line, e[0].column), (10, 14), "{e:?}");
        assert_eq!(e[0].field, "routes[1].match.kinds");
        let e = pipeline_errors(&route("severity_min: loud"));
        assert_eq!((e[0].line, e[0].column), (10, 21), "{e:?}");
        assert_eq!(e[0].field, "routes[1].match.severity_min");
    }

    /// A bad duration in `delivery:` (checked after deserialisation) points at the value.
    #[test]
    fn bad_delivery_duration_points_at_the_value() {
        let text = "cluster: c\ndelivery:\n  retry_initial: 1s\n  retry_max: soon\n";
        let e = pipeline_errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!((e[0].line, e[0].column), (4, 14), "{e:?}");
        assert_eq!(e[0].field, "delivery.retry_max");
        assert!(e[0]
            .to_string()
            .starts_with("p.yaml:4:14: delivery.retry_max: "));
    }

    /// A tenant rule's bad regex is placed at its own item, not the first `namespace:`.
    #[test]
    fn tenant_regex_error_points_at_its_item() {
        let text = "tenants:\n  - namespace: 'a-(.*)'\n    tenant: '$1'\n  - namespace: 'b-(('\n    tenant: b\n";
        let e = pipeline_errors(text);
        assert_eq!((e[0].line, e[0].column), (4, 16), "{e:?}");
        assert_eq!(e[0].field, "tenants[1].namespace");
        assert_eq!(
            e[0].to_string(),
            "p.yaml:4:16: tenants[1].namespace: invalid regex \"b-((\": unclosed group"
        );
    }

    /// An item of a route's list (`sinks`, `group_by`, `match.patterns`) is placed at
    /// the item the parser read, through `Spanned`. The path locator could only place
    /// the list: `[out, nope]` at 6:12 (not `nope`, 6:18), the `group_by` list at 7:15
    /// (its bad item is on line 8), the `patterns:` key at 10:7 (its bad item: 12:11).
    #[test]
    fn a_route_list_item_is_placed_at_the_item() {
        let text = "sinks:\n  - name: out\n    type: stdout\nroutes:\n  - name: a\n    sinks: [out, nope]\n    group_by: [tenant,\n      colour]\n    match:\n      patterns:\n        - git_auth_failure\n        - no_such_pattern\n";
        let e = pipeline_errors(text);
        let at: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            at,
            [
                "p.yaml:6:18: routes[0].sinks: no sink named 'nope'",
                "p.yaml:12:11: routes[0].match.patterns: unknown pattern 'no_such_pattern'",
                "p.yaml:8:7: routes[0].group_by: 'colour' is not a groupable field",
            ]
        );
    }

    /// A sink written as a flow mapping, a key name repeated in a comment and under two
    /// sinks: each error is at its own sink's value (the parser's position, never the
    /// first text match of `timeout:`). A guard: a text search would fail it, the
    /// parser-built index (`spec_error::PositionIndex`) already passed it.
    #[test]
    fn flow_mappings_comments_and_repeated_keys_are_placed_by_the_parser() {
        let text = "# timeout: 5x in a comment\nsinks:\n  - {name: a, type: webhook, url: \"http://127.0.0.1:1/x\", timeout: 5x}\n  - name: b\n    type: webhook\n    url: http://127.0.0.1:1/y\n    timeout: 7q\n";
        let e = pipeline_errors(text);
        let at: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            at,
            [
                "p.yaml:3:68: sinks[0].timeout: '5x' is not a duration such as 30s or 5m",
                "p.yaml:7:14: sinks[1].timeout: '7q' is not a duration such as 30s or 5m",
            ]
        );
    }

    const SIGNALS_PIPELINE: &str = "cluster: prod-eu-1\nsinks:\n  - name: ops\n    type: slack\n    url: {env: SLACK_URL}\n  - name: pager\n    type: alertmanager\n    url: http://127.0.0.1:9093\n  - name: siem\n    type: kafka\n    brokers: 127.0.0.1:9092\n  - name: fleet\n    type: kafka\n    brokers: 127.0.0.1:9092\n    signals: true\n    heartbeat_interval: 5s\n";

    /// Signals go to the sinks that ask for them, and those get nothing else by default:
    /// with no routes, findings reach Slack, Alertmanager and the SIEM Kafka sink, audit
    /// records the SIEM sink, and neither reaches the signals sink.
    #[test]
    fn a_signals_sink_gets_no_findings_or_audit_by_default() {
        let (_, plan) =
            Settings::pipeline_from_text(SIGNALS_PIPELINE, "p.yaml", PatternSet::builtin())
                .unwrap();
        assert_eq!(plan.cluster, "prod-eu-1");
        let beats: Vec<Option<u64>> = plan
            .sinks
            .iter()
            .map(|s| s.signals_heartbeat_ms())
            .collect();
        assert_eq!(beats, [None, None, None, Some(5_000)]);
        let r = &plan.routes[0];
        assert_eq!(r.sinks, ["ops", "pager", "siem"]);
        assert_eq!(r.audit_sinks, ["siem"]);
        let described = crate::sinks::config::describe(&plan);
        assert_eq!(
            described[3],
            "sink fleet (kafka): findings: no; audit: no; signals (every record, heartbeat every 5s)"
        );
        assert!(described[..3].iter().all(|l| !l.contains("signals")));
    }

    /// A route that names its types sends them to a signals sink it lists ("unless
    /// asked"); one that does not name them leaves the signals sink out.
    #[test]
    fn a_route_that_names_its_types_reaches_a_signals_sink() {
        let with = |m: &str| {
            let text =
                format!("{SIGNALS_PIPELINE}routes:\n  - name: r\n    sinks: [ops, fleet]\n{m}");
            Settings::pipeline_from_text(&text, "p.yaml", PatternSet::builtin())
                .unwrap()
                .1
                .routes
                .remove(0)
        };
        let r = with("");
        assert_eq!(
            (r.sinks.as_slice(), r.audit_sinks.len()),
            (&["ops".to_string()][..], 0)
        );
        let r = with("    match:\n      type: finding\n");
        assert_eq!(r.sinks, ["ops", "fleet"]);
        assert!(r.audit_sinks.is_empty());
        let r = with("    match:\n      type: [finding, audit]\n");
        assert_eq!(r.audit_sinks, ["ops", "fleet"]);
    }

    /// Signal settings are checked like every other field: file, line and field named.
    #[test]
    fn signal_settings_errors_name_file_line_and_field() {
        let kafka = |extra: &str| {
            format!(
                "sinks:\n  - name: fleet\n    type: kafka\n    brokers: 127.0.0.1:9092\n{extra}"
            )
        };
        let e = pipeline_errors(&kafka("    signals_topic: fleet.v1\n"));
        assert_eq!(
            e[0].to_string(),
            "p.yaml:5:20: sinks[0].signals_topic: needs signals: true"
        );
        let e = pipeline_errors(&kafka("    signals: true\n    heartbeat_interval: soon\n"));
        assert_eq!(e[0].field, "sinks[0].heartbeat_interval");
        assert_eq!(e[0].line, 6, "{e:?}");
        assert!(e[0].message.contains("not a duration"), "{e:?}");
        let e = pipeline_errors(&kafka("    signals: true\n    heartbeat_interval: 0s\n"));
        assert_eq!(e[0].message, "must be above 0s");
        let e = pipeline_errors(&kafka("    signals: true\n    signals_topic: \"\"\n"));
        assert_eq!(e[0].field, "sinks[0].signals_topic");
        // Only Kafka sinks publish signals: elsewhere the field is unknown.
        let e = pipeline_errors(
            "sinks:\n  - name: ops\n    type: slack\n    url: {env: SLACK_URL}\n    signals: true\n",
        );
        assert_eq!(e[0].field, "sinks[0].signals");
        assert!(e[0].message.contains("unknown field"), "{e:?}");
    }
}
