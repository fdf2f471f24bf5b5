//! Workload causes: what a Kubernetes Event or a Pod's status says about why a
//! workload's Pods do not become available, by Pod-lifecycle stage
//! (report-and-workload-rca.md §2.2, §2.5).
//!
//! Owns: the stage order ([`Stage`]: create < schedule < volume < image < config <
//! crash < node < probe < none), the cause classes and sub-classes with the parameters
//! they extract (image, quota, taint, StorageClass, webhook or policy, container, exit
//! code, limit), and one table of rules ([`RULES`]): the Event reason selects its rules,
//! the first whose regex matches the message wins. Does not own: linking
//! Events to workloads or picking the cause of a workload (`correlate::workload`), nor
//! the record class (a workload Event keeps its class from `patterns/classes.yaml`, so
//! classify rows are unchanged).
//!
//! Invariant: benign reasons (Pulling, Pulled, Scheduled, Created, Started,
//! WaitForFirstConsumer, …) never yield a cause; `Back-off pulling image` is a Normal
//! Event but still an image-pull signal. Nothing here panics on any text.

use std::sync::LazyLock;

use std::collections::HashMap;

use regex::Regex;

use crate::record::{EventInfo, PodInfo};

/// A Pod-lifecycle stage; a Pod cannot reach a later stage, so the earliest blocked
/// stage is the root and later ones are its symptoms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    Create,
    Schedule,
    Volume,
    Image,
    Config,
    Crash,
    Node,
    Probe,
    None,
}

impl Stage {
    /// The stage's name in findings (`cause.stage`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Create => "create",
            Stage::Schedule => "schedule",
            Stage::Volume => "volume",
            Stage::Image => "image",
            Stage::Config => "config",
            Stage::Crash => "crash",
            Stage::Node => "node",
            Stage::Probe => "probe",
            Stage::None => "none",
        }
    }

    /// The cause class of the stage (`cause.class`, taxonomy extension).
    pub fn class(self) -> &'static str {
        match self {
            Stage::Create => "pod_create_refused",
            Stage::Schedule => "unschedulable",
            Stage::Volume => "volume_blocked",
            Stage::Image => "image_pull_failed",
            Stage::Config => "container_config_error",
            Stage::Crash => "crash_loop",
            Stage::Node => "node_pressure",
            Stage::Probe => "probe_failing",
            Stage::None => "rollout_stalled",
        }
    }

    /// Every stage, earliest first.
    pub const ALL: [Stage; 9] = [
        Stage::Create,
        Stage::Schedule,
        Stage::Volume,
        Stage::Image,
        Stage::Config,
        Stage::Crash,
        Stage::Node,
        Stage::Probe,
        Stage::None,
    ];
}

/// A cause found in one Event or one Pod status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub stage: Stage,
    pub subclass: &'static str,
    /// Extracted parameters, in rule order (`image`, `quota`, `taint`, …).
    pub params: Vec<(&'static str, String)>,
    /// False for the generic signals of a stage (`Error: ErrImagePull`, `Back-off
    /// restarting failed container`) that a specific one of the same stage refines.
    pub specific: bool,
}

impl Cause {
    pub fn class(&self) -> &'static str {
        self.stage.class()
    }

    pub fn param(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(a, _)| *a == k)
            .map(|(_, v)| v.as_str())
    }

    fn new(stage: Stage, subclass: &'static str) -> Cause {
        Cause {
            stage,
            subclass,
            params: Vec::new(),
            specific: true,
        }
    }

    fn with(mut self, k: &'static str, v: impl Into<String>) -> Cause {
        let v = v.into();
        if !v.is_empty() && self.param(k).is_none() {
            self.params.push((k, v));
        }
        self
    }
}

/// Event reasons that are progress, never a cause.
pub const BENIGN_REASONS: &[&str] = &[
    "Pulling",
    "Pulled",
    "Scheduled",
    "WaitForFirstConsumer",
    "Created",
    "Started",
    "SuccessfulCreate",
    "SuccessfulDelete",
    "ScalingReplicaSet",
    "Killing",
    "ExternalProvisioning",
    "Provisioning",
    "ProvisioningSucceeded",
    "SuccessfulAttachVolume",
    "SuccessfulMountVolume",
];

/// One rule: the reasons it applies to, its message regex (named groups become
/// parameters) and what it means. Earlier rules of a reason win.
pub struct Rule {
    pub reasons: &'static [&'static str],
    pub regex: &'static str,
    pub stage: Stage,
    pub subclass: &'static str,
    pub specific: bool,
}

const fn rule(
    reasons: &'static [&'static str],
    regex: &'static str,
    stage: Stage,
    subclass: &'static str,
) -> Rule {
    Rule {
        reasons,
        regex,
        stage,
        subclass,
        specific: true,
    }
}

const fn generic(
    reasons: &'static [&'static str],
    regex: &'static str,
    stage: Stage,
    subclass: &'static str,
) -> Rule {
    Rule {
        reasons,
        regex,
        stage,
        subclass,
        specific: false,
    }
}

const CREATE: &[&str] = &["FailedCreate"];
const SCHED: &[&str] = &["FailedScheduling", "Unschedulable"];
const PROVISION: &[&str] = &["ProvisioningFailed"];
const ATTACH: &[&str] = &["FailedAttachVolume"];
const MOUNT: &[&str] = &["FailedMount"];
/// kubelet `Failed`, and the waiting reasons of a container status fed as reasons.
const PULL: &[&str] = &[
    "Failed",
    "ErrImagePull",
    "ImagePullBackOff",
    "InspectFailed",
    "InvalidImageName",
    "ErrImageNeverPull",
];
const CONFIG: &[&str] = &["Failed", "CreateContainerConfigError"];
const START: &[&str] = &[
    "Failed",
    "CreateContainerError",
    "RunContainerError",
    "StartError",
    "PreStartHookError",
    "PreCreateHookError",
    "ContainerCannotRun",
];

/// True when `subclass` only comes from generic rules (one a specific cause of the same
/// stage refines, such as `pull_failed`).
pub fn is_generic(subclass: &str) -> bool {
    let mut rules = RULES.iter().filter(|r| r.subclass == subclass).peekable();
    rules.peek().is_some() && rules.all(|r| !r.specific)
}

/// The rule table, most specific first within a reason.
pub const RULES: &[Rule] = &[
    // 1 create: FailedCreate on the ReplicaSet, StatefulSet or Job.
    rule(
        CREATE,
        r"exceeded quota: (?P<quota>[^,]+), requested: (?P<requested>.+?), used: (?P<used>.+?), limited: (?P<limited>.+)$",
        Stage::Create,
        "quota_exceeded",
    ),
    rule(
        CREATE,
        r"failed quota: (?P<quota>[^:]+): must specify (?P<resources>.+)$",
        Stage::Create,
        "quota_requires_limits",
    ),
    rule(
        CREATE,
        r"(?:maximum|minimum) (?P<resource>[\w-]+) usage per (?:Container|Pod) is (?P<limit>[^,]+), but (?:limit|request) is (?P<value>\S+)",
        Stage::Create,
        "limit_range",
    ),
    rule(
        CREATE,
        r#"violates PodSecurity "(?P<policy>[^"]+)": (?P<detail>.+)$"#,
        Stage::Create,
        "pod_security",
    ),
    rule(
        CREATE,
        r#"admission webhook "(?P<webhook>[^"]+)" denied the request:?\s*(?P<detail>.*)$"#,
        Stage::Create,
        "admission_webhook",
    ),
    rule(
        CREATE,
        r"ValidatingAdmissionPolicy '(?P<policy>[^']+)' with binding '(?P<binding>[^']+)' denied request: (?P<detail>.*)$",
        Stage::Create,
        "admission_policy",
    ),
    rule(
        CREATE,
        r#"serviceaccount "(?P<service_account>[^"]+)" not found"#,
        Stage::Create,
        "service_account_missing",
    ),
    generic(CREATE, r"(?s).", Stage::Create, "create_refused"),
    // 2 schedule: FailedScheduling on the Pod (PodScheduled=False says the same).
    rule(
        SCHED,
        r#"persistentvolumeclaim "(?P<pvc>[^"]+)" not found|unbound immediate PersistentVolumeClaims"#,
        Stage::Schedule,
        "unbound_pvc",
    ),
    rule(
        SCHED,
        r"untolerated taint\(?s?\)?\s*\{(?P<taint>[^}]+)\}|had taint \{(?P<old_taint>[^}]+)\}, that the pod didn't tolerate|untolerated taint",
        Stage::Schedule,
        "untolerated_taint",
    ),
    rule(
        SCHED,
        r"Insufficient (?P<resource>[\w/-]+(?:\.[\w/-]+)*)",
        Stage::Schedule,
        "insufficient",
    ),
    rule(SCHED, r"Too many pods", Stage::Schedule, "too_many_pods"),
    rule(
        SCHED,
        r"didn't match (?P<rule>Pod's node affinity/selector|pod affinity/anti-affinity rules|pod anti-affinity rules|pod affinity rules|node selector)",
        Stage::Schedule,
        "affinity_mismatch",
    ),
    rule(
        SCHED,
        r"were unschedulable",
        Stage::Schedule,
        "nodes_cordoned",
    ),
    generic(SCHED, r"(?s).", Stage::Schedule, "unschedulable"),
    // 3 volume: the PVC, the attach/detach controller, kubelet mounts.
    rule(
        PROVISION,
        r#"storageclass\.storage\.k8s\.io "(?P<storage_class>[^"]+)" not found"#,
        Stage::Volume,
        "storage_class_missing",
    ),
    rule(
        PROVISION,
        r#"failed to provision volume with StorageClass "(?P<storage_class>[^"]+)":\s*(?P<error>.+)$"#,
        Stage::Volume,
        "provisioner_error",
    ),
    generic(PROVISION, r"(?s).", Stage::Volume, "provisioner_error"),
    rule(
        ATTACH,
        r#"Multi-Attach error for volume "(?P<volume>[^"]+)""#,
        Stage::Volume,
        "multi_attach",
    ),
    rule(
        ATTACH,
        r#"AttachVolume\.Attach failed for volume "(?P<volume>[^"]+)"\s*:\s*(?P<error>.+)$"#,
        Stage::Volume,
        "attach_failed",
    ),
    generic(ATTACH, r"(?s).", Stage::Volume, "attach_failed"),
    rule(
        MOUNT,
        r#"(?:for volume "(?P<volume>[^"]+)"\s*: )?secret "(?P<secret>[^"]+)" not found"#,
        Stage::Volume,
        "mount_secret_missing",
    ),
    rule(
        MOUNT,
        r#"(?:for volume "(?P<volume>[^"]+)"\s*: )?configmap "(?P<configmap>[^"]+)" not found"#,
        Stage::Volume,
        "mount_configmap_missing",
    ),
    rule(
        MOUNT,
        r"configmap references non-existent config key: (?P<key>\S+)",
        Stage::Volume,
        "mount_key_missing",
    ),
    rule(
        MOUNT,
        r"hostPath type check failed: (?P<path>.+)$",
        Stage::Volume,
        "mount_hostpath",
    ),
    generic(MOUNT, r"(?s).", Stage::Volume, "mount_failed"),
    // 4 image: kubelet on the Pod.
    rule(
        &["ErrImageNeverPull"],
        r"(?s).",
        Stage::Image,
        "never_pull_missing",
    ),
    rule(
        &["InspectFailed", "InvalidImageName", "Failed"],
        r"Failed to apply default image tag|InvalidImageName|invalid reference format",
        Stage::Image,
        "invalid_image_name",
    ),
    rule(
        PULL,
        r"no matching manifest for (?P<platform>\S+?)(?: in the manifest list entries)?(?:$|[\s,:])",
        Stage::Image,
        "platform_mismatch",
    ),
    rule(
        PULL,
        r"pull access denied|insufficient_scope|403 Forbidden|401 Unauthorized|requested access to the resource is denied|authorization failed|unauthorized: ",
        Stage::Image,
        "registry_auth",
    ),
    rule(
        PULL,
        r"(?:Failed to pull image|failed to pull and unpack image|failed to resolve reference|code = NotFound)[^\n]*(?:not found|manifest unknown)|manifest unknown",
        Stage::Image,
        "tag_or_image_not_found",
    ),
    rule(
        PULL,
        r"(?:Failed to pull image|failed to pull|failed to do request|failed to resolve)[^\n]*(?:i/o timeout|no such host|connection refused|TLS handshake timeout|context deadline exceeded|network is unreachable)",
        Stage::Image,
        "registry_unreachable",
    ),
    generic(
        PULL,
        r"Failed to pull image|ErrImagePull|ImagePullBackOff|Back-off pulling image",
        Stage::Image,
        "pull_failed",
    ),
    generic(
        &["BackOff"],
        r"Back-off pulling image",
        Stage::Image,
        "pull_failed",
    ),
    // 5 config: missing config references at container creation.
    rule(
        CONFIG,
        r#"configmap "(?P<configmap>[^"]+)" not found"#,
        Stage::Config,
        "configmap_missing",
    ),
    rule(
        CONFIG,
        r#"secret "(?P<secret>[^"]+)" not found"#,
        Stage::Config,
        "secret_missing",
    ),
    rule(
        CONFIG,
        r"couldn't find key (?P<key>\S+) in (?P<source>ConfigMap|Secret) (?P<object>\S+)",
        Stage::Config,
        "key_missing",
    ),
    // 6 crash: start errors and crash loops.
    generic(
        &["BackOff"],
        r"Back-off restarting failed container(?: (?P<container>[\w.-]+))?",
        Stage::Crash,
        "crash_loop",
    ),
    rule(
        START,
        r"^Error: (?P<error>.+)$",
        Stage::Crash,
        "start_error",
    ),
    rule(
        &[
            "CreateContainerError",
            "RunContainerError",
            "StartError",
            "PreStartHookError",
            "PreCreateHookError",
            "ContainerCannotRun",
        ],
        r"(?s).",
        Stage::Crash,
        "start_error",
    ),
    // 6b node: the Node's own Events, evictions.
    rule(
        &["SystemOOM"],
        r"^(?:.*?victim process: (?P<process>[^,]+), pid: (?P<pid>\d+))?",
        Stage::Node,
        "system_oom",
    ),
    rule(
        &["OOMKilling"],
        r"^(?:.*?Killed process (?P<pid>\d+) \((?P<process>[^)]+)\))?",
        Stage::Node,
        "system_oom",
    ),
    rule(
        &["Evicted", "Evicting"],
        r"^(?:.*?low on resource: (?P<resource>[\w-]+))?",
        Stage::Node,
        "evicted",
    ),
    // 7 probe: kubelet `Unhealthy`.
    rule(
        &["Unhealthy"],
        r"^(?P<probe>Readiness|Liveness|Startup) probe (?:failed|errored):?\s*(?P<output>.*)$",
        Stage::Probe,
        "probe",
    ),
    // 8 the rollout deadline: a symptom, reported when nothing earlier is found.
    rule(
        &["ProgressDeadlineExceeded"],
        r"(?s).",
        Stage::None,
        "progress_deadline_exceeded",
    ),
];

/// The table compiled once: each rule's regex, and the rules of each reason in table
/// order (an Event is matched only against the rules of its reason, first match wins;
/// a `RegexSet` over every rule would search all of them, which costs more than the
/// handful a reason selects).
struct Compiled {
    /// Compiled on first use: a day shows a handful of causes, and the whole table
    /// compiled up front held 2.8 MiB of the sidecar's heap.
    each: Vec<std::sync::OnceLock<Regex>>,
    by_reason: HashMap<&'static str, Vec<usize>>,
    image: Regex,
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let mut by_reason: HashMap<&'static str, Vec<usize>> = HashMap::new();
    for (i, r) in RULES.iter().enumerate() {
        for reason in r.reasons {
            by_reason.entry(reason).or_default().push(i);
        }
    }
    Compiled {
        each: RULES.iter().map(|_| std::sync::OnceLock::new()).collect(),
        by_reason,
        image: Regex::new(r#"[iI]mage "(?P<image>[^"]+)""#).expect("image regex"),
    }
});

/// The cause an Event of `reason` with `message` shows; `None` for benign or unknown
/// reasons. The aggregation prefix is ignored.
pub fn event_cause(reason: &str, message: &str) -> Option<Cause> {
    if BENIGN_REASONS.contains(&reason) {
        return None;
    }
    let msg = EventInfo::strip_combined(message.trim());
    let c = &*COMPILED;
    let each = |i: usize| {
        c.each[i].get_or_init(|| {
            Regex::new(RULES[i].regex).expect("workload rule compiles (unit-tested)")
        })
    };
    let i = *c
        .by_reason
        .get(reason)?
        .iter()
        .find(|i| each(**i).is_match(msg))?;
    let r = &RULES[i];
    let mut cause = Cause {
        stage: r.stage,
        subclass: r.subclass,
        params: Vec::new(),
        specific: r.specific,
    };
    if let Some(caps) = each(i).captures(msg) {
        for name in each(i).capture_names().flatten() {
            if let Some(m) = caps.name(name) {
                let key = param_key(name);
                cause = cause.with(key, m.as_str().trim());
            }
        }
    }
    refine(&mut cause, msg);
    if let Some(img) = c.image.captures(msg).and_then(|m| m.name("image")) {
        cause = cause.with("image", img.as_str());
    }
    Some(cause)
}

/// Capture names that are spellings of one parameter.
fn param_key(name: &str) -> &'static str {
    match name {
        "quota" => "quota",
        "requested" => "requested",
        "used" => "used",
        "limited" => "limited",
        "resources" => "resources",
        "resource" => "resource",
        "limit" => "limit",
        "value" => "value",
        "policy" => "policy",
        "binding" => "binding",
        "detail" => "detail",
        "webhook" => "webhook",
        "service_account" => "service_account",
        "pvc" => "pvc",
        "taint" | "old_taint" => "taint",
        "rule" => "rule",
        "storage_class" => "storage_class",
        "error" => "error",
        "volume" => "volume",
        "secret" => "secret",
        "configmap" => "configmap",
        "key" => "key",
        "path" => "path",
        "platform" => "platform",
        "source" => "source",
        "object" => "object",
        "container" => "container",
        "process" => "process",
        "pid" => "pid",
        "probe" => "probe",
        "output" => "output",
        _ => "detail",
    }
}

/// Sub-classes named by a captured value: `Insufficient cpu` → `insufficient_cpu`,
/// `Readiness probe` → `readiness`; the scheduler's node count.
fn refine(cause: &mut Cause, msg: &str) {
    match cause.subclass {
        "insufficient" => {
            cause.subclass = match cause.param("resource") {
                Some("cpu") => "insufficient_cpu",
                Some("memory") => "insufficient_memory",
                Some("ephemeral-storage") => "insufficient_ephemeral_storage",
                _ => "insufficient_resource",
            };
        }
        "probe" => {
            cause.subclass = match cause.param("probe") {
                Some("Liveness") => "liveness",
                Some("Startup") => "startup",
                _ => "readiness",
            };
        }
        _ => {}
    }
    if cause.stage == Stage::Schedule && cause.param("nodes").is_none() {
        // `0/3 nodes are available: …`
        let total = msg.split_once('/').and_then(|(avail, rest)| {
            avail.trim().parse::<u32>().ok()?;
            rest.split(' ').next().filter(|n| n.parse::<u32>().is_ok())
        });
        if let Some(n) = total {
            cause.params.push(("nodes", n.to_string()));
        }
    }
}

/// Exit code of a container killed by SIGKILL (the OOM killer's signal).
const OOM_EXIT: i64 = 137;

/// The causes a Pod's status shows: eviction, PodScheduled=False, container waiting
/// reasons with their messages, and the last termination behind a crash loop.
pub fn pod_causes(p: &PodInfo) -> Vec<Cause> {
    let mut out = Vec::new();
    if p.status_reason.as_deref() == Some("Evicted") {
        let msg = p.status_message.as_deref().unwrap_or("");
        out.extend(event_cause("Evicted", msg));
    }
    if let Some(c) = p
        .conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    {
        if c.reason != "SchedulingGated" {
            out.extend(event_cause("FailedScheduling", &c.message));
        }
    }
    for c in &p.containers {
        let image = c.image.clone().unwrap_or_default();
        let msg = c.waiting_message.as_deref().unwrap_or("");
        let oom = c.last_terminated_reason.as_deref() == Some("OOMKilled")
            || c.terminated_reason.as_deref() == Some("OOMKilled")
            || c.last_terminated_exit_code == Some(OOM_EXIT);
        match c.waiting_reason.as_deref() {
            Some(
                w
                @ ("ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull"),
            ) => {
                if let Some(cause) = event_cause(w, &format!("{w}: {msg}")) {
                    out.push(cause.with("container", &c.name).with("image", image));
                }
                continue;
            }
            Some("CreateContainerConfigError") => {
                let cause = event_cause("CreateContainerConfigError", msg)
                    .unwrap_or_else(|| Cause::new(Stage::Config, "config_error"));
                out.push(cause.with("container", &c.name));
                continue;
            }
            Some(
                w @ ("CreateContainerError"
                | "RunContainerError"
                | "StartError"
                | "PreStartHookError"
                | "PreCreateHookError"
                | "ContainerCannotRun"),
            ) => {
                out.push(
                    Cause::new(Stage::Crash, "start_error")
                        .with("container", &c.name)
                        .with("error", if msg.is_empty() { w } else { msg }),
                );
                continue;
            }
            _ => {}
        }
        let crashing =
            c.waiting_reason.as_deref() == Some("CrashLoopBackOff") || c.restart_count > 0;
        if oom && (crashing || c.terminated_reason.as_deref() == Some("OOMKilled")) {
            let mut cause = Cause::new(Stage::Crash, "oom_killed")
                .with("container", &c.name)
                .with("exit_code", OOM_EXIT.to_string());
            if let Some(l) = &c.memory_limit {
                cause = cause.with("limit", l);
            }
            out.push(cause);
        } else if crashing {
            let code = c.last_terminated_exit_code.or(c.terminated_exit_code);
            let cause = match code {
                Some(n) if n != 0 => Cause::new(Stage::Crash, "exit_code")
                    .with("container", &c.name)
                    .with("exit_code", n.to_string())
                    .with(
                        "reason",
                        c.last_terminated_reason.clone().unwrap_or_default(),
                    ),
                _ => Cause {
                    specific: false,
                    ..Cause::new(Stage::Crash, "crash_loop").with("container", &c.name)
                },
            };
            out.push(cause);
        }
    }
    out
}

/// The human phrase of a cause for titles: `image ghcr.io/acme/web:v1.4.3 not found`.
pub fn describe(c: &Cause) -> String {
    let p = |k: &str| c.param(k).unwrap_or("").to_string();
    let or = |k: &str, d: &str| c.param(k).unwrap_or(d).to_string();
    match c.subclass {
        "quota_exceeded" => format!("Pod creation refused: quota {} exceeded", or("quota", "?")),
        "quota_requires_limits" => format!(
            "Pod creation refused: quota {} requires {}",
            or("quota", "?"),
            or("resources", "requests/limits")
        ),
        "limit_range" => format!(
            "Pod creation refused: LimitRange allows {} {} per container",
            or("resource", "?"),
            or("limit", "?")
        ),
        "pod_security" => format!("Pod creation refused by PodSecurity {}", or("policy", "?")),
        "admission_webhook" => format!(
            "Pod creation refused by admission webhook {}",
            or("webhook", "?")
        ),
        "admission_policy" => format!(
            "Pod creation refused by ValidatingAdmissionPolicy {}",
            or("policy", "?")
        ),
        "service_account_missing" => format!(
            "Pod creation refused: ServiceAccount {} not found",
            or("service_account", "?")
        ),
        "create_refused" => "Pod creation refused".into(),
        "unbound_pvc" => match c.param("pvc") {
            Some(pvc) => format!("Pods unschedulable: PVC {pvc} not bound"),
            None => "Pods unschedulable: unbound PersistentVolumeClaims".into(),
        },
        "untolerated_taint" => match c.param("taint") {
            Some(t) => format!("Pods unschedulable: untolerated taint {{{t}}}"),
            None => "Pods unschedulable: untolerated node taints".into(),
        },
        "insufficient_cpu"
        | "insufficient_memory"
        | "insufficient_ephemeral_storage"
        | "insufficient_resource" => {
            format!(
                "Pods unschedulable: insufficient {}",
                or("resource", "resources")
            )
        }
        "too_many_pods" => "Pods unschedulable: nodes at their Pod limit".into(),
        "affinity_mismatch" => format!(
            "Pods unschedulable: no node matches {}",
            or("rule", "the affinity rules")
        ),
        "nodes_cordoned" => "Pods unschedulable: nodes cordoned".into(),
        "unschedulable" => "Pods unschedulable".into(),
        "storage_class_missing" => {
            format!("StorageClass {} not found", or("storage_class", "?"))
        }
        "provisioner_error" => match c.param("storage_class") {
            Some(sc) => format!("volume provisioning failed (StorageClass {sc})"),
            None => "volume provisioning failed".into(),
        },
        "multi_attach" => format!("volume {} attached to another node", or("volume", "?")),
        "attach_failed" => format!("volume {} failed to attach", or("volume", "?")),
        "mount_secret_missing" => format!("volume mount: Secret {} not found", p("secret")),
        "mount_configmap_missing" => {
            format!("volume mount: ConfigMap {} not found", p("configmap"))
        }
        "mount_key_missing" => format!("volume mount: config key {} missing", p("key")),
        "mount_hostpath" => format!("volume mount: hostPath {}", p("path")),
        "mount_failed" => "volume mount failed".into(),
        "tag_or_image_not_found" => format!("image {} not found", or("image", "?")),
        "registry_auth" => format!("image {}: registry denied the pull", or("image", "?")),
        "registry_unreachable" => format!("image {}: registry unreachable", or("image", "?")),
        "platform_mismatch" => format!(
            "image {} has no {} variant",
            or("image", "?"),
            or("platform", "matching platform")
        ),
        "invalid_image_name" => format!("invalid image name {}", or("image", "?")),
        "never_pull_missing" => format!(
            "image {} not present (imagePullPolicy Never)",
            or("image", "?")
        ),
        "pull_failed" => format!("image {} cannot be pulled", or("image", "?")),
        "configmap_missing" => format!("ConfigMap {} not found", p("configmap")),
        "secret_missing" => format!("Secret {} not found", p("secret")),
        "key_missing" => format!(
            "key {} missing in {} {}",
            p("key"),
            p("source"),
            p("object")
        ),
        "config_error" => "container config error".into(),
        "oom_killed" => match c.param("limit") {
            Some(l) => format!(
                "container {} OOMKilled (limit {l}, exit 137)",
                or("container", "?")
            ),
            None => format!("container {} OOMKilled (exit 137)", or("container", "?")),
        },
        "exit_code" => format!(
            "container {} crashing (exit code {})",
            or("container", "?"),
            or("exit_code", "?")
        ),
        "crash_loop" => format!("container {} crash-looping", or("container", "?")),
        "start_error" => format!("container {} failed to start", or("container", "?")),
        "system_oom" => "node out of memory (SystemOOM)".into(),
        "evicted" => format!("Pods evicted: node low on {}", or("resource", "resources")),
        "readiness" | "liveness" | "startup" => match c.param("output") {
            Some(out) if !out.is_empty() => {
                let out: String = out.chars().take(120).collect();
                format!("{} probe failing: {out}", or("probe", "Readiness"))
            }
            _ => format!("{} probe failing", or("probe", "Readiness")),
        },
        "progress_deadline_exceeded" => "rollout stalled (progress deadline exceeded)".into(),
        "no_evidence" => "no cause found in the Events or Pod status seen".into(),
        other => other.replace('_', " "),
    }
}

#[cfg(test)]
mod tests;
