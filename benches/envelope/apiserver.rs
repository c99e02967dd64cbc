//! The envelope's Kubernetes API server: the tests' fake (`tests/support/apiserver.rs`)
//! loaded with the pods and nodes of a synthetic world, reporting a version with
//! streaming lists (answered 422 when they are turned off, as by a server without the
//! WatchList feature), with pod updates pushed at a set rate and a forced compaction.

use std::sync::Mutex;

use hyper::body::Bytes;

use crate::support::apiserver::{FakeApiServer, Options, key_of};
use crate::support::synthetic::World;

/// The latency probe's pod name.
const PROBE: &str = "envelope-latency-probe";

pub struct StandIn {
    server: FakeApiServer,
    world: World,
    /// Each pod's restart count: what an update changes.
    restarts: Mutex<Vec<u32>>,
}

impl StandIn {
    /// Renders the world (on every core: it is setup, not measured) and serves it.
    pub async fn start(world: World, streaming_lists: bool) -> Self {
        let server = FakeApiServer::start_with(Options {
            version: Some((1, 33)),
            streaming_lists,
        })
        .await;
        let (nodes, pods) = render_all(world);
        server.load("nodes", nodes);
        server.load("pods", pods);
        Self {
            server,
            world,
            restarts: Mutex::new(vec![0; world.pods()]),
        }
    }

    pub fn write_kubeconfig(&self, path: &std::path::Path) {
        self.server.write_kubeconfig(path);
    }

    /// The bytes of every pod as a list returns them.
    pub fn pod_bytes(&self) -> usize {
        self.server.bytes("pods")
    }

    /// (lists, watches) served so far.
    pub fn requests(&self) -> (usize, usize) {
        let count = |verb: &str| {
            ["pods", "nodes"]
                .iter()
                .map(|resource| self.server.count(&format!("{verb} {resource}")))
                .sum()
        };
        (count("list"), count("watch"))
    }

    /// One pod update: its restart count goes up, as a crash-looping or probed pod's
    /// status does; every open watch gets a MODIFIED event.
    pub fn update_pod(&self, index: usize) {
        let index = index % self.world.pods().max(1);
        let restarts = {
            let mut restarts = self.restarts.lock().unwrap_or_else(|p| p.into_inner());
            restarts[index] += 1;
            restarts[index]
        };
        // The server sets the resourceVersion.
        self.server
            .apply("pods", self.world.pod(index, 0, restarts));
    }

    /// The latency probe: a pod on node 0 that is created Pending with no ENI yet (the
    /// node's waiting figure goes up by one) or deleted (down again).
    pub fn probe(&self, waiting: bool) {
        let mut pod = self.world.pod(0, 0, 0);
        pod["metadata"]["name"] = PROBE.into();
        let key = key_of(&pod);
        if !waiting {
            self.server.delete("pods", &key);
            return;
        }
        if let Some(annotations) = pod["metadata"]["annotations"].as_object_mut() {
            annotations.remove("vpc.amazonaws.com/pod-eni");
        }
        pod["status"]["phase"] = "Pending".into();
        self.server.apply("pods", pod);
    }

    /// What an etcd compaction past every watcher's version does: open watches end, and
    /// resuming them gets 410 Gone, so clients re-list.
    pub fn compact(&self) {
        self.server.compact();
        self.server.drop_watches();
    }
}

/// Objects as the API sends them, by key.
type Rendered = Vec<(String, Bytes)>;

fn rendered(object: &serde_json::Value) -> (String, Bytes) {
    (key_of(object), Bytes::from(object.to_string()))
}

/// Every node and pod rendered, the pods on all cores.
fn render_all(world: World) -> (Rendered, Rendered) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pods = world.pods();
    let chunk = pods.div_ceil(threads).max(1);
    let rendered_pods = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..pods)
            .step_by(chunk)
            .map(|start| {
                scope.spawn(move || {
                    (start..(start + chunk).min(pods))
                        .map(|index| rendered(&world.pod(index, 1, 0)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("render"))
            .collect()
    });
    let nodes = (0..world.nodes).map(|n| rendered(&world.node(n))).collect();
    (nodes, rendered_pods)
}
