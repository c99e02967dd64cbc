//! Wiring: each subcommand puts adapters, the join and a renderer together.

use std::process::ExitCode;

use anyhow::{Context, bail};
use jiff::Timestamp;

use crate::accounting::{Settings, reconcile};
use crate::audit::{conditions_holding, render_json, render_table};
use crate::cli::{AuditArgs, Cli, Command, OutputFormat};
use crate::snapshot_dir;

/// Exit code for usage and input errors (DESIGN §7).
pub const EXIT_INPUT_ERROR: u8 = 2;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Audit(args) => audit(args),
        Command::Serve(_) => {
            bail!("serve: the live exporter is not built yet; use `audit --from DIR`")
        }
        Command::Snapshot(_) => {
            bail!("snapshot: reading the live APIs is not built yet; use `audit --from DIR`")
        }
    }
}

fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let AuditArgs {
        live: _,
        from,
        output,
        fail_on,
        leak_grace,
    } = args;
    let Some(dir) = from else {
        bail!("audit: live mode is not built yet; pass --from DIR (a snapshot directory)");
    };
    let loaded = snapshot_dir::read_dir(&dir)
        .with_context(|| format!("audit: cannot read snapshot directory {}", dir.display()))?;
    let mut snapshot = reconcile(
        &loaded.nodes,
        &loaded.pods,
        &loaded.inventory,
        Timestamp::now(),
        None,
        &Settings { leak_grace },
    );
    snapshot.add_input_warnings(loaded.warnings);
    match output {
        OutputFormat::Table => print!("{}", render_table(&snapshot)),
        OutputFormat::Json => print!("{}", render_json(&snapshot)),
    }
    let holding = conditions_holding(&snapshot, &fail_on);
    if holding.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<String> = holding
        .iter()
        .map(|c| format!("{c:?}").to_lowercase())
        .collect();
    eprintln!("audit: failing on: {}", names.join(", "));
    Ok(ExitCode::FAILURE)
}
