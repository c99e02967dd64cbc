//! Structured logs on stderr (stdout belongs to `audit` output), plain or JSON,
//! filtered by `RUST_LOG` (default [`DEFAULT_FILTER`]).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::app::cli::LogFormat;

/// `info`, without kube's own per-request errors: during an API outage they repeat on
/// every retry, while the watchers report the outage once when it starts and ends.
pub const DEFAULT_FILTER: &str = "info,kube_client=off,kube_runtime=off";

/// Sets up logging; a `RUST_LOG` that is not a filter is an error (the caller exits 2)
/// rather than a default silently put in its place.
pub fn init(format: LogFormat) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(text) if !text.trim().is_empty() => EnvFilter::try_new(&text)
            .map_err(|error| format!("RUST_LOG={text:?} is not a log filter: {error}"))?,
        Ok(_) | Err(std::env::VarError::NotPresent) => EnvFilter::new(DEFAULT_FILTER),
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err("RUST_LOG is not UTF-8 text".to_owned());
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, never in collected logs.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests calling in twice) is harmless: keep the first.
    let _ = match format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Ok(())
}
