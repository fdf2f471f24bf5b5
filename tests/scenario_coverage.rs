//! Over every `../shared/samples/scenarios/*.log` and the bundled `samples/demo/*.log`:
//! every line gets a format other than `text`, every log line a controller, every
//! object/event line a kind/namespace/name. Without `../shared` only the bundled capture
//! is checked, and it says so; under `CI` the shared scenarios must be there.

use std::fs;
use std::path::Path;

use serde_json::Value;

use fluxsight::classify::Classifier;
use fluxsight::pipeline::classify::classify_reader;

#[test]
fn scenario_lines_are_all_understood() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/samples/scenarios");
    let mut dirs = vec![root.join("samples/demo")];
    if shared.is_dir() {
        dirs.push(shared);
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} absent: CI checks the shared scenarios",
            shared.display()
        );
        eprintln!(
            "{} absent: checking the bundled capture only",
            shared.display()
        );
    }
    let classifier = Classifier::builtin();
    let mut problems = Vec::new();
    let mut rows_seen = 0;
    let mut files: Vec<_> = dirs
        .iter()
        .flat_map(|d| fs::read_dir(d).unwrap())
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let input = fs::read(&f).unwrap();
        let mut out = Vec::new();
        let lines = classify_reader(&name, &input[..], &classifier, &mut out).unwrap();
        let rows: Vec<Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert!(rows.len() as u64 >= lines, "{name}: fewer rows than lines");
        for row in &rows {
            rows_seen += 1;
            let fmt = row["format"].as_str().unwrap_or("");
            let line = row["line"].as_u64().unwrap_or(0);
            let mut bad = |what: &str| {
                if problems.len() < 20 {
                    problems.push(format!("{name}:{line}: {what}: {row}"));
                }
            };
            match fmt {
                "text" | "blank" | "" => bad("unrecognised format"),
                "zap_json" | "zap_console" | "klog" | "logfmt" | "flux_cli"
                    if row.get("controller").is_none() =>
                {
                    bad("log line without controller");
                }
                "k8s_event" | "k8s_object" | "flux_event" => {
                    for k in ["kind", "namespace", "name"] {
                        if row.get(k).is_none() {
                            bad(&format!("object line without {k}"));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    assert!(rows_seen > 0);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
