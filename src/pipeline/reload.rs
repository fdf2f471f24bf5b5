//! Config reload of `fluxsight run`: on SIGHUP, and when the content of the config file
//! changes (polled by hash through its path, so a ConfigMap volume's `..data` symlink
//! swap is seen like an in-place edit, with no inotify dependency).
//!
//! Validate-then-swap: the file is read and validated in full (the same raw → validated
//! steps as `fluxsight validate`), then every new or changed sink is built; only when
//! all of that worked does anything change. A rejected file is logged with its errors
//! (file, line, field), counted in `fluxsight_config_reloads_total{result="failure"}`,
//! and the running config keeps going.
//!
//! What a reload swaps: the correlator's settings (thresholds, patterns, tenant
//! mapping, cluster name) while its state and open findings stay; the sinks whose config
//! changed (inside their running worker, so their spooled backlog goes to the new
//! config); added and removed sinks; the routes (storm-control groups kept by route
//! name). What needs a restart (logged, not applied): `listen`, `health_listen`,
//! `receiver`, `api`, `kubernetes` and `delivery`.
//!
//! Owns: the triggers ([`spawn_triggers`]) and applying one reload ([`Reloader`]). Does
//! not own: the config schema (`correlate::spec`, `sinks::config`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{LiveSection, LoadPipeline};
use crate::correlate::spec::{PatternSet, Settings};
use crate::correlate::Correlator;
use crate::pipeline::deliver::{DeliverError, SinkSet};
use crate::sinks::config::DeliveryPlan;
use crate::spec_error::SpecError;
use crate::telemetry::Telemetry;

/// How often the config file's content is hashed. Kubelet refreshes a ConfigMap volume
/// within about a minute; a second more is noise, and hashing a small file is cheap.
pub const RELOAD_POLL: Duration = Duration::from_secs(1);

/// Why a reload was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Signal,
    FileChanged,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "sighup",
            Trigger::FileChanged => "file_changed",
        }
    }
}

/// Why a config was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", join_errors(.0))]
    Invalid(Vec<SpecError>),
    #[error("building sinks: {0}")]
    Build(#[from] DeliverError),
}

fn join_errors(errs: &[SpecError]) -> String {
    errs.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A validated pipeline file.
pub struct Loaded {
    pub settings: Settings,
    pub plan: DeliveryPlan,
    pub live: LiveSection,
}

/// Reads and validates the pipeline file at `path` (built-in patterns, as `run`).
pub fn load(path: &Path) -> Result<Loaded, ReloadError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ReloadError::Read {
        path: file.clone(),
        source,
    })?;
    let (settings, plan, live) = Settings::pipeline_full(&text, &file, PatternSet::builtin())
        .map_err(ReloadError::Invalid)?;
    Ok(Loaded {
        settings,
        plan,
        live,
    })
}

fn content_hash(path: &Path) -> Option<[u8; 32]> {
    std::fs::read(path).ok().map(|b| Sha256::digest(&b).into())
}

/// Starts the reload triggers until `cancel`: SIGHUP always (without a config file it
/// is logged and ignored, rather than ending the process as its default action would),
/// and with `path`, a poll of the file's content. A changed content triggers once it
/// is the same on two polls in a row (an editor's half-written file is not loaded) and
/// differs from the content last triggered (a rejected file is not retried every poll).
/// The channel holds one request: more while one is pending are the same request.
pub fn spawn_triggers(
    path: Option<PathBuf>,
    tx: mpsc::Sender<Trigger>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "SIGHUP handler not installed; reload on file change only");
                None
            }
        };
        let mut last_triggered = path.as_deref().and_then(content_hash);
        let mut last_polled = last_triggered;
        let mut poll = tokio::time::interval(RELOAD_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hup_recv = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hup_recv = std::future::pending::<Option<()>>();
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = hup_recv => {
                    let Some(p) = &path else {
                        tracing::warn!("SIGHUP received but run has no --config file to reload; ignored");
                        continue;
                    };
                    last_triggered = content_hash(p);
                    last_polled = last_triggered;
                    if tx.try_send(Trigger::Signal).is_err() {
                        tracing::debug!("reload already pending");
                    }
                }
                _ = poll.tick() => {
                    let Some(p) = &path else { continue };
                    // Unreadable for a moment (a symlink swap in progress): try again.
                    let Some(h) = content_hash(p) else { continue };
                    let stable = last_polled == Some(h);
                    last_polled = Some(h);
                    if stable && last_triggered != Some(h) {
                        last_triggered = Some(h);
                        if tx.try_send(Trigger::FileChanged).is_err() {
                            tracing::debug!("reload already pending");
                        }
                    }
                }
            }
        }
    })
}

/// Applies reloads to the running pipeline.
pub struct Reloader {
    path: PathBuf,
    /// The sections that need a restart, as running.
    live: Option<LiveSection>,
}

impl Reloader {
    /// For the pipeline file at `path`; records the start-up load in the metrics.
    pub fn new(path: PathBuf, telemetry: &Telemetry) -> Self {
        // The running process was started from this file (main validated it): its
        // restart-only sections are the baseline later reloads are compared with.
        let live = load(&path).ok().map(|l| l.live);
        telemetry.reloads.record(true, crate::time::now_ms(), true);
        Reloader { path, live }
    }

    /// Reads, validates and applies the file; the old config stays on any error.
    pub fn reload(
        &mut self,
        trigger: Trigger,
        correlator: &mut Correlator,
        sinks: &mut SinkSet,
        telemetry: &Telemetry,
    ) -> Result<(), ReloadError> {
        let result = self.apply(correlator, sinks, telemetry);
        telemetry
            .reloads
            .record(result.is_ok(), crate::time::now_ms(), false);
        match &result {
            Ok(()) => {}
            Err(e) => tracing::error!(
                file = %self.path.display(),
                trigger = trigger.as_str(),
                error = %e,
                "config reload rejected; the running config stays"
            ),
        }
        result
    }

    fn apply(
        &mut self,
        correlator: &mut Correlator,
        sinks: &mut SinkSet,
        telemetry: &Telemetry,
    ) -> Result<(), ReloadError> {
        let loaded = load(&self.path)?;
        // Sinks first: building one is the step that can still fail.
        let changes = sinks.reconfigure(&loaded.plan)?;
        correlator.reconfigure(loaded.settings);
        for name in &changes.added {
            if let Some(h) = sinks.handles().get(name) {
                telemetry.register_sink(name, h.stats());
            }
        }
        let mut restart = Vec::new();
        if changes.restart_needed {
            restart.push("delivery");
        }
        if let Some(old) = &self.live {
            let new = &loaded.live;
            for (name, differs) in [
                ("listen", old.listen != new.listen),
                ("health_listen", old.health_listen != new.health_listen),
                ("receiver", old.receiver != new.receiver),
                ("api", old.api != new.api),
                ("kubernetes", old.kubernetes != new.kubernetes),
            ] {
                if differs {
                    restart.push(name);
                }
            }
        }
        if !restart.is_empty() {
            tracing::warn!(
                sections = %restart.join(","),
                "config sections changed that apply at the next restart only"
            );
        }
        if changes.findings_of_dropped_routes > 0 {
            tracing::warn!(
                count = changes.findings_of_dropped_routes,
                "findings held in storm-control groups of removed routes are not notified by them"
            );
        }
        tracing::info!(
            file = %self.path.display(),
            sinks_added = %changes.added.join(","),
            sinks_rebuilt = %changes.rebuilt.join(","),
            sinks_removed = %changes.removed.join(","),
            "config reloaded"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::deliver::SinkChanges;

    fn plan(text: &str) -> DeliveryPlan {
        Settings::pipeline_full(text, "t.yaml", PatternSet::builtin())
            .map(|(_, p, _)| p)
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn sinks(dir: &Path, files: &[(&str, &str)], retry: &str) -> DeliveryPlan {
        let mut t = String::from("sinks:\n");
        for (name, file) in files {
            t.push_str(&format!(
                "  - name: {name}\n    type: file\n    path: {}\n",
                dir.join(file).display()
            ));
        }
        t.push_str(&format!("delivery:\n  retry_initial: {retry}\n"));
        plan(&t)
    }

    #[tokio::test]
    async fn reconfigure_rebuilds_changed_sinks_only_and_reports_restart_only_sections() {
        let dir = std::env::temp_dir().join(format!("fluxsight-reconf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut set = SinkSet::start(&sinks(&dir, &[("a", "a1"), ("b", "b")], "1s")).unwrap();

        let same = set
            .reconfigure(&sinks(&dir, &[("a", "a1"), ("b", "b")], "1s"))
            .unwrap();
        assert_eq!(
            same,
            SinkChanges::default(),
            "an unchanged file changes nothing"
        );

        let c = set
            .reconfigure(&sinks(&dir, &[("a", "a2"), ("b", "b"), ("c", "c")], "1s"))
            .unwrap();
        assert_eq!(c.rebuilt, vec!["a".to_string()]);
        assert_eq!(c.added, vec!["c".to_string()]);
        assert!(c.removed.is_empty() && !c.restart_needed);
        assert_eq!(set.handles().len(), 3);

        let c = set
            .reconfigure(&sinks(&dir, &[("a", "a2"), ("b", "b")], "2s"))
            .unwrap();
        assert_eq!(c.removed, vec!["c".to_string()]);
        assert!(c.restart_needed, "delivery: changed");
        assert!(c.rebuilt.is_empty() && c.added.is_empty());
        assert_eq!(set.handles().len(), 2);
        set.finish(false).await;
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_rejected_file_names_its_error() {
        let dir = std::env::temp_dir().join(format!("fluxsight-reload-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pipeline.yaml");
        std::fs::write(&p, "cluster: x\nrepeat_interval: soon\n").unwrap();
        let e = load(&p).err().expect("rejected").to_string();
        assert!(e.contains("repeat_interval") && e.contains("soon"), "{e}");
        let e = load(&dir.join("missing.yaml"))
            .err()
            .expect("rejected")
            .to_string();
        assert!(e.contains("missing.yaml"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
