//! What one reconcile produces: an immutable picture of every node's branch ENIs, which
//! the metrics collector, the audit table and the JSON output only format.

use std::sync::Arc;

use jiff::Timestamp;

use super::Carry;
use crate::model::{InputWarning, Owner, PodInfo, PodName, Subnet};

/// The state of one associated branch ENI. Every one is in exactly one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EniState {
    /// Named by a pod that is not Succeeded/Failed.
    InUse,
    /// Last named by Succeeded/Failed pods (still, or until they were deleted), the last
    /// of which finished less than the completed grace ago (or at an unknown time):
    /// being released, still a slot.
    CompletedPod,
    /// Named by no pod, for less than the orphan grace (cool-down, or a deletion the
    /// controller will catch up with) or for an unknown time.
    Orphaned,
    /// Past its grace: the controller will not free it on its own.
    Leaked,
}

impl EniState {
    pub const ALL: [EniState; 4] = [
        EniState::InUse,
        EniState::CompletedPod,
        EniState::Orphaned,
        EniState::Leaked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EniState::InUse => "in_use",
            EniState::CompletedPod => "completed_pod",
            EniState::Orphaned => "orphaned",
            EniState::Leaked => "leaked",
        }
    }
}

/// Associated branch ENIs of one node, by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateCounts {
    pub in_use: u32,
    pub completed_pod: u32,
    pub orphaned: u32,
    pub leaked: u32,
}

impl StateCounts {
    pub fn get(&self, state: EniState) -> u32 {
        match state {
            EniState::InUse => self.in_use,
            EniState::CompletedPod => self.completed_pod,
            EniState::Orphaned => self.orphaned,
            EniState::Leaked => self.leaked,
        }
    }

    pub(crate) fn add(&mut self, state: EniState) {
        let slot = match state {
            EniState::InUse => &mut self.in_use,
            EniState::CompletedPod => &mut self.completed_pod,
            EniState::Orphaned => &mut self.orphaned,
            EniState::Leaked => &mut self.leaked,
        };
        *slot += 1;
    }

    /// All associated branch ENIs: the states partition them.
    pub fn attached(&self) -> u32 {
        self.in_use + self.completed_pod + self.orphaned + self.leaked
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacitySource {
    /// `status.allocatable["vpc.amazonaws.com/pod-eni"]`.
    Allocatable,
    /// The built-in instance type table.
    LimitsTable,
}

impl CapacitySource {
    pub fn as_str(self) -> &'static str {
        match self {
            CapacitySource::Allocatable => "allocatable",
            CapacitySource::LimitsTable => "limits-table",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    pub name: String,
    pub instance_id: Option<String>,
    pub instance_type: Option<String>,
    pub zone: Option<String>,
    /// The EKS managed node group, else the Karpenter node pool.
    pub nodegroup: Option<String>,
    /// Cordoned: counted in capacity, never in headroom.
    pub unschedulable: bool,
    pub trunk_eni_id: Option<String>,
    pub capacity: Option<u32>,
    pub capacity_source: Option<CapacitySource>,
    /// The scheduler's view: effective requests of pods that are not Succeeded/Failed.
    pub requested: u32,
    /// EC2's view: associated branch ENIs on the node's trunk, by state.
    pub branch_enis: StateCounts,
    /// SGP pods bound here that have no ENI yet.
    pub waiting: u32,
    /// Running pods whose annotated ENI no longer exists.
    pub missing: u32,
    /// How many more SGP pods can start now: capacity − attached − ENIs the waiting
    /// pods need, never below 0; 0 when the node does not advertise allocatable pod-eni.
    pub remaining: Option<u32>,
}

impl NodeReport {
    pub fn attached(&self) -> u32 {
        self.branch_enis.attached()
    }

    /// Whether the node advertises `vpc.amazonaws.com/pod-eni`: without it the
    /// scheduler places no security-group pod here.
    pub fn advertises_pod_eni(&self) -> bool {
        self.capacity_source == Some(CapacitySource::Allocatable)
    }

    /// A node that takes security-group pods and has no slot left.
    pub fn is_full(&self) -> bool {
        self.advertises_pod_eni() && self.remaining == Some(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub owner: Option<Owner>,
    /// Why it failed, when it did (`Evicted`, `DeadlineExceeded`, …).
    pub reason: Option<String>,
}

impl PodRef {
    pub fn of(pod: &PodInfo) -> Self {
        Self {
            namespace: pod.namespace.to_string(),
            name: pod.name.clone(),
            owner: pod.owner.clone(),
            reason: pod.reason().map(str::to_owned),
        }
    }
}

/// Every report row that names a pod shows it as `namespace/name`.
macro_rules! pod_name {
    ($($row:ty),*) => {$(
        impl $row {
            pub fn pod_name(&self) -> PodName<'_> {
                PodName { namespace: &self.namespace, name: &self.name }
            }
        }
    )*};
}
pod_name!(PodRef, WaitingPod, UnschedulablePod, MissingPod);

/// Why a holder's age is not known, so it cannot be judged leaked yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UnknownAge {
    /// Its completed pod's status records no completion time (an evicted pod whose
    /// containers were removed, a pod killed by its deadline before a container ran):
    /// aged from when the exporter first sees the pod finished, never in one observation.
    NoCompletionTime,
    /// Named by no pod: aged from when the exporter first sees it so, never in one
    /// observation.
    NotYetSeenTwice,
}

/// A branch ENI that holds a slot without a live pod behind it: the culprits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub eni_id: String,
    pub node: String,
    pub state: EniState,
    /// The completed pod that last named the ENI (kept after it is deleted); `None`
    /// when no pod named it.
    pub pod: Option<PodRef>,
    /// When its release began (the pod's completion, or first seen with no pod), when known.
    pub since: Option<Timestamp>,
    /// Leaked past every path by which the controller could still free it (see
    /// [`ReleaseClock::forgotten`](super::ReleaseClock::forgotten)).
    pub forgotten: bool,
}

impl Holder {
    pub fn unknown_age(&self) -> Option<UnknownAge> {
        match (self.since, &self.pod) {
            (Some(_), _) => None,
            (None, Some(_)) => Some(UnknownAge::NoCompletionTime),
            (None, None) => Some(UnknownAge::NotYetSeenTwice),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingPod {
    pub namespace: String,
    pub name: String,
    pub node: String,
    /// When it was scheduled (else created): how long it has been stuck.
    pub since: Option<Timestamp>,
    /// Branch ENIs it needs: its app containers' requests.
    pub enis_needed: u32,
}

/// A pod that requests pod-eni and that no node took, because (among other reasons)
/// some nodes had no pod-eni slot left: the cluster-level face of exhaustion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnschedulablePod {
    pub namespace: String,
    pub name: String,
    /// Since when the scheduler has failed to place it (its `PodScheduled` condition).
    pub since: Option<Timestamp>,
    /// Slots it asks the scheduler for (its effective request).
    pub enis_needed: u32,
    /// The scheduler's message, `0/12 nodes are available: 9 Insufficient …`.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingPod {
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub eni_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetReport {
    pub subnet: Subnet,
    /// Usable IPv4 addresses from the CIDR block (size − 5).
    pub ip_addresses: Option<u64>,
    pub associated_branch_enis: u32,
    pub detached_branch_enis: u32,
}

/// Why an associated branch ENI could not be placed on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnattributedReason {
    /// It names a trunk (or instance) that no known node has.
    UnknownTrunk,
    /// It carries neither the trunk tag nor the instance tag.
    NoTrunkTag,
}

impl UnattributedReason {
    pub const ALL: [UnattributedReason; 2] = [
        UnattributedReason::UnknownTrunk,
        UnattributedReason::NoTrunkTag,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UnattributedReason::UnknownTrunk => "unknown_trunk",
            UnattributedReason::NoTrunkTag => "no_trunk_tag",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unattributed {
    pub unknown_trunk: u32,
    pub no_trunk_tag: u32,
}

impl Unattributed {
    pub fn get(&self, reason: UnattributedReason) -> u32 {
        match reason {
            UnattributedReason::UnknownTrunk => self.unknown_trunk,
            UnattributedReason::NoTrunkTag => self.no_trunk_tag,
        }
    }

    pub fn add(&mut self, reason: UnattributedReason) {
        match reason {
            UnattributedReason::UnknownTrunk => self.unknown_trunk += 1,
            UnattributedReason::NoTrunkTag => self.no_trunk_tag += 1,
        }
    }
}

/// The result of one reconcile. Lists are sorted, so output is stable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Shared: the live loop's successive snapshots hold the same report for every node
    /// nothing changed on, so a publish copies pointers, not reports.
    pub nodes: Vec<Arc<NodeReport>>,
    /// Shared like `nodes`.
    pub holders: Vec<Arc<Holder>>,
    pub waiting_pods: Vec<WaitingPod>,
    pub missing_pods: Vec<MissingPod>,
    pub unschedulable_pods: Vec<UnschedulablePod>,
    pub subnets: Vec<SubnetReport>,
    pub unattributed: Unattributed,
    pub warnings: Vec<InputWarning>,
    /// The time ages were measured to, and where it comes from (the live clock, or a
    /// snapshot directory's capture time).
    pub observed: Observed,
    /// First-seen times carried into the next join, which is how an ENI becomes
    /// `leaked` only once its grace has passed. `reconcile`'s; the incremental
    /// [`Join`](super::Join) keeps its own and publishes this empty.
    pub carry: Carry,
}

impl Snapshot {
    /// Adds problems found before the join (undecodable objects), keeping the order stable.
    pub fn add_input_warnings(&mut self, warnings: impl IntoIterator<Item = InputWarning>) {
        self.warnings.extend(warnings);
        self.warnings.sort();
    }
}

/// Where the time a snapshot was taken comes from: ages are measured to it, never to
/// the wall clock, so an old snapshot reads as it did when it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ObservedFrom {
    /// Read from the live APIs just now.
    #[default]
    Live,
    /// `capturedAt` in `metadata.json`.
    Metadata,
    /// No `metadata.json`: the newest modification time of the four files.
    FileTimes,
}

impl ObservedFrom {
    pub fn describe(self) -> &'static str {
        match self {
            ObservedFrom::Live => "read from the live APIs",
            ObservedFrom::Metadata => "the snapshot's capture time from metadata.json",
            ObservedFrom::FileTimes => {
                "the newest modification time of the snapshot files (no metadata.json)"
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ObservedFrom::Live => "live",
            ObservedFrom::Metadata => "metadata",
            ObservedFrom::FileTimes => "file-times",
        }
    }
}

/// When the objects were observed, and how that is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observed {
    pub at: Timestamp,
    pub from: ObservedFrom,
}
