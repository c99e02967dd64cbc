//! Publishes the [`crate::events`] intents through the `events.k8s.io/v1` API with kube's
//! `Recorder`, which keeps one Event series per (object, reason) and updates its count
//! instead of creating new Events. On top: at most one write per object and reason per
//! `min_interval`, and a global write budget, so that a cluster-wide exhaustion cannot
//! flood the API server.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client};

use crate::events::{Intent, Regarding};
use crate::metrics::{Metrics, SharedSnapshot, Source};

pub const REPORTER: &str = "pod-eni-exporter";

pub struct EventEmitter {
    client: Client,
    recorder: Recorder,
    min_interval: Duration,
    last_write: Mutex<HashMap<(Regarding, &'static str), Instant>>,
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
        let reporter = Reporter {
            controller: REPORTER.to_owned(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            min_interval,
            last_write: Mutex::new(HashMap::new()),
            budget: RateLimiter::direct(Quota::per_second(writes_per_second)),
        }
    }

    /// Publishes what is due; returns the writes made. An object written less than
    /// `min_interval` ago waits; past the budget, the rest waits for the next round.
    pub async fn emit(&self, intents: Vec<Intent>) -> usize {
        let mut writes = 0;
        for intent in intents {
            let key = (intent.regarding.clone(), intent.reason);
            let due = self
                .last_write()
                .get(&key)
                .is_none_or(|at| at.elapsed() >= self.min_interval);
            if !due {
                continue;
            }
            if self.budget.check().is_err() {
                tracing::debug!("event write budget spent; the rest waits for the next round");
                break;
            }
            let Some(reference) = self.reference(&intent.regarding).await else {
                continue;
            };
            let event = Event {
                type_: EventType::Warning,
                reason: intent.reason.to_owned(),
                note: Some(intent.note),
                action: "Observe".to_owned(),
                secondary: None,
            };
            match self.recorder.publish(&event, &reference).await {
                Ok(()) => writes += 1,
                Err(error) => {
                    tracing::warn!(%error, reason = intent.reason, "cannot publish an Event")
                }
            }
            // Also after a failure: a refused write is not retried in a tight loop.
            self.last_write().insert(key, Instant::now());
        }
        writes
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
            let fresh = [Source::Kubernetes, Source::Ec2]
                .into_iter()
                .all(|source| metrics.source_health(source).0);
            let Some(current) = snapshot.get().filter(|_| fresh) else {
                continue;
            };
            let writes = self.emit(crate::events::intents(&current)).await;
            if writes > 0 {
                tracing::debug!(writes, "Events published");
            }
        }
    }

    fn last_write(&self) -> std::sync::MutexGuard<'_, HashMap<(Regarding, &'static str), Instant>> {
        self.last_write
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
