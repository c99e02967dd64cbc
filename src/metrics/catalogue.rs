//! Every metric this exporter defines, in one place: name, help text and type (DESIGN
//! §5), and the bounded label values pre-created so that alerts see zeros, never
//! absences. The docs check (`tests/metrics_golden.rs`) reads [`ALL`].

use prometheus_client::metrics::MetricType;

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

/// The EC2 error codes worth telling apart; everything else is `other`.
pub const EC2_ERROR_CODES: [&str; 5] = [
    "RequestLimitExceeded",
    "UnauthorizedOperation",
    "AuthFailure",
    "network",
    "other",
];
pub const EC2_OPERATIONS: [&str; 2] = ["DescribeNetworkInterfaces", "DescribeSubnets"];
