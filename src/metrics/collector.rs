//! The gauges that describe the latest [`Snapshot`], formatted at scrape time from the
//! published snapshot: nodes and subnets that vanish from it vanish from `/metrics`, and
//! a scrape copies no strings (labels borrow from the snapshot).

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use super::SharedSnapshot;
use super::catalogue::*;
use crate::accounting::{EniState, NodeReport, Snapshot, UnattributedReason};

#[derive(Debug)]
pub(super) struct SnapshotCollector {
    pub(super) snapshot: SharedSnapshot,
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

/// A per-node gauge: its definition, and its value for a node (`None`: no series).
type NodeGauge = (MetricDef, fn(&NodeReport) -> Option<f64>);

/// The single-valued per-node gauges, in exposition order around `node_branch_enis`.
const NODE_GAUGES_BEFORE_STATES: [NodeGauge; 2] = [
    (NODE_CAPACITY, |n| n.capacity.map(f64::from)),
    (NODE_REQUESTS, |n| Some(f64::from(n.requested))),
];
const NODE_GAUGES_AFTER_STATES: [NodeGauge; 3] = [
    (NODE_REMAINING, |n| n.remaining.map(f64::from)),
    (NODE_WAITING, |n| Some(f64::from(n.waiting))),
    (NODE_MISSING, |n| Some(f64::from(n.missing))),
];

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let encoder = &mut encoder;
        let build = [
            ("version", env!("CARGO_PKG_VERSION")),
            (
                "revision",
                option_env!("PODENI_GIT_REVISION").unwrap_or("unknown"),
            ),
        ];
        gauge_family(encoder, BUILD_INFO, [(build, 1.0)])?;
        let snapshot = self.snapshot.get().unwrap_or_default();
        let nodes = &snapshot.nodes;
        node_identity(encoder, nodes)?;
        node_gauges(encoder, nodes, &NODE_GAUGES_BEFORE_STATES)?;
        node_states(encoder, nodes)?;
        node_gauges(encoder, nodes, &NODE_GAUGES_AFTER_STATES)?;
        waiting_and_unschedulable(encoder, &snapshot)?;
        holders(encoder, &snapshot)?;
        subnets(encoder, &snapshot)?;
        unattributed(encoder, &snapshot)
    }
}

fn node_gauges(
    encoder: &mut DescriptorEncoder,
    nodes: &[Arc<NodeReport>],
    gauges: &[NodeGauge],
) -> Result<(), std::fmt::Error> {
    for (def, value) in gauges {
        gauge_family(
            encoder,
            *def,
            nodes
                .iter()
                .filter_map(|n| Some((one_label("node", &n.name), value(n)?))),
        )?;
    }
    Ok(())
}

/// `podeni_node_info`: one per node, its identity in labels.
fn node_identity(
    encoder: &mut DescriptorEncoder,
    nodes: &[Arc<NodeReport>],
) -> Result<(), std::fmt::Error> {
    gauge_family(
        encoder,
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
    Ok(())
}

/// `podeni_node_branch_enis`: every state of every node, zeros included.
fn node_states(
    encoder: &mut DescriptorEncoder,
    nodes: &[Arc<NodeReport>],
) -> Result<(), std::fmt::Error> {
    gauge_family(
        encoder,
        NODE_BRANCH_ENIS,
        nodes.iter().flat_map(|n| {
            EniState::ALL.into_iter().map(|state| {
                let labels = [("node", n.name.as_str()), ("state", state.as_str())];
                (labels, f64::from(n.branch_enis.get(state)))
            })
        }),
    )?;
    Ok(())
}

/// Pods waiting on a node (one series each), and pods no node takes (per namespace).
fn waiting_and_unschedulable(
    encoder: &mut DescriptorEncoder,
    snapshot: &Snapshot,
) -> Result<(), std::fmt::Error> {
    gauge_family(
        encoder,
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
        encoder,
        UNSCHEDULABLE_PODS,
        unschedulable
            .iter()
            .map(|(namespace, (count, _))| (one_label("namespace", namespace), f64::from(*count))),
    )?;
    gauge_family(
        encoder,
        UNSCHEDULABLE_SINCE,
        unschedulable.iter().filter_map(|(namespace, (_, oldest))| {
            Some((
                one_label("namespace", namespace),
                oldest.as_ref()?.as_millisecond() as f64 / 1000.0,
            ))
        }),
    )?;
    Ok(())
}

/// `podeni_branch_eni_holder_info`: the culprits, one per ENI held without a live pod.
fn holders(encoder: &mut DescriptorEncoder, snapshot: &Snapshot) -> Result<(), std::fmt::Error> {
    gauge_family(
        encoder,
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
    Ok(())
}

/// The subnets: identity, free and usable addresses, branch ENIs by association.
fn subnets(encoder: &mut DescriptorEncoder, snapshot: &Snapshot) -> Result<(), std::fmt::Error> {
    let subnets = &snapshot.subnets;
    gauge_family(
        encoder,
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
        encoder,
        SUBNET_AVAILABLE,
        subnets.iter().map(|s| {
            (
                one_label("subnet_id", &s.subnet.id),
                s.subnet.available_ip_addresses as f64,
            )
        }),
    )?;
    gauge_family(
        encoder,
        SUBNET_SIZE,
        subnets
            .iter()
            .filter_map(|s| Some((one_label("subnet_id", &s.subnet.id), s.ip_addresses? as f64))),
    )?;
    gauge_family(
        encoder,
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
    Ok(())
}

/// Associated branches placed on no node, by reason (both always present).
fn unattributed(
    encoder: &mut DescriptorEncoder,
    snapshot: &Snapshot,
) -> Result<(), std::fmt::Error> {
    gauge_family(
        encoder,
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
