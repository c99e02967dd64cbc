//! A Kubernetes API server stand-in for the envelope: pods and nodes of a synthetic
//! world, rendered once to the JSON the API returns (so it answers as promptly as a real
//! server's watch cache), paginated lists (`limit`/`continue`), watches from a
//! `resourceVersion` with bookmarks, streaming lists (`sendInitialEvents`, answered 422
//! when turned off, as by a server without the WatchList feature), pod updates pushed at
//! a set rate, and a forced compaction that ends every watch and makes the next one 410.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};

use crate::support::{self, synthetic::World};

const BOOKMARK_EVERY: Duration = Duration::from_secs(1);

struct State {
    world: World,
    /// The rendered objects: what a list or an initial event sends.
    nodes: Vec<Bytes>,
    pods: Vec<Bytes>,
    resource_version: u64,
    restarts: Vec<u32>,
    /// Pod updates since the last compaction: (resourceVersion, pod index).
    log: VecDeque<(u64, usize)>,
    /// A watch from a version below this gets 410 Gone.
    compacted: u64,
    /// Bumped to end every open watch.
    epoch: u64,
    streaming_lists: bool,
    lists: usize,
    watches: usize,
}

#[derive(Clone)]
pub struct StandIn {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    updates: broadcast::Sender<(u64, usize)>,
}

impl StandIn {
    /// Renders the world (on every core: it is setup, not measured) and serves it.
    pub async fn start(world: World, streaming_lists: bool) -> Self {
        let (nodes, pods) = render_all(world);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server = Self {
            addr: listener.local_addr().expect("address"),
            state: Arc::new(Mutex::new(State {
                world,
                restarts: vec![0; pods.len()],
                nodes,
                pods,
                resource_version: 1,
                log: VecDeque::new(),
                compacted: 0,
                epoch: 0,
                streaming_lists,
                lists: 0,
                watches: 0,
            })),
            updates: broadcast::channel(1 << 16).0,
        };
        let serving = server.clone();
        support::serve_http(listener, move |request| {
            let response = serving.handle(request);
            async move { response }
        });
        server
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn write_kubeconfig(&self, path: &std::path::Path) {
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: envelope\n  cluster:\n    server: http://{}\ncontexts:\n- name: envelope\n  context:\n    cluster: envelope\n    user: envelope\ncurrent-context: envelope\nusers:\n- name: envelope\n  user:\n    token: envelope\n",
            self.addr
        );
        std::fs::write(path, config).expect("write kubeconfig");
    }

    /// The bytes of every pod as a list returns them.
    pub fn pod_bytes(&self) -> usize {
        self.lock().pods.iter().map(Bytes::len).sum()
    }

    /// (lists, watches) served so far.
    pub fn requests(&self) -> (usize, usize) {
        let state = self.lock();
        (state.lists, state.watches)
    }

    /// One pod update: its restart count goes up, as a crash-looping or probed pod's
    /// status does; every open watch gets a MODIFIED event.
    pub fn update_pod(&self, index: usize) {
        let mut state = self.lock();
        let index = index % state.pods.len().max(1);
        state.resource_version += 1;
        let version = state.resource_version;
        state.restarts[index] += 1;
        let restarts = state.restarts[index];
        state.pods[index] = render(&state.world.pod(index, version, restarts));
        state.log.push_back((version, index));
        let _ = self.updates.send((version, index));
    }

    /// What an etcd compaction past every watcher's version does: open watches end, and
    /// resuming them gets 410 Gone, so clients re-list.
    pub fn compact(&self) {
        let mut state = self.lock();
        state.resource_version += 1;
        state.compacted = state.resource_version;
        state.log.clear();
        state.epoch += 1;
    }

    fn handle(&self, request: Request<Incoming>) -> Response<BoxBody<Bytes, Infallible>> {
        let query: Vec<(String, String)> =
            form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let param = |name: &str| {
            query
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let resource = match request.uri().path() {
            "/api/v1/pods" => Resource::Pods,
            "/api/v1/nodes" => Resource::Nodes,
            "/version" => {
                return json_response(
                    StatusCode::OK,
                    r#"{"major":"1","minor":"33","gitVersion":"v1.33.0-envelope"}"#.into(),
                );
            }
            _ => {
                return status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                );
            }
        };
        if param("watch") == Some("true") {
            self.watch(
                resource,
                param("resourceVersion")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                param("sendInitialEvents") == Some("true"),
                param("allowWatchBookmarks") == Some("true"),
            )
        } else {
            self.list(
                resource,
                param("limit")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(usize::MAX),
                param("continue").and_then(|v| v.parse().ok()).unwrap_or(0),
            )
        }
    }

    fn list(
        &self,
        resource: Resource,
        limit: usize,
        start: usize,
    ) -> Response<BoxBody<Bytes, Infallible>> {
        let mut state = self.lock();
        state.lists += 1;
        let version = state.resource_version;
        let objects = resource.objects(&state);
        let end = objects.len().min(start.saturating_add(limit.max(1)));
        let continue_token = if end < objects.len() {
            end.to_string()
        } else {
            String::new()
        };
        let mut body = Vec::with_capacity(
            objects[start.min(end)..end]
                .iter()
                .map(|o| o.len() + 1)
                .sum::<usize>()
                + 200,
        );
        body.extend_from_slice(
            format!(
                r#"{{"kind":"{}List","apiVersion":"v1","metadata":{{"resourceVersion":"{version}","continue":"{continue_token}"}},"items":["#,
                resource.kind()
            )
            .as_bytes(),
        );
        for (i, object) in objects[start.min(end)..end].iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(object);
        }
        body.extend_from_slice(b"]}");
        drop(state);
        let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
        response
            .headers_mut()
            .insert("content-type", "application/json".parse().expect("header"));
        response
    }

    fn watch(
        &self,
        resource: Resource,
        from: u64,
        initial_events: bool,
        bookmarks: bool,
    ) -> Response<BoxBody<Bytes, Infallible>> {
        let mut state = self.lock();
        state.watches += 1;
        if initial_events && !state.streaming_lists {
            // What a server without the WatchList feature answers.
            return status(
                422,
                "Invalid",
                "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
            );
        }
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        let mut updates = self.updates.subscribe();
        let epoch = state.epoch;
        let start_version = state.resource_version;
        let kind = resource.kind();
        if !initial_events && from < state.compacted {
            let gone = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version","reason":"Expired","code":410}"#;
            let _ = tx.try_send(event_line("ERROR", gone.as_bytes()));
            return stream_response(rx);
        }
        // What the watch starts with: every object (a streaming list), or the updates
        // since `from` (a resumed watch).
        let initial: Vec<Bytes> = if initial_events {
            resource.objects(&state).to_vec()
        } else {
            Vec::new()
        };
        let replay: Vec<usize> = match resource {
            Resource::Pods if !initial_events => state
                .log
                .iter()
                .filter(|(version, _)| *version > from)
                .map(|(_, index)| *index)
                .collect(),
            _ => Vec::new(),
        };
        let since = if initial_events {
            start_version
        } else {
            from.max(start_version)
        };
        drop(state);
        let server = self.clone();
        tokio::spawn(async move {
            for object in initial {
                if tx.send(event_line("ADDED", &object)).await.is_err() {
                    return;
                }
            }
            if initial_events {
                let end = format!(
                    r#"{{"kind":"{kind}","apiVersion":"v1","metadata":{{"resourceVersion":"{start_version}","annotations":{{"k8s.io/initial-events-end":"true"}}}}}}"#
                );
                if tx
                    .send(event_line("BOOKMARK", end.as_bytes()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            for index in replay {
                let object = server.lock().pods[index].clone();
                if tx.send(event_line("MODIFIED", &object)).await.is_err() {
                    return;
                }
            }
            let mut bookmark = tokio::time::interval(BOOKMARK_EVERY);
            loop {
                tokio::select! {
                    update = updates.recv() => {
                        let Ok((version, index)) = update else { return };
                        if !matches!(resource, Resource::Pods) || version <= since {
                            continue;
                        }
                        let object = server.lock().pods[index].clone();
                        if tx.send(event_line("MODIFIED", &object)).await.is_err() {
                            return;
                        }
                    }
                    _ = bookmark.tick() => {
                        let (now_epoch, version) = {
                            let state = server.lock();
                            (state.epoch, state.resource_version)
                        };
                        if now_epoch != epoch {
                            return; // compacted: the watch ends
                        }
                        if bookmarks {
                            let mark = format!(r#"{{"kind":"{kind}","apiVersion":"v1","metadata":{{"resourceVersion":"{version}"}}}}"#);
                            if tx.send(event_line("BOOKMARK", mark.as_bytes())).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        stream_response(rx)
    }
}

#[derive(Clone, Copy)]
enum Resource {
    Pods,
    Nodes,
}

impl Resource {
    fn kind(self) -> &'static str {
        match self {
            Resource::Pods => "Pod",
            Resource::Nodes => "Node",
        }
    }

    fn objects(self, state: &State) -> &[Bytes] {
        match self {
            Resource::Pods => &state.pods,
            Resource::Nodes => &state.nodes,
        }
    }
}

fn render(object: &serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(object).expect("JSON"))
}

/// Every node and pod rendered, on all cores.
fn render_all(world: World) -> (Vec<Bytes>, Vec<Bytes>) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pods = world.pods();
    let chunk = pods.div_ceil(threads).max(1);
    let rendered: Vec<Vec<Bytes>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..pods)
            .step_by(chunk)
            .map(|start| {
                scope.spawn(move || {
                    (start..(start + chunk).min(pods))
                        .map(|index| render(&world.pod(index, 1, 0)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("render"))
            .collect()
    });
    let nodes = (0..world.nodes).map(|n| render(&world.node(n))).collect();
    (nodes, rendered.into_iter().flatten().collect())
}

/// One watch event as the API server writes it: `type` before `object`.
fn event_line(kind: &str, object: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(object.len() + 32);
    line.extend_from_slice(format!(r#"{{"type":"{kind}","object":"#).as_bytes());
    line.extend_from_slice(object);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

fn json_response(code: StatusCode, body: String) -> Response<BoxBody<Bytes, Infallible>> {
    let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("header"));
    response
}

fn status(code: u16, reason: &str, message: &str) -> Response<BoxBody<Bytes, Infallible>> {
    let body = serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code});
    json_response(
        StatusCode::from_u16(code).expect("status code"),
        body.to_string(),
    )
}

fn stream_response(rx: mpsc::Receiver<Bytes>) -> Response<BoxBody<Bytes, Infallible>> {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(Frame::data(bytes)), rx))
    });
    let mut response = Response::new(StreamBody::new(stream).boxed());
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("header"));
    response
}
