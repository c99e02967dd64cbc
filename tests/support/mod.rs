//! Shared test back ends: moto (a real EC2 emulator), a fake Kubernetes API server, a
//! TCP proxy that can cut EC2 off, and a builder for the incident scenario on them.
#![allow(dead_code)] // each test crate uses a different part

pub mod apiserver;
pub mod moto;
pub mod proxy;
pub mod world;

use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of one series in a Prometheus text exposition, e.g.
/// `podeni_source_up{source="ec2"}`.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}
