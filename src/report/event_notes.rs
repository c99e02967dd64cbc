//! What the exporter says in Kubernetes Events (`serve --emit-events`), so that
//! `kubectl describe node` and `kubectl describe pod` show the truth where people look:
//! a full node with pods waiting, a pod waiting past a grace, leaked ENIs on a node.
//! Pure: from a snapshot to intents; `k8s::events` publishes them.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use jiff::SignedDuration;

use super::text;
use crate::accounting::{EniState, Holder, NodeReport, Snapshot};

/// How long a pod may wait for its branch ENI before its own Event says why.
pub const WAITING_GRACE: SignedDuration = SignedDuration::from_mins(2);
/// The Events API caps a note at 1 kB.
const MAX_NOTE: usize = 1024;
/// Owners or ENI IDs named in one note; the rest are counted.
const NAMED: usize = 5;

pub const BRANCH_ENI_EXHAUSTED: &str = "BranchENIExhausted";
pub const WAITING_FOR_BRANCH_ENI: &str = "WaitingForBranchENI";
pub const LEAKED_BRANCH_ENIS: &str = "LeakedBranchENIs";

/// The object an Event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Regarding {
    Node(String),
    Pod { namespace: String, name: String },
}

/// One Warning Event to publish (or to update, when its series exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub regarding: Regarding,
    pub reason: &'static str,
    pub note: String,
}

pub fn intents(snapshot: &Snapshot) -> Vec<Intent> {
    // Holders and nodes by name, once: a snapshot at the envelope has thousands of each.
    let mut held: HashMap<&str, Vec<&Holder>> = HashMap::new();
    for holder in &snapshot.holders {
        held.entry(holder.node.as_str()).or_default().push(holder);
    }
    let holders_on = |node: &str| held.get(node).map_or(&[][..], Vec::as_slice);
    let nodes: HashMap<&str, &NodeReport> = snapshot
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), &**n))
        .collect();

    let mut intents = Vec::new();
    for node in &snapshot.nodes {
        let holders = holders_on(&node.name);
        if node.is_full() && node.waiting > 0 {
            intents.push(Intent {
                regarding: Regarding::Node(node.name.clone()),
                reason: BRANCH_ENI_EXHAUSTED,
                note: capped(exhausted_note(node, holders)),
            });
        }
        let leaked: Vec<&&Holder> = holders
            .iter()
            .filter(|h| h.state == EniState::Leaked)
            .collect();
        if !leaked.is_empty() {
            let forgotten = leaked.iter().filter(|h| h.forgotten).count();
            let ids = named(leaked.iter().map(|h| h.eni_id.clone()));
            let what = if forgotten == leaked.len() {
                "The controller has forgotten them (deleting pods does nothing); with no running pod naming them, delete them in EC2 (aws ec2 delete-network-interface), which gives the slots back."
            } else {
                "A completion the controller missed is released at its next 30-minute pod resync; what is still attached 35 minutes after its pod completed was forgotten: delete it in EC2 (aws ec2 delete-network-interface)."
            };
            intents.push(Intent {
                regarding: Regarding::Node(node.name.clone()),
                reason: LEAKED_BRANCH_ENIS,
                note: capped(format!(
                    "{} branch ENI(s) still attached past the controller's release, shrinking this node's capacity: {ids}. {what} `pod-eni-exporter audit` names who held them.",
                    leaked.len(),
                )),
            });
        }
    }
    let now = snapshot.observed.at;
    for pod in &snapshot.waiting_pods {
        let Some(since) = pod
            .since
            .filter(|since| now.duration_since(*since) > WAITING_GRACE)
        else {
            continue;
        };
        let mut note = format!(
            "Waiting {} for a branch ENI on node {}",
            // Whole minutes: a note that changed every second would be a new Event each time.
            text::age(SignedDuration::from_mins(
                now.duration_since(since).as_mins()
            )),
            pod.node
        );
        if let Some(node) = nodes.get(pod.node.as_str()) {
            let _ = write!(note, ": {}", exhausted_note(node, holders_on(&node.name)));
        }
        intents.push(Intent {
            regarding: Regarding::Pod {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
            },
            reason: WAITING_FOR_BRANCH_ENI,
            note: capped(note),
        });
    }
    intents
}

/// "18/18 branch ENIs attached; 3 held by completed pods (Job/a, …), 2 in cool-down;
/// scheduler counts 14".
fn exhausted_note(node: &NodeReport, holders: &[&Holder]) -> String {
    let capacity = node
        .capacity
        .map_or_else(|| "?".to_owned(), |c| c.to_string());
    let mut note = format!("{}/{capacity} branch ENIs attached", node.attached());
    let completed: BTreeSet<String> = holders
        .iter()
        .filter_map(|h| h.pod.as_ref())
        .map(|pod| match &pod.owner {
            Some(owner) => owner.to_string(),
            None => format!("Pod/{}", pod.name),
        })
        .collect();
    let held_by_completed = holders.iter().filter(|h| h.pod.is_some()).count();
    if held_by_completed > 0 {
        let _ = write!(
            note,
            "; {held_by_completed} held by completed pods ({})",
            named(completed.into_iter())
        );
    }
    // ENIs no pod names: in cool-down, or past it.
    let without_pod = |state| {
        holders
            .iter()
            .filter(|h| h.pod.is_none() && h.state == state)
            .count()
    };
    for (count, what) in [
        (without_pod(EniState::Orphaned), "in cool-down"),
        (without_pod(EniState::Leaked), "leaked"),
    ] {
        if count > 0 {
            let _ = write!(note, "; {count} {what}");
        }
    }
    let _ = write!(note, "; scheduler counts {}", node.requested);
    note
}

fn named(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    let mut text = items
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > NAMED {
        let _ = write!(text, ", and {} more", items.len() - NAMED);
    }
    text
}

/// At most [`MAX_NOTE`] bytes, the API's limit on a note.
fn capped(note: String) -> String {
    match text::cut(&note, MAX_NOTE, "…") {
        Cow::Borrowed(_) => note,
        Cow::Owned(cut) => cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident() -> Snapshot {
        crate::report::incident().1
    }

    #[test]
    fn the_incident_says_the_full_node_is_exhausted_and_names_the_jobs() {
        let intents = intents(&incident());
        let full = "ip-10-0-1-10.eu-west-1.compute.internal";
        let exhausted: Vec<&Intent> = intents
            .iter()
            .filter(|i| i.reason == BRANCH_ENI_EXHAUSTED)
            .collect();
        assert_eq!(exhausted.len(), 1);
        assert_eq!(exhausted[0].regarding, Regarding::Node(full.to_owned()));
        let note = &exhausted[0].note;
        assert!(
            note.starts_with("18/18 branch ENIs attached; 4 held by completed pods ("),
            "{note}"
        );
        for job in [
            "Job/db-migrate-28871040",
            "Job/db-migrate-28871100",
            "Job/db-migrate-28871160",
        ] {
            assert!(note.contains(job), "{note}");
        }
        assert!(
            note.ends_with("1 in cool-down; scheduler counts 14"),
            "{note}"
        );
        // The healthy node says nothing; the waiting pod (16 minutes) says why it waits.
        assert!(
            intents
                .iter()
                .all(|i| !matches!(&i.regarding, Regarding::Node(n) if n.contains("10-0-2-20")))
        );
        let waiting: Vec<&Intent> = intents
            .iter()
            .filter(|i| i.reason == WAITING_FOR_BRANCH_ENI)
            .collect();
        assert_eq!(waiting.len(), 1);
        assert!(
            waiting[0].note.starts_with(&format!(
                "Waiting 15m for a branch ENI on node {full}: 18/18"
            )),
            "{}",
            waiting[0].note
        );
        let leaked: Vec<&Intent> = intents
            .iter()
            .filter(|i| i.reason == LEAKED_BRANCH_ENIS)
            .collect();
        assert_eq!(leaked.len(), 1);
        assert!(
            leaked[0].note.starts_with("3 branch ENI(s)")
                && leaked[0].note.contains("forgotten them")
                && leaked[0].note.contains("aws ec2 delete-network-interface"),
            "held by Jobs that completed hours ago: {}",
            leaked[0].note
        );
    }

    #[test]
    fn notes_fit_the_api_limit_whatever_the_names() {
        let long = capped("é".repeat(2000));
        assert!(long.len() <= MAX_NOTE && long.ends_with('…'));
        assert_eq!(
            named((0..8).map(|i| i.to_string())),
            "0, 1, 2, 3, 4, and 3 more"
        );
    }
}
