//! "Where can N more security-group pods go?": the branch ENI slots left per zone and
//! per node group, and the nodes that could take N more right now. A cordoned node keeps
//! counting in the capacity figures but never here (nothing new lands on it); a node
//! that does not advertise `vpc.amazonaws.com/pod-eni` takes no security-group pod.

use std::collections::BTreeMap;

use super::{NodeReport, Snapshot};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headroom<'a> {
    /// The N asked about.
    pub pods: u32,
    pub by_zone: Vec<GroupHeadroom>,
    pub by_nodegroup: Vec<GroupHeadroom>,
    /// Schedulable nodes with at least N slots, most slots first.
    pub nodes: Vec<&'a NodeReport>,
    /// Cordoned nodes left out.
    pub cordoned: u32,
}

/// One zone or node group; `name` is `None` for nodes without the label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupHeadroom {
    pub name: Option<String>,
    /// Slots left on its schedulable nodes.
    pub remaining: u64,
    /// Its schedulable nodes that take security-group pods.
    pub nodes: u32,
    /// Of those, the ones with at least N slots.
    pub fitting: u32,
}

pub fn headroom(snapshot: &Snapshot, pods: u32) -> Headroom<'_> {
    let pods = pods.max(1);
    let mut cordoned = 0;
    let mut by_zone: BTreeMap<Option<&str>, GroupHeadroom> = BTreeMap::new();
    let mut by_nodegroup: BTreeMap<Option<&str>, GroupHeadroom> = BTreeMap::new();
    let mut nodes = Vec::new();
    for node in snapshot.nodes.iter().filter(|n| n.advertises_pod_eni()) {
        if node.unschedulable {
            cordoned += 1;
            continue;
        }
        let remaining = node.remaining.unwrap_or(0);
        let fits = remaining >= pods;
        for (groups, key) in [
            (&mut by_zone, node.zone.as_deref()),
            (&mut by_nodegroup, node.nodegroup.as_deref()),
        ] {
            let group = groups.entry(key).or_insert_with(|| GroupHeadroom {
                name: key.map(str::to_owned),
                remaining: 0,
                nodes: 0,
                fitting: 0,
            });
            group.remaining += u64::from(remaining);
            group.nodes += 1;
            group.fitting += u32::from(fits);
        }
        if fits {
            nodes.push(&**node);
        }
    }
    nodes.sort_by(|a, b| {
        b.remaining
            .cmp(&a.remaining)
            .then_with(|| a.name.cmp(&b.name))
    });
    Headroom {
        pods,
        by_zone: by_zone.into_values().collect(),
        by_nodegroup: by_nodegroup.into_values().collect(),
        nodes,
        cordoned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::{CapacitySource, StateCounts};

    fn node(name: &str, zone: &str, group: Option<&str>, remaining: u32) -> NodeReport {
        NodeReport {
            name: name.to_owned(),
            instance_id: None,
            instance_type: Some("m5.large".to_owned()),
            zone: Some(zone.to_owned()),
            nodegroup: group.map(str::to_owned),
            unschedulable: false,
            trunk_eni_id: None,
            capacity: Some(9),
            capacity_source: Some(CapacitySource::Allocatable),
            requested: 9 - remaining,
            branch_enis: StateCounts::default(),
            waiting: 0,
            missing: 0,
            remaining: Some(remaining),
        }
    }

    fn snapshot(nodes: Vec<NodeReport>) -> Snapshot {
        Snapshot {
            nodes: nodes.into_iter().map(std::sync::Arc::new).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn zones_and_groups_sum_the_schedulable_nodes_and_cordoned_ones_are_left_out() {
        let mut cordoned = node("c", "eu-west-1a", Some("batch"), 9);
        cordoned.unschedulable = true;
        let mut no_pod_eni = node("t3", "eu-west-1a", Some("batch"), 0);
        no_pod_eni.capacity_source = Some(CapacitySource::LimitsTable);
        let snapshot = snapshot(vec![
            node("a1", "eu-west-1a", Some("batch"), 0),
            node("a2", "eu-west-1a", Some("web"), 3),
            node("b1", "eu-west-1b", Some("web"), 5),
            node("b2", "eu-west-1b", None, 1),
            cordoned,
            no_pod_eni,
        ]);
        let room = headroom(&snapshot, 2);
        assert_eq!(room.cordoned, 1);
        let zone = |name: &str| {
            room.by_zone
                .iter()
                .find(|g| g.name.as_deref() == Some(name))
                .unwrap()
        };
        assert_eq!(
            (
                zone("eu-west-1a").remaining,
                zone("eu-west-1a").nodes,
                zone("eu-west-1a").fitting
            ),
            (3, 2, 1)
        );
        assert_eq!(
            (
                zone("eu-west-1b").remaining,
                zone("eu-west-1b").nodes,
                zone("eu-west-1b").fitting
            ),
            (6, 2, 1)
        );
        let groups: Vec<(Option<&str>, u64, u32)> = room
            .by_nodegroup
            .iter()
            .map(|g| (g.name.as_deref(), g.remaining, g.fitting))
            .collect();
        assert_eq!(
            groups,
            [(None, 1, 0), (Some("batch"), 0, 0), (Some("web"), 8, 2)]
        );
        let names: Vec<&str> = room.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            ["b1", "a2"],
            "most room first; the cordoned node's 9 slots are not offered"
        );
        // The totals match the nodes: nothing counted twice across the two groupings.
        let by_zone: u64 = room.by_zone.iter().map(|g| g.remaining).sum();
        let by_group: u64 = room.by_nodegroup.iter().map(|g| g.remaining).sum();
        assert_eq!((by_zone, by_group), (9, 9));
    }

    #[test]
    fn asking_for_zero_pods_means_one() {
        let snapshot = snapshot(vec![node("a", "z", None, 0), node("b", "z", None, 1)]);
        let room = headroom(&snapshot, 0);
        assert_eq!(room.pods, 1);
        assert_eq!(room.nodes.len(), 1);
    }
}
