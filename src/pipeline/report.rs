//! What `replay --report` collects while the replay runs: every record's time and place
//! (per-object failure and success times, where each evidence line was read), every
//! output (each finding's emissions and evidence over time, audit records), and at the
//! end the correlator's object facts, the inputs' digests and the configuration.
//!
//! Owns: [`ReportCollector`] and [`DigestReader`] (the SHA-256 of an input as it is
//! read). Does not own: drawing the report (`render::report`) nor what replay writes to
//! stdout, which collecting never changes.
//!
//! Invariant: bounded: evidence places are a FIFO of [`MAX_PLACES`], per-object times
//! and per-finding evidence are capped (`render::report::data`), so a long replay
//! costs at most a few MiB more.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::{self, BufRead, Read};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::correlate::{Correlator, Finding, Output};
use crate::pipeline::replay::SourcePos;
use crate::record::{Class, Format, ObjectRef, Record, TsMs};
use crate::render::report::data::{
    Emission, EvidenceItem, FindingHistory, InputInfo, ObjectActivity, ReportData, MAX_ACTIVITY,
    MAX_AUDIT, MAX_EMISSIONS,
};

/// Most failing-record places remembered to name the source of evidence samples.
pub const MAX_PLACES: usize = 200_000;
/// Most objects whose activity is kept.
pub const MAX_OBJECTS: usize = 20_000;
/// Distinct evidence messages kept from the start of a finding…
pub const EVIDENCE_HEAD: usize = 12;
/// …and from its end.
pub const EVIDENCE_TAIL: usize = 8;

/// What one finding has accumulated.
#[derive(Default)]
struct Acc {
    last: Option<Finding>,
    emissions: Vec<Emission>,
    head: Vec<EvidenceItem>,
    tail: VecDeque<EvidenceItem>,
    omitted: u64,
    /// Samples already counted: (time, message hash).
    seen: HashSet<(Option<TsMs>, u64)>,
}

impl Acc {
    fn item_mut(&mut self, object: Option<&ObjectRef>, message: &str) -> Option<&mut EvidenceItem> {
        let hit = |e: &&mut EvidenceItem| e.message == message && e.object.as_ref() == object;
        self.head
            .iter_mut()
            .find(hit)
            .or_else(|| self.tail.iter_mut().find(hit))
    }

    fn push(&mut self, item: EvidenceItem) {
        if self.head.len() < EVIDENCE_HEAD {
            self.head.push(item);
            return;
        }
        self.tail.push_back(item);
        if self.tail.len() > EVIDENCE_TAIL {
            self.tail.pop_front();
            self.omitted += 1;
        }
    }
}

/// Collects a report's data during a replay (see the module docs).
#[derive(Default)]
pub struct ReportCollector {
    input_names: Vec<String>,
    findings: BTreeMap<String, Acc>,
    audit: Vec<crate::correlate::AuditRecord>,
    audit_total: u64,
    activity: BTreeMap<ObjectRef, ObjectActivity>,
    objects_dropped: u64,
    places: HashMap<(TsMs, Class), SourcePos>,
    place_order: VecDeque<(TsMs, Class)>,
    start: Option<TsMs>,
    end: Option<TsMs>,
    records: u64,
    text_records: u64,
}

/// What the command line knows and the replay does not.
#[derive(Debug, Clone, Default)]
pub struct ReportMeta {
    pub version: String,
    pub cluster: String,
    pub config: Vec<(String, String)>,
    pub inputs: Vec<InputInfo>,
    pub lines: u64,
}

fn hash_of(s: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(s.as_bytes());
    h.finish()
}

impl ReportCollector {
    /// A collector for inputs named `input_names` (in the replay's order).
    pub fn new(input_names: Vec<String>) -> Self {
        ReportCollector {
            input_names,
            ..Default::default()
        }
    }

    /// One record as the correlator reads it, read at `at`.
    pub fn on_record(&mut self, rec: &Record, at: SourcePos) {
        self.records += 1;
        if rec.format == Format::Text {
            self.text_records += 1;
        }
        let Some(ts) = rec.ts else { return };
        self.start = Some(self.start.map_or(ts, |s| s.min(ts)));
        self.end = Some(self.end.map_or(ts, |e| e.max(ts)));
        let failure = rec.class.is_failure();
        if failure && !self.places.contains_key(&(ts, rec.class)) {
            self.places.insert((ts, rec.class), at);
            self.place_order.push_back((ts, rec.class));
            if self.place_order.len() > MAX_PLACES {
                if let Some(old) = self.place_order.pop_front() {
                    self.places.remove(&old);
                }
            }
        }
        let success = matches!(
            rec.class,
            Class::ReconcileSucceeded | Class::RevisionApplied
        );
        let Some(obj) = rec.object.as_ref().filter(|_| failure || success) else {
            return;
        };
        if !self.activity.contains_key(obj) && self.activity.len() >= MAX_OBJECTS {
            self.objects_dropped += 1;
            return;
        }
        let a = self.activity.entry(obj.clone()).or_default();
        if failure {
            a.failures_total += 1;
            if a.failures.len() < MAX_ACTIVITY {
                a.failures.push(ts);
            }
        } else if a.successes.len() < MAX_ACTIVITY {
            a.successes.push(ts);
        }
    }

    /// One output of the correlator, emitted at record time `now`.
    pub fn on_output(&mut self, o: &Output, now: Option<TsMs>) {
        match o {
            Output::Audit(a) => {
                self.audit_total += 1;
                if self.audit.len() < MAX_AUDIT {
                    self.audit.push((**a).clone());
                }
            }
            Output::Finding(f) => self.on_finding(f, now),
        }
    }

    fn place(&self, ts: Option<TsMs>, class: Class) -> Option<String> {
        let at = self.places.get(&(ts?, class))?;
        let name = self.input_names.get(at.input as usize)?;
        Some(format!("{name}:{}", at.line))
    }

    fn on_finding(&mut self, f: &Finding, now: Option<TsMs>) {
        let places: Vec<Option<String>> = f
            .evidence
            .iter()
            .map(|e| self.place(e.ts, e.class))
            .collect();
        let acc = self.findings.entry(f.id.clone()).or_default();
        if acc.emissions.len() < MAX_EMISSIONS {
            acc.emissions.push(Emission {
                at: now.unwrap_or(f.last_seen),
                status: f.status,
                severity: f.severity,
                count: f.count,
            });
        }
        for (e, source) in f.evidence.iter().zip(places) {
            if !acc.seen.insert((e.ts, hash_of(&e.message))) {
                continue;
            }
            if let Some(item) = acc.item_mut(None, &e.message) {
                item.count += 1;
                item.first = match (item.first, e.ts) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                item.last = item.last.max(e.ts);
                continue;
            }
            acc.push(EvidenceItem {
                object: None,
                first: e.ts,
                last: e.ts,
                controller: e.controller.clone(),
                class: e.class,
                message: e.message.clone(),
                source,
                count: 1,
            });
        }
        for d in &f.impact {
            if let Some(item) = acc.item_mut(Some(&d.object), &d.message) {
                item.count = d.count;
                item.last = Some(d.last_failed);
                continue;
            }
            acc.push(EvidenceItem {
                object: Some(d.object.clone()),
                first: Some(d.first_failed),
                last: Some(d.last_failed),
                controller: None,
                class: d.class,
                message: d.message.clone(),
                source: None,
                count: d.count,
            });
        }
        acc.last = Some(f.clone());
    }

    /// The report's data: what was collected, the correlator's final state and `meta`.
    pub fn finish(self, correlator: &Correlator, meta: ReportMeta) -> ReportData {
        let mut gaps = Vec::new();
        if self.text_records > 0 {
            gaps.push(format!(
                "{} records were read only as plain text (no known format)",
                self.text_records
            ));
        }
        if self.objects_dropped > 0 {
            gaps.push(format!(
                "activity of {} records about objects beyond the first {MAX_OBJECTS} not drawn",
                self.objects_dropped
            ));
        }
        if self.audit_total > self.audit.len() as u64 {
            gaps.push(format!(
                "{} audit records beyond the first {MAX_AUDIT} not listed",
                self.audit_total - self.audit.len() as u64
            ));
        }
        let ev = correlator.evictions();
        for (what, n) in [
            ("objects", ev.objects),
            ("hosts", ev.hosts),
            ("tenants", ev.tenants),
            ("controllers", ev.controllers),
            ("consumer links", ev.consumers),
            ("root-cause claims", ev.claims),
            ("findings", ev.findings),
            ("audit de-duplication entries", ev.audit),
        ] {
            if n > 0 {
                gaps.push(format!("correlator state evicted at its caps: {n} {what}"));
            }
        }
        gaps.push(
            "Kubernetes Event uids are not kept by replay: evidence names the input file and line"
                .to_string(),
        );
        let findings = self
            .findings
            .into_values()
            .filter_map(|acc| {
                let finding = acc.last?;
                let mut evidence = acc.head;
                evidence.extend(acc.tail);
                Some(FindingHistory {
                    finding,
                    emissions: acc.emissions,
                    evidence,
                    evidence_omitted: acc.omitted,
                })
            })
            .collect();
        ReportData {
            version: meta.version,
            cluster: meta.cluster,
            inputs: meta.inputs,
            config: meta.config,
            findings,
            audit: self.audit,
            audit_total: self.audit_total,
            objects: correlator.object_views(),
            activity: self.activity,
            start: self.start,
            end: self.end,
            records: self.records,
            lines: meta.lines,
            gaps,
        }
    }
}

/// The SHA-256 and size of what a [`DigestReader`] has read, shared with its handle.
#[derive(Clone, Default)]
pub struct DigestHandle(Arc<Mutex<(Sha256, u64)>>);

impl DigestHandle {
    /// The input's description once it has been read.
    pub fn info(&self, name: &str) -> InputInfo {
        let (hasher, bytes) = match self.0.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let sha256 = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        InputInfo {
            name: name.to_string(),
            bytes,
            sha256,
        }
    }
}

/// Hashes what passes through it (the input's digest in the report: the bytes the
/// replay read, stdin included, without reading a file twice).
pub struct DigestReader<R> {
    inner: R,
    handle: DigestHandle,
}

impl<R> DigestReader<R> {
    pub fn new(inner: R) -> (Self, DigestHandle) {
        let handle = DigestHandle::default();
        (
            DigestReader {
                inner,
                handle: handle.clone(),
            },
            handle,
        )
    }

    fn update(&self, data: &[u8]) {
        let mut g = match self.handle.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.0.update(data);
        g.1 += data.len() as u64;
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.update(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for DigestReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let n = amt.min(buf.len());
            let data = buf[..n].to_vec();
            self.update(&data);
        }
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_of_the_bytes_read() {
        let (mut r, h) = DigestReader::new(&b"abc"[..]);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        let info = h.info("x");
        assert_eq!(info.bytes, 3);
        assert_eq!(
            info.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
