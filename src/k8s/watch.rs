//! Watch drivers: one task per resource turns watcher events into cache updates, counts
//! failures, and tells the loop that something changed. kube's watcher re-lists on
//! `410 Gone` and retries with backoff; the cache keeps serving the last good view.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::core::DeserializeGuard;
use kube::runtime::WatchStreamExt;
use kube::runtime::utils::ResetTimerBackoff;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use super::cache::{ClusterCache, Index};
use super::watched::{Kind, Watched};
use crate::metrics::Metrics;
use crate::model::{InputWarning, NodeInfo, PodInfo, WarningKind};

/// Watch retries back off up to this, without jitter, so a persisting failure reports
/// an error at least this often.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);
/// After a watch error, the source counts as healthy again once an event arrives, or
/// once this long passes with no further error: more than two retry delays, so a
/// persisting failure never looks healed.
const QUIET_AFTER_ERROR: Duration = Duration::from_secs(25);
/// List page size: bounds the memory a re-list of 150,000 pods needs at once.
const LIST_PAGE_SIZE: u32 = 500;

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

#[derive(Clone, Copy)]
enum Resource {
    Pods = 0,
    Nodes = 1,
}

impl Resource {
    /// In the order of `KubeShared::health`.
    const ALL: [Resource; 2] = [Resource::Pods, Resource::Nodes];

    fn as_str(self) -> &'static str {
        match self {
            Resource::Pods => "pods",
            Resource::Nodes => "nodes",
        }
    }
}

impl KubeShared {
    pub fn cache(&self) -> MutexGuard<'_, ClusterCache> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn health(&self) -> MutexGuard<'_, [WatchHealth; 2]> {
        self.health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
    fn record_error(&self, resource: Resource, now: Timestamp, error: &watcher::Error) {
        let mut health = self.health();
        let entry = &mut health[resource as usize];
        entry.last_error = Some(now);
        entry.last_message = Some(error.to_string());
        if entry.failing_since.is_none() {
            entry.failing_since = Some(now);
            tracing::warn!(%error, resource = resource.as_str(), "watch failed; serving the last view and retrying with backoff");
        } else {
            tracing::debug!(%error, resource = resource.as_str(), "watch still failing");
        }
    }

    fn record_success(&self, resource: Resource) {
        self.health()[resource as usize].heal(resource, Timestamp::now());
    }
}

/// How the watchers take their initial list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InitialList {
    /// `sendInitialEvents` (Kubernetes 1.27+ with the WatchList feature, on by default
    /// in recent releases): objects arrive one by one on the watch, never a page of them
    /// at once, and the API server serves them from its watch cache.
    Streaming,
    /// Pages of [`LIST_PAGE_SIZE`], then a watch: every server.
    Paginated,
}

/// Streaming lists when the server is new enough to have them; the watchers still fall
/// back to pages if it refuses them (the feature turned off).
async fn initial_list(client: &Client) -> InitialList {
    let version = client.apiserver_version().await;
    let list = version.as_ref().map_or(InitialList::Paginated, |info| {
        initial_list_for(&info.major, &info.minor)
    });
    let server = version.map_or_else(|e| format!("unknown ({e})"), |info| info.git_version);
    tracing::info!(%server, initial_list = ?list, "Kubernetes API server");
    list
}

/// From `/version`'s major and minor (EKS reports e.g. "1", "31+").
fn initial_list_for(major: &str, minor: &str) -> InitialList {
    let digits: String = minor.chars().take_while(char::is_ascii_digit).collect();
    match (major.parse::<u32>(), digits.parse::<u32>()) {
        (Ok(major), Ok(minor)) if (major, minor) >= (1, 27) => InitialList::Streaming,
        _ => InitialList::Paginated,
    }
}

/// Watches pods (all namespaces) and nodes until the process ends.
pub async fn run_watchers(client: Client, shared: Arc<KubeShared>, metrics: Metrics) {
    let list = initial_list(&client).await;
    let pods = drive::<PodInfo>(
        Api::all(client.clone()),
        list,
        Resource::Pods,
        shared.clone(),
        metrics.clone(),
        |cache| &mut cache.pods,
    );
    let nodes = drive::<NodeInfo>(
        Api::all(client),
        list,
        Resource::Nodes,
        shared,
        metrics,
        |cache| &mut cache.nodes,
    );
    tokio::join!(pods, nodes);
}

async fn drive<V: Kind>(
    api: Api<Watched<V>>,
    mut list: InitialList,
    resource: Resource,
    shared: Arc<KubeShared>,
    metrics: Metrics,
    index: fn(&mut ClusterCache) -> &mut Index<V>,
) {
    loop {
        // Only a streaming list can be refused; pages are what every server takes.
        if follow(api.clone(), list, resource, &shared, &metrics, index).await {
            tracing::info!(
                resource = resource.as_str(),
                "the API server refuses streaming lists; listing in pages"
            );
            list = InitialList::Paginated;
        }
    }
}

/// Whether a watch error says the server does not take `sendInitialEvents`: a 4xx
/// other than the ones every watch can get (forbidden, gone, throttled).
fn refuses_streaming(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::WatchStartFailed(kube::Error::Api(status)) => {
            matches!(status.code, 400 | 404 | 405 | 415 | 422)
        }
        _ => false,
    }
}

/// Feeds one resource's watch events into the cache; returns true when the server
/// refuses a streaming list (at start, or at a re-list after it lost the feature),
/// else runs forever.
async fn follow<V: Kind>(
    api: Api<Watched<V>>,
    list: InitialList,
    resource: Resource,
    shared: &KubeShared,
    metrics: &Metrics,
    index: fn(&mut ClusterCache) -> &mut Index<V>,
) -> bool {
    let mut config = watcher::Config::default().page_size(LIST_PAGE_SIZE);
    if list == InitialList::Streaming {
        config = config.streaming_lists();
    }
    let backoff = ResetTimerBackoff::new(
        watcher::ExponentialBackoff::from(
            backon::ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(500))
                .with_max_delay(MAX_RETRY_DELAY)
                .with_factor(2.0)
                .without_max_times(),
        ),
        Duration::from_secs(120),
    );
    let mut events = std::pin::pin!(watcher::watcher(api, config).backoff(backoff));
    let name = resource.as_str();
    let mut completed_lists = 0u64;
    let mut list_started = std::time::Instant::now();
    // Objects the current list delivered (kept or not), for the log line.
    let mut listed = 0usize;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(error) if list == InitialList::Streaming && refuses_streaming(&error) => {
                tracing::debug!(%error, resource = name, "streaming list refused");
                return true;
            }
            Err(error) => {
                metrics.kube_watch_error(name);
                shared.record_error(resource, Timestamp::now(), &error);
                continue;
            }
        };
        let mut cache = shared.cache();
        let target = index(&mut cache);
        let decoded = |object: Watched<V>| {
            let key = object.key();
            match object.decoded {
                Ok(value) => Some((key, value)),
                Err(error) => {
                    // Logged and counted; the object keeps its last good version, if any.
                    tracing::warn!(
                        resource = name,
                        object = key.as_str(),
                        error = error.to_string().as_str(),
                        "cannot decode object"
                    );
                    metrics.input_warning(WarningKind::BadObject);
                    None
                }
            }
        };
        let done = match event {
            Event::Init => {
                // Every list after the first sync is a re-list (410 Gone, or a watch
                // too old to resume): counted, since each one costs the API server.
                if completed_lists > 0 {
                    metrics.kube_relist(name);
                }
                list_started = std::time::Instant::now();
                listed = 0;
                target.init();
                false
            }
            Event::InitApply(object) => {
                listed += 1;
                if let Some((key, value)) = decoded(object) {
                    target.init_apply(key, value);
                }
                false
            }
            Event::InitDone => {
                target.init_done();
                let seconds = format!("{:.1}", list_started.elapsed().as_secs_f64());
                let kept = target.len();
                // kube's watcher does not report pages; every page but the last is full.
                let pages = match list {
                    InitialList::Paginated => {
                        listed.div_ceil(LIST_PAGE_SIZE as usize).max(1).to_string()
                    }
                    InitialList::Streaming => "none (streaming list)".to_owned(),
                };
                if completed_lists == 0 {
                    tracing::info!(
                        resource = name,
                        listed,
                        kept,
                        pages = %pages,
                        seconds,
                        "first sync done"
                    );
                } else {
                    tracing::info!(resource = name, listed, kept, pages = %pages, seconds, "re-listed");
                }
                completed_lists += 1;
                true
            }
            Event::Apply(object) => {
                if let Some((key, value)) = decoded(object) {
                    target.apply(key, value);
                }
                true
            }
            Event::Delete(object) => {
                // A deleted object goes whatever its last state decodes to.
                target.delete(&object.key());
                true
            }
        };
        let count = target.len();
        drop(cache);
        if done {
            metrics.kube_objects(name, count);
            shared.record_success(resource);
            shared.changed.notify_one();
        }
    }
    // kube's watcher retries forever; were it ever to end, start over.
    false
}

/// Every node and pod as the API returns them, read once, and the objects that could
/// not be decoded: what `snapshot` writes out.
pub struct Listed {
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub warnings: Vec<InputWarning>,
}

/// Every node and pod read once, reduced as the watchers reduce them (the same decode
/// path, pods without a branch ENI dropped as they arrive): what a live `audit` joins.
pub struct Compact {
    pub nodes: Vec<NodeInfo>,
    pub pods: Vec<PodInfo>,
    pub warnings: Vec<InputWarning>,
}

/// Reads every node and pod once, whole, for `snapshot`. As in the watcher, an
/// undecodable object becomes a warning instead of failing the read.
pub async fn list_all(client: &Client) -> Result<Listed, kube::Error> {
    let mut warnings = Vec::new();
    let nodes = list_whole(Api::all(client.clone()), Resource::Nodes, &mut warnings).await?;
    let pods = list_whole(Api::all(client.clone()), Resource::Pods, &mut warnings).await?;
    Ok(Listed {
        nodes,
        pods,
        warnings,
    })
}

/// Reads every node and pod once into their compact forms, for a live `audit`.
pub async fn list_compact(client: &Client) -> Result<Compact, kube::Error> {
    let mut warnings = Vec::new();
    let nodes = list_kind(Api::all(client.clone()), Resource::Nodes, &mut warnings).await?;
    let pods = list_kind(Api::all(client.clone()), Resource::Pods, &mut warnings).await?;
    Ok(Compact {
        nodes,
        pods,
        warnings,
    })
}

async fn list_whole<K>(
    api: Api<DeserializeGuard<K>>,
    resource: Resource,
    warnings: &mut Vec<InputWarning>,
) -> Result<Vec<K>, kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut items = Vec::new();
    list_pages(api, |guard: DeserializeGuard<K>| match guard.0 {
        Ok(object) => items.push(object),
        Err(invalid) => warnings.push(bad_object(
            resource,
            format!(
                "{}/{}",
                invalid.metadata.namespace.unwrap_or_default(),
                invalid.metadata.name.unwrap_or_default()
            ),
            invalid.error,
        )),
    })
    .await?;
    Ok(items)
}

async fn list_kind<V: Kind>(
    api: Api<Watched<V>>,
    resource: Resource,
    warnings: &mut Vec<InputWarning>,
) -> Result<Vec<V>, kube::Error> {
    let mut items = Vec::new();
    list_pages(api, |object: Watched<V>| {
        let key = object.key();
        match object.decoded {
            Ok(value) => items.extend(value),
            Err(error) => warnings.push(bad_object(resource, key, error)),
        }
    })
    .await?;
    Ok(items)
}

fn bad_object(resource: Resource, key: String, error: String) -> InputWarning {
    InputWarning::new(
        WarningKind::BadObject,
        format!("{} {key}", resource.as_str()),
        error,
    )
}

/// Every object, a page of [`LIST_PAGE_SIZE`] at a time, each handed to `each`.
async fn list_pages<K>(api: Api<K>, mut each: impl FnMut(K)) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut params = kube::api::ListParams::default().limit(LIST_PAGE_SIZE);
    loop {
        let page = api.list(&params).await?;
        page.items.into_iter().for_each(&mut each);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(()),
        }
    }
}

/// A client from `--kubeconfig`, else the usual inference (KUBECONFIG, ~/.kube/config,
/// in-cluster service account).
pub async fn client(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<Client> {
    let mut config = match kubeconfig {
        Some(path) => {
            // Read here rather than by kube, whose message quotes the path twice and
            // repeats the cause.
            use anyhow::Context;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            let kubeconfig = kube::config::Kubeconfig::from_yaml(&text)
                .with_context(|| format!("kubeconfig {} is not valid", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    // kube retries a failing request up to 15 times (minutes) before the watcher sees
    // an error. An outage must surface at once: while the cache is stale, ages must
    // freeze (new pods' ENIs would otherwise look orphaned, then leaked). The
    // watcher's own backoff does the retrying.
    config.default_retry = false;
    Ok(Client::try_from(config)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_lists_only_from_servers_that_have_them() {
        assert_eq!(initial_list_for("1", "33"), InitialList::Streaming);
        assert_eq!(initial_list_for("1", "27+"), InitialList::Streaming);
        assert_eq!(initial_list_for("1", "26"), InitialList::Paginated);
        assert_eq!(initial_list_for("1", "20"), InitialList::Paginated);
        assert_eq!(initial_list_for("", ""), InitialList::Paginated);
        assert_eq!(initial_list_for("one", "x"), InitialList::Paginated);
    }

    #[test]
    fn a_refused_streaming_list_is_told_from_other_watch_errors() {
        let status = |code: u16| {
            watcher::Error::WatchStartFailed(kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..kube::core::Status::default()
            })))
        };
        assert!(refuses_streaming(&status(422)), "WatchList feature off");
        assert!(refuses_streaming(&status(400)));
        assert!(
            !refuses_streaming(&status(403)),
            "a missing permission is reported, not worked around"
        );
        assert!(!refuses_streaming(&status(410)));
        assert!(!refuses_streaming(&status(429)));
        assert!(!refuses_streaming(&status(500)));
        assert!(!refuses_streaming(&watcher::Error::NoResourceVersion));
    }
}
