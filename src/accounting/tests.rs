//! Scenario tests for every rule of the join, on small builders.

use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::model::{
    Compute, Eni, EniAnnotation, EniIds, Owner, PodPhase, RareFields, SchedulingFailure, Subnet,
    WarningKind,
};

const COMPLETED_GRACE: Duration = Duration::from_secs(180);
const ORPHAN_GRACE: Duration = Duration::from_secs(1380);

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_760_000_000 + seconds).expect("valid time")
}

/// One observation of both sources at `t(seconds)`.
fn at(seconds: i64) -> Clock {
    Clock::at(t(seconds))
}

fn mk_node(
    name: &str,
    instance_id: &str,
    instance_type: &str,
    allocatable: Option<u32>,
) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        compute: Compute::Ec2 {
            instance_id: instance_id.into(),
        },
        instance_type: Some(instance_type.into()),
        zone: Some("eu-west-1a".into()),
        allocatable_pod_eni: Ok(allocatable),
        os: Some("linux".into()),
        nodegroup: None,
        unschedulable: false,
    }
}

fn mk_pod(key: &str, node: Option<&str>, phase: PodPhase, request: u32, enis: &[&str]) -> PodInfo {
    let (namespace, name) = key.split_once('/').expect("namespace/name");
    PodInfo {
        namespace: namespace.into(),
        name: name.into(),
        node_name: node.map(Into::into),
        phase,
        pod_eni_request: request,
        app_eni_request: request,
        terminating: false,
        rare: None,
        annotation: if enis.is_empty() {
            EniAnnotation::Absent
        } else {
            EniAnnotation::Present {
                eni_ids: enis.iter().map(|id| (*id).into()).collect(),
                problem: None,
            }
        },
        owner: None,
        created_at: Some(t(-3600).into()),
        scheduled_at: Some(t(-3500).into()),
        sandbox_seen_at: (phase != PodPhase::Pending).then(|| t(-3400).into()),
        // Completed moments ago unless a test says otherwise: still being released.
        completed_at: phase.is_terminal().then(|| t(-30).into()),
        unschedulable: None,
    }
}

fn running(key: &str, node: &str, eni: &str) -> PodInfo {
    mk_pod(key, Some(node), PodPhase::Running, 1, &[eni])
}

fn completed(key: &str, node: &str, eni: &str) -> PodInfo {
    mk_pod(key, Some(node), PodPhase::Succeeded, 1, &[eni])
}

fn waiting(key: &str, node: &str) -> PodInfo {
    mk_pod(key, Some(node), PodPhase::Pending, 1, &[])
}

fn mk_trunk(id: &str, instance_id: &str) -> Eni {
    Eni {
        id: id.into(),
        interface_type: Some("trunk".into()),
        description: Some("aws-k8s-trunk-eni".into()),
        status: Some("in-use".into()),
        subnet_id: Some("subnet-a".into()),
        attached_instance_id: Some(instance_id.into()),
        ..Eni::default()
    }
}

fn mk_branch(id: &str, trunk: &str) -> Eni {
    Eni {
        id: id.into(),
        interface_type: Some("branch".into()),
        description: Some("aws-k8s-branch-eni".into()),
        status: Some("in-use".into()),
        subnet_id: Some("subnet-a".into()),
        trunk_eni_tag: Some(trunk.into()),
        ..Eni::default()
    }
}

fn detached(mut eni: Eni) -> Eni {
    eni.status = Some("available".into());
    eni
}

fn inventory(enis: Vec<Eni>) -> Inventory {
    Inventory {
        enis,
        subnets: vec![Subnet {
            id: "subnet-a".into(),
            cidr_block: Some("10.0.0.0/24".into()),
            available_ip_addresses: 200,
            ..Subnet::default()
        }],
    }
}

fn settings() -> Settings {
    Settings {
        completed_grace: COMPLETED_GRACE,
        orphan_grace: ORPHAN_GRACE,
    }
}

fn run(nodes: &[NodeInfo], pods: &[PodInfo], inventory: &Inventory) -> Snapshot {
    reconcile(nodes, pods, inventory, at(0), None, &settings())
}

fn node<'a>(snapshot: &'a Snapshot, name: &str) -> &'a NodeReport {
    snapshot
        .nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("node {name} not in the join: {:?}", snapshot.nodes))
}

#[test]
fn each_branch_eni_lands_in_exactly_one_state() {
    let nodes = [mk_node("n1", "i-1", "m5a.xlarge", Some(18))];
    let pods = [
        running("app/web-1", "n1", "eni-run"),
        completed("jobs/migrate-1", "n1", "eni-done"),
        // Named by a running and a completed pod: the running one wins.
        completed("jobs/migrate-0", "n1", "eni-reused"),
        running("app/web-2", "n1", "eni-reused"),
    ];
    let inv = inventory(vec![
        mk_trunk("eni-trunk", "i-1"),
        mk_branch("eni-run", "eni-trunk"),
        mk_branch("eni-done", "eni-trunk"),
        mk_branch("eni-reused", "eni-trunk"),
        mk_branch("eni-nobody", "eni-trunk"),
    ]);
    let snapshot = run(&nodes, &pods, &inv);
    let n1 = node(&snapshot, "n1");
    assert_eq!(
        n1.branch_enis,
        StateCounts {
            in_use: 2,
            completed_pod: 1,
            orphaned: 1,
            leaked: 0,
        }
    );
    assert_eq!(n1.attached(), 4);
    assert_eq!(n1.trunk_eni_id.as_deref(), Some("eni-trunk"));
    let states: Vec<(&str, EniState)> = snapshot
        .holders
        .iter()
        .map(|h| (h.eni_id.as_str(), h.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("eni-done", EniState::CompletedPod),
            ("eni-nobody", EniState::Orphaned)
        ]
    );
}

#[test]
fn the_incident_node_is_full_while_the_scheduler_sees_room() {
    let nodes = [mk_node("n1", "i-1", "m5a.xlarge", Some(18))];
    let mut pods = Vec::new();
    let mut enis = vec![mk_trunk("eni-trunk", "i-1")];
    for i in 0..13 {
        pods.push(running(
            &format!("app/web-{i}"),
            "n1",
            &format!("eni-web-{i}"),
        ));
        enis.push(mk_branch(&format!("eni-web-{i}"), "eni-trunk"));
    }
    for i in 0..3 {
        let mut pod = completed(&format!("app/migrate-{i}-x"), "n1", &format!("eni-job-{i}"));
        pod.owner = Some(Owner {
            kind: "Job".into(),
            name: format!("migrate-{i}").into(),
        });
        pods.push(pod);
        enis.push(mk_branch(&format!("eni-job-{i}"), "eni-trunk"));
    }
    enis.push(mk_branch("eni-cooldown-1", "eni-trunk"));
    enis.push(mk_branch("eni-cooldown-2", "eni-trunk"));
    pods.push(waiting("app/web-new", "n1"));

    let snapshot = run(&nodes, &pods, &inventory(enis));
    let n1 = node(&snapshot, "n1");
    assert_eq!(
        n1.requested, 14,
        "13 running + 1 waiting; completed pods do not count"
    );
    assert_eq!(n1.attached(), 18);
    assert_eq!(n1.waiting, 1);
    assert_eq!(n1.remaining, Some(0));
    assert!(n1.requested < n1.capacity.unwrap_or(0));
    let jobs: Vec<_> = snapshot
        .holders
        .iter()
        .filter_map(|h| h.pod.as_ref()?.owner.as_ref().map(|o| o.name.as_str()))
        .collect();
    assert_eq!(jobs, vec!["migrate-0", "migrate-1", "migrate-2"]);
    assert_eq!(snapshot.waiting_pods.len(), 1);
    assert_eq!(snapshot.waiting_pods[0].name, "web-new");
    assert_eq!(snapshot.waiting_pods[0].since, Some(t(-3500)));
}

#[test]
fn a_completed_pod_whose_eni_is_gone_holds_nothing() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let pods = [completed("jobs/old", "n1", "eni-deleted-long-ago")];
    let snapshot = run(
        &nodes,
        &pods,
        &inventory(vec![mk_trunk("eni-trunk", "i-1")]),
    );
    let n1 = node(&snapshot, "n1");
    assert_eq!(n1.attached(), 0);
    assert_eq!(n1.remaining, Some(9));
    assert!(snapshot.holders.is_empty());
    assert_eq!(n1.missing, 0, "completed pods are never missing their ENI");
}

#[test]
fn orphan_becomes_leaked_exactly_when_the_orphan_grace_passes() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let inv = inventory(vec![
        mk_trunk("eni-trunk", "i-1"),
        mk_branch("eni-x", "eni-trunk"),
    ]);
    let grace = ORPHAN_GRACE.as_secs() as i64;
    let first = reconcile(&nodes, &[], &inv, at(0), None, &settings());
    assert_eq!(node(&first, "n1").branch_enis.orphaned, 1);
    assert_eq!(first.holders[0].since, None, "age unknown on first sight");

    let second = reconcile(&nodes, &[], &inv, at(60), Some(&first), &settings());
    let just_before = reconcile(&nodes, &[], &inv, at(grace - 1), Some(&second), &settings());
    assert_eq!(node(&just_before, "n1").branch_enis.orphaned, 1);
    assert_eq!(just_before.holders[0].since, Some(t(0)));
    assert_eq!(just_before.holders[0].pod, None);

    let at_grace = reconcile(
        &nodes,
        &[],
        &inv,
        at(grace),
        Some(&just_before),
        &settings(),
    );
    assert_eq!(node(&at_grace, "n1").branch_enis.leaked, 1);
    assert_eq!(node(&at_grace, "n1").branch_enis.orphaned, 0);
    assert_eq!(at_grace.holders[0].state, EniState::Leaked);
}

#[test]
fn frozen_observation_time_never_ages_an_orphan() {
    // A caller whose source is stale keeps passing the same observation time.
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let inv = inventory(vec![
        mk_trunk("eni-trunk", "i-1"),
        mk_branch("eni-x", "eni-trunk"),
    ]);
    let mut snapshot = reconcile(&nodes, &[], &inv, at(0), None, &settings());
    for _ in 0..10 {
        snapshot = reconcile(&nodes, &[], &inv, at(100), Some(&snapshot), &settings());
    }
    assert_eq!(node(&snapshot, "n1").branch_enis.leaked, 0);
}

#[test]
fn an_orphan_clock_waits_for_a_kubernetes_view_as_new_as_the_poll() {
    // During an API outage a pod is created and its ENI shows up in EC2: the frozen
    // view names no pod for it, which proves nothing until the view is relisted.
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let inv = inventory(vec![
        mk_trunk("eni-trunk", "i-1"),
        mk_branch("eni-new", "eni-trunk"),
    ]);
    let grace = ORPHAN_GRACE.as_secs() as i64;
    let stale = |polled: i64| Clock {
        ec2_polled_at: t(polled),
        kube_fresh_until: t(0),
    };
    let mut snapshot = reconcile(&nodes, &[], &inv, stale(60), None, &settings());
    for polled in [600, grace, 2 * grace] {
        snapshot = reconcile(
            &nodes,
            &[],
            &inv,
            stale(polled),
            Some(&snapshot),
            &settings(),
        );
        assert_eq!(node(&snapshot, "n1").branch_enis.orphaned, 1);
        assert_eq!(
            snapshot.holders[0].since, None,
            "no age while the view is behind"
        );
    }
    // Relisted at 2 × grace: the pod was deleted meanwhile, so the clock starts now.
    let relisted = at(2 * grace + 30);
    snapshot = reconcile(&nodes, &[], &inv, relisted, Some(&snapshot), &settings());
    let later = at(3 * grace);
    snapshot = reconcile(&nodes, &[], &inv, later, Some(&snapshot), &settings());
    assert_eq!(snapshot.holders[0].since, Some(t(2 * grace + 30)));
    assert_eq!(node(&snapshot, "n1").branch_enis.leaked, 0);
    let overdue = at(3 * grace + 30);
    snapshot = reconcile(&nodes, &[], &inv, overdue, Some(&snapshot), &settings());
    assert_eq!(node(&snapshot, "n1").branch_enis.leaked, 1);
}

#[test]
fn an_orphan_claimed_again_starts_a_fresh_clock() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let inv = inventory(vec![
        mk_trunk("eni-trunk", "i-1"),
        mk_branch("eni-x", "eni-trunk"),
    ]);
    let orphan = reconcile(&nodes, &[], &inv, at(0), None, &settings());
    let pods = [running("app/p", "n1", "eni-x")];
    let claimed = reconcile(&nodes, &pods, &inv, at(100), Some(&orphan), &settings());
    assert!(claimed.carry.release.is_empty());
    let late = 100 + ORPHAN_GRACE.as_secs() as i64;
    let again = reconcile(&nodes, &[], &inv, at(late), Some(&claimed), &settings());
    assert_eq!(
        node(&again, "n1").branch_enis.orphaned,
        1,
        "not leaked: first seen unclaimed just now"
    );
}

#[test]
fn a_completed_pods_eni_is_released_within_the_completed_grace_then_leaked() {
    // The current controller releases a pod's ENI at completion; its age runs from the
    // pod's finish time, so even a single observation knows it.
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let inv = inventory(vec![
        mk_trunk("eni-trunk", "i-1"),
        mk_branch("eni-fresh", "eni-trunk"),
        mk_branch("eni-stuck", "eni-trunk"),
    ]);
    let grace = COMPLETED_GRACE.as_secs() as i64;
    let mut stuck = completed("jobs/migrate-1-x", "n1", "eni-stuck");
    stuck.completed_at = Some(t(-grace).into());
    stuck.owner = Some(Owner {
        kind: "Job".into(),
        name: "migrate-1".into(),
    });
    let fresh = PodInfo {
        completed_at: Some(t(1 - grace).into()),
        ..completed("jobs/migrate-2-x", "n1", "eni-fresh")
    };
    let pods = [stuck, fresh];
    let snapshot = reconcile(&nodes, &pods, &inv, at(0), None, &settings());
    let n1 = node(&snapshot, "n1");
    assert_eq!(n1.branch_enis.completed_pod, 1);
    assert_eq!(n1.branch_enis.leaked, 1);
    let leaked = snapshot
        .holders
        .iter()
        .find(|h| h.state == EniState::Leaked)
        .expect("a leaked holder");
    assert_eq!(leaked.eni_id, "eni-stuck");
    let last = leaked.pod.as_ref().expect("keeps its last holder");
    assert_eq!(last.name, "migrate-1-x");
    assert_eq!(
        last.owner.as_ref().map(|o| o.name.as_str()),
        Some("migrate-1")
    );
    assert_eq!(leaked.since, Some(t(-grace)));

    // The pod is deleted: the ENI stays leaked, still naming who held it last.
    let deleted = reconcile(
        &nodes,
        &pods[1..],
        &inv,
        at(30),
        Some(&snapshot),
        &settings(),
    );
    let holder = deleted
        .holders
        .iter()
        .find(|h| h.eni_id == "eni-stuck")
        .expect("still held");
    assert_eq!(holder.state, EniState::Leaked);
    assert_eq!(
        holder.pod.as_ref().map(|p| p.name.as_str()),
        Some("migrate-1-x")
    );
}

#[test]
fn a_completed_pod_without_finish_time_ages_from_when_it_was_seen_finished() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let inv = inventory(vec![
        mk_trunk("eni-trunk", "i-1"),
        mk_branch("eni-x", "eni-trunk"),
    ]);
    let pods = [PodInfo {
        completed_at: None,
        ..completed("jobs/j", "n1", "eni-x")
    }];
    let offline = reconcile(&nodes, &pods, &inv, at(0), None, &settings());
    assert_eq!(
        node(&offline, "n1").branch_enis.completed_pod,
        1,
        "a single observation cannot age it"
    );
    assert_eq!(offline.holders[0].since, None);
    assert_eq!(
        offline.holders[0].unknown_age(),
        Some(UnknownAge::NoCompletionTime),
        "the table and JSON say why"
    );
    let grace = COMPLETED_GRACE.as_secs() as i64;
    let later = reconcile(
        &nodes,
        &pods,
        &inv,
        at(grace - 1),
        Some(&offline),
        &settings(),
    );
    assert_eq!(node(&later, "n1").branch_enis.completed_pod, 1);
    let past = reconcile(&nodes, &pods, &inv, at(grace), Some(&later), &settings());
    assert_eq!(node(&past, "n1").branch_enis.leaked, 1);
    assert_eq!(
        past.holders[0].since,
        Some(t(0)),
        "aged from the first sighting"
    );
}

#[test]
fn a_crash_looping_pod_whose_eni_vanished_is_missing_offline() {
    // Without its network the pod crash-loops: at the capture no container runs, but
    // its restarts (and the sandbox condition) prove the claim is older than the poll.
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let crash_looping = PodInfo {
        sandbox_seen_at: Some(t(-900).into()),
        ..running("a/crash-looping", "n1", "eni-deleted")
    };
    let no_evidence = PodInfo {
        sandbox_seen_at: None,
        ..running("a/just-annotated", "n1", "eni-not-polled-yet")
    };
    let inv = inventory(vec![mk_trunk("eni-t", "i-1")]);
    let snapshot = run(&nodes, &[crash_looping, no_evidence], &inv);
    let missing: Vec<&str> = snapshot
        .missing_pods
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(missing, ["crash-looping"]);
}

#[test]
fn the_latest_completion_among_claimers_decides() {
    // Never happens in a healthy cluster, but must not make an ENI look older.
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let inv = inventory(vec![
        mk_trunk("eni-trunk", "i-1"),
        mk_branch("eni-x", "eni-trunk"),
    ]);
    let old = PodInfo {
        completed_at: Some(t(-10_000).into()),
        ..completed("jobs/a", "n1", "eni-x")
    };
    let recent = completed("jobs/b", "n1", "eni-x");
    let snapshot = run(&nodes, &[old, recent], &inv);
    assert_eq!(snapshot.holders[0].state, EniState::CompletedPod);
    assert_eq!(
        snapshot.holders[0].pod.as_ref().map(|p| p.name.as_str()),
        Some("b")
    );
}

#[test]
fn capacity_sources() {
    let cases: [(&str, NodeInfo, Option<u32>, Option<CapacitySource>); 4] = [
        (
            "allocatable wins over the table",
            mk_node("n", "i-1", "m5a.xlarge", Some(16)),
            Some(16),
            Some(CapacitySource::Allocatable),
        ),
        (
            "table fallback",
            mk_node("n", "i-1", "m5a.xlarge", None),
            Some(18),
            Some(CapacitySource::LimitsTable),
        ),
        (
            "unreadable allocatable falls back to the table",
            NodeInfo {
                allocatable_pod_eni: Err("lots".into()),
                ..mk_node("n", "i-1", "c5.4xlarge", None)
            },
            Some(54),
            Some(CapacitySource::LimitsTable),
        ),
        (
            "unknown instance type",
            mk_node("n", "i-1", "x9.huge", None),
            None,
            None,
        ),
    ];
    for (name, n, capacity, source) in cases {
        // A trunk makes the node part of the join whatever its capacity.
        let inv = inventory(vec![
            mk_trunk("eni-trunk", "i-1"),
            mk_branch("eni-b", "eni-trunk"),
        ]);
        let snapshot = run(&[n], &[running("a/p", "n", "eni-b")], &inv);
        let report = node(&snapshot, "n");
        assert_eq!(report.capacity, capacity, "{name}");
        assert_eq!(report.capacity_source, source, "{name}");
        let advertised = source == Some(CapacitySource::Allocatable);
        assert_eq!(report.advertises_pod_eni(), advertised, "{name}");
        let want = if advertised {
            capacity.map(|c| c - 1)
        } else {
            Some(0)
        };
        assert_eq!(
            report.remaining, want,
            "{name}: the scheduler places no SGP pod on a node that does not advertise"
        );
        assert!(!report.is_full() || advertised, "{name}");
    }
}

#[test]
fn unknown_instance_type_and_bad_allocatable_are_warnings() {
    let nodes = [
        mk_node("n-unknown", "i-1", "x9.huge", None),
        NodeInfo {
            allocatable_pod_eni: Err("1.5".into()),
            ..mk_node("n-bad", "i-2", "m5.large", None)
        },
    ];
    let pods = [waiting("a/p1", "n-unknown"), waiting("a/p2", "n-bad")];
    let snapshot = run(&nodes, &pods, &inventory(vec![]));
    let kinds: Vec<_> = snapshot.warnings.iter().map(|w| w.kind).collect();
    assert_eq!(
        kinds,
        vec![WarningKind::UnknownInstanceType, WarningKind::BadQuantity]
    );
    assert_eq!(node(&snapshot, "n-unknown").capacity, None);
    assert_eq!(node(&snapshot, "n-unknown").remaining, Some(0));
    assert_eq!(node(&snapshot, "n-bad").capacity, Some(9));
    assert_eq!(node(&snapshot, "n-bad").remaining, Some(0));
}

#[test]
fn which_nodes_take_part() {
    let nodes = [
        mk_node("sgp-allocatable", "i-1", "m5.large", Some(9)),
        mk_node("sgp-trunk-only", "i-2", "m5.large", None),
        mk_node("sgp-pod-only", "i-3", "m5.large", None),
        mk_node("plain-t3", "i-4", "t3.medium", None),
        mk_node("plain-m5", "i-5", "m5.large", None),
        NodeInfo {
            compute: Compute::Fargate,
            ..mk_node("fargate-ip-10-0-0-1", "x", "", Some(9))
        },
        NodeInfo {
            os: Some("windows".into()),
            ..mk_node("windows", "i-6", "m5.large", Some(9))
        },
    ];
    let pods = [
        waiting("a/p", "sgp-pod-only"),
        mk_pod("a/plain", Some("plain-t3"), PodPhase::Running, 0, &[]),
        waiting("a/on-fargate", "fargate-ip-10-0-0-1"),
        waiting("a/on-windows", "windows"),
    ];
    let snapshot = run(&nodes, &pods, &inventory(vec![mk_trunk("eni-t2", "i-2")]));
    let names: Vec<_> = snapshot.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["sgp-allocatable", "sgp-pod-only", "sgp-trunk-only"]
    );
    assert!(
        snapshot
            .waiting_pods
            .iter()
            .all(|w| w.node == "sgp-pod-only"),
        "Fargate and Windows nodes never join"
    );
    assert!(snapshot.warnings.is_empty(), "{:?}", snapshot.warnings);
}

#[test]
fn odd_provider_id_keeps_the_node_and_warns() {
    let odd_node = NodeInfo {
        compute: Compute::Unparseable("kind://docker/k/worker".into()),
        ..mk_node("odd", "unused", "m5.large", Some(9))
    };
    let snapshot = run(&[odd_node], &[waiting("a/p", "odd")], &inventory(vec![]));
    let odd = node(&snapshot, "odd");
    assert_eq!(odd.instance_id, None);
    assert_eq!(odd.remaining, Some(8));
    assert_eq!(snapshot.warnings.len(), 1);
    assert_eq!(snapshot.warnings[0].kind, WarningKind::BadProviderId);
}

/// A pod no node took, with the scheduler's last word on it.
fn unschedulable(key: &str, request: u32, message: &str) -> PodInfo {
    PodInfo {
        unschedulable: Some(Box::new(SchedulingFailure {
            since: Some(t(-240)),
            message: message.to_owned(),
        })),
        scheduled_at: None,
        ..mk_pod(key, None, PodPhase::Pending, request, &[])
    }
}

const NO_SLOT: &str = "0/3 nodes are available: 2 Insufficient vpc.amazonaws.com/pod-eni, 1 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.";

#[test]
fn requests_count_only_non_terminal_pods_and_unscheduled_pods_count_on_no_node() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let pods = [
        mk_pod("a/two", Some("n1"), PodPhase::Running, 2, &["eni-1"]),
        mk_pod("a/failed", Some("n1"), PodPhase::Failed, 1, &["eni-gone"]),
        mk_pod("a/unscheduled", None, PodPhase::Pending, 1, &[]),
        unschedulable("a/no-slot", 1, NO_SLOT),
    ];
    let snapshot = run(&nodes, &pods, &inventory(vec![]));
    let n1 = node(&snapshot, "n1");
    assert_eq!(n1.requested, 2);
    assert_eq!(n1.waiting, 0);
    assert!(snapshot.waiting_pods.is_empty());
    assert_eq!(
        snapshot.unschedulable_pods.len(),
        1,
        "counted for the cluster"
    );
}

#[test]
fn pods_the_scheduler_cannot_place_for_want_of_pod_eni_are_the_clusters_exhaustion() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let mut later = unschedulable("b/later", 2, NO_SLOT);
    later.unschedulable.as_mut().unwrap().since = Some(t(-60));
    let pods = [
        later,
        unschedulable("a/first", 1, NO_SLOT),
        // The converter keeps only failures that name pod-eni; these never count:
        // a finished pod, and one that a node has taken since.
        PodInfo {
            phase: PodPhase::Failed,
            ..unschedulable("a/gave-up", 1, NO_SLOT)
        },
        PodInfo {
            node_name: Some("n1".into()),
            ..unschedulable("a/bound-since", 1, NO_SLOT)
        },
    ];
    let snapshot = run(&nodes, &pods, &inventory(vec![mk_trunk("eni-t", "i-1")]));
    let listed: Vec<(&str, Option<Timestamp>, u32, &str)> = snapshot
        .unschedulable_pods
        .iter()
        .map(|p| (p.name.as_str(), p.since, p.enis_needed, p.message.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("first", Some(t(-240)), 1, NO_SLOT),
            ("later", Some(t(-60)), 2, NO_SLOT)
        ],
        "oldest first"
    );
    assert_eq!(
        node(&snapshot, "n1").waiting,
        1,
        "the bound one waits on its node"
    );
}

#[test]
fn remaining_is_never_negative() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(2))];
    let pods = [waiting("a/w1", "n1"), waiting("a/w2", "n1")];
    let inv = inventory(vec![
        mk_trunk("eni-trunk", "i-1"),
        mk_branch("eni-1", "eni-trunk"),
        mk_branch("eni-2", "eni-trunk"),
        mk_branch("eni-3", "eni-trunk"),
    ]);
    let snapshot = run(&nodes, &pods, &inv);
    let n1 = node(&snapshot, "n1");
    assert_eq!(n1.attached(), 3);
    assert_eq!(n1.remaining, Some(0));
}

#[test]
fn branches_are_placed_by_trunk_tag_then_instance_tag() {
    let nodes = [
        mk_node("n1", "i-1", "m5.large", Some(9)),
        mk_node("n2", "i-2", "m5.large", Some(9)),
    ];
    let by_instance = Eni {
        trunk_eni_tag: None,
        instance_id_tag: Some("i-2".into()),
        ..mk_branch("eni-by-instance", "")
    };
    let stale_trunk_tag = Eni {
        instance_id_tag: Some("i-2".into()),
        ..mk_branch("eni-stale-trunk", "eni-gone")
    };
    let unknown_trunk = mk_branch("eni-unknown", "eni-not-attached-anywhere");
    let no_tags = Eni {
        trunk_eni_tag: None,
        ..mk_branch("eni-untagged", "")
    };
    let inv = inventory(vec![
        mk_trunk("eni-t1", "i-1"),
        mk_branch("eni-by-trunk", "eni-t1"),
        by_instance,
        stale_trunk_tag,
        unknown_trunk,
        no_tags,
        detached(mk_branch("eni-detached-unknown", "eni-nowhere")),
    ]);
    let snapshot = run(&nodes, &[], &inv);
    assert_eq!(node(&snapshot, "n1").attached(), 1);
    assert_eq!(node(&snapshot, "n2").attached(), 2);
    assert_eq!(
        snapshot.unattributed,
        Unattributed {
            unknown_trunk: 1,
            no_trunk_tag: 1,
        },
        "detached branches use no node slot, so they are never unattributed"
    );
}

#[test]
fn detached_branches_count_in_their_subnet_not_on_the_node() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let inv = inventory(vec![
        mk_trunk("eni-trunk", "i-1"),
        mk_branch("eni-on", "eni-trunk"),
        detached(mk_branch("eni-off", "eni-trunk")),
    ]);
    let snapshot = run(&nodes, &[running("a/p", "n1", "eni-on")], &inv);
    assert_eq!(node(&snapshot, "n1").attached(), 1);
    let subnet = &snapshot.subnets[0];
    assert_eq!(subnet.associated_branch_enis, 1);
    assert_eq!(subnet.detached_branch_enis, 1);
    assert_eq!(subnet.ip_addresses, Some(251));
    assert_eq!(subnet.subnet.available_ip_addresses, 200);
}

#[test]
fn a_running_pod_whose_eni_vanished_is_missing() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let old = running("a/old", "n1", "eni-deleted");
    // Annotated but not started: the claim may be younger than the EC2 read.
    let young = PodInfo {
        phase: PodPhase::Pending,
        sandbox_seen_at: None,
        ..running("a/young", "n1", "eni-not-polled-yet")
    };
    let detached_under = running("a/detached", "n1", "eni-detached");
    let inv = inventory(vec![
        mk_trunk("eni-t", "i-1"),
        detached(mk_branch("eni-detached", "eni-t")),
    ]);
    let snapshot = run(&nodes, &[old, young.clone(), detached_under], &inv);
    assert_eq!(node(&snapshot, "n1").missing, 2);
    let missing: Vec<(&str, &[String])> = snapshot
        .missing_pods
        .iter()
        .map(|m| (m.name.as_str(), m.eni_ids.as_slice()))
        .collect();
    assert_eq!(
        missing,
        vec![
            ("detached", &["eni-detached".to_string()][..]),
            ("old", &["eni-deleted".to_string()][..]),
        ]
    );

    // The young claim, seen at t(0), counts against a poll that began after it.
    let live = Clock {
        ec2_polled_at: t(30),
        kube_fresh_until: t(40),
    };
    let next = reconcile(&nodes, &[young], &inv, live, Some(&snapshot), &settings());
    assert_eq!(node(&next, "n1").missing, 1);
}

#[test]
fn missing_needs_a_kubernetes_view_as_new_as_the_ec2_poll() {
    // During an API outage a pod may have completed and its ENI been released: the
    // stale cache still shows it running, which is no proof of a missing ENI.
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let pods = [running("a/p", "n1", "eni-released")];
    let inv = inventory(vec![mk_trunk("eni-t", "i-1")]);
    let stale = Clock {
        ec2_polled_at: t(600),
        kube_fresh_until: t(0),
    };
    let snapshot = reconcile(&nodes, &pods, &inv, stale, None, &settings());
    assert_eq!(node(&snapshot, "n1").missing, 0);
}

#[test]
fn waiting_follows_the_controller_and_remaining_subtracts_the_enis_needed() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let two = mk_pod("a/two", Some("n1"), PodPhase::Pending, 2, &[]);
    // Only an init container asks: the scheduler counts it, the controller does not.
    let init_only = PodInfo {
        app_eni_request: 0,
        ..waiting("a/init-only", "n1")
    };
    // The controller never reads deletionTimestamp: a terminating Pending pod still
    // gets an ENI, so it keeps its place in line until it is gone.
    let terminating = PodInfo {
        terminating: true,
        ..waiting("a/terminating", "n1")
    };
    let snapshot = run(
        &nodes,
        &[two, init_only, terminating],
        &inventory(vec![mk_trunk("eni-t", "i-1")]),
    );
    let n1 = node(&snapshot, "n1");
    assert_eq!(n1.requested, 4, "the scheduler's figure");
    assert_eq!(n1.waiting, 2);
    assert_eq!(
        n1.remaining,
        Some(6),
        "9 - the 2 + 1 ENIs the waiting pods need"
    );
    let needed: Vec<(&str, u32)> = snapshot
        .waiting_pods
        .iter()
        .map(|w| (w.name.as_str(), w.enis_needed))
        .collect();
    assert_eq!(needed, [("terminating", 1), ("two", 2)]);
}

#[test]
fn absurd_requests_saturate_instead_of_wrapping() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let pods = [
        mk_pod("a/huge", Some("n1"), PodPhase::Pending, u32::MAX, &[]),
        waiting("a/one", "n1"),
    ];
    let snapshot = run(&nodes, &pods, &inventory(vec![]));
    let n1 = node(&snapshot, "n1");
    assert_eq!(n1.requested, u32::MAX);
    assert_eq!(n1.remaining, Some(0));
    let flagged: Vec<_> = snapshot
        .warnings
        .iter()
        .map(|w| (w.kind, w.object.as_str()))
        .collect();
    assert_eq!(flagged, vec![(WarningKind::BadQuantity, "pod a/huge")]);
}

#[test]
fn duplicates_count_once_with_a_warning() {
    // A pod, ENI, node or subnet listed twice (a hand-merged dump, an ENI that moved
    // between EC2 pages) must not double a figure.
    let n1 = mk_node("n1", "i-1", "m5a.xlarge", Some(18));
    let same_instance = mk_node("n2", "i-1", "m5a.xlarge", Some(18));
    let nodes = [n1.clone(), n1, same_instance];
    let pod = running("a/p", "n1", "eni-b");
    let pods = [pod.clone(), pod, waiting("a/w", "n1"), waiting("a/w", "n1")];
    let mut inv = inventory(vec![
        mk_trunk("eni-t", "i-1"),
        mk_branch("eni-b", "eni-t"),
        mk_branch("eni-b", "eni-t"),
        mk_branch("eni-o", "eni-t"),
    ]);
    inv.subnets.push(inv.subnets[0].clone());
    let snapshot = run(&nodes, &pods, &inv);
    let n1 = node(&snapshot, "n1");
    assert_eq!(n1.attached(), 2);
    assert_eq!(n1.requested, 2);
    assert_eq!(n1.waiting, 1);
    assert_eq!(n1.remaining, Some(18 - 2 - 1));
    assert_eq!(snapshot.subnets.len(), 1);
    assert!(
        snapshot.nodes.iter().all(|n| n.name != "n2"),
        "a second name for instance i-1 is not a second node: {:?}",
        snapshot.nodes
    );
    let room = headroom(&snapshot, 1);
    assert_eq!(room.nodes.len(), 1, "headroom counts the instance once");
    let duplicates: Vec<&str> = snapshot
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::DuplicateObject)
        .map(|w| w.object.as_str())
        .collect();
    assert_eq!(
        duplicates,
        [
            "eni eni-b",
            "node n1",
            "node n2",
            "pod a/p",
            "pod a/w",
            "subnet subnet-a"
        ]
    );
}

#[test]
fn a_node_with_an_empty_name_is_a_warning() {
    let nodes = [mk_node("", "i-1", "m5.large", Some(9))];
    let snapshot = run(&nodes, &[], &inventory(vec![mk_trunk("eni-t", "i-1")]));
    assert!(snapshot.nodes.is_empty());
    assert_eq!(snapshot.warnings.len(), 1);
    assert_eq!(snapshot.warnings[0].kind, WarningKind::BadObject);
}

#[test]
fn a_malformed_annotation_is_a_warning_and_the_rest_is_kept() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let bad = PodInfo {
        annotation: EniAnnotation::Present {
            eni_ids: EniIds::new(),
            problem: Some("not JSON".into()),
        },
        ..mk_pod("a/bad", Some("n1"), PodPhase::Running, 1, &[])
    };
    let pods = [bad, running("a/good", "n1", "eni-good")];
    let inv = inventory(vec![
        mk_trunk("eni-t", "i-1"),
        mk_branch("eni-good", "eni-t"),
    ]);
    let snapshot = run(&nodes, &pods, &inv);
    let n1 = node(&snapshot, "n1");
    assert_eq!(n1.requested, 2);
    assert_eq!(n1.branch_enis.in_use, 1);
    assert_eq!(
        n1.waiting, 0,
        "a pod with an annotation is not waiting, even a bad one"
    );
    assert_eq!(snapshot.warnings.len(), 1);
    assert_eq!(snapshot.warnings[0].kind, WarningKind::BadAnnotation);
    assert_eq!(snapshot.warnings[0].object, "pod a/bad");
}

#[test]
fn an_ipv6_only_subnet_has_no_ipv4_space_and_a_bad_block_is_named_plainly() {
    let mut inv = inventory(vec![]);
    inv.subnets = vec![
        Subnet {
            id: "subnet-v6".into(),
            cidr_block: None,
            ..Subnet::default()
        },
        Subnet {
            id: "subnet-bad".into(),
            cidr_block: Some("10.0.0.0/33".into()),
            ..Subnet::default()
        },
    ];
    let snapshot = run(&[], &[], &inv);
    assert!(snapshot.subnets.iter().all(|s| s.ip_addresses.is_none()));
    let warnings: Vec<String> = snapshot.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        warnings,
        ["bad_cidr: subnet subnet-bad: CIDR block \"10.0.0.0/33\" is not an IPv4 CIDR"]
    );
}

#[test]
fn figures_beyond_what_ec2_allows_are_used_with_a_warning() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(500))];
    let mut inv = inventory(vec![mk_trunk("eni-t", "i-1")]);
    // A /24 has 251 usable addresses; EC2 cannot report more free.
    inv.subnets[0].available_ip_addresses = 300;
    let snapshot = run(&nodes, &[], &inv);
    assert_eq!(node(&snapshot, "n1").capacity, Some(500), "used as given");
    assert_eq!(snapshot.subnets[0].subnet.available_ip_addresses, 300);
    let warned: Vec<(WarningKind, &str)> = snapshot
        .warnings
        .iter()
        .map(|w| (w.kind, w.object.as_str()))
        .collect();
    assert_eq!(
        warned,
        [
            (WarningKind::BadQuantity, "node n1"),
            (WarningKind::BadQuantity, "subnet subnet-a")
        ]
    );
}

#[test]
fn a_pending_pod_on_a_node_not_in_the_input_still_waits_where_it_can_be_seen() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let lost = waiting("a/lost", "n-gone");
    let snapshot = run(&nodes, &[lost], &inventory(vec![mk_trunk("eni-t", "i-1")]));
    let listed: Vec<(&str, &str)> = snapshot
        .waiting_pods
        .iter()
        .map(|w| (w.name.as_str(), w.node.as_str()))
        .collect();
    assert_eq!(listed, [("lost", "n-gone")]);
    assert_eq!(node(&snapshot, "n1").waiting, 0);
    assert_eq!(snapshot.warnings.len(), 1);
    assert!(
        snapshot.warnings[0]
            .detail
            .contains("bound to node n-gone, which is not in the node list"),
        "{:?}",
        snapshot.warnings
    );
}

#[test]
fn a_phase_the_api_never_writes_is_a_warning() {
    let nodes = [mk_node("n1", "i-1", "m5.large", Some(9))];
    let odd = PodInfo {
        rare: RareFields {
            phase_problem: Some("succeeded".into()),
            ..RareFields::default()
        }
        .boxed(),
        ..waiting("a/odd", "n1")
    };
    let snapshot = run(&nodes, &[odd], &inventory(vec![mk_trunk("eni-t", "i-1")]));
    assert_eq!(node(&snapshot, "n1").waiting, 1, "counted as Pending");
    assert!(snapshot.warnings[0].detail.contains("case-sensitive"));
}
