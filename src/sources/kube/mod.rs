//! The Kubernetes sources of `fluxsight run` and `fluxsight record`: controller logs,
//! watches (Events, Pods, Flux objects) and the controllers' metrics.
//!
//! Owns: connecting to the cluster (the kube-tool search order of [`connect`]: the
//! `--kubeconfig` file, `KUBECONFIG`, in-cluster, `~/.kube/config`; `--context`),
//! waiting for the API server's first answer, starting every Kubernetes source as one
//! [`SourceTask`], and writing the checkpoint every few seconds and once more after
//! every source stopped. Every request the sources make shares one [`reach`] back-off:
//! an unreachable server is logged once per step, never per request.
//!
//! Invariant: like every source, these stop when the cancellation token fires and
//! wait (never drop) when the pipeline's bounded channel is full.

pub mod checkpoint;
pub mod config;
pub mod connect;
pub mod logs;
pub mod lookup;
pub mod metrics;
pub mod reach;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event as CoreEvent, Pod};
use kube::api::{Api, DynamicObject};
use kube::Client;
use tokio::task::JoinSet;

pub use checkpoint::Checkpoints;
pub use config::{KubeSettings, KubernetesSection, LookupSettings, LookupsSection};
pub use connect::{ClusterConfig, ClusterEnv, ClusterOptions};

use super::{LineTx, SourceLine, SourceTask};
use logs::{FollowerSet, LogContext};
use reach::Reachability;
use watch::{run_watch, WatchSpec};

/// Telemetry name of the Flux API probe (ready once every served kind is watched).
pub const FLUX_PROBE_SOURCE: &str = "watch/flux-kinds";

/// Telemetry and checkpoint name of the Pod watch.
pub const POD_WATCH: &str = "watch/Pod";

/// Why no client could be made, or the cluster did not answer.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("no cluster configuration found; tried {}", connect::describe_attempts(.tried))]
    NoConfig { tried: Vec<connect::Attempt> },
    #[error("kubeconfig {origin}: {error}")]
    Kubeconfig { origin: String, error: String },
    #[error("kubeconfig {origin}: no current-context; pass --context (contexts: {})", .known.join(", "))]
    NoContext { origin: String, known: Vec<String> },
    #[error("kubeconfig {origin}: no context '{context}' (contexts: {})", .known.join(", "))]
    UnknownContext {
        context: String,
        origin: String,
        known: Vec<String>,
    },
    #[error("kubernetes client: {0}")]
    Client(String),
}

impl KubeError {
    /// No source had a configuration at all (not: one was found and is broken).
    pub fn is_missing(&self) -> bool {
        matches!(self, KubeError::NoConfig { .. })
    }
}

/// Loads the cluster configuration from the process environment (see [`connect`]).
pub async fn cluster_config(opts: &ClusterOptions) -> Result<ClusterConfig, KubeError> {
    connect::load(opts, &ClusterEnv::from_process()).await
}

/// A client for a loaded configuration, and what names its server in the logs.
pub struct Cluster {
    pub client: Client,
    /// The API server's URL.
    pub server: String,
    /// The kube context (`-` in-cluster).
    pub context: String,
}

/// A client for `found`. No request is made: the sources wait for the server's first
/// answer (see [`connect::wait_answer`]), so an unreachable cluster delays readiness
/// instead of failing the start.
pub async fn client(found: ClusterConfig) -> Result<Cluster, KubeError> {
    let server = found.config.cluster_url.to_string();
    let client = Client::try_from(found.config).map_err(|e| KubeError::Client(e.to_string()))?;
    Ok(Cluster {
        client,
        server,
        context: found.context.unwrap_or_else(|| "-".into()),
    })
}

/// Sends one line; `false` when the pipeline is gone.
pub(crate) async fn send_line(
    tx: &LineTx,
    stream: &Arc<str>,
    bytes: Vec<u8>,
    controller: Option<String>,
    ack: Option<crate::sources::ack::Ack>,
) -> bool {
    tx.send(SourceLine {
        stream: stream.clone(),
        bytes,
        controller,
        ack,
    })
    .await
    .is_ok()
}

/// `d` scaled by a random factor in [0.5, 1.5): reconnects of many streams spread out.
pub(crate) fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let mut x = nanos as u64 ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    d.mul_f64(0.5 + (x % 1000) as f64 / 1000.0)
}

/// Every Kubernetes source as one task.
pub fn kube_source(cluster: Cluster, settings: KubeSettings, ckpt: Arc<Checkpoints>) -> SourceTask {
    Box::new(move |tx, cancel, telemetry| {
        // Registered when the pipeline builds the task, before any listener serves and
        // before the API server has answered, so /readyz waits for each of them.
        telemetry.source(FLUX_PROBE_SOURCE);
        telemetry.source(POD_WATCH);
        Box::pin(async move {
            let Cluster {
                client,
                server,
                context,
            } = cluster;
            let settings = Arc::new(settings);
            let mut set = JoinSet::new();
            let reach = Reachability::new(&server, &context, telemetry.clone());
            if !connect::wait_answer(&client, &reach, &cancel).await {
                return;
            }
            // Pods: watch, and drive the log followers.
            let pods: Api<Pod> = Api::namespaced(client.clone(), &settings.namespace);
            let mut followers = FollowerSet::new(
                LogContext {
                    api: pods.clone(),
                    tx: tx.clone(),
                    telemetry: telemetry.clone(),
                    ckpt: ckpt.clone(),
                    settings: settings.clone(),
                    reach: reach.clone(),
                },
                cancel.clone(),
            );
            let ips = followers.ips.clone();
            let mut pod_cfg = watch::config();
            if let Some(sel) = &settings.selector {
                pod_cfg = pod_cfg.labels(sel);
            }
            set.spawn(run_watch(
                pods,
                pod_cfg,
                WatchSpec {
                    name: POD_WATCH.into(),
                    api_version: "v1".into(),
                    kind: "Pod".into(),
                    skip_seen: false,
                },
                tx.clone(),
                cancel.clone(),
                reach.clone(),
                telemetry.clone(),
                ckpt.clone(),
                Some(Box::new(move |ev| followers.on_event(ev))),
            ));
            // Events: cluster-wide or per namespace.
            let event_apis: Vec<(String, Api<CoreEvent>)> = if settings.event_namespaces.is_empty()
            {
                vec![("watch/Event".into(), Api::all(client.clone()))]
            } else {
                settings
                    .event_namespaces
                    .iter()
                    .map(|ns| {
                        (
                            format!("watch/Event/{ns}"),
                            Api::namespaced(client.clone(), ns),
                        )
                    })
                    .collect()
            };
            for (name, api) in event_apis {
                telemetry.source(&name);
                set.spawn(run_watch(
                    api,
                    watch::config(),
                    WatchSpec {
                        name,
                        api_version: "v1".into(),
                        kind: "Event".into(),
                        skip_seen: true,
                    },
                    tx.clone(),
                    cancel.clone(),
                    reach.clone(),
                    telemetry.clone(),
                    ckpt.clone(),
                    None,
                ));
            }
            // Flux objects: every served kind.
            {
                let (client, tx, cancel, telemetry, ckpt, reach) = (
                    client.clone(),
                    tx.clone(),
                    cancel.clone(),
                    telemetry.clone(),
                    ckpt.clone(),
                    reach.clone(),
                );
                // Not ready until every served kind's watch has listed: the probes run
                // first, so hold readiness with a placeholder until the watches exist.
                let probing = telemetry.source(FLUX_PROBE_SOURCE);
                set.spawn(async move {
                    let mut kinds = JoinSet::new();
                    for k in watch::FLUX_KINDS {
                        let ar = tokio::select! {
                            _ = cancel.cancelled() => return,
                            ar = watch::served(&client, k, &reach, &cancel) => ar,
                        };
                        let Some(ar) = ar else { continue };
                        let name = format!("watch/{}", ar.kind);
                        telemetry.source(&name);
                        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
                        kinds.spawn(run_watch(
                            api,
                            watch::config(),
                            WatchSpec {
                                name,
                                api_version: ar.api_version.clone(),
                                kind: ar.kind.clone(),
                                skip_seen: false,
                            },
                            tx.clone(),
                            cancel.clone(),
                            reach.clone(),
                            telemetry.clone(),
                            ckpt.clone(),
                            None,
                        ));
                    }
                    probing
                        .synced
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    while kinds.join_next().await.is_some() {}
                });
            }
            if let Some(every) = settings.metrics_interval {
                set.spawn(metrics::scrape_loop(
                    ips,
                    settings.metrics_port,
                    every,
                    tx.clone(),
                    cancel.clone(),
                    telemetry.clone(),
                ));
            }
            drop(tx);
            let every = settings.checkpoint_interval;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(every) => save(&ckpt),
                    r = set.join_next() => if r.is_none() { break },
                }
            }
            while set.join_next().await.is_some() {}
            // Lines still in the pipeline are committed while it drains: wait for them
            // (bounded) so the last checkpoint includes them.
            let until = std::time::Instant::now() + Duration::from_secs(2);
            while ckpt.in_flight() > 0 && std::time::Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(50)).await;
                save(&ckpt);
            }
            save(&ckpt);
        })
    })
}

fn save(ckpt: &Checkpoints) {
    if let Err(e) = ckpt.save() {
        tracing::error!(error = %e, "checkpoint not written; a restart may re-read lines");
    }
}
