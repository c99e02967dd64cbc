//! Pods, reduced to what the join reads: where they run, whether they are done, how many
//! branch ENIs they request and which ones they were given.

use std::fmt;

use compact_str::CompactString;
use internment::ArcIntern;
use jiff::Timestamp;

use super::Keyed;
use super::annotation::EniAnnotation;
use super::stamp::Stamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodPhase {
    #[default]
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl PodPhase {
    /// The phase; no phase yet (a pod just created) is Pending.
    pub fn parse(raw: Option<&str>) -> PodPhase {
        Self::parse_checked(raw).unwrap_or_default()
    }

    /// `None` for text that is not one of the API's phases (`succeeded`, a typo in a
    /// hand-made dump): the caller reports it rather than guessing.
    pub fn parse_checked(raw: Option<&str>) -> Option<PodPhase> {
        match raw {
            None | Some("" | "Pending") => Some(PodPhase::Pending),
            Some("Running") => Some(PodPhase::Running),
            Some("Succeeded") => Some(PodPhase::Succeeded),
            Some("Failed") => Some(PodPhase::Failed),
            Some("Unknown") => Some(PodPhase::Unknown),
            Some(_) => None,
        }
    }

    /// Succeeded and Failed pods no longer count for the scheduler or
    /// `kubectl describe node`, yet may still hold a branch ENI.
    pub fn is_terminal(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// The controlling owner reference (`Job`, `ReplicaSet`, `StatefulSet`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub kind: CompactString,
    pub name: CompactString,
}

/// `Job/nightly`, as kubectl names an object.
impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// `namespace/name`, as kubectl names a pod: what every report shows for one.
#[derive(Debug, Clone, Copy)]
pub struct PodName<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
}

impl fmt::Display for PodName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A node's name as pods name it: interned, so the ~30 pods of a node share one copy
/// (a `String` each was ~3.9 MiB at the full envelope) and freed with its last pod.
pub type NodeName = ArcIntern<str>;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodInfo {
    /// Namespaces, owner kinds and most owner names fit in 24 bytes: `CompactString`
    /// keeps them inline, saving an allocation each per cached pod.
    pub namespace: CompactString,
    pub name: String,
    pub node_name: Option<NodeName>,
    pub phase: PodPhase,
    /// Effective `vpc.amazonaws.com/pod-eni` request, as the scheduler computes it.
    pub pod_eni_request: u32,
    /// Sum of the app containers' requests: the ENIs the controller creates for the pod
    /// (it ignores init containers, the scheduler does not).
    pub app_eni_request: u32,
    /// `metadata.deletionTimestamp` is set. The controller never reads it: a terminating
    /// Pending pod still gets (and needs) its ENI until it is gone.
    pub terminating: bool,
    /// What few pods have (a problem reading them, an end reason), behind one pointer.
    pub rare: Option<Box<RareFields>>,
    pub annotation: EniAnnotation,
    pub owner: Option<Owner>,
    pub created_at: Option<Stamp>,
    /// `PodScheduled` condition time, when the condition is true.
    pub scheduled_at: Option<Stamp>,
    /// The earliest time the status proves the pod had a sandbox: a container started
    /// or finished (now or in its previous run), or `PodReadyToStartContainers` turned
    /// true. The CNI builds a security-group pod's sandbox only from the annotation,
    /// so the ENIs it names were claimed by then.
    pub sandbox_seen_at: Option<Stamp>,
    /// For Succeeded/Failed pods: when they finished, from evidence written at
    /// completion only (see [`completion_time`]); `None` when the status records no such
    /// time. The controller (v1.1.0 and later) releases the pod's ENIs then.
    pub completed_at: Option<Stamp>,
    /// For a pod no node took: the scheduler's last failure, kept only when it names
    /// `Insufficient vpc.amazonaws.com/pod-eni`.
    pub unschedulable: Option<Box<SchedulingFailure>>,
}

/// A pod's fields that are usually empty. Kept out of `PodInfo` so that the common pod,
/// with its `Arc`, fits jemalloc's 256-byte class (384 with these inline: ~10 MiB more
/// at the full envelope).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RareFields {
    /// Set when a container's pod-eni quantity could not be read.
    pub request_problem: Option<String>,
    /// `status.phase` as written, when it is not one of the API's phases.
    pub phase_problem: Option<Box<str>>,
    /// `status.reason` of a Succeeded/Failed pod (`Evicted`, `DeadlineExceeded`, …).
    pub reason: Option<CompactString>,
}

impl RareFields {
    /// `None` when every field is empty, as for most pods.
    pub fn boxed(self) -> Option<Box<RareFields>> {
        (self != RareFields::default()).then(|| Box::new(self))
    }
}

/// Why the scheduler could not place a pod, as its `PodScheduled` condition says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulingFailure {
    /// When the condition last changed: the pod has been unschedulable since.
    pub since: Option<Timestamp>,
    /// `0/12 nodes are available: 9 Insufficient vpc.amazonaws.com/pod-eni, …`.
    pub message: String,
}

/// What the scheduler writes for a node without a free pod-eni slot.
pub const INSUFFICIENT_POD_ENI: &str = "Insufficient vpc.amazonaws.com/pod-eni";

/// One container's status, reduced to what dates the pod: the kubelet's current and
/// previous state of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContainerTimes {
    pub state: ContainerRun,
    pub last_state: ContainerRun,
}

/// A container state as the kubelet writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContainerRun {
    /// `waiting`, or no state: not running now.
    #[default]
    Waiting,
    Running {
        started_at: Option<Timestamp>,
    },
    Terminated {
        started_at: Option<Timestamp>,
        finished_at: Option<Timestamp>,
    },
}

/// When a finished pod finished, from its container statuses alone (DESIGN §4,
/// "Completion time"; docs/pod-status.md has the kubelet reading behind it).
///
/// A condition's `lastTransitionTime` never counts: the kubelet keeps it while the
/// condition's status does not change (`status_manager.go`, `updateLastTransitionTime`),
/// so `Ready: False` of a pod that was already unready when it failed is older than the
/// failure by any amount. What is written at completion is a container's
/// `state.terminated.finishedAt`, and the pod finished with the last of them, provided
/// every container that ran recorded one:
/// - `terminated` without `finishedAt` is the kubelet's `ContainerStatusUnknown`
///   (`TerminatePod`: an evicted pod's removed containers, or containers that never
///   started in a pod killed by its deadline): it may have ended at any time;
/// - `running` in a finished pod is a status not yet final;
/// - `waiting` with a previous run (`lastState.terminated`) was restarting when the
///   pod ended, later than that run;
/// - `waiting` with no previous run never ran, and says nothing either way.
pub fn completion_time(containers: impl IntoIterator<Item = ContainerTimes>) -> Option<Timestamp> {
    let mut latest = None;
    for container in containers {
        match container.state {
            ContainerRun::Terminated {
                finished_at: Some(finished),
                ..
            } => latest = latest.max(Some(finished)),
            ContainerRun::Terminated {
                finished_at: None, ..
            }
            | ContainerRun::Running { .. } => return None,
            ContainerRun::Waiting => {
                if matches!(container.last_state, ContainerRun::Terminated { .. }) {
                    return None;
                }
            }
        }
    }
    latest
}

impl ContainerRun {
    /// The times this state proves the container ran at.
    fn times(self) -> [Option<Timestamp>; 2] {
        match self {
            ContainerRun::Waiting => [None, None],
            ContainerRun::Running { started_at } => [started_at, None],
            ContainerRun::Terminated {
                started_at,
                finished_at,
            } => [started_at, finished_at],
        }
    }
}

/// The earliest time any container is known to have run (now or in its previous run):
/// its sandbox, and so its network, existed then.
pub fn earliest_run(containers: impl IntoIterator<Item = ContainerTimes>) -> Option<Timestamp> {
    containers
        .into_iter()
        .flat_map(|c| c.state.times().into_iter().chain(c.last_state.times()))
        .flatten()
        .min()
}

impl PodInfo {
    /// Whether the join needs this pod at all: it asks for a branch ENI or names one.
    /// Everything else is dropped at the edge, which is what keeps the cache small.
    pub fn is_relevant(&self) -> bool {
        self.pod_eni_request > 0
            || self.app_eni_request > 0
            || self.request_problem().is_some()
            || self.annotation != EniAnnotation::Absent
    }

    pub fn request_problem(&self) -> Option<&str> {
        self.rare.as_ref()?.request_problem.as_deref()
    }

    pub fn phase_problem(&self) -> Option<&str> {
        self.rare.as_ref()?.phase_problem.as_deref()
    }

    pub fn reason(&self) -> Option<&str> {
        self.rare.as_ref()?.reason.as_deref()
    }

    /// Whether this pod's ENI was never written: it needs its app containers' ENIs.
    pub fn needs_enis(&self) -> bool {
        self.app_eni_request > 0 && self.annotation.has_no_eni()
    }

    /// `namespace/name`: how the join's maps and the carry name the pod.
    pub fn key(&self) -> String {
        super::key_string(self.key_parts())
    }

    pub fn pod_name(&self) -> PodName<'_> {
        PodName {
            namespace: &self.namespace,
            name: &self.name,
        }
    }
}

/// A container's request for the extended resource, and whether it is a sidecar
/// (an init container with `restartPolicy: Always`, which keeps running).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitRequest {
    pub request: u32,
    pub sidecar: bool,
}

/// The pod's effective request as kube-scheduler computes it: app containers and
/// sidecars run together; each plain init container runs alone next to the sidecars
/// started before it; the pod needs the larger of the two.
pub fn effective_request(
    containers: impl IntoIterator<Item = u32>,
    init_containers: impl IntoIterator<Item = InitRequest>,
) -> u32 {
    let app = sum_requests(containers);
    let mut sidecars = 0u32;
    let mut init_peak = 0u32;
    for init in init_containers {
        let during_this_init = if init.sidecar {
            sidecars = sidecars.saturating_add(init.request);
            sidecars
        } else {
            init.request.saturating_add(sidecars)
        };
        init_peak = init_peak.max(during_this_init);
    }
    app.saturating_add(sidecars).max(init_peak)
}

/// Sums requests without wrapping: an absurd request must not make a node look empty.
pub fn sum_requests(requests: impl IntoIterator<Item = u32>) -> u32 {
    requests.into_iter().fold(0, u32::saturating_add)
}

/// Reads a count quantity such as `1` or `1000m`. Extended resources are whole numbers;
/// anything else is an error carrying the raw text.
pub fn parse_count_quantity(raw: &str) -> Result<u32, String> {
    let trimmed = raw.trim();
    if let Some(milli) = trimmed.strip_suffix('m') {
        return milli
            .parse::<u64>()
            .ok()
            .filter(|m| m % 1000 == 0)
            .and_then(|m| u32::try_from(m / 1000).ok())
            .ok_or_else(|| raw.to_owned());
    }
    trimmed.parse::<u32>().map_err(|_| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache holds each pod in an `Arc` (two counters, 16 bytes): past 256 bytes
    /// jemalloc rounds it up to 320 or 384, ~5–10 MiB more at 150,000 pods.
    #[test]
    fn a_cached_pod_fits_the_256_byte_class() {
        let size = size_of::<PodInfo>() + 2 * size_of::<usize>();
        assert!(size <= 256, "PodInfo in its Arc takes {size} bytes");
    }

    fn init(request: u32) -> InitRequest {
        InitRequest {
            request,
            sidecar: false,
        }
    }
    fn sidecar(request: u32) -> InitRequest {
        InitRequest {
            request,
            sidecar: true,
        }
    }

    #[test]
    fn effective_request_matches_the_scheduler() {
        let cases: [(&str, Vec<u32>, Vec<InitRequest>, u32); 7] = [
            ("one container", vec![1], vec![], 1),
            ("no request", vec![0, 0], vec![], 0),
            ("containers add up", vec![1, 1], vec![], 2),
            ("init larger than containers", vec![1], vec![init(2)], 2),
            ("init smaller than containers", vec![1, 1], vec![init(1)], 2),
            ("only an init container asks", vec![0], vec![init(1)], 1),
            (
                "sidecar runs along with app and later inits",
                vec![1],
                vec![sidecar(1), init(1)],
                2,
            ),
        ];
        for (name, containers, inits, want) in cases {
            assert_eq!(effective_request(containers, inits), want, "{name}");
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_count_quantity("1"), Ok(1));
        assert_eq!(parse_count_quantity(" 2 "), Ok(2));
        assert_eq!(parse_count_quantity("1000m"), Ok(1));
        assert_eq!(parse_count_quantity("500m"), Err("500m".to_owned()));
        assert_eq!(parse_count_quantity("1Ki"), Err("1Ki".to_owned()));
        assert_eq!(parse_count_quantity("-1"), Err("-1".to_owned()));
    }

    #[test]
    fn terminal_phases() {
        assert!(PodPhase::parse(Some("Succeeded")).is_terminal());
        assert!(PodPhase::parse(Some("Failed")).is_terminal());
        assert!(!PodPhase::parse(Some("Running")).is_terminal());
        assert!(!PodPhase::parse(None).is_terminal());
    }
}
