//! A fake Kubernetes API server for pods and nodes, over real HTTP, for the real
//! `kube::Client`: the one the tests use for faults a real server cannot produce on
//! demand, and the one the envelope benchmark loads with a synthetic world.
//!
//! It keeps each object as the JSON it sends, so it answers as promptly as a real
//! server's watch cache, and speaks what the exporter reads: paginated lists
//! (`limit`/`continue`, consistent pages, `410 Gone` for an expired token); watches from
//! a `resourceVersion` as chunked JSON lines (ADDED/MODIFIED/DELETED, periodic
//! BOOKMARKs), with `410 Gone` for a compacted version; streaming lists
//! (`sendInitialEvents`, ended by the `k8s.io/initial-events-end` bookmark, or refused
//! with 422 as by a server without the WatchList feature); `/version` when given one;
//! and controls to drop watches mid-stream, compact the history or stop answering.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const BOOKMARK_EVERY: Duration = Duration::from_millis(500);
/// Changes kept per resource, as the API server's watch cache keeps a window of them: a
/// watch resuming from before the window gets `410 Gone`.
const HISTORY: usize = 10_000;
/// Consistent list snapshots kept for `continue` tokens; older tokens expire.
const LIST_SNAPSHOTS: usize = 16;

/// What kind of server to be.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `(major, minor)` for `/version`; without it `/version` is 404, and the exporter
    /// lists in pages.
    pub version: Option<(u32, u32)>,
    /// Whether a watch may ask for its initial objects (`sendInitialEvents`).
    pub streaming_lists: bool,
}

#[derive(Default)]
struct Collection {
    objects: BTreeMap<String, Bytes>,
    /// (resourceVersion, type, object) for the changes since `compacted`.
    history: VecDeque<(u64, &'static str, Bytes)>,
    /// Watches from a version below this get 410 Gone.
    compacted: u64,
}

struct Watch {
    id: u64,
    resource: Resource,
    live: mpsc::UnboundedSender<Bytes>,
}

#[derive(Default)]
struct State {
    resource_version: u64,
    collections: [Collection; 2],
    watches: Vec<Watch>,
    /// Paginated list snapshots by id: (resourceVersion, items).
    list_snapshots: VecDeque<(u64, u64, Arc<[Bytes]>)>,
    next_id: u64,
    unavailable: bool,
    /// Open connections, aborted when the server "stops".
    connections: Vec<tokio::task::AbortHandle>,
    /// Requests served by kind: "list pods", "watch nodes", …
    requests: HashMap<String, usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Pods,
    Nodes,
}

impl Resource {
    fn named(name: &str) -> Option<Self> {
        match name {
            "pods" => Some(Resource::Pods),
            "nodes" => Some(Resource::Nodes),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Resource::Pods => "pods",
            Resource::Nodes => "nodes",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Resource::Pods => "Pod",
            Resource::Nodes => "Node",
        }
    }
}

#[derive(Clone)]
pub struct FakeApiServer {
    pub addr: SocketAddr,
    options: Options,
    state: Arc<Mutex<State>>,
}

type Body = BoxBody<Bytes, Infallible>;

impl FakeApiServer {
    /// A server that lists in pages and has no `/version`, on a free loopback port,
    /// serving until the runtime ends.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake API server");
        let server = Self {
            addr: listener.local_addr().unwrap(),
            options,
            state: Arc::default(),
        };
        let accept = server.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                if accept.lock().unavailable {
                    drop(stream); // refused, as by a stopped API server
                    continue;
                }
                let server = accept.clone();
                let connection = tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.handle(&request)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                accept.lock().connections.push(connection.abort_handle());
            }
        });
        server
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig pointing at this server, written to `path`.
    pub fn write_kubeconfig(&self, path: &std::path::Path) {
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\nusers:\n- name: fake\n  user:\n    token: fake\n",
            self.url()
        );
        std::fs::write(path, text).expect("write kubeconfig");
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates or replaces an object ("pods" or "nodes"), as a controller would.
    pub fn apply(&self, resource: &str, mut object: Value) {
        let resource = Resource::named(resource).expect("pods or nodes");
        let mut state = self.lock();
        state.resource_version += 1;
        let version = state.resource_version;
        object["apiVersion"] = json!("v1");
        object["kind"] = json!(resource.kind());
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let key = key_of(&object);
        let rendered = Bytes::from(object.to_string());
        let collection = &mut state.collections[resource as usize];
        let change = match collection.objects.insert(key, rendered.clone()) {
            Some(_) => "MODIFIED",
            None => "ADDED",
        };
        state.record(resource, version, change, rendered);
    }

    /// Loads objects already rendered (with their `resourceVersion`) by the caller, as
    /// they stood before any watch: no events. For a large world rendered on every core.
    pub fn load(&self, resource: &str, objects: impl IntoIterator<Item = (String, Bytes)>) {
        let resource = Resource::named(resource).expect("pods or nodes");
        let mut state = self.lock();
        state.resource_version = state.resource_version.max(1);
        state.collections[resource as usize].objects.extend(objects);
    }

    /// Deletes the object `namespace/name` (or `name` for a node).
    pub fn delete(&self, resource: &str, key: &str) {
        let resource = Resource::named(resource).expect("pods or nodes");
        let mut state = self.lock();
        let Some(old) = state.collections[resource as usize].objects.remove(key) else {
            return;
        };
        state.resource_version += 1;
        let version = state.resource_version;
        let mut object: Value = serde_json::from_slice(&old).expect("stored JSON");
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        state.record(
            resource,
            version,
            "DELETED",
            Bytes::from(object.to_string()),
        );
    }

    pub fn get(&self, resource: &str, key: &str) -> Option<Value> {
        let resource = Resource::named(resource)?;
        let state = self.lock();
        let bytes = state.collections[resource as usize].objects.get(key)?;
        Some(serde_json::from_slice(bytes).expect("stored JSON"))
    }

    /// The bytes of every object of a resource as a list sends them.
    pub fn bytes(&self, resource: &str) -> usize {
        let resource = Resource::named(resource).expect("pods or nodes");
        let state = self.lock();
        state.collections[resource as usize]
            .objects
            .values()
            .map(Bytes::len)
            .sum()
    }

    /// Ends every open watch stream, as an API server restart or a load balancer would.
    pub fn drop_watches(&self) {
        self.lock().watches.clear();
    }

    /// Forgets the event history (etcd compaction): a watch resuming from an older
    /// version now gets `410 Gone` and the client must re-list.
    pub fn compact(&self) {
        let mut state = self.lock();
        state.resource_version += 1;
        let version = state.resource_version;
        for collection in &mut state.collections {
            collection.history.clear();
            collection.compacted = version;
        }
        state.list_snapshots.clear();
    }

    /// While unavailable the server behaves as if stopped: open connections are cut and
    /// new ones closed at once.
    pub fn set_unavailable(&self, unavailable: bool) {
        let mut state = self.lock();
        state.unavailable = unavailable;
        if unavailable {
            state.watches.clear();
            for connection in state.connections.drain(..) {
                connection.abort();
            }
        }
    }

    /// How many requests of a kind ("list pods", "watch nodes", …) were served.
    pub fn count(&self, request: &str) -> usize {
        self.lock().requests.get(request).copied().unwrap_or(0)
    }

    fn handle(&self, request: &Request<Incoming>) -> Response<Body> {
        let path = request.uri().path();
        let query: HashMap<String, String> =
            form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        if let ("/version", Some((major, minor))) = (path, self.options.version) {
            let version = json!({"major": major.to_string(), "minor": minor.to_string(),
                                 "gitVersion": format!("v{major}.{minor}.0-fake")});
            return json_response(StatusCode::OK, version.to_string());
        }
        let Some(resource) = path.strip_prefix("/api/v1/").and_then(Resource::named) else {
            return status(404, "NotFound", &format!("no route for {path}"));
        };
        let flag = |name: &str| matches!(query.get(name).map(String::as_str), Some("true" | "1"));
        if flag("watch") {
            let from = query.get("resourceVersion").and_then(|v| v.parse().ok());
            self.watch(
                resource,
                from.unwrap_or(0),
                flag("sendInitialEvents"),
                flag("allowWatchBookmarks"),
            )
        } else {
            let limit = query.get("limit").and_then(|l| l.parse().ok());
            self.list(resource, limit.unwrap_or(0), query.get("continue"))
        }
    }

    fn list(&self, resource: Resource, limit: usize, token: Option<&String>) -> Response<Body> {
        let mut state = self.lock();
        state.served("list", resource);
        let (id, offset) = match token.filter(|c| !c.is_empty()) {
            Some(token) => {
                let parsed = token.split_once(':').and_then(|(id, offset)| {
                    Some((id.parse::<u64>().ok()?, offset.parse::<usize>().ok()?))
                });
                match parsed.filter(|(id, _)| state.list_snapshot(*id).is_some()) {
                    Some(found) => found,
                    None => {
                        return status(
                            410,
                            "Expired",
                            "The provided continue parameter is too old to display a consistent list result.",
                        );
                    }
                }
            }
            None => {
                let items: Arc<[Bytes]> = state.collections[resource as usize]
                    .objects
                    .values()
                    .cloned()
                    .collect();
                state.next_id += 1;
                let (id, version) = (state.next_id, state.resource_version);
                if state.list_snapshots.len() == LIST_SNAPSHOTS {
                    state.list_snapshots.pop_front();
                }
                state.list_snapshots.push_back((id, version, items));
                (id, 0)
            }
        };
        let (version, items) = state.list_snapshot(id).expect("kept above");
        drop(state);
        let end = match limit {
            0 => items.len(),
            limit => offset.saturating_add(limit).min(items.len()),
        };
        let page = &items[offset.min(end)..end];
        let mut metadata = json!({"resourceVersion": version.to_string()});
        if end < items.len() {
            metadata["continue"] = json!(format!("{id}:{end}"));
            metadata["remainingItemCount"] = json!(items.len() - end);
        }
        let head = format!(
            r#"{{"kind":"{}List","apiVersion":"v1","metadata":{metadata},"items":["#,
            resource.kind()
        );
        let mut body =
            Vec::with_capacity(head.len() + page.iter().map(|o| o.len() + 1).sum::<usize>() + 2);
        body.extend_from_slice(head.as_bytes());
        for (i, object) in page.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(object);
        }
        body.extend_from_slice(b"]}");
        json_response(StatusCode::OK, body)
    }

    fn watch(
        &self,
        resource: Resource,
        from: u64,
        initial_events: bool,
        bookmarks: bool,
    ) -> Response<Body> {
        let mut state = self.lock();
        state.served("watch", resource);
        if initial_events && !self.options.streaming_lists {
            return status(
                422,
                "Invalid",
                "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
            );
        }
        let collection = &state.collections[resource as usize];
        if !initial_events && from > 0 && from < collection.compacted {
            // What a real API server does: 200, one ERROR event, end of stream.
            let gone = status_json(
                410,
                "Expired",
                &format!(
                    "too old resource version: {from} ({})",
                    collection.compacted
                ),
            );
            let (tx, rx) = mpsc::channel(1);
            let _ = tx.try_send(event_line("ERROR", gone.as_bytes()));
            return stream_response(rx);
        }
        // What the watch starts with: every object (from version 0, or a streaming
        // list), else the changes after `from`; then what happens from now on.
        let first: Vec<Bytes> = if initial_events || from == 0 {
            collection
                .objects
                .values()
                .map(|o| event_line("ADDED", o))
                .collect()
        } else {
            collection
                .history
                .iter()
                .filter(|(version, ..)| *version > from)
                .map(|(_, change, object)| event_line(change, object))
                .collect()
        };
        let started_at = state.resource_version;
        let (live, mut changes) = mpsc::unbounded_channel();
        state.next_id += 1;
        let id = state.next_id;
        state.watches.push(Watch { id, resource, live });
        drop(state);
        if bookmarks {
            self.send_bookmarks(id, resource);
        }
        // Bounded, so a large world streams as the client reads rather than all at once.
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        tokio::spawn(async move {
            for line in first {
                if tx.send(line).await.is_err() {
                    return;
                }
            }
            if initial_events {
                let end = json!({"kind": resource.kind(), "apiVersion": "v1", "metadata": {
                    "resourceVersion": started_at.to_string(),
                    "annotations": {"k8s.io/initial-events-end": "true"}}});
                if tx
                    .send(event_line("BOOKMARK", end.to_string().as_bytes()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            // Ends when the watch is dropped from the state.
            while let Some(line) = changes.recv().await {
                if tx.send(line).await.is_err() {
                    return;
                }
            }
        });
        stream_response(rx)
    }

    /// A BOOKMARK on watch `id` every [`BOOKMARK_EVERY`] while it is open: through the
    /// watch's own channel, so it never overtakes a change.
    fn send_bookmarks(&self, id: u64, resource: Resource) {
        let state = self.state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(BOOKMARK_EVERY).await;
                let state = state.lock().unwrap_or_else(|p| p.into_inner());
                let Some(watch) = state.watches.iter().find(|w| w.id == id) else {
                    return;
                };
                let mark = json!({"kind": resource.kind(), "apiVersion": "v1",
                    "metadata": {"resourceVersion": state.resource_version.to_string()}});
                let _ = watch
                    .live
                    .send(event_line("BOOKMARK", mark.to_string().as_bytes()));
            }
        });
    }
}

impl State {
    /// Keeps a change in the history window and sends it to the resource's watches.
    fn record(&mut self, resource: Resource, version: u64, change: &'static str, object: Bytes) {
        let line = event_line(change, &object);
        self.watches
            .retain(|w| w.resource != resource || w.live.send(line.clone()).is_ok());
        let collection = &mut self.collections[resource as usize];
        if collection.history.len() == HISTORY
            && let Some((oldest, ..)) = collection.history.pop_front()
        {
            collection.compacted = oldest;
        }
        collection.history.push_back((version, change, object));
    }

    fn served(&mut self, verb: &str, resource: Resource) {
        *self
            .requests
            .entry(format!("{verb} {}", resource.name()))
            .or_default() += 1;
    }

    fn list_snapshot(&self, id: u64) -> Option<(u64, Arc<[Bytes]>)> {
        self.list_snapshots
            .iter()
            .find(|(kept, ..)| *kept == id)
            .map(|(_, version, items)| (*version, items.clone()))
    }
}

/// `namespace/name`, or `name` for a cluster-scoped object.
pub fn key_of(object: &Value) -> String {
    let meta = &object["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    match meta["namespace"].as_str() {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_owned(),
    }
}

/// One watch event as the API server writes it: `type` before `object` (Go's field
/// order), which the exporter's decoder relies on to read the object in place.
fn event_line(change: &str, object: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(object.len() + 32);
    line.extend_from_slice(format!(r#"{{"type":"{change}","object":"#).as_bytes());
    line.extend_from_slice(object);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

fn status_json(code: u16, reason: &str, message: &str) -> String {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
    .to_string()
}

fn status(code: u16, reason: &str, message: &str) -> Response<Body> {
    json_response(
        StatusCode::from_u16(code).expect("status code"),
        status_json(code, reason, message),
    )
}

fn json_response(code: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

fn stream_response(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(Frame::data(bytes)), rx))
    });
    let mut response = Response::new(StreamBody::new(stream).boxed());
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}
