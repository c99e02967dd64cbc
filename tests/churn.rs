//! The churn simulator (examples/churn) as a regression test: a short history per
//! profile and two seeds must give no false or missed leak, no false or missed missing
//! ENI, and conserved per-node counts. The long runs are in BENCHMARKS.md.

#[path = "../examples/churn/sim.rs"]
#[allow(dead_code)]
mod sim;

#[test]
fn every_profile_holds_under_churn() {
    for seed in [11, 12] {
        for profile in sim::PROFILES {
            let report = sim::run(profile, seed, 1_200);
            assert_eq!(
                report.failures(),
                0,
                "{}",
                serde_json::to_string(&report).expect("report serializes")
            );
            assert!(
                report.real_leaks > 0 && report.missing_injected > 0,
                "the history must exercise leaks and missing ENIs: {}",
                serde_json::to_string(&report).expect("report serializes")
            );
        }
    }
}
