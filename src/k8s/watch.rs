//! The watch driver: one task per resource forwards kube's watcher events to the cache
//! ([`Index::apply_event`](super::cache::Index::apply_event)), counts and logs what
//! they did, and tells the loop that something changed. kube's watcher re-lists on
//! `410 Gone` and retries with backoff; the cache keeps serving the last good view.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use jiff::Timestamp;
use kube::runtime::WatchStreamExt;
use kube::runtime::utils::ResetTimerBackoff;
use kube::runtime::watcher;
use kube::{Api, Client};
use tracing::Instrument;

use super::cache::{Applied, ClusterCache, Index};
use super::list::LIST_PAGE_SIZE;
use super::shared::{KubeShared, Resource};
use super::watched::{Kind, Watched};
use crate::metrics::Metrics;
use crate::model::{NodeInfo, PodInfo, WarningKind};

/// Watch retries back off up to this, without jitter, so a persisting failure reports
/// an error at least this often.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

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

/// Watches pods (all namespaces) and nodes until the process ends, each in a span of
/// its own (`watch{resource=…}`).
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
    tokio::join!(
        pods.instrument(tracing::info_span!(
            "watch",
            resource = Resource::Pods.as_str()
        )),
        nodes.instrument(tracing::info_span!(
            "watch",
            resource = Resource::Nodes.as_str()
        )),
    );
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
            tracing::info!("the API server refuses streaming lists; listing in pages");
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

fn watcher_config(list: InitialList) -> watcher::Config {
    let config = watcher::Config::default().page_size(LIST_PAGE_SIZE);
    match list {
        InitialList::Streaming => config.streaming_lists(),
        InitialList::Paginated => config,
    }
}

fn backoff() -> ResetTimerBackoff<watcher::ExponentialBackoff> {
    ResetTimerBackoff::new(
        watcher::ExponentialBackoff::from(
            backon::ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(500))
                .with_max_delay(MAX_RETRY_DELAY)
                .with_factor(2.0)
                .without_max_times(),
        ),
        Duration::from_secs(120),
    )
}

/// Forwards one resource's watch events to the cache; returns true when the server
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
    let mut events = std::pin::pin!(watcher::watcher(api, watcher_config(list)).backoff(backoff()));
    let name = resource.as_str();
    let mut lists = ListLog::new(list);
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(error) if list == InitialList::Streaming && refuses_streaming(&error) => {
                tracing::debug!(%error, "streaming list refused");
                return true;
            }
            Err(error) => {
                metrics.kube_watch_error(name);
                shared.record_error(resource, Timestamp::now(), &error);
                continue;
            }
        };
        let (applied, count) = {
            let mut cache = shared.cache();
            let target = index(&mut cache);
            let applied = target.apply_event(event, &mut |key, error| {
                // Counted and logged; the object keeps its last good version, if any.
                tracing::warn!(
                    object = key.as_str(),
                    error = error.as_str(),
                    "cannot decode object"
                );
                metrics.input_warning(WarningKind::BadObject);
            });
            (applied, target.len())
        };
        if lists.note(&applied, count, metrics, name) {
            metrics.kube_objects(name, count);
            shared.record_success(resource);
            shared.changed.notify_one();
        }
    }
    // kube's watcher retries forever; were it ever to end, start over.
    false
}

/// The lists one watcher takes: how long each took, and the line each gets in the log.
struct ListLog {
    list: InitialList,
    completed: u64,
    started: Instant,
}

impl ListLog {
    fn new(list: InitialList) -> Self {
        Self {
            list,
            completed: 0,
            started: Instant::now(),
        }
    }

    /// Notes what an event did; true when the view changed (the loop should know).
    fn note(
        &mut self,
        applied: &Applied,
        kept: usize,
        metrics: &Metrics,
        name: &'static str,
    ) -> bool {
        match *applied {
            Applied::ListStarted => {
                // Every list after the first sync is a re-list (410 Gone, or a watch
                // too old to resume): counted, since each one costs the API server.
                if self.completed > 0 {
                    metrics.kube_relist(name);
                }
                self.started = Instant::now();
                false
            }
            Applied::Listing => false,
            Applied::Listed { listed } => {
                let seconds = format!("{:.1}", self.started.elapsed().as_secs_f64());
                // kube's watcher does not report pages; every page but the last is full.
                let pages = match self.list {
                    InitialList::Paginated => {
                        listed.div_ceil(LIST_PAGE_SIZE as usize).max(1).to_string()
                    }
                    InitialList::Streaming => "none (streaming list)".to_owned(),
                };
                let what = if self.completed == 0 {
                    "first sync done"
                } else {
                    "re-listed"
                };
                tracing::info!(listed, kept, pages = %pages, seconds, "{what}");
                self.completed += 1;
                true
            }
            Applied::Changed => true,
        }
    }
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
