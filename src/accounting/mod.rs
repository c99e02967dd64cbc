//! The join (DESIGN §4): nodes + pods + EC2 inventory → one [`Snapshot`].
//!
//! Pure and total: no I/O, no clock (`now` comes in), and bad input becomes a warning or
//! an explicit bucket, never an error that drops the rest of the data.

mod report;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

pub use report::{
    CapacitySource, EniState, Holder, MissingPod, NodeReport, PodRef, Snapshot, StateCounts,
    SubnetReport, Unattributed, UnattributedReason, WaitingPod,
};

use crate::limits;
use crate::model::{
    Association, Compute, EniRole, InputWarning, Inventory, NodeInfo, PodInfo, WarningKind,
    usable_ipv4_addresses,
};

/// Default leak grace: 60 s controller cool-down + 30 s queue period + a 30 s poll
/// interval + margin. An orphan younger than this is most likely being cleaned up.
pub const DEFAULT_LEAK_GRACE: Duration = Duration::from_secs(180);

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long an ENI may be named by no pod before it counts as `leaked`.
    pub leak_grace: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            leak_grace: DEFAULT_LEAK_GRACE,
        }
    }
}

/// Who names an ENI in a pod annotation.
#[derive(Default)]
struct EniClaims<'a> {
    live: Option<&'a PodInfo>,
    completed: Option<&'a PodInfo>,
}

/// Per-node tallies from the pods.
#[derive(Default)]
struct PodTally {
    requested: u32,
    sgp_pods: u32,
    waiting: u32,
    missing: u32,
}

/// Runs the join. `now` is when the inputs were observed (the caller passes the time
/// of the older of its two sources, so a stale source freezes ages instead of
/// advancing them); `previous` carries first-seen times, and without it the age of an
/// orphan is unknown, so nothing is `leaked`.
pub fn reconcile<'a>(
    nodes: impl IntoIterator<Item = &'a NodeInfo>,
    pods: impl IntoIterator<Item = &'a PodInfo>,
    inventory: &Inventory,
    now: Timestamp,
    previous: Option<&Snapshot>,
    settings: &Settings,
) -> Snapshot {
    let grace = SignedDuration::try_from(settings.leak_grace).unwrap_or(SignedDuration::MAX);
    let mut warnings = Vec::new();

    // Nodes that can hold a trunk, by name and by instance.
    let nodes: BTreeMap<&str, &NodeInfo> = nodes
        .into_iter()
        .filter(|node| node.compute != Compute::Fargate)
        .map(|node| (node.name.as_str(), node))
        .collect();
    let node_by_instance: HashMap<&str, &str> = nodes
        .values()
        .filter_map(|node| Some((node.instance_id()?, node.name.as_str())))
        .collect();

    // Pods: who names which ENI, and what each node's pods ask for.
    let known_enis: HashSet<&str> = inventory.enis.iter().map(|eni| eni.id.as_str()).collect();
    let mut claims: HashMap<&str, EniClaims> = HashMap::new();
    let mut tallies: HashMap<&str, PodTally> = HashMap::new();
    let mut waiting_pods = Vec::new();
    let mut missing_pods = Vec::new();
    for pod in pods {
        pod_warnings(pod, &mut warnings);
        for eni_id in pod.annotation.eni_ids() {
            let claim = claims.entry(eni_id.as_str()).or_default();
            let slot = if pod.phase.is_terminal() {
                &mut claim.completed
            } else {
                &mut claim.live
            };
            // Keep the first by name so output does not depend on input order.
            if slot.is_none_or(|other| pod.key() < other.key()) {
                *slot = Some(pod);
            }
        }
        let Some(node) = pod.node_name.as_deref().filter(|n| nodes.contains_key(n)) else {
            continue;
        };
        if pod.phase.is_terminal() {
            continue;
        }
        let tally = tallies.entry(node).or_default();
        tally.requested += pod.pod_eni_request;
        if pod.pod_eni_request == 0 {
            continue;
        }
        tally.sgp_pods += 1;
        if pod.annotation.has_no_eni() {
            tally.waiting += 1;
            waiting_pods.push(WaitingPod {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                node: node.to_owned(),
                since: pod.scheduled_at.or(pod.created_at),
            });
        }
        let lost: Vec<String> = pod
            .annotation
            .eni_ids()
            .iter()
            .filter(|id| !known_enis.contains(id.as_str()))
            .cloned()
            .collect();
        let old_enough = pod
            .created_at
            .is_some_and(|created| now.duration_since(created) >= grace);
        if !lost.is_empty() && old_enough {
            tally.missing += 1;
            missing_pods.push(MissingPod {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                node: node.to_owned(),
                eni_ids: lost,
            });
        }
    }

    // Trunks: which node each one hangs off.
    let mut trunk_node: HashMap<&str, &str> = HashMap::new();
    let mut node_trunk: HashMap<&str, &str> = HashMap::new();
    for eni in inventory.enis.iter().filter(|e| e.role() == EniRole::Trunk) {
        let node = eni
            .attached_instance_id
            .as_deref()
            .and_then(|instance| node_by_instance.get(instance));
        if let Some(&node) = node {
            trunk_node.insert(eni.id.as_str(), node);
            node_trunk.insert(node, eni.id.as_str());
        }
    }

    // Branches: subnet tallies, node placement and state.
    let mut subnet_counts: HashMap<&str, (u32, u32)> = HashMap::new();
    let mut states: HashMap<&str, StateCounts> = HashMap::new();
    let mut holders = Vec::new();
    let mut unattributed = Unattributed::default();
    let mut orphan_first_seen = HashMap::new();
    for eni in inventory
        .enis
        .iter()
        .filter(|e| e.role() == EniRole::Branch)
    {
        let association = eni.association();
        if let Some(subnet) = eni.subnet_id.as_deref() {
            let counts = subnet_counts.entry(subnet).or_default();
            match association {
                Association::Associated => counts.0 += 1,
                Association::Detached => counts.1 += 1,
            }
        }
        if association == Association::Detached {
            continue;
        }
        let by_trunk = eni
            .trunk_eni_tag
            .as_deref()
            .and_then(|trunk| trunk_node.get(trunk));
        let by_instance = eni
            .instance_id_tag
            .as_deref()
            .and_then(|instance| node_by_instance.get(instance));
        let Some(&node) = by_trunk.or(by_instance) else {
            if eni.trunk_eni_tag.is_some() || eni.instance_id_tag.is_some() {
                unattributed.unknown_trunk += 1;
            } else {
                unattributed.no_trunk_tag += 1;
            }
            continue;
        };
        let claim = claims.get(eni.id.as_str());
        let (state, pod, orphaned_since) = match claim {
            Some(EniClaims { live: Some(_), .. }) => (EniState::InUse, None, None),
            Some(EniClaims {
                completed: Some(pod),
                ..
            }) => (EniState::CompletedPod, Some(*pod), None),
            _ => {
                let first_seen = previous
                    .and_then(|prev| prev.orphan_first_seen.get(&eni.id).copied())
                    .unwrap_or(now);
                orphan_first_seen.insert(eni.id.clone(), first_seen);
                let aged = previous.is_some() && now.duration_since(first_seen) >= grace;
                let state = if aged {
                    EniState::Leaked
                } else {
                    EniState::Orphaned
                };
                (state, None, previous.map(|_| first_seen))
            }
        };
        states.entry(node).or_default().add(state);
        if state != EniState::InUse {
            holders.push(Holder {
                eni_id: eni.id.clone(),
                node: node.to_owned(),
                state,
                pod: pod.map(|pod| PodRef {
                    namespace: pod.namespace.clone(),
                    name: pod.name.clone(),
                    owner: pod.owner.clone(),
                }),
                orphaned_since,
            });
        }
    }

    // Node reports, for every node that takes part in security groups for pods.
    let mut reports = Vec::new();
    for (&name, node) in &nodes {
        let tally = tallies.remove(name).unwrap_or_default();
        let branch_enis = states.remove(name).unwrap_or_default();
        let trunk = node_trunk.get(name).copied();
        let allocatable = match &node.allocatable_pod_eni {
            Ok(value) => *value,
            Err(raw) => {
                warnings.push(InputWarning::new(
                    WarningKind::BadQuantity,
                    format!("node {name}"),
                    format!("allocatable vpc.amazonaws.com/pod-eni is {raw:?}"),
                ));
                None
            }
        };
        let joined = allocatable.is_some()
            || trunk.is_some()
            || tally.sgp_pods > 0
            || branch_enis.attached() > 0;
        if !joined {
            continue;
        }
        if let Compute::Unparseable(raw) = &node.compute {
            warnings.push(InputWarning::new(
                WarningKind::BadProviderId,
                format!("node {name}"),
                format!("providerID {raw:?} names no EC2 instance"),
            ));
        }
        let (capacity, capacity_source) = match allocatable {
            Some(value) => (Some(value), Some(CapacitySource::Allocatable)),
            None => match node
                .instance_type
                .as_deref()
                .and_then(limits::max_branch_enis)
            {
                Some(value) => (Some(value), Some(CapacitySource::LimitsTable)),
                None => {
                    warnings.push(InputWarning::new(
                        WarningKind::UnknownInstanceType,
                        format!("node {name}"),
                        format!(
                            "no allocatable pod-eni and instance type {:?} is not in the limits table",
                            node.instance_type.as_deref().unwrap_or("(none)")
                        ),
                    ));
                    (None, None)
                }
            },
        };
        let remaining = capacity.map(|capacity| {
            capacity.saturating_sub(branch_enis.attached().saturating_add(tally.waiting))
        });
        reports.push(NodeReport {
            name: name.to_owned(),
            instance_id: node.instance_id().map(str::to_owned),
            instance_type: node.instance_type.clone(),
            zone: node.zone.clone(),
            trunk_eni_id: trunk.map(str::to_owned),
            capacity,
            capacity_source,
            requested: tally.requested,
            branch_enis,
            waiting: tally.waiting,
            missing: tally.missing,
            remaining,
        });
    }

    let subnets = inventory
        .subnets
        .iter()
        .map(|subnet| {
            let (associated, detached) = subnet_counts
                .get(subnet.id.as_str())
                .copied()
                .unwrap_or_default();
            let ip_addresses = subnet.cidr_block.as_deref().and_then(usable_ipv4_addresses);
            if ip_addresses.is_none() {
                warnings.push(InputWarning::new(
                    WarningKind::BadCidr,
                    format!("subnet {}", subnet.id),
                    format!("CIDR block {:?} is not IPv4", subnet.cidr_block),
                ));
            }
            SubnetReport {
                subnet: subnet.clone(),
                ip_addresses,
                associated_branch_enis: associated,
                detached_branch_enis: detached,
            }
        })
        .collect::<Vec<_>>();

    let mut snapshot = Snapshot {
        nodes: reports,
        holders,
        waiting_pods,
        missing_pods,
        subnets,
        unattributed,
        warnings,
        orphan_first_seen,
    };
    sort(&mut snapshot);
    snapshot
}

fn pod_warnings(pod: &PodInfo, warnings: &mut Vec<InputWarning>) {
    if let Some(problem) = pod.annotation.problem() {
        warnings.push(InputWarning::new(
            WarningKind::BadAnnotation,
            format!("pod {}", pod.key()),
            problem,
        ));
    }
    if let Some(raw) = &pod.request_problem {
        warnings.push(InputWarning::new(
            WarningKind::BadQuantity,
            format!("pod {}", pod.key()),
            format!("vpc.amazonaws.com/pod-eni request {raw:?} is not a whole count"),
        ));
    }
}

fn sort(snapshot: &mut Snapshot) {
    snapshot
        .holders
        .sort_by(|a, b| (&a.node, a.state, &a.eni_id).cmp(&(&b.node, b.state, &b.eni_id)));
    snapshot
        .waiting_pods
        .sort_by(|a, b| (&a.node, &a.namespace, &a.name).cmp(&(&b.node, &b.namespace, &b.name)));
    snapshot
        .missing_pods
        .sort_by(|a, b| (&a.node, &a.namespace, &a.name).cmp(&(&b.node, &b.namespace, &b.name)));
    snapshot
        .subnets
        .sort_by(|a, b| a.subnet.id.cmp(&b.subnet.id));
    snapshot.warnings.sort();
}
