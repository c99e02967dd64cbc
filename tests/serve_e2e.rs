//! End to end: the built binary `serve` against moto (behind a proxy that can cut it
//! off) and the fake API server, on the incident; then the world changes and both
//! sources fail, and `/metrics` must say what DESIGN §4–§5 say.

mod support;

use std::process::Command;
use std::time::Duration;

use support::apiserver::FakeApiServer;
use support::exporter::{Exporter, WAIT};
use support::moto::{Moto, ec2_client};
use support::proxy::Proxy;
use support::world::{CLUSTER, FULL_NODE, build_incident, full_node, pod_json};
use support::{eventually, http_get, live_command, sample};

/// Orphans leak after this; completed pods' ENIs get an hour unless their pod finished
/// long ago, so both release paths can be watched in one run.
const LEAK_GRACE_SECONDS: u64 = 6;
const COMPLETED_GRACE: &str = "1h";

/// Live `serve` with short graces, quick polls and only errors logged.
fn serve_live(kubeconfig: &std::path::Path, ec2_endpoint: &str) -> Exporter {
    let mut command = live_command(&["serve"], kubeconfig, ec2_endpoint);
    command
        .args(["--ec2-poll-interval", "1s"])
        .args(["--orphan-leak-grace", &format!("{LEAK_GRACE_SECONDS}s")])
        .args(["--completed-leak-grace", COMPLETED_GRACE])
        .env("RUST_LOG", "error");
    Exporter::spawn(command)
}

/// `serve --from` a scratch copy of examples/incident, which the test may edit.
fn serve_copy_of_incident() -> (tempfile::TempDir, Exporter) {
    let dir = tempfile::tempdir().unwrap();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/incident");
    for entry in std::fs::read_dir(&examples).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_pod-eni-exporter"));
    command.args(["serve", "--from", dir.path().to_str().unwrap()]);
    (dir, Exporter::spawn(command))
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_follows_the_incident_through_changes_and_outages() {
    let moto = Moto::start();
    let proxy = Proxy::start(moto.port).await;
    let api = FakeApiServer::start().await;
    let ec2 = ec2_client(&moto.endpoint());
    let world = build_incident(&ec2, &api).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);

    let exporter = serve_live(&kubeconfig, &proxy.endpoint());
    eventually("/healthz 200", WAIT, || {
        (http_get(exporter.port, "/healthz")?.0 == 200).then_some(())
    })
    .await;
    eventually("/readyz 200", WAIT, || {
        (http_get(exporter.port, "/readyz")?.0 == 200).then_some(())
    })
    .await;

    // The incident: kubectl's view says 14 of 18, EC2 says full.
    exporter
        .wait_for("incident figures", |e| {
            e.shows_the_full_node() && e.state("completed_pod") == Some(3.0)
        })
        .await;
    let text = exporter.metrics().unwrap();
    assert_eq!(
        sample(
            &text,
            &format!("podeni_node_branch_enis{{node=\"{FULL_NODE}\",state=\"orphaned\"}}")
        )
        .unwrap()
            + sample(
                &text,
                &format!("podeni_node_branch_enis{{node=\"{FULL_NODE}\",state=\"leaked\"}}")
            )
            .unwrap(),
        2.0,
        "the two cool-down ENIs"
    );
    // Informational: resident memory of the exporter once synced on the incident.
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", exporter.child.id()))
        && let Some(rss) = status.lines().find(|l| l.starts_with("VmRSS"))
    {
        eprintln!("serve after sync on the incident: {rss}");
    }
    for (_, eni) in &world.completed {
        assert!(
            text.contains(&format!("eni_id=\"{eni}\"")),
            "culprit {eni} in holder_info"
        );
    }
    assert!(text.contains("owner_kind=\"Job\",owner_name=\"db-migrate-28871040\""));
    assert!(
        !text.contains(&world.other_cluster_eni),
        "another cluster's ENI is ignored"
    );
    let detached: f64 = world
        .subnet_ids
        .iter()
        .filter_map(|s| {
            sample(
                &text,
                &format!("podeni_subnet_branch_enis{{subnet_id=\"{s}\",state=\"detached\"}}"),
            )
        })
        .sum();
    assert_eq!(detached, 1.0);
    assert_eq!(sample(&text, "podeni_source_up{source=\"ec2\"}"), Some(1.0));
    assert_eq!(
        sample(&text, "podeni_source_up{source=\"kubernetes\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "podeni_kube_objects{resource=\"pods\"}"),
        Some(21.0),
        "SGP pods only"
    );

    // The grace passes: the cool-down ENIs that never went away are leaked.
    exporter
        .wait_for("cool-down ENIs leaked", |e| e.state("leaked") == Some(2.0))
        .await;

    // A running pod completes: its ENI moves from in_use to completed_pod.
    let (web0, web0_eni) = &world.running[0];
    api.apply(
        "pods",
        pod_json(web0, FULL_NODE, "Succeeded", Some(web0_eni), None),
    );
    exporter
        .wait_for("completion", |e| {
            e.state("in_use") == Some(12.0) && e.state("completed_pod") == Some(4.0)
        })
        .await;
    assert_eq!(exporter.node("podeni_node_branch_eni_requests"), Some(13.0));

    // A completed pod is deleted: the controller released its ENI at completion, so the
    // ENI stays on that release path (it does not restart as an orphan) and keeps
    // naming the pod that last held it.
    let (job0, job0_eni) = &world.completed[0];
    api.delete("pods", job0);
    let job0_name = job0.split('/').nth(1).unwrap();
    exporter
        .wait_for("deleted completed pod's ENI keeps its holder", |e| {
            e.metrics().is_some_and(|m| {
                m.contains(&format!(
                    "eni_id=\"{job0_eni}\",node=\"{FULL_NODE}\",state=\"completed_pod\",namespace=\"shop\",pod=\"{job0_name}\""
                ))
            })
        })
        .await;
    assert_eq!(exporter.state("completed_pod"), Some(4.0));
    assert_eq!(exporter.state("orphaned"), Some(0.0));

    // A pod that finished long ago (finishedAt in its status) still holds its ENI: past
    // the completed-pod grace, it is leaked and names its last holder.
    let (web1, web1_eni) = &world.running[1];
    let mut finished = pod_json(web1, FULL_NODE, "Succeeded", Some(web1_eni), None);
    finished["status"]["containerStatuses"] = serde_json::json!([{
        "name": "app", "image": "registry.example.com/app:1", "imageID": "", "ready": false,
        "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "startedAt": "2026-11-24T08:00:05Z",
                                 "finishedAt": "2026-11-24T08:10:00Z"}}
    }]);
    api.apply("pods", finished);
    exporter
        .wait_for("long-finished pod's ENI leaked", |e| {
            e.state("leaked") == Some(3.0) && e.state("in_use") == Some(11.0)
        })
        .await;
    let web1_name = web1.split('/').nth(1).unwrap();
    assert!(exporter.metrics().unwrap().contains(&format!(
        "eni_id=\"{web1_eni}\",node=\"{FULL_NODE}\",state=\"leaked\",namespace=\"shop\",pod=\"{web1_name}\""
    )));

    // EC2 goes away. The last figures stay; an ENI orphaned meanwhile never turns
    // leaked, however long the outage.
    proxy.cut();
    exporter
        .wait_for("ec2 down", |e| {
            e.value("podeni_source_up{source=\"ec2\"}") == Some(0.0)
        })
        .await;
    // A running pod is deleted: its ENI is named by no pod.
    let (web2, _) = &world.running[2];
    api.delete("pods", web2);
    exporter
        .wait_for("orphaned during the outage", |e| {
            e.state("orphaned") == Some(1.0)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2 * LEAK_GRACE_SECONDS)).await;
    assert_eq!(
        exporter.state("orphaned"),
        Some(1.0),
        "no ENI turns leaked while EC2 is down"
    );
    assert_eq!(exporter.state("leaked"), Some(3.0));
    assert_eq!(
        exporter.node("podeni_node_branch_eni_capacity"),
        Some(18.0),
        "last figures kept"
    );
    let errors = exporter.value(
        "podeni_ec2_request_errors_total{operation=\"DescribeNetworkInterfaces\",code=\"network\"}",
    );
    assert!(
        errors.unwrap_or(0.0) >= 1.0,
        "the failure is counted: {errors:?}"
    );

    // EC2 is back: fresh data, and the ENI whose pod is gone ages normally.
    proxy.restore();
    exporter
        .wait_for("ec2 up again", |e| {
            e.value("podeni_source_up{source=\"ec2\"}") == Some(1.0)
        })
        .await;
    exporter
        .wait_for("aged after recovery", |e| {
            e.state("leaked") == Some(4.0) && e.state("orphaned") == Some(0.0)
        })
        .await;

    // The API server goes away while a new pod gets an ENI: EC2 shows an ENI no cached
    // pod names, which must not turn leaked while the cache is stale.
    api.set_unavailable(true);
    exporter
        .wait_for("kubernetes down", |e| {
            e.value("podeni_source_up{source=\"kubernetes\"}") == Some(0.0)
        })
        .await;
    let new_eni = ec2
        .create_network_interface()
        .subnet_id(&world.subnet_ids[0])
        .description("aws-k8s-branch-eni")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::NetworkInterface)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(format!("kubernetes.io/cluster/{CLUSTER}"))
                        .value("owned")
                        .build(),
                )
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("eks:eni:owner")
                        .value("eks-vpc-resource-controller")
                        .build(),
                )
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("node.k8s.amazonaws.com/instance_id")
                        .value(instance_of_full_node(&api))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .network_interface()
        .and_then(|n| n.network_interface_id())
        .unwrap()
        .to_owned();
    ec2.attach_network_interface()
        .network_interface_id(&new_eni)
        .instance_id(instance_of_full_node(&api))
        .device_index(40)
        .send()
        .await
        .unwrap();
    api.apply(
        "pods",
        pod_json(
            &world.waiting_pod,
            FULL_NODE,
            "Running",
            Some(&new_eni),
            None,
        ),
    );
    exporter
        .wait_for("new ENI seen, unclaimed", |e| {
            e.state("orphaned") == Some(1.0)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2 * LEAK_GRACE_SECONDS)).await;
    assert_eq!(
        exporter.state("leaked"),
        Some(4.0),
        "no false leak while the API server is down"
    );

    // The API server is back, with its history compacted: the watcher re-lists, the
    // new pod claims its ENI, and nothing else moves.
    let lists_before = api.count("list pods");
    api.compact();
    api.set_unavailable(false);
    exporter
        .wait_for("kubernetes back, pod claims its ENI", |e| {
            e.value("podeni_source_up{source=\"kubernetes\"}") == Some(1.0)
                && e.state("orphaned") == Some(0.0)
                && e.node("podeni_node_pods_waiting_for_branch_eni") == Some(0.0)
        })
        .await;
    assert!(
        api.count("list pods") > lists_before,
        "re-listed after 410 Gone"
    );
    assert_eq!(exporter.state("leaked"), Some(4.0));
    assert_eq!(
        exporter.state("in_use"),
        Some(11.0),
        "13 running, 3 no longer, 1 new"
    );

    // SIGTERM: graceful shutdown, exit 0.
    let mut exporter = exporter;
    let pid = exporter.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = eventually("exit after SIGTERM", Duration::from_secs(15), || {
        exporter.child.try_wait().ok().flatten()
    })
    .await;
    assert!(status.success(), "{status:?}");
}

fn instance_of_full_node(api: &FakeApiServer) -> String {
    let node = api.get("nodes", FULL_NODE).expect("full node");
    node["spec"]["providerID"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

/// `snapshot --out DIR` writes kubectl / AWS CLI shapes; `audit --from DIR` on it gives
/// the same answer as the live `audit`.
#[tokio::test(flavor = "multi_thread")]
async fn live_audit_equals_audit_of_a_live_snapshot() {
    let moto = Moto::start();
    let api = FakeApiServer::start().await;
    let world = build_incident(&ec2_client(&moto.endpoint()), &api).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let endpoint = moto.endpoint();

    let out = dir.path().join("snap");
    // The full node trips --fail-on exhausted.
    let (live, offline) = support::live_and_snapshot_audits(
        &kubeconfig,
        &endpoint,
        &out,
        &["--fail-on", "exhausted"],
        1,
    );
    let node = full_node(&live);
    assert_eq!(node["attached"], 18);
    assert_eq!(node["requested"], 14);
    assert_eq!(node["remaining"], 0);
    assert_eq!(
        live["waitingPods"][0]["pod"],
        world.waiting_pod.split('/').nth(1).unwrap()
    );
    assert_eq!(
        offline, live,
        "the snapshot holds everything the live audit used"
    );

    let pods: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("pods.json")).unwrap()).unwrap();
    assert_eq!(pods["kind"], "List");
    assert_eq!(
        pods["items"].as_array().unwrap().len(),
        13 + 3 + 1 + 1 + 4,
        "every pod, coredns included, as kubectl lists them"
    );
    let enis: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("network-interfaces.json")).unwrap(),
    )
    .unwrap();
    assert!(
        enis["NetworkInterfaces"][0]["NetworkInterfaceId"].is_string(),
        "AWS CLI casing"
    );
}

#[test]
fn live_mode_without_a_cluster_name_is_a_usage_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_pod-eni-exporter"))
        .args(["audit"])
        .env_remove("PODENI_CLUSTER_NAME")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--cluster-name"));
}

/// `serve --from DIR`: serves a snapshot directory and re-reads it when it changes;
/// a broken file keeps the last good figures and says so.
#[tokio::test(flavor = "multi_thread")]
async fn serve_from_a_directory_follows_its_files() {
    let (dir, exporter) = serve_copy_of_incident();
    let port = exporter.port;
    eventually("/readyz 200", WAIT, || {
        (http_get(port, "/readyz")?.0 == 200).then_some(())
    })
    .await;
    exporter
        .wait_for("incident served", |e| {
            e.node("podeni_node_branch_eni_remaining") == Some(0.0)
                && e.state("completed_pod") == Some(1.0)
                && e.state("leaked") == Some(3.0)
        })
        .await;
    let (status, landing) = http_get(port, "/").unwrap();
    assert_eq!(status, 200);
    assert!(landing.contains("href=\"metrics\""));
    assert_eq!(http_get(port, "/nope").map(|r| r.0), Some(404));
    assert_eq!(
        support::http_request(port, "HEAD", "/metrics"),
        Some((200, String::new())),
        "HEAD: headers only"
    );
    assert_eq!(
        support::http_request(port, "POST", "/metrics").map(|r| r.0),
        Some(405),
        "only GET and HEAD"
    );

    // The waiting pod is deleted from the snapshot: one slot more.
    let pods_path = dir.path().join("pods.json");
    let mut pods: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&pods_path).unwrap()).unwrap();
    pods["items"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p["metadata"]["name"] != "checkout-api-7d9f8b6c5d-q8r2t");
    std::fs::write(&pods_path, pods.to_string()).unwrap();
    exporter
        .wait_for("re-read", |e| {
            e.node("podeni_node_pods_waiting_for_branch_eni") == Some(0.0)
                && e.node("podeni_node_branch_eni_requests") == Some(13.0)
        })
        .await;

    // The capture time moves two hours on: the warm-up pod's ENI is past its grace.
    std::fs::write(
        dir.path().join("metadata.json"),
        r#"{"capturedAt": "2026-11-24T11:45:00Z"}"#,
    )
    .unwrap();
    exporter
        .wait_for("capture time re-read", |e| {
            e.state("completed_pod") == Some(0.0) && e.state("leaked") == Some(4.0)
        })
        .await;

    // A truncated file: last good figures stay, the sources say they are down.
    std::fs::write(&pods_path, "{\"items\": [").unwrap();
    exporter
        .wait_for("source down", |e| {
            e.value("podeni_source_up{source=\"kubernetes\"}") == Some(0.0)
        })
        .await;
    assert_eq!(exporter.node("podeni_node_branch_eni_requests"), Some(13.0));
}

/// `/healthz` polled every 100 ms from a thread: every answer must come within 200 ms,
/// whatever the reader is doing.
struct HealthProbe {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(usize, Vec<Duration>)>>,
}

impl HealthProbe {
    fn start(port: u16) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut answered = 0;
            let mut slow = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let started = std::time::Instant::now();
                let ok = http_get(port, "/healthz").is_some_and(|(status, _)| status == 200);
                let took = started.elapsed();
                if !ok || took > Duration::from_millis(200) {
                    slow.push(took);
                }
                answered += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            (answered, slow)
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (usize, Vec<Duration>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_from_keeps_answering_while_files_are_huge_or_stuck() {
    let (dir, exporter) = serve_copy_of_incident();
    let port = exporter.port;
    exporter
        .wait_for("incident served", |e| e.state("leaked") == Some(3.0))
        .await;
    let warnings = |e: &Exporter| e.value("podeni_input_warnings_total{kind=\"duplicate_object\"}");
    let pods_path = dir.path().join("pods.json");
    let original = std::fs::read_to_string(&pods_path).unwrap();
    let probe = HealthProbe::start(port);

    // A pod listed twice: one duplicate_object warning, counted once however often the
    // directory is re-read.
    let mut pods: serde_json::Value = serde_json::from_str(&original).unwrap();
    let items = pods["items"].as_array_mut().unwrap();
    let sgp_pod = items
        .iter()
        .find(|p| p["metadata"]["name"] == "checkout-api-7d9f8b6c5d-4kx9z")
        .unwrap()
        .clone();
    items.push(sgp_pod);
    std::fs::write(&pods_path, pods.to_string()).unwrap();
    exporter
        .wait_for("duplicate counted", |e| warnings(e) == Some(1.0))
        .await;
    std::fs::write(
        dir.path().join("metadata.json"),
        r#"{"capturedAt": "2026-11-24T09:45:01Z"}"#,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        warnings(&exporter),
        Some(1.0),
        "not counted again on re-read"
    );

    // A change that keeps size and modification time (cp -p, rsync -t, tar): the
    // waiting pod moves to a node that is not there.
    std::fs::write(&pods_path, &original).unwrap();
    exporter
        .wait_for("back to the original", |e| {
            e.node("podeni_node_pods_waiting_for_branch_eni") == Some(1.0)
        })
        .await;
    let mtime = std::fs::metadata(&pods_path).unwrap().modified().unwrap();
    let pod = original.find("checkout-api-7d9f8b6c5d-4kx9z").unwrap();
    let at = pod
        + original[pod..]
            .find("\"nodeName\": \"ip-10-0-1-10.")
            .unwrap();
    let mut moved = original.clone();
    moved.replace_range(at..at + 26, "\"nodeName\": \"ip-10-0-1-19.");
    assert_eq!(moved.len(), original.len());
    assert_ne!(moved, original);
    std::fs::write(&pods_path, &moved).unwrap();
    std::fs::File::options()
        .append(true)
        .open(&pods_path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    exporter
        .wait_for("same size and mtime still re-read", |e| {
            e.node("podeni_node_branch_eni_requests") != Some(14.0)
        })
        .await;

    // A FIFO in place of nodes.json: refused at once, the last figures stay.
    let nodes_path = dir.path().join("nodes.json");
    std::fs::remove_file(&nodes_path).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(&nodes_path)
            .status()
            .unwrap()
            .success()
    );
    exporter
        .wait_for("source down", |e| {
            e.value("podeni_source_up{source=\"kubernetes\"}") == Some(0.0)
        })
        .await;
    std::fs::remove_file(&nodes_path).unwrap();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/incident");
    std::fs::copy(examples.join("nodes.json"), &nodes_path).unwrap();

    // A large pods.json (about 60 MB, 60,000 pods): read off the serving threads.
    let mut pods: serde_json::Value = serde_json::from_str(&original).unwrap();
    let template = pods["items"][2].clone();
    let items = pods["items"].as_array_mut().unwrap();
    for i in 0..60_000 {
        let mut pod = template.clone();
        pod["metadata"]["name"] = format!("filler-{i}").into();
        pod["metadata"]["annotations"] = serde_json::json!({"padding": "x".repeat(600)});
        items.push(pod);
    }
    std::fs::write(&pods_path, pods.to_string()).unwrap();
    // Debug builds parse slowly: allow minutes, the probe runs meanwhile.
    eventually("large file read", Duration::from_secs(180), || {
        (exporter.node("podeni_node_branch_eni_requests")? > 60_000.0).then_some(())
    })
    .await;

    let (answered, slow) = probe.finish();
    assert!(answered > 50, "the probe ran: {answered}");
    assert!(
        slow.is_empty(),
        "/healthz must answer within 200 ms every time; {} of {answered} did not: {slow:?}",
        slow.len()
    );
}

/// An API outage is logged once when it starts and once when it ends, not once per
/// retry, and kube's own per-request errors stay out of the default log.
#[tokio::test(flavor = "multi_thread")]
async fn an_api_outage_is_logged_once_not_per_retry() {
    let api = FakeApiServer::start().await;
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    api.write_kubeconfig(kubeconfig.path());
    let ec2 = support::ec2_stub::Ec2Stub::new(2, 1).start().await;
    let mut command = live_command(&["serve"], kubeconfig.path(), &ec2);
    command.args(["--ec2-poll-interval", "1s"]);
    let exporter = Exporter::spawn(command);
    exporter.wait_ready().await;
    api.set_unavailable(true);
    api.drop_watches();
    // Watch retries back off to every 10 s: 12 s is several retries per resource.
    eventually("errors counted", WAIT, || {
        let errors = exporter.value("podeni_kube_watch_errors_total{resource=\"pods\"}")?;
        (errors >= 3.0).then_some(())
    })
    .await;
    api.set_unavailable(false);
    eventually("source up again", WAIT, || {
        (exporter.value("podeni_source_up{source=\"kubernetes\"}")? == 1.0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let joins = exporter.value("podeni_reconcile_duration_seconds_count");
    assert!(joins >= Some(1.0), "joins are timed: {joins:?}");
    let text = exporter.log();
    drop(exporter);
    let failed = text.matches("watch failed").count();
    assert!(
        (1..=2).contains(&failed),
        "one line per resource when the outage starts, not per retry ({failed}):\n{text}"
    );
    assert!(text.contains("watch working again"), "{text}");
    for startup in ["first sync done", "first EC2 poll done"] {
        assert!(text.contains(startup), "{startup}: {text}");
    }
    // The fake API server has no /version: the watchers list in pages, and say so.
    assert!(text.contains("initial_list=Paginated"), "{text}");
    let sync = text
        .lines()
        .find(|l| l.contains("first sync done") && l.contains("resource=\"pods\""))
        .unwrap_or_else(|| panic!("no pod sync line: {text}"));
    assert!(
        sync.contains("pages=1") && sync.contains("listed="),
        "{sync}"
    );
    assert!(!text.contains("kube_client"), "{text}");
    assert!(!text.contains("ERROR"), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour codes in a log file");
}
