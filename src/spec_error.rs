//! Config errors and where they are: [`SpecError`] (`file:line:column: field: message`),
//! placed by the parser.
//!
//! Owns: the one error type of every config section (patterns, correlation, sinks,
//! sources, receiver) and of the composed pipeline file; where an error goes, in this
//! order: the location serde-saphyr recorded for a `Spanned` value
//! ([`SpecError::at_value`], [`SpecError::located`]: route lists, `delivery:`,
//! `receiver:`, `kubernetes:`, `listen`), else the field's path in an index of every
//! key and value the parser read ([`PositionIndex`], [`position`]: fields serde buffers
//! and so strips of their location, i.e. inside an internally tagged `sinks:` item or a
//! flattened section); [`yaml_error`] turns a serde-saphyr error into a [`SpecError`]
//! at the offending field. The text search (`text`: [`locate`], [`line_of`]) is only the
//! fallback for a text that is not YAML, and what `correlate::spec` re-exports. Does not
//! own: any schema.
//!
//! Why at the bottom (tests/layers.rs): each component validates its own section with
//! these, and `config` composes them; were they owned by one component (they used to
//! live in `correlate::spec`), the others would import it and the tree would run in a
//! circle.
//!
//! Invariant: imports nothing from the crate; a [`Position`] is 1-based, column 0 means
//! unknown.

mod position;
mod text;

pub use position::{Position, PositionIndex};
pub use text::{line_of, locate};
use text::{locate_by_indent, yaml_error_line};

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
        Self::located(file, position(text, field), field, message)
    }

    /// An error about the field at `field`, at the location serde-saphyr recorded for
    /// `value` (a list item, a scalar in a flow mapping); at the field's path in `text`
    /// when the value came through a buffer that drops locations (see [`position`]).
    pub fn at_value<T>(
        file: &str,
        text: &str,
        field: &str,
        value: &serde_saphyr::Spanned<T>,
        message: impl Into<String>,
    ) -> Self {
        match Position::of(value.referenced) {
            Some(pos) => Self::located(file, pos, field, message),
            None => Self::at(file, text, field, message),
        }
    }

    /// An error about the field at `field`, at `pos`: where the parser read the value
    /// (a [`serde_saphyr::Spanned`] field's location, see [`Position::of`]).
    pub fn located(file: &str, pos: Position, field: &str, message: impl Into<String>) -> Self {
        SpecError {
            file: file.to_string(),
            line: pos.line,
            column: pos.column,
            field: field.to_string(),
            message: message.into(),
        }
    }
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
    index.nearest(path).unwrap_or_else(|| Position {
        line: line_of(text, path.rsplit('.').next().unwrap_or(path)),
        column: 0,
    })
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
