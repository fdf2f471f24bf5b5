//! The Markdown twin of the report: the same sections and tables, evidence in fenced
//! code blocks, the timeline as its table (no SVG), for pasting into an issue.
//!
//! Invariant: text outside code blocks is escaped for Markdown tables and inline HTML
//! (`|`, newlines, `<`, `>`, `&`, backticks); a code fence is longer than any backtick
//! run inside it, so log text can never close it.

use std::fmt::Write;

use super::view::{EvidenceRow, Page};

/// Text for a table cell or a line: no table breaks, no inline HTML, no code spans.
pub fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push_str("\\`"),
            '*' | '_' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `text` in a fenced code block whose fence no backtick run inside can close.
pub fn fenced(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{text}\n{fence}\n")
}

fn table(out: &mut String, head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

fn evidence(out: &mut String, e: &EvidenceRow) {
    let obj = if e.object.is_empty() {
        String::new()
    } else {
        format!(" · {}", cell(&e.object))
    };
    let _ = writeln!(
        out,
        "{} · {} · {} · {}{obj} · ×{}\n",
        cell(&e.when),
        cell(&e.source),
        cell(&e.controller),
        cell(&e.class),
        e.count
    );
    out.push_str(&fenced(&e.message));
    out.push('\n');
}

/// The page as Markdown (writing to a `String` cannot fail).
pub fn page(p: &Page) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {}\n\n{}\n", cell(&p.h1), cell(&p.lede));
    o.push_str("## Summary\n\n");
    if p.cards.is_empty() {
        o.push_str("No root cause of warning severity or worse was found in this input.\n\n");
    }
    for c in &p.cards {
        let _ = writeln!(o, "### {}\n", cell(&c.title));
        let blast: Vec<String> = c.blast.iter().map(|(w, n)| format!("{n} {w}")).collect();
        table(
            &mut o,
            &[
                "Status",
                "Severity",
                "Pattern",
                "First seen",
                "Last seen",
                "Duration",
                "Resolved",
                "Blast radius",
            ],
            [vec![
                c.status.clone(),
                c.severity.clone(),
                c.pattern.clone(),
                c.first.clone(),
                c.last.clone(),
                c.duration.clone(),
                c.resolved.to_string(),
                blast.join(", "),
            ]],
        );
        let _ = writeln!(o, "{}\n", cell(&c.summary));
        if !c.remediation.is_empty() {
            let _ = writeln!(o, "**Next step:** {}\n", cell(&c.remediation));
        }
    }
    if p.roots_more > 0 {
        let _ = writeln!(
            o,
            "{} more root findings are listed in the appendix only.\n",
            p.roots_more
        );
    }
    o.push_str("## Impact by tenant\n\n");
    table(
        &mut o,
        &[
            "Tenant",
            "Objects blocked",
            "Which",
            "First failure",
            "Last failure",
            "Staleness (worst case)",
        ],
        p.tenants.iter().map(|t| {
            vec![
                t.tenant.clone(),
                t.blocked.to_string(),
                t.objects.clone(),
                t.first.clone(),
                t.last.clone(),
                t.staleness.clone(),
            ]
        }),
    );
    o.push_str("## Causal graph\n\n");
    for f in &p.figures {
        let _ = writeln!(o, "### {}\n", cell(&f.title));
        table(
            &mut o,
            &["Object", "Role", "Status"],
            f.graph.nodes.iter().map(|n| {
                vec![
                    format!("{} {}", n.kind, n.name),
                    n.role.to_string(),
                    n.status.clone(),
                ]
            }),
        );
    }
    o.push_str("## Timeline\n\nTimes are UTC, from the records.\n\n");
    for f in &p.figures {
        let _ = writeln!(o, "### {}\n", cell(&f.title));
        table(
            &mut o,
            &["Object", "What", "From", "To", "Count"],
            f.timeline.rows.iter().map(|r| {
                vec![
                    r.object.clone(),
                    r.what.clone(),
                    r.from.clone(),
                    r.to.clone(),
                    r.count.clone(),
                ]
            }),
        );
    }
    o.push_str("## The change\n\nCompare links are printed, never fetched.\n\n");
    table(
        &mut o,
        &[
            "Object",
            "Tenant",
            "Last applied",
            "Applied at",
            "Last attempted",
            "Changed",
            "Compare",
        ],
        p.changes.iter().map(|c| {
            vec![
                c.object.clone(),
                c.tenant.clone(),
                c.applied.clone(),
                c.applied_at.clone(),
                c.attempted.clone(),
                if c.differs { "yes" } else { "no" }.to_string(),
                c.compare.clone().unwrap_or_else(|| "—".into()),
            ]
        }),
    );
    o.push_str("## Evidence\n\nVerbatim, secrets redacted; identical messages counted once.\n\n");
    for g in &p.evidence {
        let _ = writeln!(o, "### {}\n", cell(&g.title));
        for e in g.open.iter().chain(&g.more) {
            evidence(&mut o, e);
        }
        if g.omitted > 0 {
            let _ = writeln!(o, "{} more distinct messages omitted.\n", g.omitted);
        }
    }
    o.push_str("## Action items\n\n_To be written: owner, action, due date._\n\n");
    o.push_str(
        "## Lessons\n\n_To be written: what went well, what went wrong, where we got lucky._\n\n",
    );
    o.push_str("## Appendix\n\n### Every finding\n\n");
    table(
        &mut o,
        &[
            "Finding",
            "Id",
            "Pattern",
            "Severity",
            "Status",
            "Subject",
            "First seen",
            "Last seen",
            "Emissions",
            "Impacted",
        ],
        p.findings.iter().map(|f| {
            vec![
                f.title.clone(),
                f.id.clone(),
                f.pattern.clone(),
                f.severity.clone(),
                f.status.clone(),
                f.subject.clone(),
                f.first.clone(),
                f.last.clone(),
                f.emissions.to_string(),
                f.impacted.to_string(),
            ]
        }),
    );
    o.push_str("### Applied revisions (audit)\n\n");
    table(
        &mut o,
        &["When", "Action", "Object", "Revision", "Outcome"],
        p.audit.iter().map(|a| {
            vec![
                a.when.clone(),
                a.action.clone(),
                a.subject.clone(),
                a.revision.clone(),
                a.outcome.clone(),
            ]
        }),
    );
    if p.audit_more > 0 {
        let _ = writeln!(o, "{} earlier audit records not listed.\n", p.audit_more);
    }
    o.push_str("### Inputs\n\n");
    table(
        &mut o,
        &["Input", "Bytes", "SHA-256"],
        p.inputs
            .iter()
            .map(|i| vec![i.name.clone(), i.bytes.to_string(), i.sha256.clone()]),
    );
    o.push_str("### Version and configuration\n\n");
    table(
        &mut o,
        &["Setting", "Value"],
        std::iter::once(vec!["fluxsight version".to_string(), p.version.clone()])
            .chain(p.config.iter().map(|(k, v)| vec![k.clone(), v.clone()])),
    );
    o.push_str("### Coverage gaps\n\n");
    for g in &p.gaps {
        let _ = writeln!(o, "- {}", cell(g));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_outlasts_any_backtick_run() {
        let f = fenced("a ```` b");
        assert!(f.starts_with("`````text\n"), "{f}");
        assert!(f.ends_with("\n`````\n"));
        assert!(fenced("plain").starts_with("```text\n"));
    }

    #[test]
    fn cells_cannot_break_a_table_or_inject_html() {
        assert_eq!(cell("a|b\n<script>`x`"), "a\\|b &lt;script&gt;\\`x\\`");
    }
}
