//! Where `run` and `record` find their cluster, the way kubectl, client-go and
//! controller-runtime do it, and a first answer from its API server.
//!
//! Order (the first source present wins):
//! 1. `--kubeconfig FILE`;
//! 2. `KUBECONFIG`, a list of files merged like kubectl does (missing ones skipped);
//!    when it is set, `~/.kube/config` is not read;
//! 3. the in-cluster service account (`KUBERNETES_SERVICE_HOST` and the token), skipped
//!    when `--context` names a kubeconfig context;
//! 4. `~/.kube/config`.
//!
//! This is `kube::Config::infer()` with the explicit sources first and the in-cluster
//! account before the home file, as controller-runtime orders them: inside a pod the
//! service account wins over a stray home file, on a workstation nothing changes.
//!
//! Owns: that order, `--context`, an error that names every source tried and why each
//! failed (a configuration that cannot be loaded is a usage error), and the first
//! answer (`GET /version`) the Kubernetes sources wait for before they start. A cluster
//! that does not answer is not an error here: the wait goes on with the shared back-off
//! of [`super::reach`], `/readyz` stays false meanwhile. Does not own: the namespace
//! Flux runs in (see [`super::config`]).
//!
//! Invariant: a kubeconfig that exists but cannot be used is final. Falling through to
//! the next source would silently connect to a different cluster.

use kube::config::{KubeConfigOptions, Kubeconfig};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use super::reach::{is_connection_failure, Reachability};
use super::KubeError;

/// Environment variable naming the kubeconfig files (`:`-separated on Unix).
pub const KUBECONFIG_ENV: &str = "KUBECONFIG";
/// Set by the kubelet in every pod: the in-cluster API server.
pub const SERVICE_HOST_ENV: &str = "KUBERNETES_SERVICE_HOST";
/// `--kubeconfig` and `--context` of `run` and `record`.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// The parts of the process environment the search reads, captured once (tests pass
/// their own).
#[derive(Debug, Clone, Default)]
pub struct ClusterEnv {
    /// `KUBECONFIG` as set (an empty value counts as unset, as in kubectl).
    pub kubeconfig_var: Option<OsString>,
    /// `KUBERNETES_SERVICE_HOST` is set: we run in a pod.
    pub in_pod: bool,
    /// `~/.kube/config`, when there is a home directory.
    pub home_config: Option<PathBuf>,
}

impl ClusterEnv {
    /// The current process's environment.
    pub fn from_process() -> ClusterEnv {
        ClusterEnv {
            kubeconfig_var: std::env::var_os(KUBECONFIG_ENV).filter(|v| !v.is_empty()),
            in_pod: std::env::var_os(SERVICE_HOST_ENV).is_some_and(|v| !v.is_empty()),
            home_config: std::env::home_dir().map(|h| h.join(".kube").join("config")),
        }
    }
}

/// Which source a configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `--kubeconfig FILE`.
    Flag(PathBuf),
    /// The files named by `KUBECONFIG` that exist.
    EnvVar(Vec<PathBuf>),
    /// The pod's service account.
    InCluster,
    /// `~/.kube/config`.
    Home(PathBuf),
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::Flag(p) => write!(f, "{} (--kubeconfig)", p.display()),
            ConfigSource::EnvVar(ps) => {
                let list: Vec<String> = ps.iter().map(|p| p.display().to_string()).collect();
                write!(f, "{} ({KUBECONFIG_ENV})", list.join(":"))
            }
            ConfigSource::InCluster => f.write_str("in-cluster service account"),
            ConfigSource::Home(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One source looked at and why it gave no configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// `--kubeconfig`, `KUBECONFIG`, `in-cluster` or the home file's path.
    pub source: String,
    pub reason: String,
}

/// The attempts as one line: `KUBECONFIG (unset), in-cluster (…), /root/.kube/config (…)`.
pub fn describe_attempts(tried: &[Attempt]) -> String {
    tried
        .iter()
        .map(|a| format!("{} ({})", a.source, a.reason))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A loaded configuration and where it came from.
pub struct ClusterConfig {
    pub config: kube::Config,
    pub source: ConfigSource,
    /// The kubeconfig context used (`None` in-cluster).
    pub context: Option<String>,
}

/// What one source gave. Made once per start and moved once: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Look {
    /// A kubeconfig (its context still to choose).
    Kubeconfig(Kubeconfig, ConfigSource),
    /// The pod's service account.
    InCluster(kube::Config),
    /// Nothing here, and why.
    Nothing(Attempt),
}

fn nothing(source: impl Into<String>, reason: impl Into<String>) -> Look {
    Look::Nothing(Attempt {
        source: source.into(),
        reason: reason.into(),
    })
}

/// Finds and loads the cluster configuration (reads files, no network).
pub async fn load(opts: &ClusterOptions, env: &ClusterEnv) -> Result<ClusterConfig, KubeError> {
    if let Some(path) = &opts.kubeconfig {
        let source = ConfigSource::Flag(path.clone());
        let kc = read_kubeconfig(path, &source)?;
        return from_kubeconfig(kc, source, opts).await;
    }
    let steps: [&dyn Fn() -> Result<Look, KubeError>; 3] = [
        &|| look_env_var(env),
        &|| Ok(look_in_cluster(opts, env)),
        &|| look_home(env),
    ];
    let mut tried = Vec::new();
    for step in steps {
        match step()? {
            Look::Kubeconfig(kc, source) => return from_kubeconfig(kc, source, opts).await,
            Look::InCluster(config) => {
                return Ok(ClusterConfig {
                    config,
                    source: ConfigSource::InCluster,
                    context: None,
                })
            }
            Look::Nothing(a) => tried.push(a),
        }
    }
    Err(KubeError::NoConfig { tried })
}

/// `KUBECONFIG`: its existing files merged in order; missing ones skipped (kubectl).
fn look_env_var(env: &ClusterEnv) -> Result<Look, KubeError> {
    let Some(var) = &env.kubeconfig_var else {
        return Ok(nothing(KUBECONFIG_ENV, "unset"));
    };
    let (existing, missing): (Vec<PathBuf>, Vec<PathBuf>) = std::env::split_paths(var)
        .filter(|p| !p.as_os_str().is_empty())
        .partition(|p| p.exists());
    if existing.is_empty() {
        let list: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
        return Ok(nothing(
            KUBECONFIG_ENV,
            format!("no such file: {}", list.join(", ")),
        ));
    }
    let source = ConfigSource::EnvVar(existing.clone());
    let mut merged = Kubeconfig::default();
    for p in &existing {
        let kc = read_kubeconfig(p, &source)?;
        merged = merged.merge(kc).map_err(|e| KubeError::Kubeconfig {
            origin: source.to_string(),
            error: error_chain(&e),
        })?;
    }
    Ok(Look::Kubeconfig(merged, source))
}

/// The service account, when in a pod and no kubeconfig context was asked for. Its
/// failure is not final: a pod without a token may still have a home kubeconfig.
fn look_in_cluster(opts: &ClusterOptions, env: &ClusterEnv) -> Look {
    const IN_CLUSTER: &str = "in-cluster";
    if opts.context.is_some() {
        return nothing(IN_CLUSTER, "skipped: --context names a kubeconfig context");
    }
    if !env.in_pod {
        return nothing(
            IN_CLUSTER,
            format!("{SERVICE_HOST_ENV} unset: not running in a pod"),
        );
    }
    match kube::Config::incluster() {
        Ok(config) => Look::InCluster(config),
        Err(e) => nothing(IN_CLUSTER, error_chain(&e)),
    }
}

/// `~/.kube/config`, unless `KUBECONFIG` is set (it replaces the default, as in kubectl).
fn look_home(env: &ClusterEnv) -> Result<Look, KubeError> {
    const HOME: &str = "~/.kube/config";
    match &env.home_config {
        _ if env.kubeconfig_var.is_some() => Ok(nothing(
            HOME,
            format!("not read: {KUBECONFIG_ENV} is set (as kubectl does)"),
        )),
        None => Ok(nothing(HOME, "no home directory")),
        Some(p) if !p.exists() => Ok(nothing(p.display().to_string(), "no such file")),
        Some(p) => {
            let source = ConfigSource::Home(p.clone());
            Ok(Look::Kubeconfig(read_kubeconfig(p, &source)?, source))
        }
    }
}

fn read_kubeconfig(path: &Path, source: &ConfigSource) -> Result<Kubeconfig, KubeError> {
    Kubeconfig::read_from(path).map_err(|e| KubeError::Kubeconfig {
        origin: source.to_string(),
        error: error_chain(&e),
    })
}

/// `e` and its causes, `: `-joined (kube's read error keeps the I/O reason as a cause).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

async fn from_kubeconfig(
    kc: Kubeconfig,
    source: ConfigSource,
    opts: &ClusterOptions,
) -> Result<ClusterConfig, KubeError> {
    let known: Vec<String> = kc.contexts.iter().map(|c| c.name.clone()).collect();
    let context = match (&opts.context, &kc.current_context) {
        (Some(c), _) => c.clone(),
        (None, Some(c)) if !c.is_empty() => c.clone(),
        _ => {
            return Err(KubeError::NoContext {
                origin: source.to_string(),
                known,
            })
        }
    };
    if !known.contains(&context) {
        return Err(KubeError::UnknownContext {
            context,
            origin: source.to_string(),
            known,
        });
    }
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| KubeError::Kubeconfig {
            origin: format!("{source}, context '{context}'"),
            error: error_chain(&e),
        })?;
    Ok(ClusterConfig {
        config,
        source,
        context: Some(context),
    })
}

/// Waits until the API server answers `GET /version`, retrying with the shared
/// back-off of `reach` (which logs the outage); `false` when `cancel` fired first. Any
/// answer but a rejection of the credentials (401) proves the server reachable.
pub async fn wait_answer(
    client: &kube::Client,
    reach: &Reachability,
    cancel: &CancellationToken,
) -> bool {
    loop {
        if !reach.ready(cancel).await {
            return false;
        }
        let got = tokio::select! {
            _ = cancel.cancelled() => return false,
            got = client.apiserver_version() => got,
        };
        match got {
            Ok(_) => {
                reach.answered();
                return true;
            }
            Err(e) if is_connection_failure(&e) => reach.failed(&e),
            Err(kube::Error::Api(s)) => {
                tracing::warn!(code = s.code, message = %s.message, "GET /version refused; the server answers, going on");
                reach.answered();
                return true;
            }
            // An answer that is not Kubernetes (a proxy's page, …): retried like no answer.
            Err(e) => reach.failed(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_CONTEXTS: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {server: 'http://127.0.0.1:1'}\n- name: b\n  cluster: {server: 'http://127.0.0.1:2'}\ncontexts:\n- name: alpha\n  context: {cluster: a, user: u}\n- name: beta\n  context: {cluster: b, user: u}\ncurrent-context: alpha\nusers:\n- name: u\n  user: {}\n";

    fn dir(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("fluxsight-connect-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn nothing_found_names_every_source_and_why() {
        let d = dir("none");
        let env = ClusterEnv {
            kubeconfig_var: None,
            in_pod: false,
            home_config: Some(d.join(".kube/config")),
        };
        let Err(e) = rt().block_on(load(&ClusterOptions::default(), &env)) else {
            panic!("loaded a config from nothing");
        };
        let msg = e.to_string();
        assert!(msg.contains("KUBECONFIG (unset)"), "{msg}");
        assert!(
            msg.contains("in-cluster (KUBERNETES_SERVICE_HOST unset: not running in a pod)"),
            "{msg}"
        );
        assert!(
            msg.contains(&format!(
                "{} (no such file)",
                d.join(".kube/config").display()
            )),
            "{msg}"
        );
        assert!(e.is_missing());
    }

    #[test]
    fn context_picks_the_cluster_and_skips_in_cluster() {
        let d = dir("ctx");
        let home = d.join("config");
        std::fs::write(&home, TWO_CONTEXTS).unwrap();
        // In a pod, but --context names a kubeconfig context: the home file is read.
        let env = ClusterEnv {
            kubeconfig_var: None,
            in_pod: true,
            home_config: Some(home.clone()),
        };
        let opts = ClusterOptions {
            kubeconfig: None,
            context: Some("beta".into()),
        };
        let c = rt().block_on(load(&opts, &env)).unwrap();
        assert_eq!(c.config.cluster_url.port_u16(), Some(2));
        assert_eq!(c.context.as_deref(), Some("beta"));
        assert_eq!(c.source, ConfigSource::Home(home.clone()));
        // Without --context: the current context.
        let env = ClusterEnv {
            in_pod: false,
            ..env
        };
        let c = rt()
            .block_on(load(&ClusterOptions::default(), &env))
            .unwrap();
        assert_eq!(c.config.cluster_url.port_u16(), Some(1));
    }

    #[test]
    fn unknown_context_lists_the_known_ones() {
        let d = dir("unknown");
        let kc = d.join("kc.yaml");
        std::fs::write(&kc, TWO_CONTEXTS).unwrap();
        let opts = ClusterOptions {
            kubeconfig: Some(kc.clone()),
            context: Some("gamma".into()),
        };
        let Err(e) = rt().block_on(load(&opts, &ClusterEnv::default())) else {
            panic!("unknown context accepted");
        };
        let msg = e.to_string();
        assert!(msg.contains("'gamma'"), "{msg}");
        assert!(msg.contains("alpha, beta"), "{msg}");
        assert!(msg.contains("(--kubeconfig)"), "{msg}");
        assert!(!e.is_missing());
    }

    #[test]
    fn kubeconfig_var_merges_existing_files_and_hides_the_home_file() {
        let d = dir("var");
        let kc = d.join("kc.yaml");
        std::fs::write(&kc, TWO_CONTEXTS).unwrap();
        let home = d.join("home-config");
        std::fs::write(&home, TWO_CONTEXTS.replace("127.0.0.1:1", "127.0.0.1:9")).unwrap();
        let missing = d.join("missing.yaml");
        let var = std::env::join_paths([&missing, &kc]).unwrap();
        let env = ClusterEnv {
            kubeconfig_var: Some(var),
            in_pod: true,
            home_config: Some(home),
        };
        let c = rt()
            .block_on(load(&ClusterOptions::default(), &env))
            .unwrap();
        // KUBECONFIG wins over the pod's service account and the home file.
        assert_eq!(c.source, ConfigSource::EnvVar(vec![kc]));
        assert_eq!(c.config.cluster_url.port_u16(), Some(1));
        // Only missing files: the home file is still not read (kubectl's rule).
        let env = ClusterEnv {
            kubeconfig_var: Some(missing.clone().into_os_string()),
            in_pod: false,
            ..env
        };
        let Err(e) = rt().block_on(load(&ClusterOptions::default(), &env)) else {
            panic!("fell through to the home file");
        };
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("KUBECONFIG (no such file: {})", missing.display())),
            "{msg}"
        );
        assert!(msg.contains("(not read: KUBECONFIG is set"), "{msg}");
    }

    #[test]
    fn an_unreadable_explicit_file_is_final() {
        let d = dir("bad");
        let kc = d.join("kc.yaml");
        std::fs::write(&kc, "clusters: [oops").unwrap();
        let home = d.join("home");
        std::fs::write(&home, TWO_CONTEXTS).unwrap();
        let env = ClusterEnv {
            kubeconfig_var: Some(kc.clone().into_os_string()),
            in_pod: false,
            home_config: Some(home),
        };
        let Err(e) = rt().block_on(load(&ClusterOptions::default(), &env)) else {
            panic!("a broken KUBECONFIG file fell through");
        };
        assert!(e.to_string().contains(&kc.display().to_string()), "{e}");
        assert!(!e.is_missing());
    }
}
