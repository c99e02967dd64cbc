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
//! - a completion it missed is never caught while the pod exists (stuck until deletion);
//! - before v1.1.0 a completed pod keeps its ENI until the pod is deleted.
//!
//! The exporter side is modelled as `src/live.rs` runs it: watch events arrive 0–5 s
//! late (held during an API outage, then a re-list), EC2 polls every 30 s take 1–8 s,
//! may fail and back off, and see each ENI at some moment of the poll; the real
//! `reconcile` runs after every poll and every 10 s with the previous snapshot and the
//! same clock rule. Time is simulated seconds; nothing reads the wall clock.
//!
//! Truth is kept per ENI: when (if ever) it became stuck, i.e. something the controller
//! will not free by itself, and the time and rule its release was due by. The checks
//! compare every snapshot with it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use pod_eni_exporter::accounting::{Clock, EniState, Settings, Snapshot, reconcile};
use pod_eni_exporter::live::next_poll_delay;
use pod_eni_exporter::model::{
    Compute, Eni, EniAnnotation, Inventory, NodeInfo, Owner, PodInfo, PodPhase,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const POLL_INTERVAL: u64 = 30;
const COOLDOWN: u64 = 60;
const QUEUE_PERIOD: u64 = 30;
const RECONCILE_EVERY: u64 = 10;
const MAX_WATCH_DELAY: u64 = 5;
const MAX_POLL_DURATION: u64 = 8;
const MAX_NODE_RECONCILE: u64 = 15 * 60;
const MAX_NODE_STATUS_PERIOD: u64 = 5 * 60;

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
}

pub const PROFILES: [Profile; 6] = [
    Profile {
        name: "steady",
        controller: Controller::Current,
        steady_pods: 260,
        burst_pods: 0,
        burst_every: 0,
        recycle_every: 3600,
        api_outages: false,
        ec2_outages: false,
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
    },
];

/// Fault rates, the same for every profile.
const P_DELETE_DROPPED: f64 = 0.004;
const P_MISSED_DELETE: f64 = 0.02;
const P_MISSED_COMPLETION: f64 = 0.01;
const P_ENI_DELETED_UNDER_POD: f64 = 0.002;
const P_POLL_FAILS: f64 = 0.03;
const P_NO_FINISH_TIME: f64 = 0.1;
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
    pub false_leaked: u64,
    pub missed_leaks: u64,
    /// Leaks reported once and then no longer, while the ENI was still attached.
    pub unheld_leaks: u64,
    pub false_missing: u64,
    pub missed_missing: u64,
    pub conservation_violations: u64,
    pub real_leaks: u64,
    pub missing_injected: u64,
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
            + self.conservation_violations
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

struct Pod {
    namespace: &'static str,
    name: String,
    kind: Kind,
    node: usize,
    phase: PodPhase,
    created: u64,
    eni: Option<usize>,
    annotated: Option<u64>,
    started: Option<u64>,
    finished: Option<u64>,
    report_finish_time: bool,
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
    inventory: Inventory,
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
    snapshot: Option<Snapshot>,
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
        };
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

    fn pod_info(&self, index: usize) -> PodInfo {
        let pod = &self.pods[index];
        PodInfo {
            namespace: pod.namespace.into(),
            name: pod.name.clone(),
            node_name: Some(self.nodes[pod.node].name.clone()),
            phase: pod.phase,
            pod_eni_request: 1,
            app_eni_request: 1,
            terminating: false,
            request_problem: None,
            annotation: match (pod.annotated, pod.eni) {
                (Some(_), Some(eni)) => EniAnnotation::Present {
                    eni_ids: vec![self.enis[eni].id.as_str().into()],
                    problem: None,
                },
                _ => EniAnnotation::Absent,
            },
            owner: Some(Owner {
                kind: match pod.kind {
                    Kind::Job => "Job",
                    Kind::Deployment => "ReplicaSet",
                }
                .into(),
                name: pod.name.as_str().into(),
            }),
            created_at: Some(time(pod.created)),
            scheduled_at: Some(time(pod.created)),
            sandbox_seen_at: pod.started.map(time),
            completed_at: pod.finished.filter(|_| pod.report_finish_time).map(time),
            reason: None,
            unschedulable: None,
        }
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
                let run = self.rng.random_range(20..180);
                self.create_pod(Kind::Job, "jobs", run);
            }
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

    /// The scheduler's view: requests of non-terminal pods, which is why it places pods
    /// on nodes whose trunk is full of released-but-not-yet-deleted ENIs.
    fn schedule(&mut self) -> Option<usize> {
        let mut requested = vec![0u32; self.nodes.len()];
        for pod in self.pods.iter().filter(|p| p.live()) {
            requested[pod.node] += 1;
        }
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| {
                let node = &self.nodes[n];
                node.alive && node.draining_since.is_none() && requested[n] < node.capacity
            })
            .collect();
        (!candidates.is_empty()).then(|| candidates[self.rng.random_range(0..candidates.len())])
    }

    fn create_pod(&mut self, kind: Kind, namespace: &'static str, run_for: u64) {
        let Some(node) = self.schedule() else {
            return;
        };
        let index = self.pods.len();
        self.created_pods += 1;
        let (complete_at, delete_at) = match kind {
            Kind::Deployment => (None, Some(self.now + run_for)),
            Kind::Job => (Some(self.now + run_for), None),
        };
        self.pods.push(Pod {
            namespace,
            name: format!("{namespace}-{index}"),
            kind,
            node,
            phase: PodPhase::Pending,
            created: self.now,
            eni: None,
            annotated: None,
            started: None,
            finished: None,
            report_finish_time: !self.rng.random_bool(P_NO_FINISH_TIME),
            deleted: None,
            seen_finished: false,
            next_create_try: self.now + 1,
            annotate_at: None,
            start_at: None,
            complete_at,
            delete_at,
        });
        self.pod_changed(index);
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
            if self.pods[index].node == node && self.pods[index].deleted.is_none() {
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
            if pod.phase == PodPhase::Pending && pod.eni.is_none() && pod.next_create_try <= now {
                self.try_create_eni(index);
            }
            let pod = &self.pods[index];
            if pod.annotate_at == Some(now) {
                self.pods[index].annotated = Some(now);
                self.pods[index].start_at = Some(now + self.rng.random_range(1..6));
                self.pod_changed(index);
            }
            let pod = &self.pods[index];
            if pod.start_at == Some(now) && pod.phase == PodPhase::Pending {
                self.pods[index].phase = PodPhase::Running;
                self.pods[index].started = Some(now);
                self.pod_changed(index);
            }
            let pod = &self.pods[index];
            if pod.complete_at.is_some_and(|at| at <= now) && pod.phase == PodPhase::Running {
                self.complete_pod(index);
            }
            let pod = &self.pods[index];
            if pod.delete_at.is_some_and(|at| at <= now) && pod.deleted.is_none() {
                self.delete_pod(index);
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
        let node_index = self.pods[pod_index].node;
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

    fn complete_pod(&mut self, index: usize) {
        let started = self.pods[index].started.unwrap_or(self.now);
        let finished = (self.now - self.rng.random_range(0..3)).max(started);
        let pod = &mut self.pods[index];
        pod.phase = if index.is_multiple_of(7) {
            PodPhase::Failed
        } else {
            PodPhase::Succeeded
        };
        pod.finished = Some(finished);
        // Jobs: some set ttlSecondsAfterFinished, some are deleted by CI later, some
        // stay in the Job history for an hour.
        let cleanup = match self.rng.random_range(0..10) {
            0..=4 => self.rng.random_range(0..240),
            5..=7 => self.rng.random_range(300..900),
            _ => 3600,
        };
        pod.delete_at = Some(self.now + cleanup);
        self.pod_changed(index);
        let Some(eni) = self.pods[index].eni else {
            return;
        };
        self.enis[eni].due = Some((finished, Basis::Completed));
        let node = self.pods[index].node;
        let released = self.profile.controller == Controller::Current
            && !self.rng.random_bool(P_MISSED_COMPLETION);
        if released {
            self.release(node, eni);
        } else if self.enis[eni].gone.is_none() {
            // Not freed until someone deletes the pod.
            self.enis[eni].stuck_since = Some(finished);
        }
    }

    fn delete_pod(&mut self, index: usize) {
        self.pods[index].deleted = Some(self.now);
        self.pod_changed(index);
        let Some(eni) = self.pods[index].eni else {
            return;
        };
        let node = self.pods[index].node;
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
        // Someone deletes a running pod's ENI; the pod is restarted ten minutes later.
        if self.rng.random_bool(P_ENI_DELETED_UNDER_POD) {
            let running: Vec<usize> = (0..self.pods.len())
                .filter(|&p| {
                    let pod = &self.pods[p];
                    pod.live() && pod.phase == PodPhase::Running
                })
                .collect();
            if !running.is_empty() {
                let pod = running[self.rng.random_range(0..running.len())];
                if let Some(eni) = self.pods[pod].eni.filter(|&e| self.enis[e].gone.is_none()) {
                    self.enis[eni].gone = Some(now);
                    self.enis[eni].deleted_under_pod = Some(now);
                    self.report.missing_injected += 1;
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
            return;
        }
        while let Some(entry) = self.events.first_entry() {
            if entry.key().0 > now {
                break;
            }
            match entry.remove() {
                Event::Pod(index, Some(info)) => {
                    self.view_pods.insert(index, info);
                }
                Event::Pod(index, None) => {
                    self.view_pods.remove(&index);
                }
                Event::Node(index, Some(info)) => {
                    self.view_nodes.insert(index, info);
                }
                Event::Node(index, None) => {
                    self.view_nodes.remove(&index);
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
        let snapshot = reconcile(
            self.view_nodes.values(),
            self.view_pods.values(),
            &polled.inventory,
            clock,
            self.snapshot.as_ref(),
            &self.settings,
        );
        self.report.reconciles += 1;
        for (&index, pod) in &self.view_pods {
            if pod.phase.is_terminal() {
                self.pods[index].seen_finished = true;
            }
        }
        self.check(now, &snapshot);
        self.snapshot = Some(snapshot);
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
                            "  pod {} kind {} phase {:?} created {} annotated {:?} started {:?} finished {:?} deleted {:?} node {} draining {:?}",
                            p.name,
                            p.kind == Kind::Job,
                            p.phase,
                            p.created,
                            p.annotated,
                            p.started,
                            p.finished,
                            p.deleted,
                            p.node,
                            self.nodes[p.node].draining_since
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
        report
    }
}
