//! What one join hands to the next: the times that make an ENI's age known. Only
//! problems are remembered (ENIs held without a live pod, finished pods with no finish
//! time, claims on absent ENIs), so it stays small whatever the cluster size.

use compact_str::CompactString;
use foldhash::HashMap;

use jiff::Timestamp;

use super::{EniState, PodRef, Settings, age};

/// Which of the controller's release paths an ENI is waiting on, and so which grace
/// applies before it counts as leaked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseBasis {
    /// Last named by a completed pod: released at completion, gone about cool-down +
    /// 30 s later; the controller's node reconciliation never catches what is left.
    Completed,
    /// Named by no pod since `since`: a pod deleted while the controller missed the
    /// event is cleaned up by node reconciliation, up to ~20 min later.
    Orphan,
}

/// The release clock of one ENI held without a live pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseClock {
    /// When the release began: the completion, or when first seen with no pod.
    pub started: Timestamp,
    /// False while `started` is only this observation's time (a single observation,
    /// or a finish time not yet seen): the true age is unknown, so it cannot leak.
    pub known: bool,
    pub basis: ReleaseBasis,
    /// The completed pod that last named it, kept after that pod is deleted.
    pub last_holder: Option<PodRef>,
}

impl ReleaseClock {
    pub fn since(&self) -> Option<Timestamp> {
        self.known.then_some(self.started)
    }

    /// A leaked ENI past every path by which the controller could still free it: the
    /// pod resync for a completed pod's ENI; for one no pod names, node reconciliation
    /// (which its grace already waited for). It was dropped after three failed deletes,
    /// or never cached, and only a trunk re-initialisation or a delete in EC2 frees it.
    pub fn forgotten(&self, now: Timestamp, settings: &Settings) -> bool {
        self.state(now, settings) == EniState::Leaked
            && match self.basis {
                ReleaseBasis::Orphan => true,
                ReleaseBasis::Completed => {
                    age(now, self.started).unsigned_abs() >= settings.forgotten_after()
                }
            }
    }

    /// The first time after `now` at which the clock alone changes [`state`](Self::state)
    /// or [`forgotten`](Self::forgotten); `now` itself while the age is unknown (the
    /// next join that carries this clock knows it).
    pub fn next_change(&self, now: Timestamp, settings: &Settings) -> Option<Timestamp> {
        if !self.known {
            return Some(now);
        }
        let (grace, forgotten) = match self.basis {
            ReleaseBasis::Completed => (settings.completed_grace, Some(settings.forgotten_after())),
            ReleaseBasis::Orphan => (settings.orphan_grace, None),
        };
        let at = |after: std::time::Duration| {
            let after = jiff::SignedDuration::try_from(after).ok()?;
            self.started.checked_add(after).ok()
        };
        [Some(grace), forgotten]
            .into_iter()
            .flatten()
            .filter_map(at)
            .filter(|&t| t > now)
            .min()
    }

    pub fn state(&self, now: Timestamp, settings: &Settings) -> EniState {
        let grace = match self.basis {
            ReleaseBasis::Completed => settings.completed_grace,
            ReleaseBasis::Orphan => settings.orphan_grace,
        };
        let overdue = self.known && age(now, self.started).unsigned_abs() >= grace;
        match (overdue, self.last_holder.is_some()) {
            (true, _) => EniState::Leaked,
            (false, true) => EniState::CompletedPod,
            (false, false) => EniState::Orphaned,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Carry {
    /// ENI ID → its release clock, for every associated ENI no live pod names.
    pub release: HashMap<CompactString, ReleaseClock>,
    /// `namespace/name` → when first seen finished, for finished pods whose status
    /// carries no finish time.
    pub finished_first_seen: HashMap<String, Timestamp>,
    /// (`namespace/name`, ENI ID) → claims of live pods on ENIs that EC2 does not have
    /// associated.
    pub absent_claims: HashMap<(String, CompactString), AbsentClaim>,
}

/// A live pod's claim on an ENI that EC2 does not show associated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbsentClaim {
    /// When the exporter first saw the claim.
    pub first_seen: Timestamp,
    /// Whether it has been counted missing (it stays so while the ENI stays absent).
    pub missing: bool,
}
