//! The churn simulator (see `sim.rs`): drives the real join through long random
//! histories and checks it against the controller's truth.
//!
//! ```sh
//! cargo run --release --example churn -- --seed 7 --lifecycles 10000 [--profile P]
//! ```
//!
//! Prints one JSON object per profile and exits 1 if any count that must be 0 is not.

mod sim;

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Seed of the random history.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Pods to create per profile (each lives its whole lifecycle).
    #[arg(long, default_value_t = 10_000)]
    lifecycles: u64,
    /// Run only this profile (default: all).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(sim::PROFILES.map(|p| p.name)))]
    profile: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut failed = false;
    for profile in sim::PROFILES
        .into_iter()
        .filter(|p| args.profile.as_deref().is_none_or(|name| name == p.name))
    {
        let report = sim::run(profile, args.seed, args.lifecycles);
        failed |= report.failures() > 0;
        println!(
            "{}",
            serde_json::to_string(&report).expect("a report serializes")
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
