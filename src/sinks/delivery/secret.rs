//! Secret references in pipeline files: `{env: NAME}` or `{file: PATH}`.
//!
//! Owns: parsing a secret field without ever keeping or quoting a plain value (serde's
//! derived errors quote their input: `unknown variant `https://hooks.slack.com/…``),
//! the one message for a plain value in a secret field, and resolving references at
//! build time.
//!
//! Invariant: no error and no `Debug` output of this module contains what was written
//! where a secret belongs; validation (in `config`) reports it by the field's path.

use serde::Deserialize;

/// How a secret must be written; every message about a secret field says it.
pub const SECRET_FORMS: &str = "{env: NAME} or {file: PATH}";

/// The message for a value written in plain text where a secret belongs (`field` is
/// the path, e.g. `sinks[0].url`). It never includes the value.
pub fn plaintext_secret_message(field: &str) -> String {
    format!("{field} holds a secret: write {SECRET_FORMS}")
}

/// Where a secret comes from.
///
/// Deserialized by hand so that no error ever quotes the input (serde's derived errors
/// do: `unknown variant `https://hooks.slack.com/…``): a scalar where a secret belongs
/// becomes [`SecretRef::Plaintext`], which keeps nothing of the value and which
/// validation reports with the field's path and position.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretRef {
    /// An environment variable's value.
    Env(String),
    /// A file's content (trailing newline removed), e.g. a mounted Kubernetes Secret.
    File(String),
    /// A value written in the file itself; the value was dropped while parsing.
    Plaintext,
    /// Some other shape (a list, a map with other keys); dropped while parsing too.
    Malformed,
}

impl SecretRef {
    /// Resolves the secret (build step).
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            SecretRef::Env(n) => {
                std::env::var(n).map_err(|_| format!("environment variable {n} is not set"))
            }
            SecretRef::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("cannot read {p}: {e}")),
            SecretRef::Plaintext | SecretRef::Malformed => {
                Err(format!("not a secret reference: write {SECRET_FORMS}"))
            }
        }
    }

    /// The validation error of a reference written at `field`, if it is not one.
    pub fn problem(&self, field: &str) -> Option<String> {
        match self {
            SecretRef::Env(_) | SecretRef::File(_) => None,
            SecretRef::Plaintext => Some(plaintext_secret_message(field)),
            SecretRef::Malformed => Some(format!(
                "{field} is not a secret reference: write {SECRET_FORMS}"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

/// Accepts anything: `{env: NAME}`, `{file: PATH}`, a scalar (→ `Plaintext`) or another
/// shape (→ `Malformed`). It never fails, so the error comes from validation, with the
/// field's path and position and without the value.
struct SecretVisitor;

impl<'de> serde::de::Visitor<'de> for SecretVisitor {
    type Value = SecretRef;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(SECRET_FORMS)
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<SecretRef, E> {
        Ok(SecretRef::Plaintext)
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<SecretRef, E> {
        Ok(SecretRef::Plaintext)
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<SecretRef, E> {
        Ok(SecretRef::Plaintext)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<SecretRef, E> {
        Ok(SecretRef::Plaintext)
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<SecretRef, E> {
        Ok(SecretRef::Plaintext)
    }

    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<SecretRef, E> {
        Ok(SecretRef::Plaintext)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<SecretRef, E> {
        Ok(SecretRef::Malformed)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<SecretRef, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(SecretRef::Malformed)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<SecretRef, A::Error> {
        let mut found = Vec::new();
        while let Some(Lenient(key)) = map.next_key::<Lenient>()? {
            let Lenient(value) = map.next_value::<Lenient>()?;
            found.push(match (key.as_deref(), value) {
                (Some("env"), Some(v)) => SecretRef::Env(v),
                (Some("file"), Some(v)) => SecretRef::File(v),
                _ => SecretRef::Malformed,
            });
        }
        Ok(match found.len() {
            1 => found.remove(0),
            _ => SecretRef::Malformed,
        })
    }
}

/// A string inside a secret reference (a key, a variable name, a path); any other
/// shape is consumed and forgotten (`None`).
struct Lenient(Option<String>);

impl<'de> Deserialize<'de> for Lenient {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Lenient;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a name or a path")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Lenient, E> {
                Ok(Lenient(Some(v.to_string())))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut s: A,
            ) -> Result<Lenient, A::Error> {
                while s.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Lenient, A::Error> {
                while m
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Lenient(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> SecretRef {
        serde_saphyr::from_str(yaml).expect("a secret field never fails to parse")
    }

    #[test]
    fn every_shape_parses_and_keeps_no_plain_value() {
        assert_eq!(
            parse("{env: SLACK_URL}"),
            SecretRef::Env("SLACK_URL".into())
        );
        assert_eq!(parse("{file: /run/s}"), SecretRef::File("/run/s".into()));
        for plain in ["https://hooks.example/T0/B0/PLANTED", "12345", "true"] {
            let r = parse(plain);
            assert_eq!(r, SecretRef::Plaintext, "{plain}");
            assert!(!format!("{r:?}").contains("PLANTED"));
        }
        for odd in [
            "[PLANTED]",
            "{value: PLANTED}",
            "{env: A, file: PLANTED}",
            "{env: [PLANTED]}",
        ] {
            assert_eq!(parse(odd), SecretRef::Malformed, "{odd}");
        }
        assert_eq!(
            SecretRef::Plaintext.problem("sinks[0].url").unwrap(),
            "sinks[0].url holds a secret: write {env: NAME} or {file: PATH}"
        );
    }
}
