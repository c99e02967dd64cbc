//! The churn simulator (examples/churn) as a regression test: a short history per
//! profile and two seeds must give no false or missed leak, no false or missed missing
//! ENI, no false or missed unschedulable pod, no ENI called forgotten that the
//! controller still tracks, and conserved per-node counts, on pods shaped as the kubelet
//! writes them (evictions, deadline kills, crash loops). The long runs are in
//! BENCHMARKS.md.

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
            let exercised = match profile.name {
                "evictions" => {
                    report.evictions_without_finish_time > 0
                        && report.deadline_kills_before_start > 0
                        && report.deadline_kills_after_start > 0
                }
                "full-cluster" => report.unschedulable_pods > 0,
                _ => true,
            };
            assert!(
                exercised,
                "the {} profile must generate its pod shapes: {}",
                profile.name,
                serde_json::to_string(&report).expect("report serializes")
            );
        }
    }
}
