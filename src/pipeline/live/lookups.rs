//! The live pipeline's workload lookups: the correlator (pure) asks for them after a
//! health-check failure names workloads (`Correlator::take_lookups`); this module runs
//! them against the API server (`sources::kube::lookup::Lookups`: rate gate,
//! concurrency cap, deadline, RBAC fallback), decodes and classifies what they fetched
//! like any other input line, and hands the result back to the correlator loop over a
//! bounded channel (`Correlator::lookup_result`), so the finding names the cause as
//! soon as the documents are in.
//!
//! Owns: one task per admitted lookup. Does not own: which lookups to ask for and how
//! often per workload (the correlator), the limits and counters (the `Lookups` runner).
//! Without a cluster (`--no-kube`, replay) the requests are dropped: the correlator then
//! judges from the Events and Pod documents its input carries.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::classify::Classifier;
use crate::correlate::workload::{Lookup, LookupResult};
use crate::parse::LineDecoder;
use crate::record::{Format, Record};
use crate::sources::kube::lookup::{Lookups, WorkloadTarget};

/// What `run` needs to look workloads up: the cluster's client and the
/// `kubernetes.lookups` settings (`None` in `LiveOptions` without a cluster).
pub struct LookupSource {
    pub client: kube::Client,
    pub settings: crate::sources::kube::config::LookupSettings,
}

/// Results waiting for the correlator loop; a full channel makes lookup tasks wait (at
/// most `lookup::CONCURRENCY` run at once, so this never holds many).
pub(super) const RESULT_CHANNEL: usize = 16;

/// Runs lookups for the correlator loop.
pub(super) struct LookupRunner {
    lookups: Arc<Lookups>,
    classifier: Arc<Classifier>,
    tx: mpsc::Sender<LookupResult>,
}

impl LookupRunner {
    pub(super) fn new(lookups: Arc<Lookups>, tx: mpsc::Sender<LookupResult>) -> LookupRunner {
        LookupRunner {
            lookups,
            classifier: Arc::new(Classifier::builtin()),
            tx,
        }
    }

    /// Starts one task per lookup; each sends its result when the fetch is done (a
    /// skipped lookup — duplicate, rate cap, not a workload — sends nothing).
    pub(super) fn start(&self, asked: Vec<Lookup>) {
        for l in asked {
            let (lookups, classifier, tx) = (
                self.lookups.clone(),
                self.classifier.clone(),
                self.tx.clone(),
            );
            tokio::spawn(async move {
                let target =
                    WorkloadTarget::new(&l.workload.kind, &l.workload.namespace, &l.workload.name);
                let Some(fetched) = lookups.lookup(&target).await.fetched() else {
                    return;
                };
                let result = LookupResult {
                    workload: l.workload,
                    records: decode_docs(&fetched.docs, &classifier),
                    denied: fetched.denied,
                    at: l.at,
                };
                // The loop is gone at shutdown: nothing left to tell.
                let _ = tx.send(result).await;
            });
        }
    }
}

/// The fetched documents as classified records, as the decode stage makes them: one
/// decoder over the lines (each a whole JSON document), finished at the end.
pub(super) fn decode_docs(docs: &[String], classifier: &Classifier) -> Vec<Record> {
    let mut decoder = LineDecoder::new(None);
    let mut records: Vec<Record> = docs
        .iter()
        .flat_map(|d| decoder.decode(d.as_bytes()))
        .collect();
    records.extend(decoder.finish());
    records.retain(|r| !matches!(r.format, Format::Partial | Format::Continuation));
    for rec in &mut records {
        classifier.classify(rec);
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetched_documents_decode_as_kubernetes_records() {
        let docs = vec![
            r#"{"type":"ADDED","object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop","uid":"d1"},"spec":{"replicas":3},"status":{"replicas":3,"availableReplicas":0}}}"#.to_string(),
            r#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"Event","metadata":{"name":"web-1.a","namespace":"shop"},"involvedObject":{"kind":"Pod","namespace":"shop","name":"web-7d9f4c8b6-abcde","uid":"p1"},"reason":"Failed","message":"Failed to pull image \"ghcr.io/acme/web:v1.4.3\": rpc error: code = NotFound desc = failed to pull and unpack image \"ghcr.io/acme/web:v1.4.3\": failed to resolve reference \"ghcr.io/acme/web:v1.4.3\": ghcr.io/acme/web:v1.4.3: not found","type":"Warning","source":{"component":"kubelet"},"count":3,"firstTimestamp":"2025-06-02T10:02:00Z","lastTimestamp":"2025-06-02T10:04:00Z"}}"#.to_string(),
        ];
        let recs = decode_docs(&docs, &Classifier::builtin());
        let kinds: Vec<(String, String)> = recs
            .iter()
            .map(|r| {
                let o = r.object.as_ref().expect("an object");
                (o.kind.to_string(), o.name.to_string())
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("Deployment".into(), "web".into()),
                ("Pod".into(), "web-7d9f4c8b6-abcde".into())
            ]
        );
        assert!(recs.iter().all(|r| r.format != Format::Text), "{recs:?}");
    }
}
