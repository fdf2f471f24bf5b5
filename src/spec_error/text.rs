//! The text-search locator: where a field is when the text is not YAML (so serde-saphyr
//! gave no positions), found by indentation and by searching for `key:`.
//!
//! Owns: [`line_of`] and [`locate`] (the line alone of [`super::position`]), kept public
//! because `correlate::spec` re-exports them (its callers' old paths), and the fallbacks of [`super::position`] and
//! [`super::yaml_error`]. Does not own: the position of any field of a document that
//! parses; that comes from the parser (`Spanned` values, [`super::PositionIndex`]).
//! The sink, route, delivery, receiver and Kubernetes sections never reach this module.
//!
//! Invariant: best effort; never panics on any text.

/// Line of a field path such as `routes[1].match.severity_min` or `sinks[0].url`
/// (see [`super::position`]).
pub fn locate(text: &str, path: &str) -> usize {
    super::position(text, path).line
}

/// The line of `path` from indentation: walks to the section, then its n-th list item,
/// then each key in turn. Falls back to [`line_of`] on the last key.
pub(super) fn locate_by_indent(text: &str, path: &str) -> usize {
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

/// The line a serde-saphyr message names (`… at line N …`); 1 when it names none.
pub(super) fn yaml_error_line(msg: &str) -> usize {
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
