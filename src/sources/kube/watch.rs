//! Watches: core `Event`s, `Pod`s of the controllers' namespace and every Flux custom
//! resource kind, each object sent as one watch-event JSON line
//! (`{"type":"ADDED|MODIFIED|DELETED","object":{…}}`) that the k8s parser reads.
//!
//! Owns: kube-runtime's `watcher` (relist on 410 Gone, bookmarks, resume from the last
//! resourceVersion); which Flux API versions are served. Retries wait on the
//! connection's shared back-off ([`super::reach`]) when the server does not answer, on
//! the watch's own when it answers with an error. Does not own: what the objects mean
//! (the correlator does).
//!
//! Invariant: the source is marked synced after its first complete list; objects are
//! state, so a relist re-sends them all, except Events: those already seen before a
//! restart (resourceVersion not newer than the checkpoint) are not re-sent.

use std::fmt::Debug;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::checkpoint::{rv_not_newer, Checkpoints};
use super::reach::{is_connection_failure, is_watch_connection_failure, Reachability};
use super::{jitter, send_line};
use crate::sources::LineTx;
use crate::telemetry::Telemetry;

/// Pause after a watch's API error (the server answered), doubled up to the max, as
/// kube-runtime's default back-off does.
const API_ERROR_PAUSE_MIN: Duration = Duration::from_millis(800);
const API_ERROR_PAUSE_MAX: Duration = Duration::from_secs(30);

/// One Flux kind: group, versions to try (preferred first), kind, plural.
pub struct FluxKind {
    pub group: &'static str,
    pub versions: &'static [&'static str],
    pub kind: &'static str,
    pub plural: &'static str,
}

const SOURCE: &str = "source.toolkit.fluxcd.io";
const SOURCE_V: &[&str] = &["v1", "v1beta2"];
const IMAGE: &str = "image.toolkit.fluxcd.io";
const IMAGE_V: &[&str] = &["v1", "v1beta2"];
const NOTIF: &str = "notification.toolkit.fluxcd.io";

/// Every Flux kind watched.
pub const FLUX_KINDS: &[FluxKind] = &[
    FluxKind {
        group: SOURCE,
        versions: SOURCE_V,
        kind: "GitRepository",
        plural: "gitrepositories",
    },
    FluxKind {
        group: SOURCE,
        versions: SOURCE_V,
        kind: "OCIRepository",
        plural: "ocirepositories",
    },
    FluxKind {
        group: SOURCE,
        versions: SOURCE_V,
        kind: "HelmRepository",
        plural: "helmrepositories",
    },
    FluxKind {
        group: SOURCE,
        versions: SOURCE_V,
        kind: "HelmChart",
        plural: "helmcharts",
    },
    FluxKind {
        group: SOURCE,
        versions: SOURCE_V,
        kind: "Bucket",
        plural: "buckets",
    },
    FluxKind {
        group: "kustomize.toolkit.fluxcd.io",
        versions: &["v1"],
        kind: "Kustomization",
        plural: "kustomizations",
    },
    FluxKind {
        group: "helm.toolkit.fluxcd.io",
        versions: &["v2", "v2beta2"],
        kind: "HelmRelease",
        plural: "helmreleases",
    },
    FluxKind {
        group: IMAGE,
        versions: IMAGE_V,
        kind: "ImageRepository",
        plural: "imagerepositories",
    },
    FluxKind {
        group: IMAGE,
        versions: IMAGE_V,
        kind: "ImagePolicy",
        plural: "imagepolicies",
    },
    FluxKind {
        group: IMAGE,
        versions: IMAGE_V,
        kind: "ImageUpdateAutomation",
        plural: "imageupdateautomations",
    },
    FluxKind {
        group: NOTIF,
        versions: &["v1beta3", "v1beta2"],
        kind: "Alert",
        plural: "alerts",
    },
    FluxKind {
        group: NOTIF,
        versions: &["v1beta3", "v1beta2"],
        kind: "Provider",
        plural: "providers",
    },
    FluxKind {
        group: NOTIF,
        versions: &["v1", "v1beta3"],
        kind: "Receiver",
        plural: "receivers",
    },
];

/// The first served version of `k`, or `None` (the kind is skipped with a warning).
/// A server that does not answer is waited for with the shared back-off.
pub async fn served(
    client: &Client,
    k: &FluxKind,
    reach: &Reachability,
    cancel: &CancellationToken,
) -> Option<ApiResource> {
    for v in k.versions {
        let ar = ApiResource {
            group: k.group.into(),
            version: (*v).into(),
            api_version: format!("{}/{}", k.group, v),
            kind: k.kind.into(),
            plural: k.plural.into(),
        };
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let got = loop {
            if !reach.ready(cancel).await {
                return None;
            }
            match api.list(&ListParams::default().limit(1)).await {
                Err(e) if is_connection_failure(&e) => reach.failed(&e),
                got => {
                    reach.answered();
                    break got;
                }
            }
        };
        match got {
            Ok(_) => return Some(ar),
            Err(kube::Error::Api(e)) if e.code == 404 => continue,
            Err(e) => {
                tracing::warn!(kind = k.kind, error = %e, "flux kind probe failed; watching it anyway");
                return Some(ar);
            }
        }
    }
    tracing::warn!(
        kind = k.kind,
        group = k.group,
        "flux kind not served by this cluster; skipped"
    );
    None
}

/// What a watch does with each object besides sending it.
pub type Hook<K> = Box<dyn FnMut(&Event<K>) + Send>;

/// A running watch's identity.
pub struct WatchSpec {
    /// Source name (telemetry, checkpoint): `watch/<Kind>[/<namespace>]`.
    pub name: String,
    pub api_version: String,
    pub kind: String,
    /// Skip listed objects not newer than the checkpointed resourceVersion (Events).
    pub skip_seen: bool,
}

/// Runs one watch until `cancel` fires.
#[allow(clippy::too_many_arguments)]
pub async fn run_watch<K>(
    api: Api<K>,
    cfg: watcher::Config,
    spec: WatchSpec,
    tx: LineTx,
    cancel: CancellationToken,
    reach: Arc<Reachability>,
    telemetry: Arc<Telemetry>,
    ckpt: Arc<Checkpoints>,
    mut hook: Option<Hook<K>>,
) where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug + Send + 'static,
{
    let stats = telemetry.source(&spec.name);
    let stream: Arc<str> = Arc::from(spec.name.as_str());
    let seen_rv = if spec.skip_seen {
        ckpt.watch_rv(&spec.name)
    } else {
        None
    };
    let mut lists = 0u64;
    // No back-off of the watcher's own: after an error, the next poll retries, and
    // the loop decides when that is.
    let mut w = watcher::watcher(api, cfg).boxed();
    let mut pause = API_ERROR_PAUSE_MIN;
    loop {
        if !reach.ready(&cancel).await {
            return;
        }
        let ev = tokio::select! {
            _ = cancel.cancelled() => return,
            ev = w.next() => ev,
        };
        let Some(ev) = ev else { return };
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) if is_watch_connection_failure(&e) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                reach.failed(&e);
                continue;
            }
            Err(e) => {
                // The server answered with an error for this watch alone (403, …).
                stats.errors.fetch_add(1, Ordering::Relaxed);
                reach.answered();
                tracing::debug!(watch = %spec.name, error = %e, "watch error; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(jitter(pause)) => {}
                }
                pause = (pause * 2).min(API_ERROR_PAUSE_MAX);
                continue;
            }
        };
        reach.answered();
        pause = API_ERROR_PAUSE_MIN;
        if let Some(h) = hook.as_mut() {
            h(&ev);
        }
        let (wt, obj) = match &ev {
            Event::Init => {
                lists += 1;
                if lists > 1 {
                    stats.restarts.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            Event::InitDone => {
                stats.synced.store(true, Ordering::Relaxed);
                continue;
            }
            Event::InitApply(o) => ("ADDED", o),
            Event::Apply(o) => ("MODIFIED", o),
            Event::Delete(o) => ("DELETED", o),
        };
        let rv = obj.meta().resource_version.clone().unwrap_or_default();
        // Listed again after a restart and not newer than the checkpoint: processed
        // before, so it only rebuilds the correlator's windows (its outputs were
        // delivered then and are not sent again).
        let seen_before =
            wt == "ADDED" && seen_rv.as_ref().is_some_and(|seen| rv_not_newer(&rv, seen));
        let Ok(mut v) = serde_json::to_value(obj) else {
            continue;
        };
        if let Some(m) = v.as_object_mut() {
            m.insert("apiVersion".into(), spec.api_version.clone().into());
            m.insert("kind".into(), spec.kind.clone().into());
        }
        let line = serde_json::json!({"type": wt, "object": v}).to_string();
        stats.lines.fetch_add(1, Ordering::Relaxed);
        let ack = (!rv.is_empty())
            .then(|| ckpt.ack_watch(&spec.name, &rv))
            .flatten()
            .map(|mut a| {
                a.rebuild = seen_before;
                a
            });
        if !send_line(&tx, &stream, line.into_bytes(), None, ack).await {
            return;
        }
        if !rv.is_empty() {
            let newer = ckpt
                .watch_rv(&spec.name)
                .is_none_or(|old| !rv_not_newer(&rv, &old));
            if newer {
                ckpt.set_watch_rv(&spec.name, &rv);
            }
        }
    }
}

/// The watcher configuration every watch uses (bookmarks on, the default).
pub fn config() -> watcher::Config {
    watcher::Config::default()
}
