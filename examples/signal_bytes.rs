//! Bytes on the wire of signals (docs/fleet.md) against the raw lines they come from:
//! replays each file (as `fluxsight replay` does, with a signal tap: default heartbeat)
//! and prints, per file and in total, the raw lines and bytes, the signals (records and
//! heartbeats) and their encoded bytes (the Kafka value, before the producer's
//! compression). With `--out FILE`, also writes every signal as one JSON line, to
//! measure what a compressor makes of them.
//!
//! Usage: cargo run --example signal_bytes -- [--out FILE] FILE...

use std::io::Write;
use std::sync::{Arc, Mutex};

use fluxsight::classify::Classifier;
use fluxsight::correlate::{Correlator, Settings};
use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
use fluxsight::signal::{SignalKind, SignalProducer, DEFAULT_HEARTBEAT_MS};

#[derive(Default, Clone, Copy)]
struct Count {
    lines: u64,
    raw: u64,
    records: u64,
    record_bytes: u64,
    heartbeats: u64,
    heartbeat_bytes: u64,
}

impl Count {
    fn add(&mut self, o: &Count) {
        self.lines += o.lines;
        self.raw += o.raw;
        self.records += o.records;
        self.record_bytes += o.record_bytes;
        self.heartbeats += o.heartbeats;
        self.heartbeat_bytes += o.heartbeat_bytes;
    }

    fn print(&self, name: &str) {
        let per = |b: u64, n: u64| if n == 0 { 0.0 } else { b as f64 / n as f64 };
        let signal_bytes = self.record_bytes + self.heartbeat_bytes;
        println!(
            "{name}: {} lines, {:.0} B/line raw; {} record signals, {:.0} B/record; {} heartbeats, {:.0} B/heartbeat; all signals {:.0} B/line ({:.2}x raw)",
            self.lines,
            per(self.raw, self.lines),
            self.records,
            per(self.record_bytes, self.records),
            self.heartbeats,
            per(self.heartbeat_bytes, self.heartbeats),
            per(signal_bytes, self.lines),
            per(signal_bytes, self.raw),
        );
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = None;
    if let Some(i) = args.iter().position(|a| a == "--out") {
        let path = args.get(i + 1).expect("--out FILE").clone();
        out = Some(std::fs::File::create(&path).expect("create --out file"));
        args.drain(i..=i + 1);
    }
    assert!(!args.is_empty(), "usage: signal_bytes [--out FILE] FILE...");
    let out = Arc::new(Mutex::new(out.map(std::io::BufWriter::new)));
    let classifier = Classifier::builtin();
    let mut total = Count::default();
    for path in &args {
        let input = std::fs::read(path).expect("read input");
        let count = Arc::new(Mutex::new(Count {
            lines: input
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count() as u64,
            raw: input.len() as u64,
            ..Count::default()
        }));
        let (c, o) = (count.clone(), out.clone());
        let mut sink = std::io::sink();
        let mut emitter = Emitter::new(&mut sink, ReplayOptions::default()).with_signal_tap(
            SignalProducer::new("prod-eu-1", DEFAULT_HEARTBEAT_MS),
            Box::new(move |s| {
                let bytes = s.encode();
                let mut c = c.lock().unwrap();
                match s.kind {
                    SignalKind::Record => {
                        c.records += 1;
                        c.record_bytes += bytes.len() as u64;
                    }
                    SignalKind::Heartbeat => {
                        c.heartbeats += 1;
                        c.heartbeat_bytes += bytes.len() as u64;
                    }
                }
                if let Some(w) = o.lock().unwrap().as_mut() {
                    w.write_all(&bytes)
                        .and_then(|()| w.write_all(b"\n"))
                        .expect("write --out");
                }
            }),
        );
        let mut correlator = Correlator::new(Settings::default());
        let inputs = vec![(path.clone(), &input[..])];
        replay(
            inputs,
            &classifier,
            &mut correlator,
            &mut emitter,
            ReplayOptions::default().lateness_ms,
        )
        .expect("replay");
        emitter.finish().expect("finish");
        let c = *count.lock().unwrap();
        let name = std::path::Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        c.print(&name);
        total.add(&c);
    }
    if args.len() > 1 {
        total.print("total");
    }
    let mut out = out.lock().unwrap();
    if let Some(w) = out.as_mut() {
        w.flush().expect("flush --out");
    }
}
