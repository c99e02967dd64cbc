use std::process::ExitCode;

use clap::Parser;
use pod_eni_exporter::app::{cli::Cli, commands, logging};

/// jemalloc instead of glibc malloc: the cache is hundreds of thousands of small
/// allocations and a re-list frees a whole cache at once; glibc kept those pages (RSS
/// never came down after a re-list). jemalloc's background thread returns freed pages to
/// the OS within a second or so (`malloc_conf` below; BENCHMARKS.md, envelope).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Read by jemalloc at start: one background purging thread, freed pages returned
/// after 1 s, few arenas (the exporter has a handful of busy threads, not hundreds).
#[unsafe(export_name = "malloc_conf")]
pub static MALLOC_CONF: &[u8] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:2\0";

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = logging::init(cli.log_format) {
        eprintln!("error: {error}");
        return ExitCode::from(commands::EXIT_INPUT_ERROR);
    }
    commands::run(cli).unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::from(commands::EXIT_INPUT_ERROR)
    })
}
