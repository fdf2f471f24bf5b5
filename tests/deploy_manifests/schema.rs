//! A checker of the JSON Schema keywords `charts/fluxsight/values.schema.json` uses (the
//! part of draft-07 Helm applies to values): `type`, `properties`,
//! `additionalProperties: false`, `required`, `enum`, `minLength`, `items`. A keyword it
//! does not know is an error, so the schema cannot grow a rule this check skips.

use serde_json::Value;

const KNOWN: &[&str] = &[
    "$schema",
    "title",
    "description",
    "type",
    "properties",
    "additionalProperties",
    "required",
    "enum",
    "minLength",
    "items",
];

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// Every violation of `schema` by `v`, each with its path.
pub fn validate(schema: &Value, v: &Value, path: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let Some(s) = schema.as_object() else {
        return vec![format!("{path}: schema is not an object")];
    };
    for k in s.keys() {
        if !KNOWN.contains(&k.as_str()) {
            errs.push(format!(
                "{path}: schema keyword `{k}` is not checked by the test"
            ));
        }
    }
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        if !type_ok(t, v) {
            errs.push(format!("{path}: expected {t}, got {v}"));
            return errs;
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errs.push(format!(
                "{path}: {v} is not one of {}",
                Value::from(e.clone())
            ));
        }
    }
    if let (Some(min), Some(st)) = (s.get("minLength").and_then(Value::as_u64), v.as_str()) {
        if (st.chars().count() as u64) < min {
            errs.push(format!("{path}: shorter than {min}"));
        }
    }
    if let Some(o) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = r.as_str().filter(|r| !o.contains_key(*r)) {
                errs.push(format!("{path}: `{r}` is required"));
            }
        }
        for (k, val) in o {
            match props.and_then(|p| p.get(k)) {
                Some(sub) => errs.extend(validate(sub, val, &format!("{path}.{k}"))),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errs.push(format!("{path}: unknown key `{k}`"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(a)) = (s.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            errs.extend(validate(items, x, &format!("{path}[{i}]")));
        }
    }
    errs
}
