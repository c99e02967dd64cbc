//! Every metric name and help text (DESIGN §5; the standard `process_*` family is in
//! `process_metrics`), the process metrics the adapters update, and the collector that
//! formats the latest [`Snapshot`] at scrape time, so nodes and subnets that vanish from
//! the snapshot vanish from `/metrics`.

pub mod process;

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use jiff::Timestamp;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::accounting::{EniState, Snapshot, UnattributedReason};
use crate::model::WarningKind;

pub const PREFIX: &str = "podeni";

/// One metric: its name without the prefix (counters without `_total`, which the
/// encoder appends) and its help text.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricType,
}

const fn gauge(name: &'static str, help: &'static str) -> MetricDef {
    MetricDef {
        name,
        help,
        kind: MetricType::Gauge,
    }
}

const fn counter(name: &'static str, help: &'static str) -> MetricDef {
    MetricDef {
        name,
        help,
        kind: MetricType::Counter,
    }
}

const fn histogram(name: &'static str, help: &'static str) -> MetricDef {
    MetricDef {
        name,
        help,
        kind: MetricType::Histogram,
    }
}

impl MetricDef {
    /// The name as it appears in `/metrics`, e.g. `podeni_ec2_requests_total`.
    pub fn exposed_name(&self) -> String {
        match self.kind {
            MetricType::Counter => format!("{PREFIX}_{}_total", self.name),
            _ => format!("{PREFIX}_{}", self.name),
        }
    }
}

pub const NODE_INFO: MetricDef = gauge(
    "node_info",
    "Node identity for nodes that use security groups for pods; join on node",
);
pub const NODE_CAPACITY: MetricDef = gauge(
    "node_branch_eni_capacity",
    "Branch ENIs the node can hold (allocatable vpc.amazonaws.com/pod-eni, else the instance type table)",
);
pub const NODE_REQUESTS: MetricDef = gauge(
    "node_branch_eni_requests",
    "vpc.amazonaws.com/pod-eni requested by pods that are not Succeeded/Failed: what the scheduler and kubectl describe node count",
);
pub const NODE_BRANCH_ENIS: MetricDef = gauge(
    "node_branch_enis",
    "Branch ENIs associated with the node's trunk in EC2, by state (in_use, completed_pod, orphaned, leaked)",
);
pub const NODE_REMAINING: MetricDef = gauge(
    "node_branch_eni_remaining",
    "Security-group pods the node can still start: capacity - attached - branch ENIs its waiting pods need, never below 0; 0 on nodes that do not advertise vpc.amazonaws.com/pod-eni",
);
pub const NODE_WAITING: MetricDef = gauge(
    "node_pods_waiting_for_branch_eni",
    "Pods on the node that request a branch ENI and have none yet",
);
pub const NODE_MISSING: MetricDef = gauge(
    "node_pods_missing_branch_eni",
    "Pods on the node whose annotated branch ENI no longer exists in EC2",
);
pub const POD_WAITING_SINCE: MetricDef = gauge(
    "pod_waiting_for_branch_eni_since_timestamp_seconds",
    "Unix time since which a pod has waited for its branch ENI (scheduled, else created)",
);
pub const UNSCHEDULABLE_PODS: MetricDef = gauge(
    "unschedulable_pods",
    "Pods requesting a branch ENI that no node can take, the scheduler finding no free vpc.amazonaws.com/pod-eni slot, by namespace",
);
pub const UNSCHEDULABLE_SINCE: MetricDef = gauge(
    "unschedulable_pods_since_timestamp_seconds",
    "Unix time since which the oldest of the namespace's unschedulable branch ENI pods has waited for a node",
);
pub const HOLDER_INFO: MetricDef = gauge(
    "branch_eni_holder_info",
    "A branch ENI held without a running pod (state completed_pod, orphaned or leaked) and who holds it",
);
pub const SUBNET_INFO: MetricDef = gauge("subnet_info", "Subnet identity; join on subnet_id");
pub const SUBNET_AVAILABLE: MetricDef = gauge(
    "subnet_available_ip_addresses",
    "Free IPv4 addresses in the subnet (EC2 AvailableIpAddressCount)",
);
pub const SUBNET_SIZE: MetricDef = gauge(
    "subnet_ip_addresses",
    "Usable IPv4 addresses in the subnet: CIDR size minus the 5 AWS reserves",
);
pub const SUBNET_BRANCH_ENIS: MetricDef = gauge(
    "subnet_branch_enis",
    "Branch ENIs in the subnet, associated with a trunk or detached",
);
pub const UNATTRIBUTED: MetricDef = gauge(
    "unattributed_branch_enis",
    "Associated branch ENIs that could not be placed on a node, by reason",
);
pub const BUILD_INFO: MetricDef = gauge("build_info", "Version of pod-eni-exporter");
pub const SOURCE_UP: MetricDef = gauge(
    "source_up",
    "1 if the last sync with the source (kubernetes, ec2) succeeded",
);
pub const SOURCE_LAST_SUCCESS: MetricDef = gauge(
    "source_last_success_timestamp_seconds",
    "Unix time of the last successful sync with the source",
);
pub const EC2_REQUESTS: MetricDef = counter(
    "ec2_requests",
    "EC2 API requests sent, retries included, by operation",
);
pub const EC2_REQUEST_ERRORS: MetricDef = counter(
    "ec2_request_errors",
    "EC2 API calls that failed after the SDK's retries, by operation and error code",
);
pub const EC2_POLL_DURATION: MetricDef = histogram(
    "ec2_poll_duration_seconds",
    "Time taken by whole EC2 polls (all pages of network interfaces and subnets)",
);
pub const KUBE_OBJECTS: MetricDef = gauge(
    "kube_objects",
    "Objects held in the compact Kubernetes cache, by resource (pods: only those using branch ENIs)",
);
pub const KUBE_WATCH_ERRORS: MetricDef = counter(
    "kube_watch_errors",
    "Kubernetes list/watch failures, by resource",
);
pub const RECONCILE_DURATION: MetricDef = histogram(
    "reconcile_duration_seconds",
    "Time taken by joins of the Kubernetes view with the EC2 inventory",
);
pub const KUBE_RELISTS: MetricDef = counter(
    "kube_relists",
    "Full re-lists of a resource after its first sync (a watch too old to resume, 410 Gone), by resource",
);
pub const INPUT_WARNINGS: MetricDef = counter(
    "input_warnings",
    "Input problems (bad annotations, unparseable providerIDs, unknown instance types, ...), by kind",
);
pub const WEB_CONFIG_LAST_RELOAD_SUCCESSFUL: MetricDef = gauge(
    "web_config_last_reload_successful",
    "1 if the web config file and the certificates it names last loaded (only with --web.config.file)",
);
pub const WEB_CONFIG_RELOADS: MetricDef = counter(
    "web_config_reloads",
    "Attempts to load the web config again after one of its files changed (only with --web.config.file)",
);
pub const WEB_TLS_CERTIFICATE_EXPIRY: MetricDef = gauge(
    "web_tls_certificate_expiry_timestamp_seconds",
    "Unix time the served certificate's validity ends (only when serving TLS)",
);

/// Every metric, for the docs check.
pub const ALL: &[MetricDef] = &[
    NODE_INFO,
    NODE_CAPACITY,
    NODE_REQUESTS,
    NODE_BRANCH_ENIS,
    NODE_REMAINING,
    NODE_WAITING,
    NODE_MISSING,
    POD_WAITING_SINCE,
    UNSCHEDULABLE_PODS,
    UNSCHEDULABLE_SINCE,
    HOLDER_INFO,
    SUBNET_INFO,
    SUBNET_AVAILABLE,
    SUBNET_SIZE,
    SUBNET_BRANCH_ENIS,
    UNATTRIBUTED,
    BUILD_INFO,
    SOURCE_UP,
    SOURCE_LAST_SUCCESS,
    EC2_REQUESTS,
    EC2_REQUEST_ERRORS,
    EC2_POLL_DURATION,
    KUBE_OBJECTS,
    KUBE_WATCH_ERRORS,
    KUBE_RELISTS,
    RECONCILE_DURATION,
    INPUT_WARNINGS,
    WEB_CONFIG_LAST_RELOAD_SUCCESSFUL,
    WEB_CONFIG_RELOADS,
    WEB_TLS_CERTIFICATE_EXPIRY,
];

/// Sources that report health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Kubernetes,
    Ec2,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Kubernetes => "kubernetes",
            Source::Ec2 => "ec2",
        }
    }
}

/// The EC2 error codes worth telling apart; everything else is `other`.
pub const EC2_ERROR_CODES: [&str; 5] = [
    "RequestLimitExceeded",
    "UnauthorizedOperation",
    "AuthFailure",
    "network",
    "other",
];
pub const EC2_OPERATIONS: [&str; 2] = ["DescribeNetworkInterfaces", "DescribeSubnets"];
pub const KUBE_RESOURCES: [&str; 2] = ["pods", "nodes"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
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
    source_up: Family<SourceLabels, Gauge>,
    source_last_success: Family<SourceLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
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
            source_up: Family::default(),
            source_last_success: Family::default(),
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
        r.register(SOURCE_UP.name, SOURCE_UP.help, metrics.source_up.clone());
        r.register(
            SOURCE_LAST_SUCCESS.name,
            SOURCE_LAST_SUCCESS.help,
            metrics.source_last_success.clone(),
        );
        r.register(
            EC2_REQUESTS.name,
            EC2_REQUESTS.help,
            metrics.ec2_requests.clone(),
        );
        r.register(
            EC2_REQUEST_ERRORS.name,
            EC2_REQUEST_ERRORS.help,
            metrics.ec2_request_errors.clone(),
        );
        r.register(
            EC2_POLL_DURATION.name,
            EC2_POLL_DURATION.help,
            metrics.ec2_poll_duration.clone(),
        );
        r.register(
            KUBE_OBJECTS.name,
            KUBE_OBJECTS.help,
            metrics.kube_objects.clone(),
        );
        r.register(
            KUBE_WATCH_ERRORS.name,
            KUBE_WATCH_ERRORS.help,
            metrics.kube_watch_errors.clone(),
        );
        r.register(
            KUBE_RELISTS.name,
            KUBE_RELISTS.help,
            metrics.kube_relists.clone(),
        );
        r.register(
            RECONCILE_DURATION.name,
            RECONCILE_DURATION.help,
            metrics.reconcile_duration.clone(),
        );
        r.register(
            INPUT_WARNINGS.name,
            INPUT_WARNINGS.help,
            metrics.input_warnings.clone(),
        );
        r.register_collector(Box::new(SnapshotCollector { snapshot }));

        for source in [Source::Kubernetes, Source::Ec2] {
            metrics.set_source_up(source, false);
        }
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
        for resource in KUBE_RESOURCES {
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
        r.register(
            WEB_CONFIG_LAST_RELOAD_SUCCESSFUL.name,
            WEB_CONFIG_LAST_RELOAD_SUCCESSFUL.help,
            metrics.last_reload_successful.clone(),
        );
        r.register(
            WEB_CONFIG_RELOADS.name,
            WEB_CONFIG_RELOADS.help,
            metrics.reloads.clone(),
        );
        if tls {
            r.register(
                WEB_TLS_CERTIFICATE_EXPIRY.name,
                WEB_TLS_CERTIFICATE_EXPIRY.help,
                metrics.certificate_expiry.clone(),
            );
        }
        metrics
    }

    pub fn set_source_up(&self, source: Source, up: bool) {
        self.source_up
            .get_or_create(&SourceLabels {
                source: source.as_str(),
            })
            .set(i64::from(up));
    }

    /// Whether the source is up, and its last good sync (Unix seconds), as exported.
    pub fn source_health(&self, source: Source) -> (bool, Option<f64>) {
        let labels = SourceLabels {
            source: source.as_str(),
        };
        let up = self.source_up.get_or_create(&labels).get() == 1;
        let last = self.source_last_success.get_or_create(&labels).get();
        (up, (last > 0.0).then_some(last))
    }

    pub fn source_succeeded(&self, source: Source, unix_seconds: f64) {
        self.set_source_up(source, true);
        self.source_last_success
            .get_or_create(&SourceLabels {
                source: source.as_str(),
            })
            .set(unix_seconds);
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

#[derive(Debug)]
struct SnapshotCollector {
    snapshot: SharedSnapshot,
}

/// Writes one gauge family: the descriptor always (so the metric is documented even
/// when empty), then one sample per label set.
fn gauge_family<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    def: MetricDef,
    samples: impl IntoIterator<Item = (L, f64)>,
) -> Result<(), std::fmt::Error> {
    // The registry ends registered metrics' help with a period; match it.
    let help = format!("{}.", def.help);
    let mut family = encoder.encode_descriptor(def.name, &help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A single-label set, borrowed from the snapshot: a scrape copies no strings.
fn one_label<'a>(key: &'static str, value: &'a str) -> [(&'static str, &'a str); 1] {
    [(key, value)]
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let build = [
            ("version", env!("CARGO_PKG_VERSION")),
            (
                "revision",
                option_env!("PODENI_GIT_REVISION").unwrap_or("unknown"),
            ),
        ];
        gauge_family(&mut encoder, BUILD_INFO, [(build, 1.0)])?;

        let snapshot = self.snapshot.get().unwrap_or_default();
        let nodes = &snapshot.nodes;
        gauge_family(
            &mut encoder,
            NODE_INFO,
            nodes.iter().map(|n| {
                let labels = [
                    ("node", n.name.as_str()),
                    ("instance_id", n.instance_id.as_deref().unwrap_or_default()),
                    (
                        "instance_type",
                        n.instance_type.as_deref().unwrap_or_default(),
                    ),
                    ("availability_zone", n.zone.as_deref().unwrap_or_default()),
                    ("nodegroup", n.nodegroup.as_deref().unwrap_or_default()),
                    (
                        "unschedulable",
                        if n.unschedulable { "true" } else { "false" },
                    ),
                    (
                        "trunk_eni_id",
                        n.trunk_eni_id.as_deref().unwrap_or_default(),
                    ),
                    (
                        "capacity_source",
                        n.capacity_source.map(|s| s.as_str()).unwrap_or("unknown"),
                    ),
                ];
                (labels, 1.0)
            }),
        )?;
        gauge_family(
            &mut encoder,
            NODE_CAPACITY,
            nodes
                .iter()
                .filter_map(|n| Some((one_label("node", &n.name), f64::from(n.capacity?)))),
        )?;
        gauge_family(
            &mut encoder,
            NODE_REQUESTS,
            nodes
                .iter()
                .map(|n| (one_label("node", &n.name), f64::from(n.requested))),
        )?;
        gauge_family(
            &mut encoder,
            NODE_BRANCH_ENIS,
            nodes.iter().flat_map(|n| {
                EniState::ALL.into_iter().map(|state| {
                    let labels = [("node", n.name.as_str()), ("state", state.as_str())];
                    (labels, f64::from(n.branch_enis.get(state)))
                })
            }),
        )?;
        gauge_family(
            &mut encoder,
            NODE_REMAINING,
            nodes
                .iter()
                .filter_map(|n| Some((one_label("node", &n.name), f64::from(n.remaining?)))),
        )?;
        gauge_family(
            &mut encoder,
            NODE_WAITING,
            nodes
                .iter()
                .map(|n| (one_label("node", &n.name), f64::from(n.waiting))),
        )?;
        gauge_family(
            &mut encoder,
            NODE_MISSING,
            nodes
                .iter()
                .map(|n| (one_label("node", &n.name), f64::from(n.missing))),
        )?;
        gauge_family(
            &mut encoder,
            POD_WAITING_SINCE,
            snapshot.waiting_pods.iter().filter_map(|w| {
                let labels = [
                    ("namespace", w.namespace.as_str()),
                    ("pod", w.name.as_str()),
                    ("node", w.node.as_str()),
                ];
                Some((labels, w.since?.as_millisecond() as f64 / 1000.0))
            }),
        )?;
        // By namespace: one series per namespace that has such pods (security-group
        // workloads live in a handful), never per pod.
        let mut unschedulable: BTreeMap<&str, (u32, Option<Timestamp>)> = BTreeMap::new();
        for pod in &snapshot.unschedulable_pods {
            let (count, oldest) = unschedulable.entry(pod.namespace.as_str()).or_default();
            *count += 1;
            *oldest = match (*oldest, pod.since) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        gauge_family(
            &mut encoder,
            UNSCHEDULABLE_PODS,
            unschedulable.iter().map(|(namespace, (count, _))| {
                (one_label("namespace", namespace), f64::from(*count))
            }),
        )?;
        gauge_family(
            &mut encoder,
            UNSCHEDULABLE_SINCE,
            unschedulable.iter().filter_map(|(namespace, (_, oldest))| {
                Some((
                    one_label("namespace", namespace),
                    oldest.as_ref()?.as_millisecond() as f64 / 1000.0,
                ))
            }),
        )?;
        gauge_family(
            &mut encoder,
            HOLDER_INFO,
            snapshot.holders.iter().map(|h| {
                let pod = h.pod.as_ref();
                let owner = pod.and_then(|p| p.owner.as_ref());
                let labels = [
                    ("eni_id", h.eni_id.as_str()),
                    ("node", h.node.as_str()),
                    ("state", h.state.as_str()),
                    (
                        "namespace",
                        pod.map(|p| p.namespace.as_str()).unwrap_or_default(),
                    ),
                    ("pod", pod.map(|p| p.name.as_str()).unwrap_or_default()),
                    (
                        "owner_kind",
                        owner.map(|o| o.kind.as_str()).unwrap_or_default(),
                    ),
                    (
                        "owner_name",
                        owner.map(|o| o.name.as_str()).unwrap_or_default(),
                    ),
                ];
                (labels, 1.0)
            }),
        )?;
        let subnets = &snapshot.subnets;
        gauge_family(
            &mut encoder,
            SUBNET_INFO,
            subnets.iter().map(|s| {
                let s = &s.subnet;
                let labels = [
                    ("subnet_id", s.id.as_str()),
                    ("vpc_id", s.vpc_id.as_deref().unwrap_or_default()),
                    (
                        "availability_zone",
                        s.availability_zone.as_deref().unwrap_or_default(),
                    ),
                    (
                        "availability_zone_id",
                        s.availability_zone_id.as_deref().unwrap_or_default(),
                    ),
                    ("cidr_block", s.cidr_block.as_deref().unwrap_or_default()),
                    ("name", s.name.as_deref().unwrap_or_default()),
                ];
                (labels, 1.0)
            }),
        )?;
        gauge_family(
            &mut encoder,
            SUBNET_AVAILABLE,
            subnets.iter().map(|s| {
                (
                    one_label("subnet_id", &s.subnet.id),
                    s.subnet.available_ip_addresses as f64,
                )
            }),
        )?;
        gauge_family(
            &mut encoder,
            SUBNET_SIZE,
            subnets.iter().filter_map(|s| {
                Some((one_label("subnet_id", &s.subnet.id), s.ip_addresses? as f64))
            }),
        )?;
        gauge_family(
            &mut encoder,
            SUBNET_BRANCH_ENIS,
            subnets.iter().flat_map(|s| {
                [
                    ("associated", s.associated_branch_enis),
                    ("detached", s.detached_branch_enis),
                ]
                .map(|(state, count)| {
                    let labels = [("subnet_id", s.subnet.id.as_str()), ("state", state)];
                    (labels, f64::from(count))
                })
            }),
        )?;
        gauge_family(
            &mut encoder,
            UNATTRIBUTED,
            UnattributedReason::ALL.into_iter().map(|reason| {
                (
                    [("reason", reason.as_str())],
                    f64::from(snapshot.unattributed.get(reason)),
                )
            }),
        )?;
        Ok(())
    }
}

/// Content types `/metrics` can answer with.
pub const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Formats the registry: OpenMetrics when the scraper asks for it, else the classic
/// Prometheus text format (what `promtool check metrics` and curl users read).
pub fn render(registry: &Registry, openmetrics: bool) -> (String, &'static str) {
    let mut body = String::new();
    let result = if openmetrics {
        prometheus_client::encoding::text::encode(&mut body, registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut body, registry)
    };
    // Encoding into a String cannot fail; an error would be a bug in a collector.
    if let Err(error) = result {
        tracing::error!(%error, "encoding /metrics failed");
    }
    (
        body,
        if openmetrics {
            OPENMETRICS_TEXT
        } else {
            PROMETHEUS_TEXT
        },
    )
}
