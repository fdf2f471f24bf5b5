//! `fluxsight validate` names each config error at the field's own line and column
//! (`file:line:column: field: message`) and exits 2.

use std::process::Command;

/// Runs `fluxsight validate` on `text`; (exit code, stderr, the file's path).
fn validate(name: &str, text: &str) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!("fluxsight-positions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fluxsight"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        path.display().to_string(),
    )
}

#[test]
fn validate_prints_line_and_column_of_the_field() {
    let text = "sinks:\n  - name: hook\n    type: webhook\n    url: http://127.0.0.1:1/x\n    max_batch: \"ten\"\n";
    let (code, err, path) = validate("list-item.yaml", text);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{path}:5:16: sinks[0].max_batch: invalid type")),
        "{err}"
    );
}

#[test]
fn validate_places_semantic_errors_at_the_value() {
    let text = "sinks:\n  - name: hook\n    type: webhook\n    url: ftp://x\ndelivery:\n  retry_max: soon\n";
    let (code, err, path) = validate("semantic.yaml", text);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{path}:4:10: sinks[0].url: ")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{path}:6:14: delivery.retry_max: ")),
        "{err}"
    );
}

/// A plain-text value where a secret belongs is placed at the value, named by its path,
/// and never quoted (serde's own error would echo it: `unknown variant `http://…``).
#[test]
fn validate_places_plaintext_secrets_without_quoting_them() {
    let text = "sinks:\n  - name: ops\n    type: slack\n    url: https://hooks.example/services/T0/B0/PLANTEDVALUE\n  - name: k\n    type: kafka\n    brokers: 127.0.0.1:9092\n    sasl_password: [PLANTEDLIST]\n";
    let (code, err, path) = validate("secret.yaml", text);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "{path}:4:10: sinks[0].url: sinks[0].url holds a secret: write {{env: NAME}} or {{file: PATH}}"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{path}:8:20: sinks[1].sasl_password: sinks[1].sasl_password is not a secret reference"
        )),
        "{err}"
    );
    assert!(!err.contains("PLANTED"), "{err}");
}
