//! Pods, reduced to what the join reads: where they run, whether they are done, how many
//! branch ENIs they request and which ones they were given.

use compact_str::CompactString;
use jiff::Timestamp;

use super::annotation::EniAnnotation;

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
    pub fn parse(raw: Option<&str>) -> PodPhase {
        match raw {
            Some("Running") => PodPhase::Running,
            Some("Succeeded") => PodPhase::Succeeded,
            Some("Failed") => PodPhase::Failed,
            Some("Unknown") => PodPhase::Unknown,
            _ => PodPhase::Pending,
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

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodInfo {
    /// Namespaces, owner kinds and most owner names fit in 24 bytes: `CompactString`
    /// keeps them inline, saving an allocation each per cached pod.
    pub namespace: CompactString,
    pub name: String,
    pub node_name: Option<String>,
    pub phase: PodPhase,
    /// Effective `vpc.amazonaws.com/pod-eni` request, as the scheduler computes it.
    pub pod_eni_request: u32,
    /// Sum of the app containers' requests: the ENIs the controller creates for the pod
    /// (it ignores init containers, the scheduler does not).
    pub app_eni_request: u32,
    /// `metadata.deletionTimestamp` is set: the pod is going away and gets no ENI.
    pub terminating: bool,
    /// Set when a container's pod-eni quantity could not be read.
    pub request_problem: Option<String>,
    pub annotation: EniAnnotation,
    pub owner: Option<Owner>,
    pub created_at: Option<Timestamp>,
    /// `PodScheduled` condition time, when the condition is true.
    pub scheduled_at: Option<Timestamp>,
    /// Earliest `state.running.startedAt` over containers: the CNI set the pod's network
    /// up before, so any annotation it carries existed by then.
    pub started_at: Option<Timestamp>,
    /// For Succeeded/Failed pods: the latest `state.terminated.finishedAt` over
    /// containers, else the `Ready` condition's transition time. The controller (v1.1.0
    /// and later) releases the pod's ENIs at this moment.
    pub completed_at: Option<Timestamp>,
}

impl PodInfo {
    /// Whether the join needs this pod at all: it asks for a branch ENI or names one.
    /// Everything else is dropped at the edge, which is what keeps the cache small.
    pub fn is_relevant(&self) -> bool {
        self.pod_eni_request > 0
            || self.app_eni_request > 0
            || self.request_problem.is_some()
            || self.annotation != EniAnnotation::Absent
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The identity `key` spells, without allocating.
    pub fn key_parts(&self) -> (&str, &str) {
        (&self.namespace, &self.name)
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
