//! The client of a running fluxsight's findings API (`/api/v1/findings`), shared by
//! `get findings` and `explain <finding-id>`. Owns: the URLs it asks, the request
//! timeouts, and the errors people read (an unreachable server names the URL and how to
//! reach one in a cluster). Does not own the API (`fluxsight::server::api`).

use std::time::Duration;

use fluxsight::server::api::FINDINGS_PATH;
use reqwest::{StatusCode, Url};
use serde_json::Value;

/// How to reach the fluxsight of a cluster from a laptop.
pub const PORT_FORWARD: &str = "kubectl -n flux-system port-forward deploy/fluxsight 9797";
/// The same for the sidecar (deploy/components/sidecar: in notification-controller's pod).
pub const PORT_FORWARD_SIDECAR: &str = "deploy/notification-controller";
/// Longest wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a whole answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the API gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--server: '{0}' is not a URL such as http://127.0.0.1:9797")]
    BadUrl(String),
    #[error(
        "cannot reach fluxsight at {url}: {error}\n\
         Is `fluxsight run` listening there? In a cluster, forward its port first:\n  \
         {PORT_FORWARD}\n\
         (as a sidecar: {PORT_FORWARD_SIDECAR}), or point --server (or FLUXSIGHT_SERVER) at it"
    )]
    Unreachable { url: String, error: String },
    #[error("{url}: {status}: {message}")]
    Refused {
        url: String,
        status: StatusCode,
        message: String,
    },
    #[error("{url}: the answer is not the findings API's JSON: {error}")]
    Body { url: String, error: String },
}

/// The API of the fluxsight at `server`.
pub struct FindingsClient {
    base: Url,
    client: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl FindingsClient {
    pub fn new(server: &str) -> anyhow::Result<Result<Self, ClientError>> {
        let base = match Url::parse(server.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
            _ => return Ok(Err(ClientError::BadUrl(server.to_string()))),
        };
        let client = fluxsight::tls::http_client_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Ok(FindingsClient { base, client, rt }))
    }

    /// `path` under the server's URL (a URL with a path prefix, a proxy's, keeps it).
    fn url(&self, path: &str) -> Url {
        let mut u = self.base.clone();
        let prefix = u.path().trim_end_matches('/').to_string();
        u.set_path(&format!("{prefix}{path}"));
        u.set_query(None);
        u
    }

    /// The findings `params` select: the API's `{"items": […], "total": N}`.
    pub fn list(&self, params: &[(&str, String)]) -> Result<Value, ClientError> {
        let mut url = self.url(FINDINGS_PATH);
        if !params.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        }
        match self.get(url)? {
            (StatusCode::OK, v) if v.get("items").is_some_and(Value::is_array) => Ok(v),
            (StatusCode::OK, _) => Err(ClientError::Body {
                url: self.url(FINDINGS_PATH).to_string(),
                error: "no items".into(),
            }),
            (status, v) => Err(self.refused(FINDINGS_PATH, status, &v)),
        }
    }

    /// The finding `id`; `None` when the server has none by that id.
    pub fn one(&self, id: &str) -> Result<Option<Value>, ClientError> {
        let mut url = self.url(FINDINGS_PATH);
        url.path_segments_mut()
            .map_err(|()| ClientError::BadUrl(self.base.to_string()))?
            .push(id);
        match self.get(url.clone())? {
            (StatusCode::OK, v) => Ok(Some(v)),
            // A 404 of the API says so in JSON; one without is a server without the API.
            (StatusCode::NOT_FOUND, v) if v.get("error").is_some() => Ok(None),
            (status, v) => Err(self.refused(FINDINGS_PATH, status, &v)),
        }
    }

    fn refused(&self, path: &str, status: StatusCode, body: &Value) -> ClientError {
        let message = match body.get("error").and_then(Value::as_str) {
            Some(m) => m.to_string(),
            None if status == StatusCode::NOT_FOUND => {
                "no findings API there (a fluxsight older than the API, or `api.enabled: false`)"
                    .into()
            }
            None => "no explanation given".into(),
        };
        ClientError::Refused {
            url: self.url(path).to_string(),
            status,
            message,
        }
    }

    /// The status and JSON body of a GET (`Null` for a body that is not JSON).
    fn get(&self, url: Url) -> Result<(StatusCode, Value), ClientError> {
        let mut shown = url.clone();
        shown.set_query(None);
        let shown = shown.to_string();
        self.rt.block_on(async {
            let r = self.client.get(url).send().await.map_err(|e| {
                // reqwest's own text repeats the URL; its causes say what happened.
                let error = match std::error::Error::source(&e) {
                    Some(cause) => error_chain(cause),
                    None => e.to_string(),
                };
                ClientError::Unreachable {
                    url: shown.clone(),
                    error,
                }
            })?;
            let status = r.status();
            let bytes = r.bytes().await.map_err(|e| ClientError::Body {
                url: shown.clone(),
                error: error_chain(&e),
            })?;
            let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if status.is_success() && v.is_null() {
                return Err(ClientError::Body {
                    url: shown,
                    error: "not JSON".into(),
                });
            }
            Ok((status, v))
        })
    }
}

/// An error with its causes (`error sending request: … connection refused`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    s
}
