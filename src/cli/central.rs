//! `fluxsight central`: loads the pipeline file (its `central:`, `sinks:` and `routes:`),
//! resolves where the metrics listen, handles signals, and runs
//! `fluxsight::pipeline::central` on this thread (the consumer thread). A usage or
//! configuration problem exits 2 before anything starts.

use std::process::ExitCode;

use fluxsight::pipeline::central::{run_central, CentralOptions};

use super::args::CentralArgs;
use super::common::{self, print_sink_stats, usage};

/// `fluxsight central --config FILE`.
pub fn central(args: CentralArgs) -> anyhow::Result<ExitCode> {
    let CentralArgs {
        config,
        health_listen,
        client_id,
    } = args;
    let p = match common::load(None, Some(&config)) {
        Ok(p) => p,
        Err(e) => return Ok(e.report_live()),
    };
    let Some(central) = p.live.central.clone() else {
        return Ok(usage(format!(
            "{}: central.brokers: fluxsight central needs the Kafka brokers of the signals topic",
            config.display()
        )));
    };
    if p.plan.settings.state_dir.is_none() {
        tracing::warn!("no delivery.state_dir: outputs wait in memory, and a crash loses those whose offsets were committed; set one for at-least-once delivery");
    }
    let (_, default_health) = fluxsight::server::default_listens(fluxsight::server::in_cluster());
    let listen = health_listen
        .or(p.live.health_listen.clone())
        .unwrap_or_else(|| default_health.to_string());
    let Ok(health_listen) = fluxsight::server::parse_optional_listen(&listen) else {
        return Ok(usage(format!(
            "--health-listen: '{listen}' is not an address such as {default_health}, nor none"
        )));
    };
    let client_id = client_id.unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| std::process::id().to_string());
        format!("fluxsight-central-{host}")
    });
    let cancel = tokio_util::sync::CancellationToken::new();
    spawn_signal_thread(cancel.clone());
    let telemetry = fluxsight::telemetry::Telemetry::new();
    let opts = CentralOptions {
        health_listen,
        client_id,
    };
    match run_central(p.settings, &p.plan, &central, opts, telemetry, cancel) {
        Ok(s) => {
            print_sink_stats(&s.sinks);
            eprintln!(
                "fluxsight: central: {} live records, {} dead-lettered",
                s.records, s.dead_lettered
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("fluxsight: {e}");
            Ok(ExitCode::from(e.exit_code()))
        }
    }
}

/// First signal: cancel (leave the group, drain, exit); second: exit now. The consumer
/// owns the main thread, so signals are awaited on a thread of their own.
fn spawn_signal_thread(cancel: tokio_util::sync::CancellationToken) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            super::live::wait_for_signal().await;
            tracing::warn!(
                "shutdown signal received; leaving the group (a second signal forces exit)"
            );
            cancel.cancel();
            super::live::wait_for_signal().await;
            eprintln!("fluxsight: second signal: exiting now");
            std::process::exit(1);
        });
    });
}
