//! Each source's health (Kubernetes, EC2): kept here by the loops that sync them, read
//! by the status page and the Event gate, and exported as `podeni_source_up` and
//! `podeni_source_last_success_timestamp_seconds` from the same state, so nothing reads
//! a figure back out of a Prometheus gauge.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

/// Sources that report health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Kubernetes,
    Ec2,
}

impl Source {
    pub const ALL: [Source; 2] = [Source::Kubernetes, Source::Ec2];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Kubernetes => "kubernetes",
            Source::Ec2 => "ec2",
        }
    }
}

#[derive(Debug, Default)]
struct State {
    up: AtomicBool,
    /// Unix seconds of the last good sync, as `f64` bits; 0 before the first.
    last_success: AtomicU64,
}

/// Up or down, and the last good sync, per source.
#[derive(Debug, Default, Clone)]
pub struct SourceHealth(Arc<[State; 2]>);

impl SourceHealth {
    fn state(&self, source: Source) -> &State {
        &self.0[source as usize]
    }

    pub fn set_up(&self, source: Source, up: bool) {
        self.state(source).up.store(up, Ordering::Relaxed);
    }

    pub fn succeeded(&self, source: Source, unix_seconds: f64) {
        let state = self.state(source);
        state.up.store(true, Ordering::Relaxed);
        state
            .last_success
            .store(unix_seconds.to_bits(), Ordering::Relaxed);
    }

    /// Whether the source is up, and its last good sync (Unix seconds).
    pub fn get(&self, source: Source) -> (bool, Option<f64>) {
        let state = self.state(source);
        let last = f64::from_bits(state.last_success.load(Ordering::Relaxed));
        (
            state.up.load(Ordering::Relaxed),
            (last > 0.0).then_some(last),
        )
    }

    /// Whether every source is up: the Event gate publishes nothing from a stale view.
    pub fn all_up(&self) -> bool {
        Source::ALL.into_iter().all(|source| self.get(source).0)
    }

    /// `podeni_source_up`, one series per source.
    pub(super) fn up_view(&self) -> UpView {
        UpView(self.clone())
    }

    /// `podeni_source_last_success_timestamp_seconds`, for sources that ever synced.
    pub(super) fn last_success_view(&self) -> LastSuccessView {
        LastSuccessView(self.clone())
    }
}

#[derive(Debug)]
pub(super) struct UpView(SourceHealth);

#[derive(Debug)]
pub(super) struct LastSuccessView(SourceHealth);

impl EncodeMetric for UpView {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for source in Source::ALL {
            let up = i64::from(self.0.get(source).0);
            ConstGauge::new(up).encode(encoder.encode_family(&[("source", source.as_str())])?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

impl EncodeMetric for LastSuccessView {
    /// Before any source synced, no series and no descriptor.
    fn is_empty(&self) -> bool {
        Source::ALL.iter().all(|s| self.0.get(*s).1.is_none())
    }

    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for source in Source::ALL {
            if let (_, Some(last)) = self.0.get(source) {
                ConstGauge::new(last)
                    .encode(encoder.encode_family(&[("source", source.as_str())])?)?;
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}
