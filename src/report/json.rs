//! `audit --output json`: the contract of DESIGN §7, key for key (camelCase), with a
//! few additive keys (`availabilityZone`, `since`, `missingPods`, …).

use std::collections::BTreeMap;

use serde::Serialize;

use super::remedies::unknown_age_note;
use crate::accounting::{GroupHeadroom, Headroom, Snapshot, UnattributedReason};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Audit<'a> {
    /// The time ages were measured to, and where it comes from.
    observed_at: String,
    observed_at_source: &'static str,
    nodes: Vec<Node<'a>>,
    holders: Vec<Holder<'a>>,
    waiting_pods: Vec<WaitingPod<'a>>,
    missing_pods: Vec<MissingPod<'a>>,
    unschedulable_pods: Vec<UnschedulablePod<'a>>,
    subnets: Vec<Subnet<'a>>,
    unattributed: BTreeMap<&'static str, u32>,
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    headroom: Option<HeadroomJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeadroomJson<'a> {
    pods: u32,
    cordoned_nodes: u32,
    by_zone: Vec<Group<'a>>,
    by_nodegroup: Vec<Group<'a>>,
    nodes_with_room: Vec<NodeRoom<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Group<'a> {
    name: Option<&'a str>,
    remaining: u64,
    nodes: u32,
    nodes_with_room: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeRoom<'a> {
    node: &'a str,
    remaining: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Node<'a> {
    node: &'a str,
    instance_id: Option<&'a str>,
    instance_type: Option<&'a str>,
    availability_zone: Option<&'a str>,
    nodegroup: Option<&'a str>,
    unschedulable: bool,
    trunk_eni_id: Option<&'a str>,
    capacity: Option<u32>,
    capacity_source: Option<&'static str>,
    advertises_pod_eni: bool,
    requested: u32,
    attached: u32,
    in_use: u32,
    completed_pod: u32,
    orphaned: u32,
    leaked: u32,
    waiting: u32,
    missing: u32,
    remaining: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Holder<'a> {
    eni_id: &'a str,
    node: &'a str,
    state: &'static str,
    namespace: Option<&'a str>,
    pod: Option<&'a str>,
    owner_kind: Option<&'a str>,
    owner_name: Option<&'a str>,
    since: Option<String>,
    /// Why `since` is null, when it is: why this ENI cannot be judged leaked yet.
    age_unknown: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WaitingPod<'a> {
    namespace: &'a str,
    pod: &'a str,
    node: &'a str,
    since: Option<String>,
    enis_needed: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnschedulablePod<'a> {
    namespace: &'a str,
    pod: &'a str,
    since: Option<String>,
    enis_needed: u32,
    message: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MissingPod<'a> {
    namespace: &'a str,
    pod: &'a str,
    node: &'a str,
    eni_ids: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Subnet<'a> {
    subnet_id: &'a str,
    name: Option<&'a str>,
    vpc_id: Option<&'a str>,
    availability_zone: Option<&'a str>,
    cidr_block: Option<&'a str>,
    available_ip_addresses: u64,
    ip_addresses: Option<u64>,
    associated_branch_enis: u32,
    detached_branch_enis: u32,
}

pub fn render_json(snapshot: &Snapshot, headroom: Option<&Headroom>) -> String {
    let observed = snapshot.observed;
    let audit = Audit {
        observed_at: observed.at.to_string(),
        observed_at_source: observed.from.as_str(),
        nodes: snapshot
            .nodes
            .iter()
            .map(|n| Node {
                node: &n.name,
                instance_id: n.instance_id.as_deref(),
                instance_type: n.instance_type.as_deref(),
                availability_zone: n.zone.as_deref(),
                nodegroup: n.nodegroup.as_deref(),
                unschedulable: n.unschedulable,
                trunk_eni_id: n.trunk_eni_id.as_deref(),
                capacity: n.capacity,
                capacity_source: n.capacity_source.map(|s| s.as_str()),
                advertises_pod_eni: n.advertises_pod_eni(),
                requested: n.requested,
                attached: n.attached(),
                in_use: n.branch_enis.in_use,
                completed_pod: n.branch_enis.completed_pod,
                orphaned: n.branch_enis.orphaned,
                leaked: n.branch_enis.leaked,
                waiting: n.waiting,
                missing: n.missing,
                remaining: n.remaining,
            })
            .collect(),
        holders: snapshot
            .holders
            .iter()
            .map(|h| {
                let owner = h.pod.as_ref().and_then(|p| p.owner.as_ref());
                Holder {
                    eni_id: &h.eni_id,
                    node: &h.node,
                    state: h.state.as_str(),
                    namespace: h.pod.as_ref().map(|p| p.namespace.as_str()),
                    pod: h.pod.as_ref().map(|p| p.name.as_str()),
                    owner_kind: owner.map(|o| o.kind.as_str()),
                    owner_name: owner.map(|o| o.name.as_str()),
                    since: h.since.map(|t| t.to_string()),
                    age_unknown: h.unknown_age().map(unknown_age_note),
                }
            })
            .collect(),
        waiting_pods: snapshot
            .waiting_pods
            .iter()
            .map(|w| WaitingPod {
                namespace: &w.namespace,
                pod: &w.name,
                node: &w.node,
                since: w.since.map(|t| t.to_string()),
                enis_needed: w.enis_needed,
            })
            .collect(),
        missing_pods: snapshot
            .missing_pods
            .iter()
            .map(|m| MissingPod {
                namespace: &m.namespace,
                pod: &m.name,
                node: &m.node,
                eni_ids: &m.eni_ids,
            })
            .collect(),
        unschedulable_pods: snapshot
            .unschedulable_pods
            .iter()
            .map(|u| UnschedulablePod {
                namespace: &u.namespace,
                pod: &u.name,
                since: u.since.map(|t| t.to_string()),
                enis_needed: u.enis_needed,
                message: &u.message,
            })
            .collect(),
        subnets: snapshot
            .subnets
            .iter()
            .map(|s| Subnet {
                subnet_id: &s.subnet.id,
                name: s.subnet.name.as_deref(),
                vpc_id: s.subnet.vpc_id.as_deref(),
                availability_zone: s.subnet.availability_zone.as_deref(),
                cidr_block: s.subnet.cidr_block.as_deref(),
                available_ip_addresses: s.subnet.available_ip_addresses,
                ip_addresses: s.ip_addresses,
                associated_branch_enis: s.associated_branch_enis,
                detached_branch_enis: s.detached_branch_enis,
            })
            .collect(),
        unattributed: UnattributedReason::ALL
            .iter()
            .map(|r| (r.as_str(), snapshot.unattributed.get(*r)))
            .collect(),
        warnings: snapshot.warnings.iter().map(ToString::to_string).collect(),
        headroom: headroom.map(|h| HeadroomJson {
            pods: h.pods,
            cordoned_nodes: h.cordoned,
            by_zone: groups(&h.by_zone),
            by_nodegroup: groups(&h.by_nodegroup),
            nodes_with_room: h
                .nodes
                .iter()
                .map(|n| NodeRoom {
                    node: &n.name,
                    remaining: n.remaining.unwrap_or(0),
                })
                .collect(),
        }),
    };
    let mut text = serde_json::to_string_pretty(&audit).unwrap_or_default();
    text.push('\n');
    text
}

fn groups(groups: &[GroupHeadroom]) -> Vec<Group<'_>> {
    groups
        .iter()
        .map(|g| Group {
            name: g.name.as_deref(),
            remaining: g.remaining,
            nodes: g.nodes,
            nodes_with_room: g.fitting,
        })
        .collect()
}
