//! `fluxsight drain`: deliver what the sinks' spools hold (after a crash or a kill) and
//! exit. Owns only the wiring; delivery is `fluxsight::pipeline::deliver`. Exit 0 only
//! when nothing is left to deliver.

use std::path::Path;
use std::process::ExitCode;

use fluxsight::pipeline::deliver::Deliverer;

use super::common::{self, print_sink_stats, USAGE};

/// `fluxsight drain --config FILE`.
pub fn drain(config: &Path) -> anyhow::Result<ExitCode> {
    let plan = match common::load(None, Some(config)) {
        Ok(p) => p.plan,
        Err(e) => return Ok(e.report()),
    };
    if plan.settings.state_dir.is_none() {
        eprintln!(
            "fluxsight: {}: delivery.state_dir: drain needs a state directory",
            config.display()
        );
        return Ok(ExitCode::from(USAGE));
    }
    let d = match Deliverer::start(&plan) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("fluxsight: {e}");
            return Ok(ExitCode::from(e.exit_code()));
        }
    };
    let stats = d.finish();
    let left: u64 = stats.values().map(|s| s.backlog).sum();
    print_sink_stats(&stats);
    Ok(if left == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
