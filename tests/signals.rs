//! Signals (docs/fleet.md) carry what the correlator needs: a correlator fed only the
//! decoded signals of a replay (records and heartbeats, in order, as `fluxsight central`
//! will be) writes byte-identical findings and audit records to the replay itself, over
//! the bundled capture, every shared dev scenario, every golden case and every pattern
//! example. And a property test: any record → signal → record keeps every field the
//! correlator reads (free text redacted, nothing else changed).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;

use fluxsight::classify::redact::redact;
use fluxsight::classify::Classifier;
use fluxsight::correlate::{Correlator, Settings};
use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
use fluxsight::record::{
    ChangeSet, Class, Condition, ContainerInfo, Detail, EventInfo, Format, MetricSample,
    ObjectInfo, ObjectRef, OwnerRef, PodInfo, Record, Severity, WorkloadInfo,
};
use fluxsight::signal::{Signal, SignalKind, SignalProducer, DEFAULT_HEARTBEAT_MS};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn opts() -> ReplayOptions {
    ReplayOptions {
        audit: true,
        threads: 0,
        ..ReplayOptions::default()
    }
}

/// The replay's stdout (findings and audit records) and the encoded signals it made.
fn replay_with_signals(name: &str, input: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let signals = Arc::new(Mutex::new(Vec::new()));
    let tap = signals.clone();
    let mut out = Vec::new();
    let mut emitter = Emitter::new(&mut out, opts()).with_signal_tap(
        SignalProducer::new("dev", DEFAULT_HEARTBEAT_MS),
        Box::new(move |s| tap.lock().unwrap().push(s.encode())),
    );
    let mut correlator = Correlator::new(Settings::default());
    let inputs = vec![(name.to_string(), input)];
    replay(
        inputs,
        &Classifier::builtin(),
        &mut correlator,
        &mut emitter,
        opts().lateness_ms,
    )
    .unwrap();
    emitter.finish().unwrap();
    let signals = std::mem::take(&mut *signals.lock().unwrap());
    (out, signals)
}

/// What `fluxsight central` will do with one cluster's signals: records to
/// `on_record`, heartbeats to `on_time`, the end of the stream to `finish`.
fn central(signals: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut emitter = Emitter::new(&mut out, opts());
    let mut c = Correlator::new(Settings::default());
    let mut last_seq = 0;
    for bytes in signals {
        let s = Signal::decode(bytes).expect("a signal");
        assert_eq!(s.seq, last_seq + 1, "sequence without gaps");
        last_seq = s.seq;
        match s.kind {
            SignalKind::Record => {
                let rec = s.record().expect("a record signal carries a record");
                if rec.ts.is_none() && c.now().is_none() {
                    c.on_time(s.t);
                }
                c.on_record(&rec);
            }
            SignalKind::Heartbeat => c.on_time(s.t),
        }
        emitter.emit(c.drain()).unwrap();
    }
    c.finish();
    emitter.emit(c.drain()).unwrap();
    emitter.finish().unwrap();
    out
}

/// Every input the equivalence is checked on: the bundled capture, the shared dev
/// scenarios (when `../shared` is there) and every golden case.
fn inputs() -> Vec<PathBuf> {
    let mut v = vec![root().join("samples/demo/incident.log")];
    let shared = root().join("../shared/samples/scenarios");
    if shared.is_dir() {
        let mut s: Vec<PathBuf> = std::fs::read_dir(&shared)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        s.sort();
        v.extend(s);
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} absent: CI checks the shared scenarios",
            shared.display()
        );
    }
    let mut g: Vec<PathBuf> = std::fs::read_dir(root().join("tests/golden"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path().join("input.log")))
        .filter(|p| p.is_file())
        .collect();
    g.sort();
    v.extend(g);
    v
}

fn check_same(name: &str, input: &[u8], findings_seen: &mut usize) -> usize {
    let (local, signals) = replay_with_signals(name, input);
    let remote = central(&signals);
    assert!(
        local == remote,
        "{name}: central's output differs from the replay's\n--- replay\n{}\n--- central\n{}",
        String::from_utf8_lossy(&local),
        String::from_utf8_lossy(&remote)
    );
    *findings_seen += local
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    signals.len()
}

#[test]
fn central_fed_the_signals_finds_what_the_replay_finds() {
    let mut outputs = 0;
    let mut signals = 0;
    let files = inputs();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        signals += check_same(&name, &std::fs::read(f).unwrap(), &mut outputs);
    }
    eprintln!(
        "{} inputs, {signals} signals, {outputs} identical output lines",
        files.len()
    );
    assert!(outputs > 100, "the inputs produce findings: {outputs}");
}

#[test]
fn central_fed_the_signals_of_every_pattern_example_finds_the_same() {
    let settings = Settings::default();
    let mut outputs = 0;
    let mut n = 0;
    for p in settings.patterns.iter() {
        for ex in &p.spec.examples {
            n += 1;
            let name = format!("{}/{}", p.spec.id, ex.name);
            check_same(&name, ex.input.as_bytes(), &mut outputs);
        }
    }
    eprintln!("{n} pattern examples, {outputs} identical output lines");
    assert!(n > 20 && outputs > 0);
}

/// The record as the correlator may read it: what a signal carries, free text redacted.
fn expected(rec: &Record) -> Record {
    let red = |s: &Option<String>| s.as_deref().map(|s| redact(s).into_owned());
    let conditions = |c: &[Condition]| -> Vec<Condition> {
        c.iter()
            .map(|c| Condition {
                message: redact(&c.message).into_owned(),
                last_transition_ms: None,
                ..c.clone()
            })
            .collect()
    };
    let detail = match &rec.detail {
        Detail::None => Detail::None,
        Detail::Event(e) => Detail::Event(Box::new(EventInfo {
            event_type: e.event_type.clone(),
            count: e.count,
            reporter: e.reporter.clone(),
            first_ms: e.first_ms,
            last_ms: e.last_ms,
            involved_uid: e.involved_uid.clone(),
            ..EventInfo::default()
        })),
        Detail::Object(o) => Detail::Object(Box::new(ObjectInfo {
            watch_type: o.watch_type.clone(),
            generation: o.generation,
            interval_ms: o.interval_ms,
            suspend: o.suspend,
            depends_on: o.depends_on.clone(),
            source_ref: o.source_ref.clone(),
            service_account: o.service_account.clone(),
            url: red(&o.url),
            chart: o.chart.clone(),
            conditions: conditions(&o.conditions),
            last_applied_revision: red(&o.last_applied_revision),
            artifact_size: o.artifact_size,
            labels: o.labels.clone(),
            uid: o.uid.clone(),
            owner: o.owner.clone(),
            workload: o.workload.as_ref().map(|w| {
                Box::new(WorkloadInfo {
                    ready: None,
                    pod_template_hash: None,
                    ..(**w).clone()
                })
            }),
            inventory: o.inventory.clone(),
            ..ObjectInfo::default()
        })),
        Detail::Pod(p) => Detail::Pod(Box::new(PodInfo {
            watch_type: p.watch_type.clone(),
            labels: p.labels.clone(),
            containers: p
                .containers
                .iter()
                .map(|c| ContainerInfo {
                    ready: false,
                    terminated_message: None,
                    waiting_message: red(&c.waiting_message),
                    ..c.clone()
                })
                .collect(),
            uid: p.uid.clone(),
            owner: p.owner.clone(),
            node_name: p.node_name.clone(),
            claim_names: p.claim_names.clone(),
            conditions: conditions(&p.conditions),
            status_reason: p.status_reason.clone(),
            status_message: red(&p.status_message),
            ..PodInfo::default()
        })),
        Detail::Metric(m) => Detail::Metric(m.clone()),
    };
    Record {
        ts: rec.ts,
        format: rec.format,
        controller: rec.controller.clone(),
        object: rec.object.clone(),
        reason: red(&rec.reason),
        revision: red(&rec.revision),
        msg: redact(&rec.msg).into_owned(),
        error: red(&rec.error),
        duration_ms: rec.duration_ms,
        interval_ms: rec.interval_ms,
        changes: rec.changes.clone(),
        detail,
        class: rec.class,
        severity: rec.severity,
        ..Record::default()
    }
}

/// Text with, now and then, a secret the redactor knows.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[ -~]{0,24}",
        1 => Just("token=abc123def456 in".to_string()),
        1 => Just("clone 'https://bob:pa55w0rd@github.com/acme/a.git' failed".to_string()),
        1 => "\\PC{0,12}",
    ]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn object_ref() -> impl Strategy<Value = ObjectRef> {
    ("[A-Z][a-z]{0,8}", "[a-z-]{0,8}", "[a-z0-9-]{1,10}")
        .prop_map(|(k, n, m)| ObjectRef::new(k, n, m))
}

fn owner() -> impl Strategy<Value = Option<OwnerRef>> {
    proptest::option::of(
        (
            "[A-Z][a-z]{0,8}",
            "[a-z-]{1,8}",
            proptest::option::of("[a-z0-9]{1,6}"),
            any::<bool>(),
        )
            .prop_map(|(kind, name, uid, controller)| OwnerRef {
                kind,
                name,
                uid,
                controller,
            }),
    )
}

fn conditions() -> impl Strategy<Value = Vec<Condition>> {
    proptest::collection::vec(
        (
            "[A-Z][a-z]{0,6}",
            "True|False|Unknown",
            "[A-Za-z]{0,10}",
            text(),
            proptest::option::of(any::<i64>()),
        )
            .prop_map(
                |(type_, status, reason, message, last_transition_ms)| Condition {
                    type_,
                    status,
                    reason,
                    message,
                    last_transition_ms,
                },
            ),
        0..3,
    )
}

fn labels() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(("[a-z./-]{1,10}", "[a-z0-9-]{0,8}"), 0..3)
}

fn detail() -> BoxedStrategy<Detail> {
    let event = (
        opt_text(),
        proptest::option::of(any::<u64>()),
        opt_text(),
        proptest::option::of(any::<i64>()),
        proptest::option::of(any::<i64>()),
        labels(),
        opt_text(),
        opt_text(),
        any::<bool>(),
    )
        .prop_map(
            |(
                event_type,
                count,
                reporter,
                first_ms,
                last_ms,
                metadata,
                involved_uid,
                field_path,
                combined,
            )| {
                Detail::Event(Box::new(EventInfo {
                    event_type,
                    count,
                    reporter,
                    first_ms,
                    last_ms,
                    metadata,
                    involved_uid,
                    field_path,
                    combined,
                }))
            },
        );
    let workload = proptest::option::of(
        (
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<i64>()),
            opt_text(),
            opt_text(),
            proptest::collection::vec("[a-z]{1,6}", 0..2),
        )
            .prop_map(
                |(
                    desired,
                    updated,
                    ready,
                    available,
                    revision,
                    pod_template_hash,
                    claim_templates,
                )| {
                    Box::new(WorkloadInfo {
                        desired,
                        updated,
                        ready,
                        available,
                        revision,
                        pod_template_hash,
                        claim_templates,
                    })
                },
            ),
    );
    let object = (
        (
            opt_text(),
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<u64>()),
            any::<bool>(),
            proptest::collection::vec(object_ref(), 0..2),
            proptest::option::of(object_ref()),
            opt_text(),
            opt_text(),
        ),
        (
            opt_text(),
            conditions(),
            opt_text(),
            opt_text(),
            proptest::option::of(any::<u64>()),
            labels(),
            opt_text(),
            owner(),
            workload,
            proptest::collection::vec(object_ref(), 0..2),
        ),
    )
        .prop_map(
            |(
                (
                    watch_type,
                    generation,
                    observed_generation,
                    interval_ms,
                    suspend,
                    depends_on,
                    source_ref,
                    service_account,
                    url,
                ),
                (
                    chart,
                    conditions,
                    last_applied_revision,
                    last_attempted_revision,
                    artifact_size,
                    labels,
                    uid,
                    owner,
                    workload,
                    inventory,
                ),
            )| {
                Detail::Object(Box::new(ObjectInfo {
                    api_version: "v1".into(),
                    watch_type,
                    generation,
                    observed_generation,
                    interval_ms,
                    suspend,
                    depends_on,
                    source_ref,
                    service_account,
                    url,
                    chart,
                    conditions,
                    last_applied_revision,
                    last_attempted_revision,
                    artifact_size,
                    labels,
                    uid,
                    owner,
                    workload,
                    inventory,
                    ..ObjectInfo::default()
                }))
            },
        );
    let container = (
        (
            "[a-z]{1,6}",
            any::<bool>(),
            any::<u64>(),
            opt_text(),
            opt_text(),
            opt_text(),
        ),
        (
            proptest::option::of(any::<i64>()),
            opt_text(),
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<i64>()),
            opt_text(),
            opt_text(),
            opt_text(),
        ),
    )
        .prop_map(
            |(
                (name, ready, restart_count, image, waiting_reason, terminated_reason),
                (
                    terminated_exit_code,
                    last_terminated_reason,
                    last_terminated_exit_code,
                    last_terminated_finished_ms,
                    waiting_message,
                    terminated_message,
                    memory_limit,
                ),
            )| ContainerInfo {
                name,
                ready,
                restart_count,
                image,
                waiting_reason,
                terminated_reason,
                terminated_exit_code,
                last_terminated_reason,
                last_terminated_exit_code,
                last_terminated_finished_ms,
                waiting_message,
                terminated_message,
                memory_limit,
            },
        );
    let pod = (
        (
            opt_text(),
            opt_text(),
            labels(),
            proptest::collection::vec(container, 0..3),
            opt_text(),
        ),
        (
            owner(),
            opt_text(),
            proptest::collection::vec("[a-z-]{1,8}", 0..2),
            conditions(),
            opt_text(),
            opt_text(),
        ),
    )
        .prop_map(
            |(
                (watch_type, phase, labels, containers, uid),
                (owner, node_name, claim_names, conditions, status_reason, status_message),
            )| {
                Detail::Pod(Box::new(PodInfo {
                    watch_type,
                    phase,
                    labels,
                    containers,
                    uid,
                    owner,
                    node_name,
                    claim_names,
                    conditions,
                    status_reason,
                    status_message,
                }))
            },
        );
    let metric = ("[a-z_]{1,12}", labels(), any::<f64>()).prop_map(|(name, labels, value)| {
        Detail::Metric(MetricSample {
            name,
            labels,
            value,
        })
    });
    prop_oneof![
        Just(Detail::None).boxed(),
        event.boxed(),
        object.boxed(),
        pod.boxed(),
        metric.boxed()
    ]
    .boxed()
}

fn record() -> BoxedStrategy<Record> {
    (
        (
            proptest::option::of(0i64..4_000_000_000_000),
            proptest::sample::select(Format::ALL.to_vec()),
            proptest::sample::select(Class::ALL.to_vec()),
            prop_oneof![
                Just(Severity::Info),
                Just(Severity::Warning),
                Just(Severity::Error)
            ],
            opt_text(),
            proptest::option::of(object_ref()),
            opt_text(),
            opt_text(),
        ),
        (
            text(),
            opt_text(),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(
                proptest::collection::vec("[A-Z][a-z]{0,5}/[a-z]{1,5}", 0..2).prop_map(|created| {
                    ChangeSet {
                        created,
                        ..ChangeSet::default()
                    }
                }),
            ),
            detail(),
            opt_text(),
            labels(),
        ),
    )
        .prop_map(
            |(
                (ts, format, class, severity, controller, object, reason, revision),
                (msg, error, duration_ms, interval_ms, changes, detail, pod, fields),
            )| Record {
                ts,
                format,
                class,
                severity,
                controller,
                object,
                reason,
                revision,
                msg,
                error,
                duration_ms,
                interval_ms,
                changes,
                detail,
                pod,
                fields,
                at_line: Some(7),
                ..Record::default()
            },
        )
        .boxed()
}

/// Compares two records field by field (metric values by bits; any NaN is NaN).
fn same(got: &Record, want: &Record) -> Result<(), TestCaseError> {
    if let (Detail::Metric(a), Detail::Metric(b)) = (&got.detail, &want.detail) {
        if !(a.value.is_nan() && b.value.is_nan()) {
            prop_assert_eq!(a.value.to_bits(), b.value.to_bits());
        }
        prop_assert_eq!(&a.name, &b.name);
        prop_assert_eq!(&a.labels, &b.labels);
        let mut g = got.clone();
        g.detail = Detail::None;
        let mut w = want.clone();
        w.detail = Detail::None;
        prop_assert_eq!(g, w);
    } else {
        prop_assert_eq!(got, want);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn record_to_signal_to_record_keeps_what_the_correlator_reads(rec in record(), now in proptest::option::of(0i64..4_000_000_000_000)) {
        let mut p = SignalProducer::new("c", DEFAULT_HEARTBEAT_MS);
        let s = p.record(&rec, now);
        prop_assert_eq!(s.t, rec.ts.or(now).unwrap_or(0));
        let bytes = s.encode();
        let back = Signal::decode(&bytes).unwrap().record().unwrap();
        same(&back, &expected(&rec))?;
        // Redaction is idempotent, so a second trip changes nothing.
        let again = Signal::decode(&p.record(&back, now).encode()).unwrap().record().unwrap();
        same(&again, &back)?;
    }
}
