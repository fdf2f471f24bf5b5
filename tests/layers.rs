//! The module tree is one-way: no module of the library imports a layer above its own.
//!
//! Layers, bottom to top (ARCHITECTURE.md "Layers"): shared types (`record`, `time`,
//! `spec_error`, `tls`); `parse`; `classify`; `correlate` and the `delivery` units it
//! feeds; `render`; the I/O components (`sinks`, `sources`, `server`, `telemetry`);
//! `config`, which composes their sections into one checked pipeline file; `pipeline`;
//! the CLI (`main.rs` and the modules it declares) on top. A module may import its own
//! layer and any layer below, never one above. The test kits (`gen`, `fuzzing`) are not
//! in the library: they are the `fluxsight-testkit` crate (testkit/), outside this check.
//!
//! How: a small scanner reads every `src/**/*.rs`, blanks comments and string literals
//! (keeping offsets, so lines stay true), drops items under `#[cfg(test)]` (test code
//! may drive a module through a higher one, e.g. parser corpus tests through the
//! classifier; it is not part of the shipped dependency graph), and collects every
//! `crate::x` path (plain, in `use crate::{x, y}` groups, `$crate::x`) and every
//! `super::…` chain that climbs out to the crate root. No new crates: a regex-free
//! scanner is enough for paths.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Top-level modules (a file `src/x.rs` or folder `src/x/`) and their layer. A module
/// missing here fails the check: a new module must be placed on purpose.
const LAYERS: &[(&str, u8)] = &[
    ("record", 0),
    ("sym", 0),
    ("time", 0),
    ("spec_error", 0),
    ("tls", 0),
    ("parse", 1),
    ("classify", 2),
    ("correlate", 3),
    ("delivery", 3),
    ("signal", 3),
    ("fleet", 3),
    ("render", 4),
    ("sinks", 5),
    ("sources", 5),
    ("server", 5),
    ("telemetry", 5),
    ("config", 6),
    ("pipeline", 7),
    ("main", 8),
    ("cli", 8),
];

/// Upward imports still allowed, each with its reason: `(file, imported module, why)`.
/// An entry that no longer matches anything fails the check, so the list only shrinks.
const ALLOWED: &[(&str, &str, &str)] = &[];

fn layer_of(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// One import of a top-level module: where, and which module.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Import {
    line: usize,
    module: String,
}

/// `text` with comments, string and char literals replaced by spaces (newlines kept).
fn blank_literals(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (0usize, i);
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if (rest.starts_with(b"r\"") || rest.starts_with(b"r#") || rest.starts_with(b"br"))
            && !(i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // Raw string: r"…", r#"…"#, br"…".
            let start = if rest[0] == b'b' { i + 2 } else { i + 1 };
            let hashes = b[start..].iter().take_while(|&&c| c == b'#').count();
            if b.get(start + hashes) != Some(&b'"') {
                i += 1;
                continue;
            }
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            let body = start + hashes + 1;
            let end = b[body..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(b.len(), |p| body + p + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if rest[0] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if rest[0] == b'\'' {
            // A char literal ('x', '\n', '\u{1F600}', 'é'), or a lifetime ('a) left alone.
            if rest.get(1) == Some(&b'\\') {
                let end = b[i + 2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map_or(b.len(), |p| i + 2 + p + 1);
                blank(&mut out, i, end);
                i = end;
            } else {
                let ch_len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                if b.get(i + 1 + ch_len) == Some(&b'\'') {
                    blank(&mut out, i, i + 2 + ch_len);
                    i += 2 + ch_len;
                } else {
                    i += 1;
                }
            }
        } else {
            i += 1;
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The index just past the bracket matching the one at `open`.
fn skip_balanced(b: &[u8], open: usize) -> usize {
    let (o, c) = match b[open] {
        b'{' => (b'{', b'}'),
        b'(' => (b'(', b')'),
        _ => (b'[', b']'),
    };
    let mut depth = 0usize;
    let mut j = open;
    while j < b.len() {
        if b[j] == o {
            depth += 1;
        } else if b[j] == c {
            depth -= 1;
            if depth == 0 {
                return j + 1;
            }
        }
        j += 1;
    }
    b.len()
}

/// Blanks every item under `#[cfg(test)]` in `b` and returns the file names that
/// out-of-line `#[cfg(test)] mod x;` items declare (`x`, or their `#[path]`).
fn drop_test_items(b: &mut [u8], original: &str) -> Vec<String> {
    const CFG_TEST: &[u8] = b"#[cfg(test)]";
    let mut test_files = Vec::new();
    let mut i = 0;
    while let Some(p) = b[i..].windows(CFG_TEST.len()).position(|w| w == CFG_TEST) {
        let start = i + p;
        let mut j = skip_ws(b, start + CFG_TEST.len());
        let mut path_attr = None;
        // Further attributes (`#[path = "x_tests.rs"]`, `#[allow(…)]`).
        while b.get(j) == Some(&b'#') && b.get(j + 1) == Some(&b'[') {
            let end = skip_balanced(b, j + 1);
            let attr = &original[j..end];
            if let Some(rest) = attr.strip_prefix("#[path") {
                path_attr = rest.split('"').nth(1).map(str::to_string);
            }
            j = skip_ws(b, end);
        }
        // The item: up to `;` or a `{…}` block (and a `;` right after it).
        let mut k = j;
        while k < b.len() && b[k] != b';' && b[k] != b'{' {
            k += 1;
        }
        let end = if k < b.len() && b[k] == b'{' {
            let e = skip_balanced(b, k);
            let n = skip_ws(b, e);
            if b.get(n) == Some(&b';') {
                n + 1
            } else {
                e
            }
        } else {
            let head = String::from_utf8_lossy(&b[j..k]).to_string();
            let mut words = head.split_whitespace().skip_while(|w| w.starts_with("pub"));
            if words.next() == Some("mod") {
                if let Some(name) = words.next() {
                    test_files.push(path_attr.clone().unwrap_or(format!("{name}.rs")));
                    test_files.push(format!("{name}/mod.rs"));
                }
            }
            (k + 1).min(b.len())
        };
        for c in &mut b[start..end] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        i = end;
    }
    test_files
}

/// The top-level modules `code` imports: `crate::x`, `crate::{x, y::z}`, `$crate::x`,
/// and `super::` chains that climb `depth` levels to the crate root.
fn imports(code: &[u8], depth: usize) -> Vec<Import> {
    let line_at = |pos: usize| code[..pos].iter().filter(|&&c| c == b'\n').count() + 1;
    let ident_at = |pos: usize| {
        let end = code[pos..]
            .iter()
            .position(|&c| !is_ident(c))
            .map_or(code.len(), |e| pos + e);
        String::from_utf8_lossy(&code[pos..end]).to_string()
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let boundary = i == 0 || !(is_ident(code[i - 1]) || code[i - 1] == b':');
        let root = if !boundary {
            None
        } else if code[i..].starts_with(b"crate::") {
            Some(i + "crate::".len())
        } else if code[i..].starts_with(b"super::") && depth > 0 {
            let mut j = i;
            let mut n = 0;
            while code[j..].starts_with(b"super::") {
                j += "super::".len();
                n += 1;
            }
            (n >= depth).then_some(j)
        } else {
            None
        };
        let Some(at) = root else {
            i += 1;
            continue;
        };
        let at = skip_ws(code, at);
        if code.get(at) == Some(&b'{') {
            let end = skip_balanced(code, at);
            let inner = &code[at + 1..end.saturating_sub(1)];
            let mut level = 0usize;
            let mut item_start = 0;
            for (k, c) in inner
                .iter()
                .copied()
                .enumerate()
                .chain([(inner.len(), b',')])
            {
                match c {
                    b'{' => level += 1,
                    b'}' => level = level.saturating_sub(1),
                    b',' if level == 0 => {
                        let s = skip_ws(inner, item_start);
                        let abs = at + 1 + s;
                        let name = ident_at(abs);
                        if !name.is_empty() && name != "self" {
                            out.push(Import {
                                line: line_at(abs),
                                module: name,
                            });
                        }
                        item_start = k + 1;
                    }
                    _ => {}
                }
            }
            i = end;
        } else {
            let name = ident_at(at);
            let len = name.len();
            if !name.is_empty() {
                out.push(Import {
                    line: line_at(i),
                    module: name,
                });
            }
            i = at + len.max(1);
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under `src/`: `sinks/kafka/x.rs` → `[sinks, kafka, x]`,
/// `sinks/mod.rs` → `[sinks]`, `main.rs` → `[main]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    parts
}

/// The modules `main.rs` declares (`mod cli;`): they belong to the binary, which sits on
/// top of the library and may import any of it.
fn binary_modules(src: &Path) -> BTreeSet<String> {
    let Ok(text) = std::fs::read_to_string(src.join("main.rs")) else {
        return BTreeSet::new();
    };
    let code = String::from_utf8_lossy(&blank_literals(&text)).to_string();
    code.lines()
        .map(|l| {
            l.trim()
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ")
        })
        .filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';'))
        .map(|m| m.trim().to_string())
        .collect()
}

/// Every upward import in the crate: `file:line: layer violation message`.
fn violations(src: &Path) -> (Vec<String>, BTreeSet<(String, String)>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut test_files = BTreeSet::new();
    let mut scanned = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let mut code = blank_literals(&text);
        let declared = drop_test_items(&mut code, &text);
        let rel = f.strip_prefix(src).expect("under src").to_path_buf();
        let dir = match rel.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => rel.parent().map(Path::to_path_buf),
            _ => Some(rel.with_extension("")),
        }
        .unwrap_or_default();
        for d in declared {
            // `#[path]` is relative to the declaring file's folder.
            test_files.insert(dir.join(&d));
            test_files.insert(rel.parent().unwrap_or(Path::new("")).join(&d));
        }
        scanned.push((rel, code));
    }
    let binary = binary_modules(src);
    let mut found = Vec::new();
    let mut used_exceptions = BTreeSet::new();
    for (rel, code) in &scanned {
        let is_test_file = test_files.iter().any(|t| {
            rel == t
                || t.parent()
                    .is_some_and(|p| t.ends_with("mod.rs") && rel.starts_with(p))
        });
        if is_test_file || rel == Path::new("lib.rs") {
            continue;
        }
        let path = module_path(rel);
        let top = &path[0];
        if top == "main" || binary.contains(top) {
            continue; // the binary is the top layer
        }
        let Some(own) = layer_of(top) else {
            found.push(format!(
                "src/{}:1: module `{top}` has no layer: add it to LAYERS in tests/layers.rs",
                rel.display()
            ));
            continue;
        };
        for imp in imports(code, path.len()) {
            if imp.module == *top {
                continue;
            }
            let Some(theirs) = layer_of(&imp.module) else {
                continue; // `crate::SomeItem` at the root, or an unplaced module reported above
            };
            if theirs <= own {
                continue;
            }
            let file = format!("src/{}", rel.display());
            if ALLOWED
                .iter()
                .any(|(f, m, _)| *f == file && *m == imp.module)
            {
                used_exceptions.insert((file, imp.module.clone()));
                continue;
            }
            found.push(format!(
                "{file}:{}: `{top}` (layer {own}) imports `{}` (layer {theirs}), a layer above it",
                imp.line, imp.module
            ));
        }
    }
    (found, used_exceptions)
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (found, used) = violations(&src);
    let stale: Vec<String> = ALLOWED
        .iter()
        .filter(|(f, m, _)| !used.contains(&(f.to_string(), m.to_string())))
        .map(|(f, m, why)| format!("{f} → {m} ({why}) no longer occurs: remove it from ALLOWED"))
        .collect();
    assert!(
        found.is_empty() && stale.is_empty(),
        "layer check (tests/layers.rs) failed:\n{}",
        found
            .iter()
            .chain(&stale)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let binary = binary_modules(&src);
    let mut missing = Vec::new();
    for e in std::fs::read_dir(&src).expect("src") {
        let p = e.expect("entry").path();
        let name = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        if name != "lib"
            && !binary.contains(&name)
            && (p.is_dir() || p.extension().is_some_and(|x| x == "rs"))
            && layer_of(&name).is_none()
        {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "modules without a layer: {missing:?}");
}

#[test]
fn scanner_finds_paths_and_ignores_comments_strings_and_tests() {
    let text = r#"
//! Links to [`crate::sinks`] in docs do not count.
use crate::record::Record;
use crate::{parse::time, sinks::{Delivery, Group}};
const S: &str = "crate::pipeline";
fn f() { let c = '"'; let _ = crate::server::x(c); }
#[cfg(test)]
mod tests {
    use crate::pipeline::classify;
}
#[cfg(test)]
use crate::correlate::state;
fn g<'a>(x: &'a str) -> &'a str { super::super::sources::y(x) }
"#;
    let mut code = blank_literals(text);
    drop_test_items(&mut code, text);
    let got: Vec<(usize, String)> = imports(&code, 2)
        .into_iter()
        .map(|i| (i.line, i.module))
        .collect();
    let want: Vec<(usize, String)> = [
        (3, "record"),
        (4, "parse"),
        (4, "sinks"),
        (6, "server"),
        (13, "sources"),
    ]
    .iter()
    .map(|(l, m)| (*l, m.to_string()))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn test_files_declared_under_cfg_test_are_recognised() {
    let text =
        "#[cfg(test)]\n#[path = \"table_tests.rs\"]\nmod tests;\n#[cfg(test)]\nmod corpus;\n";
    let mut code = blank_literals(text);
    let files = drop_test_items(&mut code, text);
    assert_eq!(
        files,
        vec![
            "table_tests.rs",
            "tests/mod.rs",
            "corpus.rs",
            "corpus/mod.rs"
        ]
    );
}

/// The check on a made-up tree: a parser importing a sink (a real upward import) and a
/// test kit put back into the library (`src/gen/`, a module with no layer since the
/// kits moved to testkit/) both fail it, naming the file.
#[test]
fn an_upward_import_and_a_test_kit_back_in_the_library_fail_the_check() {
    let src = std::env::temp_dir().join(format!("fluxsight-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&src);
    for (file, text) in [
        ("lib.rs", "pub mod parse;\npub mod sinks;\npub mod gen;\n"),
        ("parse/mod.rs", "use crate::sinks::Delivery;\n"),
        (
            "sinks/mod.rs",
            "use crate::parse::LineDecoder;\npub struct Delivery;\n",
        ),
        ("gen/mod.rs", "use crate::record::TsMs;\n"),
    ] {
        let path = src.join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
    let (found, _) = violations(&src);
    std::fs::remove_dir_all(&src).expect("clean up");
    assert_eq!(
        found,
        [
            "src/gen/mod.rs:1: module `gen` has no layer: add it to LAYERS in tests/layers.rs",
            "src/parse/mod.rs:1: `parse` (layer 1) imports `sinks` (layer 5), a layer above it",
        ],
        "{found:#?}"
    );
    assert!(["gen", "fuzzing"].iter().all(|m| layer_of(m).is_none()));
}
