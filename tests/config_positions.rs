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

/// A tenant rule's bad regex is reported at its own line, with the pattern quoted.
#[test]
fn validate_quotes_a_bad_tenant_regex_at_its_line() {
    let text = "cluster: c\ntenants:\n  - namespace: 'a-(.*)'\n    tenant: '$1'\n  - namespace: ok\n    tenant: b\n  - namespace: 'team-(a'\n    tenant: c\n";
    let (code, err, path) = validate("bad-regex.yaml", text);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "{path}:7:16: tenants[2].namespace: invalid regex \"team-(a\": unclosed group"
        )),
        "{err}"
    );
}

/// `validate` names every file it checked, one `ok:` line each.
#[test]
fn validate_names_each_file_it_checked() {
    let dir = std::env::temp_dir().join(format!("fluxsight-validate-ok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.yaml"), dir.join("b.yaml"));
    std::fs::write(&a, "cluster: a\n").unwrap();
    std::fs::write(&b, "cluster: b\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fluxsight"))
        .arg("validate")
        .args([&a, &b])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    let builtin = format!("ok: {} built-in patterns", fluxsight_patterns());
    assert_eq!(
        lines,
        [
            builtin.as_str(),
            &format!("ok: {}", a.display()),
            &format!("ok: {}", b.display())
        ],
        "{stdout}"
    );
    // With --patterns DIR: one line per pattern file read.
    let patterns = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("patterns");
    let out = Command::new(env!("CARGO_BIN_EXE_fluxsight"))
        .arg("validate")
        .arg("--patterns")
        .arg(&patterns)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let want = patterns.join("git_auth_failure.yaml");
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("ok: {}", want.display())),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), fluxsight_patterns(), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// How many finding patterns ship (the pattern files besides `classes.yaml`).
fn fluxsight_patterns() -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("patterns");
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.path().extension().is_some_and(|x| x == "yaml") && e.file_name() != "classes.yaml"
        })
        .count()
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
