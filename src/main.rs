use std::process::ExitCode;

use clap::Parser;
use pod_eni_exporter::{cli::Cli, commands, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    commands::run(cli).unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::from(commands::EXIT_INPUT_ERROR)
    })
}
