//! The exporter's metrics (DESIGN §5): the [`catalogue`] of every name and help text,
//! the counters and histograms the adapters update (here), each source's [`health`],
//! the [`collector`] that formats the latest snapshot at scrape time, and the standard
//! `process_*` family ([`process`]).

pub mod catalogue;
mod collector;
pub mod health;
pub mod process;

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use catalogue::*;
pub use health::{Source, SourceHealth};

use crate::accounting::Snapshot;
use crate::model::WarningKind;

/// Registers each `field: DEFINITION` pair under the definition's name and help.
macro_rules! register_all {
    ($registry:expr, $metrics:expr, { $($field:ident: $def:expr),* $(,)? }) => {
        $( $registry.register($def.name, $def.help, $metrics.$field.clone()); )*
    };
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationErrorLabels {
    operation: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    resource: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// Process metrics, updated by the adapters as things happen.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub health: SourceHealth,
    ec2_requests: Family<OperationLabels, Counter>,
    ec2_request_errors: Family<OperationErrorLabels, Counter>,
    ec2_poll_duration: Histogram,
    kube_objects: Family<ResourceLabels, Gauge>,
    kube_watch_errors: Family<ResourceLabels, Counter>,
    kube_relists: Family<ResourceLabels, Counter>,
    reconcile_duration: Histogram,
    input_warnings: Family<KindLabels, Counter>,
}

/// The web config's own health (`web`).
#[derive(Debug, Clone, Default)]
pub struct WebMetrics {
    pub last_reload_successful: Gauge,
    pub reloads: Counter,
    pub certificate_expiry: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            health: SourceHealth::default(),
            ec2_requests: Family::default(),
            ec2_request_errors: Family::default(),
            ec2_poll_duration: Histogram::new([
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
            ]),
            kube_objects: Family::default(),
            kube_watch_errors: Family::default(),
            kube_relists: Family::default(),
            // From a small cluster's milliseconds to the 5,000-node envelope's quarter second.
            reconcile_duration: Histogram::new([
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            input_warnings: Family::default(),
        }
    }
}

impl Metrics {
    /// A registry with everything in it, the snapshot collector included, with every
    /// bounded label combination pre-created so that `rate()` and alerts see zeros, not absences.
    pub fn new_registry(snapshot: SharedSnapshot) -> (Registry, Self) {
        // The exporter's own metrics under the prefix; the root stays free for the
        // unprefixed `process_*` family (`process_metrics`).
        let mut registry = Registry::default();
        let metrics = Self::default();
        let r = registry.sub_registry_with_prefix(PREFIX);
        r.register(SOURCE_UP.name, SOURCE_UP.help, metrics.health.up_view());
        r.register(
            SOURCE_LAST_SUCCESS.name,
            SOURCE_LAST_SUCCESS.help,
            metrics.health.last_success_view(),
        );
        register_all!(r, metrics, {
            ec2_requests: EC2_REQUESTS,
            ec2_request_errors: EC2_REQUEST_ERRORS,
            ec2_poll_duration: EC2_POLL_DURATION,
            kube_objects: KUBE_OBJECTS,
            kube_watch_errors: KUBE_WATCH_ERRORS,
            kube_relists: KUBE_RELISTS,
            reconcile_duration: RECONCILE_DURATION,
            input_warnings: INPUT_WARNINGS,
        });
        r.register_collector(Box::new(collector::SnapshotCollector { snapshot }));

        for operation in EC2_OPERATIONS {
            let _ = metrics
                .ec2_requests
                .get_or_create(&OperationLabels { operation });
            for code in EC2_ERROR_CODES {
                let _ = metrics
                    .ec2_request_errors
                    .get_or_create(&OperationErrorLabels { operation, code });
            }
        }
        for resource in crate::k8s::Resource::ALL.map(crate::k8s::Resource::as_str) {
            let _ = metrics
                .kube_objects
                .get_or_create(&ResourceLabels { resource });
            let _ = metrics
                .kube_watch_errors
                .get_or_create(&ResourceLabels { resource });
            let _ = metrics
                .kube_relists
                .get_or_create(&ResourceLabels { resource });
        }
        for kind in WarningKind::ALL {
            let _ = metrics.input_warnings.get_or_create(&KindLabels {
                kind: kind.as_str(),
            });
        }
        (registry, metrics)
    }

    /// The web config's metrics, registered only when there is a web config file
    /// (and the certificate's expiry only with TLS), so that an alert on them never
    /// sees a placeholder zero.
    pub fn register_web(registry: &mut Registry, tls: bool) -> WebMetrics {
        let metrics = WebMetrics::default();
        let r = registry.sub_registry_with_prefix(PREFIX);
        register_all!(r, metrics, {
            last_reload_successful: WEB_CONFIG_LAST_RELOAD_SUCCESSFUL,
            reloads: WEB_CONFIG_RELOADS,
        });
        if tls {
            r.register(
                WEB_TLS_CERTIFICATE_EXPIRY.name,
                WEB_TLS_CERTIFICATE_EXPIRY.help,
                metrics.certificate_expiry.clone(),
            );
        }
        metrics
    }

    pub fn ec2_request(&self, operation: &'static str) {
        self.ec2_requests
            .get_or_create(&OperationLabels { operation })
            .inc();
    }

    pub fn ec2_error(&self, operation: &'static str, code: &'static str) {
        self.ec2_request_errors
            .get_or_create(&OperationErrorLabels { operation, code })
            .inc();
    }

    pub fn ec2_poll_duration(&self, seconds: f64) {
        self.ec2_poll_duration.observe(seconds);
    }

    pub fn kube_objects(&self, resource: &'static str, count: usize) {
        self.kube_objects
            .get_or_create(&ResourceLabels { resource })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub fn kube_watch_error(&self, resource: &'static str) {
        self.kube_watch_errors
            .get_or_create(&ResourceLabels { resource })
            .inc();
    }

    pub fn kube_relist(&self, resource: &'static str) {
        self.kube_relists
            .get_or_create(&ResourceLabels { resource })
            .inc();
    }

    pub fn reconcile_duration(&self, seconds: f64) {
        self.reconcile_duration.observe(seconds);
    }

    pub fn input_warning(&self, kind: WarningKind) {
        self.input_warnings
            .get_or_create(&KindLabels {
                kind: kind.as_str(),
            })
            .inc();
    }
}

/// The latest snapshot, shared between the loop that makes it and the scrapes that
/// format it. Published atomically: a scrape never waits for a join, nor a join for a
/// scrape.
#[derive(Debug, Clone, Default)]
pub struct SharedSnapshot(Arc<ArcSwapOption<Snapshot>>);

impl SharedSnapshot {
    pub fn get(&self) -> Option<Arc<Snapshot>> {
        self.0.load_full()
    }

    pub fn set(&self, snapshot: Arc<Snapshot>) {
        self.0.store(Some(snapshot));
    }
}

/// Content types `/metrics` can answer with.
pub const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Formats the registry: OpenMetrics when the scraper asks for it, else the classic
/// Prometheus text format (what `promtool check metrics` and curl users read).
pub fn render(registry: &Registry, openmetrics: bool) -> (String, &'static str) {
    let mut body = String::new();
    let content_type = encode(registry, openmetrics, &mut body);
    (body, content_type)
}

/// Formats the registry into `out` (the endpoint compresses as it goes); returns the
/// content type.
pub fn encode(registry: &Registry, openmetrics: bool, out: &mut impl fmt::Write) -> &'static str {
    let result = if openmetrics {
        prometheus_client::encoding::text::encode(out, registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(out, registry)
    };
    // Writing to memory cannot fail; an error would be a bug in a collector.
    if let Err(error) = result {
        tracing::error!(%error, "encoding /metrics failed");
    }
    if openmetrics {
        OPENMETRICS_TEXT
    } else {
        PROMETHEUS_TEXT
    }
}
