use super::*;
use fluxsight::parse::LineDecoder;
use fluxsight::record::{Envelope, Format};

fn cfg(lines: u64) -> GenConfig {
    GenConfig {
        lines,
        tenants: 7,
        objects: 300,
        seed: 42,
        failure_rate: 0.3,
        ..GenConfig::default()
    }
}

#[test]
fn same_seed_same_bytes() {
    let a = mixed(&cfg(2_000));
    let b = mixed(&cfg(2_000));
    assert_eq!(a, b);
    let c = mixed(&GenConfig {
        seed: 43,
        ..cfg(2_000)
    });
    assert_ne!(a, c);
}

#[test]
fn writes_exactly_the_requested_lines() {
    for mix in [Mix::All, Mix::Current] {
        let out = mixed(&GenConfig { mix, ..cfg(1_001) });
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1_001);
        assert_eq!(out.last(), Some(&b'\n'));
    }
}

#[test]
fn timestamps_never_decrease_and_span_the_window() {
    let c = GenConfig {
        mix: Mix::Current,
        ..cfg(3_000)
    };
    let out = mixed(&c);
    let mut d = LineDecoder::new(None);
    let mut last = i64::MIN;
    let mut first = None;
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        for r in d.decode(line) {
            // Event first/last timestamps and snapshots carry second precision.
            if let Some(ts) = r.ts {
                assert!(ts + 1_000 >= last, "{}", String::from_utf8_lossy(line));
                last = last.max(ts);
                first.get_or_insert(ts);
            }
        }
    }
    let first = first.unwrap();
    assert!(first - c.start_ms < 2_000);
    assert!(c.start_ms + c.span_ms - last < 120_000);
}

#[test]
fn mean_line_length_near_target() {
    let out = mixed(&GenConfig {
        mix: Mix::Current,
        ..cfg(5_000)
    });
    let mean = out.len() / 5_000;
    assert!((300..=560).contains(&mean), "mean {mean}");
}

/// Every form is read back as the form it claims to be.
#[test]
fn every_form_decodes_as_itself() {
    for &form in Form::ALL {
        let out = corpus(form, 200, &cfg(0));
        let mut d = LineDecoder::new(None);
        let mut formats = std::collections::BTreeMap::new();
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            for r in d.decode(line) {
                *formats.entry(r.format.as_str()).or_insert(0) += 1;
                let want = match form {
                    Form::ZapCurrent
                    | Form::ZapRequest
                    | Form::ZapReconcilerKind
                    | Form::ZapReconcilerKindSpaced
                    | Form::ZapLowerCamel
                    | Form::EnvTimestamps
                    | Form::EnvPrefix
                    | Form::EnvCri
                    | Form::EnvDocker => Format::ZapJson,
                    Form::EnvCriPartial if r.format == Format::Partial => Format::Partial,
                    Form::EnvCriPartial => Format::ZapJson,
                    Form::Console => Format::ZapConsole,
                    Form::Klog => Format::Klog,
                    Form::Logfmt => Format::Logfmt,
                    Form::FluxCli => Format::FluxCli,
                    Form::K8sEventV1 | Form::K8sEventEventsV1 => Format::K8sEvent,
                    Form::WatchEvent => r.format,
                    Form::PodSnapshot | Form::FluxObject => Format::K8sObject,
                    Form::FluxEvent => Format::FluxEvent,
                    Form::Metric => Format::Metric,
                    Form::Text => Format::Text,
                    Form::WorkloadEvent => Format::K8sEvent,
                    Form::WorkloadObject => Format::K8sObject,
                };
                assert_eq!(
                    r.format,
                    want,
                    "{}: {}",
                    form.as_str(),
                    String::from_utf8_lossy(line)
                );
                let env = match form {
                    Form::EnvTimestamps => Some(Envelope::Timestamps),
                    Form::EnvPrefix => Some(Envelope::Prefix),
                    Form::EnvCri | Form::EnvCriPartial => Some(Envelope::Cri),
                    Form::EnvDocker => Some(Envelope::Docker),
                    _ => None,
                };
                assert_eq!(r.envelope, env, "{}", form.as_str());
                if matches!(
                    r.format,
                    Format::ZapJson | Format::ZapConsole | Format::Logfmt | Format::FluxCli
                ) {
                    assert!(r.object.is_some(), "{}: no object", form.as_str());
                }
                if r.format == Format::ZapJson && form == Form::EnvPrefix {
                    assert!(r.controller.is_some());
                }
            }
        }
        if form == Form::WatchEvent {
            assert!(formats.contains_key("k8s_event") && formats.contains_key("k8s_object"));
        }
    }
}

#[test]
fn failure_mix_follows_the_rate() {
    let classifier = fluxsight::classify::Classifier::builtin();
    let count_failures = |rate: f64| {
        let out = mixed(&GenConfig {
            failure_rate: rate,
            mix: Mix::Current,
            ..cfg(4_000)
        });
        let mut d = LineDecoder::new(None);
        let mut n = 0;
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            for mut r in d.decode(line) {
                classifier.classify(&mut r);
                n += usize::from(r.class.is_failure());
            }
        }
        n
    };
    assert_eq!(count_failures(0.0), 0);
    let some = count_failures(0.3);
    assert!(some > 400, "{some}");
}

#[test]
fn paced_output_is_the_same_stream_written_no_earlier_than_its_timestamps() {
    use std::cell::Cell;
    let c = GenConfig {
        mix: Mix::Current,
        span_ms: 60_000,
        ..cfg(3_000)
    };
    // A fake clock that moves only when the generator sleeps.
    let clock = Cell::new(c.start_ms);
    struct Chunks<'a>(&'a Cell<i64>, Vec<(i64, Vec<u8>)>);
    impl Write for Chunks<'_> {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.1.push((self.0.get(), b.to_vec()));
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut w = Chunks(&clock, Vec::new());
    let sleeps = Cell::new(0u32);
    let n = Generator::new(c.clone())
        .run_paced(
            &mut w,
            || clock.get(),
            |ms| {
                sleeps.set(sleeps.get() + 1);
                clock.set(clock.get() + ms as i64)
            },
        )
        .unwrap();
    assert_eq!(n, 3_000);
    let all: Vec<u8> = w.1.iter().flat_map(|(_, b)| b.clone()).collect();
    assert_eq!(
        all,
        mixed(&c),
        "pacing changes when lines go out, not what they are"
    );
    // Written in many slices, none before its time.
    assert!(w.1.len() > 100, "{} writes", w.1.len());
    let mut d = LineDecoder::new(None);
    for (at, chunk) in &w.1 {
        for line in chunk.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            for r in d.decode(line) {
                if let Some(ts) = r.ts {
                    assert!(ts <= *at, "line stamped {ts} written at {at}");
                }
            }
        }
    }
    // The clock had to cover the span to let the last line out.
    assert!(
        clock.get() - c.start_ms >= 59_000,
        "{}",
        clock.get() - c.start_ms
    );
    assert!(sleeps.get() > 0);
}

/// FNV-1a 64 of a buffer: a fingerprint of a stream without a hashing dependency.
fn fnv64(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `--mix current` is what it was before the workloads came: the stream of
/// `fluxsight-gen --mix current --lines 20000 --objects 300 --seed 7 --failure-rate
/// 0.3` (md5 fc2f5881d3e9daa58809c2aa31a60cb8 before and after).
#[test]
fn current_mix_is_unchanged_by_the_workloads() {
    let out = mixed(&GenConfig {
        lines: 20_000,
        objects: 300,
        seed: 7,
        failure_rate: 0.3,
        mix: Mix::Current,
        ..GenConfig::default()
    });
    assert_eq!((out.len(), fnv64(&out)), (9_826_181, 0xbef6_c586_ebac_5fa4));
}

/// The default cluster of `fluxsight-gen`, for a day of `lines`.
fn day(lines: u64) -> GenConfig {
    GenConfig {
        lines,
        objects: 1_000,
        ..GenConfig::default()
    }
}

#[test]
fn an_all_day_is_the_same_for_a_seed_and_carries_the_workloads() {
    let a = mixed(&day(20_000));
    assert_eq!(a, mixed(&day(20_000)));
    // Many failing objects, so that every stage shows.
    let a = mixed(&GenConfig {
        failure_rate: 0.5,
        ..cfg(20_000)
    });
    let text = String::from_utf8_lossy(&a);
    for needle in [
        "\"reason\":\"FailedCreate\"",
        "\"reason\":\"ProvisioningFailed\"",
        "\"reason\":\"FailedMount\"",
        "\"message\":\"Error: ErrImagePull\"",
        "\"reason\":\"CreateContainerConfigError\"",
        "Back-off restarting failed container",
        "\"kind\":\"ReplicaSet\"",
        "\"kind\":\"StatefulSet\"",
        "\"kind\":\"Job\"",
        "\"kind\":\"PersistentVolumeClaim\"",
        "\"kustomize.toolkit.fluxcd.io/name\"",
        "\"helm.toolkit.fluxcd.io/name\"",
        "\"reason\":\"ScalingReplicaSet\"",
        "\"reason\":\"Started\"",
        "\"reason\":\"FailedScheduling\"",
        "\"reason\":\"Unhealthy\"",
        "\"reason\":\"CrashLoopBackOff\"",
        "\"reason\":\"OOMKilled\"",
        "timeout waiting for: [",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
}

/// Every line of the workload forms is decoded (none is left as text), and Events are
/// a realistic share of an `all` day.
#[test]
fn workload_forms_decode_and_events_are_a_tenth_to_a_fifth_of_a_day() {
    for form in [Form::WorkloadEvent, Form::WorkloadObject] {
        let out = corpus(form, 3_000, &day(0));
        let mut d = LineDecoder::new(None);
        let mut n = 0;
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let recs = d.decode(line);
            assert_eq!(recs.len(), 1, "{}", String::from_utf8_lossy(line));
            let r = &recs[0];
            assert!(
                matches!(r.format, Format::K8sEvent | Format::K8sObject) && r.object.is_some(),
                "{}: {}",
                form.as_str(),
                String::from_utf8_lossy(line)
            );
            n += 1;
        }
        assert_eq!(n, 3_000);
    }
    let out = mixed(&day(20_000));
    let mut d = LineDecoder::new(None);
    let events = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .flat_map(|l| d.decode(l))
        .filter(|r| r.format == Format::K8sEvent)
        .count();
    assert!((2_000..=4_000).contains(&events), "{events} Events");
}

/// A 20k-line `all` day replays into `workload_failure` findings naming a cause of
/// the generated kinds, linked through the labels and ownerReferences.
#[test]
fn an_all_day_replays_with_workload_failures() {
    use fluxsight::classify::Classifier;
    use fluxsight::correlate::{Correlator, Settings};
    use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
    let corpus = mixed(&day(20_000));
    let mut out = Vec::new();
    let mut correlator = Correlator::new(Settings::default());
    let mut emitter = Emitter::new(&mut out, ReplayOptions::default());
    let inputs = vec![("gen.log".to_string(), corpus.as_slice())];
    replay(
        inputs,
        &Classifier::builtin(),
        &mut correlator,
        &mut emitter,
        10_000,
    )
    .unwrap();
    emitter.finish().unwrap();
    let mut stages = std::collections::BTreeSet::new();
    let mut labelled = 0;
    for l in String::from_utf8(out).unwrap().lines() {
        let f: serde_json::Value = serde_json::from_str(l).unwrap();
        if f["pattern"] != "workload_failure" {
            continue;
        }
        let w = &f["workload"];
        if let Some(s) = w["cause"]["stage"].as_str() {
            stages.insert(s.to_string());
        }
        let links: Vec<&str> = w["chain"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["link"].as_str())
            .collect();
        labelled += usize::from(links.get(1) == Some(&"label") && links.contains(&"ownerRef"));
    }
    assert!(stages.len() >= 3, "stages {stages:?}");
    assert!(labelled > 0, "no chain through labels and ownerReferences");
}
