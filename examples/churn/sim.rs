//! A deterministic, seeded simulator of what the join sees on a cluster with security
//! groups for pods, and of the VPC resource controller's rules behind it
//! (aws/amazon-vpc-resource-controller-k8s):
//!
//! - a branch ENI is created for a scheduled pod when the trunk has room, and the pod is
//!   annotated a moment later (`pkg/provider/branch/trunk/trunk.go`);
//! - on completion (v1.1.0 and later, `controllers/core/pod_controller.go`) or deletion
//!   the ENI goes to the node's cool-down queue, processed every 30 s; a delete that
//!   fails three times is dropped and the ENI stays forever (a real leak);
//! - a deletion the controller missed is caught by node reconciliation, run on Node
//!   events, 1 min after start and backing off to 15 min (`pkg/node/manager`);
//! - a completion it missed is caught at its pod informer's 30-minute resync (`main.go`);
//! - before v1.1.0 a completed pod keeps its ENI until the pod is deleted.
//!
//! Pods end the ways real pods do, and the exporter reads them as the kubelet writes
//! them: each pod is rendered as Pod JSON (conditions keeping the time their status last
//! changed, container states, `lastState`, `ContainerStatusUnknown` without times) and
//! decoded by the exporter's own converter. Job pods complete, or are killed by their
//! `activeDeadlineSeconds` before or after their container started (a pod waiting for an
//! ENI on a full node); running pods are evicted, with or without `DisruptionTarget`,
//! their containers removed or not; a pod whose ENI was deleted under it crash-loops;
//! a pod the scheduler cannot place for want of a pod-eni slot waits unscheduled with
//! the scheduler's message until a node has room.
//!
//! The exporter side is modelled as `src/source/live.rs` runs it: watch events arrive 0–5 s
//! late (held during an API outage, then a re-list), EC2 polls every 30 s take 1–8 s,
//! may fail and back off, and see each ENI at some moment of the poll; the real
//! incremental `Join` is fed every delivered event and publishes after every poll and
//! every 10 s with the same clock rule, and each publish is compared with the full
//! `reconcile` over the same view (a difference is a failure). Time is simulated
//! seconds; nothing reads the wall clock.
//!
//! Truth is kept per ENI: when (if ever) it became stuck, i.e. something the controller
//! will not free by itself, and the time and rule its release was due by. The checks
//! compare every snapshot with it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use pod_eni_exporter::accounting::{Clock, EniState, Join, Settings, Snapshot, reconcile};
use pod_eni_exporter::k8s::{pod_info, wire};
use pod_eni_exporter::model::{Compute, Eni, Inventory, NodeInfo, PodInfo, PodPhase};
use pod_eni_exporter::source::live::next_poll_delay;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

const POLL_INTERVAL: u64 = 30;
const COOLDOWN: u64 = 60;
const QUEUE_PERIOD: u64 = 30;
const RECONCILE_EVERY: u64 = 10;
const MAX_WATCH_DELAY: u64 = 5;
const MAX_POLL_DURATION: u64 = 8;
const MAX_NODE_RECONCILE: u64 = 15 * 60;
const MAX_NODE_STATUS_PERIOD: u64 = 5 * 60;
const POD_RESYNC: u64 = 30 * 60;
/// How often the scheduler retries a pod it could not place.
const SCHEDULER_RETRY: u64 = 10;
/// The kubelet's crash-loop back-off cap.
const MAX_BACKOFF: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    /// v1.1.0 and later: releases at completion.
    Current,
    /// v1.0.x: releases only when the pod object is deleted.
    PreV110,
}

#[derive(Debug, Clone, Copy)]
pub struct Profile {
    pub name: &'static str,
    pub controller: Controller,
    /// Pods kept running by Deployments.
    pub steady_pods: usize,
    /// Job pods started together every `burst_every` seconds (the incident's CronJobs).
    pub burst_pods: usize,
    pub burst_every: u64,
    /// A node is drained and replaced this often.
    pub recycle_every: u64,
    /// A 10-minute outage of this source every hour.
    pub api_outages: bool,
    pub ec2_outages: bool,
    /// Running pods evicted per simulated hour.
    pub evictions_per_hour: f64,
    /// `activeDeadlineSeconds` of Job pods.
    pub job_deadline: u64,
}

pub const PROFILES: [Profile; 8] = [
    Profile {
        name: "steady",
        controller: Controller::Current,
        steady_pods: 260,
        burst_pods: 0,
        burst_every: 0,
        recycle_every: 3600,
        api_outages: false,
        ec2_outages: false,
        evictions_per_hour: 4.0,
        job_deadline: 300,
    },
    Profile {
        name: "cronjob-bursts",
        controller: Controller::Current,
        steady_pods: 150,
        burst_pods: 40,
        burst_every: 300,
        recycle_every: 3600,
        api_outages: false,
        ec2_outages: false,
        evictions_per_hour: 4.0,
        job_deadline: 300,
    },
    Profile {
        name: "node-scale-in",
        controller: Controller::Current,
        steady_pods: 200,
        burst_pods: 20,
        burst_every: 600,
        recycle_every: 180,
        api_outages: false,
        ec2_outages: false,
        evictions_per_hour: 4.0,
        job_deadline: 300,
    },
    Profile {
        name: "api-outage",
        controller: Controller::Current,
        steady_pods: 180,
        burst_pods: 30,
        burst_every: 300,
        recycle_every: 1800,
        api_outages: true,
        ec2_outages: false,
        evictions_per_hour: 4.0,
        job_deadline: 300,
    },
    Profile {
        name: "ec2-outage",
        controller: Controller::Current,
        steady_pods: 180,
        burst_pods: 30,
        burst_every: 300,
        recycle_every: 1800,
        api_outages: false,
        ec2_outages: true,
        evictions_per_hour: 4.0,
        job_deadline: 300,
    },
    Profile {
        name: "pre-v1.1.0",
        controller: Controller::PreV110,
        steady_pods: 150,
        burst_pods: 40,
        burst_every: 300,
        recycle_every: 3600,
        api_outages: false,
        ec2_outages: false,
        evictions_per_hour: 4.0,
        job_deadline: 300,
    },
    Profile {
        name: "evictions",
        controller: Controller::Current,
        steady_pods: 200,
        burst_pods: 30,
        burst_every: 300,
        recycle_every: 1800,
        api_outages: false,
        ec2_outages: false,
        evictions_per_hour: 90.0,
        job_deadline: 120,
    },
    Profile {
        name: "full-cluster",
        controller: Controller::Current,
        steady_pods: 320,
        burst_pods: 40,
        burst_every: 300,
        recycle_every: 1800,
        api_outages: false,
        ec2_outages: false,
        evictions_per_hour: 12.0,
        job_deadline: 240,
    },
];

/// Fault rates, the same for every profile.
const P_DELETE_DROPPED: f64 = 0.004;
const P_MISSED_DELETE: f64 = 0.02;
const P_MISSED_COMPLETION: f64 = 0.01;
const P_ENI_DELETED_UNDER_POD: f64 = 0.002;
const P_POLL_FAILS: f64 = 0.03;
/// An evicted pod's containers were removed before its final status: no finish time.
const P_EVICTED_CONTAINERS_REMOVED: f64 = 0.7;
const P_EVICTION_DISRUPTION_TARGET: f64 = 0.5;
/// A Job pod that gets its ENI but whose container never starts.
const P_NEVER_STARTS: f64 = 0.05;
/// An evicted pod that had failed its readiness probe a while before.
const P_UNREADY_BEFORE_EVICTION: f64 = 0.5;
/// A kubelet before 1.27 leaves a never-started container `waiting` at the end.
const P_OLD_KUBELET: f64 = 0.3;
const P_RELIST_PER_SECOND: f64 = 1.0 / 3600.0;
const NODES: usize = 24;

#[derive(Debug, Default, serde::Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub profile: &'static str,
    pub seed: u64,
    pub lifecycles: u64,
    pub simulated_hours: f64,
    pub reconciles: u64,
    /// Publishes of the incremental join that differ from the full join's snapshot.
    pub join_mismatches: u64,
    pub false_leaked: u64,
    pub missed_leaks: u64,
    /// Leaks reported once and then no longer, while the ENI was still attached.
    pub unheld_leaks: u64,
    pub false_missing: u64,
    pub missed_missing: u64,
    /// Pods listed unschedulable that were not, or not listed in time when they were.
    pub false_unschedulable: u64,
    pub missed_unschedulable: u64,
    /// Leaked ENIs called forgotten that the controller was still going to free.
    pub false_forgotten: u64,
    pub conservation_violations: u64,
    pub real_leaks: u64,
    pub missing_injected: u64,
    /// The pod shapes generated.
    pub evictions: u64,
    pub evictions_without_finish_time: u64,
    pub deadline_kills_before_start: u64,
    pub deadline_kills_after_start: u64,
    pub crash_loops: u64,
    pub unschedulable_pods: u64,
    /// From the time the release was due to start (completion or deletion) to the
    /// first `leaked` report.
    pub detection_latency_s: Latency,
}

impl Report {
    pub fn failures(&self) -> u64 {
        self.false_leaked
            + self.missed_leaks
            + self.unheld_leaks
            + self.false_missing
            + self.missed_missing
            + self.false_unschedulable
            + self.missed_unschedulable
            + self.false_forgotten
            + self.conservation_violations
            + self.join_mismatches
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Basis {
    Completed,
    Orphan,
}

struct Node {
    name: String,
    instance: String,
    trunk: String,
    capacity: u32,
    alive: bool,
    /// When the node is drained (pods deleted) and when it is gone.
    draining_since: Option<u64>,
    queue_phase: u64,
    next_reconcile: u64,
    reconcile_interval: u64,
    next_status_event: u64,
    /// The controller's ledger: ENIs it tracks as in use, by ENI index → pod index.
    ledger: HashMap<usize, usize>,
    queue: Vec<(usize, u64)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Deployment,
    Job,
}

/// How a pod's container ended, as the kubelet reports it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// `terminated` with the runtime's `finishedAt`.
    Finished(u64),
    /// The status manager's `ContainerStatusUnknown`: no times at all.
    StatusUnknown,
    /// Never started, left `waiting` (kubelets before 1.27).
    StillWaiting,
}

/// A container restarting after its network vanished.
#[derive(Clone, Copy)]
struct CrashLoop {
    restarts: u32,
    last_start: u64,
    last_finish: u64,
    next_restart: u64,
}

struct Pod {
    namespace: &'static str,
    name: String,
    kind: Kind,
    /// `None` while the scheduler finds no node for it.
    node: Option<usize>,
    unschedulable_since: Option<u64>,
    /// What the scheduler wrote when it gave up on the pod.
    unschedulable_message: Option<String>,
    scheduled: Option<u64>,
    phase: PodPhase,
    created: u64,
    eni: Option<usize>,
    annotated: Option<u64>,
    started: Option<u64>,
    /// When the phase turned Succeeded/Failed: the controller releases then.
    finished: Option<u64>,
    end: Option<End>,
    reason: Option<&'static str>,
    disruption_target: Option<u64>,
    crash: Option<CrashLoop>,
    /// The `Ready` and `PodReadyToStartContainers` conditions: status and the time the
    /// kubelet last changed it (kept while the status is unchanged).
    ready: (bool, u64),
    sandbox: (bool, u64),
    deadline: Option<u64>,
    /// How long a Job's container runs once started.
    run_for: u64,
    deleted: Option<u64>,
    /// Whether any join saw it finished: one that completed and was deleted between
    /// two joins (or inside an API outage) looks like any deleted pod.
    seen_finished: bool,
    // Scheduled actions.
    next_create_try: u64,
    annotate_at: Option<u64>,
    start_at: Option<u64>,
    complete_at: Option<u64>,
    delete_at: Option<u64>,
}

impl Pod {
    fn live(&self) -> bool {
        self.deleted.is_none() && !self.phase.is_terminal()
    }
}

struct TruthEni {
    id: String,
    node: usize,
    pod: usize,
    created: u64,
    gone: Option<u64>,
    /// When it became something the controller will not free by itself.
    stuck_since: Option<u64>,
    /// When its release was due to start, and which rule applies.
    due: Option<(u64, Basis)>,
    deleted_under_pod: Option<u64>,
    first_reported_leaked: Option<u64>,
}

impl TruthEni {
    fn present_at(&self, time: u64) -> bool {
        self.created <= time && self.gone.is_none_or(|gone| gone > time)
    }
}

struct Polled {
    inventory: Arc<Inventory>,
    started: u64,
}

struct Sim {
    profile: Profile,
    rng: StdRng,
    now: u64,
    nodes: Vec<Node>,
    pods: Vec<Pod>,
    enis: Vec<TruthEni>,
    created_pods: u64,
    // Exporter side.
    view_pods: HashMap<usize, PodInfo>,
    view_nodes: BTreeMap<usize, NodeInfo>,
    /// (deliver at, sequence) → the object as it was.
    events: BTreeMap<(u64, u64), Event>,
    sequence: u64,
    last_delivery: HashMap<Key, u64>,
    api_down_since: Option<u64>,
    api_down_until: u64,
    next_poll: u64,
    poll_failures: u32,
    inventory: Option<Polled>,
    in_flight: Option<(u64, u64, Option<Inventory>)>,
    /// The full join's last snapshot, carried into the next as the live loop used to.
    snapshot: Option<Snapshot>,
    join: Join,
    down_windows: Vec<(u64, u64)>,
    ec2_down_since: Option<u64>,
    settings: Settings,
    report: Report,
    latencies: Vec<u64>,
    false_leaked: HashSet<usize>,
    missed: HashSet<usize>,
    unheld: HashSet<usize>,
    false_missing: HashSet<usize>,
    missed_missing: HashSet<usize>,
    false_unschedulable: HashSet<usize>,
    missed_unschedulable: HashSet<usize>,
    false_forgotten: HashSet<usize>,
    /// When the controller's pod informer resyncs (seconds past the hour's half-hour).
    resync_phase: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Pod(usize),
    Node(usize),
}

enum Event {
    Pod(usize, Option<PodInfo>),
    Node(usize, Option<NodeInfo>),
}

pub fn run(profile: Profile, seed: u64, lifecycles: u64) -> Report {
    let mut sim = Sim::new(profile, seed);
    while sim.created_pods < lifecycles {
        sim.tick();
    }
    // Let every pod finish and every release and leak age past its grace.
    let end = sim.now + 3600;
    sim.profile.steady_pods = 0;
    sim.profile.burst_pods = 0;
    while sim.now < end {
        sim.tick();
    }
    sim.finish(seed)
}

fn time(seconds: u64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds as i64).expect("valid time")
}

fn stamp(seconds: u64) -> String {
    time(seconds).to_string()
}

impl Sim {
    fn new(profile: Profile, seed: u64) -> Self {
        let settings = Settings::from_controller(
            Duration::from_secs(COOLDOWN),
            Duration::from_secs(POLL_INTERVAL),
        );
        let mut sim = Sim {
            profile,
            rng: StdRng::seed_from_u64(seed),
            now: 0,
            nodes: Vec::new(),
            pods: Vec::new(),
            enis: Vec::new(),
            created_pods: 0,
            view_pods: HashMap::new(),
            view_nodes: BTreeMap::new(),
            join: Join::default(),
            events: BTreeMap::new(),
            sequence: 0,
            last_delivery: HashMap::new(),
            api_down_since: None,
            api_down_until: 0,
            next_poll: 5,
            poll_failures: 0,
            inventory: None,
            in_flight: None,
            snapshot: None,
            down_windows: Vec::new(),
            ec2_down_since: None,
            settings,
            report: Report {
                profile: profile.name,
                ..Report::default()
            },
            latencies: Vec::new(),
            false_leaked: HashSet::new(),
            missed: HashSet::new(),
            unheld: HashSet::new(),
            false_missing: HashSet::new(),
            missed_missing: HashSet::new(),
            false_unschedulable: HashSet::new(),
            missed_unschedulable: HashSet::new(),
            false_forgotten: HashSet::new(),
            resync_phase: 0,
        };
        sim.resync_phase = sim.rng.random_range(0..POD_RESYNC);
        for _ in 0..NODES {
            sim.add_node();
        }
        sim
    }

    fn add_node(&mut self) {
        let index = self.nodes.len();
        let capacity = if index.is_multiple_of(2) { 18 } else { 9 };
        let node = Node {
            name: format!("ip-10-0-{}-{}.sim.internal", index / 250, index % 250),
            instance: format!("i-{index:017x}"),
            trunk: format!("eni-{:017x}", 0xf000_0000_0000u64 + index as u64),
            capacity,
            alive: true,
            draining_since: None,
            queue_phase: self.rng.random_range(0..QUEUE_PERIOD),
            next_reconcile: self.now + 60,
            reconcile_interval: 60,
            next_status_event: self.now + self.rng.random_range(10..MAX_NODE_STATUS_PERIOD),
            ledger: HashMap::new(),
            queue: Vec::new(),
        };
        self.nodes.push(node);
        let info = self.node_info(index);
        self.emit(Key::Node(index), Event::Node(index, Some(info)));
    }

    /// A watch event for the exporter, delivered 0–5 s late, in order per object.
    fn emit(&mut self, key: Key, event: Event) {
        let delay = self.rng.random_range(0..=MAX_WATCH_DELAY);
        let at = (self.now + delay).max(self.last_delivery.get(&key).copied().unwrap_or(0));
        self.last_delivery.insert(key, at);
        self.sequence += 1;
        self.events.insert((at, self.sequence), event);
    }

    /// The pod as the API server serves it, through the exporter's own converter.
    fn pod_info(&self, index: usize) -> PodInfo {
        let object: wire::Pod =
            serde_json::from_value(self.pod_json(index)).expect("the simulator writes valid Pods");
        pod_info(&object)
    }

    fn pod_json(&self, index: usize) -> Value {
        let pod = &self.pods[index];
        let (owner_kind, api_version) = match pod.kind {
            Kind::Job => ("Job", "batch/v1"),
            Kind::Deployment => ("ReplicaSet", "apps/v1"),
        };
        let mut metadata = json!({
            "name": pod.name, "namespace": pod.namespace,
            "creationTimestamp": stamp(pod.created),
            "ownerReferences": [{"apiVersion": api_version, "kind": owner_kind,
                "name": pod.name, "uid": format!("uid-{index}"), "controller": true}],
        });
        if let (Some(_), Some(eni)) = (pod.annotated, pod.eni) {
            metadata["annotations"] = json!({"vpc.amazonaws.com/pod-eni": format!(
                r#"[{{"eniId":"{}","ifAddress":"02:00:00:00:00:01","privateIp":"10.0.0.1","vlanId":1,"subnetCidr":"10.0.0.0/16"}}]"#,
                self.enis[eni].id
            )});
        }
        let one = json!({"vpc.amazonaws.com/pod-eni": "1"});
        let mut spec = json!({
            "containers": [{"name": "app", "resources": {"limits": one, "requests": one}}],
            "restartPolicy": if pod.kind == Kind::Job { "Never" } else { "Always" },
        });
        if let Some(node) = pod.node {
            spec["nodeName"] = json!(self.nodes[node].name);
        }
        if pod.deadline.is_some() {
            spec["activeDeadlineSeconds"] = json!(self.profile.job_deadline);
        }
        json!({"kind": "Pod", "metadata": metadata, "spec": spec, "status": self.pod_status(pod)})
    }

    /// The status as the kubelet (and, for an unscheduled pod, the scheduler) writes it.
    fn pod_status(&self, pod: &Pod) -> Value {
        let phase = match pod.phase {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        };
        let condition = |kind: &str, status: bool, at: u64| {
            json!({"type": kind, "status": if status { "True" } else { "False" },
                "lastProbeTime": null, "lastTransitionTime": stamp(at)})
        };
        let Some(scheduled) = pod.scheduled else {
            let mut unschedulable = condition(
                "PodScheduled",
                false,
                pod.unschedulable_since.unwrap_or(pod.created),
            );
            unschedulable["reason"] = json!("Unschedulable");
            unschedulable["message"] = json!(pod.unschedulable_message);
            return json!({"phase": "Pending", "conditions": [unschedulable]});
        };
        let mut conditions = vec![
            condition("PodScheduled", true, scheduled),
            condition("Initialized", true, scheduled),
            condition("Ready", pod.ready.0, pod.ready.1),
            condition("ContainersReady", pod.ready.0, pod.ready.1),
            condition("PodReadyToStartContainers", pod.sandbox.0, pod.sandbox.1),
        ];
        if let Some(at) = pod.disruption_target {
            let mut target = condition("DisruptionTarget", true, at);
            target["reason"] = json!("TerminationByKubelet");
            conditions.push(target);
        }
        let ran = |started: u64, finished: u64| {
            json!({"terminated": {"exitCode": 1, "reason": "Error",
                "startedAt": stamp(started), "finishedAt": stamp(finished)}})
        };
        let last_state = pod
            .crash
            .map_or(json!({}), |crash| ran(crash.last_start, crash.last_finish));
        let state = match (pod.end, pod.crash, pod.started) {
            (Some(End::Finished(finished)), _, started) => json!({"terminated": {
                "exitCode": if pod.phase == PodPhase::Succeeded { 0 } else { 137 },
                "startedAt": stamp(started.unwrap_or(finished)), "finishedAt": stamp(finished)}}),
            (Some(End::StatusUnknown), _, _) => json!({"terminated": {"exitCode": 137,
                "reason": "ContainerStatusUnknown",
                "message": "The container could not be located when the pod was terminated"}}),
            (Some(End::StillWaiting), _, _) | (None, None, None) => {
                json!({"waiting": {"reason": "ContainerCreating"}})
            }
            (None, Some(_), _) => json!({"waiting": {"reason": "CrashLoopBackOff"}}),
            (None, None, Some(started)) => json!({"running": {"startedAt": stamp(started)}}),
        };
        let mut status = json!({
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": [{"name": "app", "ready": pod.ready.0,
                "restartCount": pod.crash.map_or(0, |c| c.restarts),
                "state": state, "lastState": last_state}],
        });
        if let Some(reason) = pod.reason {
            status["reason"] = json!(reason);
        }
        status
    }

    /// What the scheduler says when no node has a pod-eni slot left.
    fn scheduler_message(&self) -> String {
        let requested = self.requested_per_node();
        let alive = self.nodes.iter().filter(|n| n.alive).count();
        let cordoned = self
            .nodes
            .iter()
            .filter(|n| n.alive && n.draining_since.is_some())
            .count();
        let full = (0..self.nodes.len())
            .filter(|&n| {
                let node = &self.nodes[n];
                node.alive && node.draining_since.is_none() && requested[n] >= node.capacity
            })
            .count();
        let mut reasons = Vec::new();
        if full > 0 {
            reasons.push(format!("{full} Insufficient vpc.amazonaws.com/pod-eni"));
        }
        if cordoned > 0 {
            reasons.push(format!("{cordoned} node(s) were unschedulable"));
        }
        format!(
            "0/{alive} nodes are available: {}. preemption: 0/{alive} nodes are available: {alive} No preemption victims found for incoming pod.",
            reasons.join(", ")
        )
    }

    fn pod_changed(&mut self, index: usize) {
        let info = (self.pods[index].deleted.is_none()).then(|| self.pod_info(index));
        self.emit(Key::Pod(index), Event::Pod(index, info));
    }

    fn tick(&mut self) {
        self.now += 1;
        self.workload();
        self.controller();
        self.faults();
        self.exporter();
    }

    // ---- The cluster: workload and scheduler ----

    fn workload(&mut self) {
        let live_steady = self
            .pods
            .iter()
            .filter(|p| p.kind == Kind::Deployment && p.deleted.is_none())
            .count();
        if live_steady < self.profile.steady_pods && self.rng.random_bool(0.5) {
            let life = self.rng.random_range(180..1200);
            self.create_pod(Kind::Deployment, "shop", life);
        }
        if self.profile.burst_every > 0 && self.now.is_multiple_of(self.profile.burst_every) {
            for _ in 0..self.profile.burst_pods {
                // Most Jobs finish well within their deadline; some run past it.
                let run = if self.rng.random_bool(0.1) {
                    self.rng
                        .random_range(self.profile.job_deadline / 2..self.profile.job_deadline * 2)
                } else {
                    self.rng.random_range(20..180)
                };
                self.create_pod(Kind::Job, "jobs", run);
            }
        }
        if self.now.is_multiple_of(SCHEDULER_RETRY) {
            self.retry_unscheduled();
        }
        if self.now.is_multiple_of(self.profile.recycle_every) {
            self.start_drain();
        }
        for index in 0..self.nodes.len() {
            let node = &self.nodes[index];
            if node.alive
                && node
                    .draining_since
                    .is_some_and(|since| self.now == since + 120)
            {
                self.remove_node(index);
            }
        }
    }

    fn requested_per_node(&self) -> Vec<u32> {
        let mut requested = vec![0u32; self.nodes.len()];
        for pod in self.pods.iter().filter(|p| p.live()) {
            if let Some(node) = pod.node {
                requested[node] += 1;
            }
        }
        requested
    }

    /// The scheduler's view: requests of non-terminal pods, which is why it places pods
    /// on nodes whose trunk is full of released-but-not-yet-deleted ENIs.
    fn schedule(&mut self) -> Option<usize> {
        let requested = self.requested_per_node();
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| {
                let node = &self.nodes[n];
                node.alive && node.draining_since.is_none() && requested[n] < node.capacity
            })
            .collect();
        (!candidates.is_empty()).then(|| candidates[self.rng.random_range(0..candidates.len())])
    }

    fn create_pod(&mut self, kind: Kind, namespace: &'static str, run_for: u64) {
        let index = self.pods.len();
        self.created_pods += 1;
        let delete_at = (kind == Kind::Deployment).then_some(self.now + run_for);
        self.pods.push(Pod {
            namespace,
            name: format!("{namespace}-{index}"),
            kind,
            node: None,
            unschedulable_since: None,
            unschedulable_message: None,
            scheduled: None,
            phase: PodPhase::Pending,
            created: self.now,
            eni: None,
            annotated: None,
            started: None,
            finished: None,
            end: None,
            reason: None,
            disruption_target: None,
            crash: None,
            ready: (false, self.now),
            sandbox: (false, self.now),
            deadline: None,
            run_for,
            deleted: None,
            seen_finished: false,
            next_create_try: self.now + 1,
            annotate_at: None,
            start_at: None,
            complete_at: None,
            delete_at,
        });
        match self.schedule() {
            Some(node) => self.bind(index, node),
            None => {
                // No node has a pod-eni slot in the scheduler's view: it says so on the pod.
                let message = self.scheduler_message();
                let pod = &mut self.pods[index];
                pod.unschedulable_since = Some(self.now);
                pod.unschedulable_message = Some(message);
                self.report.unschedulable_pods += 1;
                self.pod_changed(index);
            }
        }
    }

    fn bind(&mut self, index: usize, node: usize) {
        let now = self.now;
        let deadline = self.profile.job_deadline;
        let pod = &mut self.pods[index];
        pod.node = Some(node);
        pod.scheduled = Some(now);
        pod.ready = (false, now);
        pod.sandbox = (false, now);
        pod.next_create_try = now + 1;
        if pod.kind == Kind::Job {
            pod.deadline = Some(now + deadline);
        }
        self.pod_changed(index);
    }

    fn retry_unscheduled(&mut self) {
        for index in 0..self.pods.len() {
            let pod = &self.pods[index];
            if pod.node.is_some() || pod.deleted.is_some() {
                continue;
            }
            let Some(node) = self.schedule() else {
                return;
            };
            self.bind(index, node);
        }
    }

    fn start_drain(&mut self) {
        let alive: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| self.nodes[n].alive && self.nodes[n].draining_since.is_none())
            .collect();
        if alive.len() < 2 {
            return;
        }
        let node = alive[self.rng.random_range(0..alive.len())];
        self.nodes[node].draining_since = Some(self.now);
        for index in 0..self.pods.len() {
            if self.pods[index].node == Some(node) && self.pods[index].deleted.is_none() {
                self.delete_pod(index);
            }
        }
        self.add_node();
    }

    /// The node object is deleted and its instance terminated: the trunk goes with it,
    /// and the controller deletes the node's branches a minute later.
    fn remove_node(&mut self, node: usize) {
        self.nodes[node].alive = false;
        self.emit(Key::Node(node), Event::Node(node, None));
        let gone = self.now + 60;
        for eni in self
            .enis
            .iter_mut()
            .filter(|e| e.node == node && e.gone.is_none())
        {
            eni.gone = Some(gone);
        }
    }

    // ---- The controller ----

    fn controller(&mut self) {
        let now = self.now;
        for index in 0..self.pods.len() {
            let pod = &self.pods[index];
            if pod.deleted.is_some() {
                continue;
            }
            if pod.phase == PodPhase::Pending
                && pod.node.is_some()
                && pod.eni.is_none()
                && pod.next_create_try <= now
            {
                self.try_create_eni(index);
            }
            let pod = &self.pods[index];
            if pod.annotate_at == Some(now) && pod.phase == PodPhase::Pending {
                // Some never start though their network is ready (an image that cannot
                // be pulled, a crash in an init step): a Job's deadline kills them
                // with their ENI annotated and Ready False since they were scheduled.
                let stuck = pod.kind == Kind::Job && self.rng.random_bool(P_NEVER_STARTS);
                self.pods[index].annotated = Some(now);
                self.pods[index].start_at = (!stuck).then(|| now + self.rng.random_range(1..6));
                self.pod_changed(index);
            }
            let pod = &self.pods[index];
            if pod.start_at == Some(now) && pod.phase == PodPhase::Pending {
                let pod = &mut self.pods[index];
                pod.phase = PodPhase::Running;
                pod.started = Some(now);
                pod.ready = (true, now);
                pod.sandbox = (true, now.saturating_sub(1));
                if pod.kind == Kind::Job {
                    pod.complete_at = Some(now + pod.run_for);
                }
                self.pod_changed(index);
            }
            self.kubelet(index);
            let pod = &self.pods[index];
            if pod.delete_at.is_some_and(|at| at <= now) && pod.deleted.is_none() {
                self.delete_pod(index);
            }
        }
        // The pod informer's resync: a completion the controller missed is seen now.
        if self.profile.controller == Controller::Current && now % POD_RESYNC == self.resync_phase {
            for index in 0..self.pods.len() {
                let pod = &self.pods[index];
                if let (true, None, Some(eni), Some(node)) =
                    (pod.phase.is_terminal(), pod.deleted, pod.eni, pod.node)
                {
                    self.release(node, eni);
                }
            }
        }
        for node in 0..self.nodes.len() {
            if !self.nodes[node].alive
                || self.nodes[node]
                    .draining_since
                    .is_some_and(|d| now > d + 120)
            {
                continue;
            }
            if now % QUEUE_PERIOD == self.nodes[node].queue_phase {
                self.process_queue(node);
            }
            if now >= self.nodes[node].next_status_event {
                self.nodes[node].next_status_event =
                    now + self.rng.random_range(10..MAX_NODE_STATUS_PERIOD);
                if now >= self.nodes[node].next_reconcile {
                    self.reconcile_node(node);
                }
            }
        }
    }

    /// The controller creates an ENI only when its ledger and queue leave room, and EC2
    /// refuses one beyond the trunk's limit; otherwise it retries after a cool-down.
    fn try_create_eni(&mut self, pod_index: usize) {
        let node_index = self.pods[pod_index].node.expect("only bound pods get ENIs");
        let node = &self.nodes[node_index];
        let ledger_used = (node.ledger.len() + node.queue.len()) as u32;
        let attached = self
            .enis
            .iter()
            .filter(|e| e.node == node_index && e.present_at(self.now))
            .count() as u32;
        if ledger_used >= node.capacity || attached >= node.capacity {
            self.pods[pod_index].next_create_try = self.now + COOLDOWN;
            return;
        }
        let eni = self.enis.len();
        self.enis.push(TruthEni {
            id: format!("eni-{eni:017x}"),
            node: node_index,
            pod: pod_index,
            created: self.now,
            gone: None,
            stuck_since: None,
            due: None,
            deleted_under_pod: None,
            first_reported_leaked: None,
        });
        self.nodes[node_index].ledger.insert(eni, pod_index);
        let pod = &mut self.pods[pod_index];
        pod.eni = Some(eni);
        pod.annotate_at = Some(self.now + self.rng.random_range(1..4));
    }

    /// What the kubelet does to a pod on its own: completes it, kills it at its
    /// `activeDeadlineSeconds`, restarts its crash-looping container.
    fn kubelet(&mut self, index: usize) {
        let now = self.now;
        let pod = &self.pods[index];
        if pod.phase.is_terminal() {
            return;
        }
        if pod.complete_at.is_some_and(|at| at <= now) && pod.phase == PodPhase::Running {
            let started = pod.started.unwrap_or(now);
            let finished = (now - self.rng.random_range(0..3)).max(started);
            let phase = if index.is_multiple_of(7) {
                PodPhase::Failed
            } else {
                PodPhase::Succeeded
            };
            self.finish_pod(index, phase, End::Finished(finished), None);
            return;
        }
        if pod.deadline.is_some_and(|at| at <= now) {
            if pod.phase == PodPhase::Running {
                // The kill is recorded: the container stopped now.
                self.report.deadline_kills_after_start += 1;
                self.finish_pod(
                    index,
                    PodPhase::Failed,
                    End::Finished(now),
                    Some("DeadlineExceeded"),
                );
            } else {
                // Killed while it waited (for its ENI, mostly): its container never ran.
                self.report.deadline_kills_before_start += 1;
                let end = if self.rng.random_bool(P_OLD_KUBELET) {
                    End::StillWaiting
                } else {
                    End::StatusUnknown
                };
                self.finish_pod(index, PodPhase::Failed, end, Some("DeadlineExceeded"));
            }
            return;
        }
        if let Some(mut crash) = pod.crash.filter(|c| c.next_restart <= now) {
            // Starts, finds no network, exits; the back-off doubles up to five minutes.
            crash.restarts += 1;
            crash.last_start = now.saturating_sub(2);
            crash.last_finish = now;
            crash.next_restart = now + (10u64 << crash.restarts.min(5)).min(MAX_BACKOFF);
            self.pods[index].crash = Some(crash);
            self.pod_changed(index);
        }
    }

    /// The pod turns Succeeded/Failed; the controller (v1.1.0 and later) releases its
    /// ENI when it sees that, unless it misses the event (then at its next resync).
    fn finish_pod(
        &mut self,
        index: usize,
        phase: PodPhase,
        end: End,
        reason: Option<&'static str>,
    ) {
        let now = self.now;
        let pod = &mut self.pods[index];
        pod.phase = phase;
        pod.end = Some(end);
        pod.reason = reason;
        pod.finished = Some(now);
        if pod.ready.0 {
            pod.ready = (false, now);
        }
        if pod.sandbox.0 {
            pod.sandbox = (false, now);
        }
        // Jobs: some set ttlSecondsAfterFinished, some are deleted by CI later, some
        // stay in the Job history for an hour; evicted pods wait for the pod GC.
        let cleanup = match self.rng.random_range(0..10) {
            0..=4 => self.rng.random_range(0..240),
            5..=7 => self.rng.random_range(300..900),
            _ => 3600,
        };
        let pod = &mut self.pods[index];
        pod.delete_at = Some(
            pod.delete_at
                .map_or(now + cleanup, |at| at.max(now + cleanup)),
        );
        self.pod_changed(index);
        let Some(eni) = self.pods[index].eni else {
            return;
        };
        // The release is due when the phase changed, whatever the status says of it.
        self.enis[eni].due = Some((now, Basis::Completed));
        let node = self.pods[index].node.expect("a pod with an ENI is bound");
        let released = self.profile.controller == Controller::Current
            && !self.rng.random_bool(P_MISSED_COMPLETION);
        if released {
            self.release(node, eni);
        } else if self.enis[eni].gone.is_none() {
            // Not freed on time: at the next resync, or when the pod is deleted.
            self.enis[eni].stuck_since = Some(now);
        }
    }

    /// A running pod evicted by the kubelet: phase Failed, reason Evicted, its container
    /// removed (no time recorded) or stopped, `DisruptionTarget` for some.
    fn evict(&mut self, index: usize) {
        let now = self.now;
        self.report.evictions += 1;
        // Under the pressure that evicts it, a pod often fails its readiness probe first:
        // its Ready condition then dates from then, not from the eviction.
        let pod = &self.pods[index];
        if let (true, Some(started)) = (pod.ready.0, pod.started)
            && now > started + 60
            && self.rng.random_bool(P_UNREADY_BEFORE_EVICTION)
        {
            let since = now - self.rng.random_range(60..=(now - started).min(1200));
            self.pods[index].ready = (false, since);
        }
        let end = if self.rng.random_bool(P_EVICTED_CONTAINERS_REMOVED) {
            self.report.evictions_without_finish_time += 1;
            End::StatusUnknown
        } else {
            End::Finished(now)
        };
        if self.rng.random_bool(P_EVICTION_DISRUPTION_TARGET) {
            self.pods[index].disruption_target = Some(now.saturating_sub(2));
        }
        self.pods[index].crash = None;
        self.finish_pod(index, PodPhase::Failed, end, Some("Evicted"));
    }

    fn delete_pod(&mut self, index: usize) {
        self.pods[index].deleted = Some(self.now);
        self.pod_changed(index);
        let (Some(eni), Some(node)) = (self.pods[index].eni, self.pods[index].node) else {
            return;
        };
        if self.enis[eni].due.is_none() {
            self.enis[eni].due = Some((self.now, Basis::Orphan));
        }
        if !self.nodes[node].ledger.contains_key(&eni) {
            return; // released at completion already, or dropped
        }
        if self.rng.random_bool(P_MISSED_DELETE) {
            return; // node reconciliation will find it
        }
        self.release(node, eni);
    }

    fn release(&mut self, node: usize, eni: usize) {
        if self.nodes[node].ledger.remove(&eni).is_some() {
            self.nodes[node].queue.push((eni, self.now));
        }
    }

    fn process_queue(&mut self, node: usize) {
        let now = self.now;
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.nodes[node].queue)
            .into_iter()
            .partition(|&(_, queued)| queued + COOLDOWN <= now);
        self.nodes[node].queue = waiting;
        for (eni, _) in due {
            let truth = &mut self.enis[eni];
            if truth.gone.is_some() {
                continue; // already deleted behind the controller's back: NotFound is success
            }
            if self.rng.random_bool(P_DELETE_DROPPED) {
                truth.stuck_since.get_or_insert(now);
            } else {
                truth.gone = Some(now + self.rng.random_range(0..3));
            }
        }
    }

    /// `CheckNodeForLeakedENIs`: ENIs in the ledger whose pod no longer exists.
    fn reconcile_node(&mut self, node: usize) {
        let lost: Vec<usize> = self.nodes[node]
            .ledger
            .iter()
            .filter(|&(_, &pod)| self.pods[pod].deleted.is_some())
            .map(|(&eni, _)| eni)
            .collect();
        let found = !lost.is_empty();
        for eni in lost {
            self.release(node, eni);
        }
        let state = &mut self.nodes[node];
        state.reconcile_interval = if found {
            60
        } else {
            let jittered = state.reconcile_interval as f64 * (1.0 + 5.0 * self.rng.random::<f64>());
            (jittered as u64).min(MAX_NODE_RECONCILE)
        };
        state.next_reconcile = self.now + state.reconcile_interval;
    }

    // ---- Faults ----

    fn faults(&mut self) {
        let now = self.now;
        let running = |sim: &Self, kind: Option<Kind>| -> Vec<usize> {
            (0..sim.pods.len())
                .filter(|&p| {
                    let pod = &sim.pods[p];
                    pod.live()
                        && pod.phase == PodPhase::Running
                        && kind.is_none_or(|k| pod.kind == k)
                })
                .collect()
        };
        if self
            .rng
            .random_bool(self.profile.evictions_per_hour / 3600.0)
        {
            let candidates = running(self, None);
            if !candidates.is_empty() {
                let pod = candidates[self.rng.random_range(0..candidates.len())];
                self.evict(pod);
            }
        }
        // Someone deletes a running pod's ENI: without its network it crash-loops, and
        // is restarted (deleted) ten minutes later.
        if self.rng.random_bool(P_ENI_DELETED_UNDER_POD) {
            let running = running(self, Some(Kind::Deployment));
            if !running.is_empty() {
                let pod = running[self.rng.random_range(0..running.len())];
                if let Some(eni) = self.pods[pod].eni.filter(|&e| self.enis[e].gone.is_none()) {
                    self.enis[eni].gone = Some(now);
                    self.enis[eni].deleted_under_pod = Some(now);
                    self.report.missing_injected += 1;
                    self.report.crash_loops += 1;
                    let started = self.pods[pod].started.unwrap_or(now);
                    self.pods[pod].crash = Some(CrashLoop {
                        restarts: 0,
                        last_start: started,
                        last_finish: now,
                        next_restart: now + 10,
                    });
                    self.pods[pod].ready = (false, now);
                    self.pod_changed(pod);
                    let restart = now + 600;
                    let at = self.pods[pod]
                        .delete_at
                        .map_or(restart, |at| at.min(restart).max(now + 1));
                    self.pods[pod].delete_at = Some(at);
                }
            }
        }
        let hour_offset = now % 3600;
        if self.profile.api_outages && hour_offset == 1800 {
            self.api_outage(now, 600);
        } else if self.rng.random_bool(P_RELIST_PER_SECOND) && self.api_down_since.is_none() {
            // A 410 Gone: the watch re-lists, which takes a few seconds.
            self.api_outage(now, 3);
        }
    }

    fn api_outage(&mut self, from: u64, seconds: u64) {
        if self.api_down_since.is_none() {
            self.api_down_since = Some(from);
            self.api_down_until = from + seconds;
        }
    }

    // ---- The exporter ----

    fn exporter(&mut self) {
        let now = self.now;
        self.deliver_events(now);
        self.poll_ec2(now);
        if now.is_multiple_of(RECONCILE_EVERY) {
            self.reconcile(now);
        }
    }

    fn deliver_events(&mut self, now: u64) {
        if let Some(since) = self.api_down_since {
            if now < self.api_down_until {
                return;
            }
            // Back: a re-list replaces the view with the cluster as it is now.
            self.down_windows.push((since, now));
            self.api_down_since = None;
            self.events.clear();
            self.last_delivery.clear();
            self.view_pods = (0..self.pods.len())
                .filter(|&p| self.pods[p].deleted.is_none())
                .map(|p| (p, self.pod_info(p)))
                .collect();
            self.view_nodes = (0..self.nodes.len())
                .filter(|&n| self.nodes[n].alive)
                .map(|n| (n, self.node_info(n)))
                .collect();
            let nodes = self.view_nodes.values().cloned().map(Arc::new);
            self.join.replace_nodes(nodes.collect());
            let pods = self.view_pods.values().cloned().map(Arc::new);
            self.join.replace_pods(pods.collect());
            return;
        }
        while let Some(entry) = self.events.first_entry() {
            if entry.key().0 > now {
                break;
            }
            match entry.remove() {
                Event::Pod(index, Some(info)) => {
                    self.join.upsert_pod(Arc::new(info.clone()));
                    self.view_pods.insert(index, info);
                }
                Event::Pod(index, None) => {
                    if let Some(gone) = self.view_pods.remove(&index) {
                        self.join.remove_pod(&gone.key());
                    }
                }
                Event::Node(index, Some(info)) => {
                    self.join.upsert_node(Arc::new(info.clone()));
                    self.view_nodes.insert(index, info);
                }
                Event::Node(index, None) => {
                    if let Some(gone) = self.view_nodes.remove(&index) {
                        self.join.remove_node(&gone.name);
                    }
                }
            }
        }
    }

    fn node_info(&self, index: usize) -> NodeInfo {
        let node = &self.nodes[index];
        NodeInfo {
            name: node.name.clone(),
            compute: Compute::Ec2 {
                instance_id: node.instance.clone(),
            },
            instance_type: Some(
                if node.capacity == 18 {
                    "m5a.xlarge"
                } else {
                    "m5.large"
                }
                .into(),
            ),
            zone: Some("eu-west-1a".into()),
            allocatable_pod_eni: Ok(Some(node.capacity)),
            os: Some("linux".into()),
            nodegroup: None,
            unschedulable: false,
        }
    }

    fn poll_ec2(&mut self, now: u64) {
        if let Some((started, ends, _)) = self.in_flight
            && ends == now
        {
            let (_, _, result) = self.in_flight.take().expect("in flight");
            match result {
                Some(inventory) => {
                    self.poll_failures = 0;
                    if let Some(since) = self.ec2_down_since.take() {
                        self.down_windows.push((since, started));
                    }
                    let inventory = Arc::new(inventory);
                    self.join.set_inventory(inventory.clone());
                    self.inventory = Some(Polled { inventory, started });
                }
                None => {
                    self.poll_failures += 1;
                    self.ec2_down_since.get_or_insert(started);
                }
            }
            let delay = next_poll_delay(
                Duration::from_secs(POLL_INTERVAL),
                self.poll_failures,
                self.rng.random::<f64>(),
            );
            self.next_poll = now + delay.as_secs().max(1);
            // The loop reconciles after every poll.
            self.reconcile(now);
        }
        if self.in_flight.is_none() && now >= self.next_poll {
            let duration = self.rng.random_range(1..=MAX_POLL_DURATION);
            let outage = self.profile.ec2_outages && now % 3600 >= 600 && now % 3600 < 1200;
            let result = (!outage && !self.rng.random_bool(P_POLL_FAILS))
                .then(|| self.observe_enis(now, now + duration));
            self.in_flight = Some((now, now + duration, result));
        }
    }

    /// What a paginated poll from `start` to `end` returns: each ENI as it was at some
    /// moment in between (its page's).
    fn observe_enis(&mut self, start: u64, end: u64) -> Inventory {
        let mut enis = Vec::new();
        for node in &self.nodes {
            let trunk_seen = node.alive
                || node
                    .draining_since
                    .is_some_and(|d| self.rng.random_range(start..=end) < d + 120);
            if trunk_seen {
                enis.push(Eni {
                    id: node.trunk.as_str().into(),
                    interface_type: Some("trunk".into()),
                    description: Some("aws-k8s-trunk-eni".into()),
                    status: Some("in-use".into()),
                    attached_instance_id: Some(node.instance.as_str().into()),
                    ..Eni::default()
                });
            }
        }
        for eni in &self.enis {
            if eni.gone.is_some_and(|gone| gone < start) {
                continue;
            }
            let moment = self.rng.random_range(start..=end);
            if eni.present_at(moment) {
                enis.push(Eni {
                    id: eni.id.as_str().into(),
                    interface_type: Some("branch".into()),
                    description: Some("aws-k8s-branch-eni".into()),
                    status: Some("in-use".into()),
                    trunk_eni_tag: Some(self.nodes[eni.node].trunk.as_str().into()),
                    ..Eni::default()
                });
            }
        }
        Inventory {
            enis,
            subnets: Vec::new(),
        }
    }

    fn reconcile(&mut self, now: u64) {
        let Some(polled) = &self.inventory else {
            return;
        };
        let kube_fresh_until = self.api_down_since.unwrap_or(now);
        let clock = Clock {
            ec2_polled_at: time(polled.started),
            kube_fresh_until: time(kube_fresh_until),
        };
        let full = reconcile(
            self.view_nodes.values(),
            self.view_pods.values(),
            &polled.inventory,
            clock,
            self.snapshot.as_ref(),
            &self.settings,
        );
        let snapshot = self.join.publish(clock, &self.settings);
        self.report.reconciles += 1;
        let carried = Snapshot {
            carry: self.join.carry().clone(),
            ..snapshot.clone()
        };
        if carried != full {
            self.report.join_mismatches += 1;
        }
        for (&index, pod) in &self.view_pods {
            if pod.phase.is_terminal() {
                self.pods[index].seen_finished = true;
            }
        }
        self.check(now, &snapshot);
        self.snapshot = Some(full);
    }

    /// How long outages between `from` and `to` held the exporter's clock back.
    fn outage_overlap(&self, from: u64, to: u64) -> u64 {
        let open = [self.api_down_since, self.ec2_down_since]
            .into_iter()
            .flatten()
            .map(|since| (since, to));
        self.down_windows
            .iter()
            .copied()
            .chain(open)
            .map(|(start, end)| end.min(to).saturating_sub(start.max(from)))
            .sum()
    }

    /// When something due at `due` after a `grace` must show, seen at `now`: two polls,
    /// one poll's duration and a watch delay later, plus however long outages since
    /// `due` held the clock back (an orphan's clock only starts once Kubernetes is seen).
    fn deadline(&self, due: u64, grace: u64, now: u64) -> u64 {
        due + grace
            + 2 * POLL_INTERVAL
            + MAX_POLL_DURATION
            + MAX_WATCH_DELAY
            + self.outage_overlap(due, now)
    }

    fn check(&mut self, now: u64, snapshot: &Snapshot) {
        let polled = self
            .inventory
            .as_ref()
            .expect("reconciled with an inventory");
        let eni_index = |id: &str| usize::from_str_radix(id.trim_start_matches("eni-"), 16).ok();

        // Conservation: every node's states add up to what EC2 has on its trunk, and
        // remaining follows from it.
        let mut on_trunk: HashMap<&str, u32> = HashMap::new();
        for eni in &polled.inventory.enis {
            if let Some(trunk) = eni.trunk_eni_tag.as_deref() {
                *on_trunk.entry(trunk).or_default() += 1;
            }
        }
        let mut waiting_need: HashMap<&str, u32> = HashMap::new();
        for pod in &snapshot.waiting_pods {
            *waiting_need.entry(pod.node.as_str()).or_default() += pod.enis_needed;
        }
        for node in &snapshot.nodes {
            let attached = node
                .trunk_eni_id
                .as_deref()
                .and_then(|trunk| on_trunk.get(trunk).copied())
                .unwrap_or(0);
            let states = node.branch_enis;
            let sum = states.in_use + states.completed_pod + states.orphaned + states.leaked;
            let need = waiting_need.get(node.name.as_str()).copied().unwrap_or(0);
            let remaining = node.capacity.map(|c| c.saturating_sub(attached + need));
            if sum != attached || node.attached() != attached || node.remaining != remaining {
                self.report.conservation_violations += 1;
            }
        }

        // Leaks: every `leaked` is a real one, every real one is reported in time and
        // stays reported while it is attached.
        let mut leaked_now = HashSet::new();
        for holder in snapshot
            .holders
            .iter()
            .filter(|h| h.state == EniState::Leaked)
        {
            let Some(index) = eni_index(&holder.eni_id) else {
                continue;
            };
            leaked_now.insert(index);
            let truth = &mut self.enis[index];
            if truth.stuck_since.is_none_or(|since| since > now) {
                if std::env::var_os("CHURN_DEBUG").is_some() && !self.false_leaked.contains(&index)
                {
                    eprintln!(
                        "false leak {} at {now}: created {} gone {:?} due {:?} since {:?} holder {:?}",
                        truth.id,
                        truth.created,
                        truth.gone,
                        truth.due.map(|d| d.0),
                        holder.since,
                        holder.pod.as_ref().map(|p| &p.name)
                    );
                    if let Some(p) = self.pods.iter().find(|p| p.eni == Some(index)) {
                        eprintln!(
                            "  pod {} kind {} phase {:?} created {} annotated {:?} started {:?} finished {:?} deleted {:?} node {:?} draining {:?}",
                            p.name,
                            p.kind == Kind::Job,
                            p.phase,
                            p.created,
                            p.annotated,
                            p.started,
                            p.finished,
                            p.deleted,
                            p.node,
                            p.node.map(|n| self.nodes[n].draining_since)
                        );
                    }
                }
                self.false_leaked.insert(index);
            } else if truth.first_reported_leaked.is_none() {
                truth.first_reported_leaked = Some(now);
                if let Some((due, _)) = truth.due {
                    self.latencies.push(now.saturating_sub(due));
                }
            }
        }
        let placed: HashSet<&str> = snapshot
            .nodes
            .iter()
            .filter_map(|n| n.trunk_eni_id.as_deref())
            .collect();
        for eni in &polled.inventory.enis {
            let Some(index) = eni.trunk_eni_tag.as_ref().and(eni_index(&eni.id)) else {
                continue;
            };
            if !placed.contains(eni.trunk_eni_tag.as_deref().unwrap_or_default()) {
                continue;
            }
            let truth = &self.enis[index];
            if truth.stuck_since.is_none() || leaked_now.contains(&index) {
                continue;
            }
            if truth.first_reported_leaked.is_some() {
                self.unheld.insert(index);
                continue;
            }
            let Some((mut due, mut basis)) = truth.due else {
                continue;
            };
            // A pod no join saw finished (it completed and was deleted between two
            // joins, or inside an API outage) leaves only an ENI named by no pod since
            // its deletion: the orphan's rule is all the exporter can apply.
            let pod = &self.pods[truth.pod];
            if let (Basis::Completed, false, Some(deleted)) =
                (basis, pod.seen_finished, pod.deleted)
            {
                (due, basis) = (deleted, Basis::Orphan);
            }
            let grace = match basis {
                Basis::Completed => self.settings.completed_grace,
                Basis::Orphan => self.settings.orphan_grace,
            };
            let deadline = self.deadline(due, grace.as_secs(), now);
            if now > deadline {
                if std::env::var_os("CHURN_DEBUG").is_some() && !self.missed.contains(&index) {
                    eprintln!(
                        "missed leak {} at {now}: due {due} {basis:?} stuck {:?} deadline {deadline} windows {:?}",
                        truth.id,
                        truth.stuck_since,
                        &self.down_windows[self.down_windows.len().saturating_sub(3)..]
                    );
                }
                self.missed.insert(index);
            }
        }

        // Forgotten: only what the controller no longer tracks (dropped after failed
        // deletes), never an ENI still in a ledger or a queue, which it will free (a
        // missed completion, at the resync). Controllers before v1.1.0 free completed
        // pods' ENIs at deletion: the remedy text is not for them.
        if self.profile.controller == Controller::Current {
            for holder in snapshot.holders.iter().filter(|h| h.forgotten) {
                let Some(index) = eni_index(&holder.eni_id) else {
                    continue;
                };
                let tracked = self.nodes.iter().any(|n| {
                    n.ledger.contains_key(&index) || n.queue.iter().any(|&(e, _)| e == index)
                });
                if tracked {
                    self.false_forgotten.insert(index);
                }
            }
        }

        // Unschedulable: listed exactly when the scheduler could not place the pod for
        // want of a pod-eni slot, give or take the watch delay.
        let listed_unschedulable: HashSet<&str> = snapshot
            .unschedulable_pods
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        for (index, pod) in self.pods.iter().enumerate() {
            let Some(since) = pod.unschedulable_since else {
                continue;
            };
            let names_pod_eni = pod
                .unschedulable_message
                .as_deref()
                .is_some_and(|m| m.contains("Insufficient vpc.amazonaws.com/pod-eni"));
            let ended = pod.scheduled.or(pod.deleted);
            let listed = listed_unschedulable.contains(pod.name.as_str());
            let is_now = names_pod_eni && ended.is_none();
            if listed && !is_now && ended.is_none_or(|at| now > self.deadline(at, 0, now)) {
                self.false_unschedulable.insert(index);
            }
            if !listed && is_now && now > self.deadline(since, 0, now) {
                self.missed_unschedulable.insert(index);
            }
        }
        for name in &listed_unschedulable {
            if !self
                .pods
                .iter()
                .any(|p| p.name == *name && p.unschedulable_since.is_some())
            {
                self.false_unschedulable.insert(usize::MAX);
            }
        }

        // Missing: listed exactly when a live pod's ENI was deleted under it.
        let listed: HashSet<(&str, &str)> = snapshot
            .missing_pods
            .iter()
            .map(|m| (m.namespace.as_str(), m.name.as_str()))
            .collect();
        for missing in &snapshot.missing_pods {
            let real = missing
                .eni_ids
                .iter()
                .all(|id| eni_index(id).is_some_and(|i| self.enis[i].deleted_under_pod.is_some()));
            if !real {
                self.false_missing.insert(
                    self.pods
                        .iter()
                        .position(|p| p.name == missing.name)
                        .unwrap_or(usize::MAX),
                );
            }
        }
        for (index, pod) in self.pods.iter().enumerate() {
            let Some(eni) = pod.eni else { continue };
            let Some(deleted) = self.enis[eni].deleted_under_pod else {
                continue;
            };
            let view_live = self
                .view_pods
                .get(&index)
                .is_some_and(|p| !p.phase.is_terminal());
            let deadline = self.deadline(deleted, 0, now);
            if pod.live()
                && view_live
                && now > deadline
                && !listed.contains(&(pod.namespace, pod.name.as_str()))
            {
                if std::env::var_os("CHURN_DEBUG").is_some()
                    && !self.missed_missing.contains(&index)
                {
                    eprintln!(
                        "missed missing {} at {now}: deleted {deleted} started {:?} polled {} fresh {:?} down {:?}",
                        pod.name,
                        pod.started,
                        polled.started,
                        self.api_down_since,
                        self.down_windows.last()
                    );
                }
                self.missed_missing.insert(index);
            }
        }
    }

    fn finish(mut self, seed: u64) -> Report {
        self.latencies.sort_unstable();
        let at = |q: f64| {
            let n = self.latencies.len();
            if n == 0 {
                0
            } else {
                self.latencies[((n as f64 - 1.0) * q).round() as usize]
            }
        };
        let mut report = self.report;
        report.detection_latency_s = Latency {
            p50: at(0.5),
            p99: at(0.99),
            max: self.latencies.last().copied().unwrap_or(0),
        };
        report.seed = seed;
        report.lifecycles = self.created_pods;
        report.simulated_hours = self.now as f64 / 3600.0;
        report.real_leaks = self.enis.iter().filter(|e| e.stuck_since.is_some()).count() as u64;
        report.false_leaked = self.false_leaked.len() as u64;
        report.missed_leaks = self.missed.len() as u64;
        report.unheld_leaks = self.unheld.len() as u64;
        report.false_missing = self.false_missing.len() as u64;
        report.missed_missing = self.missed_missing.len() as u64;
        report.false_unschedulable = self.false_unschedulable.len() as u64;
        report.missed_unschedulable = self.missed_unschedulable.len() as u64;
        report.false_forgotten = self.false_forgotten.len() as u64;
        report
    }
}
