//! What to do about what the join found, in words the table, the status page and the
//! Events share. Each remedy follows what the VPC resource controller really does
//! (aws/amazon-vpc-resource-controller-k8s, `pkg/provider/branch/trunk/trunk.go`):
//!
//! - A pod's ENIs are released when the controller sees it finish, through a cool-down
//!   queue; a completion it missed is seen at its 30-minute pod resync.
//! - A delete that fails three times is dropped (`MaxDeleteRetries`): the controller
//!   forgets the ENI. Deleting the pod then does nothing, node reconciliation walks only
//!   its own cache, and the cluster ENI cleaner sweeps only `available` ENIs. Only a
//!   trunk re-initialisation (a controller restart, not in an EKS user's hands, or the
//!   node registered anew) or a delete in EC2 frees it.
//! - A forgotten ENI no longer counts in the controller's capacity check (in use +
//!   queued < limit), so it starts more branches than EC2 lets the trunk hold: the pods
//!   see `BranchAllocationFailed`. Deleting the ENI in EC2 drops its trunk association
//!   with it (controllers before v1.7 deleted associated branches that way), which
//!   gives the node its slot back; only its VLAN id stays marked used in the
//!   controller's memory until the trunk is set up again, and VLAN ids (1 to 120) run
//!   out before slots when capacity plus such ids pass 120: there the node is replaced.

use std::collections::{BTreeMap, BTreeSet};

use crate::accounting::{EniState, Holder, NodeReport, Snapshot, UnknownAge};
use crate::model::Owner;

/// VLAN ids a trunk can give branches (the controller's bitmap, slot 0 unused).
const VLAN_IDS: u32 = 120;
/// Full nodes named one by one; the rest are counted.
pub(crate) const FULL_NODE_HINTS: usize = 10;

/// Why a holder's `since` is unknown, as the table's footnote and the JSON say it.
pub fn unknown_age_note(unknown: UnknownAge) -> &'static str {
    match unknown {
        UnknownAge::NoCompletionTime => {
            "its pod's status records no completion time (evicted with its containers removed, or killed by its deadline before a container finished); the controller released the ENI when it saw the pod finish, so one observation cannot age it and never calls it leaked: the exporter ages it from when it first sees the pod finished"
        }
        UnknownAge::NotYetSeenTwice => {
            "named by no pod; one observation cannot tell for how long, so it is never called leaked: the exporter ages it from when it first sees it so"
        }
    }
}

/// One remedy per kind of problem found, most urgent first.
pub(crate) fn hints(snapshot: &Snapshot) -> Vec<String> {
    let mut hints = Vec::new();
    full_nodes(snapshot, &mut hints);
    unschedulable(snapshot, &mut hints);
    leaked(snapshot, &mut hints);
    releasing(snapshot, &mut hints);
    waiting(snapshot, &mut hints);
    if !snapshot.missing_pods.is_empty() {
        hints.push(format!(
            "{} a branch ENI that no longer exists in EC2: restart (kubectl delete pod) so the controller assigns a new one.",
            count(snapshot.missing_pods.len(), "running pod names", "running pods name")
        ));
    }
    let unattributed = snapshot.unattributed.unknown_trunk + snapshot.unattributed.no_trunk_tag;
    if unattributed > 0 {
        hints.push(format!(
            "{} to no known node (trunk gone or untagged): look for terminated instances whose ENIs were not cleaned up.",
            count(unattributed as usize, "associated branch ENI belongs", "associated branch ENIs belong")
        ));
    }
    if !snapshot.warnings.is_empty() {
        hints.push("Some input could not be read (see the warnings above); the figures cover everything else.".to_owned());
    }
    if hints.is_empty() {
        hints.push(
            "Nothing to do: every associated branch ENI belongs to a running pod.".to_owned(),
        );
    }
    hints
}

fn full_nodes(snapshot: &Snapshot, hints: &mut Vec<String>) {
    let misjudged: Vec<(&NodeReport, u32)> = snapshot
        .nodes
        .iter()
        .filter(|n| n.is_full())
        .filter_map(|n| Some((&**n, n.capacity.filter(|c| n.requested < *c)?)))
        .collect();
    for (node, capacity) in misjudged.iter().take(FULL_NODE_HINTS) {
        hints.push(format!(
            "{} is full although the scheduler counts {} of {capacity}: it does not see ENIs held by completed pods, in cool-down or leaked. Cordon it ({}) until they are freed.",
            node.name,
            node.requested,
            command(&["kubectl", "cordon", &node.name])
        ));
    }
    if misjudged.len() > FULL_NODE_HINTS {
        hints.push(format!(
            "{} more nodes are full although the scheduler counts free slots on them (the table above lists them); cordon them the same way.",
            misjudged.len() - FULL_NODE_HINTS
        ));
    }
}

/// Pods waiting for a branch ENI: on a full trunk they wait for a slot; where the trunk
/// has slots free the controller could not create the ENI, and a subnet out of
/// addresses in the node's zone is the likely cause (a branch ENI takes an address in
/// the node's subnet, or its ENIConfig's; the controller retries a failed create five
/// times, then at the next pod event or its 30-minute resync).
fn waiting(snapshot: &Snapshot, hints: &mut Vec<String>) {
    let node = |name: &str| snapshot.nodes.iter().find(|node| node.name == name);
    let has_room = |name: &str| {
        node(name).is_some_and(|node| node.capacity.is_some_and(|c| node.attached() < c))
    };
    let (with_room, for_a_slot): (Vec<_>, Vec<_>) = snapshot
        .waiting_pods
        .iter()
        .partition(|pod| has_room(&pod.node));
    if !for_a_slot.is_empty() {
        hints.push(format!(
            "{} for a branch ENI: it stays in ContainerCreating (\"failed to assign an IP address to container\") until a slot on its node is freed; the controller retries every cool-down without an event. A BranchAllocationFailed event on it means EC2 refused the ENI (a node with forgotten ENIs, or a subnet out of IPs). Delete it once the node is cordoned, so it is rescheduled elsewhere.",
            count(for_a_slot.len(), "pod waits", "pods wait")
        ));
    }
    if with_room.is_empty() {
        return;
    }
    let zones: BTreeSet<&str> = with_room
        .iter()
        .filter_map(|pod| node(&pod.node)?.zone.as_deref())
        .collect();
    let dry: Vec<&str> = snapshot
        .subnets
        .iter()
        .map(|report| &report.subnet)
        .filter(|subnet| subnet.available_ip_addresses == 0)
        .filter(|subnet| {
            subnet
                .availability_zone
                .as_deref()
                .is_some_and(|z| zones.contains(z))
        })
        .map(|subnet| subnet.id.as_str())
        .collect();
    let cause = if dry.is_empty() {
        "Its BranchAllocationFailed events say what EC2 refused.".to_owned()
    } else {
        let (subnets, have) = match dry.len() {
            1 => ("Subnet", "has"),
            _ => ("Subnets", "have"),
        };
        format!(
            "{subnets} {} in its zone {have} no free IP address left, and every branch ENI takes one in the node's subnet (or its ENIConfig's): free addresses there or move the pods to a node group on a subnet with room; its BranchAllocationFailed events confirm it.",
            dry.join(", ")
        )
    };
    hints.push(format!(
        "{} for a branch ENI on a node whose trunk has slots free: the slot limit is not the cause, the controller could not create the ENI. {cause} The controller retries a failed create five times, then at the next pod event or its 30-minute resync: delete the pod once the cause is gone to retry at once.",
        count(with_room.len(), "pod waits", "pods wait")
    ));
}

fn unschedulable(snapshot: &Snapshot, hints: &mut Vec<String>) {
    let Some(oldest) = snapshot.unschedulable_pods.first() else {
        return;
    };
    let since = oldest
        .since
        .map_or_else(String::new, |t| format!(" since {t}"));
    hints.push(format!(
        "{} that no node can take: the scheduler finds no free vpc.amazonaws.com/pod-eni slot (oldest: {}/{}{since}). The cluster, not one node, is out of branch ENIs: see where slots are left (pod-eni-exporter audit --headroom), scale out the node group that runs these pods or move them to instance types with more branch ENIs, and free the leaked ENIs listed here.",
        count(
            snapshot.unschedulable_pods.len(),
            "pod requests a branch ENI",
            "pods request branch ENIs"
        ),
        oldest.namespace,
        oldest.name
    ));
}

fn leaked(snapshot: &Snapshot, hints: &mut Vec<String>) {
    let leaked = |forgotten: bool| {
        snapshot
            .holders
            .iter()
            .filter(move |h| h.state == EniState::Leaked && h.forgotten == forgotten)
            .map(|h| &**h)
            .collect::<Vec<_>>()
    };
    let maybe_missed = leaked(false);
    if !maybe_missed.is_empty() {
        hints.push(format!(
            "{} still attached past the cool-down after their pods completed{}. Either the controller missed the completion, and it releases them at its next pod resync (every 30 minutes) with nothing to do, or its deletes failed three times and it forgot them. If they are still listed 35 minutes after the completion (SINCE), delete them in EC2 (the audit then prints the commands).",
            count(maybe_missed.len(), "branch ENI is", "branch ENIs are"),
            owners(&maybe_missed)
        ));
    }
    let forgotten = leaked(true);
    if forgotten.is_empty() {
        return;
    }
    let (completed, unnamed): (Vec<&Holder>, Vec<&Holder>) =
        forgotten.iter().partition(|h| h.pod.is_some());
    let mut why = Vec::new();
    if !completed.is_empty() {
        why.push(format!(
            "{} held by pods that completed over 30 minutes ago{}",
            completed.len(),
            owners(&completed)
        ));
    }
    if !unnamed.is_empty() {
        why.push(format!(
            "{} named by no pod for longer than node reconciliation takes",
            unnamed.len()
        ));
    }
    let (deletable, replace) = split_by_vlan_room(snapshot, &forgotten);
    let mut hint = format!(
        "{} leaked: {}. The controller has forgotten them (three failed deletes, or never cached): deleting pods does nothing, its node reconciliation and ENI cleaner skip associated ENIs, and its capacity check no longer counts them, so it starts branches the trunk has no room for and pods on the node see BranchAllocationFailed.",
        count(forgotten.len(), "branch ENI has", "branch ENIs have"),
        why.join("; ")
    );
    if !deletable.is_empty() {
        hint.push_str(&format!(
            " No running pod names them: delete them in EC2, which drops their trunk association and gives the node its slots back ({}).",
            deletable
                .iter()
                .map(|h| command(&[
                    "aws",
                    "ec2",
                    "delete-network-interface",
                    "--network-interface-id",
                    &h.eni_id
                ]))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if !replace.is_empty() {
        hint.push_str(&format!(
            " On {} the controller's VLAN ids would run out first (capacity plus forgotten ENIs above {VLAN_IDS}, and deleting keeps their VLAN ids taken until the trunk is set up again): cordon, drain and replace the node.",
            replace.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    hints.push(hint);
}

/// Forgotten ENIs whose delete gives the node a usable slot back, and the nodes where
/// it would not: each deleted ENI's VLAN id stays taken in the controller's memory, so
/// a node whose capacity plus those ids passes the 120 VLAN ids runs out of ids first.
fn split_by_vlan_room<'a>(
    snapshot: &Snapshot,
    forgotten: &[&'a Holder],
) -> (Vec<&'a Holder>, BTreeSet<String>) {
    let mut per_node: BTreeMap<&str, u32> = BTreeMap::new();
    for holder in forgotten {
        *per_node.entry(holder.node.as_str()).or_default() += 1;
    }
    let replace: BTreeSet<String> = snapshot
        .nodes
        .iter()
        .filter(|n| {
            let held = per_node.get(n.name.as_str()).copied().unwrap_or(0);
            held > 0 && n.capacity.unwrap_or(0).saturating_add(held) > VLAN_IDS
        })
        .map(|n| n.name.clone())
        .collect();
    let deletable = forgotten
        .iter()
        .copied()
        .filter(|h| !replace.contains(&h.node))
        .collect();
    (deletable, replace)
}

fn releasing(snapshot: &Snapshot, hints: &mut Vec<String>) {
    let held = |state: EniState, last_held: bool, known: bool| {
        snapshot
            .holders
            .iter()
            .filter(move |h| {
                h.state == state && h.pod.is_some() == last_held && h.since.is_some() == known
            })
            .map(|h| &**h)
            .collect::<Vec<_>>()
    };
    let completing = held(EniState::CompletedPod, true, true);
    if !completing.is_empty() {
        hints.push(format!(
            "{} that completed moments ago{}: the controller releases such ENIs after its cool-down (branch-eni-cooldown in kube-system/amazon-vpc-cni, 60 s by default) plus up to 30 s; until then they take slots the scheduler counts as free. Nothing to do unless they turn leaked.",
            count(completing.len(), "branch ENI is still held by a pod", "branch ENIs are still held by pods"),
            owners(&completing)
        ));
    }
    let undated = held(EniState::CompletedPod, true, false);
    if !undated.is_empty() {
        hints.push(format!(
            "{} whose status records no completion time{} (evicted, or killed by its deadline before a container finished): the controller released the ENI when it saw the pod finish, but one audit cannot tell when that was. Audit again in a few minutes: an ENI still attached then is past its cool-down. The exporter (serve) ages them from its first sighting.",
            count(undated.len(), "branch ENI is held by a finished pod", "branch ENIs are held by finished pods"),
            owners(&undated)
        ));
    }
    let orphaned = held(EniState::Orphaned, false, true).len();
    let orphaned_undated = held(EniState::Orphaned, false, false).len();
    if orphaned + orphaned_undated > 0 {
        hints.push(format!(
            "{} named by no pod: the controller frees them after its cool-down, or within ~20 min when it missed the pod's deletion (node reconciliation). If the same ENIs are still listed after that, they have leaked.",
            count(orphaned + orphaned_undated, "branch ENI is", "branch ENIs are")
        ));
    }
}

/// ` (last held by Job/a, Job/b)`, or nothing when no holder has an owner.
fn owners(holders: &[&Holder]) -> String {
    let owners: BTreeSet<String> = holders
        .iter()
        .filter_map(|h| h.pod.as_ref()?.owner.as_ref())
        .map(Owner::to_string)
        .collect();
    if owners.is_empty() {
        return String::new();
    }
    format!(
        " (last held by {})",
        owners.into_iter().collect::<Vec<_>>().join(", ")
    )
}

/// A command line to paste: every word quoted for the shell where it needs to be, so a
/// name from the cluster can never run as a command of its own.
pub(super) fn command(words: &[&str]) -> String {
    words
        .iter()
        .map(|word| shlex::try_quote(word).map_or_else(|_| "''".into(), |q| q.into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `3 branch ENIs are`, `1 branch ENI is`.
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
