//! One node's branch ENIs, each with its state and who holds it: what
//! `kubectl pod-eni node NODE` prints and what `why POD` shows of the pod's node.
//!
//! The join keeps only the ENIs held without a running pod (the holders) and counts the
//! rest. The ENIs in use are read back from the same facts the join used: the
//! associated branches EC2 has on the node (placed by the join's own rule,
//! [`Placement`]) that a live pod names, so the list always matches the counts.

use std::collections::HashMap;
use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;

use super::table::{cells, columns, dash, node_rows, printable};
use crate::accounting::{
    EniState, MissingPod, NodeReport, Placement, PodRef, Snapshot, WaitingPod,
};
use crate::model::{Association, EniRole, Inventory, PodInfo};

/// One associated branch ENI of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEni {
    pub eni_id: String,
    pub state: EniState,
    /// The running pod that uses it, or the completed pod that last did.
    pub pod: Option<PodRef>,
    /// For a holder: when its release began, when known.
    pub since: Option<Timestamp>,
}

/// A node's figures, its branch ENIs, and its pods that wait or lost their ENI.
#[derive(Debug, Clone)]
pub struct NodeEnis<'a> {
    pub report: &'a NodeReport,
    pub enis: Vec<NodeEni>,
    pub waiting: Vec<&'a WaitingPod>,
    pub missing: Vec<&'a MissingPod>,
}

/// The node named `name`, if it takes part in security groups for pods; `pods` and
/// `inventory` are what `snapshot` was joined from.
pub fn node_enis<'a>(
    snapshot: &'a Snapshot,
    pods: &[PodInfo],
    inventory: &Inventory,
    name: &str,
) -> Option<NodeEnis<'a>> {
    let report = snapshot.nodes.iter().find(|n| n.name == name)?;
    let placement = Placement::of(snapshot);
    // The node's associated branches, each once (EC2 may list one twice).
    let mut on_node: HashMap<&str, Option<&PodInfo>> = inventory
        .enis
        .iter()
        .filter(|e| e.role() == EniRole::Branch && e.association() == Association::Associated)
        .filter(|e| placement.node_of(e) == Ok(name))
        .map(|e| (e.id.as_str(), None))
        .collect();
    // Their live claimers; the first by name, as the join picks one.
    for pod in pods.iter().filter(|p| !p.phase.is_terminal()) {
        for eni in pod.annotation.eni_ids() {
            if let Some(claimer) = on_node.get_mut(eni.as_str())
                && claimer.is_none_or(|other| pod.key() < other.key())
            {
                *claimer = Some(pod);
            }
        }
    }
    let mut enis: Vec<NodeEni> = on_node
        .into_iter()
        .filter_map(|(eni_id, claimer)| {
            Some(NodeEni {
                eni_id: eni_id.to_owned(),
                state: EniState::InUse,
                pod: Some(PodRef::of(claimer?)),
                since: None,
            })
        })
        .collect();
    enis.extend(
        snapshot
            .holders
            .iter()
            .filter(|h| h.node == name)
            .map(|h| NodeEni {
                eni_id: h.eni_id.clone(),
                state: h.state,
                pod: h.pod.clone(),
                since: h.since,
            }),
    );
    enis.sort_by(|a, b| (a.state, &a.eni_id).cmp(&(b.state, &b.eni_id)));
    Some(NodeEnis {
        report,
        enis,
        waiting: snapshot
            .waiting_pods
            .iter()
            .filter(|w| w.node == name)
            .collect(),
        missing: snapshot
            .missing_pods
            .iter()
            .filter(|m| m.node == name)
            .collect(),
    })
}

/// The node's row as the audit prints it, then one row per branch ENI with its holder
/// and owner; `wide` adds why the pod failed.
pub fn render_node_table(node: &NodeEnis, wide: bool) -> String {
    let mut out = columns(node_rows([node.report]));
    if node.enis.is_empty() {
        out.push_str("\nNo branch ENI is attached to this node.\n");
    } else {
        out.push('\n');
        out.push_str(&eni_table(&node.enis, wide));
    }
    if !node.waiting.is_empty() {
        out.push_str("\nPods waiting for a branch ENI here:\n");
        for pod in &node.waiting {
            let since = pod.since.map_or_else(dash, |t| t.to_string());
            let _ = writeln!(
                out,
                "  {} (needs {}, since {since})",
                printable(&pod.pod_name().to_string()),
                pod.enis_needed
            );
        }
    }
    if !node.missing.is_empty() {
        out.push_str("\nRunning pods here whose branch ENI no longer exists in EC2:\n");
        for pod in &node.missing {
            let line = format!("{} ({})", pod.pod_name(), pod.eni_ids.join(", "));
            let _ = writeln!(out, "  {}", printable(&line));
        }
    }
    out
}

/// The ENI rows alone, as `node` and `why` print them; `wide` adds why each pod failed.
pub(super) fn eni_table(enis: &[NodeEni], wide: bool) -> String {
    let mut header = cells(["ENI", "STATE", "SINCE", "POD", "OWNER"]);
    if wide {
        header.push("REASON".to_owned());
    }
    let mut rows = vec![header];
    for eni in enis {
        let pod = eni.pod.as_ref();
        let mut row = vec![
            eni.eni_id.clone(),
            eni.state.as_str().to_owned(),
            match (eni.state, eni.since) {
                (EniState::InUse, _) => dash(),
                (_, Some(since)) => since.to_string(),
                (_, None) => "unknown".to_owned(),
            },
            pod.map_or_else(dash, |p| p.pod_name().to_string()),
            pod.and_then(|p| p.owner.as_ref())
                .map_or_else(dash, ToString::to_string),
        ];
        if wide {
            row.push(pod.and_then(|p| p.reason.clone()).unwrap_or_else(dash));
        }
        rows.push(row);
    }
    columns(rows)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NodeJson<'a> {
    node: &'a str,
    instance_type: Option<&'a str>,
    capacity: Option<u32>,
    requested: u32,
    attached: u32,
    remaining: Option<u32>,
    full: bool,
    branch_enis: Vec<EniJson<'a>>,
    waiting_pods: Vec<String>,
    missing_pods: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EniJson<'a> {
    eni_id: &'a str,
    state: &'static str,
    since: Option<String>,
    pod: Option<String>,
    owner: Option<String>,
    reason: Option<&'a str>,
}

impl<'a> NodeJson<'a> {
    pub(super) fn of(node: &'a NodeEnis) -> Self {
        let report = node.report;
        NodeJson {
            node: &report.name,
            instance_type: report.instance_type.as_deref(),
            capacity: report.capacity,
            requested: report.requested,
            attached: report.attached(),
            remaining: report.remaining,
            full: report.is_full(),
            branch_enis: node
                .enis
                .iter()
                .map(|eni| EniJson {
                    eni_id: &eni.eni_id,
                    state: eni.state.as_str(),
                    since: eni.since.map(|t| t.to_string()),
                    pod: eni.pod.as_ref().map(|p| p.pod_name().to_string()),
                    owner: eni
                        .pod
                        .as_ref()
                        .and_then(|p| p.owner.as_ref())
                        .map(ToString::to_string),
                    reason: eni.pod.as_ref().and_then(|p| p.reason.as_deref()),
                })
                .collect(),
            waiting_pods: node
                .waiting
                .iter()
                .map(|p| p.pod_name().to_string())
                .collect(),
            missing_pods: node
                .missing
                .iter()
                .map(|p| p.pod_name().to_string())
                .collect(),
        }
    }
}

pub fn render_node_json(node: &NodeEnis) -> String {
    let mut text = serde_json::to_string_pretty(&NodeJson::of(node)).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::incident;

    /// Every node of the join lists exactly as many ENIs in each state as the join
    /// counts, each ENI in use with its pod.
    fn lists_match_the_join(loaded: &crate::snapshot_dir::Loaded) {
        let snapshot = loaded.join(&crate::accounting::Settings::default());
        for report in &snapshot.nodes {
            let view = node_enis(&snapshot, &loaded.pods, &loaded.inventory, &report.name).unwrap();
            for state in EniState::ALL {
                let listed = view.enis.iter().filter(|e| e.state == state).count();
                assert_eq!(
                    listed as u32,
                    report.branch_enis.get(state),
                    "{} {state:?}: {:?}",
                    report.name,
                    view.enis
                );
            }
            let in_use_without_pod = view
                .enis
                .iter()
                .any(|e| e.state == EniState::InUse && e.pod.is_none());
            assert!(!in_use_without_pod, "an ENI in use names its pod");
        }
        assert!(node_enis(&snapshot, &loaded.pods, &loaded.inventory, "no-such-node").is_none());
    }

    #[test]
    fn every_node_lists_as_many_enis_in_each_state_as_the_join_counts() {
        let (mut loaded, _) = incident();
        lists_match_the_join(&loaded);
        // A running pod on the healthy node that names an ENI EC2 has on the full
        // node's trunk: the ENI is in use there, not on the pod's node, whose own ENI
        // is now named by no pod.
        let full = loaded
            .pods
            .iter()
            .find(|p| p.name == "checkout-api-7d9f8b6c5d-4kx9z")
            .unwrap()
            .annotation
            .clone();
        let healthy = loaded
            .pods
            .iter_mut()
            .find(|p| p.name == "catalog-search-6b7c8d9f5-a1b2c")
            .unwrap();
        healthy.annotation = full;
        lists_match_the_join(&loaded);
        // A running pod whose ENI EC2 no longer has: missing, listed on no node.
        let gone = loaded
            .pods
            .iter()
            .find(|p| p.name == "orders-db-proxy-0")
            .unwrap();
        let gone = gone.annotation.eni_ids()[0].clone();
        loaded.inventory.enis.retain(|e| e.id != gone);
        lists_match_the_join(&loaded);
    }

    #[test]
    fn wide_adds_why_the_pod_failed() {
        let (loaded, snapshot) = incident();
        let view = node_enis(
            &snapshot,
            &loaded.pods,
            &loaded.inventory,
            "ip-10-0-2-20.eu-west-1.compute.internal",
        )
        .unwrap();
        let narrow = render_node_table(&view, false);
        let wide = render_node_table(&view, true);
        assert!(narrow.contains("OWNER") && !narrow.contains("REASON") && wide.contains("REASON"));
        let evicted = wide
            .lines()
            .find(|l| l.contains("catalog-search-6b7c8d9f5-n9o0p"))
            .unwrap();
        assert!(
            evicted.contains("completed_pod") && evicted.contains("Evicted"),
            "{evicted}"
        );
        let json: serde_json::Value = serde_json::from_str(&render_node_json(&view)).unwrap();
        assert_eq!(
            json["branchEnis"].as_array().unwrap().len() as u32,
            view.report.attached()
        );
    }
}
