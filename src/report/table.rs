//! `audit --output table`: what `kubectl describe node` should have said, then who
//! holds the ENIs, who waits, the subnets, and a one-line hint per problem.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;

use tabwriter::TabWriter;

use super::remedies::{count, hints, unknown_age_note};
use crate::accounting::{
    CapacitySource, GroupHeadroom, Headroom, NodeReport, Snapshot, UnknownAge,
};
use crate::model::Owner;

/// Nodes with room listed by `--headroom`; the rest are counted.
const HEADROOM_NODES: usize = 20;

pub fn render_table(snapshot: &Snapshot, headroom: Option<&Headroom>) -> String {
    let observed = snapshot.observed;
    let mut out = String::new();
    if snapshot.nodes.is_empty() {
        out.push_str("No node uses security groups for pods (no pod-eni capacity, trunk ENI or SGP pod found).\n");
    } else {
        out.push_str(&summary(snapshot));
        let _ = writeln!(
            out,
            "Ages as of {} ({}).\n",
            observed.at,
            observed.from.describe()
        );
        out.push_str(&columns(node_rows(snapshot.nodes.iter().map(|n| &**n))));
        if snapshot
            .nodes
            .iter()
            .any(|n| n.capacity_source == Some(CapacitySource::LimitsTable))
        {
            out.push_str("* the node does not advertise vpc.amazonaws.com/pod-eni, so the scheduler places no security-group pod there; capacity is what its instance type could hold\n");
        }
    }
    if !snapshot.holders.is_empty() {
        out.push_str("\nBranch ENIs held without a running pod:\n");
        let mut rows = vec![cells(["ENI", "NODE", "STATE", "SINCE", "POD", "OWNER"])];
        let mut unknown = BTreeSet::new();
        for holder in &snapshot.holders {
            let pod = holder.pod.as_ref();
            unknown.extend(holder.unknown_age());
            rows.push(vec![
                holder.eni_id.clone(),
                holder.node.clone(),
                holder.state.as_str().to_owned(),
                holder
                    .since
                    .map_or_else(|| "unknown".to_owned(), |t| t.to_string()),
                pod.map_or_else(dash, |p| p.pod_name().to_string()),
                pod.and_then(|p| p.owner.as_ref())
                    .map_or_else(dash, Owner::to_string),
            ]);
        }
        out.push_str(&columns(rows));
        for reason in unknown {
            let whose = if reason == UnknownAge::NoCompletionTime {
                "with a pod"
            } else {
                "with no pod"
            };
            let _ = writeln!(out, "SINCE unknown {whose}: {}.", unknown_age_note(reason));
        }
    }
    if !snapshot.waiting_pods.is_empty() {
        out.push_str("\nPods waiting for a branch ENI:\n");
        let mut rows = vec![cells(["POD", "NODE", "ENIS", "WAITING SINCE"])];
        for pod in &snapshot.waiting_pods {
            rows.push(vec![
                pod.pod_name().to_string(),
                pod.node.clone(),
                pod.enis_needed.to_string(),
                pod.since.map_or_else(dash, |t| t.to_string()),
            ]);
        }
        out.push_str(&columns(rows));
    }
    if !snapshot.unschedulable_pods.is_empty() {
        out.push_str("\nPods no node can take for want of a branch ENI slot:\n");
        let mut rows = vec![cells([
            "POD",
            "ENIS",
            "UNSCHEDULABLE SINCE",
            "SCHEDULER SAYS",
        ])];
        for pod in &snapshot.unschedulable_pods {
            rows.push(vec![
                pod.pod_name().to_string(),
                pod.enis_needed.to_string(),
                pod.since.map_or_else(dash, |t| t.to_string()),
                pod.message.clone(),
            ]);
        }
        out.push_str(&columns(rows));
    }
    if !snapshot.missing_pods.is_empty() {
        out.push_str("\nRunning pods whose branch ENI no longer exists:\n");
        let mut rows = vec![cells(["POD", "NODE", "ENI"])];
        for pod in &snapshot.missing_pods {
            rows.push(vec![
                pod.pod_name().to_string(),
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
            let _ = writeln!(out, "  {}", printable(&warning.to_string()));
        }
    }
    if let Some(headroom) = headroom {
        out.push_str(&headroom_section(headroom));
    }
    out.push_str("\nWhat to do:\n");
    for hint in hints(snapshot) {
        let _ = writeln!(out, "- {}", printable(&hint));
    }
    out
}

fn headroom_section(headroom: &Headroom) -> String {
    let pods = count(
        headroom.pods as usize,
        "more security-group pod",
        "more security-group pods",
    );
    let mut out = format!("\nHeadroom for {pods}");
    if headroom.cordoned > 0 {
        let _ = write!(
            out,
            " ({} left out)",
            count(
                headroom.cordoned as usize,
                "cordoned node",
                "cordoned nodes"
            )
        );
    }
    out.push_str(":\n");
    for (title, groups) in [
        ("ZONE", &headroom.by_zone),
        ("NODE GROUP", &headroom.by_nodegroup),
    ] {
        let mut rows = vec![cells([title, "SLOTS LEFT", "NODES", "NODES WITH ROOM"])];
        rows.extend(groups.iter().map(|g: &GroupHeadroom| {
            vec![
                printable(g.name.as_deref().unwrap_or("-")).into_owned(),
                g.remaining.to_string(),
                g.nodes.to_string(),
                g.fitting.to_string(),
            ]
        }));
        out.push_str(&columns(rows));
    }
    if headroom.nodes.is_empty() {
        let _ = writeln!(out, "No schedulable node has room for {pods}.");
    } else {
        let listed: Vec<String> = headroom
            .nodes
            .iter()
            .take(HEADROOM_NODES)
            .map(|n| format!("{} ({})", printable(&n.name), n.remaining.unwrap_or(0)))
            .collect();
        let more = headroom.nodes.len().saturating_sub(HEADROOM_NODES);
        let _ = write!(out, "Nodes with room (slots left): {}", listed.join(", "));
        if more > 0 {
            let _ = write!(out, ", and {more} more");
        }
        out.push('\n');
    }
    out
}

/// The one-line verdict: how many nodes, how many full, slots free of slots.
pub(crate) fn summary(snapshot: &Snapshot) -> String {
    let full = snapshot.nodes.iter().filter(|n| n.is_full()).count();
    let advertising = || snapshot.nodes.iter().filter(|n| n.advertises_pod_eni());
    // Wider than a node's u32: absurd allocatable values must not overflow the total.
    let capacity: u64 = advertising()
        .filter_map(|n| n.capacity)
        .map(u64::from)
        .sum();
    let remaining: u64 = advertising()
        .filter_map(|n| n.remaining)
        .map(u64::from)
        .sum();
    format!(
        "{} nodes use security groups for pods, {full} with no branch ENI left; {remaining} of {capacity} branch ENI slots free.\n\n",
        snapshot.nodes.len()
    )
}

pub(super) fn node_rows<'a>(nodes: impl IntoIterator<Item = &'a NodeReport>) -> Vec<Vec<String>> {
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
                Some(0) if node.is_full() => "0 FULL".to_owned(),
                Some(n) => n.to_string(),
                None => "?".to_owned(),
            },
        ]);
    }
    rows
}

pub(super) fn cells<const N: usize>(values: [&str; N]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

pub(super) fn dash() -> String {
    "-".to_owned()
}

/// Cluster data (pod names, instance-type labels, `Name` tags) as inert text: control
/// characters (newlines, tabs, escape sequences) and bidirectional overrides are shown
/// as `\u{…}`, so no value can fake a row, shift a column or move the cursor.
pub(super) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.contains(unsafe_char) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if unsafe_char(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// Aligns rows into columns, as kubectl does.
pub(super) fn columns(rows: Vec<Vec<String>>) -> String {
    let mut writer = TabWriter::new(Vec::new()).padding(3);
    for row in rows {
        let row: Vec<_> = row.iter().map(|cell| printable(cell)).collect();
        let _ = writeln!(writer, "{}", row.join("\t"));
    }
    writer
        .into_inner()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::remedies::FULL_NODE_HINTS;
    use super::*;

    #[test]
    fn cluster_data_cannot_fake_rows_or_move_the_cursor() {
        let rows = vec![
            cells(["NODE", "TYPE"]),
            vec!["n1\nfake-node\t18".into(), "m5\u{1b}[2J\u{202e}x".into()],
        ];
        let text = columns(rows);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'));
        assert!(text.contains("n1\\u{a}fake-node\\u{9}18"), "{text}");
        assert_eq!(printable("plain ünïcode"), "plain ünïcode");
    }

    #[test]
    fn a_cluster_full_of_misjudged_nodes_names_ten_and_counts_the_rest() {
        let full = |i: usize| NodeReport {
            name: format!("n{i:02}"),
            instance_id: None,
            instance_type: None,
            zone: None,
            nodegroup: None,
            unschedulable: false,
            trunk_eni_id: None,
            capacity: Some(9),
            capacity_source: Some(CapacitySource::Allocatable),
            requested: 5,
            branch_enis: Default::default(),
            waiting: 1,
            missing: 0,
            remaining: Some(0),
        };
        let snapshot = Snapshot {
            nodes: (0..13).map(full).map(std::sync::Arc::new).collect(),
            ..Default::default()
        };
        let hints = hints(&snapshot);
        let named = hints
            .iter()
            .filter(|h| h.contains("is full although"))
            .count();
        assert_eq!(named, FULL_NODE_HINTS);
        assert!(
            hints.iter().any(|h| h.starts_with("3 more nodes are full")),
            "{hints:?}"
        );
    }
}
