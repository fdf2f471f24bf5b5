//! The modelled cluster: tenants, Flux objects (kinds, sources, dependencies, a failure
//! mode for a configurable fraction), the controller pods, and the message each object
//! produces next, worded as in `flux-catalog.md` §2–§3.
//!
//! Invariant: built from the config and the PRNG only; object `i` is the same for a seed
//! whatever the line count, so streams of different lengths describe the same cluster.

use std::fmt::Write as _;

use super::workload::{self, Workload};
use super::{mix64, GenConfig, Mix, Rng};

/// The Flux kinds the generator models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GitRepository,
    OciRepository,
    HelmRepository,
    HelmChart,
    Bucket,
    Kustomization,
    HelmRelease,
    ImageRepository,
    ImagePolicy,
    ImageUpdateAutomation,
    Alert,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::GitRepository => "GitRepository",
            Kind::OciRepository => "OCIRepository",
            Kind::HelmRepository => "HelmRepository",
            Kind::HelmChart => "HelmChart",
            Kind::Bucket => "Bucket",
            Kind::Kustomization => "Kustomization",
            Kind::HelmRelease => "HelmRelease",
            Kind::ImageRepository => "ImageRepository",
            Kind::ImagePolicy => "ImagePolicy",
            Kind::ImageUpdateAutomation => "ImageUpdateAutomation",
            Kind::Alert => "Alert",
        }
    }

    /// controller-runtime controller name (lower-case kind).
    pub fn lower(self) -> &'static str {
        match self {
            Kind::GitRepository => "gitrepository",
            Kind::OciRepository => "ocirepository",
            Kind::HelmRepository => "helmrepository",
            Kind::HelmChart => "helmchart",
            Kind::Bucket => "bucket",
            Kind::Kustomization => "kustomization",
            Kind::HelmRelease => "helmrelease",
            Kind::ImageRepository => "imagerepository",
            Kind::ImagePolicy => "imagepolicy",
            Kind::ImageUpdateAutomation => "imageupdateautomation",
            Kind::Alert => "alert",
        }
    }

    /// The controller-runtime v0.12 lower-camel kind key.
    pub fn lower_camel(self) -> &'static str {
        match self {
            Kind::GitRepository => "gitRepository",
            Kind::OciRepository => "oCIRepository",
            Kind::HelmRepository => "helmRepository",
            Kind::HelmChart => "helmChart",
            Kind::Bucket => "bucket",
            Kind::Kustomization => "kustomization",
            Kind::HelmRelease => "helmRelease",
            Kind::ImageRepository => "imageRepository",
            Kind::ImagePolicy => "imagePolicy",
            Kind::ImageUpdateAutomation => "imageUpdateAutomation",
            Kind::Alert => "alert",
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            Kind::GitRepository
            | Kind::OciRepository
            | Kind::HelmRepository
            | Kind::HelmChart
            | Kind::Bucket => "source.toolkit.fluxcd.io",
            Kind::Kustomization => "kustomize.toolkit.fluxcd.io",
            Kind::HelmRelease => "helm.toolkit.fluxcd.io",
            Kind::ImageRepository | Kind::ImagePolicy | Kind::ImageUpdateAutomation => {
                "image.toolkit.fluxcd.io"
            }
            Kind::Alert => "notification.toolkit.fluxcd.io",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Kind::GitRepository | Kind::HelmRepository | Kind::HelmChart => {
                "source.toolkit.fluxcd.io/v1"
            }
            Kind::OciRepository | Kind::Bucket => "source.toolkit.fluxcd.io/v1beta2",
            Kind::Kustomization => "kustomize.toolkit.fluxcd.io/v1",
            Kind::HelmRelease => "helm.toolkit.fluxcd.io/v2",
            Kind::ImageRepository | Kind::ImagePolicy => "image.toolkit.fluxcd.io/v1beta2",
            Kind::ImageUpdateAutomation => "image.toolkit.fluxcd.io/v1beta2",
            Kind::Alert => "notification.toolkit.fluxcd.io/v1beta3",
        }
    }

    /// Index into [`CONTROLLERS`].
    pub fn controller_index(self) -> usize {
        match self {
            Kind::GitRepository
            | Kind::OciRepository
            | Kind::HelmRepository
            | Kind::HelmChart
            | Kind::Bucket => 0,
            Kind::Kustomization => 1,
            Kind::HelmRelease => 2,
            Kind::Alert => 3,
            Kind::ImageRepository | Kind::ImagePolicy => 4,
            Kind::ImageUpdateAutomation => 5,
        }
    }

    pub fn controller(self) -> &'static str {
        CONTROLLERS[self.controller_index()]
    }
}

/// The six Flux controllers (deployment names).
pub const CONTROLLERS: [&str; 6] = [
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
    "image-reflector-controller",
    "image-automation-controller",
];

/// Why a failing object fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    Auth,
    RateLimit,
    Network,
    Build,
    Sops,
    Rbac,
    Helm,
    Health,
    Dependency,
    Notification,
}

impl FailureMode {
    fn for_kind(kind: Kind) -> &'static [FailureMode] {
        use FailureMode::*;
        match kind {
            Kind::GitRepository => &[Auth, Auth, Network, RateLimit],
            Kind::OciRepository
            | Kind::HelmRepository
            | Kind::HelmChart
            | Kind::ImageRepository => &[RateLimit, RateLimit, Network, Auth],
            Kind::Bucket => &[Network, Auth],
            Kind::Kustomization => &[Build, Sops, Rbac, Health, Dependency],
            Kind::HelmRelease => &[Helm, Helm, Health, Dependency],
            Kind::ImagePolicy => &[Dependency],
            Kind::ImageUpdateAutomation => &[Auth],
            Kind::Alert => &[Notification],
        }
    }
}

const WORDS: &[&str] = &[
    "podinfo",
    "payments",
    "search",
    "billing",
    "checkout",
    "frontend",
    "backend",
    "ingress-nginx",
    "cert-manager",
    "monitoring",
    "redis",
    "postgres",
    "kafka",
    "auth",
    "gateway",
    "catalog",
    "orders",
    "inventory",
    "notifications",
    "analytics",
    "infra",
    "apps",
    "platform",
    "config",
];

const TEAMS: &[&str] = &[
    "team-payments",
    "team-search",
    "team-data",
    "team-web",
    "team-mobile",
    "team-platform",
    "team-ml",
    "team-risk",
];

const GIT_HOSTS: &[&str] = &[
    "github.com",
    "github.com",
    "gitlab.com",
    "bitbucket.org",
    "dev.azure.com",
    "git.internal.example.com",
];
const HELM_HOSTS: &[&str] = &[
    "charts.bitnami.com",
    "stefanprodan.github.io",
    "charts.jetstack.io",
    "prometheus-community.github.io",
    "kubernetes.github.io",
];
const OCI_HOSTS: &[&str] = &[
    "ghcr.io",
    "ghcr.io",
    "registry-1.docker.io",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    "myregistry.azurecr.io",
    "quay.io",
];
const CHARTS: &[&str] = &[
    "podinfo",
    "redis",
    "postgresql",
    "cert-manager",
    "ingress-nginx",
    "kube-prometheus-stack",
    "kafka",
    "loki",
];
const SUBJECTS: &[&str] = &[
    "Merge pull request #412 from org/feature/rollout",
    "chore(deps): update podinfo to 6.5.4",
    "Update image tags",
    "fix: raise memory limits for workers",
    "feat: add canary analysis",
    "Revert \"enable HPA\"",
];

/// One Flux object of the cluster.
#[derive(Debug, Clone)]
pub struct Obj {
    pub kind: Kind,
    pub ns: String,
    pub name: String,
    pub failure: Option<FailureMode>,
    /// Index of the source object (`spec.sourceRef`, chart source).
    pub source: Option<usize>,
    /// Index of an object in `spec.dependsOn`.
    pub depends: Option<usize>,
    pub host: &'static str,
    pub repo: String,
    pub chart: &'static str,
    pub uid: String,
    /// Interval in minutes.
    pub interval_min: u32,
    /// Seed for revisions and other per-object constants.
    pub key: u64,
    /// The workloads it applies (indices into [`Cluster::workloads`]; Kustomizations
    /// and HelmReleases only).
    pub workloads: std::ops::Range<usize>,
}

/// The cluster a stream describes.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub objs: Vec<Obj>,
    /// Pod name of each controller.
    pub pods: [String; 6],
    pub restarts: [u32; 6],
    pub failure_rate: f64,
    /// The Kubernetes workloads the Kustomizations and HelmReleases apply.
    pub workloads: Vec<Workload>,
    /// Indices of the workloads with a cause (their Pods do not become available).
    pub failing_workloads: Vec<usize>,
    /// Health-check failures name the modelled workloads (`--mix all`); `--mix current`
    /// keeps the wording it always had.
    pub name_workloads: bool,
}

fn pick_kind(h: u64) -> Kind {
    match h % 100 {
        0..=17 => Kind::GitRepository,
        18..=21 => Kind::OciRepository,
        22..=26 => Kind::HelmRepository,
        27..=31 => Kind::HelmChart,
        32..=33 => Kind::Bucket,
        34..=63 => Kind::Kustomization,
        64..=88 => Kind::HelmRelease,
        89..=92 => Kind::ImageRepository,
        93..=95 => Kind::ImagePolicy,
        96..=97 => Kind::ImageUpdateAutomation,
        _ => Kind::Alert,
    }
}

/// A short lower-case id in the alphabet Kubernetes uses for generated names.
pub fn kube_id(rng: &mut Rng, n: usize) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..n).map(|_| *rng.pick(ALPHA) as char).collect()
}

/// `n` hex digits derived from `seed`.
pub fn hex(seed: u64, n: usize) -> String {
    let mut s = String::with_capacity(n + 16);
    let mut i = 0u64;
    while s.len() < n {
        let _ = write!(s, "{:016x}", mix64(seed ^ i.wrapping_mul(0x9e37)));
        i += 1;
    }
    s.truncate(n);
    s
}

/// A UUID-shaped id derived from `seed`.
pub fn uuid(seed: u64) -> String {
    let h = hex(seed, 32);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

impl Cluster {
    pub fn new(cfg: &GenConfig, rng: &mut Rng) -> Self {
        let tenants = cfg.tenants.max(1) as usize;
        let n = cfg.objects.max(1) as usize;
        let mut objs = Vec::with_capacity(n);
        let mut git_of: Vec<Option<usize>> = vec![None; tenants];
        let mut helm_of: Vec<Option<usize>> = vec![None; tenants];
        let mut ks_of: Vec<Option<usize>> = vec![None; tenants];
        for i in 0..n {
            let h = mix64(cfg.seed ^ (i as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
            let t = i % tenants;
            let ns = if t == 0 {
                "flux-system".to_string()
            } else {
                format!("{}-{t:03}", TEAMS[t % TEAMS.len()])
            };
            let kind = pick_kind(h);
            let word = WORDS[(h >> 8) as usize % WORDS.len()];
            let name = format!("{word}-{i}");
            let mut orng = Rng::new(h);
            let failure = if orng.chance(cfg.failure_rate) {
                Some(*orng.pick(FailureMode::for_kind(kind)))
            } else {
                None
            };
            let (source, host) = match kind {
                Kind::Kustomization => (git_of[t].or(git_of[0]), ""),
                Kind::HelmRelease => (helm_of[t].or(helm_of[0]), ""),
                Kind::ImageUpdateAutomation => (git_of[t].or(git_of[0]), ""),
                Kind::GitRepository => (None, *orng.pick(GIT_HOSTS)),
                Kind::HelmRepository => (None, *orng.pick(HELM_HOSTS)),
                Kind::OciRepository | Kind::ImageRepository | Kind::HelmChart => {
                    (None, *orng.pick(OCI_HOSTS))
                }
                Kind::Bucket => (None, "minio.storage.svc.cluster.local:9000"),
                _ => (None, ""),
            };
            let depends = match kind {
                Kind::Kustomization | Kind::HelmRelease if orng.chance(0.25) => ks_of[t],
                _ => None,
            };
            objs.push(Obj {
                kind,
                ns,
                name,
                failure,
                source,
                depends,
                host,
                repo: format!("{}/{word}", TEAMS[t % TEAMS.len()]),
                chart: CHARTS[(h >> 16) as usize % CHARTS.len()],
                uid: uuid(h ^ 0x5eed),
                interval_min: *orng.pick(&[1, 5, 10, 10, 30, 60]),
                key: h,
                workloads: 0..0,
            });
            match kind {
                Kind::GitRepository => git_of[t] = Some(i),
                Kind::HelmRepository => helm_of[t] = Some(i),
                Kind::Kustomization => ks_of[t] = Some(i),
                _ => {}
            }
        }
        let pods = CONTROLLERS.map(|c| {
            let rs = kube_id(rng, 10);
            let id = kube_id(rng, 5);
            format!("{c}-{rs}-{id}")
        });
        // Derived from the objects' keys only: the shared PRNG is not touched, so
        // `--mix current` (which never writes them) is unchanged.
        let workloads = workload::build(&mut objs);
        let failing_workloads = (0..workloads.len())
            .filter(|&w| workloads[w].cause.is_some())
            .collect();
        Cluster {
            objs,
            pods,
            restarts: [0; 6],
            failure_rate: cfg.failure_rate,
            workloads,
            failing_workloads,
            name_workloads: cfg.mix == Mix::All,
        }
    }

    /// `Kind/ns/name status: 'InProgress'` of what a health check of object `i` waits
    /// for: its failing workload when workloads are named, else the Deployment named
    /// after it; a Service of that name either way.
    fn waiting_for(&self, i: usize) -> String {
        let o = &self.objs[i];
        let w = self
            .name_workloads
            .then(|| {
                o.workloads
                    .clone()
                    .find(|&w| self.workloads[w].cause.is_some())
            })
            .flatten();
        match w {
            Some(w) => {
                let w = &self.workloads[w];
                format!(
                    "{}/{}/{} status: 'InProgress', Service/{}/{} status: 'InProgress'",
                    w.kind.name(),
                    w.ns,
                    w.name,
                    o.ns,
                    o.name
                )
            }
            None => format!(
                "Deployment/{ns}/{name} status: 'InProgress', Service/{ns}/{name} status: 'InProgress'",
                ns = o.ns,
                name = o.name
            ),
        }
    }

    /// The revision an object carries at `epoch` (revisions move on over time).
    pub fn revision(&self, i: usize, epoch: u64) -> String {
        let o = &self.objs[i];
        let k = o.key ^ epoch.wrapping_mul(0xa076_1d64_78bd_642f);
        match o.kind {
            Kind::GitRepository | Kind::ImageUpdateAutomation => {
                format!("main@sha1:{}", hex(k, 40))
            }
            Kind::OciRepository => format!("latest@sha256:{}", hex(k, 64)),
            Kind::HelmRepository | Kind::Bucket => format!("sha256:{}", hex(k, 64)),
            Kind::HelmChart | Kind::HelmRelease => chart_version(k).to_string(),
            Kind::Kustomization => match o.source {
                Some(s) => self.revision(s, epoch),
                None => format!("main@sha1:{}", hex(k, 40)),
            },
            Kind::ImageRepository | Kind::ImagePolicy | Kind::Alert => String::new(),
        }
    }

    /// `ns/name` of the object `i` depends on (a synthesized one when none is modelled).
    pub fn dependency_of(&self, i: usize) -> String {
        let o = &self.objs[i];
        match o.depends {
            Some(d) => format!("{}/{}", self.objs[d].ns, self.objs[d].name),
            None => format!("{}/infra-controllers", o.ns),
        }
    }
}

fn chart_version(k: u64) -> String {
    format!("{}.{}.{}", 1 + k % 7, (k >> 8) % 20, (k >> 16) % 10)
}

/// A Go `time.Duration.String()` of `ms` milliseconds with sub-ms digits.
pub fn go_duration(ms: u64, frac: u64) -> String {
    if ms < 1000 {
        format!("{ms}.{:06}ms", frac % 1_000_000)
    } else if ms < 60_000 {
        format!("{}.{:03}{:06}s", ms / 1000, ms % 1000, frac % 1_000_000)
    } else {
        format!("{}m{}.{:03}s", ms / 60_000, (ms / 1000) % 60, ms % 1000)
    }
}

/// What one object says next: a log message and the event it would raise.
#[derive(Debug, Clone, Default)]
pub struct Msg {
    /// zap level string: `info`, `error`, `debug`, `trace`.
    pub level: &'static str,
    pub msg: String,
    pub error: Option<String>,
    pub revision: Option<String>,
    /// Event reason (Ready reason or eventLogf reason).
    pub reason: &'static str,
    /// Event text (the error for failures, the message otherwise).
    pub event_text: String,
    pub warning: bool,
    /// Server-side apply change set (`output` key): `Kind/ns/name` → action.
    pub output: Vec<(String, &'static str)>,
}

impl Msg {
    fn info(msg: String, reason: &'static str) -> Msg {
        Msg {
            level: "info",
            event_text: msg.clone(),
            msg,
            reason,
            ..Default::default()
        }
    }

    fn error(msg: &str, error: String, reason: &'static str) -> Msg {
        Msg {
            level: "error",
            msg: msg.to_string(),
            event_text: error.clone(),
            error: Some(error),
            reason,
            warning: true,
            ..Default::default()
        }
    }
}

impl Cluster {
    /// The next message of object `i` at `epoch`; `pad` bytes may be spent on a long
    /// change set.
    pub fn message(&self, i: usize, epoch: u64, rng: &mut Rng, pad: usize) -> Msg {
        let o = &self.objs[i];
        match o.failure {
            Some(f) if rng.chance(0.8) => self.failure(i, f, epoch, rng),
            _ => self.healthy(i, epoch, rng, pad),
        }
    }

    fn healthy(&self, i: usize, epoch: u64, rng: &mut Rng, pad: usize) -> Msg {
        let o = &self.objs[i];
        let rev = self.revision(i, epoch);
        let mut m = match o.kind {
            Kind::GitRepository => {
                if rng.chance(0.75) {
                    Msg::info(
                        format!("no changes since last reconciliation: observed revision '{rev}'"),
                        "GitOperationSucceeded",
                    )
                } else {
                    Msg::info(
                        format!("stored artifact for commit '{}'", rng.pick(SUBJECTS)),
                        "NewArtifact",
                    )
                }
            }
            Kind::OciRepository => {
                if rng.chance(0.7) {
                    Msg::info(
                        format!("artifact up-to-date with remote revision: '{rev}'"),
                        "ArtifactUpToDate",
                    )
                } else {
                    Msg::info(
                        format!(
                            "stored artifact with revision '{rev}' from 'oci://{}/{}'",
                            o.host, o.repo
                        ),
                        "NewArtifact",
                    )
                }
            }
            Kind::HelmRepository => {
                if rng.chance(0.7) {
                    Msg::info(
                        format!("artifact up-to-date with remote revision: '{rev}'"),
                        "ArtifactUpToDate",
                    )
                } else {
                    Msg::info(
                        format!(
                            "stored fetched index of {}.{} MiB from 'https://{}'",
                            1 + rng.below(9),
                            rng.below(10),
                            o.host
                        ),
                        "NewArtifact",
                    )
                }
            }
            Kind::HelmChart => Msg::info(
                format!("pulled '{}' chart with version '{rev}'", o.chart),
                "ChartPullSucceeded",
            ),
            Kind::Bucket => Msg::info(
                format!(
                    "stored artifact with {} fetched files from 'flux-{}' bucket",
                    3 + rng.below(40),
                    o.ns
                ),
                "NewArtifact",
            ),
            Kind::Kustomization => {
                let r = rng.unit();
                if pad > 160 || r < 0.3 {
                    let mut m = Msg::info("server-side apply completed".into(), "Progressing");
                    let entries = (pad / 48).clamp(2, 300);
                    for k in 0..entries {
                        let kind = [
                            "Deployment",
                            "Service",
                            "ConfigMap",
                            "HorizontalPodAutoscaler",
                        ][k % 4];
                        let act = if k == 0 { "configured" } else { "unchanged" };
                        m.output
                            .push((format!("{kind}/{}/{}-{k}", o.ns, o.name), act));
                    }
                    m.event_text = format!("Deployment/{}/{}-0 configured", o.ns, o.name);
                    m
                } else if r < 0.4 && o.depends.is_some() {
                    Msg::info(
                        "All dependencies are ready, proceeding with reconciliation".into(),
                        "Progressing",
                    )
                } else {
                    let d = go_duration(200 + rng.below(9000), rng.next_u64());
                    Msg::info(
                        format!(
                            "Reconciliation finished in {d}, next run in {}m0s",
                            o.interval_min
                        ),
                        "ReconciliationSucceeded",
                    )
                }
            }
            Kind::HelmRelease => {
                let r = rng.unit();
                if r < 0.7 {
                    Msg::info(
                        "release in-sync with desired state".into(),
                        "InstallSucceeded",
                    )
                } else if r < 0.85 {
                    Msg::info(
                        "running 'upgrade' action with timeout of 5m0s".into(),
                        "Progressing",
                    )
                } else {
                    let mut m = Msg::info(
                        format!(
                            "Helm upgrade succeeded for release {}/{}.v{} with chart {}@{rev}",
                            o.ns,
                            o.name,
                            2 + epoch % 40,
                            o.chart
                        ),
                        "UpgradeSucceeded",
                    );
                    m.msg = "release in-sync with desired state".into();
                    m
                }
            }
            Kind::ImageRepository => {
                if rng.chance(0.8) {
                    Msg::info(
                        format!(
                            "no change in repository configuration since last scan, next scan in {}m0s",
                            o.interval_min
                        ),
                        "Succeeded",
                    )
                } else {
                    Msg::info(
                        format!(
                            "successful scan: found {} tags with checksum {}",
                            5 + rng.below(400),
                            hex(o.key ^ epoch, 16)
                        ),
                        "Succeeded",
                    )
                }
            }
            Kind::ImagePolicy => Msg::info(
                format!(
                    "Latest image tag for {}/{} resolved to {}",
                    o.host,
                    o.repo,
                    chart_version(o.key ^ epoch)
                ),
                "Succeeded",
            ),
            Kind::ImageUpdateAutomation => Msg::info(
                "no changes made in the source; no commit".into(),
                "Succeeded",
            ),
            Kind::Alert => Msg::info("dispatching event".into(), "Succeeded"),
        };
        if matches!(o.kind, Kind::Kustomization | Kind::GitRepository) && !rev.is_empty() {
            m.revision = Some(rev);
        }
        m
    }

    fn failure(&self, i: usize, f: FailureMode, epoch: u64, rng: &mut Rng) -> Msg {
        let o = &self.objs[i];
        let (ns, name, host, repo) = (&o.ns, &o.name, o.host, &o.repo);
        let took = go_duration(20 + rng.below(3000), rng.next_u64());
        let ks_failed = format!("Reconciliation failed after {took}, next try in 1m0s");
        let mut m = match f {
            FailureMode::Auth => match o.kind {
                Kind::GitRepository | Kind::ImageUpdateAutomation => {
                    let prefix = if o.kind == Kind::GitRepository {
                        "failed to checkout and determine revision"
                    } else {
                        "failed to checkout source"
                    };
                    let e = if rng.chance(0.5) {
                        format!("{prefix}: unable to clone 'ssh://git@{host}/{repo}': ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain")
                    } else {
                        format!("{prefix}: unable to clone 'https://{host}/{repo}': authentication required")
                    };
                    Msg::error("Reconciler error", e, "GitOperationFailed")
                }
                Kind::Bucket => Msg::error(
                    "Reconciler error",
                    format!("failed to get secret '{ns}/minio-credentials': secrets \"minio-credentials\" not found"),
                    "AuthenticationFailed",
                ),
                _ => Msg::error(
                    "Reconciler error",
                    format!("failed to get credential from {host}: GET https://{host}/v2/token?scope=repository%3A{repo}%3Apull: UNAUTHORIZED: authentication required"),
                    "AuthenticationFailed",
                ),
            },
            FailureMode::RateLimit => match o.kind {
                Kind::GitRepository => Msg::error(
                    "Reconciler error",
                    format!("failed to checkout and determine revision: unable to clone 'https://{host}/{repo}': unexpected client error: unexpected requesting \"https://{host}/{repo}/info/refs?service=git-upload-pack\" status code: 429 Too Many Requests"),
                    "GitOperationFailed",
                ),
                Kind::HelmRepository => Msg::error(
                    "Reconciler error",
                    format!("failed to fetch Helm repository index: failed to cache index to temporary file: failed to fetch https://{host}/index.yaml : 429 Too Many Requests"),
                    "Failed",
                ),
                Kind::ImageRepository => Msg::error(
                    "Reconciler error",
                    format!("scan failed: GET https://{host}/v2/{repo}/tags/list?n=1000: TOOMANYREQUESTS: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"),
                    "ReadOperationFailed",
                ),
                _ => Msg::error(
                    "Reconciler error",
                    format!("failed to pull artifact from 'oci://{host}/{repo}': GET https://{host}/v2/{repo}/manifests/latest: TOOMANYREQUESTS: retry-after: 1.{}s, allowed: 44000/minute", rng.below(1000)),
                    "OCIArtifactPullFailed",
                ),
            },
            FailureMode::Network => match o.kind {
                Kind::GitRepository => Msg::error(
                    "Reconciler error",
                    format!("failed to checkout and determine revision: unable to clone 'https://{host}/{repo}': dial tcp 140.82.121.{}:443: i/o timeout", rng.below(250)),
                    "GitOperationFailed",
                ),
                Kind::HelmRepository => Msg::error(
                    "Reconciler error",
                    format!("failed to fetch Helm repository index: failed to cache index to temporary file: Get \"https://{host}/index.yaml\": dial tcp: lookup {host} on 10.96.0.10:53: no such host"),
                    "Failed",
                ),
                Kind::Bucket => Msg::error(
                    "Reconciler error",
                    format!("failed to confirm existence of 'flux-{ns}' bucket: Get \"http://{host}/flux-{ns}/?location=\": dial tcp 10.0.12.7:9000: connect: connection refused"),
                    "BucketOperationFailed",
                ),
                _ => Msg::error(
                    "Reconciler error",
                    format!("failed to pull artifact from 'oci://{host}/{repo}': Get \"https://{host}/v2/\": net/http: TLS handshake timeout"),
                    "OCIArtifactPullFailed",
                ),
            },
            FailureMode::Build => Msg::error(
                &ks_failed,
                format!("kustomize build failed: accumulating resources: accumulation err='accumulating resources from './{name}': '/tmp/kustomization-{}/{name}' must resolve to a file': recursed accumulation of path '/tmp/kustomization-{}/{name}': accumulating resources: missing Resource metadata", rng.below(1 << 31), rng.below(1 << 31)),
                "BuildFailed",
            ),
            FailureMode::Sops => Msg::error(
                &ks_failed,
                format!("decryption failed for 'Secret/{ns}/{name}-credentials': failed to get the data key required to decrypt the SOPS file.\n\nGroup 0: FAILED\n  age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p: FAILED\n    - | no identity matched any of the recipients\n\nRecovery failed because no master key was able to decrypt the file."),
                "BuildFailed",
            ),
            FailureMode::Rbac => Msg::error(
                &ks_failed,
                format!("Deployment/{ns}/{name} dry-run failed (Forbidden): deployments.apps \"{name}\" is forbidden: User \"system:serviceaccount:{ns}:flux-reconciler\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"{ns}\""),
                "ReconciliationFailed",
            ),
            FailureMode::Health => {
                let waiting = self.waiting_for(i);
                let e = format!("health check failed after 5m0.0{}s: timeout waiting for: [{waiting}]", rng.below(100_000));
                if o.kind == Kind::HelmRelease {
                    // helm-controller's kstatus waiter says only `timeout waiting for`.
                    let e = if self.name_workloads {
                        format!("timeout waiting for: [{waiting}]")
                    } else {
                        e
                    };
                    Msg::error(
                        "failed to run 'upgrade' action",
                        format!("Helm upgrade failed for release {ns}/{name} with chart {}@{}: {e}", o.chart, self.revision(i, epoch)),
                        "UpgradeFailed",
                    )
                } else {
                    Msg::error(&ks_failed, e, "HealthCheckFailed")
                }
            }
            FailureMode::Helm => {
                let e = if rng.chance(0.5) {
                    format!("Helm upgrade failed for release {ns}/{name} with chart {}@{}: context deadline exceeded", o.chart, self.revision(i, epoch))
                } else {
                    format!("Helm install failed for release {ns}/{name} with chart {}@{}: failed pre-install: timed out waiting for the condition", o.chart, self.revision(i, epoch))
                };
                let reason = if e.starts_with("Helm upgrade") {
                    "UpgradeFailed"
                } else {
                    "InstallFailed"
                };
                let action = if reason == "UpgradeFailed" { "upgrade" } else { "install" };
                Msg::error(&format!("failed to run '{action}' action"), e, reason)
            }
            FailureMode::Dependency => {
                let dep = self.dependency_of(i);
                let mut m = Msg::info(
                    if o.kind == Kind::HelmRelease {
                        format!("dependencies do not meet ready condition (dependency '{dep}' is not ready): retrying in 30s")
                    } else {
                        format!("Dependencies do not meet ready condition (dependency '{dep}' is not ready), retrying in 30s")
                    },
                    "DependencyNotReady",
                );
                m.event_text = format!("dependency '{dep}' is not ready");
                m
            }
            FailureMode::Notification => Msg::error(
                "failed to send notification",
                format!("failed to execute request: Post \"https://hooks.slack.com/services/T0{}/B0{}/{}\": context deadline exceeded", rng.below(1 << 20), rng.below(1 << 20), hex(o.key, 24)),
                "",
            ),
        };
        if o.kind == Kind::Kustomization {
            m.revision = Some(self.revision(i, epoch));
        }
        m
    }
}
