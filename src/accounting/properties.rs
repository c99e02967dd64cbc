//! Property tests of the join (proptest): whatever the input, input order does not
//! matter, every attached ENI is in exactly one state, and a previous snapshot never
//! makes an ENI younger.

use std::time::Duration;

use jiff::Timestamp;
use proptest::prelude::*;

use super::*;
use crate::model::{Compute, Eni, EniAnnotation, PodPhase};

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_760_000_000 + seconds).expect("valid time")
}

fn node(index: usize) -> NodeInfo {
    NodeInfo {
        name: format!("n{index}"),
        compute: Compute::Ec2 {
            instance_id: format!("i-{index:x}"),
        },
        instance_type: Some("m5.large".into()),
        zone: None,
        allocatable_pod_eni: Ok(Some(9)),
        os: Some("linux".into()),
        nodegroup: None,
        unschedulable: false,
    }
}

fn phase(code: u8) -> PodPhase {
    match code % 4 {
        0 => PodPhase::Pending,
        1 => PodPhase::Running,
        2 => PodPhase::Succeeded,
        _ => PodPhase::Failed,
    }
}

/// Pods as (node, phase, request, ENI named or none, finished seconds ago).
fn pods() -> impl Strategy<Value = Vec<PodInfo>> {
    prop::collection::vec(
        (
            0..3usize,
            any::<u8>(),
            0..3u32,
            prop::option::of(0..12usize),
            0..2000i64,
        ),
        0..24,
    )
    .prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(index, (node, code, request, eni, finished_ago))| {
                let phase = phase(code);
                PodInfo {
                    namespace: "ns".into(),
                    name: format!("p{index}"),
                    node_name: Some(format!("n{node}").into()),
                    phase,
                    pod_eni_request: request,
                    app_eni_request: request,
                    annotation: eni.map_or(EniAnnotation::Absent, |e| EniAnnotation::Present {
                        eni_ids: smallvec::smallvec![format!("eni-{e}").into()],
                        problem: None,
                    }),
                    sandbox_seen_at: (phase != PodPhase::Pending).then(|| t(-3000).into()),
                    completed_at: phase.is_terminal().then(|| t(-finished_ago).into()),
                    ..PodInfo::default()
                }
            })
            .collect()
    })
}

/// Trunks on three nodes and up to 12 branches, some detached.
fn inventory() -> impl Strategy<Value = Inventory> {
    prop::collection::vec((0..3usize, any::<bool>()), 0..12).prop_map(|branches| {
        let mut enis: Vec<Eni> = (0..3)
            .map(|n| Eni {
                id: format!("eni-trunk-{n}").into(),
                interface_type: Some("trunk".into()),
                attached_instance_id: Some(format!("i-{n:x}").into()),
                ..Eni::default()
            })
            .collect();
        enis.extend(
            branches
                .into_iter()
                .enumerate()
                .map(|(index, (n, detached))| Eni {
                    id: format!("eni-{index}").into(),
                    interface_type: Some("branch".into()),
                    status: Some(if detached { "available" } else { "in-use" }.into()),
                    trunk_eni_tag: Some(format!("eni-trunk-{n}").into()),
                    ..Eni::default()
                }),
        );
        Inventory {
            enis,
            subnets: Vec::new(),
        }
    })
}

fn settings() -> Settings {
    Settings {
        completed_grace: Duration::from_secs(180),
        orphan_grace: Duration::from_secs(1380),
    }
}

proptest! {
    #[test]
    fn input_order_does_not_matter(pods in pods(), inventory in inventory(), seed in any::<u64>()) {
        let nodes: Vec<NodeInfo> = (0..3).map(node).collect();
        let forward = reconcile(&nodes, &pods, &inventory, Clock::at(t(0)), None, &settings());
        let mut shuffled_pods = pods.clone();
        let mut shuffled_nodes = nodes.clone();
        let mut shuffled = inventory.clone();
        let rotate = (seed as usize) % (pods.len() + 1);
        let len = shuffled_pods.len();
        shuffled_pods.rotate_left(rotate.min(len));
        shuffled_pods.reverse();
        shuffled_nodes.reverse();
        shuffled.enis.reverse();
        let backward = reconcile(&shuffled_nodes, &shuffled_pods, &shuffled, Clock::at(t(0)), None, &settings());
        prop_assert_eq!(forward, backward);
    }

    #[test]
    fn every_attached_eni_is_in_one_state(pods in pods(), inventory in inventory()) {
        let nodes: Vec<NodeInfo> = (0..3).map(node).collect();
        let snapshot = reconcile(&nodes, &pods, &inventory, Clock::at(t(0)), None, &settings());
        for report in &snapshot.nodes {
            let trunk = report.trunk_eni_id.as_deref().expect("every node has a trunk here");
            let associated = inventory
                .enis
                .iter()
                .filter(|e| e.trunk_eni_tag.as_deref() == Some(trunk) && e.status.as_deref() == Some("in-use"))
                .count() as u32;
            let states = report.branch_enis;
            prop_assert_eq!(states.in_use + states.completed_pod + states.orphaned + states.leaked, associated);
            let holders = snapshot.holders.iter().filter(|h| h.node == report.name).count() as u32;
            prop_assert_eq!(holders, associated - states.in_use, "one holder per ENI not in use");
            let need: u32 = snapshot.waiting_pods.iter().filter(|w| w.node == report.name).map(|w| w.enis_needed).sum();
            prop_assert_eq!(report.remaining, Some(9u32.saturating_sub(associated + need)));
        }
    }

    #[test]
    fn a_previous_snapshot_never_makes_an_eni_younger(
        pods in pods(),
        inventory in inventory(),
        earlier in 1..3000i64,
    ) {
        let nodes: Vec<NodeInfo> = (0..3).map(node).collect();
        let first = reconcile(&nodes, &pods, &inventory, Clock::at(t(-earlier)), None, &settings());
        let alone = reconcile(&nodes, &pods, &inventory, Clock::at(t(0)), None, &settings());
        let carried = reconcile(&nodes, &pods, &inventory, Clock::at(t(0)), Some(&first), &settings());
        for holder in &alone.holders {
            let with = carried.holders.iter().find(|h| h.eni_id == holder.eni_id).expect("same ENIs held");
            if let (Some(alone_since), Some(with_since)) = (holder.since, with.since) {
                prop_assert!(with_since <= alone_since, "{} got younger", holder.eni_id);
            }
            prop_assert!(holder.since.is_none() || with.since.is_some());
            if holder.state == EniState::Leaked {
                prop_assert_eq!(with.state, EniState::Leaked);
            }
        }
    }
}
