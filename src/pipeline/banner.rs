//! The start-up banner of `run` and `record`: what a user needs to trust a live run
//! before the first finding, one line per item — the version, the config file, each
//! source and what it follows, each sink, the listen addresses and whether the receiver
//! requires a signature — on stderr, and the same as one structured INFO log line.
//!
//! Owns: the words and the log line. Does not own: any decision (the command resolves
//! the addresses, and refuses an unsigned receiver on the network, before this prints).
//!
//! Invariants: nothing here is written to stdout (the data stream), and nothing carries
//! a secret: sinks are shown by name and type only, never by URL (a Slack or webhook URL
//! is itself the credential), and the receiver's key only as "required".

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The version every banner starts with.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One source of a live run.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceInfo {
    /// An `--input` file.
    File {
        path: String,
        follow: bool,
        /// `--wait-for-input`: the path may not exist yet.
        wait: bool,
    },
    /// `--input -`.
    Stdin,
    /// The Flux controllers of a cluster.
    Kube {
        context: Option<String>,
        server: String,
        namespace: String,
    },
    /// No cluster, and why (`--no-kube`, no configuration found).
    KubeOff { why: &'static str },
}

impl SourceInfo {
    /// The source an `--input` value names.
    pub fn input(path: &str, follow: bool, wait: bool) -> Self {
        if path == "-" {
            SourceInfo::Stdin
        } else {
            SourceInfo::File {
                path: path.to_string(),
                follow,
                wait,
            }
        }
    }
}

impl fmt::Display for SourceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceInfo::File { path, follow, wait } => {
                let how = if *follow { "following" } else { "to its end" };
                let wait = if *wait {
                    ", waiting for it to appear"
                } else {
                    ""
                };
                write!(f, "file {path} ({how}{wait})")
            }
            SourceInfo::Stdin => f.write_str("stdin"),
            SourceInfo::Kube {
                context,
                server,
                namespace,
            } => write!(
                f,
                "kube: context {}, server {server}, namespace {namespace}",
                context.as_deref().unwrap_or("(none)")
            ),
            SourceInfo::KubeOff { why } => write!(f, "kube: off ({why})"),
        }
    }
}

/// What the receiver requires of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// `receiver.hmac_secret` is set: unsigned payloads get 401.
    Required,
    /// No key, on a loopback address: only this host can post.
    NotRequired,
    /// No key on a network address, accepted with `--allow-unsigned`.
    AllowedUnsigned,
}

/// Where `run` listens.
#[derive(Debug, Clone, PartialEq)]
pub struct Listening {
    pub listen: SocketAddr,
    /// `None`: `health_listen: none`.
    pub health: Option<SocketAddr>,
    pub signature: Signature,
}

/// The banner of one start.
#[derive(Debug, Clone, PartialEq)]
pub struct Banner {
    /// `run` or `record`.
    pub command: &'static str,
    pub config: Option<PathBuf>,
    pub sources: Vec<SourceInfo>,
    /// `<name> (<type>)` of each sink.
    pub sinks: Vec<String>,
    /// `run` only.
    pub listening: Option<Listening>,
    /// `record`: the capture file written.
    pub capture: Option<PathBuf>,
}

impl Banner {
    /// The banner's lines: a title, then one indented line per item.
    pub fn lines(&self) -> Vec<String> {
        let mut v = vec![format!("fluxsight {VERSION} {}", self.command)];
        v.push(format!("  config: {}", self.config_text()));
        v.extend(self.sources.iter().map(|s| format!("  source: {s}")));
        if let Some(c) = &self.capture {
            v.push(format!("  capture: {}", c.display()));
        }
        if self.capture.is_none() {
            if self.sinks.is_empty() {
                v.push("  sink: none (findings are not delivered)".into());
            }
            v.extend(self.sinks.iter().map(|s| format!("  sink: {s}")));
        }
        if let Some(l) = &self.listening {
            v.push(format!(
                "  listen: {} (receiver POST /events, /metrics, /healthz, /readyz); {}",
                l.listen,
                match l.signature {
                    Signature::Required => "signature required (receiver.hmac_secret)",
                    Signature::NotRequired | Signature::AllowedUnsigned =>
                        "signature not required (no receiver.hmac_secret)",
                }
            ));
            match l.health {
                Some(h) => v.push(format!("  health: {h} (/healthz, /readyz, /metrics)")),
                None => v.push("  health: none".into()),
            }
            if l.signature == Signature::AllowedUnsigned {
                v.push(format!("  warning: {}", unsigned_warning(l.listen)));
            }
        }
        v
    }

    fn config_text(&self) -> String {
        self.config
            .as_ref()
            .map_or_else(|| "none".into(), |p| p.display().to_string())
    }

    /// Prints the lines on stderr (with `text`; JSON logs stay one object per line) and
    /// logs the banner as one INFO line with fields; an unsigned receiver on the network
    /// is also a WARN in JSON logs, where the text warning is not printed.
    pub fn emit(&self, text: bool) {
        if text {
            eprintln!("{}", self.lines().join("\n"));
        }
        let join = |v: Vec<String>| v.join("; ");
        let l = self.listening.as_ref();
        tracing::info!(
            version = VERSION,
            command = self.command,
            config = %self.config_text(),
            sources = %join(self.sources.iter().map(ToString::to_string).collect()),
            sinks = %join(self.sinks.clone()),
            capture = %self.capture.as_ref().map_or_else(|| "-".into(), |c| c.display().to_string()),
            listen = %l.map_or_else(|| "-".into(), |l| l.listen.to_string()),
            health_listen = %l.and_then(|l| l.health).map_or_else(|| "-".into(), |h| h.to_string()),
            signature_required = l.is_some_and(|l| l.signature == Signature::Required),
            "fluxsight starting"
        );
        if let Some(l) = l.filter(|l| l.signature == Signature::AllowedUnsigned && !text) {
            tracing::warn!(listen = %l.listen, "{}", unsigned_warning(l.listen));
        }
    }
}

fn unsigned_warning(listen: SocketAddr) -> String {
    format!(
        "receiver on {listen} accepts unsigned events from any host that reaches it \
         (--allow-unsigned); set receiver.hmac_secret to require a signature"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn banner(signature: Signature) -> Banner {
        Banner {
            command: "run",
            config: Some("pipeline.yaml".into()),
            sources: vec![
                SourceInfo::input("app.log", true, false),
                SourceInfo::input("-", true, false),
                SourceInfo::Kube {
                    context: Some("kind-dev".into()),
                    server: "https://127.0.0.1:6443".into(),
                    namespace: "flux-system".into(),
                },
            ],
            sinks: vec!["oncall (slack)".into()],
            listening: Some(Listening {
                listen: "0.0.0.0:9797".parse().unwrap(),
                health: None,
                signature,
            }),
            capture: None,
        }
    }

    #[test]
    fn one_line_per_item_and_a_warning_only_when_unsigned_on_the_network() {
        let lines = banner(Signature::AllowedUnsigned).lines();
        assert_eq!(
            lines[1..],
            [
                "  config: pipeline.yaml",
                "  source: file app.log (following)",
                "  source: stdin",
                "  source: kube: context kind-dev, server https://127.0.0.1:6443, namespace flux-system",
                "  sink: oncall (slack)",
                "  listen: 0.0.0.0:9797 (receiver POST /events, /metrics, /healthz, /readyz); signature not required (no receiver.hmac_secret)",
                "  health: none",
                "  warning: receiver on 0.0.0.0:9797 accepts unsigned events from any host that reaches it (--allow-unsigned); set receiver.hmac_secret to require a signature",
            ]
        );
        let signed = banner(Signature::Required).lines();
        assert!(signed
            .iter()
            .any(|l| l.ends_with("signature required (receiver.hmac_secret)")));
        assert!(!signed.iter().any(|l| l.contains("warning")));
    }

    #[test]
    fn record_shows_its_capture_and_no_sinks() {
        let b = Banner {
            command: "record",
            config: None,
            sources: vec![
                SourceInfo::input("a.log", false, true),
                SourceInfo::KubeOff { why: "--no-kube" },
            ],
            sinks: Vec::new(),
            listening: None,
            capture: Some("capture.log".into()),
        };
        assert_eq!(
            b.lines()[1..],
            [
                "  config: none",
                "  source: file a.log (to its end, waiting for it to appear)",
                "  source: kube: off (--no-kube)",
                "  capture: capture.log",
            ]
        );
    }
}
