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
pub mod limits;
mod placement;
mod report;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

// foldhash (hashbrown's own default): seeded per process like SipHash, several times
// faster on the short string keys a join hashes hundreds of thousands of times.
use compact_str::CompactString;
use foldhash::{HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};

pub use carry::{AbsentClaim, Carry, ReleaseBasis, ReleaseClock};
pub use grace::{
    DEFAULT_BRANCH_ENI_COOLDOWN, DEFAULT_EC2_POLL_INTERVAL, DELETE_QUEUE_PERIOD, GRACE_MARGIN,
    GraceOverrides, MAX_NODE_RECONCILE_INTERVAL, NODE_STATUS_REPORT_PERIOD, POD_RESYNC_PERIOD,
    Settings,
};
pub use headroom::{GroupHeadroom, Headroom, headroom};
pub use placement::Placement;
pub use report::{
    CapacitySource, EniState, Holder, MissingPod, NodeReport, Observed, ObservedFrom, PodRef,
    Snapshot, StateCounts, SubnetReport, Unattributed, UnattributedReason, UnknownAge,
    UnschedulablePod, WaitingPod,
};

use crate::model::{
    Association, Compute, EniRole, InputWarning, Inventory, NodeInfo, PodInfo, PodPhase,
    WarningKind, usable_ipv4_addresses,
};

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

/// Who names an ENI in a pod annotation.
#[derive(Default)]
struct EniClaims<'a> {
    live: Option<&'a PodInfo>,
    /// The completed claimer that finished last (unknown finish counts as latest).
    completed: Option<(&'a PodInfo, Option<Timestamp>)>,
}

/// Per-node tallies from the pods.
#[derive(Default)]
struct PodTally {
    requested: u32,
    sgp_pods: u32,
    waiting: u32,
    /// ENIs the waiting pods need: the sum of their app containers' requests.
    waiting_enis: u32,
    missing: u32,
}

/// Runs the join. `previous` carries first-seen times; without it the age of an ENI
/// named by no pod is unknown, so it is never `leaked` (a single observation).
pub fn reconcile<'a>(
    nodes: impl IntoIterator<Item = &'a NodeInfo>,
    pods: impl IntoIterator<Item = &'a PodInfo>,
    inventory: &Inventory,
    clock: Clock,
    previous: Option<&Snapshot>,
    settings: &Settings,
) -> Snapshot {
    let now = clock.now();
    let mut warnings = Vec::new();
    let mut carry = Carry::default();
    let previous_carry = previous.map(|p| &p.carry);

    // Nodes that can hold a trunk, by name and by instance.
    let (named, unnamed): (Vec<&NodeInfo>, Vec<&NodeInfo>) =
        nodes.into_iter().partition(|node| !node.name.is_empty());
    // Every node the input has, whatever it is: a pod bound to a name outside this set
    // is bound to a node that is not there.
    let known_nodes: HashSet<&str> = named.iter().map(|n| n.name.as_str()).collect();
    if !unnamed.is_empty() {
        warnings.push(InputWarning::new(
            WarningKind::BadObject,
            "node \"\"",
            format!("{} node(s) with an empty name skipped", unnamed.len()),
        ));
    }
    // One node per instance, the first listed: a second name for the same instance (a
    // stale Node object, a hand-merged dump) would count its slots twice, here and in
    // headroom.
    let mut node_by_instance: HashMap<&str, &str> = HashMap::default();
    let mut nodes: BTreeMap<&str, &NodeInfo> = BTreeMap::new();
    let candidates = first_of_each(
        named,
        |n| n.name.as_str(),
        |n| format!("node {}", n.name),
        &mut warnings,
    );
    for node in candidates.into_iter().filter(|node| node.can_hold_trunk()) {
        let name = node.name.as_str();
        if let Some(instance) = node.instance_id() {
            if let Some(first) = node_by_instance.get(instance) {
                warnings.push(InputWarning::new(
                    WarningKind::DuplicateObject,
                    format!("node {name}"),
                    format!("instance {instance} is already node {first}: counted once, there"),
                ));
                continue;
            }
            node_by_instance.insert(instance, name);
        }
        nodes.insert(name, node);
    }
    let pods = first_of_each(
        pods,
        PodInfo::key_parts,
        |p| format!("pod {}", p.key()),
        &mut warnings,
    );
    let enis = first_of_each(
        &inventory.enis,
        |e| e.id.as_str(),
        |e| format!("eni {}", e.id),
        &mut warnings,
    );
    let unique_subnets = first_of_each(
        &inventory.subnets,
        |s| s.id.as_str(),
        |s| format!("subnet {}", s.id),
        &mut warnings,
    );

    // Pods: who names which ENI, and what each node's pods ask for.
    let associated: HashSet<&str> = enis
        .iter()
        .filter(|eni| eni.association() == Association::Associated)
        .map(|eni| eni.id.as_str())
        .collect();
    let mut claims: HashMap<&str, EniClaims> = HashMap::default();
    let mut tallies: HashMap<&str, PodTally> = HashMap::default();
    let mut waiting_pods = Vec::new();
    let mut missing_pods = Vec::new();
    let mut unschedulable_pods = Vec::new();
    for pod in pods {
        pod_warnings(pod, &mut warnings);
        let finished = pod
            .phase
            .is_terminal()
            .then(|| finish_time(pod, clock, previous_carry, &mut carry))
            .flatten();
        for eni_id in pod.annotation.eni_ids() {
            let claim = claims.entry(eni_id.as_str()).or_default();
            if pod.phase.is_terminal() {
                // Keep the latest to finish (its ENI is released last); ties by name, so
                // output does not depend on input order.
                let later = |(other, other_finished): (&PodInfo, Option<Timestamp>)| {
                    let rank = |f: Option<Timestamp>| f.map_or(Timestamp::MAX, |t| t);
                    (rank(finished), std::cmp::Reverse(pod.key()))
                        > (rank(other_finished), std::cmp::Reverse(other.key()))
                };
                if claim.completed.is_none_or(later) {
                    claim.completed = Some((pod, finished));
                }
            } else if claim.live.is_none_or(|other| pod.key() < other.key()) {
                claim.live = Some(pod);
            }
        }
        if let Some(failure) = &pod.unschedulable
            && !pod.phase.is_terminal()
            && pod.node_name.is_none()
            && pod.pod_eni_request > 0
        {
            unschedulable_pods.push(UnschedulablePod {
                namespace: pod.namespace.to_string(),
                name: pod.name.clone(),
                since: failure.since.or(pod.created_at),
                enis_needed: pod.pod_eni_request,
                message: failure.message.clone(),
            });
        }
        if pod.phase.is_terminal() {
            continue;
        }
        let Some(bound) = pod.node_name.as_deref() else {
            continue;
        };
        let Some(node) = nodes.get_key_value(bound).map(|(name, _)| *name) else {
            if !known_nodes.contains(bound) {
                absent_node(pod, bound, &mut waiting_pods, &mut warnings);
            }
            continue;
        };
        let tally = tallies.entry(node).or_default();
        tally.requested = tally.requested.saturating_add(pod.pod_eni_request);
        if pod.pod_eni_request > 0 || pod.app_eni_request > 0 {
            tally.sgp_pods += 1;
        }
        if is_waiting(pod) {
            tally.waiting += 1;
            tally.waiting_enis = tally.waiting_enis.saturating_add(pod.app_eni_request);
            waiting_pods.push(waiting_pod(pod, node));
        }
        let lost = lost_enis(pod, &associated, clock, previous_carry, &mut carry);
        if !lost.is_empty() {
            tally.missing += 1;
            missing_pods.push(MissingPod {
                namespace: pod.namespace.to_string(),
                name: pod.name.clone(),
                node: node.to_owned(),
                eni_ids: lost,
            });
        }
    }

    // Trunks: which node each one hangs off.
    let mut trunk_node: HashMap<&str, &str> = HashMap::default();
    let mut node_trunk: HashMap<&str, &str> = HashMap::default();
    for eni in enis.iter().filter(|e| e.role() == EniRole::Trunk) {
        let node = eni
            .attached_instance_id
            .as_deref()
            .and_then(|instance| node_by_instance.get(instance));
        if let Some(&node) = node {
            trunk_node.insert(eni.id.as_str(), node);
            node_trunk.insert(node, eni.id.as_str());
        }
    }

    let placement = Placement::new(trunk_node, node_by_instance);

    // Branches: subnet tallies, node placement and state.
    let mut subnet_counts: HashMap<&str, (u32, u32)> = HashMap::default();
    let mut states: HashMap<&str, StateCounts> = HashMap::default();
    let mut holders = Vec::new();
    let mut unattributed = Unattributed::default();
    for eni in enis.iter().filter(|e| e.role() == EniRole::Branch) {
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
        let node = match placement.node_of(eni) {
            Ok(node) => node,
            Err(reason) => {
                unattributed.add(reason);
                continue;
            }
        };
        let claim = claims.get(eni.id.as_str());
        if claim.is_some_and(|c| c.live.is_some()) {
            states.entry(node).or_default().add(EniState::InUse);
            continue;
        }
        let release = release_clock(
            claim.and_then(|c| c.completed),
            previous_carry.and_then(|c| c.release.get(&eni.id)),
            clock,
        );
        let state = release.state(now, settings);
        states.entry(node).or_default().add(state);
        holders.push(Holder {
            eni_id: eni.id.to_string(),
            node: node.to_owned(),
            state,
            pod: release.last_holder.clone(),
            since: release.since(),
            forgotten: release.forgotten(now, settings),
        });
        // An ENI first seen unnamed by a Kubernetes view older than the poll that shows
        // it may belong to a pod created since (during an API outage, say): its clock
        // starts only once the view has caught up with the inventory.
        let view_behind = clock.kube_fresh_until < clock.ec2_polled_at;
        if !(release.basis == ReleaseBasis::Orphan && !release.known && view_behind) {
            carry.release.insert(eni.id.clone(), release);
        }
    }
    remember_unseen_releases(
        &claims,
        &associated,
        previous_carry,
        clock,
        settings,
        &mut carry,
    );

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
        if let Some(value) = allocatable.filter(|v| *v > limits::largest_limit()) {
            warnings.push(InputWarning::new(
                WarningKind::BadQuantity,
                format!("node {name}"),
                format!(
                    "allocatable vpc.amazonaws.com/pod-eni is {value}, more than any instance type holds ({}); used as given",
                    limits::largest_limit()
                ),
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
        // Without advertised allocatable the scheduler places no security-group pod
        // here, whatever the instance type could hold.
        let remaining = match allocatable {
            Some(capacity) => Some(
                capacity.saturating_sub(branch_enis.attached().saturating_add(tally.waiting_enis)),
            ),
            None => Some(0),
        };
        reports.push(NodeReport {
            name: name.to_owned(),
            instance_id: node.instance_id().map(str::to_owned),
            instance_type: node.instance_type.clone(),
            zone: node.zone.clone(),
            nodegroup: node.nodegroup.clone(),
            unschedulable: node.unschedulable,
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

    let subnets = unique_subnets
        .into_iter()
        .map(|subnet| {
            let (associated, detached) = subnet_counts
                .get(subnet.id.as_str())
                .copied()
                .unwrap_or_default();
            // An IPv6-only subnet has no IPv4 block: no IPv4 space, and nothing wrong.
            let ip_addresses = subnet.cidr_block.as_deref().and_then(usable_ipv4_addresses);
            if let (Some(cidr), None) = (&subnet.cidr_block, ip_addresses) {
                warnings.push(InputWarning::new(
                    WarningKind::BadCidr,
                    format!("subnet {}", subnet.id),
                    format!("CIDR block \"{}\" is not an IPv4 CIDR", cidr.escape_debug()),
                ));
            }
            if let Some(usable) = ip_addresses.filter(|n| subnet.available_ip_addresses > *n) {
                warnings.push(InputWarning::new(
                    WarningKind::BadQuantity,
                    format!("subnet {}", subnet.id),
                    format!(
                        "{} free IP addresses, more than the {usable} its CIDR block has; shown as given",
                        subnet.available_ip_addresses
                    ),
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
        unschedulable_pods,
        subnets,
        unattributed,
        warnings,
        observed: Observed {
            at: now,
            from: ObservedFrom::Live,
        },
        carry,
    };
    sort(&mut snapshot);
    snapshot
}

/// The first object of each identity, in input order; each later one is a
/// `duplicate_object` warning (a pod listed twice must not double its node's figures,
/// a subnet listed twice must not give two series Prometheus would reject).
fn first_of_each<'a, T: 'a, K: Eq + std::hash::Hash>(
    items: impl IntoIterator<Item = &'a T>,
    identity: impl Fn(&'a T) -> K,
    label: impl Fn(&T) -> String,
    warnings: &mut Vec<InputWarning>,
) -> Vec<&'a T> {
    let mut seen = HashSet::default();
    let mut unique = Vec::new();
    for item in items {
        if seen.insert(identity(item)) {
            unique.push(item);
        } else {
            warnings.push(InputWarning::new(
                WarningKind::DuplicateObject,
                label(item),
                "listed more than once; only the first is counted",
            ));
        }
    }
    unique
}

fn waiting_pod(pod: &PodInfo, node: &str) -> WaitingPod {
    WaitingPod {
        namespace: pod.namespace.to_string(),
        name: pod.name.clone(),
        node: node.to_owned(),
        since: pod.scheduled_at.or(pod.created_at),
        enis_needed: pod.app_eni_request,
    }
}

/// A live pod bound to a node the input does not have (deleted, or left out of a
/// hand-made dump): no node figure can hold it, but a waiting one is still listed.
fn absent_node(
    pod: &PodInfo,
    node: &str,
    waiting_pods: &mut Vec<WaitingPod>,
    warnings: &mut Vec<InputWarning>,
) {
    if pod.pod_eni_request == 0 && pod.app_eni_request == 0 {
        return;
    }
    warnings.push(InputWarning::new(
        WarningKind::BadObject,
        format!("pod {}", pod.key()),
        format!("bound to node {node}, which is not in the node list"),
    ));
    if is_waiting(pod) {
        waiting_pods.push(waiting_pod(pod, node));
    }
}

/// A pod stuck for want of an ENI: scheduled, its app containers need ENIs (the
/// controller ignores init containers), and the controller has not annotated it. A
/// terminating pod counts too: the controller never reads `deletionTimestamp`, so it
/// still gets, and holds a place in line for, a slot until it is gone.
fn is_waiting(pod: &PodInfo) -> bool {
    pod.phase == PodPhase::Pending && pod.needs_enis()
}

/// When a finished pod finished: from its status, else when the exporter first saw it
/// finished (carried from one join to the next; unknown in a single observation).
fn finish_time(
    pod: &PodInfo,
    clock: Clock,
    previous: Option<&Carry>,
    carry: &mut Carry,
) -> Option<Timestamp> {
    if pod.completed_at.is_some() || pod.annotation.eni_ids().is_empty() {
        return pod.completed_at;
    }
    let key = pod.key();
    let seen = previous.and_then(|p| p.finished_first_seen.get(&key).copied());
    // The cache showed it finished as of `kube_fresh_until`: the true finish is earlier,
    // so ageing from here can only make a leak later, never false.
    carry
        .finished_first_seen
        .insert(key, seen.unwrap_or(clock.kube_fresh_until));
    seen
}

/// The ENIs a live pod names that EC2 does not have associated, counted only for claims
/// older than the EC2 poll (an ENI created after the poll began is not missing) and only
/// when the Kubernetes view is at least as new as the poll (a pod that completed since
/// has had its ENI released).
fn lost_enis(
    pod: &PodInfo,
    associated: &HashSet<&str>,
    clock: Clock,
    previous: Option<&Carry>,
    carry: &mut Carry,
) -> Vec<String> {
    let mut lost = Vec::new();
    for eni_id in pod.annotation.eni_ids() {
        if associated.contains(eni_id.as_str()) {
            continue;
        }
        let key = (pod.key(), eni_id.clone());
        let before = previous.and_then(|p| p.absent_claims.get(&key).copied());
        let first_seen = before.map_or(clock.kube_fresh_until, |b| b.first_seen);
        // A sandbox exists only once the CNI has the ENI: the claim is older than any
        // evidence of one, running containers or not (a pod whose ENI vanished
        // crash-loops, and may have none running at the capture).
        let claimed_by = pod
            .sandbox_seen_at
            .map_or(first_seen, |seen| seen.min(first_seen));
        // Once found missing it stays so while the ENI stays absent, even if the
        // Kubernetes view goes stale: the ENI vanished while the pod was live.
        let missing = before.is_some_and(|b| b.missing)
            || (claimed_by < clock.ec2_polled_at && clock.kube_fresh_until >= clock.ec2_polled_at);
        carry.absent_claims.insert(
            key,
            AbsentClaim {
                first_seen,
                missing,
            },
        );
        if missing {
            lost.push(eni_id.to_string());
        }
    }
    lost
}

/// The release clock of an ENI no live pod names: from the completion of the pod that
/// last named it, else carried from the previous join, else started when the Kubernetes
/// view showed it unnamed (not the older EC2 time: during an EC2 outage the inventory is
/// old, and a pod deleted since must not make its ENI look long orphaned).
fn release_clock(
    completed: Option<(&PodInfo, Option<Timestamp>)>,
    previous: Option<&ReleaseClock>,
    clock: Clock,
) -> ReleaseClock {
    if let Some((pod, finished)) = completed {
        return ReleaseClock {
            started: finished.unwrap_or(clock.kube_fresh_until),
            known: finished.is_some(),
            basis: ReleaseBasis::Completed,
            last_holder: Some(PodRef::of(pod)),
        };
    }
    match previous {
        // First seen unclaimed in an earlier join: from now on that age is known.
        Some(previous) => ReleaseClock {
            known: true,
            ..previous.clone()
        },
        None => ReleaseClock {
            started: clock.kube_fresh_until,
            known: false,
            basis: ReleaseBasis::Orphan,
            last_holder: None,
        },
    }
}

/// Keeps the release clocks of ENIs that completed pods name but EC2 does not show
/// associated: during an EC2 outage an ENI can be created, its pod complete and be
/// deleted before any poll sees it, and without this its clock would restart as an
/// orphan's when it shows up. Kept only while younger than the orphan grace, so
/// completed pods whose ENIs are long gone cost nothing.
fn remember_unseen_releases(
    claims: &HashMap<&str, EniClaims>,
    associated: &HashSet<&str>,
    previous: Option<&Carry>,
    clock: Clock,
    settings: &Settings,
    carry: &mut Carry,
) {
    let now = clock.now();
    let young = |started: Timestamp| age(now, started).unsigned_abs() < settings.orphan_grace;
    for (&eni, claim) in claims {
        // Cheap tests first: most completed pods' ENIs are long gone, and their holder
        // must not be copied on every join.
        let Some((_, Some(finished))) = claim.completed else {
            continue;
        };
        if claim.live.is_some() || !young(finished) || associated.contains(eni) {
            continue;
        }
        carry.release.insert(
            CompactString::from(eni),
            release_clock(claim.completed, None, clock),
        );
    }
    for (eni, release) in previous.into_iter().flat_map(|p| &p.release) {
        let unseen = !associated.contains(eni.as_str()) && !carry.release.contains_key(eni);
        let known_young = release.known && young(release.started);
        if unseen && release.basis == ReleaseBasis::Completed && known_young {
            carry.release.insert(eni.clone(), release.clone());
        }
    }
}

fn pod_warnings(pod: &PodInfo, warnings: &mut Vec<InputWarning>) {
    let request = pod.pod_eni_request.max(pod.app_eni_request);
    if request > limits::largest_limit() {
        warnings.push(InputWarning::new(
            WarningKind::BadQuantity,
            format!("pod {}", pod.key()),
            format!(
                "requests {request} vpc.amazonaws.com/pod-eni, more than any instance type holds ({})",
                limits::largest_limit()
            ),
        ));
    }
    if let Some(problem) = pod.annotation.problem() {
        warnings.push(InputWarning::new(
            WarningKind::BadAnnotation,
            format!("pod {}", pod.key()),
            problem,
        ));
    }
    if let Some(raw) = &pod.phase_problem {
        warnings.push(InputWarning::new(
            WarningKind::BadObject,
            format!("pod {}", pod.key()),
            format!(
                "phase {raw:?} is not a pod phase (they are case-sensitive: Pending, Running, Succeeded, Failed, Unknown); counted as Pending"
            ),
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
        .unschedulable_pods
        .sort_by(|a, b| (a.since, &a.namespace, &a.name).cmp(&(b.since, &b.namespace, &b.name)));
    snapshot
        .subnets
        .sort_by(|a, b| a.subnet.id.cmp(&b.subnet.id));
    snapshot.warnings.sort();
}

/// `a - b` as a duration, never negative.
fn age(now: Timestamp, since: Timestamp) -> SignedDuration {
    now.duration_since(since).max(SignedDuration::ZERO)
}
