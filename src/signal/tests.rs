use super::*;
use crate::record::{ChangeSet, Level};

/// Compile-time guard: a new [`Format`] must be listed in `Format::ALL` (the count
/// below fails otherwise), so the wire can name it.
fn format_index(f: Format) -> usize {
    match f {
        Format::ZapJson => 0,
        Format::ZapConsole => 1,
        Format::Klog => 2,
        Format::Logfmt => 3,
        Format::FluxCli => 4,
        Format::K8sEvent => 5,
        Format::K8sObject => 6,
        Format::FluxEvent => 7,
        Format::Metric => 8,
        Format::Text => 9,
        Format::Blank => 10,
        Format::Partial => 11,
        Format::Table => 12,
        Format::EventsTable => 13,
        Format::TableHeader => 14,
        Format::Describe => 15,
        Format::FluxProgress => 16,
        Format::Command => 17,
        Format::Continuation => 18,
    }
}

#[test]
fn every_format_has_a_wire_name() {
    assert_eq!(Format::ALL.len(), 19);
    for (i, f) in Format::ALL.iter().enumerate() {
        assert_eq!(format_index(*f), i);
        assert_eq!(Format::parse(f.as_str()), Some(*f));
    }
}

fn log_record() -> Record {
    Record {
        ts: Some(1_767_268_800_123),
        format: Format::ZapJson,
        level: Some(Level::Error),
        controller: Some("source-controller".into()),
        pod: Some("source-controller-7d9f8c6b5-x2x7k".into()),
        object: Some(ObjectRef::new("GitRepository", "team-a", "app")),
        reason: Some("GitOperationFailed".into()),
        revision: Some("main@sha1:0123abcd".into()),
        msg: "Reconciler error".into(),
        error: Some(
            "failed to checkout: unable to clone 'https://bob:ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/acme/app.git': authentication required".into(),
        ),
        duration_ms: Some(1250),
        interval_ms: Some(60_000),
        reconcile_id: Some("abc".into()),
        fields: vec![("k".into(), "v".into())],
        class: Class::GitAuthFailed,
        severity: Severity::Error,
        at_line: Some(3),
        ..Record::default()
    }
}

#[test]
fn a_log_record_round_trips_without_its_secret_or_debug_fields() {
    let mut p = SignalProducer::new("prod-eu-1", 10_000);
    let s = p.record(&log_record(), None);
    let bytes = s.encode();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with(r#"{"schema":"fluxsight.signal/v1","cluster":"prod-eu-1","t":1767268800123,"seq":1,"kind":"record","r":{"#), "{text}");
    assert!(!text.contains("ghp_"), "secret on the wire: {text}");
    assert!(
        !text.contains("x2x7k") && !text.contains("\"k\""),
        "debug fields: {text}"
    );
    let back = Signal::decode(&bytes).unwrap().record().unwrap();
    let orig = log_record();
    assert_eq!(back.ts, orig.ts);
    assert_eq!(back.format, orig.format);
    assert_eq!(back.class, orig.class);
    assert_eq!(back.severity, orig.severity);
    assert_eq!(back.controller, orig.controller);
    assert_eq!(back.object, orig.object);
    assert_eq!(back.reason, orig.reason);
    assert_eq!(back.revision, orig.revision);
    assert_eq!(back.msg, orig.msg);
    assert_eq!(
        back.error.as_deref(),
        Some(&*redact(orig.error.as_deref().unwrap()))
    );
    assert_eq!(
        (back.duration_ms, back.interval_ms),
        (Some(1250), Some(60_000))
    );
    assert_eq!((back.pod, back.level, back.at_line), (None, None, None));
    assert!(back.fields.is_empty());
}

#[test]
fn an_undated_record_takes_the_clock_and_stays_undated() {
    let mut p = SignalProducer::new("c", 10_000);
    let rec = Record {
        format: Format::ZapJson,
        msg: "x".into(),
        ..Record::default()
    };
    let s = p.record(&rec, Some(5_000));
    assert_eq!(s.t, 5_000);
    assert!(s.r.as_ref().unwrap().nt);
    assert_eq!(s.record().unwrap().ts, None);
    // Defaults stay off the wire (format zap_json, class info_other, its severity).
    assert_eq!(
        String::from_utf8(s.encode()).unwrap(),
        r#"{"schema":"fluxsight.signal/v1","cluster":"c","t":5000,"seq":1,"kind":"record","r":{"nt":true,"m":"x"}}"#
    );
}

#[test]
fn details_round_trip() {
    let obj = ObjectInfo {
        watch_type: Some("MODIFIED".into()),
        generation: Some(3),
        interval_ms: Some(600_000),
        suspend: true,
        depends_on: vec![ObjectRef::new("Kustomization", "flux-system", "infra")],
        source_ref: Some(ObjectRef::new("GitRepository", "flux-system", "repo")),
        service_account: Some("sa".into()),
        url: Some("https://user:s3cr3tpassw0rd@example.com/x.git".into()),
        chart: Some("redis".into()),
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: "False".into(),
            reason: "HealthCheckFailed".into(),
            message: "timeout".into(),
            last_transition_ms: None,
        }],
        last_applied_revision: Some("main@sha1:1".into()),
        artifact_size: Some(42),
        labels: vec![("a".into(), "b".into())],
        uid: Some("u1".into()),
        owner: Some(OwnerRef {
            kind: "Deployment".into(),
            name: "web".into(),
            uid: Some("u0".into()),
            controller: true,
        }),
        workload: Some(Box::new(WorkloadInfo {
            desired: Some(3),
            updated: Some(1),
            available: Some(0),
            revision: Some("2".into()),
            claim_templates: vec!["data".into()],
            ..WorkloadInfo::default()
        })),
        inventory: vec![ObjectRef::new("Deployment", "shop", "web")],
        ..ObjectInfo::default()
    };
    let pod = PodInfo {
        watch_type: Some("ADDED".into()),
        labels: vec![("app".into(), "web".into())],
        containers: vec![ContainerInfo {
            name: "manager".into(),
            restart_count: 4,
            image: Some("ghcr.io/x:1".into()),
            waiting_reason: Some("CrashLoopBackOff".into()),
            waiting_message: Some("back-off".into()),
            terminated_reason: None,
            terminated_exit_code: None,
            last_terminated_reason: Some("OOMKilled".into()),
            last_terminated_exit_code: Some(137),
            last_terminated_finished_ms: Some(99),
            memory_limit: Some("1Gi".into()),
            ..ContainerInfo::default()
        }],
        uid: Some("p1".into()),
        node_name: Some("n1".into()),
        claim_names: vec!["data-web-0".into()],
        status_reason: Some("Evicted".into()),
        status_message: Some("low on memory".into()),
        ..PodInfo::default()
    };
    let event = EventInfo {
        event_type: Some("Warning".into()),
        count: Some(6),
        reporter: Some("kubelet".into()),
        first_ms: Some(1),
        last_ms: Some(2),
        involved_uid: Some("p1".into()),
        ..EventInfo::default()
    };
    let metric = MetricSample {
        name: "process_resident_memory_bytes".into(),
        labels: vec![("pod".into(), "source-controller-1".into())],
        value: 1.5e8,
    };
    let mut p = SignalProducer::new("c", 10_000);
    for detail in [
        Detail::Object(Box::new(obj.clone())),
        Detail::Pod(Box::new(pod)),
        Detail::Event(Box::new(event)),
        Detail::Metric(metric),
        Detail::Metric(MetricSample {
            value: f64::INFINITY,
            ..MetricSample::default()
        }),
        Detail::Metric(MetricSample {
            value: 0.1 + 0.2,
            ..MetricSample::default()
        }),
    ] {
        let rec = Record {
            ts: Some(10),
            changes: Some(ChangeSet {
                created: vec!["Deployment/shop/web".into()],
                ..ChangeSet::default()
            }),
            detail: detail.clone(),
            ..Record::default()
        };
        let back = Signal::decode(&p.record(&rec, None).encode())
            .unwrap()
            .record()
            .unwrap();
        let want = match detail {
            Detail::Object(mut o) => {
                o.url = Some("https://[REDACTED]@example.com/x.git".into());
                Detail::Object(o)
            }
            d => d,
        };
        assert_eq!(back.detail, want);
        assert_eq!(back.changes, rec.changes);
    }
}

#[test]
fn heartbeats_come_every_interval_with_the_watermark() {
    let mut p = SignalProducer::new("c", 10_000);
    let hb = p.heartbeat(1_000).unwrap();
    assert_eq!(
        (hb.kind, hb.t, hb.seq, hb.wm),
        (SignalKind::Heartbeat, 1_000, 1, None)
    );
    assert!(p.heartbeat(10_999).is_none());
    p.record(
        &Record {
            ts: Some(9_000),
            ..Record::default()
        },
        None,
    );
    let hb = p.heartbeat(11_000).unwrap();
    assert_eq!((hb.t, hb.seq, hb.wm), (11_000, 3, Some(9_000)));
    // A jump gives one heartbeat, not one per missed interval.
    assert!(p.heartbeat(500_000).is_some());
    assert!(p.heartbeat(500_001).is_none());
    let text = String::from_utf8(hb.encode()).unwrap();
    assert_eq!(
        text,
        r#"{"schema":"fluxsight.signal/v1","cluster":"c","t":11000,"seq":3,"kind":"heartbeat","wm":9000}"#
    );
}

#[test]
fn another_schema_and_unknown_names_are_handled() {
    let other = br#"{"schema":"fluxsight.signal/v2","cluster":"c","t":1,"seq":1,"kind":"record"}"#;
    assert!(matches!(Signal::decode(other), Err(SignalError::Schema(_))));
    // v1 is only extended: unknown fields are skipped, unknown names take defaults.
    let newer = br#"{"schema":"fluxsight.signal/v1","cluster":"c","t":1,"seq":1,"kind":"record","x":1,"r":{"f":"new_form","cls":"new_class","m":"hi","zz":[1]}}"#;
    let rec = Signal::decode(newer).unwrap().record().unwrap();
    assert_eq!(
        (rec.format, rec.class, rec.msg.as_str()),
        (Format::Text, Class::InfoOther, "hi")
    );
}

#[test]
fn a_signal_delivery_has_a_stable_id_and_no_findings() {
    let mut p = SignalProducer::new("c", 10_000);
    let d = crate::delivery::Delivery::Signal(Box::new(p.record(&log_record(), None)));
    assert_eq!(d.delivery_id(), "signal-c-1767268800123-1");
    assert!(d.findings().is_empty());
    // The spool's record format carries it.
    let spooled = serde_json::to_string(&d).unwrap();
    let back: crate::delivery::Delivery = serde_json::from_str(&spooled).unwrap();
    assert_eq!(back, d);
}

#[test]
fn an_implied_controller_is_left_out_and_an_absent_one_marked() {
    let mut p = SignalProducer::new("c", 10_000);
    let ks = || Record {
        object: Some(ObjectRef::new("Kustomization", "a", "b")),
        ..Record::default()
    };
    for controller in [None, Some(""), Some("kustomize-controller"), Some("other")] {
        let rec = Record {
            controller: controller.map(str::to_string),
            ..ks()
        };
        let s = p.record(&rec, Some(1));
        let back = Signal::decode(&s.encode()).unwrap().record().unwrap();
        assert_eq!(back.controller, rec.controller, "{controller:?}");
    }
    let r = WireRecord::of(&Record {
        controller: Some("kustomize-controller".into()),
        ..ks()
    });
    assert_eq!((r.ctl, r.noctl), (None, false));
    let r = WireRecord::of(&ks());
    assert_eq!((r.ctl, r.noctl), (None, true));
    // Without an object (or of a kind without a controller) nothing is implied.
    let r = WireRecord::of(&Record::default());
    assert_eq!((r.ctl.as_deref(), r.noctl), (None, false));
    assert_eq!(r.to_record(0).controller, None);
}
