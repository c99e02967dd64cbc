//! Against a real kube-apiserver and etcd (issue 10): the rendered manifests pass the
//! server's validation, RBAC is enforced for the exporter's own identity, the incident is
//! accounted from real list/watch, restarts and compaction are survived, and the live
//! audit equals the audit of the snapshot it writes. EC2 is moto.

mod support;

use serde_json::json;
use support::exporter::{Exporter, WAIT};
use support::moto::{Moto, ec2_client};
use support::real_apiserver::{RealApiServer, RealCluster};
use support::world::{FULL_NODE, build_incident, full_node, pod_json};
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
    exporter
        .wait_for("re-listed after 410", |e| {
            requested(e) == before + 1.0
                && e.state("in_use") == Some(13.0)
                && e.state("leaked") == Some(0.0)
                && relists(e) >= 1.0
        })
        .await;
    assert!(exporter.log().contains("re-listed"), "{}", exporter.log());

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
