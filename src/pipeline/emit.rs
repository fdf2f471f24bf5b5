//! Findings and audit records on stdout, the one emitter of `replay` and `run`: which
//! schema each output is written in (`--output`), whether audit records are written
//! (`--audit`), and the text forms. Rendering itself stays in `render`; this owns only
//! the choices and what they need to remember (findings already shown, the text state).
//!
//! The rules, the same for both commands: a finding is one JSON line in the chosen
//! schema; an audit record (with `--audit`) is one JSON line in the same schema; in text,
//! findings are human text (one report at the end for `replay`, a block or a line per
//! change for `run`) and audit records are counted, their number written at the end.
//! An OCSF finding is "created" the first time its id is written, "updated" after.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use crate::correlate::{Finding, Output};
use crate::render::colour::Palette;
use crate::render::finding::{self, OutputFormat};

mod text;
use text::LiveText;

/// Finding ids remembered to tell an OCSF finding's first emission from its updates;
/// past it the memory restarts (a live run must not grow without bound).
const MAX_SEEN: usize = 100_000;

/// How text output is shaped.
enum TextForm {
    /// One report of every finding's last state at the end (`replay`).
    Report(HashMap<String, Finding>),
    /// A block when a finding fires or resolves, a line per update (`run`).
    Stream(LiveText),
}

/// Writes findings and audit records in one output format; see the module docs.
pub struct OutputEmitter {
    format: OutputFormat,
    audit: bool,
    palette: Palette,
    text: TextForm,
    seen: HashSet<String>,
    audit_records: u64,
}

impl OutputEmitter {
    /// The emitter of `replay`: text is one report at the end.
    pub fn report(format: OutputFormat, audit: bool, palette: Palette) -> Self {
        Self::new(format, audit, palette, TextForm::Report(HashMap::new()))
    }

    /// The emitter of `run`: text is written as findings change.
    pub fn stream(format: OutputFormat, audit: bool, palette: Palette) -> Self {
        Self::new(
            format,
            audit,
            palette,
            TextForm::Stream(LiveText::default()),
        )
    }

    fn new(format: OutputFormat, audit: bool, palette: Palette, text: TextForm) -> Self {
        OutputEmitter {
            format,
            audit,
            palette,
            text,
            seen: HashSet::new(),
            audit_records: 0,
        }
    }

    /// Audit records taken so far (`--audit` only).
    pub fn audit_records(&self) -> u64 {
        self.audit_records
    }

    /// Writes one output to `out` (nothing for an audit record without `--audit`).
    pub fn write<W: Write>(&mut self, out: &mut W, o: &Output) -> io::Result<()> {
        let v = match o {
            Output::Finding(f) => match self.format {
                OutputFormat::Native => finding::native(f),
                OutputFormat::Ocsf => {
                    let first = f.emission <= 1 && self.first_sight(&f.id);
                    finding::ocsf(f, first)
                }
                OutputFormat::Ecs => finding::ecs(f),
                OutputFormat::Text => return self.text(out, f),
            },
            Output::Audit(a) => {
                if !self.audit {
                    return Ok(());
                }
                self.audit_records += 1;
                match self.format {
                    OutputFormat::Native => finding::audit_native(a),
                    OutputFormat::Ocsf => finding::audit_ocsf(a),
                    OutputFormat::Ecs => finding::audit_ecs(a),
                    OutputFormat::Text => return Ok(()),
                }
            }
        };
        serde_json::to_writer(&mut *out, &v)?;
        out.write_all(b"\n")
    }

    /// The end of output: the text report (`replay`) and the number of audit records
    /// (text with `--audit`). Does not flush.
    pub fn finish<W: Write>(&mut self, out: &mut W) -> io::Result<()> {
        if self.format != OutputFormat::Text {
            return Ok(());
        }
        if let TextForm::Report(last) = &mut self.text {
            let mut v: Vec<Finding> = std::mem::take(last).into_values().collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            out.write_all(finding::text_report_in(&v, self.palette).as_bytes())?;
        }
        if self.audit {
            writeln!(out, "\naudit records: {}", self.audit_records)?;
        }
        Ok(())
    }

    fn text<W: Write>(&mut self, out: &mut W, f: &Finding) -> io::Result<()> {
        match &mut self.text {
            TextForm::Report(last) => {
                last.insert(f.id.clone(), f.clone());
                Ok(())
            }
            TextForm::Stream(live) => out.write_all(live.render(f, self.palette).as_bytes()),
        }
    }

    /// Whether `id` is written for the first time.
    fn first_sight(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.seen.len() >= MAX_SEEN {
            self.seen.clear();
        }
        self.seen.insert(id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::PatternId;
    use crate::record::ObjectRef;

    fn finding(id: &str) -> Finding {
        Finding {
            id: id.into(),
            title: "cannot authenticate".into(),
            summary: "failed".into(),
            tenant: "team-a".into(),
            tenants: vec!["team-a".into()],
            first_seen: 1,
            last_seen: 2,
            remediation: "rotate the token".into(),
            last_counted: 2,
            ..Finding::example(
                PatternId::GitAuthFailure,
                ObjectRef::new("GitRepository", "team-a", "app"),
            )
        }
    }

    /// The OCSF activity names of writing `ids` (each a first emission) in both forms.
    fn activities(emitter: &mut OutputEmitter, ids: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for id in ids {
            let o = Output::Finding(Box::new(finding(id)));
            emitter.write(&mut out, &o).unwrap();
        }
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| v["activity_name"].as_str().unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn an_ocsf_finding_is_created_once_per_id_in_run_as_in_replay() {
        for mut emitter in [
            OutputEmitter::report(OutputFormat::Ocsf, false, Palette::Plain),
            OutputEmitter::stream(OutputFormat::Ocsf, false, Palette::Plain),
        ] {
            assert_eq!(
                activities(&mut emitter, &["a", "a", "b"]),
                ["Create", "Update", "Create"]
            );
        }
    }
}
