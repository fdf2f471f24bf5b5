//! What the shipped monitoring must satisfy: the PrometheusRule has the alerts issue 16
//! asks for, each with a severity, a summary and a runbook section that exists, and every
//! `fluxsight_*` series a rule or a dashboard panel queries is one fluxsight registers
//! (found in `src/telemetry.rs`), so a renamed metric cannot leave a silent alert.

use std::collections::BTreeSet;

use serde_json::Value;

use super::kustomize::str_at;

/// The alerts the rule must carry: fluxsight down, spool backlog, dead letters,
/// evictions, delivery failures.
pub const REQUIRED_ALERTS: &[&str] = &[
    "FluxsightDown",
    "FluxsightSpoolBacklog",
    "FluxsightDeadLetters",
    "FluxsightStateEvictions",
    "FluxsightDeliveryFailures",
];
/// Suffixes the exposition adds to a registered name (`_total` on counters) or a
/// histogram/summary has.
const SUFFIXES: &[&str] = &["_total", "_bucket", "_sum", "_count"];
const SEVERITIES: &[&str] = &["critical", "warning", "info"];

fn base(name: &str) -> &str {
    SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// Every `fluxsight_*` metric name in the telemetry source (string literals), by base
/// name.
pub fn registered_metrics(telemetry_rs: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r#""(fluxsight_[a-z0-9_]+)""#).unwrap();
    re.captures_iter(telemetry_rs)
        .map(|c| base(&c[1]).to_string())
        .collect()
}

/// The `fluxsight_*` names a PromQL expression uses that are not registered.
pub fn unknown_metrics(expr: &str, registered: &BTreeSet<String>) -> Vec<String> {
    let re = regex::Regex::new(r"\bfluxsight_[a-z0-9_]+").unwrap();
    re.find_iter(expr)
        .map(|m| m.as_str())
        .filter(|n| !registered.contains(base(n)))
        .map(str::to_string)
        .collect()
}

/// GitHub's anchor of a Markdown heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Anchors of every heading of a Markdown document.
pub fn anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter_map(|l| {
            l.trim_start_matches('#')
                .strip_prefix(' ')
                .filter(|_| l.starts_with('#'))
        })
        .map(slug)
        .collect()
}

/// Every PrometheusRule in `objects`: required alerts present, labels and annotations
/// complete, runbooks resolvable, metric names registered.
pub fn check_rules(
    objects: &[Value],
    registered: &BTreeSet<String>,
    runbook_anchors: &BTreeSet<String>,
) -> Vec<String> {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for o in objects
        .iter()
        .filter(|o| str_at(o, "/kind") == "PrometheusRule")
    {
        let groups = o.pointer("/spec/groups").and_then(Value::as_array);
        for r in groups.into_iter().flatten().flat_map(|g| {
            g.get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        }) {
            let alert = str_at(r, "/alert");
            let expr = str_at(r, "/expr");
            if alert.is_empty() || expr.is_empty() {
                errs.push(format!("rule without alert or expr: {r}"));
                continue;
            }
            seen.insert(alert.to_string());
            for n in unknown_metrics(expr, registered) {
                errs.push(format!(
                    "{alert}: `{n}` is not a metric fluxsight registers"
                ));
            }
            if !SEVERITIES.contains(&str_at(r, "/labels/severity")) {
                errs.push(format!(
                    "{alert}: labels.severity must be one of {SEVERITIES:?}"
                ));
            }
            for a in ["summary", "description"] {
                if str_at(r, &format!("/annotations/{a}")).is_empty() {
                    errs.push(format!("{alert}: no {a} annotation"));
                }
            }
            let runbook = str_at(r, "/annotations/runbook_url");
            match runbook.rsplit_once('#') {
                Some((_, anchor)) if runbook_anchors.contains(anchor) => {}
                _ => errs.push(format!(
                    "{alert}: runbook_url `{runbook}` names no section of docs/install.md"
                )),
            }
            if let Some(f) = r.get("for").and_then(Value::as_str) {
                if fluxsight::parse::time::parse_go_duration_ms(f).is_none() {
                    errs.push(format!("{alert}: `for: {f}` is not a duration"));
                }
            }
        }
    }
    for want in REQUIRED_ALERTS {
        if !seen.contains(*want) {
            errs.push(format!("no alert {want}"));
        }
    }
    errs
}

/// A Grafana dashboard: a uid, a Prometheus datasource variable, panels whose targets
/// query registered metrics.
pub fn check_dashboard(d: &Value, registered: &BTreeSet<String>) -> Vec<String> {
    let mut errs = Vec::new();
    if str_at(d, "/uid").is_empty() || str_at(d, "/title").is_empty() {
        errs.push("dashboard needs a uid and a title".into());
    }
    let vars = d.pointer("/templating/list").and_then(Value::as_array);
    if !vars
        .into_iter()
        .flatten()
        .any(|v| str_at(v, "/type") == "datasource" && str_at(v, "/query") == "prometheus")
    {
        errs.push("dashboard has no Prometheus datasource variable".into());
    }
    let panels = d.get("panels").and_then(Value::as_array);
    let mut targets = 0;
    for p in panels.into_iter().flatten() {
        for t in p
            .get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            targets += 1;
            for n in unknown_metrics(str_at(t, "/expr"), registered) {
                errs.push(format!(
                    "panel `{}`: `{n}` is not a metric fluxsight registers",
                    str_at(p, "/title")
                ));
            }
        }
    }
    if targets == 0 {
        errs.push("dashboard has no queries".into());
    }
    errs
}
