//! What the join says to people and programs, as text only: the audit table and JSON,
//! the `--fail-on` gate that turns it into a CI/CD check, the status page, the notes
//! Events carry, one node's ENIs and one pod's answer (`kubectl pod-eni node`, `why`),
//! and the remedies all of them share. Pure: it formats a snapshot.

pub mod event_notes;
mod json;
mod node_enis;
mod remedies;
pub mod status_page;
mod table;
mod text;
mod why;

pub use json::render_json;
pub use node_enis::{NodeEni, NodeEnis, node_enis, render_node_json, render_node_table};
pub(crate) use remedies::{hints, unknown_age_note};
pub use table::render_table;
pub(crate) use table::summary;
pub use why::{Verdict, Why, render_why_json, render_why_text, why};

use crate::accounting::{EniState, Snapshot};

/// Conditions `audit --fail-on` can gate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Condition {
    Exhausted,
    Leaked,
    Completed,
    Waiting,
    Missing,
    /// Pods that no node can take for want of a pod-eni slot.
    Unschedulable,
}

/// The conditions from `wanted` that hold in `snapshot`, in the order asked.
pub fn conditions_holding(snapshot: &Snapshot, wanted: &[Condition]) -> Vec<Condition> {
    wanted
        .iter()
        .copied()
        .filter(|condition| holds(snapshot, *condition))
        .collect()
}

fn holds(snapshot: &Snapshot, condition: Condition) -> bool {
    let held_in = |state: EniState| snapshot.holders.iter().any(|h| h.state == state);
    match condition {
        Condition::Exhausted => snapshot.nodes.iter().any(|n| n.is_full()),
        Condition::Leaked => held_in(EniState::Leaked),
        // Held by a completed pod, whether still being released or leaked since.
        Condition::Completed => snapshot.holders.iter().any(|h| h.pod.is_some()),
        Condition::Waiting => !snapshot.waiting_pods.is_empty(),
        Condition::Missing => !snapshot.missing_pods.is_empty(),
        Condition::Unschedulable => !snapshot.unschedulable_pods.is_empty(),
    }
}

/// The bundled incident (examples/incident), read and joined as `audit --from` does.
#[cfg(test)]
pub(crate) fn incident() -> (crate::snapshot_dir::Loaded, Snapshot) {
    use crate::snapshot_dir::{self, ReadLimits};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/incident");
    let loaded = snapshot_dir::read_dir(&dir, &ReadLimits::default()).unwrap();
    let snapshot = loaded.join(&crate::accounting::Settings::default());
    (loaded, snapshot)
}
