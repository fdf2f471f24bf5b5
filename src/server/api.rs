//! The findings API on the main listener, read-only: `GET /api/v1/findings` (filtered,
//! sorted, limited) and `GET /api/v1/findings/{id}`, what `fluxsight get findings` and
//! `fluxsight explain <finding-id>` read; and the pipeline file's `api:` section.
//!
//! Owns: the routes, their query parameters (an unknown one is a 400 naming it), the
//! JSON shapes (`{"items": [native finding…], "total": N}`, one native finding, errors as
//! `{"error": "…"}`) and the API's own rate limit (the receiver's rates, its own buckets,
//! so polling never takes the receiver's budget). Does not own: the view's contents
//! ([`super::findings`]) or the listener's connection caps and timeouts, which are the
//! main listener's ([`super::serve_bound`]) and apply to these routes as to the receiver.
//!
//! Invariants: GET (and HEAD) only, any other method is 405 with `Allow`; findings are
//! rendered by `render::finding::native`, the renderer of stdout and the sinks, which
//! redacts every free-text field, so the API never shows more than a sink receives.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::findings::{
    FindingsQuery, FindingsView, ViewLimits, DEFAULT_MAX_FINDINGS, DEFAULT_RETENTION_MS, MAX_LIMIT,
};
use super::limit::{retry_after_secs, RateLimiter, Rates};
use crate::correlate::finding::Status;
use crate::correlate::PatternId;
use crate::record::Severity;
use crate::render::finding::native;
use crate::spec_error::SpecError;
use crate::time::{now_ms, parse_go_duration_ms};
use serde_saphyr::Spanned;

/// The list route.
pub const FINDINGS_PATH: &str = "/api/v1/findings";
/// The live status page (HTML, read-only): GET on the receiver's path `/` (a POST there
/// is a Flux event).
pub const LIVE_PATH: &str = "/";
/// The one-finding route (axum path syntax).
pub const FINDING_PATH: &str = "/api/v1/findings/{id}";

/// Query parameters of the list route.
pub const PARAM_STATUS: &str = "status";
pub const PARAM_PATTERN: &str = "pattern";
pub const PARAM_TENANT: &str = "tenant";
pub const PARAM_NAMESPACE: &str = "namespace";
pub const PARAM_SEVERITY: &str = "severity";
pub const PARAM_LIMIT: &str = "limit";
/// Every parameter the list route takes, in the order its 400 names them.
pub const PARAMS: &[&str] = &[
    PARAM_STATUS,
    PARAM_PATTERN,
    PARAM_TENANT,
    PARAM_NAMESPACE,
    PARAM_SEVERITY,
    PARAM_LIMIT,
];
/// `status` value that selects every status.
pub const STATUS_ALL: &str = "all";

/// The `api:` section of a pipeline file.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Serve `/api/v1/findings` on the main listener (default `true`).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// How long a resolved finding stays visible after it resolved (default `1h`).
    #[serde(default)]
    pub retention: Option<Spanned<String>>,
    /// Findings held at most (default 10000); past it the oldest resolved one is dropped
    /// first, counted in `fluxsight_findings_view_dropped_total`.
    #[serde(default)]
    pub max_findings: Option<Spanned<usize>>,
}

/// What `run` does with the findings API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSettings {
    pub enabled: bool,
    pub limits: ViewLimits,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            enabled: true,
            limits: ViewLimits::default(),
        }
    }
}

impl ApiSection {
    /// Checks the section (pure); errors name the file, line and field.
    pub fn check(&self, file: &str, text: &str) -> Vec<SpecError> {
        let mut errs = Vec::new();
        if let Some(r) = &self.retention {
            if parse_go_duration_ms(&r.value).is_none() {
                let message = format!("'{}' is not a duration such as 30m or 2h", r.value);
                errs.push(SpecError::at_value(file, text, "api.retention", r, message));
            }
        }
        if let Some(m) = self.max_findings.as_ref().filter(|m| m.value == 0) {
            errs.push(SpecError::at_value(
                file,
                text,
                "api.max_findings",
                m,
                "must be above 0".to_string(),
            ));
        }
        errs
    }

    /// The settings (defaults for what is not given; call after [`ApiSection::check`]).
    pub fn settings(&self) -> ApiSettings {
        let retention_ms = self
            .retention
            .as_ref()
            .and_then(|r| parse_go_duration_ms(&r.value))
            .map_or(DEFAULT_RETENTION_MS, |ms| {
                i64::try_from(ms).unwrap_or(i64::MAX)
            });
        ApiSettings {
            enabled: self.enabled.unwrap_or(true),
            limits: ViewLimits {
                max_findings: self
                    .max_findings
                    .as_ref()
                    .map_or(DEFAULT_MAX_FINDINGS, |m| m.value.max(1)),
                retention_ms,
            },
        }
    }
}

#[derive(Clone)]
struct ApiState {
    view: Arc<FindingsView>,
    limiter: Arc<Mutex<RateLimiter>>,
}

/// The findings routes over `view`, each client held to `rates`.
pub fn routes(view: Arc<FindingsView>, rates: Rates) -> Router {
    let state = ApiState {
        view,
        limiter: Arc::new(Mutex::new(RateLimiter::new(rates, Instant::now()))),
    };
    Router::new()
        .route(LIVE_PATH, get(page))
        .route(FINDINGS_PATH, get(list).fallback(not_allowed))
        .route(FINDING_PATH, get(one).fallback(not_allowed))
        .with_state(state)
}

fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (code, Json(json!({"error": message.into()}))).into_response()
}

async fn not_allowed() -> Response {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "the findings API is read-only: use GET",
    );
    r.headers_mut().insert(
        axum::http::header::ALLOW,
        axum::http::HeaderValue::from_static("GET, HEAD"),
    );
    r
}

/// The per-client limit (429 with `Retry-After` when spent).
fn limited(st: &ApiState, request: &Request) -> Option<Response> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let checked = st
        .limiter
        .lock()
        .map(|mut l| l.check(peer, Instant::now()))
        .unwrap_or(Ok(()));
    let wait = checked.err()?;
    let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
    if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after_secs(wait).to_string()) {
        r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    Some(r)
}

async fn list(
    State(st): State<ApiState>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
    request: Request,
) -> Response {
    if let Some(r) = limited(&st, &request) {
        return r;
    }
    let pairs = match query {
        Ok(Query(p)) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let q = match parse_query(&pairs) {
        Ok(q) => q,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let (items, total) = st.view.query(&q, now_ms());
    let items: Vec<Value> = items.iter().map(|f| native(f)).collect();
    Json(json!({"items": items, "total": total})).into_response()
}

/// `GET /`: the live view of the same findings, drawn by the report's renderer
/// (`render::report::live_page`: needs attention first, then recent activity; no
/// script, a CSP that loads nothing).
async fn page(State(st): State<ApiState>, request: Request) -> Response {
    if let Some(r) = limited(&st, &request) {
        return r;
    }
    let q = FindingsQuery {
        limit: MAX_LIMIT,
        ..FindingsQuery::default()
    };
    let now = now_ms();
    let (items, _) = st.view.query(&q, now);
    let findings: Vec<crate::correlate::Finding> = items.iter().map(|f| (**f).clone()).collect();
    let cluster = findings.first().map_or("", |f| f.cluster.as_str());
    let html = crate::render::report::live_page(&findings, now, cluster);
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                crate::render::report::CSP,
            ),
        ],
        html,
    )
        .into_response()
}

async fn one(State(st): State<ApiState>, Path(id): Path<String>, request: Request) -> Response {
    if let Some(r) = limited(&st, &request) {
        return r;
    }
    match st.view.get(&id, now_ms()) {
        Some(f) => Json(native(&f)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no finding with id '{}'", printable(&id)),
        ),
    }
}

/// An id echoed in an error: at most 64 characters, no control characters.
fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect::<String>()
}

/// The list route's query: each parameter a comma list (and may repeat); the message
/// of a 400 names the parameter.
pub fn parse_query(pairs: &[(String, String)]) -> Result<FindingsQuery, String> {
    let mut q = FindingsQuery::default();
    for (key, value) in pairs {
        let items = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        match key.as_str() {
            PARAM_STATUS => {
                for s in items {
                    match s.as_str() {
                        "firing" => q.status.push(Status::Firing),
                        "resolved" => q.status.push(Status::Resolved),
                        STATUS_ALL => q.status.extend([Status::Firing, Status::Resolved]),
                        _ => return Err(bad(key, &s, "firing, resolved or all")),
                    }
                }
            }
            PARAM_SEVERITY => {
                for s in items {
                    match Severity::parse(&s) {
                        Some(v) => q.severity.push(v),
                        None => return Err(bad(key, &s, "info, warning, error or critical")),
                    }
                }
            }
            PARAM_PATTERN => {
                for s in items {
                    if PatternId::parse(&s).is_none() {
                        return Err(bad(key, &s, "a pattern id (`fluxsight patterns`)"));
                    }
                    q.pattern.push(s);
                }
            }
            PARAM_TENANT => q.tenant.extend(items),
            PARAM_NAMESPACE => q.namespace.extend(items),
            PARAM_LIMIT => match value.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => q.limit = n,
                _ => {
                    return Err(bad(
                        key,
                        value,
                        &format!("a whole number from 1 to {MAX_LIMIT}"),
                    ))
                }
            },
            _ => {
                return Err(format!(
                    "unknown query parameter '{}'; known: {}",
                    printable(key),
                    PARAMS.join(", ")
                ))
            }
        }
    }
    Ok(q)
}

fn bad(key: &str, value: &str, want: &str) -> String {
    format!("{key}: '{}' is not {want}", printable(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters_are_comma_lists_and_may_repeat() {
        let q = parse_query(&pairs(&[
            ("status", "firing"),
            ("status", "resolved"),
            ("pattern", "git_auth_failure, build_failure"),
            ("tenant", "a,b"),
            ("namespace", "flux-system"),
            ("severity", "error,critical"),
            ("limit", "20"),
        ]))
        .unwrap();
        assert_eq!(q.status, [Status::Firing, Status::Resolved]);
        assert_eq!(q.pattern, ["git_auth_failure", "build_failure"]);
        assert_eq!(q.tenant, ["a", "b"]);
        assert_eq!(q.namespace, ["flux-system"]);
        assert_eq!(q.severity, [Severity::Error, Severity::Critical]);
        assert_eq!(q.limit, 20);
        assert_eq!(parse_query(&[]).unwrap(), FindingsQuery::default());
        assert_eq!(
            parse_query(&pairs(&[("status", "all")])).unwrap().status,
            [Status::Firing, Status::Resolved]
        );
    }

    #[test]
    fn a_bad_parameter_or_value_is_named() {
        let err = |q: &[(&str, &str)]| parse_query(&pairs(q)).unwrap_err();
        let e = err(&[("stauts", "firing")]);
        assert!(e.contains("'stauts'") && e.contains("status"), "{e}");
        assert!(err(&[("status", "open")]).starts_with("status: 'open'"));
        assert!(err(&[("severity", "high")]).starts_with("severity: 'high'"));
        assert!(err(&[("pattern", "git_auth")]).starts_with("pattern: 'git_auth'"));
        for limit in ["0", "5001", "ten", "-1"] {
            assert!(err(&[("limit", limit)]).starts_with("limit:"), "{limit}");
        }
        assert_eq!(
            parse_query(&pairs(&[("limit", "5000")])).unwrap().limit,
            MAX_LIMIT
        );
        // Control characters of the request never reach the message.
        assert!(!err(&[("x\u{1b}[2J", "1")]).contains('\u{1b}'));
    }

    fn section(text: &str) -> ApiSection {
        #[derive(Deserialize)]
        struct File {
            api: ApiSection,
        }
        serde_saphyr::from_str::<File>(text).unwrap().api
    }

    #[test]
    fn section_defaults_overrides_and_errors() {
        assert_eq!(ApiSection::default().settings(), ApiSettings::default());
        assert_eq!(
            ApiSettings::default().limits,
            ViewLimits {
                max_findings: 10_000,
                retention_ms: 3_600_000
            }
        );
        let s = section("api:\n  enabled: false\n  retention: 30m\n  max_findings: 50\n");
        assert!(s.check("p", "").is_empty());
        assert_eq!(
            s.settings(),
            ApiSettings {
                enabled: false,
                limits: ViewLimits {
                    max_findings: 50,
                    retention_ms: 1_800_000
                }
            }
        );
        let text = "api:\n  retention: soon\n  max_findings: 0\n";
        let errs = section(text).check("p.yaml", text);
        let got: Vec<(String, usize)> = errs.iter().map(|e| (e.field.clone(), e.line)).collect();
        assert_eq!(
            got,
            [
                ("api.retention".to_string(), 2),
                ("api.max_findings".to_string(), 3)
            ]
        );
    }
}
