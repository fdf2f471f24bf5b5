//! One writer per input form of contracts.md §1, and the mixes that choose between them.
//!
//! Invariant: every writer appends complete `\n`-terminated lines and returns how many
//! it wrote; JSON is escaped by [`js`], so a generated line is always well-formed.

use std::io::Write;

use super::clock;
use super::model::{hex, uuid, Cluster, Kind, Msg, CONTROLLERS};
use super::workload;
use super::{Mix, Rng};
use fluxsight::record::TsMs;

/// Every generated input form (and layout, for zap JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    /// controller-runtime ≥ v0.13: `controllerKind` + `<Kind>: {name, namespace}`.
    ZapCurrent,
    /// mid-2020: `logger: controllers.<Kind>` + `request: ns/name`, epoch `ts`.
    ZapRequest,
    /// 2020 (v0.6.x): `reconcilerGroup` / `reconcilerKind`.
    ZapReconcilerKind,
    /// 2021–22: `logger: controller.<kind>` + `reconciler kind` (keys with spaces).
    ZapReconcilerKindSpaced,
    /// controller-runtime v0.12: lower-camel kind key.
    ZapLowerCamel,
    Console,
    Klog,
    Logfmt,
    FluxCli,
    /// `kubectl logs --timestamps` around a zap line.
    EnvTimestamps,
    /// `kubectl logs --prefix` around a zap line.
    EnvPrefix,
    /// CRI `F` line around a zap line.
    EnvCri,
    /// A zap line split into a CRI `P` chunk and its `F` line (two lines).
    EnvCriPartial,
    /// docker json-file around a zap line.
    EnvDocker,
    /// `v1` Event.
    K8sEventV1,
    /// `events.k8s.io/v1` Event.
    K8sEventEventsV1,
    /// `{"type":…,"object":{…}}` around a Flux object or an Event.
    WatchEvent,
    PodSnapshot,
    FluxObject,
    /// The payload controllers POST to notification-controller.
    FluxEvent,
    /// Prometheus sample with a ms timestamp (and the odd `# HELP` line).
    Metric,
    /// Bare text: a pasted error or a `flux get` table row.
    Text,
    /// A Kubernetes Event about a workload, its ReplicaSet, Pods or PVCs (rollout
    /// progress, or the Warning of a blocked Pod-lifecycle stage).
    WorkloadEvent,
    /// Workload, ReplicaSet, Pod and PVC documents of one workload (one line each), or
    /// one Pod's watch event.
    WorkloadObject,
}

impl Form {
    pub const ALL: &'static [Form] = &[
        Form::ZapCurrent,
        Form::ZapRequest,
        Form::ZapReconcilerKind,
        Form::ZapReconcilerKindSpaced,
        Form::ZapLowerCamel,
        Form::Console,
        Form::Klog,
        Form::Logfmt,
        Form::FluxCli,
        Form::EnvTimestamps,
        Form::EnvPrefix,
        Form::EnvCri,
        Form::EnvCriPartial,
        Form::EnvDocker,
        Form::K8sEventV1,
        Form::K8sEventEventsV1,
        Form::WatchEvent,
        Form::PodSnapshot,
        Form::FluxObject,
        Form::FluxEvent,
        Form::Metric,
        Form::Text,
        Form::WorkloadEvent,
        Form::WorkloadObject,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Form::ZapCurrent => "zap_current",
            Form::ZapRequest => "zap_2020_request",
            Form::ZapReconcilerKind => "zap_reconcilerKind",
            Form::ZapReconcilerKindSpaced => "zap_reconciler_kind",
            Form::ZapLowerCamel => "zap_lower_camel",
            Form::Console => "console",
            Form::Klog => "klog",
            Form::Logfmt => "logfmt",
            Form::FluxCli => "flux_cli",
            Form::EnvTimestamps => "env_timestamps",
            Form::EnvPrefix => "env_prefix",
            Form::EnvCri => "env_cri",
            Form::EnvCriPartial => "env_cri_partial",
            Form::EnvDocker => "env_docker",
            Form::K8sEventV1 => "k8s_event_v1",
            Form::K8sEventEventsV1 => "k8s_event_events_v1",
            Form::WatchEvent => "k8s_watch",
            Form::PodSnapshot => "k8s_pod",
            Form::FluxObject => "k8s_object",
            Form::FluxEvent => "flux_event",
            Form::Metric => "metric",
            Form::Text => "text",
            Form::WorkloadEvent => "k8s_workload_event",
            Form::WorkloadObject => "k8s_workload",
        }
    }

    pub fn parse(s: &str) -> Option<Form> {
        Form::ALL.iter().copied().find(|f| f.as_str() == s)
    }
}

/// Weights (per mille) of each form in a mix.
fn weights(mix: Mix) -> &'static [(Form, u32)] {
    match mix {
        Mix::Current => &[
            (Form::ZapCurrent, 862),
            (Form::K8sEventV1, 40),
            (Form::K8sEventEventsV1, 10),
            (Form::FluxEvent, 30),
            (Form::Metric, 30),
            (Form::FluxObject, 15),
            (Form::WatchEvent, 10),
            (Form::PodSnapshot, 3),
        ],
        Mix::All => &[
            (Form::ZapCurrent, 320),
            (Form::ZapRequest, 40),
            (Form::ZapReconcilerKind, 40),
            (Form::ZapReconcilerKindSpaced, 40),
            (Form::ZapLowerCamel, 40),
            (Form::Console, 50),
            (Form::Klog, 30),
            (Form::Logfmt, 30),
            (Form::FluxCli, 40),
            (Form::EnvTimestamps, 40),
            (Form::EnvPrefix, 40),
            (Form::EnvCri, 50),
            (Form::EnvCriPartial, 10),
            (Form::EnvDocker, 40),
            (Form::K8sEventV1, 40),
            (Form::K8sEventEventsV1, 20),
            (Form::WatchEvent, 20),
            (Form::PodSnapshot, 10),
            (Form::FluxObject, 20),
            (Form::FluxEvent, 30),
            (Form::Metric, 40),
            (Form::Text, 10),
            // The Kubernetes side of the workloads: Events are ~16 % of the lines with
            // the Flux objects' own; a snapshot is ~3 lines.
            (Form::WorkloadEvent, 110),
            (Form::WorkloadObject, 20),
        ],
    }
}

/// The form of the next line of a mix.
pub fn pick(mix: Mix, rng: &mut Rng) -> Form {
    let w = weights(mix);
    let total: u32 = w.iter().map(|(_, x)| x).sum();
    let mut r = rng.below(u64::from(total)) as u32;
    for (f, x) in w {
        if r < *x {
            return *f;
        }
        r -= x;
    }
    Form::ZapCurrent
}

/// What a writer may use.
pub struct Ctx<'a> {
    pub rng: &'a mut Rng,
    pub cluster: &'a mut Cluster,
    pub now: TsMs,
    /// Extra bytes the line may carry (see `Generator::pad_budget`).
    pub pad: usize,
    pub line_no: u64,
    /// Lines left to write (a form of several lines writes at most this many).
    pub room: u64,
    /// The next object of a sweep, when objects are visited in order.
    pub sweep: Option<&'a mut u64>,
}

impl Ctx<'_> {
    /// Revisions move on every two hours.
    fn epoch(&self) -> u64 {
        (self.now / 7_200_000).max(0) as u64
    }

    fn pick_obj(&mut self) -> usize {
        let n = self.cluster.objs.len() as u64;
        match self.sweep.as_deref_mut() {
            Some(next) => {
                let i = *next % n;
                *next += 1;
                i as usize
            }
            None => self.rng.below(n) as usize,
        }
    }

    fn message(&mut self, i: usize) -> Msg {
        let epoch = self.epoch();
        self.cluster.message(i, epoch, self.rng, self.pad)
    }
}

/// Appends `s` as a JSON string literal.
pub(super) fn js(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\t' => b"\\t",
            b'\r' => b"\\r",
            0..=0x1f => {
                out.extend_from_slice(&b[start..i]);
                let _ = write!(out, "\\u{:04x}", c);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// `,"k":"v"`
pub(super) fn kv(out: &mut Vec<u8>, k: &str, v: &str) {
    out.push(b',');
    js(out, k);
    out.push(b':');
    js(out, v);
}

fn obj_ref(out: &mut Vec<u8>, c: &Cluster, i: usize, full: bool) {
    let o = &c.objs[i];
    out.extend_from_slice(b"{\"kind\":");
    js(out, o.kind.name());
    kv(out, "namespace", &o.ns);
    kv(out, "name", &o.name);
    if full {
        kv(out, "uid", &o.uid);
        kv(out, "apiVersion", o.kind.api_version());
        kv(
            out,
            "resourceVersion",
            &(o.key % 90_000_000 + 1_000_000).to_string(),
        );
    }
    out.push(b'}');
}

/// Writes `form`; returns the number of lines written.
pub fn write(form: Form, cx: &mut Ctx<'_>, out: &mut Vec<u8>) -> u64 {
    match form {
        Form::ZapCurrent
        | Form::ZapRequest
        | Form::ZapReconcilerKind
        | Form::ZapReconcilerKindSpaced
        | Form::ZapLowerCamel => {
            let i = cx.pick_obj();
            let m = cx.message(i);
            zap(form, cx, i, &m, out);
        }
        Form::Console => console(cx, out),
        Form::Klog => klog(cx, out),
        Form::Logfmt => logfmt(cx, out),
        Form::FluxCli => flux_cli(cx, out),
        Form::EnvTimestamps | Form::EnvPrefix | Form::EnvCri | Form::EnvDocker => {
            envelope(form, cx, out)
        }
        Form::EnvCriPartial => return cri_partial(cx, out),
        Form::K8sEventV1 => {
            let i = cx.pick_obj();
            event_v1(cx, i, out);
        }
        Form::K8sEventEventsV1 => event_events_v1(cx, out),
        Form::WatchEvent => watch(cx, out),
        Form::PodSnapshot => pod(cx, out),
        Form::FluxObject => {
            let i = cx.pick_obj();
            flux_object(cx, i, out);
        }
        Form::FluxEvent => flux_event(cx, out),
        Form::Metric => metric(cx, out),
        Form::Text => text(cx, out),
        Form::WorkloadEvent => workload::event(cx, out),
        Form::WorkloadObject => return workload::documents(cx, out),
    }
    out.push(b'\n');
    1
}

/// A zap JSON line (no newline) in `form`'s layout.
fn zap(form: Form, cx: &mut Ctx<'_>, i: usize, m: &Msg, out: &mut Vec<u8>) {
    let o = &cx.cluster.objs[i];
    let k = o.kind;
    // Pre-2024 builds printed trace as Level(-2); a few pods run in a local zone.
    let level = if m.level == "info" && cx.rng.chance(0.01) {
        "Level(-2)"
    } else {
        m.level
    };
    out.extend_from_slice(b"{\"level\":");
    js(out, level);
    out.extend_from_slice(b",\"ts\":");
    match form {
        Form::ZapRequest => clock::epoch(out, cx.now, cx.rng.next_u64()),
        _ => {
            out.push(b'"');
            if cx.rng.chance(0.05) {
                clock::millis_offset(out, cx.now, 180);
            } else {
                clock::millis(out, cx.now);
            }
            out.push(b'"');
        }
    }
    match form {
        Form::ZapRequest => {
            if m.msg == "Reconciler error" {
                kv(out, "logger", "controller-runtime.controller");
                kv(out, "msg", &m.msg);
                kv(out, "controller", k.lower());
            } else {
                kv(out, "logger", &format!("controllers.{}", k.name()));
                kv(out, "msg", &m.msg);
            }
            kv(out, "request", &format!("{}/{}", o.ns, o.name));
        }
        Form::ZapReconcilerKind => {
            kv(out, "logger", "controller");
            kv(out, "msg", &m.msg);
            kv(out, "controller", k.lower());
            kv(out, "reconcilerGroup", k.group());
            kv(out, "reconcilerKind", k.name());
            kv(out, "name", &o.name);
            kv(out, "namespace", &o.ns);
        }
        Form::ZapReconcilerKindSpaced => {
            kv(out, "logger", &format!("controller.{}", k.lower()));
            kv(out, "msg", &m.msg);
            kv(out, "reconciler group", k.group());
            kv(out, "reconciler kind", k.name());
            kv(out, "name", &o.name);
            kv(out, "namespace", &o.ns);
        }
        _ => {
            kv(out, "msg", &m.msg);
            kv(out, "controller", k.lower());
            kv(out, "controllerGroup", k.group());
            kv(out, "controllerKind", k.name());
            out.push(b',');
            js(
                out,
                if form == Form::ZapLowerCamel {
                    k.lower_camel()
                } else {
                    k.name()
                },
            );
            out.extend_from_slice(b":{\"name\":");
            js(out, &o.name);
            kv(out, "namespace", &o.ns);
            out.push(b'}');
            kv(out, "namespace", &o.ns);
            kv(out, "name", &o.name);
            kv(out, "reconcileID", &uuid(cx.rng.next_u64()));
        }
    }
    if let Some(r) = &m.revision {
        kv(out, "revision", r);
    }
    if !m.output.is_empty() {
        out.extend_from_slice(b",\"output\":{");
        for (n, (obj, act)) in m.output.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            js(out, obj);
            out.push(b':');
            js(out, act);
        }
        out.push(b'}');
    }
    if let Some(e) = &m.error {
        kv(out, "error", e);
    }
    out.push(b'}');
}

fn console(cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
    let i = cx.pick_obj();
    let m = cx.message(i);
    let o = &cx.cluster.objs[i];
    let k = o.kind;
    clock::millis(out, cx.now);
    let level = m.level.to_ascii_uppercase();
    let _ = write!(out, "\t{level}\t{}\t", m.msg.replace(['\n', '\t'], " "));
    // zap's console encoder writes the context as spaced JSON.
    out.extend_from_slice(b"{\"controller\": ");
    js(out, k.lower());
    out.extend_from_slice(b", \"controllerGroup\": ");
    js(out, k.group());
    out.extend_from_slice(b", \"controllerKind\": ");
    js(out, k.name());
    out.extend_from_slice(b", ");
    js(out, k.name());
    out.extend_from_slice(b": {\"name\":");
    js(out, &o.name);
    out.extend_from_slice(b",\"namespace\":");
    js(out, &o.ns);
    out.extend_from_slice(b"}, \"namespace\": ");
    js(out, &o.ns);
    out.extend_from_slice(b", \"name\": ");
    js(out, &o.name);
    out.extend_from_slice(b", \"reconcileID\": ");
    js(out, &uuid(cx.rng.next_u64()));
    if let Some(r) = &m.revision {
        out.extend_from_slice(b", \"revision\": ");
        js(out, r);
    }
    if let Some(e) = &m.error {
        out.extend_from_slice(b", \"error\": ");
        js(out, e);
    }
    out.push(b'}');
}

fn klog(cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
    let c = cx.rng.below(6) as usize;
    let ctrl = CONTROLLERS[c];
    let r = cx.rng.below(100);
    let (sev, src, text) = if r < 35 {
        (
            'I',
            "leaderelection.go:248",
            format!("attempting to acquire leader lease flux-system/{ctrl}-leader-election..."),
        )
    } else if r < 70 {
        (
            'I',
            "leaderelection.go:258",
            format!("successfully acquired lease flux-system/{ctrl}-leader-election"),
        )
    } else if r < 88 {
        (
            'I',
            "request.go:690",
            format!("Waited for 1.0{}s due to client-side throttling, not priority and fairness, request: GET:https://10.96.0.1:443/apis/{}/v1?timeout=32s", cx.rng.below(1000), ["source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io"][c % 3]),
        )
    } else if r < 96 {
        (
            'E',
            "leaderelection.go:330",
            format!("error retrieving resource lock flux-system/{ctrl}-leader-election: Get \"https://10.96.0.1:443/apis/coordination.k8s.io/v1/namespaces/flux-system/leases/{ctrl}-leader-election\": context deadline exceeded"),
        )
    } else {
        (
            'W',
            "reflector.go:424",
            "k8s.io/client-go@v0.26.1/tools/cache/reflector.go:169: failed to list *v1.Secret: secrets is forbidden: User \"system:serviceaccount:flux-system:kustomize-controller\" cannot list resource \"secrets\" in API group \"\" at the cluster scope".to_string(),
        )
    };
    out.push(sev as u8);
    clock::klog(out, cx.now, cx.rng.next_u64());
    let _ = write!(out, "       1 {src}] {text}");
}

/// A logfmt value: bare when safe, else Go-quoted.
fn lf_val(out: &mut Vec<u8>, v: &str) {
    if !v.is_empty()
        && v.bytes()
            .all(|c| c > b' ' && c != b'"' && c != b'=' && c != b'\\' && c < 0x7f)
    {
        out.extend_from_slice(v.as_bytes());
    } else {
        js(out, v);
    }
}

fn logfmt(cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
    let i = cx.pick_obj();
    let m = cx.message(i);
    let o = &cx.cluster.objs[i];
    out.extend_from_slice(b"ts=");
    clock::millis(out, cx.now);
    let _ = write!(out, " level={} msg=", m.level);
    lf_val(out, &m.msg);
    let k = o.kind;
    for (key, v) in [
        ("controller", k.lower()),
        ("controllerGroup", k.group()),
        ("controllerKind", k.name()),
        ("namespace", o.ns.as_str()),
        ("name", o.name.as_str()),
    ] {
        let _ = write!(out, " {key}=");
        lf_val(out, v);
    }
    out.extend_from_slice(b" reconcileID=");
    out.extend_from_slice(uuid(cx.rng.next_u64()).as_bytes());
    if let Some(r) = &m.revision {
        out.extend_from_slice(b" revision=");
        lf_val(out, r);
    }
    if let Some(e) = &m.error {
        out.extend_from_slice(b" error=");
        lf_val(out, e);
    }
}

fn flux_cli(cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
    let i = cx.pick_obj();
    let m = cx.message(i);
    let o = &cx.cluster.objs[i];
    clock::millis(out, cx.now);
    let err = m
        .error
        .as_deref()
        .map(|e| e.replace('\n', " "))
        .unwrap_or_default();
    let _ = write!(
        out,
        " {} {}/{}.{} - {} {}",
        m.level,
        o.kind.name(),
        o.name,
        o.ns,
        m.msg,
        err
    );
}

/// A current zap line of a random object, with its controller's pod.
fn inner_zap(cx: &mut Ctx<'_>, out: &mut Vec<u8>) -> usize {
    let i = cx.pick_obj();
    let m = cx.message(i);
    zap(Form::ZapCurrent, cx, i, &m, out);
    cx.cluster.objs[i].kind.controller_index()
}

fn envelope(form: Form, cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
    let mut inner = Vec::with_capacity(512);
    let c = inner_zap(cx, &mut inner);
    let sub = cx.rng.next_u64();
    match form {
        Form::EnvTimestamps => {
            clock::nanos(out, cx.now, sub);
            out.push(b' ');
            out.extend_from_slice(&inner);
        }
        Form::EnvPrefix => {
            let _ = write!(out, "[pod/{}/manager] ", cx.cluster.pods[c]);
            out.extend_from_slice(&inner);
        }
        Form::EnvCri => {
            clock::nanos(out, cx.now, sub);
            out.extend_from_slice(b" stderr F ");
            out.extend_from_slice(&inner);
        }
        _ => {
            out.extend_from_slice(b"{\"log\":");
            let mut s = String::from_utf8_lossy(&inner).into_owned();
            s.push('\n');
            js(out, &s);
            out.extend_from_slice(b",\"stream\":\"stderr\",\"time\":\"");
            clock::nanos(out, cx.now, sub);
            out.extend_from_slice(b"\"}");
        }
    }
}

/// A zap line split at a UTF-8 boundary into a CRI `P` chunk and its `F` remainder.
fn cri_partial(cx: &mut Ctx<'_>, out: &mut Vec<u8>) -> u64 {
    let mut inner = Vec::with_capacity(512);
    inner_zap(cx, &mut inner);
    let mut cut = (inner.len() / 2).max(1);
    while cut < inner.len() && (inner[cut] & 0xc0) == 0x80 {
        cut += 1;
    }
    let sub = cx.rng.next_u64();
    clock::nanos(out, cx.now, sub);
    out.extend_from_slice(b" stderr P ");
    out.extend_from_slice(&inner[..cut]);
    out.push(b'\n');
    clock::nanos(out, cx.now, sub + 1);
    out.extend_from_slice(b" stderr F ");
    out.extend_from_slice(&inner[cut..]);
    out.push(b'\n');
    2
}

fn event_meta(cx: &mut Ctx<'_>, i: usize, out: &mut Vec<u8>) {
    let o = &cx.cluster.objs[i];
    out.extend_from_slice(b"\"metadata\":{\"name\":");
    js(out, &format!("{}.{}", o.name, hex(cx.rng.next_u64(), 16)));
    kv(out, "namespace", &o.ns);
    kv(out, "uid", &uuid(cx.rng.next_u64()));
    kv(
        out,
        "resourceVersion",
        &(cx.rng.below(90_000_000) + 1_000_000).to_string(),
    );
    out.extend_from_slice(b",\"creationTimestamp\":\"");
    clock::secs(out, cx.now);
    out.push(b'"');
}

fn event_v1(cx: &mut Ctx<'_>, i: usize, out: &mut Vec<u8>) {
    let m = cx.message(i);
    out.extend_from_slice(b"{\"apiVersion\":\"v1\",\"kind\":\"Event\",");
    event_meta(cx, i, out);
    let o = &cx.cluster.objs[i];
    let ctrl = o.kind.controller();
    if let Some(r) = &m.revision {
        out.extend_from_slice(b",\"annotations\":{");
        js(out, &format!("{}/revision", o.kind.group()));
        out.push(b':');
        js(out, r);
        out.push(b'}');
    }
    out.extend_from_slice(b"},\"involvedObject\":");
    obj_ref(out, cx.cluster, i, true);
    kv(
        out,
        "reason",
        if m.reason.is_empty() {
            "Failed"
        } else {
            m.reason
        },
    );
    kv(out, "message", &m.event_text);
    out.extend_from_slice(b",\"source\":{\"component\":");
    js(out, ctrl);
    let count = 1 + cx.rng.below(if m.warning { 40 } else { 3 });
    out.extend_from_slice(b"},\"firstTimestamp\":\"");
    clock::secs(out, cx.now - (count as i64 - 1) * 60_000);
    out.extend_from_slice(b"\",\"lastTimestamp\":\"");
    clock::secs(out, cx.now);
    let _ = write!(out, "\",\"count\":{count}");
    kv(out, "type", if m.warning { "Warning" } else { "Normal" });
    out.extend_from_slice(b",\"eventTime\":null");
    kv(out, "reportingComponent", ctrl);
    kv(out, "reportingInstance", "");
    out.push(b'}');
}

fn event_events_v1(cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
    let i = cx.pick_obj();
    let m = cx.message(i);
    out.extend_from_slice(b"{\"apiVersion\":\"events.k8s.io/v1\",\"kind\":\"Event\",");
    event_meta(cx, i, out);
    let o = &cx.cluster.objs[i];
    let c = o.kind.controller_index();
    out.extend_from_slice(b"},\"eventTime\":\"");
    clock::micros(out, cx.now, cx.rng.next_u64());
    out.push(b'"');
    kv(out, "reportingController", CONTROLLERS[c]);
    kv(out, "reportingInstance", &cx.cluster.pods[c]);
    kv(out, "action", "reconcile");
    kv(
        out,
        "reason",
        if m.reason.is_empty() {
            "Failed"
        } else {
            m.reason
        },
    );
    out.extend_from_slice(b",\"regarding\":");
    obj_ref(out, cx.cluster, i, true);
    kv(out, "note", &m.event_text);
    kv(out, "type", if m.warning { "Warning" } else { "Normal" });
    out.extend_from_slice(b",\"deprecatedSource\":{\"component\":");
    js(out, CONTROLLERS[c]);
    let n = 1 + cx.rng.below(5);
    let _ = write!(out, "}},\"deprecatedCount\":{n}}}");
}

fn watch(cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
    let t = match cx.rng.below(100) {
        0..=9 => "ADDED",
        10..=11 => "DELETED",
        _ => "MODIFIED",
    };
    let _ = write!(out, "{{\"type\":\"{t}\",\"object\":");
    let i = cx.pick_obj();
    if cx.rng.chance(0.5) {
        flux_object(cx, i, out);
    } else {
        event_v1(cx, i, out);
    }
    out.push(b'}');
}

fn pod(cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
    let c = cx.rng.below(6) as usize;
    let oom = cx.rng.chance(cx.cluster.failure_rate * 0.2);
    if oom {
        cx.cluster.restarts[c] += 1;
    }
    let restarts = cx.cluster.restarts[c];
    let ctrl = CONTROLLERS[c];
    out.extend_from_slice(b"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":");
    js(out, &cx.cluster.pods[c]);
    let _ = write!(
        out,
        ",\"namespace\":\"flux-system\",\"labels\":{{\"app\":\"{ctrl}\",\"app.kubernetes.io/part-of\":\"flux\"}},\"creationTimestamp\":\""
    );
    clock::secs(out, cx.now - 86_400_000);
    let _ = write!(
        out,
        "\"}},\"status\":{{\"phase\":\"Running\",\"conditions\":[{{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\""
    );
    // The snapshot is as of now: its newest instant is the line's time.
    clock::secs(out, cx.now);
    let _ = write!(
        out,
        "\"}}],\"containerStatuses\":[{{\"name\":\"manager\",\"ready\":true,\"restartCount\":{restarts},\"image\":\"ghcr.io/fluxcd/{ctrl}:v1.6.0\",\"state\":{{\"running\":{{\"startedAt\":\""
    );
    clock::secs(out, cx.now - 60_000);
    out.extend_from_slice(b"\"}}");
    if restarts > 0 {
        out.extend_from_slice(b",\"lastState\":{\"terminated\":{\"exitCode\":137,\"reason\":\"OOMKilled\",\"startedAt\":\"");
        clock::secs(out, cx.now - 3_600_000);
        out.extend_from_slice(b"\",\"finishedAt\":\"");
        clock::secs(out, cx.now - 60_000);
        out.extend_from_slice(b"\"}}");
    }
    out.extend_from_slice(b"}]}}");
}

fn condition(out: &mut Vec<u8>, now: TsMs, ty: &str, status: &str, reason: &str, msg: &str) {
    out.extend_from_slice(b"{\"type\":");
    js(out, ty);
    kv(out, "status", status);
    kv(out, "reason", reason);
    kv(out, "message", msg);
    out.extend_from_slice(b",\"lastTransitionTime\":\"");
    clock::secs(out, now);
    out.extend_from_slice(b"\"}");
}

fn source_ref(out: &mut Vec<u8>, c: &Cluster, s: usize) {
    let so = &c.objs[s];
    out.extend_from_slice(b"{\"kind\":");
    js(out, so.kind.name());
    kv(out, "name", &so.name);
    kv(out, "namespace", &so.ns);
    out.push(b'}');
}

fn flux_object(cx: &mut Ctx<'_>, i: usize, out: &mut Vec<u8>) {
    let epoch = cx.epoch();
    // A snapshot reflects the object's state, not one attempt: failing objects read
    // Ready=False every time.
    let failing = cx.cluster.objs[i].failure.is_some();
    let m = if failing {
        let mut r = Rng::new(cx.rng.next_u64());
        let mut m = cx.cluster.message(i, epoch, &mut r, 0);
        for _ in 0..8 {
            if m.warning || m.reason == "DependencyNotReady" {
                break;
            }
            m = cx.cluster.message(i, epoch, &mut r, 0);
        }
        m
    } else {
        cx.message(i)
    };
    let c = &*cx.cluster;
    let o = &c.objs[i];
    let rev = c.revision(i, epoch);
    let gen = 1 + o.key % 9;
    out.extend_from_slice(b"{\"apiVersion\":");
    js(out, o.kind.api_version());
    kv(out, "kind", o.kind.name());
    out.extend_from_slice(b",\"metadata\":{\"name\":");
    js(out, &o.name);
    kv(out, "namespace", &o.ns);
    kv(out, "uid", &o.uid);
    let _ = write!(
        out,
        ",\"generation\":{gen}}},\"spec\":{{\"interval\":\"{}m0s\"",
        o.interval_min
    );
    match o.kind {
        Kind::GitRepository => {
            let _ = write!(out, ",\"url\":\"https://{}/{}\",\"ref\":{{\"branch\":\"main\"}},\"secretRef\":{{\"name\":\"deploy-key\"}}", o.host, o.repo);
        }
        Kind::OciRepository | Kind::HelmChart | Kind::ImageRepository => {
            let _ = write!(out, ",\"url\":\"oci://{}/{}\"", o.host, o.repo);
        }
        Kind::HelmRepository => {
            let _ = write!(out, ",\"url\":\"https://{}\"", o.host);
        }
        Kind::Bucket => {
            let _ = write!(
                out,
                ",\"bucketName\":\"flux-{}\",\"endpoint\":\"{}\"",
                o.ns, o.host
            );
        }
        Kind::Kustomization => {
            let _ = write!(out, ",\"path\":\"./{}\",\"prune\":true", o.name);
            if let Some(s) = o.source {
                out.extend_from_slice(b",\"sourceRef\":");
                source_ref(out, c, s);
            }
        }
        Kind::HelmRelease => {
            let _ = write!(
                out,
                ",\"chart\":{{\"spec\":{{\"chart\":\"{}\",\"version\":\"*\"",
                o.chart
            );
            if let Some(s) = o.source {
                out.extend_from_slice(b",\"sourceRef\":");
                source_ref(out, c, s);
            }
            out.extend_from_slice(b"}}");
        }
        _ => {}
    }
    if let Some(d) = o.depends {
        let _ = write!(
            out,
            ",\"dependsOn\":[{{\"name\":\"{}\",\"namespace\":\"{}\"}}]",
            c.objs[d].name, c.objs[d].ns
        );
    }
    out.extend_from_slice(b"},\"status\":{");
    let _ = write!(out, "\"observedGeneration\":{gen},\"conditions\":[");
    if m.warning || m.reason == "DependencyNotReady" {
        condition(
            out,
            cx.now,
            "Ready",
            "False",
            if m.reason.is_empty() {
                "Failed"
            } else {
                m.reason
            },
            &m.event_text,
        );
    } else {
        let msg = match o.kind {
            Kind::Kustomization => format!("Applied revision: {rev}"),
            Kind::HelmRelease => format!(
                "Helm upgrade succeeded for release {}/{}.v3 with chart {}@{rev}",
                o.ns, o.name, o.chart
            ),
            _ if !rev.is_empty() => format!("stored artifact for revision '{rev}'"),
            _ => "successful scan".to_string(),
        };
        let reason = match o.kind {
            Kind::Kustomization => "ReconciliationSucceeded",
            Kind::HelmRelease => "UpgradeSucceeded",
            _ => "Succeeded",
        };
        condition(out, cx.now, "Ready", "True", reason, &msg);
    }
    out.push(b']');
    if !rev.is_empty() {
        match o.kind {
            Kind::Kustomization => {
                kv(out, "lastAppliedRevision", &rev);
                kv(out, "lastAttemptedRevision", &rev);
            }
            Kind::HelmRelease | Kind::ImageUpdateAutomation => {}
            _ => {
                out.extend_from_slice(b",\"artifact\":{\"revision\":");
                js(out, &rev);
                let _ = write!(out, ",\"size\":{}}}", 4096 + o.key % 50_000_000);
            }
        }
    }
    out.extend_from_slice(b"}}");
}

fn flux_event(cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
    let i = cx.pick_obj();
    let m = cx.message(i);
    let o = &cx.cluster.objs[i];
    let c = o.kind.controller_index();
    out.extend_from_slice(b"{\"involvedObject\":");
    obj_ref(out, cx.cluster, i, true);
    kv(out, "severity", if m.warning { "error" } else { "info" });
    out.extend_from_slice(b",\"timestamp\":\"");
    clock::secs(out, cx.now);
    out.push(b'"');
    kv(out, "message", &m.event_text);
    kv(
        out,
        "reason",
        if m.reason.is_empty() {
            "Failed"
        } else {
            m.reason
        },
    );
    out.extend_from_slice(b",\"metadata\":{");
    js(out, &format!("{}/revision", o.kind.group()));
    out.push(b':');
    js(out, m.revision.as_deref().unwrap_or("main@sha1:0000000"));
    if o.kind == Kind::Kustomization {
        kv(out, "kustomize.toolkit.fluxcd.io/commit_status", "update");
    }
    out.push(b'}');
    kv(out, "reportingController", CONTROLLERS[c]);
    kv(out, "reportingInstance", &cx.cluster.pods[c]);
    out.push(b'}');
}

fn metric(cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
    let c = cx.rng.below(6) as usize;
    let pod = &cx.cluster.pods[c];
    let base = format!("namespace=\"flux-system\",pod=\"{pod}\",container=\"manager\"");
    match cx.rng.below(100) {
        0..=1 => {
            out.extend_from_slice(b"# HELP workqueue_depth Current depth of workqueue");
            return;
        }
        2..=24 => {
            let mib = 40 + cx.rng.below(200);
            let _ = write!(
                out,
                "process_resident_memory_bytes{{{base}}} {}.{:06}e+08",
                mib * 1_048_576 / 100_000_000,
                (mib * 1_048_576 % 100_000_000) / 100
            );
        }
        25..=44 => {
            let i = cx.pick_obj();
            let o = &cx.cluster.objs[i];
            let _ = write!(
                out,
                "workqueue_depth{{{base},controller=\"{k}\",name=\"{k}\"}} {}",
                cx.rng.below(if o.failure.is_some() { 40 } else { 4 }),
                k = o.kind.lower()
            );
        }
        45..=69 => {
            let i = cx.pick_obj();
            let o = &cx.cluster.objs[i];
            let suffix = if cx.rng.chance(0.5) { "sum" } else { "count" };
            let v = if suffix == "sum" {
                format!("{}.{:03}", cx.rng.below(5000), cx.rng.below(1000))
            } else {
                cx.rng.below(10_000).to_string()
            };
            let _ = write!(
                out,
                "gotk_reconcile_duration_seconds_{suffix}{{{base},kind=\"{}\",name=\"{}\",exported_namespace=\"{}\"}} {v}",
                o.kind.name(),
                o.name,
                o.ns
            );
        }
        70..=84 => {
            let ctrl = [
                "gitrepository",
                "kustomization",
                "helmrelease",
                "alert",
                "imagerepository",
                "imageupdateautomation",
            ][c];
            let result = *cx
                .rng
                .pick(&["success", "success", "requeue_after", "error"]);
            let _ = write!(
                out,
                "controller_runtime_reconcile_total{{{base},controller=\"{ctrl}\",result=\"{result}\"}} {}",
                cx.line_no / 7 + cx.rng.below(100)
            );
        }
        85..=92 => {
            let ctrl = [
                "gitrepository",
                "kustomization",
                "helmrelease",
                "alert",
                "imagerepository",
                "imageupdateautomation",
            ][c];
            let _ = write!(
                out,
                "controller_runtime_reconcile_errors_total{{{base},controller=\"{ctrl}\"}} {}",
                cx.line_no / 97
            );
        }
        _ => {
            let code = *cx.rng.pick(&["200", "200", "201", "404", "409", "429"]);
            let _ = write!(
                out,
                "rest_client_requests_total{{{base},code=\"{code}\",host=\"10.96.0.1:443\",method=\"GET\"}} {}",
                cx.line_no / 3
            );
        }
    }
    let _ = write!(out, " {}", cx.now);
}

fn text(cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
    let i = cx.pick_obj();
    let m = cx.message(i);
    let o = &cx.cluster.objs[i];
    if cx.rng.chance(0.5) {
        match &m.error {
            Some(e) => out.extend_from_slice(e.replace('\n', " ").as_bytes()),
            None => out.extend_from_slice(m.msg.as_bytes()),
        }
    } else {
        let rev = m.revision.as_deref().unwrap_or("");
        let ready = if m.warning { "False" } else { "True" };
        let _ = write!(
            out,
            "{}\t{rev}\tFalse\t{ready}\t{}",
            o.name,
            m.event_text.replace('\n', " ")
        );
    }
}
