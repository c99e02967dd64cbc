//! Publishes the [`crate::report::event_notes`] intents through the `events.k8s.io/v1` API: one Event
//! series per (object, reason), created once and then updated (`series.count`) instead
//! of created again; at most one write per object and reason per `min_interval`; and a
//! global write budget, so that a cluster-wide exhaustion cannot flood the API server.
//!
//! kube's `Recorder` is not used: it writes a node's Event into `default` with an empty
//! `regarding.namespace`, which API servers before 1.22 reject (a new-style Event about
//! a cluster-scoped object must live in `kube-system` there), and `kubectl describe node`
//! only finds Events whose `regarding.namespace` is empty.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};

use crate::metrics::{Metrics, SharedSnapshot};
use crate::report::event_notes::{Intent, Regarding};

pub const REPORTER: &str = "pod-eni-exporter";
/// Where Events about cluster-scoped objects (nodes) live.
const CLUSTER_EVENTS_NAMESPACE: &str = "kube-system";
/// A series not written for this long (or for two `min_interval`s, when longer) is over:
/// the next write starts a new Event (the API server keeps Events for an hour by default).
const SERIES_TTL: Duration = Duration::from_secs(6 * 60);

type Key = (Regarding, &'static str);

/// An Event already created, and how often it was observed.
struct Series {
    namespace: String,
    name: String,
    count: i32,
    written: Instant,
}

pub struct EventEmitter {
    client: Client,
    instance: String,
    min_interval: Duration,
    series: Mutex<HashMap<Key, Series>>,
    budget: DefaultDirectRateLimiter,
}

impl EventEmitter {
    /// `instance` tells replicas apart (the pod's name, when known).
    pub fn new(
        client: Client,
        instance: Option<String>,
        min_interval: Duration,
        writes_per_second: NonZeroU32,
    ) -> Self {
        Self {
            client,
            instance: instance.unwrap_or_else(|| REPORTER.to_owned()),
            min_interval,
            series: Mutex::new(HashMap::new()),
            budget: RateLimiter::direct(Quota::per_second(writes_per_second)),
        }
    }

    /// Publishes what is due; returns the writes made. An object written less than
    /// `min_interval` ago waits; past the budget, the rest waits for the next round.
    pub async fn emit(&self, intents: Vec<Intent>) -> usize {
        let ttl = SERIES_TTL.max(self.min_interval.saturating_mul(2));
        self.series()
            .retain(|_, series| series.written.elapsed() < ttl);
        let mut writes = 0;
        for intent in intents {
            let key = (intent.regarding.clone(), intent.reason);
            let due = self
                .series()
                .get(&key)
                .is_none_or(|series| series.written.elapsed() >= self.min_interval);
            if !due {
                continue;
            }
            if self.budget.check().is_err() {
                tracing::debug!("event write budget spent; the rest waits for the next round");
                break;
            }
            match self.publish(&key, intent.note).await {
                Ok(true) => writes += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, reason = intent.reason, "cannot publish an Event");
                    // Not retried in a tight loop: the next try is a min_interval away.
                    let mut series = self.series();
                    if let Some(series) = series.get_mut(&key) {
                        series.written = Instant::now();
                    }
                }
            }
        }
        writes
    }

    /// Creates the Event, or counts one more observation on its series. `Ok(false)`:
    /// its object is gone.
    async fn publish(&self, key: &Key, note: String) -> Result<bool, kube::Error> {
        let now = MicroTime(jiff::Timestamp::now());
        let existing = self
            .series()
            .get(key)
            .map(|s| (s.namespace.clone(), s.name.clone(), s.count));
        if let Some((namespace, name, count)) = existing {
            let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
            let update = Event {
                note: Some(note.clone()),
                series: Some(EventSeries {
                    count: count + 1,
                    last_observed_time: now.clone(),
                }),
                ..Default::default()
            };
            let patched = events
                .patch(&name, &PatchParams::default(), &Patch::Merge(&update))
                .await;
            match patched {
                Ok(_) => {
                    if let Some(series) = self.series().get_mut(key) {
                        series.count = count + 1;
                        series.written = Instant::now();
                    }
                    return Ok(true);
                }
                // Expired on the server (its TTL is an hour): start a new series.
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    self.series().remove(key);
                }
                Err(error) => return Err(error),
            }
        }
        let Some(regarding) = self.reference(&key.0).await else {
            return Ok(false);
        };
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| CLUSTER_EVENTS_NAMESPACE.to_owned());
        let object = regarding.name.clone().unwrap_or_default();
        let name = format!("{object}.{:x}", now.0.as_nanosecond());
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            event_time: Some(now),
            type_: Some("Warning".to_owned()),
            reason: Some(key.1.to_owned()),
            action: Some("Observe".to_owned()),
            note: Some(note),
            regarding: Some(regarding),
            reporting_controller: Some(REPORTER.to_owned()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        };
        let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        events.create(&PostParams::default(), &event).await?;
        self.series().insert(
            key.clone(),
            Series {
                namespace,
                name,
                count: 1,
                written: Instant::now(),
            },
        );
        Ok(true)
    }

    /// The object reference `kubectl describe` matches: a node's UID is its name (as
    /// the kubelet reports node events); a pod's is read from the API (gone: skipped).
    async fn reference(&self, regarding: &Regarding) -> Option<ObjectReference> {
        match regarding {
            Regarding::Node(name) => Some(ObjectReference {
                api_version: Some("v1".to_owned()),
                kind: Some("Node".to_owned()),
                name: Some(name.clone()),
                uid: Some(name.clone()),
                ..Default::default()
            }),
            Regarding::Pod { namespace, name } => {
                let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
                let meta = pods.get_metadata_opt(name).await.ok().flatten()?;
                Some(ObjectReference {
                    api_version: Some("v1".to_owned()),
                    kind: Some("Pod".to_owned()),
                    namespace: Some(namespace.clone()),
                    name: Some(name.clone()),
                    uid: meta.metadata.uid,
                    ..Default::default()
                })
            }
        }
    }

    /// Every `round` (at most 10 s), publishes what the latest snapshot says, but only
    /// while both sources are up: never from a stale view.
    pub async fn follow(self, snapshot: SharedSnapshot, metrics: Metrics) {
        let round = self.min_interval.min(Duration::from_secs(10));
        let mut ticks = tokio::time::interval(round);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(current) = snapshot.get().filter(|_| metrics.health.all_up()) else {
                continue;
            };
            let writes = self
                .emit(crate::report::event_notes::intents(&current))
                .await;
            if writes > 0 {
                tracing::debug!(writes, "Events published");
            }
        }
    }

    fn series(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Series>> {
        crate::lock(&self.series)
    }
}
