//! Against a real kube-apiserver and etcd (issue 10): the rendered manifests pass the
//! server's validation, RBAC is enforced for the exporter's own identity, the incident is
//! accounted from real list/watch, restarts and compaction are survived, and the live
//! audit equals the audit of the snapshot it writes. EC2 is moto.

mod support;

use serde_json::json;
use support::exporter::{Exporter, WAIT};
use support::moto::{Moto, ec2_client};
use support::real_apiserver::{KubeVersion, RealApiServer, RealCluster};
use support::world::{FULL_NODE, HEALTHY_NODE, build_incident, full_node, pod_json};
use support::{eventually, http_get, live_command};

const OPERATOR_KINDS: [&str; 2] = ["ServiceMonitor", "PrometheusRule"];

fn serve(kubeconfig: &std::path::Path, ec2_endpoint: &str, extra: &[&str]) -> Exporter {
    let mut command = live_command(&["serve"], kubeconfig, ec2_endpoint);
    command.args(["--ec2-poll-interval", "1s"]).args(extra);
    Exporter::spawn(command)
}

/// `kubectl kustomize deploy/kubernetes`, without the prometheus-operator kinds (no
/// such CRDs on a bare API server), as one YAML stream.
fn rendered_manifests(server: &RealApiServer) -> String {
    let rendered = server.kubectl(&["kustomize", "deploy/kubernetes"], None);
    rendered
        .split("\n---\n")
        .filter(|doc| {
            !OPERATOR_KINDS
                .iter()
                .any(|kind| doc.contains(&format!("\nkind: {kind}\n")))
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_rbac_and_the_incident_on_a_real_api_server() {
    let server = RealApiServer::start();
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();

    // Every object passes the real server's validation and admission.
    let manifests = rendered_manifests(&server);
    server.kubectl(&["create", "namespace", "pod-eni-exporter"], None);
    let dry = server.kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(&manifests));
    let documents = manifests.split("\n---\n").count();
    let accepted = dry
        .lines()
        .filter(|l| l.ends_with("(server dry run)"))
        .count();
    assert_eq!(accepted, documents, "every object accepted:\n{dry}");
    for object in [
        "serviceaccount/pod-eni-exporter",
        "clusterrole.rbac.authorization.k8s.io/pod-eni-exporter",
        "clusterrolebinding.rbac.authorization.k8s.io/pod-eni-exporter",
        "deployment.apps/pod-eni-exporter",
        "service/pod-eni-exporter",
    ] {
        assert!(dry.contains(object), "{object} in the dry run:\n{dry}");
    }
    // The RBAC objects for real: the exporter's identity gets exactly them.
    let rbac: String = manifests
        .split("\n---\n")
        .filter(|doc| {
            ["ClusterRole", "ClusterRoleBinding", "ServiceAccount"]
                .iter()
                .any(|kind| doc.contains(&format!("\nkind: {kind}\n")))
        })
        .collect::<Vec<_>>()
        .join("\n---\n");
    server.kubectl(&["apply", "-f", "-"], Some(&rbac));

    let exporter_config = server.exporter_kubeconfig();
    let as_exporter = |args: &[&str]| server.kubectl_as(&exporter_config, args, None);
    for allowed in [
        ["list", "pods"],
        ["watch", "pods"],
        ["list", "nodes"],
        ["watch", "nodes"],
    ] {
        let (ok, out, err) = as_exporter(&["auth", "can-i", allowed[0], allowed[1], "-A"]);
        assert!(ok && out.trim() == "yes", "{allowed:?}: {out}{err}");
    }
    let (ok, _, err) = as_exporter(&["get", "secrets", "-A"]);
    assert!(!ok && err.contains("Forbidden"), "secrets: {err}");
    let (ok, _, err) = as_exporter(&["create", "namespace", "mine"]);
    assert!(!ok && err.contains("Forbidden"), "writes: {err}");
    let (ok, _, err) = as_exporter(&["delete", "node", "anything"]);
    assert!(!ok && err.contains("Forbidden"), "deletes: {err}");

    // The incident, created through the API, with the ENIs in moto.
    let moto = Moto::start();
    let cluster = RealCluster::new(server.admin_client().await);
    let world = build_incident(&ec2_client(&moto.endpoint()), &cluster).await;
    let exporter = serve(
        &exporter_config,
        &moto.endpoint(),
        &["--orphan-leak-grace", "8s", "--completed-leak-grace", "12s"],
    );
    exporter.wait_ready().await;
    exporter
        .wait_for("incident figures", Exporter::shows_the_full_node)
        .await;
    // The three long-finished migrations (no finish time: aged from first sight) and
    // the two ENIs in cool-down leak after their graces.
    exporter
        .wait_for("graces pass", |e| e.state("leaked") == Some(5.0))
        .await;

    // A Job pod completes now (status patch, as the kubelet does): being released.
    let (job_key, job_eni) = world.running[0].clone();
    let (namespace, name) = job_key.split_once('/').unwrap();
    let now = jiff::Timestamp::now().to_string();
    cluster
        .set_pod_status(
            namespace,
            name,
            json!({"phase": "Succeeded", "containerStatuses": [{
                "name": "app", "image": "registry.example.com/app:1", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                "startedAt": "2026-11-24T08:00:00Z", "finishedAt": now}}}]}),
        )
        .await;
    exporter
        .wait_for("completed, being released", |e| {
            e.state("in_use") == Some(12.0) && e.state("completed_pod") == Some(1.0)
        })
        .await;
    exporter
        .wait_for("then leaked, naming its holder", |e| {
            e.state("leaked") == Some(6.0)
                && e.value(&format!(
                    "podeni_branch_eni_holder_info{{eni_id=\"{job_eni}\",node=\"{FULL_NODE}\",state=\"leaked\",namespace=\"{namespace}\",pod=\"{name}\",owner_kind=\"ReplicaSet\",owner_name=\"checkout-api-7d9f8b6c5d\"}}"
                )) == Some(1.0)
        })
        .await;

    // A running pod is deleted: its ENI is named by no pod, then leaked.
    let (key, _) = world.running[1].clone();
    let (namespace, name) = key.split_once('/').unwrap();
    cluster.delete_pod(namespace, name).await;
    exporter
        .wait_for("orphaned", |e| {
            e.state("in_use") == Some(11.0) && e.state("orphaned") == Some(1.0)
        })
        .await;
    exporter
        .wait_for("orphan leaked", |e| e.state("leaked") == Some(7.0))
        .await;
    let log = exporter.log();
    assert!(!log.contains("ERROR"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_without_watch_is_named_in_readyz_and_the_log() {
    let server = RealApiServer::start();
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "pod-eni-exporter-no-watch"},
        "rules": [{"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list"]}]
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "pod-eni-exporter-no-watch"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-eni-exporter-no-watch"},
        "subjects": [{"kind": "ServiceAccount", "name": "pod-eni-exporter", "namespace": "pod-eni-exporter"}]
    });
    for object in [role, binding] {
        server.kubectl(&["apply", "-f", "-"], Some(&object.to_string()));
    }
    let moto = Moto::start();
    let exporter = serve(&server.exporter_kubeconfig(), &moto.endpoint(), &[]);
    eventually("watch errors counted", WAIT, || {
        let errors = exporter.value("podeni_kube_watch_errors_total{resource=\"pods\"}")?;
        (errors >= 1.0).then_some(())
    })
    .await;
    let (status, body) = http_get(exporter.port, "/readyz").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("watch of pods failing") && body.contains("cannot watch resource \"pods\""),
        "{body}"
    );
    let log = exporter.log();
    assert!(log.contains("cannot watch resource"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn restarts_compaction_and_bursts_on_a_real_api_server() {
    let server = RealApiServer::start();
    let moto = Moto::start();
    let cluster = RealCluster::new(server.admin_client().await);
    build_incident(&ec2_client(&moto.endpoint()), &cluster).await;
    let exporter = serve(&server.admin_kubeconfig(), &moto.endpoint(), &[]);
    let settled = |e: &Exporter| {
        e.state("in_use") == Some(13.0)
            && e.state("completed_pod") == Some(3.0)
            && e.state("orphaned") == Some(2.0)
            && e.node("podeni_node_branch_eni_requests") == Some(14.0)
    };
    exporter.wait_for("incident figures", settled).await;
    // How the first lists were taken: streamed (`sendInitialEvents`) where the server
    // has the WatchList feature, in pages on v1.20.
    let lists = |log: &str, what: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains(what))
            .map(str::to_owned)
            .collect()
    };
    let log = exporter.log();
    let streamed = server.version() == KubeVersion::Current;
    let first_syncs = lists(&log, "first sync done");
    assert_eq!(first_syncs.len(), 2, "{log}");
    for line in &first_syncs {
        assert_eq!(
            line.contains("pages=none (streaming list)"),
            streamed,
            "{line}"
        );
    }
    let initial = if streamed {
        "initial_list=Streaming"
    } else {
        "initial_list=Paginated"
    };
    assert!(log.contains(initial), "{log}");

    // The API server restarts under the exporter: the watches resume from where they
    // were; a pod created after is seen, the figures stay, and nothing leaks.
    let requested = |e: &Exporter| e.node("podeni_node_branch_eni_requests").unwrap_or(0.0);
    let before = requested(&exporter);
    server.restart();
    let pod = pod_json("shop/after-restart", FULL_NODE, "Pending", None, None);
    cluster.put_pod(pod).await;
    exporter
        .wait_for("the watch resumed", |e| {
            requested(e) == before + 1.0
                && e.state("in_use") == Some(13.0)
                && e.state("leaked") == Some(0.0)
        })
        .await;

    // The exporter misses changes (stopped), etcd is compacted past them and the API
    // server restarts: resuming from its old version gets 410 Gone, so it re-lists,
    // sees what it missed, and counts and says the re-list.
    let before = requested(&exporter);
    // Whichever watch resumes from a compacted version re-lists (the nodes one always
    // does: nothing moved its version on while the exporter was stopped).
    let relists = |e: &Exporter| {
        ["pods", "nodes"]
            .iter()
            .filter_map(|r| e.value(&format!("podeni_kube_relists_total{{resource=\"{r}\"}}")))
            .sum::<f64>()
    };
    let signal = |name: &str| {
        let sent = std::process::Command::new("kill")
            .args([name, &exporter.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    signal("-STOP");
    let pod = pod_json("shop/while-stopped", FULL_NODE, "Pending", None, None);
    cluster.put_pod(pod).await;
    server.compact();
    server.restart();
    signal("-CONT");
    // Twice the usual wait: after this compaction and restart, v1.20.2 takes the nodes
    // watch back only after about 71 s (seen in two full runs, the pods watch in 5 s;
    // the cause, on the server's side or the watcher's, is not found yet).
    eventually("re-listed after 410", 2 * WAIT, || {
        let e = &exporter;
        // The counter moves before the log line is written: wait for both.
        (requested(e) == before + 1.0
            && e.state("in_use") == Some(13.0)
            && e.state("leaked") == Some(0.0)
            && relists(e) >= 1.0
            && !lists(&e.log(), "re-listed").is_empty())
        .then_some(())
    })
    .await;
    let relisted = lists(&exporter.log(), "re-listed");
    for line in &relisted {
        assert_eq!(
            line.contains("pages=none (streaming list)"),
            streamed,
            "{line}"
        );
    }

    // 2,000 pods in a burst are all accounted.
    let cluster = std::sync::Arc::new(cluster);
    let mut creations = Vec::new();
    for chunk in 0..8 {
        let cluster = cluster.clone();
        creations.push(tokio::spawn(async move {
            for i in 0..250 {
                let key = format!("burst/pod-{chunk}-{i}");
                cluster
                    .put_pod(pod_json(&key, FULL_NODE, "Pending", None, None))
                    .await;
            }
        }));
    }
    for creation in creations {
        creation.await.unwrap();
    }
    exporter
        .wait_for("the burst accounted", |e| {
            e.node("podeni_node_branch_eni_requests") == Some(2016.0)
                && e.node("podeni_node_pods_waiting_for_branch_eni") == Some(2003.0)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn live_audit_on_a_real_api_server_equals_the_audit_of_its_snapshot() {
    let server = RealApiServer::start();
    let moto = Moto::start();
    let cluster = RealCluster::new(server.admin_client().await);
    build_incident(&ec2_client(&moto.endpoint()), &cluster).await;
    let dir = tempfile::tempdir().unwrap();
    let (live, offline) = support::live_and_snapshot_audits(
        &server.admin_kubeconfig(),
        &moto.endpoint(),
        &dir.path().join("snap"),
        &[],
        0,
    );
    assert_eq!(offline, live);
    let node = full_node(&live);
    assert_eq!(node["attached"], 18);
    assert_eq!(node["requested"], 14);
}

/// A container removed by the kubelet before the pod's final status (status_manager.go,
/// `TerminatePod`): no times at all.
fn status_unknown() -> serde_json::Value {
    json!({"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
        "message": "The container could not be located when the pod was terminated"}})
}

fn condition(kind: &str, status: &str, at: &str) -> serde_json::Value {
    json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": at})
}

/// Pods in the shapes the kubelet, the eviction manager and the scheduler really write,
/// through the real API server's `/status`: the live exporter and a one-shot audit read
/// each as the controller treats it (docs/pod-status.md).
#[tokio::test(flavor = "multi_thread")]
async fn pod_shapes_as_the_kubelet_writes_them_on_a_real_api_server() {
    let server = RealApiServer::start();
    let moto = Moto::start();
    let ec2 = ec2_client(&moto.endpoint());
    let cluster = RealCluster::new(server.admin_client().await);
    let world = build_incident(&ec2, &cluster).await;
    let long_ago = "2026-11-24T06:00:00Z";
    let running_for = [
        condition("PodScheduled", "True", long_ago),
        condition("PodReadyToStartContainers", "True", long_ago),
    ];

    // Evicted under memory pressure with its container removed; unready for hours
    // before. The controller released the ENI when it saw the pod fail; it is in the
    // cool-down now, and the old Ready time is no completion time.
    let evicted_eni = world.healthy_branch(&ec2, 5).await;
    let mut evicted = pod_json(
        "catalog/evicted",
        HEALTHY_NODE,
        "Failed",
        Some(&evicted_eni),
        None,
    );
    evicted["status"] = json!({
        "phase": "Failed", "reason": "Evicted",
        "message": "The node was low on resource: memory. Threshold quantity: 100Mi, available: 88032Ki.",
        "conditions": [
            condition("PodScheduled", "True", long_ago),
            condition("Ready", "False", long_ago),
            condition("PodReadyToStartContainers", "False", &jiff::Timestamp::now().to_string()),
            {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
             "lastTransitionTime": jiff::Timestamp::now().to_string()}
        ],
        "containerStatuses": [{"name": "app", "image": "registry.example.com/app:1", "imageID": "",
            "ready": false, "restartCount": 3, "state": status_unknown(),
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                "startedAt": "2026-11-24T06:10:00Z", "finishedAt": "2026-11-24T06:10:07Z"}}}]
    });
    cluster.put_pod(evicted).await;
    // A Job pod killed by activeDeadlineSeconds while it waited for its ENI, annotated
    // just before the kill: its container never ran, Ready False since scheduling.
    let deadline_eni = world.healthy_branch(&ec2, 6).await;
    let mut killed_waiting = pod_json(
        "jobs/report-killed-waiting",
        HEALTHY_NODE,
        "Failed",
        Some(&deadline_eni),
        Some(("Job", "report")),
    );
    killed_waiting["status"] = json!({
        "phase": "Failed", "reason": "DeadlineExceeded",
        "message": "Pod was active on the node longer than the specified deadline",
        "conditions": [condition("PodScheduled", "True", long_ago), condition("Ready", "False", long_ago)],
        "containerStatuses": [{"name": "app", "image": "registry.example.com/app:1", "imageID": "",
            "ready": false, "restartCount": 0, "state": status_unknown()}]
    });
    cluster.put_pod(killed_waiting).await;
    // Killed by its deadline two hours ago while running: the kill was recorded, so the
    // ENI still attached is past its release.
    let stuck_eni = world.healthy_branch(&ec2, 7).await;
    let mut killed_running = pod_json(
        "jobs/report-killed-running",
        HEALTHY_NODE,
        "Failed",
        Some(&stuck_eni),
        Some(("Job", "report")),
    );
    killed_running["status"] = json!({
        "phase": "Failed", "reason": "DeadlineExceeded",
        "conditions": [condition("PodScheduled", "True", long_ago), condition("Ready", "False", "2026-11-24T06:20:00Z")],
        "containerStatuses": [{"name": "app", "image": "registry.example.com/app:1", "imageID": "",
            "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 137,
            "reason": "Error", "startedAt": "2026-11-24T06:00:02Z", "finishedAt": "2026-11-24T06:20:00Z"}}}]
    });
    cluster.put_pod(killed_running).await;
    // Its ENI deleted under it: no network, so it crash-loops; no container runs now.
    let mut crash_looping = pod_json(
        "catalog/crash-looping",
        HEALTHY_NODE,
        "Running",
        Some("eni-0d00000000000dead"),
        None,
    );
    crash_looping["status"] = json!({
        "phase": "Running",
        "conditions": [running_for[0].clone(), running_for[1].clone(), condition("Ready", "False", "2026-11-24T06:30:00Z")],
        "containerStatuses": [{"name": "app", "image": "registry.example.com/app:1", "imageID": "",
            "ready": false, "restartCount": 9, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                "startedAt": "2026-11-24T08:59:50Z", "finishedAt": "2026-11-24T08:59:52Z"}}}]
    });
    cluster.put_pod(crash_looping).await;
    // No node can take it: the scheduler's message names pod-eni. And one that only
    // lacks CPU, which is not this exporter's business.
    for (key, message) in [
        (
            "shop/unschedulable",
            "0/3 nodes are available: 2 Insufficient vpc.amazonaws.com/pod-eni, 1 node(s) had untolerated taint {eks.amazonaws.com/compute-type: fargate}. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
        ),
        (
            "shop/cpu-starved",
            "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
        ),
    ] {
        let mut pod = pod_json(key, HEALTHY_NODE, "Pending", None, None);
        pod["spec"].as_object_mut().unwrap().remove("nodeName");
        pod["status"] = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
            "status": "False", "reason": "Unschedulable", "message": message,
            "lastProbeTime": null, "lastTransitionTime": "2026-11-24T09:30:00Z"}]});
        cluster.put_pod(pod).await;
    }

    // A node and a pod with the status fields a current kubelet writes (runtime
    // handlers, features, swap; sidecar statuses, allocated resources, users): they
    // must decode with no warning (v1.20 drops the fields it does not know).
    let current_node = "ip-10-0-9-90.eu-west-1.compute.internal";
    let mut node = support::world::node_json(
        current_node,
        "i-0a1b2c3d4e5f60990",
        "m5.large",
        "eu-west-1c",
        9,
    );
    node["status"]["nodeInfo"] = json!({"architecture": "amd64", "bootID": "b", "containerRuntimeVersion": "containerd://2.1.4",
        "kernelVersion": "6.12.40", "kubeProxyVersion": "", "kubeletVersion": "v1.36.3-eks-1", "machineID": "m",
        "operatingSystem": "linux", "osImage": "Amazon Linux 2023", "systemUUID": "s", "swap": {"capacity": 0}});
    node["status"]["runtimeHandlers"] = json!([{"name": "runc", "features": {"recursiveReadOnlyMounts": true, "userNamespaces": true}}]);
    node["status"]["features"] = json!({"supplementalGroupsPolicy": true});
    node["status"]["conditions"] = json!([{"type": "Ready", "status": "True", "reason": "KubeletReady",
        "message": "kubelet is posting ready status", "lastHeartbeatTime": long_ago, "lastTransitionTime": long_ago}]);
    cluster.put_node(node).await;
    let mut sidecar = pod_json("mesh/with-sidecar", current_node, "Pending", None, None);
    sidecar["spec"]["initContainers"] = json!([{"name": "proxy", "image": "registry.example.com/proxy:1",
        "restartPolicy": "Always", "resources": {"limits": {"vpc.amazonaws.com/pod-eni": "1"},
        "requests": {"vpc.amazonaws.com/pod-eni": "1"}}}]);
    sidecar["status"] = json!({"phase": "Pending", "qosClass": "BestEffort",
        "conditions": [condition("PodScheduled", "True", long_ago), condition("PodReadyToStartContainers", "False", long_ago),
            {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized",
             "message": "containers with incomplete status: [proxy]", "lastTransitionTime": long_ago}],
        "initContainerStatuses": [{"name": "proxy", "image": "registry.example.com/proxy:1", "imageID": "",
            "ready": false, "started": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}},
            "allocatedResources": {"vpc.amazonaws.com/pod-eni": "1"},
            "resources": {"limits": {"vpc.amazonaws.com/pod-eni": "1"}, "requests": {"vpc.amazonaws.com/pod-eni": "1"}},
            "user": {"linux": {"uid": 0, "gid": 0, "supplementalGroups": [0]}},
            "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true, "recursiveReadOnly": "Disabled"}]}],
        "containerStatuses": [{"name": "app", "image": "registry.example.com/app:1", "imageID": "",
            "ready": false, "started": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]});
    cluster.put_pod(sidecar).await;

    let exporter = serve(
        &server.admin_kubeconfig(),
        &moto.endpoint(),
        &["--completed-leak-grace", "20s"],
    );
    exporter.wait_ready().await;
    exporter
        .wait_for("the current-kubelet objects in the join", |e| {
            e.value(&format!(
                "podeni_node_pods_waiting_for_branch_eni{{node=\"{current_node}\"}}"
            )) == Some(1.0)
                && e.value(&format!(
                    "podeni_node_branch_eni_requests{{node=\"{current_node}\"}}"
                )) == Some(if server.version() == KubeVersion::Current {
                    2.0
                } else {
                    1.0
                })
        })
        .await;
    let healthy = |e: &Exporter, state: &str| {
        e.value(&format!(
            "podeni_node_branch_enis{{node=\"{HEALTHY_NODE}\",state=\"{state}\"}}"
        ))
    };
    let holder = |e: &Exporter, eni: &str, state: &str| {
        e.metrics().is_some_and(|m| {
            m.lines().any(|l| {
                l.starts_with("podeni_branch_eni_holder_info{")
                    && l.contains(&format!("eni_id=\"{eni}\""))
                    && l.contains(&format!("state=\"{state}\""))
            })
        })
    };
    // First sight: the two without a completion time are being released, the one
    // killed two hours ago is leaked; the crash-looping pod's ENI is missing; the
    // unschedulable pod counts for its namespace.
    exporter
        .wait_for("the shapes as the controller treats them", |e| {
            healthy(e, "in_use") == Some(4.0)
                && holder(e, &evicted_eni, "completed_pod")
                && holder(e, &deadline_eni, "completed_pod")
                && holder(e, &stuck_eni, "leaked")
                && e.value(&format!(
                    "podeni_node_pods_missing_branch_eni{{node=\"{HEALTHY_NODE}\"}}"
                )) == Some(1.0)
                && e.value("podeni_unschedulable_pods{namespace=\"shop\"}") == Some(1.0)
        })
        .await;
    assert_eq!(
        exporter.value("podeni_unschedulable_pods_since_timestamp_seconds{namespace=\"shop\"}"),
        Some(
            "2026-11-24T09:30:00Z"
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_second() as f64
        )
    );
    // Aged from when the exporter first saw them finished: leaked once the grace passed
    // there, still attached.
    exporter
        .wait_for("aged from the first sighting", |e| {
            holder(e, &evicted_eni, "leaked") && holder(e, &deadline_eni, "leaked")
        })
        .await;

    // One observation (a live audit) cannot age them, and says why.
    let output = live_command(
        &["audit", "--output", "json", "--fail-on", "unschedulable"],
        &server.admin_kubeconfig(),
        &moto.endpoint(),
    )
    .output()
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let audit: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let held = |eni: &str| {
        audit["holders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["eniId"] == eni)
            .cloned()
            .unwrap()
    };
    for eni in [&evicted_eni, &deadline_eni] {
        let holder = held(eni);
        assert_eq!(holder["state"], "completed_pod", "{holder}");
        assert!(
            holder["ageUnknown"]
                .as_str()
                .unwrap()
                .contains("no completion time"),
            "{holder}"
        );
    }
    assert_eq!(held(&stuck_eni)["state"], "leaked");
    assert_eq!(held(&stuck_eni)["since"], "2026-11-24T06:20:00Z");
    let missing = audit["missingPods"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0]["pod"], "crash-looping");
    let unschedulable = audit["unschedulablePods"].as_array().unwrap();
    assert_eq!(unschedulable.len(), 1, "{unschedulable:?}");
    assert_eq!(unschedulable[0]["pod"], "unschedulable");

    // A Pending pod being deleted still waits: the controller never reads
    // deletionTimestamp (no kubelet here confirms the deletion, so it stays).
    let waiting = |e: &Exporter| {
        e.value(&format!(
            "podeni_node_pods_waiting_for_branch_eni{{node=\"{HEALTHY_NODE}\"}}"
        ))
    };
    cluster
        .put_pod(pod_json(
            "catalog/terminating",
            HEALTHY_NODE,
            "Pending",
            None,
            None,
        ))
        .await;
    exporter
        .wait_for("a new pod waits", |e| waiting(e) == Some(1.0))
        .await;
    server.kubectl(
        &[
            "delete",
            "pod",
            "-n",
            "catalog",
            "terminating",
            "--wait=false",
        ],
        None,
    );
    let terminating = server.kubectl(
        &[
            "get",
            "pod",
            "-n",
            "catalog",
            "terminating",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ],
        None,
    );
    assert!(!terminating.trim().is_empty(), "the pod is terminating");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        waiting(&exporter),
        Some(1.0),
        "still waits while terminating"
    );
    let log = exporter.log();
    assert!(
        !log.contains("cannot decode") && !log.contains("input problem") && !log.contains("ERROR"),
        "decoded with no warning:\n{log}"
    );
}

/// The scheduler's arithmetic against a real oracle: after each pod shape is bound to a
/// node, the exporter's `requested` equals what `kubectl describe node` (kubectl 1.36,
/// the scheduler's own request helpers) allocates for `vpc.amazonaws.com/pod-eni`. On
/// v1.20 the API drops `restartPolicy` from init containers (no sidecars then), and
/// both sides must agree on that too.
#[tokio::test(flavor = "multi_thread")]
async fn requested_equals_what_kubectl_describe_node_allocates() {
    let server = RealApiServer::start();
    let moto = Moto::start();
    let cluster = RealCluster::new(server.admin_client().await);
    let node = "ip-10-0-7-70.eu-west-1.compute.internal";
    cluster
        .put_node(support::world::node_json(
            node,
            "i-0a1b2c3d4e5f60777",
            "m5.24xlarge",
            "eu-west-1a",
            107,
        ))
        .await;
    let container = |name: &str, request: u32, sidecar: bool| {
        let mut container = json!({"name": name, "image": "registry.example.com/app:1"});
        if request > 0 {
            let quantity = json!({"vpc.amazonaws.com/pod-eni": request.to_string()});
            container["resources"] = json!({"requests": quantity, "limits": quantity});
        }
        if sidecar {
            container["restartPolicy"] = json!("Always");
        }
        container
    };
    // (name, app containers, init containers as (request, sidecar)), in creation order.
    type Shape<'a> = (&'a str, &'a [u32], &'a [(u32, bool)]);
    let shapes: [Shape; 9] = [
        ("one-container", &[1], &[]),
        ("two-containers", &[1, 1], &[]),
        ("no-request", &[0], &[]),
        ("init-larger-than-app", &[1], &[(3, false)]),
        ("init-smaller-than-app", &[2], &[(1, false)]),
        ("only-an-init-asks", &[0], &[(1, false)]),
        ("sidecar-before-init", &[1], &[(1, true), (2, false)]),
        ("init-before-sidecar", &[1], &[(2, false), (1, true)]),
        ("two-sidecars", &[1], &[(1, true), (1, true)]),
    ];
    let describe_allocates = || {
        let text = server.kubectl(&["describe", "node", node], None);
        let allocated = text
            .split("Allocated resources:")
            .nth(1)
            .unwrap_or_else(|| panic!("no Allocated resources in:\n{text}"));
        allocated
            .lines()
            .find_map(|l| l.trim().strip_prefix("vpc.amazonaws.com/pod-eni"))
            .map_or(0, |rest| {
                rest.split_whitespace()
                    .next()
                    .unwrap()
                    .parse::<u32>()
                    .unwrap()
            })
    };
    let exporter_requests = || {
        let output = live_command(
            &["audit", "--output", "json"],
            &server.admin_kubeconfig(),
            &moto.endpoint(),
        )
        .output()
        .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let audit: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        audit["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node"] == node)
            .map_or(0, |n| n["requested"].as_u64().unwrap() as u32)
    };
    let mut previous = 0;
    for (name, app, inits) in shapes {
        let app: Vec<_> = app
            .iter()
            .enumerate()
            .map(|(i, r)| container(&format!("app-{i}"), *r, false))
            .collect();
        let inits: Vec<_> = inits
            .iter()
            .enumerate()
            .map(|(i, (r, sidecar))| container(&format!("init-{i}"), *r, *sidecar))
            .collect();
        let pod = json!({
            "metadata": {"name": name, "namespace": "shapes"},
            "spec": {"nodeName": node, "containers": app, "initContainers": inits}
        });
        cluster.put_pod(pod).await;
        let oracle = describe_allocates();
        assert_eq!(exporter_requests(), oracle, "after {name}");
        assert!(oracle >= previous, "describe counts cumulatively");
        previous = oracle;
    }
    assert!(previous > 0, "the shapes requested something");
}
