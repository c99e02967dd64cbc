//! The rules of DESIGN §4, one function each. The full join ([`reconcile`](super::reconcile))
//! and the incremental one ([`Join`](super::Join)) both call them, so the two differ only
//! in what they recompute, never in how a figure is decided.

use compact_str::CompactString;
use foldhash::{HashMap, HashSet};
use jiff::{SignedDuration, Timestamp};

use super::report::{
    CapacitySource, EniState, Holder, MissingPod, NodeReport, PodRef, Snapshot, StateCounts,
    SubnetReport, UnschedulablePod, WaitingPod,
};
use super::{AbsentClaim, Carry, Clock, ReleaseBasis, ReleaseClock, Settings, limits};
use crate::model::{
    Association, Compute, Eni, EniRole, InputWarning, NodeInfo, PodInfo, PodPhase, Stamp, Subnet,
    WarningKind, usable_ipv4_addresses,
};

/// The nodes that take part: named, the first of each name, able to hold a trunk, and
/// the first of each instance.
pub(super) struct NodeSet<'a> {
    /// By name, in name order: the order of the node reports.
    pub included: std::collections::BTreeMap<&'a str, &'a NodeInfo>,
    pub by_instance: HashMap<&'a str, &'a str>,
    /// Every named node, included or not: a pod bound to a name outside this set is
    /// bound to a node that is not there.
    pub known: HashSet<&'a str>,
}

/// Chooses the nodes the join reports, in input order (the first of an instance wins).
pub(super) fn select_nodes<'a>(
    nodes: impl IntoIterator<Item = &'a NodeInfo>,
    warnings: &mut Vec<InputWarning>,
) -> NodeSet<'a> {
    let (named, unnamed): (Vec<&NodeInfo>, Vec<&NodeInfo>) =
        nodes.into_iter().partition(|node| !node.name.is_empty());
    let known = named.iter().map(|n| n.name.as_str()).collect();
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
    let mut set = NodeSet {
        included: Default::default(),
        by_instance: HashMap::default(),
        known,
    };
    let candidates = first_of_each(
        named,
        |n| n.name.as_str(),
        |n| format!("node {}", n.name),
        warnings,
    );
    for node in candidates.into_iter().filter(|node| node.can_hold_trunk()) {
        let name = node.name.as_str();
        if let Some(instance) = node.instance_id() {
            if let Some(first) = set.by_instance.get(instance) {
                warnings.push(InputWarning::new(
                    WarningKind::DuplicateObject,
                    format!("node {name}"),
                    format!("instance {instance} is already node {first}: counted once, there"),
                ));
                continue;
            }
            set.by_instance.insert(instance, name);
        }
        set.included.insert(name, node);
    }
    set
}

/// Trunk → node and node → trunk, from the trunks attached to the nodes' instances.
pub(super) fn trunks<'a>(
    enis: &[&'a Eni],
    by_instance: &HashMap<&str, &'a str>,
) -> (HashMap<&'a str, &'a str>, HashMap<&'a str, &'a str>) {
    let mut trunk_node = HashMap::default();
    let mut node_trunk = HashMap::default();
    for eni in enis.iter().filter(|e| e.role() == EniRole::Trunk) {
        let node = eni
            .attached_instance_id
            .as_deref()
            .and_then(|instance| by_instance.get(instance));
        if let Some(&node) = node {
            trunk_node.insert(eni.id.as_str(), node);
            node_trunk.insert(node, eni.id.as_str());
        }
    }
    (trunk_node, node_trunk)
}

/// Who names an ENI in a pod annotation.
#[derive(Default, Clone, Copy)]
pub(super) struct EniClaims<'a> {
    pub live: Option<&'a PodInfo>,
    /// The completed claimer that finished last (unknown finish counts as latest).
    pub completed: Option<(&'a PodInfo, Option<Timestamp>)>,
}

impl<'a> EniClaims<'a> {
    /// Adds a pod naming the ENI; `finished` is its finish time, for a completed one.
    pub fn add(&mut self, pod: &'a PodInfo, finished: Option<Timestamp>) {
        if pod.phase.is_terminal() {
            // Keep the latest to finish (its ENI is released last); ties by name, so
            // output does not depend on input order.
            let later = |(other, other_finished): (&PodInfo, Option<Timestamp>)| {
                let rank = |f: Option<Timestamp>| f.map_or(Timestamp::MAX, |t| t);
                (rank(finished), std::cmp::Reverse(pod.key()))
                    > (rank(other_finished), std::cmp::Reverse(other.key()))
            };
            if self.completed.is_none_or(later) {
                self.completed = Some((pod, finished));
            }
        } else if self.live.is_none_or(|other| pod.key() < other.key()) {
            self.live = Some(pod);
        }
    }
}

/// Per-node tallies from the pods.
#[derive(Default)]
pub(super) struct PodTally {
    pub requested: u32,
    pub sgp_pods: u32,
    pub waiting: u32,
    /// ENIs the waiting pods need: the sum of their app containers' requests.
    pub waiting_enis: u32,
    pub missing: u32,
}

/// What a node's live pods add up to, and the pods it lists.
#[derive(Default)]
pub(super) struct NodePods {
    pub tally: PodTally,
    pub waiting: Vec<WaitingPod>,
    pub missing: Vec<MissingPod>,
}

impl NodePods {
    /// A live pod bound to `node`; `lost` are the ENIs it names that EC2 lacks.
    pub fn add(&mut self, pod: &PodInfo, node: &str, lost: Vec<String>) {
        let tally = &mut self.tally;
        tally.requested = tally.requested.saturating_add(pod.pod_eni_request);
        if pod.pod_eni_request > 0 || pod.app_eni_request > 0 {
            tally.sgp_pods += 1;
        }
        if is_waiting(pod) {
            tally.waiting += 1;
            tally.waiting_enis = tally.waiting_enis.saturating_add(pod.app_eni_request);
            self.waiting.push(waiting_pod(pod, node));
        }
        if !lost.is_empty() {
            tally.missing += 1;
            self.missing.push(MissingPod {
                namespace: pod.namespace.to_string(),
                name: pod.name.clone(),
                node: node.to_owned(),
                eni_ids: lost,
            });
        }
    }
}

/// A live pod no node took for want of pod-eni slots.
pub(super) fn unschedulable_pod(pod: &PodInfo) -> Option<UnschedulablePod> {
    let failure = pod.unschedulable.as_ref()?;
    let counts = !pod.phase.is_terminal() && pod.node_name.is_none() && pod.pod_eni_request > 0;
    counts.then(|| UnschedulablePod {
        namespace: pod.namespace.to_string(),
        name: pod.name.clone(),
        since: failure.since.or(pod.created_at.map(Stamp::get)),
        enis_needed: pod.pod_eni_request,
        message: failure.message.clone(),
    })
}

/// One associated branch ENI placed on a node.
pub(super) struct Branch {
    pub state: EniState,
    /// Held without a live pod: the culprit listed, and the clock carried, if any.
    pub held: Option<(Holder, Option<ReleaseClock>)>,
}

/// The state of an associated branch on `node`, from who names it and its release clock.
pub(super) fn branch(
    eni: &Eni,
    node: &str,
    claim: Option<&EniClaims>,
    previous: Option<&Carry>,
    clock: Clock,
    settings: &Settings,
) -> Branch {
    if claim.is_some_and(|c| c.live.is_some()) {
        return Branch {
            state: EniState::InUse,
            held: None,
        };
    }
    let now = clock.now();
    let release = release_clock(
        claim.and_then(|c| c.completed),
        previous.and_then(|c| c.release.get(&eni.id)),
        clock,
    );
    let state = release.state(now, settings);
    let holder = Holder {
        eni_id: eni.id.to_string(),
        node: node.to_owned(),
        state,
        pod: release.last_holder.clone(),
        since: release.since(),
        forgotten: release.forgotten(now, settings),
    };
    // An ENI first seen unnamed by a Kubernetes view older than the poll that shows
    // it may belong to a pod created since (during an API outage, say): its clock
    // starts only once the view has caught up with the inventory.
    let view_behind = clock.kube_fresh_until < clock.ec2_polled_at;
    let carried = (!(release.basis == ReleaseBasis::Orphan && !release.known && view_behind))
        .then_some(release);
    Branch {
        state,
        held: Some((holder, carried)),
    }
}

/// A node's report, or `None` when it takes no part in security groups for pods.
pub(super) fn node_report(
    name: &str,
    node: &NodeInfo,
    tally: &PodTally,
    branch_enis: StateCounts,
    trunk: Option<&str>,
    warnings: &mut Vec<InputWarning>,
) -> Option<NodeReport> {
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
        return None;
    }
    if let Compute::Unparseable(raw) = &node.compute {
        warnings.push(InputWarning::new(
            WarningKind::BadProviderId,
            format!("node {name}"),
            format!("providerID {raw:?} names no EC2 instance"),
        ));
    }
    let (capacity, capacity_source) = capacity(name, node, allocatable, warnings);
    // Without advertised allocatable the scheduler places no security-group pod
    // here, whatever the instance type could hold.
    let remaining = match allocatable {
        Some(capacity) => {
            Some(capacity.saturating_sub(branch_enis.attached().saturating_add(tally.waiting_enis)))
        }
        None => Some(0),
    };
    Some(NodeReport {
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
    })
}

/// A node's slots: its advertised allocatable, else the limits table's figure for its
/// instance type.
fn capacity(
    name: &str,
    node: &NodeInfo,
    allocatable: Option<u32>,
    warnings: &mut Vec<InputWarning>,
) -> (Option<u32>, Option<CapacitySource>) {
    if let Some(value) = allocatable {
        if value > limits::largest_limit() {
            warnings.push(InputWarning::new(
                WarningKind::BadQuantity,
                format!("node {name}"),
                format!(
                    "allocatable vpc.amazonaws.com/pod-eni is {value}, more than any instance type holds ({}); used as given",
                    limits::largest_limit()
                ),
            ));
        }
        return (Some(value), Some(CapacitySource::Allocatable));
    }
    match node
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
    }
}

/// The subnets' reports, the first of each ID, with their branch ENIs counted.
pub(super) fn subnet_reports(
    subnets: &[Subnet],
    enis: &[&Eni],
    warnings: &mut Vec<InputWarning>,
) -> Vec<SubnetReport> {
    let unique = first_of_each(
        subnets,
        |s| s.id.as_str(),
        |s| format!("subnet {}", s.id),
        warnings,
    );
    let counts = subnet_counts(enis);
    unique
        .into_iter()
        .map(|subnet| {
            let count = counts.get(subnet.id.as_str()).copied().unwrap_or_default();
            subnet_report(subnet, count, warnings)
        })
        .collect()
}

/// Associated and detached branch ENIs per subnet.
fn subnet_counts<'a>(enis: &[&'a Eni]) -> HashMap<&'a str, (u32, u32)> {
    let mut counts: HashMap<&str, (u32, u32)> = HashMap::default();
    for eni in enis.iter().filter(|e| e.role() == EniRole::Branch) {
        if let Some(subnet) = eni.subnet_id.as_deref() {
            let count = counts.entry(subnet).or_default();
            match eni.association() {
                Association::Associated => count.0 += 1,
                Association::Detached => count.1 += 1,
            }
        }
    }
    counts
}

fn subnet_report(
    subnet: &Subnet,
    (associated, detached): (u32, u32),
    warnings: &mut Vec<InputWarning>,
) -> SubnetReport {
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
}

/// The first object of each identity, in input order; each later one is a
/// `duplicate_object` warning (a pod listed twice must not double its node's figures,
/// a subnet listed twice must not give two series Prometheus would reject).
pub(super) fn first_of_each<'a, T: 'a, K: Eq + std::hash::Hash>(
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
            warnings.push(duplicate(label(item)));
        }
    }
    unique
}

/// The warning for a second object of the same identity.
pub(super) fn duplicate(label: String) -> InputWarning {
    InputWarning::new(
        WarningKind::DuplicateObject,
        label,
        "listed more than once; only the first is counted",
    )
}

fn waiting_pod(pod: &PodInfo, node: &str) -> WaitingPod {
    WaitingPod {
        namespace: pod.namespace.to_string(),
        name: pod.name.clone(),
        node: node.to_owned(),
        since: pod.scheduled_at.or(pod.created_at).map(Stamp::get),
        enis_needed: pod.app_eni_request,
    }
}

/// A live pod bound to a node the input does not have (deleted, or left out of a
/// hand-made dump): no node figure can hold it, but a waiting one is still listed.
pub(super) fn absent_node(
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

/// Whether a finished pod's finish time comes from the carry: its status has none, and
/// it names an ENI whose release that time would date.
pub(super) fn finish_is_carried(pod: &PodInfo) -> bool {
    pod.phase.is_terminal() && pod.completed_at.is_none() && !pod.annotation.eni_ids().is_empty()
}

/// When a finished pod finished, as far as the previous join knew: from its status,
/// else when the exporter first saw it finished (unknown in a single observation).
pub(super) fn known_finish(pod: &PodInfo, previous: Option<&Carry>) -> Option<Timestamp> {
    if !finish_is_carried(pod) {
        return pod.completed_at.map(Stamp::get);
    }
    previous.and_then(|p| p.finished_first_seen.get(&pod.key()).copied())
}

/// [`known_finish`], carrying the first-seen time of a pod whose status has none.
pub(super) fn finish_time(
    pod: &PodInfo,
    clock: Clock,
    previous: Option<&Carry>,
    carry: &mut Carry,
) -> Option<Timestamp> {
    let seen = known_finish(pod, previous);
    if finish_is_carried(pod) {
        // The cache showed it finished as of `kube_fresh_until`: the true finish is
        // earlier, so ageing from here can only make a leak later, never false.
        carry
            .finished_first_seen
            .insert(pod.key(), seen.unwrap_or(clock.kube_fresh_until));
    }
    seen
}

/// The ENIs a live pod names that EC2 does not have associated, counted only for claims
/// older than the EC2 poll (an ENI created after the poll began is not missing) and only
/// when the Kubernetes view is at least as new as the poll (a pod that completed since
/// has had its ENI released).
pub(super) fn lost_enis(
    pod: &PodInfo,
    associated: impl Fn(&str) -> bool,
    clock: Clock,
    previous: Option<&Carry>,
    carry: &mut Carry,
) -> Vec<String> {
    let mut lost = Vec::new();
    for eni_id in pod.annotation.eni_ids() {
        if associated(eni_id.as_str()) {
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
            .map_or(first_seen, |seen| seen.get().min(first_seen));
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
/// completed pods whose ENIs are long gone cost nothing. `claims` need only cover the
/// unassociated ENIs completed pods name, `previous` the previous release clocks of
/// ENIs that may be unassociated now.
pub(super) fn remember_unseen_releases<'a, 'b>(
    claims: impl IntoIterator<Item = (&'a str, EniClaims<'a>)>,
    associated: impl Fn(&str) -> bool,
    previous: impl IntoIterator<Item = (&'b CompactString, &'b ReleaseClock)>,
    clock: Clock,
    settings: &Settings,
    carry: &mut Carry,
) {
    let now = clock.now();
    let young = |started: Timestamp| age(now, started).unsigned_abs() < settings.orphan_grace;
    for (eni, claim) in claims {
        // Cheap tests first: most completed pods' ENIs are long gone, and their holder
        // must not be copied on every join.
        let Some((_, Some(finished))) = claim.completed else {
            continue;
        };
        if claim.live.is_some() || !young(finished) || associated(eni) {
            continue;
        }
        carry.release.insert(
            CompactString::from(eni),
            release_clock(claim.completed, None, clock),
        );
    }
    for (eni, release) in previous {
        let unseen = !associated(eni.as_str()) && !carry.release.contains_key(eni);
        let known_young = release.known && young(release.started);
        if unseen && release.basis == ReleaseBasis::Completed && known_young {
            carry.release.insert(eni.clone(), release.clone());
        }
    }
}

pub(super) fn pod_warnings(pod: &PodInfo, warnings: &mut Vec<InputWarning>) {
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
    if let Some(raw) = pod.phase_problem() {
        warnings.push(InputWarning::new(
            WarningKind::BadObject,
            format!("pod {}", pod.key()),
            format!(
                "phase {raw:?} is not a pod phase (they are case-sensitive: Pending, Running, Succeeded, Failed, Unknown); counted as Pending"
            ),
        ));
    }
    if let Some(raw) = pod.request_problem() {
        warnings.push(InputWarning::new(
            WarningKind::BadQuantity,
            format!("pod {}", pod.key()),
            format!("vpc.amazonaws.com/pod-eni request {raw:?} is not a whole count"),
        ));
    }
}

pub(super) fn sort(snapshot: &mut Snapshot) {
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
pub(super) fn age(now: Timestamp, since: Timestamp) -> SignedDuration {
    now.duration_since(since).max(SignedDuration::ZERO)
}
