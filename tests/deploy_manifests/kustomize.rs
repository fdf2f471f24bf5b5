//! A small renderer for the kustomize subset `deploy/` uses, so the manifests can be
//! checked by `cargo test` where no `kustomize` or `kubectl` binary can be installed.
//!
//! Supported: `resources` (files and directories), `components`, `configMapGenerator`
//! (`files`, `literals`; the name hash suffix computed as kustomize does, and the
//! references to it in pod specs renamed, or `disableNameSuffixHash: true`), `patches` (strategic
//! merge, inline or by `path`, with or without `target`), `namespace`, `images`.
//! Anything else in a kustomization (or a JSON 6902 patch, or a `$patch` directive) is an
//! error rather than silently ignored: a manifest the renderer does not understand must
//! not pass the checks.
//!
//! Order follows kustomize: resources, then each component (its resources and
//! generators, then its transformers over everything accumulated so far), then the
//! kustomization's own generators, then its transformers (patches, namespace, images),
//! and last the hash suffixes of the generated ConfigMaps (over their final data) with
//! the name references to them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Kinds that have no namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "PersistentVolume",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "APIService",
];

/// Top-level fields of a kustomization the renderer understands.
const KNOWN_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "components",
    "configMapGenerator",
    "patches",
    "images",
];

/// Strategic-merge keys of the lists the manifests patch (Kubernetes
/// `patchMergeKey` of each field); other lists are replaced.
const MERGE_KEYS: &[(&str, &str)] = &[
    ("containers", "name"),
    ("initContainers", "name"),
    ("volumes", "name"),
    ("env", "name"),
    ("volumeMounts", "mountPath"),
    ("ports", "containerPort"),
    ("imagePullSecrets", "name"),
];

/// Marks a generated ConfigMap that gets a hash suffix at the end of its build; removed
/// when the suffix is applied.
const NEEDS_HASH: &str = "fluxsight.test/needs-hash";

/// `Kustomization` or `Component`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KustKind {
    Kustomization,
    Component,
}

/// The output of one build.
#[derive(Debug, Default)]
pub struct Rendered {
    pub objects: Vec<Value>,
    /// Canonical directories of every component applied (transitively).
    pub components: BTreeSet<PathBuf>,
}

/// Every document of a YAML stream (empty documents skipped).
pub fn load_docs(text: &str, what: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| format!("{what}: yaml: {e}"))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads `dir/kustomization.yaml` and tells which kind it is.
pub fn load_kustomization(dir: &Path) -> Result<(KustKind, Value), String> {
    let path = dir.join("kustomization.yaml");
    let mut docs = load_docs(&read(&path)?, &path.display().to_string())?;
    if docs.len() != 1 {
        return Err(format!("{}: expected one document", path.display()));
    }
    let k = docs.remove(0);
    let kind = match (str_at(&k, "/apiVersion"), str_at(&k, "/kind")) {
        ("kustomize.config.k8s.io/v1beta1", "Kustomization") => KustKind::Kustomization,
        ("kustomize.config.k8s.io/v1alpha1", "Component") => KustKind::Component,
        (a, b) => return Err(format!("{}: unknown kind {a}/{b}", path.display())),
    };
    let obj = k.as_object().ok_or("kustomization is not a mapping")?;
    for key in obj.keys() {
        if !KNOWN_FIELDS.contains(&key.as_str()) {
            return Err(format!(
                "{}: field `{key}` is not supported by the test renderer",
                path.display()
            ));
        }
    }
    if kind == KustKind::Component && obj.contains_key("namespace") {
        return Err(format!(
            "{}: a Component has no `namespace`",
            path.display()
        ));
    }
    Ok((kind, k))
}

/// Builds the kustomization (or component, over an empty base) in `dir`.
pub fn render(dir: &Path) -> Result<Rendered, String> {
    let (_, k) = load_kustomization(dir)?;
    let mut out = Rendered::default();
    build_into(dir, &k, &mut out)?;
    apply_hash_suffixes(&mut out.objects);
    Ok(out)
}

fn build_into(dir: &Path, k: &Value, out: &mut Rendered) -> Result<(), String> {
    for r in strings(k, "resources")? {
        let path = dir.join(&r);
        if path.is_dir() {
            let (kind, _) = load_kustomization(&path)?;
            if kind != KustKind::Kustomization {
                return Err(format!("{r}: a Component listed under `resources`"));
            }
            let sub = render(&path)?;
            out.objects.extend(sub.objects);
            out.components.extend(sub.components);
        } else {
            out.objects
                .extend(load_docs(&read(&path)?, &path.display().to_string())?);
        }
    }
    for c in strings(k, "components")? {
        let path = dir.join(&c);
        let (kind, ck) = load_kustomization(&path)?;
        if kind != KustKind::Component {
            return Err(format!(
                "{c}: listed under `components` but not a Component"
            ));
        }
        out.components
            .insert(path.canonicalize().map_err(|e| format!("{c}: {e}"))?);
        build_into(&path, &ck, out)?;
    }
    generate_config_maps(dir, k, &mut out.objects)?;
    apply_patches(dir, k, &mut out.objects)?;
    if let Some(ns) = k.get("namespace").and_then(Value::as_str) {
        set_namespace(&mut out.objects, ns);
    }
    apply_images(k, &mut out.objects)?;
    Ok(())
}

fn strings(k: &Value, field: &str) -> Result<Vec<String>, String> {
    match k.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("`{field}` holds a non-string"))
            })
            .collect(),
        Some(_) => Err(format!("`{field}` is not a list")),
    }
}

/// A string at a JSON pointer, or "".
pub fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn generate_config_maps(dir: &Path, k: &Value, objects: &mut Vec<Value>) -> Result<(), String> {
    let Some(gens) = k.get("configMapGenerator").and_then(Value::as_array) else {
        return Ok(());
    };
    for g in gens {
        let name = str_at(g, "/name");
        for key in g.as_object().into_iter().flat_map(|o| o.keys()) {
            if !["name", "namespace", "files", "literals", "options"].contains(&key.as_str()) {
                return Err(format!("configMapGenerator {name}: `{key}` not supported"));
            }
        }
        for key in g
            .get("options")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|o| o.keys())
        {
            if !["disableNameSuffixHash", "labels"].contains(&key.as_str()) {
                return Err(format!(
                    "configMapGenerator {name}: option `{key}` not supported"
                ));
            }
        }
        let hashed = g.pointer("/options/disableNameSuffixHash") != Some(&Value::Bool(true));
        let mut data = Map::new();
        for f in strings(g, "files")? {
            let (key, file) = f.split_once('=').unwrap_or_else(|| {
                let base = f.rsplit('/').next().unwrap_or(&f);
                (base, f.as_str())
            });
            data.insert(key.to_string(), Value::String(read(&dir.join(file))?));
        }
        for l in strings(g, "literals")? {
            let (key, val) = l
                .split_once('=')
                .ok_or_else(|| format!("configMapGenerator {name}: literal without `=`"))?;
            data.insert(key.to_string(), Value::String(val.to_string()));
        }
        let mut meta = Map::new();
        meta.insert("name".into(), Value::String(name.to_string()));
        if let Some(ns) = g.get("namespace") {
            meta.insert("namespace".into(), ns.clone());
        }
        if let Some(l) = g.pointer("/options/labels") {
            meta.insert("labels".into(), l.clone());
        }
        let mut cm = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": data,
        });
        if hashed {
            cm[NEEDS_HASH] = Value::Bool(true);
        }
        objects.push(cm);
    }
    Ok(())
}

/// kustomize's ConfigMap hash (`api/hasher`): SHA-256 of the Go `json.Marshal` of
/// `{data, kind, name}` (keys sorted, `<`, `>`, `&` escaped), its first ten hex digits
/// with `0 1 3 a e` replaced by `g h k m t` (no vowels, no look-alikes).
pub fn config_map_hash(name: &str, data: &Map<String, Value>) -> String {
    use sha2::Digest;
    let sorted: std::collections::BTreeMap<&String, &Value> = data.iter().collect();
    let json = serde_json::to_string(&serde_json::json!({
        "data": sorted,
        "kind": "ConfigMap",
        "name": name,
    }))
    .unwrap_or_default();
    let go_json = json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    let digest = sha2::Sha256::digest(go_json.as_bytes());
    digest
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(10)
        .map(|n| match n {
            0 => 'g',
            1 => 'h',
            3 => 'k',
            0xa => 'm',
            0xe => 't',
            n => char::from_digit(u32::from(n), 16).unwrap_or('?'),
        })
        .collect()
}

/// Appends the hash suffix to every generated ConfigMap that wants one, and renames the
/// references to it from pod specs in its namespace (volumes, projected volumes, env,
/// envFrom), as kustomize's name-reference transformer does.
fn apply_hash_suffixes(objects: &mut [Value]) {
    let mut renames: Vec<(String, String, String)> = Vec::new();
    for o in objects.iter_mut() {
        let Some(m) = o.as_object_mut() else { continue };
        if m.remove(NEEDS_HASH).is_none() {
            continue;
        }
        let name = str_at(o, "/metadata/name").to_string();
        let data = o
            .get("data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let new = format!("{name}-{}", config_map_hash(&name, &data));
        let ns = str_at(o, "/metadata/namespace").to_string();
        o["metadata"]["name"] = Value::String(new.clone());
        renames.push((ns, name, new));
    }
    for o in objects.iter_mut() {
        let ns = str_at(o, "/metadata/namespace").to_string();
        let refs: Vec<(String, String)> = renames
            .iter()
            .filter(|(n, _, _)| *n == ns)
            .map(|(_, old, new)| (old.clone(), new.clone()))
            .collect();
        if refs.is_empty() {
            continue;
        }
        let rename = |v: Option<&mut Value>| {
            if let Some(v) = v {
                if let Some((_, new)) = refs.iter().find(|(old, _)| v.as_str() == Some(old)) {
                    *v = Value::String(new.clone());
                }
            }
        };
        for spec_ptr in [
            "/spec/template/spec",
            "/spec/jobTemplate/spec/template/spec",
            "/spec",
        ] {
            let Some(spec) = o.pointer_mut(spec_ptr) else {
                continue;
            };
            if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
                for v in vols {
                    rename(v.pointer_mut("/configMap/name"));
                    if let Some(srcs) = v
                        .pointer_mut("/projected/sources")
                        .and_then(Value::as_array_mut)
                    {
                        for s in srcs {
                            rename(s.pointer_mut("/configMap/name"));
                        }
                    }
                }
            }
        }
        for_each_container(o, &mut |c| {
            if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
                for e in env {
                    rename(e.pointer_mut("/valueFrom/configMapKeyRef/name"));
                }
            }
            if let Some(env) = c.get_mut("envFrom").and_then(Value::as_array_mut) {
                for e in env {
                    rename(e.pointer_mut("/configMapRef/name"));
                }
            }
        });
    }
}

fn set_namespace(objects: &mut [Value], ns: &str) {
    for o in objects {
        if CLUSTER_SCOPED.contains(&str_at(o, "/kind")) {
            continue;
        }
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("namespace".into(), Value::String(ns.to_string()));
        }
    }
}

/// `group/version` split of an apiVersion (`v1` has the empty group).
fn group_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// Does `o` match a patch `target` (name and namespace are anchored regexes)?
fn matches_target(o: &Value, t: &Value) -> Result<bool, String> {
    let (group, version) = group_version(str_at(o, "/apiVersion"));
    for key in t.as_object().into_iter().flat_map(|m| m.keys()) {
        if !["group", "version", "kind", "name", "namespace"].contains(&key.as_str()) {
            return Err(format!("patch target `{key}` not supported"));
        }
    }
    let exact = |field: &str, actual: &str| t.get(field).is_none_or(|v| v.as_str() == Some(actual));
    let regex = |field: &str, actual: &str| -> Result<bool, String> {
        match t.get(field).and_then(Value::as_str) {
            None => Ok(true),
            Some(re) => regex::Regex::new(&format!("^(?:{re})$"))
                .map(|r| r.is_match(actual))
                .map_err(|e| format!("patch target {field}: {e}")),
        }
    };
    Ok(exact("group", group)
        && exact("version", version)
        && exact("kind", str_at(o, "/kind"))
        && regex("name", str_at(o, "/metadata/name"))?
        && regex("namespace", str_at(o, "/metadata/namespace"))?)
}

fn apply_patches(dir: &Path, k: &Value, objects: &mut [Value]) -> Result<(), String> {
    let Some(patches) = k.get("patches").and_then(Value::as_array) else {
        return Ok(());
    };
    for p in patches {
        let text = match (p.get("path").and_then(Value::as_str), p.get("patch")) {
            (Some(path), None) => read(&dir.join(path))?,
            (None, Some(Value::String(inline))) => inline.clone(),
            _ => return Err("a patch needs exactly one of `path` or `patch`".into()),
        };
        if p.get("options").is_some() {
            return Err("patch `options` not supported".into());
        }
        for doc in load_docs(&text, "patch")? {
            if doc.is_array() {
                return Err("JSON 6902 patches are not supported by the test renderer".into());
            }
            apply_one_patch(p.get("target"), doc, objects)?;
        }
    }
    Ok(())
}

pub fn apply_one_patch(
    target: Option<&Value>,
    mut doc: Value,
    objects: &mut [Value],
) -> Result<(), String> {
    match target {
        Some(t) => {
            // With a target, the patch's own identity is ignored (kustomize sets it to
            // each target's).
            if let Some(m) = doc.as_object_mut() {
                m.remove("apiVersion");
                m.remove("kind");
                if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("name");
                    meta.remove("namespace");
                }
            }
            for o in objects.iter_mut() {
                if matches_target(o, t)? {
                    strategic_merge(o, &doc, "")?;
                }
            }
        }
        None => {
            let mut hits = 0;
            let (kind, name) = (
                str_at(&doc, "/kind").to_string(),
                str_at(&doc, "/metadata/name").to_string(),
            );
            for o in objects.iter_mut() {
                if str_at(o, "/kind") == kind && str_at(o, "/metadata/name") == name {
                    strategic_merge(o, &doc, "")?;
                    hits += 1;
                }
            }
            if hits == 0 {
                return Err(format!("patch for {kind}/{name} matches no resource"));
            }
        }
    }
    Ok(())
}

/// Strategic merge of `patch` into `base`; `field` is the name `base` sits under (it
/// picks the list merge key). `null` deletes a key.
pub fn strategic_merge(base: &mut Value, patch: &Value, field: &str) -> Result<(), String> {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, pv) in p {
                if k.starts_with('$') {
                    return Err(format!("patch directive `{k}` not supported"));
                }
                if pv.is_null() {
                    b.remove(k);
                } else if let Some(bv) = b.get_mut(k) {
                    strategic_merge(bv, pv, k)?;
                } else {
                    b.insert(k.clone(), pv.clone());
                }
            }
        }
        (Value::Array(b), Value::Array(p)) => {
            let key = MERGE_KEYS
                .iter()
                .find(|(f, _)| *f == field)
                .map(|(_, k)| *k);
            let keyed = |v: &Value| key.and_then(|k| v.get(k)).cloned();
            match key {
                Some(_) if p.iter().chain(b.iter()).all(|v| keyed(v).is_some()) => {
                    for pe in p {
                        let id = keyed(pe);
                        match b.iter_mut().find(|be| keyed(be) == id) {
                            Some(be) => strategic_merge(be, pe, "")?,
                            None => b.push(pe.clone()),
                        }
                    }
                }
                _ => *b = p.clone(),
            }
        }
        (b, p) => *b = p.clone(),
    }
    Ok(())
}

/// Splits `repo[:tag][@digest]` into the name and the rest.
pub fn image_name(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

fn apply_images(k: &Value, objects: &mut [Value]) -> Result<(), String> {
    let Some(images) = k.get("images").and_then(Value::as_array) else {
        return Ok(());
    };
    for img in images {
        let name = str_at(img, "/name");
        for key in img.as_object().into_iter().flat_map(|o| o.keys()) {
            if !["name", "newName", "newTag", "digest"].contains(&key.as_str()) {
                return Err(format!("images {name}: `{key}` not supported"));
            }
        }
        for o in objects.iter_mut() {
            for_each_container(o, &mut |c| {
                let Some(current) = c.get("image").and_then(Value::as_str) else {
                    return;
                };
                if image_name(current) != name {
                    return;
                }
                let new_name = img.get("newName").and_then(Value::as_str).unwrap_or(name);
                let rest = &current[image_name(current).len()..];
                let new = match (str_at(img, "/digest"), str_at(img, "/newTag")) {
                    ("", "") => format!("{new_name}{rest}"),
                    ("", tag) => format!("{new_name}:{tag}"),
                    (digest, _) => format!("{new_name}@{digest}"),
                };
                c["image"] = Value::String(new);
            });
        }
    }
    Ok(())
}

/// Calls `f` on every container and init container of a workload or Pod.
pub fn for_each_container(o: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    for spec_ptr in [
        "/spec/template/spec",
        "/spec/jobTemplate/spec/template/spec",
        "/spec",
    ] {
        if let Some(spec) = o.pointer_mut(spec_ptr) {
            for list in ["containers", "initContainers"] {
                if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
                    cs.iter_mut().for_each(&mut *f);
                }
            }
        }
    }
}
