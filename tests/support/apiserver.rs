//! A faithful fake Kubernetes API server for pods and nodes, over real HTTP, for the real
//! `kube::Client`: paginated lists (`limit`/`continue`, consistent pages, `410 Gone`
//! for an expired token), watches from a `resourceVersion` streamed as chunked JSON
//! lines (ADDED/MODIFIED/DELETED, periodic BOOKMARKs), `410 Gone` for a compacted
//! version, and controls to drop watches mid-stream or make the server unavailable.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
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

#[derive(Default)]
struct Collection {
    objects: BTreeMap<String, Value>,
    /// (resourceVersion, type, object) for every change since `compacted`.
    events: Vec<(u64, &'static str, Value)>,
    /// Watches from a version at or below this get 410 Gone.
    compacted: u64,
}

struct Watch {
    id: u64,
    resource: String,
    tx: mpsc::UnboundedSender<Bytes>,
}

#[derive(Default)]
struct State {
    resource_version: u64,
    collections: HashMap<String, Collection>,
    watches: Vec<Watch>,
    /// Paginated list snapshots by continue id: (resourceVersion, items).
    list_snapshots: HashMap<u64, (u64, Vec<Value>)>,
    next_list_id: u64,
    next_watch_id: u64,
    unavailable: bool,
    /// Open connections, aborted when the server "stops".
    connections: Vec<tokio::task::AbortHandle>,
    /// Requests seen, as "list pods", "watch nodes", …
    requests: Vec<String>,
}

#[derive(Clone)]
pub struct FakeApiServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn kind_of(resource: &str) -> (&'static str, &'static str) {
    match resource {
        "pods" => ("Pod", "PodList"),
        "nodes" => ("Node", "NodeList"),
        _ => ("Unknown", "UnknownList"),
    }
}

fn object_key(object: &Value) -> String {
    let meta = &object["metadata"];
    match meta["namespace"].as_str() {
        Some(ns) => format!("{ns}/{}", meta["name"].as_str().unwrap_or_default()),
        None => meta["name"].as_str().unwrap_or_default().to_owned(),
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

impl FakeApiServer {
    /// Starts on a free loopback port, serving until the runtime ends.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake API server");
        let server = Self {
            addr: listener.local_addr().unwrap(),
            state: Arc::new(Mutex::new(State::default())),
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
                        async move { Ok::<_, Infallible>(server.handle(request)) }
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
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.url()
        );
        std::fs::write(path, text).expect("write kubeconfig");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates or replaces an object ("pods" or "nodes"), as a controller would.
    pub fn apply(&self, resource: &str, mut object: Value) {
        let mut state = self.lock();
        state.resource_version += 1;
        let rv = state.resource_version;
        let (kind, _) = kind_of(resource);
        object["apiVersion"] = json!("v1");
        object["kind"] = json!(kind);
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let key = object_key(&object);
        let collection = state.collections.entry(resource.to_owned()).or_default();
        let kind = if collection.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        collection.objects.insert(key, object.clone());
        collection.events.push((rv, kind, object.clone()));
        Self::broadcast(&mut state, resource, kind, &object);
    }

    pub fn delete(&self, resource: &str, key: &str) {
        let mut state = self.lock();
        state.resource_version += 1;
        let rv = state.resource_version;
        let collection = state.collections.entry(resource.to_owned()).or_default();
        let Some(mut object) = collection.objects.remove(key) else {
            return;
        };
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        collection.events.push((rv, "DELETED", object.clone()));
        Self::broadcast(&mut state, resource, "DELETED", &object);
    }

    pub fn get(&self, resource: &str, key: &str) -> Option<Value> {
        self.lock()
            .collections
            .get(resource)?
            .objects
            .get(key)
            .cloned()
    }

    /// Ends every open watch stream, as an API server restart or a load balancer would.
    pub fn drop_watches(&self) {
        self.lock().watches.clear();
    }

    /// Forgets the event history (etcd compaction): a watch resuming from an older
    /// version now gets `410 Gone` and the client must re-list.
    pub fn compact(&self) {
        let mut state = self.lock();
        let rv = state.resource_version;
        for collection in state.collections.values_mut() {
            collection.events.clear();
            collection.compacted = rv;
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
        self.lock()
            .requests
            .iter()
            .filter(|r| *r == request)
            .count()
    }

    fn broadcast(state: &mut State, resource: &str, kind: &str, object: &Value) {
        let line = watch_line(kind, object);
        state
            .watches
            .retain(|w| w.resource != resource || w.tx.send(line.clone()).is_ok());
    }

    fn handle(&self, request: Request<Incoming>) -> Response<BoxBody<Bytes, Infallible>> {
        let path = request.uri().path().to_owned();
        let query: HashMap<String, String> =
            form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let Some(resource) = path
            .strip_prefix("/api/v1/")
            .filter(|r| matches!(*r, "pods" | "nodes"))
        else {
            return json_response(
                StatusCode::NOT_FOUND,
                status(404, "NotFound", &format!("no route for {path}")),
            );
        };
        let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
        if watch {
            self.watch(resource, &query)
        } else {
            self.list(resource, &query)
        }
    }

    fn list(
        &self,
        resource: &str,
        query: &HashMap<String, String>,
    ) -> Response<BoxBody<Bytes, Infallible>> {
        let mut state = self.lock();
        state.requests.push(format!("list {resource}"));
        let limit: usize = query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
        let (id, offset) = match query.get("continue").filter(|c| !c.is_empty()) {
            Some(token) => {
                let parsed = token.split_once(':').and_then(|(id, offset)| {
                    Some((id.parse::<u64>().ok()?, offset.parse::<usize>().ok()?))
                });
                match parsed.filter(|(id, _)| state.list_snapshots.contains_key(id)) {
                    Some(found) => found,
                    None => {
                        return json_response(
                            StatusCode::GONE,
                            status(
                                410,
                                "Expired",
                                "The provided continue parameter is too old to display a consistent list result.",
                            ),
                        );
                    }
                }
            }
            None => {
                let items: Vec<Value> = state
                    .collections
                    .get(resource)
                    .map(|c| c.objects.values().cloned().collect())
                    .unwrap_or_default();
                state.next_list_id += 1;
                let id = state.next_list_id;
                let rv = state.resource_version;
                state.list_snapshots.insert(id, (rv, items));
                (id, 0)
            }
        };
        let (rv, items) = state.list_snapshots.get(&id).cloned().unwrap_or_default();
        let end = if limit == 0 {
            items.len()
        } else {
            (offset + limit).min(items.len())
        };
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if end < items.len() {
            metadata["continue"] = json!(format!("{id}:{end}"));
            metadata["remainingItemCount"] = json!(items.len() - end);
        }
        let (_, list_kind) = kind_of(resource);
        json_response(
            StatusCode::OK,
            json!({"kind": list_kind, "apiVersion": "v1", "metadata": metadata, "items": items[offset..end]}),
        )
    }

    fn watch(
        &self,
        resource: &str,
        query: &HashMap<String, String>,
    ) -> Response<BoxBody<Bytes, Infallible>> {
        let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
        let mut state = self.lock();
        state.requests.push(format!("watch {resource}"));
        let from: u64 = query
            .get("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let collection = state.collections.entry(resource.to_owned()).or_default();
        if from == 0 {
            for object in collection.objects.values() {
                let _ = tx.send(watch_line("ADDED", object));
            }
        } else if from < collection.compacted {
            // What a real API server does: 200, one ERROR event, end of stream.
            let gone = status(
                410,
                "Expired",
                &format!(
                    "too old resource version: {from} ({})",
                    collection.compacted
                ),
            );
            let _ = tx.send(watch_line("ERROR", &gone));
            drop(tx);
            return stream_response(rx);
        } else {
            for (rv, kind, object) in &collection.events {
                if *rv > from {
                    let _ = tx.send(watch_line(kind, object));
                }
            }
        }
        state.next_watch_id += 1;
        let id = state.next_watch_id;
        state.watches.push(Watch {
            id,
            resource: resource.to_owned(),
            tx,
        });
        drop(state);
        if matches!(
            query.get("allowWatchBookmarks").map(String::as_str),
            Some("true")
        ) {
            // Sends through the registered watch only, so dropping the watch from the
            // state ends the stream.
            let state = self.state.clone();
            let (kind, _) = kind_of(resource);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(BOOKMARK_EVERY).await;
                    let state = state.lock().unwrap_or_else(|p| p.into_inner());
                    let Some(watch) = state.watches.iter().find(|w| w.id == id) else {
                        return;
                    };
                    let rv = state.resource_version.to_string();
                    let bookmark = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": rv}}});
                    let _ = watch.tx.send(Bytes::from(format!("{bookmark}\n")));
                }
            });
        }
        stream_response(rx)
    }
}

/// One watch event as the API server writes it: `type` before `object` (Go's field
/// order), which the exporter's decoder relies on to read the object in place.
fn watch_line(kind: &str, object: &Value) -> Bytes {
    Bytes::from(format!(
        "{{\"type\":{},\"object\":{object}}}\n",
        json!(kind)
    ))
}

fn json_response(code: StatusCode, body: Value) -> Response<BoxBody<Bytes, Infallible>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

fn stream_response(rx: mpsc::UnboundedReceiver<Bytes>) -> Response<BoxBody<Bytes, Infallible>> {
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
