//! `fluxsight get findings`: the findings of a running fluxsight, as `flux get` shows
//! objects: aligned columns (NAMESPACE with `-A`), or the API's items as JSON or YAML.
//! Owns: the flags' mapping onto the API's query parameters, the table and its cells
//! (control characters never reach the terminal). Does not own the request
//! ([`super::client`]) or the findings' order (the API's: firing first, then severity,
//! then the most recently seen).

use std::io::Write;
use std::process::ExitCode;

use serde_json::Value;
use unicode_width::UnicodeWidthStr;

use fluxsight::correlate::PatternId;
use fluxsight::server::api::{
    PARAM_LIMIT, PARAM_NAMESPACE, PARAM_PATTERN, PARAM_STATUS, PARAM_TENANT,
};
use fluxsight::server::findings::MAX_LIMIT;

use super::args::{GetFindingsArgs, GetFormatArg, StatusArg};
use super::client::FindingsClient;
use super::common::usage;
use super::explain::unknown_id;

/// `fluxsight get findings`.
pub fn findings(args: GetFindingsArgs) -> anyhow::Result<ExitCode> {
    if let Some(p) = args
        .pattern
        .as_deref()
        .filter(|p| PatternId::parse(p).is_none())
    {
        return Ok(usage(unknown_id("--pattern", p)));
    }
    let client = match FindingsClient::new(&args.server.server)? {
        Ok(c) => c,
        Err(e) => return Ok(usage(e)),
    };
    let answer = match client.list(&params(&args)) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("fluxsight: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let items = answer
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total = answer
        .get("total")
        .and_then(Value::as_u64)
        .unwrap_or(items.len() as u64);
    match print(&args, &items) {
        // A pager or `head` that stopped reading is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        r => r?,
    }
    if total > items.len() as u64 {
        eprintln!(
            "fluxsight: showing the first {} of {total} findings; narrow them with --status, --pattern, --tenant or -n",
            items.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `items` on stdout in the format asked for.
fn print(args: &GetFindingsArgs, items: &[Value]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match args.output {
        GetFormatArg::Json => writeln!(out, "{}", serde_json::to_string_pretty(items)?)?,
        GetFormatArg::Yaml => {
            let yaml = serde_saphyr::to_string(&items).map_err(std::io::Error::other)?;
            write!(out, "{yaml}")?
        }
        GetFormatArg::Table if items.is_empty() => {
            let place = if args.all_namespaces {
                String::new()
            } else {
                format!(" in {} namespace", args.namespace)
            };
            eprintln!("fluxsight: no findings found{place}");
        }
        GetFormatArg::Table => {
            let now = fluxsight::time::now_ms();
            write!(out, "{}", table(items, args.all_namespaces, now))?;
        }
    }
    out.flush()
}

/// The API query of the flags.
fn params(args: &GetFindingsArgs) -> Vec<(&'static str, String)> {
    let mut p = vec![(PARAM_LIMIT, MAX_LIMIT.to_string())];
    match args.status {
        StatusArg::Firing => p.push((PARAM_STATUS, "firing".into())),
        StatusArg::Resolved => p.push((PARAM_STATUS, "resolved".into())),
        StatusArg::All => {}
    }
    if !args.all_namespaces {
        p.push((PARAM_NAMESPACE, args.namespace.clone()));
    }
    if let Some(v) = &args.pattern {
        p.push((PARAM_PATTERN, v.clone()));
    }
    if let Some(v) = &args.tenant {
        p.push((PARAM_TENANT, v.clone()));
    }
    p
}

/// A string field of a native finding (`a.b` reaches into objects), printable.
pub fn field(f: &Value, path: &str) -> String {
    let v = path.split('.').try_fold(f, |v, k| v.get(k));
    cell(v.and_then(Value::as_str).unwrap_or(""))
}

/// Text for one table cell: control characters (an escape sequence in a log message)
/// become spaces, so a cell can neither restyle the terminal nor break a row.
pub fn cell(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// How long ago `then` was, as kubectl prints ages: `45s`, `12m`, `5h`, `3d`, `2y`.
pub fn age(now_ms: i64, then_ms: i64) -> String {
    let s = (now_ms - then_ms).max(0) / 1000;
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 120 * 60 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s if s < 730 * 86_400 => format!("{}d", s / 86_400),
        s => format!("{}y", s / (365 * 86_400)),
    }
}

/// The findings as aligned columns; MESSAGE (the title) last, unpadded.
pub fn table(items: &[Value], all_namespaces: bool, now_ms: i64) -> String {
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(items.len() + 1);
    let mut header = vec![
        "ID", "PATTERN", "SUBJECT", "STATUS", "SEVERITY", "SINCE", "MESSAGE",
    ];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    rows.push(header.into_iter().map(String::from).collect());
    for f in items {
        let since = f
            .get("first_seen")
            .and_then(Value::as_str)
            .and_then(fluxsight::parse::time::parse_ts)
            .map_or_else(|| "-".into(), |t| age(now_ms, t));
        let mut row = vec![
            field(f, "id"),
            field(f, "pattern"),
            format!("{}/{}", field(f, "subject.kind"), field(f, "subject.name")),
            field(f, "status"),
            field(f, "severity"),
            since,
            field(f, "title"),
        ];
        if all_namespaces {
            let ns = field(f, "subject.namespace");
            row.insert(0, if ns.is_empty() { "-".into() } else { ns });
        }
        rows.push(row);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().map(|r| r[i].width()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < columns {
                out.push_str(&" ".repeat(widths[i] - c.width() + 3));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ages_read_as_kubectl_prints_them() {
        let s = 1000;
        assert_eq!(age(45 * s, 0), "45s");
        assert_eq!(age(12 * 60 * s, 0), "12m");
        assert_eq!(age(5 * 3600 * s, 0), "5h");
        assert_eq!(age(3 * 86_400 * s, 0), "3d");
        assert_eq!(age(800 * 86_400 * s, 0), "2y");
        assert_eq!(age(0, 5 * s), "0s");
    }

    #[test]
    fn columns_align_on_visible_width_and_cells_lose_control_characters() {
        let f = |ns: &str, title: &str| {
            json!({"id": "0123456789abcdef", "pattern": "build_failure", "status": "firing",
                   "severity": "error", "first_seen": "2026-01-01T00:00:00.000Z",
                   "subject": {"kind": "Kustomization", "namespace": ns, "name": "äpps"},
                   "title": title})
        };
        let now = fluxsight::parse::time::parse_ts("2026-01-01T00:05:00Z").unwrap();
        let t = table(
            &[f("flux-system", "a\u{1b}[2Jb"), f("", "second")],
            true,
            now,
        );
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("NAMESPACE     ID "), "{t}");
        assert!(lines[1].starts_with("flux-system   0123456789abcdef   build_failure   Kustomization/äpps   firing   error      5m      a [2Jb"), "{t}");
        assert!(lines[2].starts_with("-             "), "{t}");
        let col = |l: &str| {
            l.find("MESSAGE")
                .or_else(|| l.find("a [2Jb"))
                .or_else(|| l.find("second"))
        };
        let at = |l: &str| l[..col(l).unwrap()].chars().count();
        assert_eq!(at(lines[0]), at(lines[1]));
        assert_eq!(at(lines[1]), at(lines[2]));
        assert!(!t.contains('\u{1b}'));
        assert!(!table(&[f("ns", "x")], false, now).contains("NAMESPACE"));
    }
}
