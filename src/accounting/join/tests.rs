//! The incremental join against the full one: random sequences of node and pod events,
//! EC2 polls (ENIs appearing, vanishing, detaching, moving), Kubernetes outages and clock
//! steps go through both, and every publish must equal `reconcile` over the same inputs
//! with the previous `reconcile` snapshot carried, field for field, carry included.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use proptest::prelude::*;

use super::*;
use crate::accounting::reconcile;
use crate::model::{
    Compute, Eni, EniAnnotation, PodPhase, RareFields, SchedulingFailure, Subnet,
    parse_eni_annotation,
};

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_760_000_000 + seconds).expect("valid time")
}

const NODES: usize = 5;
const PODS: usize = 12;
const ENIS: usize = 10;

/// Five names over four instances (n4 shares n0's): a duplicate instance, Windows and
/// Fargate nodes, allocatable present, absent or garbled.
fn node() -> impl Strategy<Value = NodeInfo> {
    (0..NODES, 0..6u8, 0..4u8, any::<bool>()).prop_map(|(index, os, allocatable, cordoned)| {
        let compute = match os {
            0 => Compute::Fargate,
            _ => Compute::Ec2 {
                instance_id: format!("i-{}", index % 4),
            },
        };
        NodeInfo {
            name: format!("n{index}"),
            compute,
            instance_type: Some(if index == 3 { "x9.huge" } else { "m5.large" }.into()),
            zone: None,
            allocatable_pod_eni: match allocatable {
                0 => Ok(None),
                1 => Err("lots".into()),
                2 => Ok(Some(2)),
                _ => Ok(Some(9)),
            },
            os: Some(if os == 1 { "windows" } else { "linux" }.into()),
            nodegroup: None,
            unschedulable: cordoned,
        }
    })
}

/// Pods bound to the five nodes, to a sixth that never exists, or to none; in every
/// phase, with none, one or two ENIs or a garbled annotation, with and without the
/// times that date a completion or a sandbox.
fn pod() -> impl Strategy<Value = PodInfo> {
    let annotation = prop_oneof![
        Just(EniAnnotation::Absent),
        (0..ENIS).prop_map(|e| annotation(&[e])),
        (0..ENIS, 0..ENIS).prop_map(|(a, b)| annotation(&[a, b])),
        Just(parse_eni_annotation("[{\"eniId\": 3")),
    ];
    (
        (0..PODS, 0..NODES + 2, 0..5u8, 0..3u32, 0..3u32),
        (
            annotation,
            prop::option::of(0..3000i64),
            any::<bool>(),
            0..4u8,
        ),
    )
        .prop_map(
            |((index, node, phase, request, app), (annotation, finished, sandbox, extra))| {
                let phase = match phase {
                    0 => PodPhase::Pending,
                    1 => PodPhase::Running,
                    2 => PodPhase::Succeeded,
                    3 => PodPhase::Failed,
                    _ => PodPhase::Unknown,
                };
                PodInfo {
                    namespace: if index % 3 == 0 { "a-x" } else { "a" }.into(),
                    name: format!("p{index}"),
                    node_name: (node < NODES + 1).then(|| format!("n{node}").into()),
                    phase,
                    pod_eni_request: request,
                    app_eni_request: app,
                    annotation,
                    created_at: Some(t(-4000).into()),
                    scheduled_at: (extra == 1).then(|| t(-3900).into()),
                    sandbox_seen_at: sandbox.then(|| t(-3500).into()),
                    completed_at: finished
                        .filter(|_| phase.is_terminal())
                        .map(|ago| t(-ago).into()),
                    unschedulable: (extra == 2).then(|| {
                        Box::new(SchedulingFailure {
                            since: Some(t(-100)),
                            message: "0/5 nodes are available".into(),
                        })
                    }),
                    rare: (extra == 3).then(|| {
                        Box::new(RareFields {
                            request_problem: Some("1.5".into()),
                            ..RareFields::default()
                        })
                    }),
                    ..PodInfo::default()
                }
            },
        )
}

fn annotation(enis: &[usize]) -> EniAnnotation {
    EniAnnotation::Present {
        eni_ids: enis.iter().map(|e| format!("eni-{e}").into()).collect(),
        problem: None,
    }
}

/// Trunks on some instances; each branch absent or present, associated or detached,
/// placed by trunk tag, by instance tag or by neither; sometimes listed twice.
fn inventory() -> impl Strategy<Value = Inventory> {
    (
        prop::collection::vec(any::<bool>(), 4),
        prop::collection::vec(prop::option::of((0..5u8, 0..4usize, any::<bool>())), ENIS),
        any::<bool>(),
    )
        .prop_map(|(trunks, branches, duplicate)| {
            let mut enis: Vec<Eni> = (0..4)
                .filter(|&i| trunks[i])
                .map(|i| Eni {
                    id: format!("eni-trunk-{i}").into(),
                    interface_type: Some("trunk".into()),
                    attached_instance_id: Some(format!("i-{i}").into()),
                    ..Eni::default()
                })
                .collect();
            for (index, branch) in branches.into_iter().enumerate() {
                let Some((how, instance, subnet)) = branch else {
                    continue;
                };
                enis.push(Eni {
                    id: format!("eni-{index}").into(),
                    interface_type: Some("branch".into()),
                    status: Some(if how == 0 { "available" } else { "in-use" }.into()),
                    subnet_id: Some(if subnet { "subnet-a" } else { "subnet-b" }.into()),
                    trunk_eni_tag: (how <= 2).then(|| format!("eni-trunk-{instance}").into()),
                    instance_id_tag: (how == 3).then(|| format!("i-{instance}").into()),
                    ..Eni::default()
                });
            }
            if duplicate && let Some(last) = enis.last().cloned() {
                enis.push(last);
            }
            let subnet = |id: &str, cidr: &str| Subnet {
                id: id.into(),
                cidr_block: Some(cidr.into()),
                available_ip_addresses: 20,
                ..Subnet::default()
            };
            Inventory {
                enis,
                subnets: vec![
                    subnet("subnet-a", "10.0.0.0/27"),
                    subnet("subnet-b", "fd00::/64"),
                ],
            }
        })
}

#[derive(Debug, Clone)]
enum Step {
    Node(NodeInfo),
    RemoveNode(usize),
    Pod(PodInfo),
    RemovePod(usize),
    Poll(Inventory),
    /// A poll that finds the inventory unchanged: only the clock moves.
    Repoll,
    /// The clock moves on this many seconds.
    Tick(i64),
    /// The Kubernetes view stops (or resumes) being current.
    KubeStale(bool),
    Publish,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => node().prop_map(Step::Node),
        1 => (0..NODES).prop_map(Step::RemoveNode),
        6 => pod().prop_map(Step::Pod),
        2 => (0..PODS).prop_map(Step::RemovePod),
        2 => inventory().prop_map(Step::Poll),
        2 => Just(Step::Repoll),
        2 => (1..700i64).prop_map(Step::Tick),
        1 => any::<bool>().prop_map(Step::KubeStale),
        4 => Just(Step::Publish),
    ]
}

fn settings() -> Settings {
    Settings {
        completed_grace: Duration::from_secs(180),
        orphan_grace: Duration::from_secs(1380),
    }
}

/// The inputs as the full join sees them.
#[derive(Default)]
struct World {
    nodes: BTreeMap<String, Arc<NodeInfo>>,
    pods: BTreeMap<String, Arc<PodInfo>>,
    inventory: Option<Arc<Inventory>>,
    now: i64,
    polled_at: i64,
    stale_since: Option<i64>,
}

impl World {
    fn clock(&self) -> Clock {
        Clock {
            ec2_polled_at: t(self.polled_at),
            kube_fresh_until: t(self.stale_since.unwrap_or(self.now)),
        }
    }
}

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let settings = settings();
    let mut world = World::default();
    let mut join = Join::default();
    let mut oracle: Option<Snapshot> = None;
    for (at, step) in steps.into_iter().enumerate() {
        match step {
            Step::Node(node) => {
                let node = Arc::new(node);
                world.nodes.insert(node.name.clone(), node.clone());
                join.upsert_node(node);
            }
            Step::RemoveNode(index) => {
                let name = format!("n{index}");
                world.nodes.remove(&name);
                join.remove_node(&name);
            }
            Step::Pod(pod) => {
                let pod = Arc::new(pod);
                world.pods.insert(pod.key(), pod.clone());
                join.upsert_pod(pod);
            }
            Step::RemovePod(index) => {
                for namespace in ["a", "a-x"] {
                    let key = format!("{namespace}/p{index}");
                    world.pods.remove(&key);
                    join.remove_pod(&key);
                }
            }
            Step::Poll(inventory) => {
                let inventory = Arc::new(inventory);
                world.polled_at = world.now;
                world.inventory = Some(inventory.clone());
                join.set_inventory(inventory);
            }
            Step::Repoll => {
                if let Some(inventory) = &world.inventory {
                    let inventory = Arc::new(Inventory::clone(inventory));
                    world.polled_at = world.now;
                    world.inventory = Some(inventory.clone());
                    join.set_inventory(inventory);
                }
            }
            Step::Tick(seconds) => world.now += seconds,
            Step::KubeStale(stale) => {
                world.stale_since = stale.then_some(world.stale_since.unwrap_or(world.now));
            }
            Step::Publish => {
                // Like the live loop: nothing is published before the first poll.
                let Some(inventory) = &world.inventory else {
                    continue;
                };
                let clock = world.clock();
                let expected = reconcile(
                    world.nodes.values().map(|n| &**n),
                    world.pods.values().map(|p| &**p),
                    inventory,
                    clock,
                    oracle.as_ref(),
                    &settings,
                );
                // The join keeps its carry; the snapshot it publishes has none.
                let published = join.publish(clock, &settings);
                prop_assert_eq!(&published.carry, &Carry::default());
                let got = Snapshot {
                    carry: join.carry().clone(),
                    ..published
                };
                prop_assert_eq!(&got, &expected, "publish at step {}", at);
                oracle = Some(expected);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_publish_equals_the_full_join(steps in prop::collection::vec(step(), 1..60)) {
        run(steps)?;
    }
}

/// Node `name` on `instance`: Linux, m5.large, 9 slots advertised.
fn node_on(name: &str, instance: &str) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        compute: Compute::Ec2 {
            instance_id: instance.into(),
        },
        instance_type: Some("m5.large".into()),
        zone: None,
        allocatable_pod_eni: Ok(Some(9)),
        os: Some("linux".into()),
        nodegroup: None,
        unschedulable: false,
    }
}

/// Pod `a/name` on n0, asking for one slot and naming `eni-N`.
fn pod_on_n0(name: &str, phase: PodPhase, eni: usize) -> PodInfo {
    PodInfo {
        namespace: "a".into(),
        name: name.into(),
        node_name: Some("n0".into()),
        phase,
        pod_eni_request: 1,
        app_eni_request: 1,
        annotation: annotation(&[eni]),
        sandbox_seen_at: Some(t(-3500).into()),
        ..PodInfo::default()
    }
}

/// A trunk on i-0 with these branches (`eni-N`) associated to it.
fn trunk_with(branches: &[usize]) -> Inventory {
    let mut enis = vec![Eni {
        id: "eni-trunk-0".into(),
        interface_type: Some("trunk".into()),
        attached_instance_id: Some("i-0".into()),
        ..Eni::default()
    }];
    enis.extend(branches.iter().map(|b| Eni {
        id: format!("eni-{b}").into(),
        interface_type: Some("branch".into()),
        status: Some("in-use".into()),
        trunk_eni_tag: Some("eni-trunk-0".into()),
        ..Eni::default()
    }));
    Inventory {
        enis,
        subnets: Vec::new(),
    }
}

/// The shapes the property test is there for, spelled out: a completion, an ENI that
/// vanishes from a poll, a node that appears after its pods, each published once.
#[test]
fn a_completion_a_vanished_eni_and_a_late_node_publish_as_the_full_join_does() {
    let steps = vec![
        Step::Pod(pod_on_n0("p0", PodPhase::Running, 0)),
        Step::Pod(pod_on_n0("p1", PodPhase::Running, 1)),
        Step::Poll(trunk_with(&[0, 1])),
        Step::Publish,
        Step::Node(node_on("n0", "i-0")),
        Step::Publish,
        Step::Tick(30),
        Step::Pod(pod_on_n0("p0", PodPhase::Succeeded, 0)),
        Step::Publish,
        Step::Tick(30),
        Step::Poll(trunk_with(&[0])),
        Step::Publish,
        Step::Tick(400),
        Step::Repoll,
        Step::Publish,
    ];
    run(steps).expect("every publish equals the full join");
}

/// A completed pod's leaked ENI that the controller's pod resync would still have
/// freed, then past it: only `forgotten` changes, with no event.
#[test]
fn a_leak_becomes_forgotten_with_time_alone() {
    let pod = PodInfo {
        completed_at: Some(t(0).into()),
        ..pod_on_n0("job", PodPhase::Succeeded, 0)
    };
    let forgotten_after = settings().forgotten_after().as_secs() as i64;
    let steps = vec![
        Step::Node(node_on("n0", "i-0")),
        Step::Pod(pod),
        Step::Tick(400),
        Step::Poll(trunk_with(&[0])),
        Step::Publish,
        // The clock is the older source's: it moves with the next poll.
        Step::Tick(forgotten_after),
        Step::Repoll,
        Step::Publish,
    ];
    run(steps).expect("every publish equals the full join");
}

/// Two Node objects for one instance: the first by name is reported; when it goes, the
/// other takes over without an event of its own.
#[test]
fn a_node_that_takes_over_its_instance_is_reported() {
    let steps = vec![
        Step::Node(node_on("n0", "i-0")),
        Step::Node(node_on("n4", "i-0")),
        Step::Poll(Inventory::default()),
        Step::Publish,
        Step::RemoveNode(0),
        Step::Publish,
    ];
    run(steps).expect("every publish equals the full join");
}
