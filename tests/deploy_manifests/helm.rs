//! A renderer for the subset of Helm's Go templates `charts/fluxsight` uses, so the chart
//! is rendered by `cargo test` where no `helm` binary can be installed.
//!
//! Supported: text and `{{ }}` actions with `{{-`/`-}}` trimming and `{{/* */}}`
//! comments; `if`/`else if`/`else`/`end`; `define`/`end` in any template; pipelines
//! (`a | f b`, the piped value last); fields of `.` and `$` (`.Values.x`,
//! `.Release.Namespace`, `.Chart.AppVersion`, `$.Template.BasePath`); string, number
//! and bool literals; parentheses. Functions: `include`, `print`, `sha256sum`, `toYaml`,
//! `nindent`, `indent`, `quote`, `default`, `eq`, `ne`, `not`, `and`, `or`, `fail`,
//! `.Files.Get`. Anything else (`range`, `with`, variables, another function) is an
//! error, never output: a template the renderer does not understand must not pass.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Out(String),
    If(Vec<(String, Vec<Node>)>, Vec<Node>),
}

/// A chart read from disk: its templates and named templates.
pub struct Chart {
    dir: PathBuf,
    meta: Value,
    pub values: Value,
    templates: BTreeMap<String, Vec<Node>>,
    defines: BTreeMap<String, Vec<Node>>,
}

/// One `{{ }}` action or a text run, with trimming applied.
fn lex(src: &str, what: &str) -> Result<Vec<(bool, String)>, String> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(i) = rest.find("{{") {
        let mut text = rest[..i].to_string();
        if trim_next {
            text = text.trim_start().to_string();
        }
        let after = &rest[i + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("{what}: unclosed action"))?;
        let mut body = &after[..end];
        if let Some(b) = body
            .strip_prefix('-')
            .filter(|b| b.starts_with(char::is_whitespace))
        {
            text = text.trim_end().to_string();
            body = b;
        }
        trim_next = false;
        if let Some(b) = body
            .strip_suffix('-')
            .filter(|b| b.ends_with(char::is_whitespace))
        {
            trim_next = true;
            body = b;
        }
        out.push((false, text));
        let body = body.trim();
        if !(body.starts_with("/*") && body.ends_with("*/")) {
            out.push((true, body.to_string()));
        }
        rest = &after[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    out.push((false, text.to_string()));
    Ok(out)
}

/// Parses tokens into nodes until `end`/`else` at this level; `define`s go to `defines`.
fn parse(
    toks: &mut std::iter::Peekable<std::vec::IntoIter<(bool, String)>>,
    defines: &mut BTreeMap<String, Vec<Node>>,
    what: &str,
) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some((action, s)) = toks.next() {
        if !action {
            nodes.push(Node::Text(s));
            continue;
        }
        let word = s.split_whitespace().next().unwrap_or("");
        match word {
            "end" => return Ok((nodes, Some("end".into()))),
            "else" => return Ok((nodes, Some(s))),
            "if" => {
                let mut branches = Vec::new();
                let mut cond = s["if".len()..].trim().to_string();
                let otherwise = loop {
                    let (body, stop) = parse(toks, defines, what)?;
                    branches.push((cond.clone(), body));
                    match stop.as_deref() {
                        Some("end") => break Vec::new(),
                        Some("else") => {
                            let (body, stop) = parse(toks, defines, what)?;
                            if stop.as_deref() != Some("end") {
                                return Err(format!("{what}: `else` without `end`"));
                            }
                            break body;
                        }
                        Some(e) if e.starts_with("else if ") => {
                            cond = e["else if ".len()..].trim().to_string();
                        }
                        _ => return Err(format!("{what}: `if {cond}` without `end`")),
                    }
                };
                nodes.push(Node::If(branches, otherwise));
            }
            "define" => {
                let name = s["define".len()..].trim().trim_matches('"').to_string();
                let (body, stop) = parse(toks, defines, what)?;
                if stop.as_deref() != Some("end") {
                    return Err(format!("{what}: define {name} without end"));
                }
                defines.insert(name, body);
            }
            "range" | "with" | "block" | "template" | "break" | "continue" => {
                return Err(format!(
                    "{what}: `{word}` is not supported by the test renderer"
                ))
            }
            _ if s.starts_with('$') && s.contains(":=") => {
                return Err(format!(
                    "{what}: variables are not supported by the test renderer"
                ))
            }
            _ => nodes.push(Node::Out(s)),
        }
    }
    Ok((nodes, None))
}

fn parse_template(
    src: &str,
    what: &str,
    defines: &mut BTreeMap<String, Vec<Node>>,
) -> Result<Vec<Node>, String> {
    let mut toks = lex(src, what)?.into_iter().peekable();
    match parse(&mut toks, defines, what)? {
        (nodes, None) => Ok(nodes),
        (_, Some(stop)) => Err(format!("{what}: unexpected `{stop}`")),
    }
}

/// Splits an expression into tokens: strings, parentheses, pipes, words.
fn tokens(expr: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '|' => {
                out.push(c.to_string());
                chars.next();
            }
            '"' => {
                let mut s = String::from('"');
                chars.next();
                loop {
                    match chars.next() {
                        Some('\\') => {
                            s.push('\\');
                            s.push(chars.next().ok_or("bad escape")?);
                        }
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err(format!("unclosed string in `{expr}`")),
                    }
                }
                s.push('"');
                out.push(s);
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "()|".contains(c) {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(w);
            }
        }
    }
    Ok(out)
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn indent(n: u64, s: &str) -> String {
    let pad = " ".repeat(n as usize);
    s.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Chart {
    /// Reads `Chart.yaml`, `values.yaml` and every file under `templates/`.
    pub fn load(dir: &Path) -> Result<Chart, String> {
        let read =
            |p: PathBuf| std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()));
        let meta = super::kustomize::load_docs(&read(dir.join("Chart.yaml"))?, "Chart.yaml")?
            .pop()
            .ok_or("Chart.yaml is empty")?;
        let values = super::kustomize::load_docs(&read(dir.join("values.yaml"))?, "values.yaml")?
            .pop()
            .unwrap_or(json!({}));
        let mut templates = BTreeMap::new();
        let mut defines = BTreeMap::new();
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir.join("templates"))
            .map_err(|e| e.to_string())?
            .map(|e| e.map(|e| e.path()).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for p in names {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let nodes = parse_template(&read(p.clone())?, &name, &mut defines)?;
            // Helm names each template file `<chart>/templates/<file>` for `include`.
            let chart = super::kustomize::str_at(&meta, "/name");
            defines.insert(format!("{chart}/templates/{name}"), nodes.clone());
            templates.insert(name, nodes);
        }
        Ok(Chart {
            dir: dir.to_path_buf(),
            meta,
            values,
            templates,
            defines,
        })
    }

    /// Renders every template with `values` merged over the defaults; file name → text.
    pub fn render(
        &self,
        overrides: &Value,
        namespace: &str,
    ) -> Result<BTreeMap<String, String>, String> {
        let mut values = self.values.clone();
        super::kustomize::strategic_merge(&mut values, overrides, "")?;
        let name = super::kustomize::str_at(&self.meta, "/name");
        let root = json!({
            "Values": values,
            "Release": {"Name": name, "Namespace": namespace, "Service": "Helm"},
            "Chart": {
                "Name": name,
                "Version": self.meta["version"],
                "AppVersion": self.meta["appVersion"],
            },
            "Template": {"BasePath": format!("{name}/templates")},
        });
        let mut out = BTreeMap::new();
        for (file, nodes) in &self.templates {
            if file.starts_with('_') {
                continue;
            }
            let mut s = String::new();
            self.exec(nodes, &root, &root, &mut s)
                .map_err(|e| format!("{file}: {e}"))?;
            out.insert(file.clone(), s);
        }
        Ok(out)
    }

    /// Renders one named template (`include`) with `.` = the root of `overrides`.
    pub fn include(
        &self,
        name: &str,
        overrides: &Value,
        namespace: &str,
    ) -> Result<String, String> {
        let mut values = self.values.clone();
        super::kustomize::strategic_merge(&mut values, overrides, "")?;
        let chart = super::kustomize::str_at(&self.meta, "/name");
        let root = json!({
            "Values": values,
            "Release": {"Name": chart, "Namespace": namespace, "Service": "Helm"},
            "Chart": {"Name": chart, "Version": self.meta["version"], "AppVersion": self.meta["appVersion"]},
            "Template": {"BasePath": format!("{chart}/templates")},
        });
        self.call("include", vec![json!(name), root.clone()], &root)
            .map(|v| text_of(&v))
    }

    fn exec(
        &self,
        nodes: &[Node],
        dot: &Value,
        root: &Value,
        out: &mut String,
    ) -> Result<(), String> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Out(e) => out.push_str(&text_of(&self.eval(e, dot, root)?)),
                Node::If(branches, otherwise) => {
                    let mut taken = false;
                    for (cond, body) in branches {
                        if truthy(&self.eval(cond, dot, root)?) {
                            self.exec(body, dot, root, out)?;
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        self.exec(otherwise, dot, root, out)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn eval(&self, expr: &str, dot: &Value, root: &Value) -> Result<Value, String> {
        let toks = tokens(expr)?;
        let mut pos = 0;
        let v = self.pipeline(&toks, &mut pos, dot, root)?;
        if pos != toks.len() {
            return Err(format!("trailing `{}` in `{expr}`", toks[pos..].join(" ")));
        }
        Ok(v)
    }

    /// `cmd | cmd ...` up to a `)` or the end.
    fn pipeline(
        &self,
        toks: &[String],
        pos: &mut usize,
        dot: &Value,
        root: &Value,
    ) -> Result<Value, String> {
        let mut piped: Option<Value> = None;
        loop {
            let mut args = Vec::new();
            let mut func: Option<String> = None;
            while *pos < toks.len() && toks[*pos] != "|" && toks[*pos] != ")" {
                let t = toks[*pos].clone();
                *pos += 1;
                let arg = if t == "(" {
                    let v = self.pipeline(toks, pos, dot, root)?;
                    if toks.get(*pos).map(String::as_str) != Some(")") {
                        return Err("unclosed `(`".into());
                    }
                    *pos += 1;
                    v
                } else if t == ".Files.Get" && func.is_none() && args.is_empty() {
                    func = Some(t);
                    continue;
                } else if t.starts_with('.') || t.starts_with('$') {
                    let (base, path) = match t.strip_prefix('$') {
                        Some(p) => (root, p),
                        None => (dot, t.as_str()),
                    };
                    path.split('.')
                        .filter(|s| !s.is_empty())
                        .try_fold(base, |v, k| v.get(k).ok_or(()))
                        .cloned()
                        .unwrap_or(Value::Null)
                } else if t.starts_with('"') {
                    serde_json::from_str(&t).map_err(|e| format!("{t}: {e}"))?
                } else if let Ok(n) = t.parse::<i64>() {
                    json!(n)
                } else if t == "true" || t == "false" {
                    json!(t == "true")
                } else if func.is_none() && args.is_empty() {
                    func = Some(t);
                    continue;
                } else {
                    return Err(format!("unexpected `{t}`"));
                };
                args.push(arg);
            }
            if let Some(p) = piped.take() {
                args.push(p);
            }
            let v = match func {
                Some(f) => self.call(&f, args, root)?,
                None if args.len() == 1 => args.pop().unwrap_or(Value::Null),
                None => return Err(format!("{} values without a function", args.len())),
            };
            if toks.get(*pos).map(String::as_str) == Some("|") {
                *pos += 1;
                piped = Some(v);
            } else {
                return Ok(v);
            }
        }
    }

    fn call(&self, f: &str, args: Vec<Value>, root: &Value) -> Result<Value, String> {
        let n = |i: usize| {
            args.get(i)
                .and_then(Value::as_u64)
                .ok_or(format!("{f}: argument {i} is not a number"))
        };
        let s = |i: usize| {
            args.get(i)
                .map(text_of)
                .ok_or(format!("{f}: missing argument {i}"))
        };
        let want = |k: usize| {
            if args.len() == k {
                Ok(())
            } else {
                Err(format!("{f}: {} arguments, expected {k}", args.len()))
            }
        };
        Ok(match f {
            "include" => {
                want(2)?;
                let name = s(0)?;
                let body = self
                    .defines
                    .get(&name)
                    .ok_or(format!("include: no template {name}"))?;
                let mut out = String::new();
                self.exec(body, &args[1], root, &mut out)?;
                json!(out)
            }
            "print" => json!(args.iter().map(text_of).collect::<String>()),
            "sha256sum" => {
                want(1)?;
                use sha2::Digest;
                let d = sha2::Sha256::digest(s(0)?.as_bytes());
                json!(d.iter().map(|b| format!("{b:02x}")).collect::<String>())
            }
            "toYaml" => {
                want(1)?;
                let y = serde_saphyr::to_string(&args[0]).map_err(|e| format!("toYaml: {e}"))?;
                json!(y.trim_end())
            }
            "nindent" => {
                want(2)?;
                json!(format!("\n{}", indent(n(0)?, &s(1)?)))
            }
            "indent" => {
                want(2)?;
                json!(indent(n(0)?, &s(1)?))
            }
            "quote" => {
                want(1)?;
                json!(serde_json::to_string(&s(0)?).unwrap_or_default())
            }
            "default" => {
                want(2)?;
                if truthy(&args[1]) {
                    args[1].clone()
                } else {
                    args[0].clone()
                }
            }
            "eq" | "ne" => {
                want(2)?;
                json!((args[0] == args[1]) == (f == "eq"))
            }
            "not" => {
                want(1)?;
                json!(!truthy(&args[0]))
            }
            "and" => json!(args.iter().all(truthy)),
            "or" => json!(args.iter().any(truthy)),
            "fail" => return Err(format!("fail: {}", s(0)?)),
            ".Files.Get" => {
                want(1)?;
                let p = self.dir.join(s(0)?);
                json!(std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?)
            }
            other => {
                return Err(format!(
                    "function `{other}` is not supported by the test renderer"
                ))
            }
        })
    }
}
