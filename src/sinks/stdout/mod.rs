//! `type: stdout`: JSON lines (or the text line) on standard output.

pub mod config;

use std::io::Write;

use crate::sinks::body::render_all;
use crate::sinks::config::{BodyFormat, StdoutConfig};
use crate::sinks::{BoxFut, Delivery, Sink, SinkError};

pub struct StdoutSink {
    format: BodyFormat,
}

impl StdoutSink {
    pub fn new(cfg: &StdoutConfig) -> Self {
        StdoutSink { format: cfg.format }
    }
}

impl Sink for StdoutSink {
    fn send<'a>(&'a mut self, batch: &'a [Delivery]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for d in batch {
                if self.format == BodyFormat::Text {
                    for f in d.findings() {
                        writeln!(out, "{}", crate::render::finding::text_line(f))
                            .map_err(|e| SinkError::retryable(e.to_string()))?;
                    }
                    continue;
                }
                for v in render_all(d, self.format) {
                    writeln!(out, "{v}").map_err(|e| SinkError::retryable(e.to_string()))?;
                }
            }
            out.flush().map_err(|e| SinkError::retryable(e.to_string()))
        })
    }

    fn max_batch(&self) -> usize {
        256
    }
}
