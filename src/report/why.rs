//! `kubectl pod-eni why POD`: one pod's answer in plain words. Whether it waits for a
//! branch ENI, no node can take it, it lost its ENI, or it is fine; its node's figures
//! and who holds the node's ENIs; and the remedies the audit gives for that node.

use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;

use super::node_enis::{NodeEni, NodeEnis, NodeJson, eni_table, node_enis};
use super::remedies::{command, hints};
use super::table::printable;
use super::text::age;
use crate::accounting::{EniState, Observed, PodRef, Snapshot};
use crate::model::{Inventory, PodInfo, PodPhase};

/// What is going on with the pod, as far as branch ENIs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Scheduled, and its branch ENI was never written: `ContainerCreating`.
    Waiting {
        since: Option<Timestamp>,
        enis_needed: u32,
    },
    /// The scheduler places it nowhere, among other reasons for want of pod-eni.
    Unschedulable {
        since: Option<Timestamp>,
        enis_needed: u32,
        message: String,
    },
    /// Running, but EC2 no longer has the ENI its annotation names.
    EniMissing { eni_ids: Vec<String> },
    /// Finished: the ENIs it still holds, as the join judges them.
    Finished { holding: Vec<NodeEni> },
    /// Not requesting `vpc.amazonaws.com/pod-eni`: security groups for pods do not apply.
    NoBranchEni,
    /// Not scheduled yet, and not for want of a pod-eni slot as far as the scheduler says.
    NotScheduled,
    /// Has what it asked for (the ENIs named, none of them gone).
    Fine { eni_ids: Vec<String> },
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Waiting { .. } => "waiting",
            Verdict::Unschedulable { .. } => "unschedulable",
            Verdict::EniMissing { .. } => "eni_missing",
            Verdict::Finished { .. } => "finished",
            Verdict::NoBranchEni => "no_branch_eni",
            Verdict::NotScheduled => "not_scheduled",
            Verdict::Fine { .. } => "fine",
        }
    }
}

/// The answer for one pod.
#[derive(Debug, Clone)]
pub struct Why<'a> {
    pub pod: PodRef,
    pub phase: PodPhase,
    pub node_name: Option<String>,
    pub verdict: Verdict,
    /// Its node, when the node takes part in security groups for pods.
    pub node: Option<NodeEnis<'a>>,
    /// The audit's remedies for this pod's node (and for this pod if unschedulable).
    pub todo: Vec<String>,
    pub observed: Observed,
}

/// The answer for `pod`, whose node and neighbours are looked up in `snapshot` and in
/// the `pods` and `inventory` it was joined from.
pub fn why<'a>(
    snapshot: &'a Snapshot,
    pods: &[PodInfo],
    inventory: &Inventory,
    pod: &PodInfo,
) -> Why<'a> {
    let node_name = pod.node_name.as_deref().map(str::to_owned);
    let node = node_name
        .as_deref()
        .and_then(|name| node_enis(snapshot, pods, inventory, name));
    let verdict = verdict(snapshot, pod, node.as_ref());
    let mut todo = match verdict {
        Verdict::NoBranchEni => vec![
            "Nothing to do with branch ENIs: the pod does not request vpc.amazonaws.com/pod-eni, so no SecurityGroupPolicy selected it when it was created (the controller's webhook adds the request). Add or fix a SecurityGroupPolicy for its labels and recreate it if it should have its own security groups.".to_owned(),
        ],
        _ => hints(&scoped(snapshot, pod)),
    };
    todo.extend(recreate(pod, &verdict));
    Why {
        pod: PodRef::of(pod),
        phase: pod.phase,
        node_name,
        verdict,
        node,
        todo,
        observed: snapshot.observed,
    }
}

/// For a pod stuck on its node or without its ENI: the exact command that gets it a
/// new chance (its controller recreates it, on a node with room once its node is
/// cordoned); a bare pod is gone for good once deleted, which is said.
fn recreate(pod: &PodInfo, verdict: &Verdict) -> Option<String> {
    let why = match verdict {
        Verdict::Waiting { .. } => "Once its node is cordoned, move this pod",
        Verdict::EniMissing { .. } => "Give this pod a new branch ENI",
        _ => return None,
    };
    let delete = command(&["kubectl", "delete", "pod", "-n", &pod.namespace, &pod.name]);
    Some(match &pod.owner {
        Some(owner) => format!("{why}: {delete} ({owner} creates it anew)."),
        None => format!(
            "{why}: {delete}, then create it again: no controller owns it, so nothing recreates it."
        ),
    })
}

fn verdict(snapshot: &Snapshot, pod: &PodInfo, node: Option<&NodeEnis>) -> Verdict {
    let same =
        |namespace: &str, name: &str| namespace == pod.namespace.as_str() && name == pod.name;
    if !pod.is_relevant() {
        return Verdict::NoBranchEni;
    }
    if pod.phase.is_terminal() {
        let holding = node
            .map(|n| {
                n.enis
                    .iter()
                    .filter(|e| e.state != EniState::InUse)
                    .filter(|e| e.pod.as_ref().is_some_and(|p| same(&p.namespace, &p.name)))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        return Verdict::Finished { holding };
    }
    if let Some(stuck) = snapshot
        .unschedulable_pods
        .iter()
        .find(|p| same(&p.namespace, &p.name))
    {
        return Verdict::Unschedulable {
            since: stuck.since,
            enis_needed: stuck.enis_needed,
            message: stuck.message.clone(),
        };
    }
    if let Some(waiting) = snapshot
        .waiting_pods
        .iter()
        .find(|p| same(&p.namespace, &p.name))
    {
        return Verdict::Waiting {
            since: waiting.since,
            enis_needed: waiting.enis_needed,
        };
    }
    if let Some(missing) = snapshot
        .missing_pods
        .iter()
        .find(|p| same(&p.namespace, &p.name))
    {
        return Verdict::EniMissing {
            eni_ids: missing.eni_ids.clone(),
        };
    }
    if pod.node_name.is_none() {
        return Verdict::NotScheduled;
    }
    Verdict::Fine {
        eni_ids: pod
            .annotation
            .eni_ids()
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

/// The snapshot cut down to the pod's node (and the pod itself when no node can take
/// it), so the remedies are the audit's, for this pod's part of the cluster only.
fn scoped(snapshot: &Snapshot, pod: &PodInfo) -> Snapshot {
    let node = pod.node_name.as_deref().unwrap_or_default();
    Snapshot {
        nodes: snapshot
            .nodes
            .iter()
            .filter(|n| n.name == node)
            .cloned()
            .collect(),
        holders: snapshot
            .holders
            .iter()
            .filter(|h| h.node == node)
            .cloned()
            .collect(),
        waiting_pods: snapshot
            .waiting_pods
            .iter()
            .filter(|p| p.node == node)
            .cloned()
            .collect(),
        missing_pods: snapshot
            .missing_pods
            .iter()
            .filter(|p| p.node == node)
            .cloned()
            .collect(),
        unschedulable_pods: snapshot
            .unschedulable_pods
            .iter()
            .filter(|p| p.namespace == pod.namespace.as_str() && p.name == pod.name)
            .cloned()
            .collect(),
        observed: snapshot.observed,
        ..Snapshot::default()
    }
}

/// The answer in words; `wide` lists every branch ENI of the node, in use included,
/// and why each holder's pod failed.
pub fn render_why_text(why: &Why, wide: bool) -> String {
    let mut sentence = format!("Pod {}", why.pod.pod_name());
    if let Some(owner) = &why.pod.owner {
        let _ = write!(sentence, " ({owner})");
    }
    let node = why.node_name.as_deref().unwrap_or("no node");
    let ago = |since: Option<Timestamp>| {
        since.map_or_else(String::new, |t| {
            format!(
                " since {t} ({} ago)",
                age(why.observed.at.duration_since(t))
            )
        })
    };
    let _ = match &why.verdict {
        Verdict::Waiting { since, enis_needed } => write!(
            sentence,
            " is waiting for {} on {node}{}: it stays in ContainerCreating (\"failed to assign an IP address to container\") until a slot there is freed.",
            enis(*enis_needed),
            ago(*since)
        ),
        Verdict::Unschedulable {
            since,
            enis_needed,
            message,
        } => write!(
            sentence,
            " asks for {} and no node can take it{}: the scheduler says \"{message}\".",
            enis(*enis_needed),
            ago(*since)
        ),
        Verdict::EniMissing { eni_ids } => write!(
            sentence,
            " runs on {node}, but EC2 no longer has its branch ENI {}: its traffic has no security groups.",
            eni_ids.join(", ")
        ),
        Verdict::Finished { holding } if holding.is_empty() => write!(
            sentence,
            " has finished ({:?}) and holds no branch ENI.",
            why.phase
        ),
        Verdict::Finished { holding } => write!(
            sentence,
            " has finished ({:?}) but still holds {}: {}.",
            why.phase,
            enis(holding.len() as u32),
            holding
                .iter()
                .map(|e| format!("{} ({})", e.eni_id, e.state.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Verdict::NoBranchEni => write!(
            sentence,
            " on {node} does not use security groups for pods: it requests no vpc.amazonaws.com/pod-eni."
        ),
        Verdict::NotScheduled => write!(
            sentence,
            " is not scheduled yet, and the scheduler does not name pod-eni as the reason."
        ),
        Verdict::Fine { eni_ids } if eni_ids.is_empty() => write!(
            sentence,
            " on {node} is {:?} and waits for no branch ENI.",
            why.phase
        ),
        Verdict::Fine { eni_ids } => write!(
            sentence,
            " on {node} has its branch ENI ({}); nothing is wrong with it.",
            eni_ids.join(", ")
        ),
    };
    // Cluster data (names, the scheduler's message) stays inert text.
    let mut out = format!("{}\n", printable(&sentence));
    if let Some(node) = &why.node {
        out.push('\n');
        out.push_str(&printable(&node_sentence(node)));
        out.push('\n');
        let shown: Vec<NodeEni> = node
            .enis
            .iter()
            .filter(|e| wide || e.state != EniState::InUse)
            .cloned()
            .collect();
        if !shown.is_empty() {
            out.push_str(if wide {
                "\nIts branch ENIs:\n"
            } else {
                "\nIts branch ENIs held without a running pod:\n"
            });
            out.push_str(&eni_table(&shown, wide));
        }
    }
    out.push_str("\nWhat to do:\n");
    for hint in &why.todo {
        let _ = writeln!(out, "- {}", printable(hint));
    }
    let _ = writeln!(
        out,
        "\nAges as of {} ({}).",
        why.observed.at,
        why.observed.from.describe()
    );
    out
}

/// `ip-… (m5a.xlarge): 18 of 18 branch ENI slots attached, 0 left (full); the scheduler counts 14.`
fn node_sentence(node: &NodeEnis) -> String {
    let report = node.report;
    let capacity = report
        .capacity
        .map_or_else(|| "an unknown number of".to_owned(), |c| c.to_string());
    let remaining = match report.remaining {
        Some(0) if report.is_full() => "none left: the node is full".to_owned(),
        Some(n) => format!("{n} left"),
        None => "room unknown".to_owned(),
    };
    let counts = &report.branch_enis;
    format!(
        "Its node {} ({}): {} of {capacity} branch ENI slots attached, {remaining}; the scheduler counts {} requested. In use {}, held by completed pods {}, orphaned {}, leaked {}, pods waiting {}.",
        report.name,
        report.instance_type.as_deref().unwrap_or("unknown type"),
        report.attached(),
        report.requested,
        counts.in_use,
        counts.completed_pod,
        counts.orphaned,
        counts.leaked,
        report.waiting,
    )
}

fn enis(n: u32) -> String {
    if n == 1 {
        "1 branch ENI".to_owned()
    } else {
        format!("{n} branch ENIs")
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WhyJson<'a> {
    namespace: &'a str,
    pod: &'a str,
    owner: Option<String>,
    phase: String,
    node: Option<&'a str>,
    verdict: &'static str,
    since: Option<String>,
    enis_needed: Option<u32>,
    scheduler_message: Option<&'a str>,
    eni_ids: Vec<&'a str>,
    node_detail: Option<NodeJson<'a>>,
    todo: &'a [String],
    observed_at: String,
}

pub fn render_why_json(why: &Why) -> String {
    let (since, enis_needed, message, eni_ids) = match &why.verdict {
        Verdict::Waiting { since, enis_needed } => (*since, Some(*enis_needed), None, vec![]),
        Verdict::Unschedulable {
            since,
            enis_needed,
            message,
        } => (*since, Some(*enis_needed), Some(message.as_str()), vec![]),
        Verdict::EniMissing { eni_ids } | Verdict::Fine { eni_ids } => (
            None,
            None,
            None,
            eni_ids.iter().map(String::as_str).collect(),
        ),
        Verdict::Finished { holding } => (
            None,
            None,
            None,
            holding.iter().map(|e| e.eni_id.as_str()).collect(),
        ),
        Verdict::NoBranchEni | Verdict::NotScheduled => (None, None, None, vec![]),
    };
    let json = WhyJson {
        namespace: &why.pod.namespace,
        pod: &why.pod.name,
        owner: why.pod.owner.as_ref().map(ToString::to_string),
        phase: format!("{:?}", why.phase),
        node: why.node_name.as_deref(),
        verdict: why.verdict.as_str(),
        since: since.map(|t| t.to_string()),
        enis_needed,
        scheduler_message: message,
        eni_ids,
        node_detail: why.node.as_ref().map(NodeJson::of),
        todo: &why.todo,
        observed_at: why.observed.at.to_string(),
    };
    let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::incident;

    const FULL: &str = "ip-10-0-1-10.eu-west-1.compute.internal";

    fn answer(namespace: &str, name: &str) -> (Verdict, String, Vec<String>) {
        let (loaded, snapshot) = incident();
        let pod = loaded
            .pods
            .iter()
            .find(|p| p.namespace.as_str() == namespace && p.name == name)
            .unwrap();
        let why = why(&snapshot, &loaded.pods, &loaded.inventory, pod);
        (why.verdict.clone(), render_why_text(&why, false), why.todo)
    }

    #[test]
    fn the_waiting_pod_learns_its_node_is_full_who_holds_it_and_what_to_run() {
        let (verdict, text, todo) = answer("shop", "checkout-api-7d9f8b6c5d-q8r2t");
        assert!(
            matches!(verdict, Verdict::Waiting { enis_needed: 1, .. }),
            "{verdict:?}"
        );
        assert!(text.contains("the node is full"), "{text}");
        for job in ["db-migrate-28871040-91edd", "cache-warmup-28871224-k2j7d"] {
            assert!(text.contains(job), "{job} named as a holder:\n{text}");
        }
        let commands = todo.join("\n");
        assert!(
            commands.contains(&format!("kubectl cordon {FULL}")),
            "{commands}"
        );
        assert!(
            commands.contains("aws ec2 delete-network-interface"),
            "{commands}"
        );
        assert!(
            commands.contains("kubectl delete pod -n shop checkout-api-7d9f8b6c5d-q8r2t"),
            "{commands}"
        );
    }

    #[test]
    fn other_nodes_problems_stay_out_of_a_pods_answer() {
        // The healthy node's evicted pod holds an ENI of unknown age; a pod on the full
        // node is not told about it, and a pod there is not told to cordon the full one.
        let (_, _, full) = answer("shop", "checkout-api-7d9f8b6c5d-4kx9z");
        assert!(!full.join(" ").contains("catalog-search"), "{full:?}");
        let (verdict, _, healthy) = answer("catalog", "catalog-search-6b7c8d9f5-a1b2c");
        assert!(
            matches!(&verdict, Verdict::Fine { eni_ids } if eni_ids.len() == 1),
            "{verdict:?}"
        );
        assert!(!healthy.join(" ").contains("cordon"), "{healthy:?}");
    }

    #[test]
    fn a_finished_pod_is_told_which_of_its_enis_are_still_held() {
        let (verdict, text, _) = answer("catalog", "catalog-search-6b7c8d9f5-n9o0p");
        let Verdict::Finished { holding } = verdict else {
            panic!("finished expected: {text}");
        };
        assert_eq!(holding.len(), 1, "{text}");
        assert_eq!(holding[0].state, EniState::CompletedPod);
        let (verdict, _, _) = answer("shop", "db-migrate-28871040-91edd");
        assert!(
            matches!(&verdict, Verdict::Finished { holding } if holding[0].state == EniState::Leaked),
            "{verdict:?}"
        );
    }

    #[test]
    fn names_from_the_cluster_cannot_fake_lines_or_move_the_cursor() {
        let (mut loaded, _) = incident();
        let evil = "q8r2t\nPod shop/x is fine\u{1b}[2J";
        let pod = loaded
            .pods
            .iter_mut()
            .find(|p| p.name == "checkout-api-7d9f8b6c5d-q8r2t")
            .unwrap();
        pod.name = evil.to_owned();
        let pod = pod.clone();
        let snapshot = loaded.join(&crate::accounting::Settings::default());
        let text = render_why_text(&why(&snapshot, &loaded.pods, &loaded.inventory, &pod), true);
        assert!(!text.contains('\u{1b}'), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.starts_with("Pod ")).count(),
            1,
            "{text}"
        );
        assert!(text.contains("q8r2t\\u{a}Pod shop/x"), "{text}");
    }

    #[test]
    fn json_carries_the_verdict_and_the_nodes_enis() {
        let (loaded, snapshot) = incident();
        let pod = loaded
            .pods
            .iter()
            .find(|p| p.name == "checkout-api-7d9f8b6c5d-q8r2t")
            .unwrap();
        let json: serde_json::Value = serde_json::from_str(&render_why_json(&why(
            &snapshot,
            &loaded.pods,
            &loaded.inventory,
            pod,
        )))
        .unwrap();
        assert_eq!(json["verdict"], "waiting");
        assert_eq!(json["node"], FULL);
        assert_eq!(json["nodeDetail"]["full"], true);
        assert_eq!(
            json["nodeDetail"]["branchEnis"].as_array().unwrap().len(),
            18
        );
    }
}
