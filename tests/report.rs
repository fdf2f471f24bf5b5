//! `replay --report`: the post-mortem page and its Markdown twin.
//!
//! - snapshots of one golden replay with a root and symptoms
//!   (`tests/report/<case>.{html,md}`), byte-stable (rendered twice, compared with the
//!   checked-in file; bless with `FLUXSIGHT_BLESS=1 cargo test --test report`);
//! - a hostile log line (`<script>`, a GitHub token, a bearer token, backticks) comes
//!   out escaped and redacted in both forms;
//! - the page's structure: anchors resolve, nothing is loaded from anywhere, SVG ids are
//!   unique and every chart has an accessible name, the CSP is there, no script;
//! - the whole development set replayed into one report stays under 1 MiB;
//! - headless Chromium (Debian's `chromium`, installed by
//!   scripts/install-test-deps.sh) renders it with the network off: DOM, console, PNG,
//!   dark mode. Without chromium the test fails and says how to install it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fluxsight::classify::Classifier;
use fluxsight::correlate::{Correlator, Settings};
use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
use fluxsight::pipeline::report::{DigestReader, ReportCollector, ReportMeta};
use fluxsight::render::report::{self, ReportData};

const CASE: &str = "root_cause_grouping";
const MIB: usize = 1 << 20;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Replays `inputs` with a report collector, as `fluxsight replay --report` does;
/// returns the report data and what replay wrote to stdout.
fn replay_with_report(
    inputs: Vec<(String, Vec<u8>)>,
    collect: bool,
) -> (Option<ReportData>, Vec<u8>) {
    let opts = ReplayOptions::default();
    let lateness = opts.lateness_ms;
    let mut correlator = Correlator::new(Settings::default());
    let mut out = Vec::new();
    let names: Vec<String> = inputs.iter().map(|(n, _)| n.clone()).collect();
    let mut handles = Vec::new();
    let readers = inputs
        .iter()
        .map(|(n, b)| {
            let (r, h) = DigestReader::new(&b[..]);
            handles.push(h);
            (n.clone(), r)
        })
        .collect();
    let data = {
        let mut emitter = Emitter::new(&mut out, opts);
        if collect {
            emitter = emitter.with_report(ReportCollector::new(names.clone()));
        }
        replay(
            readers,
            &Classifier::builtin(),
            &mut correlator,
            &mut emitter,
            lateness,
        )
        .expect("replay");
        let lines = emitter.stats.lines;
        let collector = emitter.take_report();
        emitter.finish().expect("flush");
        collector.map(|c| {
            c.finish(
                &correlator,
                ReportMeta {
                    version: "test".into(),
                    cluster: "default".into(),
                    config: vec![("patterns".into(), "built-in".into())],
                    inputs: names.iter().zip(&handles).map(|(n, h)| h.info(n)).collect(),
                    lines,
                },
            )
        })
    };
    (data, out)
}

fn golden(case: &str) -> Vec<(String, Vec<u8>)> {
    let p = root().join("tests/golden").join(case).join("input.log");
    vec![("input.log".to_string(), fs::read(&p).expect("golden input"))]
}

fn report_of(inputs: Vec<(String, Vec<u8>)>) -> ReportData {
    replay_with_report(inputs, true).0.expect("collected")
}

/// Compares `got` with the checked-in snapshot, or writes it under FLUXSIGHT_BLESS=1.
fn snapshot(name: &str, got: &str) {
    let path = root().join("tests/report").join(name);
    if std::env::var_os("FLUXSIGHT_BLESS").is_some() {
        fs::write(&path, got).expect("bless snapshot");
        return;
    }
    let want = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with FLUXSIGHT_BLESS=1 cargo test --test report",
            path.display()
        )
    });
    if want != got {
        let line = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        panic!(
            "{name} differs from the snapshot at line {}:\n want: {}\n  got: {}\n(bless a deliberate change with FLUXSIGHT_BLESS=1 cargo test --test report)",
            line + 1,
            want.lines().nth(line).unwrap_or("<end>"),
            got.lines().nth(line).unwrap_or("<end>")
        );
    }
}

#[test]
fn the_snapshot_is_byte_stable() {
    let a = report_of(golden(CASE));
    let b = report_of(golden(CASE));
    let (html, md) = (report::html(&a), report::markdown(&a));
    assert_eq!(html, report::html(&b), "two renders of one replay differ");
    assert_eq!(md, report::markdown(&b));
    assert!(html.contains("GitRepository/storefront/storefront cannot authenticate"));
    snapshot(&format!("{CASE}.html"), &html);
    snapshot(&format!("{CASE}.md"), &md);
}

#[test]
fn collecting_a_report_leaves_stdout_unchanged() {
    for case in [CASE, "dependency_blocked_fires", "revision_applied_audit"] {
        let (_, with) = replay_with_report(golden(case), true);
        let (_, without) = replay_with_report(golden(case), false);
        assert_eq!(with, without, "{case}");
        assert!(!with.is_empty(), "{case}: no output at all");
    }
}

const TOKEN: &str = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";
const BEARER: &str = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0cGF5bG9hZA.c2lnbmF0dXJlMTIz";

/// The git-auth golden case with its error text replaced by hostile text.
fn hostile() -> Vec<(String, Vec<u8>)> {
    let text = String::from_utf8(golden("git_auth_failure_fires").remove(0).1).unwrap();
    let evil = format!(
        "authentication required: <script>alert(1)</script> token {TOKEN} Authorization: Bearer {BEARER} ```` </pre><img src=x>"
    );
    let text = text.replace("authentication required: Invalid username or token.", &evil);
    assert!(
        text.contains("<script>"),
        "the case's text moved: update hostile()"
    );
    vec![("hostile.log".to_string(), text.into_bytes())]
}

#[test]
fn a_hostile_line_is_escaped_and_redacted() {
    let data = report_of(hostile());
    let html = report::html(&data);
    assert!(!html.contains("<script"), "raw <script> in the page");
    assert!(!html.contains("<img"), "raw <img> in the page");
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "the hostile text is not shown escaped"
    );
    assert!(!html.contains(TOKEN), "GitHub token leaked into the HTML");
    assert!(!html.contains(BEARER), "bearer token leaked into the HTML");
    assert!(html.contains("[REDACTED]"), "no redaction marker");
    let md = report::markdown(&data);
    assert!(
        !md.contains(TOKEN) && !md.contains(BEARER),
        "token leaked into the Markdown"
    );
    // The evidence sits in a fence longer than the log's own backtick run.
    assert!(md.contains("`````text\n"), "fence not lengthened past ````");
    for line in md
        .lines()
        .filter(|l| !l.starts_with("`````") && l.contains("<script"))
    {
        // Only inside fenced evidence may the text stay verbatim.
        assert!(line.contains("alert(1)"), "{line}");
    }
    let outside: String = strip_fences(&md);
    assert!(
        !outside.contains("<script"),
        "raw <script> outside a code block"
    );
}

/// The Markdown without its fenced blocks.
fn strip_fences(md: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<String> = None;
    for l in md.lines() {
        let ticks: String = l.chars().take_while(|c| *c == '`').collect();
        match &fence {
            Some(f) if l.trim_end() == f => fence = None,
            Some(_) => {}
            None if ticks.len() >= 3 => fence = Some(ticks),
            None => {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

/// Values of `attr="…"` in `html`.
fn attrs<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let pat = format!(" {attr}=\"");
    html.match_indices(&pat)
        .filter_map(|(i, _)| {
            let rest = &html[i + pat.len()..];
            rest.find('"').map(|j| &rest[..j])
        })
        .collect()
}

/// Structural checks every report page must pass.
fn check_structure(name: &str, html: &str) {
    assert!(
        html.contains(&format!(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">",
            report::CSP
        )),
        "{name}: CSP meta missing"
    );
    assert!(
        html.contains("<meta name=\"color-scheme\" content=\"light dark\">"),
        "{name}"
    );
    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
        "{name}: lang"
    );
    assert_eq!(html.matches("<h1").count(), 1, "{name}: one h1");
    for bad in [
        "<script", "<link", "<iframe", "<object", "<embed", "@import", "url(",
    ] {
        assert!(!html.contains(bad), "{name}: {bad} in the page");
    }
    assert!(attrs(html, "src").is_empty(), "{name}: a src= attribute");
    // Ids unique (SVG ones included), every #anchor resolves.
    let ids = attrs(html, "id");
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "{name}: duplicate ids");
    for h in attrs(html, "href") {
        if let Some(a) = h.strip_prefix('#') {
            assert!(
                unique.contains(a),
                "{name}: href=\"#{a}\" resolves to nothing"
            );
        } else {
            // Only printed compare links: anchors to known forges, never loaded.
            assert!(
                h.starts_with("https://github.com/") || h.starts_with("https://gitlab.com/"),
                "{name}: unexpected link {h}"
            );
        }
    }
    // Headings in order: no level skipped going down.
    let mut last = 1;
    for (i, _) in html.match_indices("<h") {
        if let Some(d) = html[i + 2..].chars().next().and_then(|c| c.to_digit(10)) {
            assert!(d <= last + 1, "{name}: h{d} after h{last}");
            last = d;
        }
    }
    // Every chart has an accessible name: aria-labelledby naming a non-empty <title>.
    let svgs: Vec<&str> = html.split("<svg ").skip(1).collect();
    assert!(!svgs.is_empty() || !html.contains("role=\"img\""), "{name}");
    for s in svgs {
        let tag = &s[..s.find('>').unwrap()];
        assert!(tag.contains("role=\"img\""), "{name}: svg without role=img");
        let spaced = format!(" {tag}");
        let labels = attrs(&spaced, "aria-labelledby");
        assert_eq!(labels.len(), 1, "{name}: svg without aria-labelledby");
        for id in labels[0].split_whitespace() {
            let open = format!("id=\"{id}\">");
            let at = s
                .find(&open)
                .unwrap_or_else(|| panic!("{name}: {id} not inside its svg"));
            let text = &s[at + open.len()..];
            let text = &text[..text.find('<').unwrap()];
            assert!(!text.trim().is_empty(), "{name}: empty {id}");
        }
    }
    for t in ["<th>", "<th class"] {
        assert!(!html.contains(t), "{name}: a <th> without scope");
    }
}

#[test]
fn the_page_is_well_formed_and_loads_nothing() {
    for (name, inputs) in [
        (CASE.to_string(), golden(CASE)),
        (
            "dependency_blocked_fires".into(),
            golden("dependency_blocked_fires"),
        ),
        (
            "host_outage_grouping".into(),
            golden("host_outage_grouping"),
        ),
        ("hostile".into(), hostile()),
    ] {
        let data = report_of(inputs);
        assert!(!data.findings.is_empty(), "{name}: no findings to draw");
        let html = report::html(&data);
        check_structure(&name, &html);
        for s in [
            "Summary",
            "Impact by tenant",
            "Causal graph",
            "Timeline",
            "The change",
            "Evidence",
            "Action items",
            "Lessons",
            "Appendix",
        ] {
            assert!(
                html.contains(&format!("\">{s}</h2>")),
                "{name}: section {s}"
            );
        }
    }
}

/// Every `*.log` under the shared scenarios, sorted; `None` (with the reason printed)
/// when `../shared` is absent outside CI, as tests/scenario_coverage.rs does.
fn scenario_inputs() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = root().join("../shared/samples/scenarios");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} absent: CI checks the report size on the shared scenarios",
            dir.display()
        );
        eprintln!(
            "SKIPPED: {} absent, the size budget is not checked",
            dir.display()
        );
        return None;
    }
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "only {} scenario logs in {}",
        files.len(),
        dir.display()
    );
    Some(
        files
            .iter()
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().to_string(),
                    fs::read(p).unwrap(),
                )
            })
            .collect(),
    )
}

#[test]
fn the_development_set_in_one_report_stays_under_1_mib() {
    let Some(inputs) = scenario_inputs() else {
        return;
    };
    let n = inputs.len();
    let data = report_of(inputs);
    assert_eq!(data.inputs.len(), n);
    assert!(
        data.findings.len() >= 5,
        "only {} findings",
        data.findings.len()
    );
    let html = report::html(&data);
    let md = report::markdown(&data);
    eprintln!(
        "development set: {} findings, HTML {} bytes, Markdown {} bytes",
        data.findings.len(),
        html.len(),
        md.len()
    );
    assert!(html.len() < MIB, "HTML report is {} bytes", html.len());
    assert!(md.len() < MIB, "Markdown report is {} bytes", md.len());
    check_structure("development set", &html);
}

// ---- headless Chromium ----

/// Runs chromium with `args` (plus the fixed headless flags), killed after 90 s;
/// returns (stdout, stderr).
fn chromium(profile: &Path, args: &[String]) -> (String, String) {
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("chromium not installed: run scripts/install-test-deps.sh ({e})"),
    };
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).ok();
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).ok();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().expect("wait chromium") {
            let (o, e) = (t_out.join().unwrap(), t_err.join().unwrap());
            assert!(status.success(), "chromium failed ({status}): {e}");
            return (o, e);
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Decoded RGB(A) pixels: (width, height, channels, bytes).
fn decode_png(path: &Path) -> (u32, u32, usize, Vec<u8>) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("png size")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "unexpected bit depth");
    let channels = info.color_type.samples();
    buf.truncate(info.buffer_size());
    (info.width, info.height, channels, buf)
}

fn luma(px: &[u8]) -> f64 {
    0.299 * px[0] as f64 + 0.587 * px[1] as f64 + 0.114 * px[2] as f64
}

#[test]
fn headless_chromium_renders_the_report() {
    if Command::new("chromium").arg("--version").output().is_err() {
        panic!("chromium not installed: run scripts/install-test-deps.sh");
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("report-chromium-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let data = report_of(golden(CASE));
    let html = report::html(&data);
    let page = dir.join("report.html");
    fs::write(&page, &html).unwrap();
    let url = format!("file://{}", page.display());
    let size = "--window-size=1280,2000".to_string();

    // The rendered DOM: headline, chart names, no console errors or CSP refusals.
    let (dom, log) = chromium(
        &dir.join("profile-dom"),
        &["--dump-dom".into(), url.clone()],
    );
    let h1 = data
        .findings
        .iter()
        .find(|h| h.finding.pattern == "git_auth_failure")
        .map(|h| h.finding.title.clone())
        .expect("the case's root finding");
    assert!(dom.contains(&h1), "headline missing from the rendered DOM");
    assert!(
        dom.contains("role=\"img\"") && dom.contains("aria-labelledby="),
        "svg lost its name"
    );
    assert!(
        dom.contains("Causal graph of GitRepository/storefront/storefront"),
        "graph title not rendered"
    );
    for bad in [
        "Uncaught",
        "Refused to",
        "Content Security Policy",
        "Content-Security-Policy",
    ] {
        assert!(!log.contains(bad), "chromium console: {bad}:\n{log}");
    }

    // Light screenshot: the requested size, not blank, a light background.
    let light = dir.join("light.png");
    chromium(
        &dir.join("profile-light"),
        &[
            format!("--screenshot={}", light.display()),
            size.clone(),
            url.clone(),
        ],
    );
    let (w, h, ch, px) = decode_png(&light);
    assert_eq!((w, h), (1280, 2000), "screenshot size");
    let lum: Vec<f64> = px.chunks(ch).map(luma).collect();
    let mean = lum.iter().sum::<f64>() / lum.len() as f64;
    let var = lum.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / lum.len() as f64;
    assert!(
        var > 100.0,
        "screenshot looks blank (luma variance {var:.1})"
    );
    assert!(
        luma(&px[..ch]) > 200.0,
        "light background expected, got {:?}",
        &px[..ch]
    );

    // Dark mode: the same page flips its background.
    let dark = dir.join("dark.png");
    chromium(
        &dir.join("profile-dark"),
        &[
            "--force-dark-mode".into(),
            "--blink-settings=preferredColorScheme=0".into(),
            format!("--screenshot={}", dark.display()),
            size,
            url,
        ],
    );
    let (dw, dh, dch, dpx) = decode_png(&dark);
    assert_eq!((dw, dh), (1280, 2000));
    assert!(
        luma(&dpx[..dch]) < 60.0,
        "dark background expected, got {:?}",
        &dpx[..dch]
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn evidence_names_its_input_line() {
    let data = report_of(golden(CASE));
    let sources: BTreeMap<String, u64> = data
        .findings
        .iter()
        .flat_map(|h| h.evidence.iter())
        .filter_map(|e| e.source.clone().map(|s| (s, e.count)))
        .collect();
    assert!(!sources.is_empty(), "no evidence with a source");
    let text = String::from_utf8(golden(CASE).remove(0).1).unwrap();
    for s in sources.keys() {
        let line: usize = s
            .strip_prefix("input.log:")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{s}"));
        let l = text
            .lines()
            .nth(line - 1)
            .unwrap_or_else(|| panic!("{s}: past the end"));
        assert!(
            l.contains("error") || l.contains("False") || l.contains("Warning"),
            "{s} is not a failure line: {l}"
        );
    }
    assert_eq!(data.inputs[0].bytes, text.len() as u64);
    assert_eq!(data.inputs[0].sha256.len(), 64);
}

#[test]
fn the_command_writes_both_forms_and_keeps_its_stdout() {
    let bin = env!("CARGO_BIN_EXE_fluxsight");
    let input = root().join("tests/golden").join(CASE).join("input.log");
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-cli-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(bin)
            .arg("replay")
            .arg(&input)
            .args(extra)
            .output()
            .expect("run fluxsight");
        (
            out.status.code(),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, plain, _) = run(&[]);
    assert_eq!(code, Some(0));
    let html = dir.join("r.html");
    let (code, with, err) = run(&["--report", html.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(plain, with, "--report changed stdout");
    let page = fs::read_to_string(&html).unwrap();
    check_structure("cli html", &page);
    assert!(page.contains(env!("CARGO_PKG_VERSION")), "version missing");
    assert!(
        page.contains("input.log") && page.contains("built-in"),
        "inputs or config missing"
    );
    let md = dir.join("r.md");
    let (code, with, err) = run(&["--report", md.to_str().unwrap(), "--report-format", "md"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(plain, with);
    let text = fs::read_to_string(&md).unwrap();
    assert!(
        text.starts_with("# Post-mortem: ") && text.contains("## Action items"),
        "{}",
        &text[..200.min(text.len())]
    );
    // A report that cannot be written: exit 1, naming the file; stdout still complete.
    let bad = dir.join("no-such-dir/r.html");
    let (code, with, err) = run(&["--report", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no-such-dir/r.html"), "{err}");
    assert_eq!(plain, with);
    let _ = fs::remove_dir_all(&dir);
}
