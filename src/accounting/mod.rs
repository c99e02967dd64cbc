//! The join (DESIGN §4): nodes + pods + EC2 inventory → one [`Snapshot`].
//!
//! Pure and total: no I/O, no clock (the [`Clock`] comes in), and bad input becomes a
//! warning or an explicit bucket, never an error that drops the rest of the data.
//!
//! The states follow the VPC resource controller EKS runs today (v1.1.0 and later,
//! `controllers/core/pod_controller.go`): a pod's branch ENIs are released when it
//! completes or is deleted, through a per-node cool-down queue, and are gone from EC2
//! about cool-down + 30 s later. What outlives that is a leak.

mod carry;
mod grace;
mod headroom;
mod join;
pub mod limits;
mod placement;
mod report;
mod rules;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

// foldhash (hashbrown's own default): seeded per process like SipHash, several times
// faster on the short string keys a join hashes hundreds of thousands of times.
use std::sync::Arc;

use foldhash::{HashMap, HashSet};

use jiff::Timestamp;

pub use carry::{AbsentClaim, Carry, ReleaseBasis, ReleaseClock};
pub use grace::{
    DEFAULT_BRANCH_ENI_COOLDOWN, DEFAULT_EC2_POLL_INTERVAL, DELETE_QUEUE_PERIOD, GRACE_MARGIN,
    GraceOverrides, MAX_NODE_RECONCILE_INTERVAL, NODE_STATUS_REPORT_PERIOD, POD_RESYNC_PERIOD,
    Settings,
};
pub use headroom::{GroupHeadroom, Headroom, headroom};
pub use join::Join;
pub use placement::Placement;
pub use report::{
    CapacitySource, EniState, Holder, MissingPod, NodeReport, Observed, ObservedFrom, PodRef,
    Snapshot, StateCounts, SubnetReport, Unattributed, UnattributedReason, UnknownAge,
    UnschedulablePod, WaitingPod,
};

use crate::model::{Association, EniRole, Inventory, Keyed, NodeInfo, PodInfo};
use rules::{EniClaims, NodePods, age};

/// When the two sources were observed. Live, they differ: an EC2 poll started at one
/// moment, and the Kubernetes cache is complete up to another (frozen during an API
/// outage). Offline, one capture time stands for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// When the EC2 poll that produced the inventory started: an ENI missing from it
    /// was gone at some point after this.
    pub ec2_polled_at: Timestamp,
    /// Up to when the Kubernetes view is known complete: everything in it existed by then.
    pub kube_fresh_until: Timestamp,
}

impl Clock {
    /// One observation of both sources (a snapshot directory).
    pub fn at(time: Timestamp) -> Self {
        Self {
            ec2_polled_at: time,
            kube_fresh_until: time,
        }
    }

    /// The time ages are measured to: the older of the two sources, so a stale source
    /// freezes ages instead of advancing them.
    pub fn now(&self) -> Timestamp {
        self.ec2_polled_at.min(self.kube_fresh_until)
    }
}

/// Runs the join. `previous` carries first-seen times; without it the age of an ENI
/// named by no pod is unknown, so it is never `leaked` (a single observation).
///
/// This is the whole join in one pass: what a snapshot directory gets, and the oracle
/// the incremental [`Join`] of the live loop is tested against.
pub fn reconcile<'a>(
    nodes: impl IntoIterator<Item = &'a NodeInfo>,
    pods: impl IntoIterator<Item = &'a PodInfo>,
    inventory: &Inventory,
    clock: Clock,
    previous: Option<&Snapshot>,
    settings: &Settings,
) -> Snapshot {
    let mut warnings = Vec::new();
    let mut carry = Carry::default();
    let previous_carry = previous.map(|p| &p.carry);

    let node_set = rules::select_nodes(nodes, &mut warnings);
    let pods = rules::first_of_each(
        pods,
        <PodInfo as Keyed>::key_parts,
        |p| format!("pod {}", p.key()),
        &mut warnings,
    );
    let enis = rules::first_of_each(
        &inventory.enis,
        |e| e.id.as_str(),
        |e| format!("eni {}", e.id),
        &mut warnings,
    );
    // Pods: who names which ENI, and what each node's pods ask for.
    let associated: HashSet<&str> = enis
        .iter()
        .filter(|eni| eni.association() == Association::Associated)
        .map(|eni| eni.id.as_str())
        .collect();
    let is_associated = |eni: &str| associated.contains(eni);
    let mut claims: HashMap<&str, EniClaims> = HashMap::default();
    let mut node_pods: HashMap<&str, NodePods> = HashMap::default();
    let mut waiting_pods = Vec::new();
    let mut unschedulable_pods = Vec::new();
    for pod in pods {
        rules::pod_warnings(pod, &mut warnings);
        let finished = pod
            .phase
            .is_terminal()
            .then(|| rules::finish_time(pod, clock, previous_carry, &mut carry))
            .flatten();
        for eni_id in pod.annotation.eni_ids() {
            claims
                .entry(eni_id.as_str())
                .or_default()
                .add(pod, finished);
        }
        unschedulable_pods.extend(rules::unschedulable_pod(pod));
        if pod.phase.is_terminal() {
            continue;
        }
        let Some(bound) = pod.node_name.as_deref() else {
            continue;
        };
        let Some(node) = node_set
            .included
            .get_key_value(bound)
            .map(|(name, _)| *name)
        else {
            if !node_set.known.contains(bound) {
                rules::absent_node(pod, bound, &mut waiting_pods, &mut warnings);
            }
            continue;
        };
        let lost = rules::lost_enis(pod, is_associated, clock, previous_carry, &mut carry);
        node_pods.entry(node).or_default().add(pod, node, lost);
    }

    // Branches: node placement and state.
    let (trunk_node, node_trunk) = rules::trunks(&enis, &node_set.by_instance);
    let placement = Placement::new(trunk_node, node_set.by_instance);
    let mut states: HashMap<&str, StateCounts> = HashMap::default();
    let mut holders = Vec::new();
    let mut unattributed = Unattributed::default();
    for eni in enis.iter().filter(|e| e.role() == EniRole::Branch) {
        if eni.association() == Association::Detached {
            continue;
        }
        let node = match placement.node_of(eni) {
            Ok(node) => node,
            Err(reason) => {
                unattributed.add(reason);
                continue;
            }
        };
        let claim = claims.get(eni.id.as_str());
        let branch = rules::branch(eni, node, claim, previous_carry, clock, settings);
        states.entry(node).or_default().add(branch.state);
        if let Some((holder, carried)) = branch.held {
            holders.push(Arc::new(holder));
            if let Some(release) = carried {
                carry.release.insert(eni.id.clone(), release);
            }
        }
    }
    rules::remember_unseen_releases(
        claims.iter().map(|(eni, claim)| (*eni, *claim)),
        is_associated,
        previous_carry.into_iter().flat_map(|p| &p.release),
        clock,
        settings,
        &mut carry,
    );

    // Node reports, for every node that takes part in security groups for pods.
    let mut reports = Vec::new();
    let mut missing_pods = Vec::new();
    for (&name, node) in &node_set.included {
        let pods = node_pods.remove(name).unwrap_or_default();
        let branch_enis = states.remove(name).unwrap_or_default();
        let trunk = node_trunk.get(name).copied();
        let report = rules::node_report(name, node, &pods.tally, branch_enis, trunk, &mut warnings);
        reports.extend(report.map(Arc::new));
        waiting_pods.extend(pods.waiting);
        missing_pods.extend(pods.missing);
    }

    let subnets = rules::subnet_reports(&inventory.subnets, &enis, &mut warnings);

    let mut snapshot = Snapshot {
        nodes: reports,
        holders,
        waiting_pods,
        missing_pods,
        unschedulable_pods,
        subnets,
        unattributed,
        warnings,
        observed: Observed {
            at: clock.now(),
            from: ObservedFrom::Live,
        },
        carry,
    };
    rules::sort(&mut snapshot);
    snapshot
}
