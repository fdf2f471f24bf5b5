//! `run` and `record`: the live commands. Owns their flag checks, where `run` listens,
//! which sources they read (`--input` files and the cluster), the start-up banner hook
//! and signal handling; the pipelines themselves are `fluxsight::pipeline::{live,
//! capture}`. A usage or configuration problem exits 2 before anything starts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;

use fluxsight::pipeline::banner::{Banner, Listening, Signature, SourceInfo};
use fluxsight::pipeline::live::{rebuild_lookback_ms, run_live, Clock, LiveOptions};
use fluxsight::render::colour::Palette;
use fluxsight::sources::file::open_input;
use fluxsight::telemetry::logs::LogFormat;

use super::args::{KubeArgs, RecordArgs, RunArgs};
use super::common::{self, print_sink_stats, usage, Pipeline, USAGE};

/// Worker threads of the live runtime: the decode and the correlator stages each get a
/// core (the machine fluxsight is sized for has two).
const WORKER_THREADS: usize = 2;

/// What `run` and `record` read.
pub struct LiveInputs {
    inputs: Vec<String>,
    follow: bool,
    /// `--wait-for-input`.
    wait: bool,
    no_kube: bool,
    kube: KubeArgs,
}

impl LiveInputs {
    /// The input flags `run` and `record` share.
    fn new(
        inputs: Vec<String>,
        (no_follow, wait): (bool, bool),
        no_kube: bool,
        kube: KubeArgs,
    ) -> Self {
        LiveInputs {
            inputs,
            follow: !no_follow,
            wait,
            no_kube,
            kube,
        }
    }

    /// The `--input` checks `replay` makes, before anything starts: a path that cannot
    /// be read is a usage error (exit 2) naming it, unless `--wait-for-input` waits for
    /// it to appear; a directory is one always.
    fn check(&self) -> Result<(), ExitCode> {
        for path in self.inputs.iter().filter(|p| p.as_str() != "-") {
            match open_input(Path::new(path)) {
                Ok(_) => {}
                Err(e) if self.wait && e.may_appear() => {}
                Err(e) if e.may_appear() => {
                    eprintln!("fluxsight: {e}; pass --wait-for-input to wait for it");
                    return Err(ExitCode::from(USAGE));
                }
                Err(e) => {
                    eprintln!("fluxsight: {e}");
                    return Err(ExitCode::from(USAGE));
                }
            }
        }
        Ok(())
    }

    /// The banner lines of the `--input` sources.
    fn describe(&self) -> Vec<SourceInfo> {
        self.inputs
            .iter()
            .map(|p| SourceInfo::input(p, self.follow, self.wait))
            .collect()
    }
}

/// Where `run` listens, as given on the command line.
struct ListenArgs {
    listen: Option<String>,
    health_listen: Option<String>,
    /// `--allow-unsigned`.
    allow_unsigned: bool,
}

/// `fluxsight run`.
pub fn run(
    args: RunArgs,
    text_palette: Palette,
    log_format: LogFormat,
) -> anyhow::Result<ExitCode> {
    let RunArgs {
        config,
        inputs,
        no_follow,
        listen,
        health_listen,
        allow_unsigned,
        wait_for_input,
        output,
        audit,
        no_kube,
        clock,
        rebuild_lookback,
        kube,
    } = args;
    let config = config.as_deref();
    let inputs = LiveInputs::new(inputs, (no_follow, wait_for_input), no_kube, kube);
    let listen_args = ListenArgs {
        listen,
        health_listen,
        allow_unsigned,
    };
    let stdout = output.format();
    let follow = inputs.follow;
    let Some(clock) = Clock::parse(&clock) else {
        return Ok(usage(format!(
            "--clock: '{clock}' is not one of {}",
            Clock::NAMES.join(", ")
        )));
    };
    if let Err(code) = inputs.check() {
        return Ok(code);
    }
    let Pipeline {
        settings,
        plan,
        live,
    } = match common::load(None, config) {
        Ok(p) => p,
        Err(e) => return Ok(e.report_live()),
    };
    let hmac_key = match &live.receiver.hmac_secret {
        None => None,
        Some(s) => match s.resolve() {
            Ok(k) => Some(k.into_bytes()),
            Err(e) => return Ok(usage(format!("receiver.hmac_secret: {e}"))),
        },
    };
    let listening = match resolve_listening(
        listen_args,
        (live.listen, live.health_listen),
        hmac_key.is_some(),
    ) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let lookback_ms = match rebuild_lookback.as_deref() {
        // A recording is finite and must give the same answer every time: its state is
        // rebuilt from the start of the file. Live, the patterns' windows suffice.
        None if clock == Clock::Record => i64::MAX,
        None => rebuild_lookback_ms(&settings),
        Some("all") => i64::MAX,
        Some(s) => match fluxsight::parse::time::parse_go_duration_ms(s) {
            Some(d) => d as i64,
            None => {
                return Ok(usage(format!(
                    "--rebuild-lookback: '{s}' is not a duration"
                )))
            }
        },
    };
    let mut opts = LiveOptions {
        listen: Some(listening.listen),
        health_listen: listening.health,
        receiver: live.receiver.settings(hmac_key),
        api: live.api,
        stdout,
        text_palette,
        audit_to_stdout: audit,
        tick: std::time::Duration::from_secs(1),
        clock,
        stop_when_inputs_end: !follow,
        config_path: config.map(Path::to_path_buf),
        lookups: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()?;
    let stdout_sink = stdout
        .and(output.to_possible_value())
        .map(|v| format!("stdout (--output {})", v.get_name()));
    let banner = Banner {
        command: "run",
        config: config.map(Path::to_path_buf),
        sources: Vec::new(),
        sinks: stdout_sink
            .into_iter()
            .chain(
                plan.sinks
                    .iter()
                    .map(|s| format!("{} ({})", s.name(), s.type_name())),
            )
            .collect(),
        listening: Some(listening),
        capture: None,
    };
    let announce = |sources| {
        Banner { sources, ..banner }.emit(log_format == LogFormat::Text);
    };
    let sources = match live_sources(
        &rt,
        inputs,
        lookback_ms,
        live.kubernetes,
        announce,
        &mut opts.lookups,
    ) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    let telemetry = fluxsight::telemetry::Telemetry::new();
    let summary = rt.block_on(async {
        spawn_signal_handler(cancel.clone());
        run_live(settings, &plan, sources, opts, telemetry, cancel).await
    });
    // A sink stuck in blocking I/O must not hold the exit past the shutdown deadline.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    match summary {
        Ok(s) => {
            print_sink_stats(&s.sinks);
            if s.suppressed > 0 || s.withheld > 0 {
                eprintln!(
                    "fluxsight: rebuild outputs not re-sent {}; batches left unacknowledged {}",
                    s.suppressed, s.withheld
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        // A state directory another process holds or a sink the configuration cannot
        // build exits 2; runtime failures (an address that cannot be bound, a spool
        // that cannot be opened) exit 1.
        Err(e) => {
            eprintln!("fluxsight: {e}");
            Ok(ExitCode::from(e.exit_code()))
        }
    }
}

/// The addresses of `run`: the flag, else the pipeline file, else the default (loopback
/// outside a cluster). An unsigned receiver on an address other than loopback is refused
/// (exit 2) unless `--allow-unsigned`: a laptop's receiver must not take events from the
/// network by accident (SECURITY.md, "Unsigned receiver").
fn resolve_listening(
    args: ListenArgs,
    (file_listen, file_health): (Option<String>, Option<String>),
    has_hmac_key: bool,
) -> Result<Listening, ExitCode> {
    use fluxsight::server::{default_listens, exposes_unsigned, in_cluster, parse_optional_listen};
    let (default_listen, default_health) = default_listens(in_cluster());
    let listen = args
        .listen
        .or(file_listen)
        .unwrap_or_else(|| default_listen.into());
    let Ok(addr) = listen.parse() else {
        eprintln!("fluxsight: --listen: '{listen}' is not an address such as {default_listen}");
        return Err(ExitCode::from(USAGE));
    };
    let health_listen = args
        .health_listen
        .or(file_health)
        .unwrap_or_else(|| default_health.into());
    let Ok(health) = parse_optional_listen(&health_listen) else {
        eprintln!(
            "fluxsight: --health-listen: '{health_listen}' is not an address such as {default_health}, nor none"
        );
        return Err(ExitCode::from(USAGE));
    };
    let signature = match (has_hmac_key, exposes_unsigned(addr, has_hmac_key)) {
        (true, _) => Signature::Required,
        (false, false) => Signature::NotRequired,
        (false, true) if args.allow_unsigned => Signature::AllowedUnsigned,
        (false, true) => {
            eprintln!(
                "fluxsight: the receiver on {addr} would accept unsigned events from any host that reaches it; \
                 set receiver.hmac_secret in the pipeline file (Flux generic-hmac Provider), \
                 listen on loopback (--listen 127.0.0.1:{port}), \
                 or pass --allow-unsigned to accept them anyway",
                port = addr.port()
            );
            return Err(ExitCode::from(USAGE));
        }
    };
    Ok(Listening {
        listen: addr,
        health,
        signature,
    })
}

/// First signal: cancel (drain and exit); second signal: exit now.
fn spawn_signal_handler(c: tokio_util::sync::CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::warn!("shutdown signal received; draining (a second signal forces exit)");
        c.cancel();
        wait_for_signal().await;
        eprintln!("fluxsight: second signal: exiting now");
        std::process::exit(1);
    });
}

/// The sources of `run` and `record`: `--input` files, and the cluster unless
/// `--no-kube`. `announce` gets their banner lines once they are known, before the
/// cluster is first contacted (which may wait on a server that does not answer). A
/// cluster configuration that is missing or broken is a usage error (exit 2; only a
/// warning when none exists and files were given); a checkpoint that cannot be read is a
/// runtime failure (exit 1); a cluster that does not answer is waited for by the
/// Kubernetes sources (logged per back-off step, `/readyz` false).
fn live_sources(
    rt: &tokio::runtime::Runtime,
    inputs: LiveInputs,
    lookback_ms: i64,
    mut kube: fluxsight::sources::kube::KubeSettings,
    announce: impl FnOnce(Vec<SourceInfo>),
    lookups: &mut Option<fluxsight::pipeline::live::LookupSource>,
) -> Result<Vec<fluxsight::sources::SourceTask>, ExitCode> {
    use fluxsight::sources::follow::{file_source, FileOptions};
    use fluxsight::sources::kube::config::RUNTIME_NAMESPACE_ENV;
    use fluxsight::sources::kube::{client, cluster_config, kube_source, Checkpoints};
    let mut described = inputs.describe();
    let LiveInputs {
        inputs,
        follow,
        wait,
        no_kube,
        kube: args,
    } = inputs;
    let has_inputs = !inputs.is_empty();
    let mut sources: Vec<fluxsight::sources::SourceTask> = inputs
        .into_iter()
        .map(|p| {
            let opts = FileOptions {
                follow,
                positions: kube.checkpoint_dir.as_ref().map(PathBuf::from),
                lookback_ms,
                wait_for_input: wait,
            };
            file_source(p, opts)
        })
        .collect();
    if no_kube {
        described.push(SourceInfo::KubeOff { why: "--no-kube" });
        announce(described);
        return Ok(sources);
    }
    let opts = fluxsight::sources::kube::ClusterOptions {
        kubeconfig: args.kubeconfig,
        context: args.context,
    };
    let found = match rt.block_on(cluster_config(&opts)) {
        Ok(c) => c,
        Err(e) if e.is_missing() && has_inputs => {
            eprintln!("fluxsight: warning: {e}; following --input only");
            described.push(SourceInfo::KubeOff {
                why: "no cluster configuration found",
            });
            announce(described);
            return Ok(sources);
        }
        Err(e) if e.is_missing() => {
            eprintln!("fluxsight: {e}; pass --kubeconfig, set KUBECONFIG, run inside the cluster, or pass --no-kube");
            return Err(ExitCode::from(USAGE));
        }
        Err(e) => {
            eprintln!("fluxsight: {e}");
            return Err(ExitCode::from(USAGE));
        }
    };
    let runtime_ns = std::env::var(RUNTIME_NAMESPACE_ENV).ok();
    kube.resolve_namespace(args.namespace.as_deref(), runtime_ns.as_deref());
    tracing::info!(
        server = %found.config.cluster_url,
        source = %found.source,
        context = found.context.as_deref().unwrap_or("-"),
        namespace = %kube.namespace,
        "cluster configuration loaded"
    );
    // Local state first: it fails fast, where the probe below may wait.
    let ckpt = match &kube.checkpoint_dir {
        None => Checkpoints::in_memory(),
        Some(dir) => match Checkpoints::load(Path::new(dir)) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("fluxsight: {e}");
                return Err(ExitCode::from(1));
            }
        },
    };
    described.push(SourceInfo::Kube {
        context: found.context.clone(),
        server: found.config.cluster_url.to_string(),
        namespace: kube.namespace.clone(),
    });
    announce(described);
    let client = match rt.block_on(client(found)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fluxsight: {e}");
            return Err(ExitCode::from(USAGE));
        }
    };
    *lookups = Some(fluxsight::pipeline::live::LookupSource {
        client: client.client.clone(),
        settings: kube.lookups.clone(),
    });
    sources.push(kube_source(client, kube, std::sync::Arc::new(ckpt)));
    Ok(sources)
}

/// `fluxsight record`.
pub fn record(args: RecordArgs, log_format: LogFormat) -> anyhow::Result<ExitCode> {
    let RecordArgs {
        to,
        output,
        config,
        inputs,
        no_follow,
        wait_for_input,
        no_kube,
        kube,
    } = args;
    if output.is_some() {
        eprintln!("fluxsight: warning: record --output FILE is deprecated and goes in the next release; use --to FILE");
    }
    // clap requires one of them; kept as a usage error should that change.
    let Some(output) = to.or(output) else {
        return Ok(usage("record: --to FILE is required"));
    };
    let output = output.as_path();
    let config = config.as_deref();
    let inputs = LiveInputs::new(inputs, (no_follow, wait_for_input), no_kube, kube);
    if let Err(code) = inputs.check() {
        return Ok(code);
    }
    let kube = match common::load(None, config) {
        Ok(p) => p.live.kubernetes,
        Err(e) => return Ok(e.report_live()),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()?;
    // `record` writes every line as read: no pipeline commits them, so no checkpoint
    // lookback applies (positions advance only when committed; see sources::ack).
    let announce = |sources| {
        Banner {
            command: "record",
            config: config.map(Path::to_path_buf),
            sources,
            sinks: Vec::new(),
            listening: None,
            capture: Some(output.to_path_buf()),
        }
        .emit(log_format == LogFormat::Text);
    };
    // `record` writes lines and correlates nothing: no lookups.
    let sources = match live_sources(&rt, inputs, 0, kube, announce, &mut None) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    let telemetry = fluxsight::telemetry::Telemetry::new();
    let n = rt.block_on(async {
        spawn_signal_handler(cancel.clone());
        fluxsight::pipeline::capture::run_capture(sources, output, telemetry, cancel).await
    });
    match n {
        Ok(n) => {
            eprintln!("fluxsight: recorded {n} lines to {}", output.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("fluxsight: {}: {e}", output.display());
            Ok(ExitCode::from(1))
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub(super) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
