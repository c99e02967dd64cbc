//! What the watchers share with the loop: the compact cache, each watched resource's
//! health (when its failures began, what they said), and the signal that something
//! changed. The resources themselves are named here, once.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use kube::runtime::watcher;
use tokio::sync::Notify;

use super::cache::ClusterCache;
use crate::lock;

/// After a watch error, the source counts as healthy again once an event arrives, or
/// once this long passes with no further error: more than two retry delays, so a
/// persisting failure never looks healed.
const QUIET_AFTER_ERROR: Duration = Duration::from_secs(25);

/// Health of one watched resource.
#[derive(Debug, Default, Clone)]
struct WatchHealth {
    last_error: Option<Timestamp>,
    /// First error of the current failure streak: the cache is known good up to here.
    failing_since: Option<Timestamp>,
    /// What the last error said (a missing permission names itself here).
    last_message: Option<String>,
}

impl WatchHealth {
    /// Ends a failure streak (an event arrived, or the errors stopped long enough ago),
    /// saying so once.
    fn heal(&mut self, resource: Resource, now: Timestamp) {
        if let Some(since) = self.failing_since.take() {
            let down = now.duration_since(since);
            tracing::info!(resource = resource.as_str(), down_for = %format!("{:.0}s", down.as_secs_f64()), "watch working again");
        }
    }
}

/// What the watchers share with the loop.
#[derive(Debug, Default)]
pub struct KubeShared {
    cache: Mutex<ClusterCache>,
    health: Mutex<[WatchHealth; 2]>,
    /// Wakes the reconcile loop: the watchers signal each applied change, the EC2
    /// poller each finished poll.
    pub changed: Notify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Pods = 0,
    Nodes = 1,
}

impl Resource {
    /// In the order of `KubeShared::health`.
    pub const ALL: [Resource; 2] = [Resource::Pods, Resource::Nodes];

    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Pods => "pods",
            Resource::Nodes => "nodes",
        }
    }
}

impl KubeShared {
    pub fn cache(&self) -> MutexGuard<'_, ClusterCache> {
        lock(&self.cache)
    }

    fn health(&self) -> MutexGuard<'_, [WatchHealth; 2]> {
        lock(&self.health)
    }

    /// The time up to which the cache is known to match the API server: `now` while
    /// every watch is healthy, else when the current failure started. The loop passes
    /// it to the join so a broken watch freezes ENI ages instead of aging them.
    pub fn fresh_until(&self, now: Timestamp) -> Timestamp {
        let quiet = jiff::SignedDuration::try_from(QUIET_AFTER_ERROR).unwrap_or_default();
        let mut fresh = now;
        for (resource, health) in Resource::ALL.into_iter().zip(self.health().iter_mut()) {
            if health
                .last_error
                .is_some_and(|last| now.duration_since(last) >= quiet)
            {
                health.heal(resource, now);
            }
            if let Some(since) = health.failing_since {
                fresh = fresh.min(since);
            }
        }
        fresh
    }

    /// The watches failing now, each with when it started and its last error: why the
    /// figures are stale, for `/readyz`.
    pub fn failing(&self) -> Vec<String> {
        Resource::ALL
            .into_iter()
            .zip(self.health().iter())
            .filter_map(|(resource, health)| {
                let since = health.failing_since?;
                Some(format!(
                    "watch of {} failing since {since}: {}",
                    resource.as_str(),
                    health.last_message.as_deref().unwrap_or("unknown error")
                ))
            })
            .collect()
    }

    pub fn is_healthy(&self, now: Timestamp) -> bool {
        self.fresh_until(now) == now
    }

    /// Counts a failure; the first of a streak is logged with its cause, the rest only
    /// at debug level (kube retries every few seconds for as long as the outage lasts).
    pub(super) fn record_error(&self, resource: Resource, now: Timestamp, error: &watcher::Error) {
        let mut health = self.health();
        let entry = &mut health[resource as usize];
        entry.last_error = Some(now);
        entry.last_message = Some(error.to_string());
        if entry.failing_since.is_none() {
            entry.failing_since = Some(now);
            // The watcher's span names the resource.
            tracing::warn!(%error, "watch failed; serving the last view and retrying with backoff");
        } else {
            tracing::debug!(%error, "watch still failing");
        }
    }

    pub(super) fn record_success(&self, resource: Resource) {
        self.health()[resource as usize].heal(resource, Timestamp::now());
    }
}
