//! `audit --output table`: what `kubectl describe node` should have said, then who
//! holds the ENIs, who waits, the subnets, and a one-line hint per problem.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;

use tabwriter::TabWriter;

use crate::accounting::{CapacitySource, EniState, NodeReport, Snapshot};

pub fn render_table(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    if snapshot.nodes.is_empty() {
        out.push_str("No node uses security groups for pods (no pod-eni capacity, trunk ENI or SGP pod found).\n");
    } else {
        out.push_str(&summary(snapshot));
        out.push_str(&columns(node_rows(&snapshot.nodes)));
        if snapshot
            .nodes
            .iter()
            .any(|n| n.capacity_source == Some(CapacitySource::LimitsTable))
        {
            out.push_str("* capacity from the instance type table: the node does not advertise vpc.amazonaws.com/pod-eni\n");
        }
    }
    if !snapshot.holders.is_empty() {
        out.push_str("\nBranch ENIs held without a running pod:\n");
        let mut rows = vec![cells(["ENI", "NODE", "STATE", "POD", "OWNER"])];
        for holder in &snapshot.holders {
            let pod = holder.pod.as_ref();
            rows.push(vec![
                holder.eni_id.clone(),
                holder.node.clone(),
                holder.state.as_str().to_owned(),
                pod.map_or_else(dash, |p| format!("{}/{}", p.namespace, p.name)),
                pod.and_then(|p| p.owner.as_ref())
                    .map_or_else(dash, |o| format!("{}/{}", o.kind, o.name)),
            ]);
        }
        out.push_str(&columns(rows));
    }
    if !snapshot.waiting_pods.is_empty() {
        out.push_str("\nPods waiting for a branch ENI:\n");
        let mut rows = vec![cells(["POD", "NODE", "WAITING SINCE"])];
        for pod in &snapshot.waiting_pods {
            rows.push(vec![
                format!("{}/{}", pod.namespace, pod.name),
                pod.node.clone(),
                pod.since.map_or_else(dash, |t| t.to_string()),
            ]);
        }
        out.push_str(&columns(rows));
    }
    if !snapshot.missing_pods.is_empty() {
        out.push_str("\nRunning pods whose branch ENI no longer exists:\n");
        let mut rows = vec![cells(["POD", "NODE", "ENI"])];
        for pod in &snapshot.missing_pods {
            rows.push(vec![
                format!("{}/{}", pod.namespace, pod.name),
                pod.node.clone(),
                pod.eni_ids.join(","),
            ]);
        }
        out.push_str(&columns(rows));
    }
    if !snapshot.subnets.is_empty() {
        out.push_str("\nSubnets:\n");
        let mut rows = vec![cells([
            "SUBNET",
            "NAME",
            "ZONE",
            "CIDR",
            "FREE IPS",
            "USABLE",
            "BRANCH ENIS",
            "DETACHED",
        ])];
        for s in &snapshot.subnets {
            rows.push(vec![
                s.subnet.id.clone(),
                s.subnet.name.clone().unwrap_or_else(dash),
                s.subnet.availability_zone.clone().unwrap_or_else(dash),
                s.subnet.cidr_block.clone().unwrap_or_else(dash),
                s.subnet.available_ip_addresses.to_string(),
                s.ip_addresses.map_or_else(dash, |n| n.to_string()),
                s.associated_branch_enis.to_string(),
                s.detached_branch_enis.to_string(),
            ]);
        }
        out.push_str(&columns(rows));
    }
    if !snapshot.warnings.is_empty() {
        let _ = writeln!(out, "\nInput warnings ({}):", snapshot.warnings.len());
        for warning in &snapshot.warnings {
            let _ = writeln!(out, "  {warning}");
        }
    }
    out.push_str("\nWhat to do:\n");
    for hint in hints(snapshot) {
        let _ = writeln!(out, "- {hint}");
    }
    out
}

fn summary(snapshot: &Snapshot) -> String {
    let full = snapshot
        .nodes
        .iter()
        .filter(|n| n.remaining == Some(0))
        .count();
    let capacity: u32 = snapshot.nodes.iter().filter_map(|n| n.capacity).sum();
    let remaining: u32 = snapshot.nodes.iter().filter_map(|n| n.remaining).sum();
    format!(
        "{} nodes use security groups for pods, {full} with no branch ENI left; {remaining} of {capacity} branch ENI slots free.\n\n",
        snapshot.nodes.len()
    )
}

fn node_rows(nodes: &[NodeReport]) -> Vec<Vec<String>> {
    let mut rows = vec![cells([
        "NODE",
        "INSTANCE TYPE",
        "CAPACITY",
        "REQUESTED",
        "ATTACHED",
        "IN USE",
        "COMPLETED",
        "ORPHANED",
        "LEAKED",
        "WAITING",
        "MISSING",
        "REMAINING",
    ])];
    for node in nodes {
        let capacity = match (node.capacity, node.capacity_source) {
            (Some(c), Some(CapacitySource::LimitsTable)) => format!("{c}*"),
            (Some(c), _) => c.to_string(),
            (None, _) => "?".to_owned(),
        };
        let states = &node.branch_enis;
        rows.push(vec![
            node.name.clone(),
            node.instance_type.clone().unwrap_or_else(dash),
            capacity,
            node.requested.to_string(),
            node.attached().to_string(),
            states.in_use.to_string(),
            states.completed_pod.to_string(),
            states.orphaned.to_string(),
            states.leaked.to_string(),
            node.waiting.to_string(),
            node.missing.to_string(),
            match node.remaining {
                Some(0) => "0 FULL".to_owned(),
                Some(n) => n.to_string(),
                None => "?".to_owned(),
            },
        ]);
    }
    rows
}

/// One hint per kind of problem found, most urgent first.
fn hints(snapshot: &Snapshot) -> Vec<String> {
    let mut hints = Vec::new();
    let held = |state: EniState| snapshot.holders.iter().filter(move |h| h.state == state);

    for node in snapshot.nodes.iter().filter(|n| n.remaining == Some(0)) {
        if let Some(capacity) = node.capacity.filter(|c| node.requested < *c) {
            hints.push(format!(
                "{} is full although the scheduler counts {} of {capacity}: it does not see ENIs held by completed pods, in cool-down or leaked. Cordon it (kubectl cordon {}) until they are freed.",
                node.name, node.requested, node.name
            ));
        }
    }
    let completed: Vec<_> = held(EniState::CompletedPod).collect();
    if !completed.is_empty() {
        let owners: BTreeSet<String> = completed
            .iter()
            .filter_map(|h| h.pod.as_ref()?.owner.as_ref())
            .map(|o| format!("{}/{}", o.kind, o.name))
            .collect();
        let owners = if owners.is_empty() {
            String::new()
        } else {
            format!(
                " (owners: {})",
                owners.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        let mut by_namespace: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for pod in completed.iter().filter_map(|h| h.pod.as_ref()) {
            by_namespace
                .entry(&pod.namespace)
                .or_default()
                .push(&pod.name);
        }
        let commands: Vec<String> = by_namespace
            .iter()
            .map(|(namespace, pods)| {
                format!("kubectl delete pod -n {namespace} {}", pods.join(" "))
            })
            .collect();
        hints.push(format!(
            "{} held by completed pods{owners}: delete those pods ({}) or set ttlSecondsAfterFinished on their Jobs, and have CI/CD delete Jobs after success.",
            count(completed.len(), "branch ENI is", "branch ENIs are"),
            commands.join("; ")
        ));
    }
    let leaked = held(EniState::Leaked).count();
    if leaked > 0 {
        hints.push(format!(
            "{} named by no pod for longer than the leak grace: the controller lost track. Confirm with aws ec2 describe-network-interfaces --network-interface-ids ENI, then delete with aws ec2 delete-network-interface --network-interface-id ENI.",
            count(leaked, "branch ENI has been", "branch ENIs have been")
        ));
    }
    let orphaned = held(EniState::Orphaned).count();
    if orphaned > 0 {
        hints.push(format!(
            "{} named by no pod: the controller normally frees them after its cool-down (branch-eni-cooldown in kube-system/amazon-vpc-cni, 60 s by default). If the same ENIs are still listed a few minutes from now, they have leaked.",
            count(orphaned, "branch ENI is", "branch ENIs are")
        ));
    }
    if !snapshot.waiting_pods.is_empty() {
        hints.push(format!(
            "{} for a branch ENI: it stays in ContainerCreating until a slot on its node is freed; delete it once the node is cordoned so it is rescheduled elsewhere.",
            count(snapshot.waiting_pods.len(), "pod waits", "pods wait")
        ));
    }
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

/// `3 branch ENIs are`, `1 branch ENI is`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn cells<const N: usize>(values: [&str; N]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn dash() -> String {
    "-".to_owned()
}

/// Aligns rows into columns, as kubectl does.
fn columns(rows: Vec<Vec<String>>) -> String {
    let mut writer = TabWriter::new(Vec::new()).padding(3);
    for row in rows {
        let _ = writeln!(writer, "{}", row.join("\t"));
    }
    writer
        .into_inner()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}
