//! The live loop: Kubernetes watchers and a paced EC2 poll feed the incremental join,
//! which publishes after each EC2 poll and after Kubernetes changes (debounced), never
//! per scrape. A publish recomputes only the nodes the changes touched, so a pod event
//! reaches `/metrics` within the debounce plus a few milliseconds at any cluster size.
//!
//! Safety rules from DESIGN §4–§5: nothing is reconciled before the Kubernetes cache has
//! synced and EC2 has been polled once; the join is told the time up to which *both*
//! sources are known good, so an outage freezes ENI ages instead of turning ENIs
//! `leaked`; while a source is down the last inventory and snapshot keep being served.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;

use kube::Client;

use crate::accounting::{Clock, DEFAULT_BRANCH_ENI_COOLDOWN, GraceOverrides, Join, Settings};
use crate::ec2::Ec2Poller;
use crate::k8s::{Changes, CooldownSetting, KubeShared, read_cooldown};
use tracing::Instrument;

use crate::lock;
use crate::metrics::{Metrics, SharedSnapshot, Source};
use crate::model::{Inventory, NodeInfo, PodInfo};
use crate::source::warning_log::WarningLog;

/// Kubernetes events arrive in bursts (a rollout touches many pods): wait this long
/// after the first before publishing, to publish once for the burst. It bounds how
/// often a busy cluster is published, and so the join's CPU (BENCHMARKS.md, "Envelope").
const DEBOUNCE: Duration = Duration::from_millis(500);
/// Longest wait between polls while EC2 keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often the controller's cool-down setting is re-read: it rarely changes, and a
/// change only moves the graces by the difference.
const COOLDOWN_REFRESH: Duration = Duration::from_secs(300);

struct Polled {
    inventory: Arc<Inventory>,
    /// When the poll that produced it started: EC2 is known good up to here.
    at: Timestamp,
}

pub struct Live {
    kube: Arc<KubeShared>,
    ec2: Ec2Poller,
    poll_interval: Duration,
    grace: GraceOverrides,
    /// The controller's cool-down as last read from the cluster.
    cooldown: Mutex<Duration>,
    inventory: Mutex<Option<Arc<Polled>>>,
    ec2_polled: AtomicBool,
    /// Only the join task publishes; the lock is held for one publish at a time.
    join: Mutex<Join>,
    snapshot: SharedSnapshot,
    metrics: Metrics,
    warnings: WarningLog,
}

impl Live {
    pub fn new(
        kube: Arc<KubeShared>,
        ec2: Ec2Poller,
        poll_interval: Duration,
        grace: GraceOverrides,
        snapshot: SharedSnapshot,
        metrics: Metrics,
    ) -> Self {
        Self {
            kube,
            ec2,
            poll_interval,
            grace,
            cooldown: Mutex::new(DEFAULT_BRANCH_ENI_COOLDOWN),
            inventory: Mutex::new(None),
            ec2_polled: AtomicBool::new(false),
            join: Mutex::new(Join::default()),
            snapshot,
            warnings: WarningLog::new(metrics.clone()),
            metrics,
        }
    }

    /// Starts the live loop's tasks, each in a span of its own: the Kubernetes watchers,
    /// the EC2 poller, the join on change, and the cool-down follower. `readiness` says
    /// when its figures can be served.
    pub fn start(self, client: Client) -> Arc<Self> {
        let live = Arc::new(self);
        let spawn = |name: &'static str,
                     task: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>| {
            tokio::spawn(task.instrument(tracing::info_span!("live", task = name)));
        };
        let (watched, metrics) = (live.kube.clone(), live.metrics.clone());
        tokio::spawn(crate::k8s::run_watchers(client.clone(), watched, metrics));
        let follower = live.clone();
        spawn(
            "cooldown",
            Box::pin(async move { follower.follow_cooldown(client).await }),
        );
        let poller = live.clone();
        spawn("ec2", Box::pin(async move { poller.poll_ec2().await }));
        spawn("join", Box::pin(live.clone().reconcile_on_change()));
        live
    }

    /// `/readyz`: the first Kubernetes sync and the first EC2 poll are done, and no watch
    /// is failing.
    pub fn readiness(&self) -> Result<(), String> {
        let mut missing = Vec::new();
        if !self.kube.cache().is_synced() {
            missing.push("Kubernetes initial sync".to_owned());
        }
        if !self.ec2_polled.load(Ordering::Relaxed) {
            missing.push("first EC2 poll".to_owned());
        }
        // A watch that keeps failing (a Role without `watch`, an outage) leaves figures
        // that silently go stale: not ready, and say why.
        self.kube.fresh_until(Timestamp::now());
        missing.extend(self.kube.failing());
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing.join(", "))
        }
    }

    /// Polls EC2 forever: every interval while it works, backing off with jitter while
    /// it fails (the last inventory is kept meanwhile).
    pub async fn poll_ec2(&self) {
        let mut failures = 0u32;
        loop {
            let started = Timestamp::now();
            match self.ec2.poll().await {
                Ok(inventory) => {
                    // The first poll at INFO (readiness waits for it), the rest at debug;
                    // a poll after failures says it worked again.
                    let (enis, subnets) = (inventory.enis.len(), inventory.subnets.len());
                    if !self.ec2_polled.load(Ordering::Relaxed) {
                        tracing::info!(enis, subnets, "first EC2 poll done");
                    } else if failures > 0 {
                        tracing::info!(enis, subnets, failures, "EC2 poll working again");
                    } else {
                        tracing::debug!(enis, subnets, "EC2 polled");
                    }
                    failures = 0;
                    *lock(&self.inventory) = Some(Arc::new(Polled {
                        inventory: Arc::new(inventory),
                        at: started,
                    }));
                    self.ec2_polled.store(true, Ordering::Relaxed);
                    self.metrics
                        .health
                        .succeeded(Source::Ec2, unix_seconds(Timestamp::now()));
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(%error, failures, "EC2 poll failed; keeping the last inventory");
                    self.metrics.health.set_up(Source::Ec2, false);
                }
            }
            self.kube.changed.notify_one();
            let delay = next_poll_delay(self.poll_interval, failures, rand::random::<f64>());
            tokio::time::sleep(delay).await;
        }
    }

    /// Follows `branch-eni-cooldown` in kube-system/amazon-vpc-cni, unless the flag set
    /// it. Reading it needs the optional Role; without it the default is assumed.
    pub async fn follow_cooldown(&self, client: Client) {
        if self.grace.cooldown.is_some() {
            return;
        }
        let mut last_problem: Option<String> = None;
        loop {
            let (cooldown, problem) = match read_cooldown(&client).await {
                Ok(setting) => {
                    let problem = match &setting {
                        CooldownSetting::Invalid(raw) => Some(format!(
                            "branch-eni-cooldown {raw:?} is not a number of seconds"
                        )),
                        _ => None,
                    };
                    (setting.cooldown(), problem)
                }
                Err(error) => (
                    DEFAULT_BRANCH_ENI_COOLDOWN,
                    Some(format!("cannot read kube-system/amazon-vpc-cni: {error}")),
                ),
            };
            if problem != last_problem {
                if let Some(problem) = &problem {
                    tracing::info!(%problem, "assuming the controller's default 60 s branch ENI cool-down");
                }
                last_problem = problem;
            }
            let previous = std::mem::replace(&mut *lock(&self.cooldown), cooldown);
            if previous != cooldown {
                tracing::info!(cooldown = ?cooldown, settings = ?self.settings(), "branch ENI cool-down changed; leak graces follow");
            }
            tokio::time::sleep(COOLDOWN_REFRESH).await;
        }
    }

    fn settings(&self) -> Settings {
        self.grace
            .settings(*lock(&self.cooldown), self.poll_interval)
    }

    /// Publishes after every change signal, debounced. The join runs on a blocking
    /// thread: the runtime's threads stay free for scrapes and watch events whatever
    /// a publish costs (an EC2 poll's diff is the largest).
    pub async fn reconcile_on_change(self: Arc<Self>) {
        loop {
            self.kube.changed.notified().await;
            tokio::time::sleep(DEBOUNCE).await;
            let live = self.clone();
            if let Err(error) =
                tokio::task::spawn_blocking(move || live.reconcile_now(Timestamp::now())).await
            {
                // A panic in the join: the last snapshot keeps being served, and the
                // next change tries again.
                tracing::error!(%error, "reconcile failed");
            }
        }
    }

    /// Hands the join what changed since the last call and publishes; returns false
    /// when a source has not delivered yet (nothing is published then). The cache lock
    /// is held only to take the changes, never for the join.
    pub fn reconcile_now(&self, now: Timestamp) -> bool {
        let Some(polled) = lock(&self.inventory).clone() else {
            return false;
        };
        let kube_fresh_until = self.kube.fresh_until(now);
        let kube_healthy = kube_fresh_until == now;
        let clock = Clock {
            ec2_polled_at: polled.at,
            kube_fresh_until,
        };
        let settings = self.settings();
        let (nodes, pods) = {
            let mut cache = self.kube.cache();
            if !cache.is_synced() {
                return false;
            }
            (cache.nodes.take_changes(), cache.pods.take_changes())
        };
        let started = std::time::Instant::now();
        let snapshot = {
            let mut join = lock(&self.join);
            follow(&mut join, nodes, pods);
            join.set_inventory(polled.inventory.clone());
            join.publish(clock, &settings)
        };
        self.metrics
            .reconcile_duration(started.elapsed().as_secs_f64());
        if kube_healthy {
            self.metrics
                .health
                .succeeded(Source::Kubernetes, unix_seconds(now));
        } else {
            self.metrics.health.set_up(Source::Kubernetes, false);
        }
        self.warnings.report(&snapshot.warnings);
        self.snapshot.set(Arc::new(snapshot));
        true
    }
}

/// Applies the cache's changes to the join.
fn follow(join: &mut Join, nodes: Changes<NodeInfo>, pods: Changes<PodInfo>) {
    match nodes {
        Changes::All(nodes) => join.replace_nodes(nodes),
        Changes::Keys(changed) => {
            for (name, node) in changed {
                match node {
                    Some(node) => join.upsert_node(node),
                    None => join.remove_node(&name),
                }
            }
        }
    }
    match pods {
        Changes::All(pods) => join.replace_pods(pods),
        Changes::Keys(changed) => {
            for (key, pod) in changed {
                match pod {
                    Some(pod) => join.upsert_pod(pod),
                    None => join.remove_pod(&key),
                }
            }
        }
    }
}

pub fn unix_seconds(time: Timestamp) -> f64 {
    time.as_millisecond() as f64 / 1000.0
}

/// The wait before the next poll: the interval while polls succeed; after failures,
/// exponential backoff (capped) with jitter in [50 %, 100 %], so many exporters that
/// failed together do not retry together. `jitter` is uniform in [0, 1).
pub fn next_poll_delay(interval: Duration, failures: u32, jitter: f64) -> Duration {
    if failures == 0 {
        return interval;
    }
    let cap = MAX_BACKOFF.max(interval);
    let backoff = interval
        .checked_mul(1u32 << failures.min(16))
        .unwrap_or(cap)
        .min(cap);
    backoff.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_delay_backs_off_with_jitter_and_a_cap() {
        let interval = Duration::from_secs(30);
        assert_eq!(next_poll_delay(interval, 0, 0.9), interval);
        assert_eq!(next_poll_delay(interval, 1, 1.0), Duration::from_secs(60));
        assert_eq!(next_poll_delay(interval, 1, 0.0), Duration::from_secs(30));
        assert_eq!(next_poll_delay(interval, 2, 1.0), Duration::from_secs(120));
        assert_eq!(next_poll_delay(interval, 10, 1.0), MAX_BACKOFF);
        assert_eq!(next_poll_delay(interval, u32::MAX, 1.0), MAX_BACKOFF);
        let long = Duration::from_secs(600);
        assert_eq!(
            next_poll_delay(long, 3, 1.0),
            long,
            "the cap never shortens the interval"
        );
    }
}
