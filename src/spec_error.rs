//! Config errors and where they are: [`SpecError`] (`file:line:column: field: message`)
//! and the locator that finds a field path such as `sinks[0].url` in the YAML text.
//!
//! Owns: the one error type of every config section (patterns, correlation, sinks,
//! sources, receiver) and of the composed pipeline file, [`position`] / [`locate`] /
//! [`line_of`], and [`yaml_error`], which turns a serde-saphyr error into a
//! [`SpecError`] at the offending field. Does not own: any schema.
//!
//! Why at the bottom (tests/layers.rs): each component validates its own section with
//! these, and `config` composes them; were they owned by one component (they used to
//! live in `correlate::spec`), the others would import it and the tree would run in a
//! circle.
//!
//! Invariant: imports nothing from the crate; a [`Position`] is 1-based, column 0 means
//! unknown.

mod position;

pub use position::{Position, PositionIndex};

/// A configuration problem, naming file, line, column and field:
/// `file:line:column: field: message`, or `file:line: field: message` when the column
/// is unknown (0).
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{file}:{line}{}: {field}: {message}", column_suffix(.column))]
pub struct SpecError {
    pub file: String,
    /// 1-based; 0 when the error is about the whole file.
    pub line: usize,
    /// 1-based; 0 when unknown.
    pub column: usize,
    pub field: String,
    pub message: String,
}

fn column_suffix(column: &usize) -> String {
    match column {
        0 => String::new(),
        c => format!(":{c}"),
    }
}

impl SpecError {
    /// An error about the field at `field` (a path such as `sinks[0].url`), placed at
    /// that field's value in `text` (see [`position`]).
    pub fn at(file: &str, text: &str, field: &str, message: impl Into<String>) -> Self {
        let pos = position(text, field);
        SpecError {
            file: file.to_string(),
            line: pos.line,
            column: pos.column,
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// Line of a field path such as `routes[1].match.severity_min` or `sinks[0].url`
/// (see [`position`]).
pub fn locate(text: &str, path: &str) -> usize {
    position(text, path).line
}

/// Line and column of a field path such as `routes[1].match.severity_min`: of its value
/// when the value starts on the key's line (`url: ftp://x` points at `ftp://x`), else of
/// its key (a block section or list); of the nearest enclosing field that exists when
/// the field itself is absent (a missing key). When `text` is not YAML, the line from
/// indentation alone and column 0.
pub fn position(text: &str, path: &str) -> Position {
    let Some(index) = PositionIndex::new(text) else {
        return Position {
            line: locate_by_indent(text, path),
            column: 0,
        };
    };
    let mut p = path;
    loop {
        if let Some(pos) = index.field(p) {
            return pos;
        }
        match p.rfind(['.', '[']) {
            Some(i) => p = &p[..i],
            None => {
                return Position {
                    line: line_of(text, path.rsplit('.').next().unwrap_or(path)),
                    column: 0,
                }
            }
        }
    }
}

/// The line of `path` from indentation: walks to the section, then its n-th list item,
/// then each key in turn. Falls back to [`line_of`] on the last key.
fn locate_by_indent(text: &str, path: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut start = 0usize;
    let mut end = lines.len();
    let mut found_any = false;
    for seg in path.split('.') {
        let (key, idx) = match seg.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        let needle = format!("{key}:");
        let Some(pos) = (start..end).find(|&i| {
            let t = lines[i].trim_start().trim_start_matches("- ");
            t.starts_with(&needle)
        }) else {
            break;
        };
        found_any = true;
        let base_indent = indent(lines[pos]);
        let mut sec_end = lines.len().min(end);
        for (i, line) in lines.iter().enumerate().take(end).skip(pos + 1) {
            if !line.trim().is_empty()
                && indent(line) <= base_indent
                && !line.trim_start().starts_with("- ")
            {
                sec_end = i;
                break;
            }
        }
        start = pos;
        end = sec_end;
        if let Some(n) = idx {
            let items: Vec<usize> = (pos + 1..sec_end)
                .filter(|&i| lines[i].trim_start().starts_with("- "))
                .collect();
            let item_indent = items.first().map(|&i| indent(lines[i]));
            let items: Vec<usize> = items
                .into_iter()
                .filter(|&i| Some(indent(lines[i])) == item_indent)
                .collect();
            if let Some(&it) = items.get(n) {
                start = it;
                end = items.get(n + 1).copied().unwrap_or(sec_end);
            }
        }
    }
    if found_any {
        start + 1
    } else {
        line_of(text, path.rsplit('.').next().unwrap_or(path))
    }
}

/// Best-effort line of `field:` in `text`, for error messages.
pub fn line_of(text: &str, field: &str) -> usize {
    let needle = format!("{field}:");
    text.lines()
        .position(|l| l.trim_start().starts_with(&needle))
        .map(|i| i + 1)
        .unwrap_or(1)
}

fn yaml_error_line(msg: &str) -> usize {
    // serde-saphyr messages carry "line N"; fall back to 1.
    let lower = msg.to_ascii_lowercase();
    lower
        .find("line ")
        .and_then(|i| {
            lower[i + 5..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse().ok())
        })
        .unwrap_or(1)
}

/// A YAML/serde error as a [`SpecError`] at the field's own line and column, with the
/// field's path (`sinks[0].max_batch`).
///
/// serde-saphyr's location is exact for a plain struct field (the offending value, or
/// an unknown key); inside a `sinks:` item (an internally tagged enum, buffered by
/// serde) it is the item's first key, and [`PositionIndex::error_field`] finds the
/// field within the item: the unknown key, or the value the message quotes (`"ten"` of
/// `max_batch: "ten"`: the column is the value's, since the value is what is wrong).
pub fn yaml_error(e: &serde_saphyr::Error, file: &str, text: &str) -> SpecError {
    use serde_saphyr::MessageFormatter;
    let message: String = serde_saphyr::DefaultMessageFormatter
        .format_message(e)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let at = e
        .location()
        .and_then(Position::of)
        .unwrap_or_else(|| Position {
            line: yaml_error_line(&e.to_string()),
            column: 0,
        });
    let found = PositionIndex::new(text).and_then(|index| index.error_field(at, &message));
    let (field, pos) = found.unwrap_or_else(|| {
        let named = |marker: &str| {
            let rest = &message[message.find(marker)? + marker.len()..];
            rest.find('`').map(|j| rest[..j].to_string())
        };
        match named("unknown field `").or_else(|| named("missing field `")) {
            Some(f) => (f, at),
            None => ("(document)".into(), at),
        }
    });
    SpecError {
        file: file.to_string(),
        line: pos.line,
        column: pos.column,
        field,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a column, the text keeps the old `file:line: field: message` form; an
    /// absent field is placed at its nearest enclosing field.
    #[test]
    fn display_without_column_and_absent_fields() {
        let e = SpecError {
            file: "f.yaml".into(),
            line: 3,
            column: 0,
            field: "x".into(),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "f.yaml:3: x: bad");
        let text = "sinks:\n  - name: a\n    type: stdout\n";
        assert_eq!(
            position(text, "sinks[0].path"),
            Position { line: 2, column: 5 }
        );
        assert_eq!(position("a: [1\n", "a").column, 0);
    }
}
