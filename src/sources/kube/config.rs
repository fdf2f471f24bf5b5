//! The `kubernetes:` section of a pipeline file: raw (serde) and validated settings of
//! the Kubernetes sources.
//!
//! Owns: defaults of live operation inside a Flux cluster (contracts §6), and where Flux
//! runs: `--namespace`, else `kubernetes.namespace`, else `RUNTIME_NAMESPACE` (set by
//! the Deployment, as in Flux's own controllers), else `flux-system`. Validation is pure
//! (no environment read) and reports every error with file, line and field.

use std::time::Duration;

use serde::Deserialize;

use crate::spec_error::SpecError;
use crate::time::parse_go_duration_ms;
use serde_saphyr::Spanned;

/// The Flux controllers whose pods are followed when no selector is configured.
pub const FLUX_CONTROLLERS: [&str; 6] = [
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
    "image-reflector-controller",
    "image-automation-controller",
];

/// Namespace of the Flux controllers when nothing else says.
pub const DEFAULT_NAMESPACE: &str = "flux-system";

/// Environment variable the Deployment sets to its own namespace (downward API).
pub const RUNTIME_NAMESPACE_ENV: &str = "RUNTIME_NAMESPACE";

/// `kubernetes:` in a pipeline file.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSection {
    /// Namespace of the Flux controllers whose logs are followed, whose Pods are watched
    /// and whose metrics are scraped (default: `RUNTIME_NAMESPACE` when set, else
    /// `flux-system`; `--namespace` overrides it).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Label selector of the controller pods (default: pods labelled
    /// `app.kubernetes.io/part-of=flux` or with `app` one of the Flux controllers).
    #[serde(default)]
    pub selector: Option<String>,
    /// Namespaces whose Events are watched (default: all namespaces).
    #[serde(default)]
    pub event_namespaces: Vec<String>,
    /// How often each controller's `/metrics` is scraped (default `30s`; `0s` = off).
    #[serde(default)]
    pub metrics_interval: Option<Spanned<String>>,
    /// Port of the controllers' metrics endpoint (default 8080).
    #[serde(default)]
    pub metrics_port: Option<u16>,
    /// Lines read from a restarted container's previous instance (default 200).
    #[serde(default)]
    pub previous_tail_lines: Option<Spanned<i64>>,
    /// Directory of the source checkpoints (default: `delivery.state_dir`; none = no
    /// checkpoint): the Kubernetes sources' positions and those of followed `--input`
    /// files (`file-<hash>.pos`, written every second).
    #[serde(default)]
    pub checkpoint_dir: Option<String>,
    /// How often the checkpoint is written (default `5s`); also written at shutdown.
    #[serde(default)]
    pub checkpoint_interval: Option<Spanned<String>>,
    /// Targeted lookups of a failing workload's Pods, ReplicaSets, PVCs and Events
    /// after a Flux health check names it (see [`super::lookup`]).
    #[serde(default)]
    pub lookups: Option<LookupsSection>,
}

/// `kubernetes.lookups:` in a pipeline file.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LookupsSection {
    /// Look up failing workloads at all (default `true`).
    #[serde(default)]
    pub enabled: Option<Spanned<bool>>,
    /// Shortest time between two lookups of the same workload (default `60s`); a
    /// request inside it is dropped and counted.
    #[serde(default)]
    pub interval: Option<Spanned<String>>,
    /// Most lookups started per minute, all workloads together (default 10).
    #[serde(default)]
    pub max_per_minute: Option<Spanned<i64>>,
    /// Longest time one lookup may take, its requests together (default `20s`); what
    /// was fetched by then is kept.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

/// Validated `kubernetes.lookups`.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupSettings {
    pub enabled: bool,
    /// Per-workload minimum interval.
    pub interval: Duration,
    /// Global cap of lookups started per minute (at least 1).
    pub max_per_minute: u32,
    /// Per-lookup deadline.
    pub timeout: Duration,
}

impl Default for LookupSettings {
    fn default() -> Self {
        LookupSettings {
            enabled: true,
            interval: Duration::from_secs(60),
            max_per_minute: 10,
            timeout: Duration::from_secs(20),
        }
    }
}

/// Validated settings of the Kubernetes sources.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeSettings {
    /// Where Flux runs (see [`KubeSettings::resolve_namespace`]).
    pub namespace: String,
    /// `namespace` came from the pipeline file (a `RUNTIME_NAMESPACE` does not replace it).
    pub namespace_configured: bool,
    pub selector: Option<String>,
    pub event_namespaces: Vec<String>,
    /// `None` = metrics scrape off.
    pub metrics_interval: Option<Duration>,
    pub metrics_port: u16,
    pub previous_tail_lines: i64,
    pub checkpoint_dir: Option<String>,
    pub checkpoint_interval: Duration,
    pub lookups: LookupSettings,
}

impl Default for KubeSettings {
    fn default() -> Self {
        KubeSettings {
            namespace: DEFAULT_NAMESPACE.into(),
            namespace_configured: false,
            selector: None,
            event_namespaces: Vec::new(),
            metrics_interval: Some(Duration::from_secs(30)),
            metrics_port: 8080,
            previous_tail_lines: 200,
            checkpoint_dir: None,
            checkpoint_interval: Duration::from_secs(5),
            lookups: LookupSettings::default(),
        }
    }
}

impl KubeSettings {
    /// Validates the raw section (pure). `state_dir` is `delivery.state_dir`, the
    /// checkpoint's default home.
    pub fn from_section(
        s: &KubernetesSection,
        state_dir: Option<&str>,
        file: &str,
        text: &str,
    ) -> Result<KubeSettings, Vec<SpecError>> {
        let d = KubeSettings::default();
        let mut errs = Vec::new();
        let mut dur = |v: &Option<Spanned<String>>, field: &str, def: Duration| match v {
            None => def,
            Some(v) => match parse_go_duration_ms(&v.value) {
                Some(ms) => Duration::from_millis(ms),
                None => {
                    errs.push(SpecError::at_value(
                        file,
                        text,
                        &format!("kubernetes.{field}"),
                        v,
                        format!("'{}' is not a duration", v.value),
                    ));
                    def
                }
            },
        };
        let metrics = dur(
            &s.metrics_interval,
            "metrics_interval",
            Duration::from_secs(30),
        );
        let checkpoint_interval = dur(
            &s.checkpoint_interval,
            "checkpoint_interval",
            d.checkpoint_interval,
        );
        let lk = s.lookups.clone().unwrap_or_default();
        let dl = LookupSettings::default();
        let lookup_interval = dur(&lk.interval, "lookups.interval", dl.interval);
        let lookup_timeout = dur(&lk.timeout, "lookups.timeout", dl.timeout);
        if let Some(t) = lk.timeout.as_ref().filter(|_| lookup_timeout.is_zero()) {
            errs.push(SpecError::at_value(
                file,
                text,
                "kubernetes.lookups.timeout",
                t,
                "must be longer than 0s",
            ));
        }
        let max_per_minute = match &lk.max_per_minute {
            None => dl.max_per_minute,
            Some(n) if (1..=i64::from(u32::MAX)).contains(&n.value) => n.value as u32,
            Some(n) => {
                errs.push(SpecError::at_value(
                    file,
                    text,
                    "kubernetes.lookups.max_per_minute",
                    n,
                    "must be at least 1 (to turn lookups off: enabled: false)",
                ));
                dl.max_per_minute
            }
        };
        if let Some(n) = s.previous_tail_lines.as_ref().filter(|n| n.value < 0) {
            errs.push(SpecError::at_value(
                file,
                text,
                "kubernetes.previous_tail_lines",
                n,
                "must not be negative",
            ));
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(KubeSettings {
            namespace: s.namespace.clone().unwrap_or(d.namespace),
            namespace_configured: s.namespace.is_some(),
            selector: s.selector.clone(),
            event_namespaces: s.event_namespaces.clone(),
            metrics_interval: (!metrics.is_zero()).then_some(metrics),
            metrics_port: s.metrics_port.unwrap_or(d.metrics_port),
            previous_tail_lines: s
                .previous_tail_lines
                .as_ref()
                .map_or(d.previous_tail_lines, |n| n.value),
            checkpoint_dir: s
                .checkpoint_dir
                .clone()
                .or_else(|| state_dir.map(str::to_string)),
            checkpoint_interval: if checkpoint_interval.is_zero() {
                d.checkpoint_interval
            } else {
                checkpoint_interval
            },
            lookups: LookupSettings {
                enabled: lk.enabled.map_or(dl.enabled, |e| e.value),
                interval: lookup_interval,
                max_per_minute,
                timeout: lookup_timeout,
            },
        })
    }

    /// Applies the command line and the environment: `flag` (`--namespace`) wins, then
    /// the pipeline file, then `runtime` (`RUNTIME_NAMESPACE`), then `flux-system`.
    /// Empty values count as unset.
    pub fn resolve_namespace(&mut self, flag: Option<&str>, runtime: Option<&str>) {
        let set = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(str::to_string);
        if let Some(ns) = set(flag) {
            self.namespace = ns;
        } else if let (false, Some(ns)) = (self.namespace_configured, set(runtime)) {
            self.namespace = ns;
        }
    }

    /// Whether a pod with these labels is a Flux controller to follow. With a configured
    /// selector the API server already filtered: every pod is followed.
    pub fn selects(&self, labels: Option<&std::collections::BTreeMap<String, String>>) -> bool {
        if self.selector.is_some() {
            return true;
        }
        let Some(l) = labels else { return false };
        l.get("app.kubernetes.io/part-of").map(String::as_str) == Some("flux")
            || l.get("app")
                .is_some_and(|a| FLUX_CONTROLLERS.contains(&a.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let s = KubeSettings::from_section(&KubernetesSection::default(), Some("/st"), "f", "")
            .unwrap();
        assert_eq!(s.namespace, "flux-system");
        assert_eq!(s.checkpoint_dir.as_deref(), Some("/st"));
        assert_eq!(s.metrics_interval, Some(Duration::from_secs(30)));
        let text = "kubernetes: {previous_tail_lines: -1,\n  metrics_interval: often}\n";
        #[derive(Deserialize)]
        struct File {
            kubernetes: KubernetesSection,
        }
        let raw = serde_saphyr::from_str::<File>(text).unwrap().kubernetes;
        let e = KubeSettings::from_section(&raw, None, "f", text).unwrap_err();
        let at: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            at,
            [
                "f:2:21: kubernetes.metrics_interval: 'often' is not a duration",
                "f:1:35: kubernetes.previous_tail_lines: must not be negative",
            ]
        );
    }

    #[test]
    fn lookups_defaults_values_and_errors_with_their_place() {
        #[derive(Deserialize)]
        struct File {
            kubernetes: KubernetesSection,
        }
        let parse = |text: &str| serde_saphyr::from_str::<File>(text).unwrap().kubernetes;
        let d = KubeSettings::from_section(&KubernetesSection::default(), None, "f", "").unwrap();
        assert_eq!(d.lookups, LookupSettings::default());
        assert!(d.lookups.enabled);
        let text = "kubernetes:\n  lookups:\n    enabled: false\n    interval: 5m\n    max_per_minute: 3\n    timeout: 7s\n";
        let s = KubeSettings::from_section(&parse(text), None, "f", text).unwrap();
        assert_eq!(
            s.lookups,
            LookupSettings {
                enabled: false,
                interval: Duration::from_secs(300),
                max_per_minute: 3,
                timeout: Duration::from_secs(7),
            }
        );
        let text =
            "kubernetes:\n  lookups:\n    interval: soon\n    max_per_minute: 0\n    timeout: 0s\n";
        let e = KubeSettings::from_section(&parse(text), None, "p.yaml", text).unwrap_err();
        let at: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            at,
            [
                "p.yaml:3:15: kubernetes.lookups.interval: 'soon' is not a duration",
                "p.yaml:5:14: kubernetes.lookups.timeout: must be longer than 0s",
                "p.yaml:4:21: kubernetes.lookups.max_per_minute: must be at least 1 (to turn lookups off: enabled: false)",
            ]
        );
        let bad = "kubernetes:\n  lookups:\n    every: 1m\n";
        assert!(serde_saphyr::from_str::<File>(bad).is_err());
    }

    #[test]
    fn namespace_flag_then_file_then_runtime_env_then_default() {
        let file = |ns: Option<&str>| {
            let raw = KubernetesSection {
                namespace: ns.map(str::to_string),
                ..Default::default()
            };
            KubeSettings::from_section(&raw, None, "f", "").unwrap()
        };
        let resolved = |ns: Option<&str>, flag, env| {
            let mut s = file(ns);
            s.resolve_namespace(flag, env);
            s.namespace
        };
        assert_eq!(resolved(None, None, None), DEFAULT_NAMESPACE);
        assert_eq!(resolved(None, None, Some("")), DEFAULT_NAMESPACE);
        assert_eq!(resolved(None, None, Some("flux")), "flux");
        assert_eq!(resolved(Some("gitops"), None, Some("flux")), "gitops");
        assert_eq!(resolved(Some("gitops"), Some("cli"), Some("flux")), "cli");
        assert_eq!(resolved(None, Some("cli"), None), "cli");
    }

    #[test]
    fn default_selection() {
        let s = KubeSettings::default();
        let mut l = std::collections::BTreeMap::new();
        l.insert("app".to_string(), "source-controller".to_string());
        assert!(s.selects(Some(&l)));
        l.insert("app".to_string(), "nginx".to_string());
        assert!(!s.selects(Some(&l)));
        l.insert("app.kubernetes.io/part-of".to_string(), "flux".to_string());
        assert!(s.selects(Some(&l)));
        assert!(!s.selects(None));
    }
}
