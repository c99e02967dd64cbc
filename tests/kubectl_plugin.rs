//! `kubectl pod-eni` (issue 26) through the real kubectl: plugin discovery, `why`,
//! `node`, `headroom` and the audit on two real API servers (EC2 in moto) switched by
//! kubeconfig context, the cluster and region read from EKS-shaped contexts; the krew
//! manifest checked by krew's own validator and installed by krew from the packed
//! archive.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::clients::kubectl;
use support::moto::{Moto, ec2_client};
use support::real_apiserver::{RealApiServer, RealCluster};
use support::world::{
    self, FULL_NODE, HEALTHY_NODE, build_incident, node_json, plain_pod_json, pod_json,
};
use support::{repo, stderr};

const WAITING: &str = "checkout-api-7d9f8b6c5d-q8r2t";
/// `why` for the waiting pod of the bundled incident.
const WHY_INCIDENT: [&str; 6] = ["why", WAITING, "-n", "shop", "--from", "examples/incident"];
/// This machine's architecture as krew names it: the test packs the binary it built.
const ARCH: &str = if cfg!(target_arch = "aarch64") {
    "arm64"
} else {
    "amd64"
};
const PROD_ARN: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu";
const STAGING_ARN: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/staging";
const STAGING_NODE: &str = "ip-10-9-0-1.eu-west-1.compute.internal";

/// A directory to put on `PATH`: the plugin under the name kubectl looks for, and the
/// pinned kubectl.
fn plugin_path() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_kubectl-pod_eni"),
        dir.path().join("kubectl-pod_eni"),
    )
    .unwrap();
    std::os::unix::fs::symlink(kubectl(), dir.path().join("kubectl")).unwrap();
    dir
}

/// `kubectl ARGS` with only `bin` (and the system's) on `PATH`, AWS pointed at moto.
fn kubectl_in(bin: &Path, args: &[&str], kubeconfig: Option<&Path>, ec2: Option<&str>) -> Output {
    let mut command = Command::new(bin.join("kubectl"));
    command
        .args(args)
        .current_dir(repo())
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .env("HOME", bin);
    if let Some(kubeconfig) = kubeconfig {
        command.env("KUBECONFIG", kubeconfig);
    }
    if let Some(endpoint) = ec2 {
        command
            .env("AWS_ENDPOINT_URL_EC2", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION");
    }
    command.output().expect("run kubectl")
}

/// Asserts the plugin said `text` on stderr (what it inferred, why it failed).
fn said(output: &Output, text: &str) {
    assert!(
        stderr(output).contains(text),
        "{text:?} not in: {}",
        stderr(output)
    );
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn kubectl_finds_the_plugin_on_path() {
    let bin = plugin_path();
    let listed = kubectl_in(bin.path(), &["plugin", "list"], None, None);
    let text = stdout(&listed);
    assert!(listed.status.success(), "{}{}", text, stderr(&listed));
    let expected = bin.path().join("kubectl-pod_eni");
    assert!(
        text.lines().any(|l| l.trim() == expected.to_str().unwrap()),
        "{text}"
    );
    assert!(
        !stderr(&listed).contains("kubectl-pod_eni"),
        "no warning about it: {}",
        stderr(&listed)
    );
    let help = kubectl_in(bin.path(), &["pod-eni", "--help"], None, None);
    assert!(
        stdout(&help).contains("Usage: kubectl pod-eni"),
        "{}",
        stdout(&help)
    );
}

const README_START: &str = "<!-- kubectl-why:start -->\n```text\n$ kubectl pod-eni why checkout-api-7d9f8b6c5d-q8r2t -n shop --from examples/incident\n";
const README_END: &str = "```\n<!-- kubectl-why:end -->";

#[test]
fn readme_shows_the_current_why_output() {
    let bin = plugin_path();
    let args = [&["pod-eni"][..], &WHY_INCIDENT].concat();
    let output = kubectl_in(bin.path(), &args, None, None);
    assert!(output.status.success(), "{}", stderr(&output));
    let actual = stdout(&output);
    let readme_path = repo().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let start = readme.find(README_START).expect("README why start marker") + README_START.len();
    let end = readme.find(README_END).expect("README why end marker");
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(
            &readme_path,
            format!("{}{actual}{}", &readme[..start], &readme[end..]),
        )
        .unwrap();
        return;
    }
    assert_eq!(
        &readme[start..end],
        actual,
        "README why block is stale: run UPDATE_README=1 cargo test --test kubectl_plugin"
    );
}

#[test]
fn unknown_pods_and_nodes_are_errors_not_empty_answers() {
    let bin = plugin_path();
    for (args, says) in [
        (
            vec!["why", "nope", "-n", "shop"],
            "pod \"nope\" not found in namespace \"shop\"",
        ),
        // The waiting pod is in `shop`, not in `default`.
        (vec!["why", WAITING], "not found in namespace \"default\""),
        (vec!["node", "ip-1-2-3-4"], "node \"ip-1-2-3-4\" not found"),
        (
            vec!["node", "ip-10-0-5-50.eu-west-1.compute.internal"],
            "does not use security groups for pods",
        ),
    ] {
        let mut full = vec!["pod-eni"];
        full.extend(&args);
        full.extend(["--from", "examples/incident"]);
        let output = kubectl_in(bin.path(), &full, None, None);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stdout(&output)
        );
        assert!(stdout(&output).is_empty(), "{args:?}");
        said(&output, says);
    }
}

/// `path`'s kubeconfig (cluster, context and user all named `test`, user `admin`) with
/// its context and cluster renamed as `aws eks update-kubeconfig` names them, or the
/// context given a plain name and the cluster an ARN (as eksctl and hand-made files do).
fn eks_shaped(path: &Path, context: &str, cluster: &str, user: &str) -> PathBuf {
    let text = std::fs::read_to_string(path).unwrap();
    let renamed = text
        .replace(
            "- name: test\n  cluster:",
            &format!("- name: \"{cluster}\"\n  cluster:"),
        )
        .replace(
            "- name: test\n  context: {cluster: test, user: admin}",
            &format!("- name: \"{context}\"\n  context: {{cluster: \"{cluster}\", user: {user}}}"),
        )
        .replace(
            "current-context: test",
            &format!("current-context: \"{context}\""),
        )
        .replace("- name: admin\n", &format!("- name: {user}\n"));
    assert_ne!(renamed, text, "the kubeconfig's layout changed: {text}");
    let out = path.with_file_name(format!("{user}.kubeconfig"));
    std::fs::write(&out, renamed).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn why_node_and_the_audit_on_two_real_clusters_by_context() {
    let prod = RealApiServer::start();
    let staging = RealApiServer::start();
    let moto = Moto::start();
    let world = build_incident(
        &ec2_client(&moto.endpoint()),
        &RealCluster::new(prod.admin_client().await),
    )
    .await;
    // Staging: one node with room, a pod waiting there, and a pod without a branch ENI.
    let other = RealCluster::new(staging.admin_client().await);
    other
        .put_node(node_json(
            STAGING_NODE,
            "i-0staging000000001",
            "m5.large",
            "eu-west-1a",
            9,
        ))
        .await;
    other
        .put_pod(pod_json(
            &format!("shop/{WAITING}"),
            STAGING_NODE,
            "Pending",
            None,
            None,
        ))
        .await;
    other
        .put_pod(plain_pod_json("default/web-0", STAGING_NODE))
        .await;

    // Both contexts in one kubeconfig, merged by kubectl itself; prod is current.
    let bin = plugin_path();
    let prod_config = eks_shaped(&prod.admin_kubeconfig(), PROD_ARN, PROD_ARN, "prod-admin");
    let staging_config = eks_shaped(
        &staging.admin_kubeconfig(),
        "staging",
        STAGING_ARN,
        "staging-admin",
    );
    let both = format!("{}:{}", prod_config.display(), staging_config.display());
    let merged = kubectl_in(
        bin.path(),
        &["config", "view", "--flatten"],
        Some(Path::new(&both)),
        None,
    );
    assert!(merged.status.success(), "{}", stderr(&merged));
    let kubeconfig = bin.path().join("config");
    std::fs::write(&kubeconfig, merged.stdout).unwrap();
    let ec2 = moto.endpoint();
    let plugin = |args: &[&str]| {
        let mut full = vec!["pod-eni"];
        full.extend(args);
        kubectl_in(bin.path(), &full, Some(&kubeconfig), Some(&ec2))
    };
    let json = |output: &Output| -> Value {
        assert!(output.status.success(), "{}", stderr(output));
        serde_json::from_slice(&output.stdout).expect("JSON")
    };
    // `ARGS -o json`, decoded.
    let answer = |args: &[&str]| json(&plugin(&[args, &["-o", "json"][..]].concat()));

    // The waiting pod on prod's full node: the cluster and region came from the context.
    let waiting = plugin(&["why", WAITING, "-n", "shop", "-o", "json"]);
    assert!(
        stderr(&waiting).contains(&format!("cluster {} (from", world::CLUSTER))
            && stderr(&waiting).contains("region eu-west-1 (from"),
        "says what it inferred: {}",
        stderr(&waiting)
    );
    let stuck = json(&waiting);
    assert_eq!(stuck["verdict"], "waiting", "{stuck:#}");
    assert_eq!(stuck["node"], FULL_NODE);
    assert_eq!(stuck["nodeDetail"]["full"], true);
    let held: Vec<&Value> = stuck["nodeDetail"]["branchEnis"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["state"] != "in_use")
        .collect();
    for (pod, eni) in &world.completed {
        let holder = held
            .iter()
            .find(|e| e["eniId"] == eni.as_str())
            .unwrap_or_else(|| panic!("{eni}: {stuck:#}"));
        assert_eq!(holder["pod"], pod.as_str());
        assert!(
            holder["owner"]
                .as_str()
                .unwrap()
                .starts_with("Job/db-migrate-"),
            "{holder}"
        );
    }
    let todo = stuck["todo"].to_string();
    assert!(
        todo.contains(&format!("kubectl cordon {FULL_NODE}")),
        "{todo}"
    );

    // A running pod on the full node with completed holders: fine itself, the node's
    // holders and the cordon named all the same.
    let (running, eni) = &world.running[0];
    let (namespace, name) = running.split_once('/').unwrap();
    let text = stdout(&plugin(&["why", name, "-n", namespace]));
    assert!(
        text.contains(&format!("has its branch ENI ({eni})")),
        "{text}"
    );
    assert!(
        text.contains("the node is full") && text.contains(&world.completed[0].1),
        "{text}"
    );

    // A pod on the healthy node: nothing to do.
    let healthy = answer(&["why", "search-0", "-n", "catalog"]);
    assert_eq!(healthy["verdict"], "fine");
    assert_eq!(healthy["node"], HEALTHY_NODE);
    assert_eq!(healthy["nodeDetail"]["full"], false);

    // An unknown pod, live: exit 2.
    let unknown = plugin(&["why", "no-such-pod", "-n", "shop"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    said(&unknown, "not found");

    // One node's ENIs: every attached one listed, as many as the audit counts.
    let node = answer(&["node", FULL_NODE]);
    let audit = answer(&[]);
    let counted = world::full_node(&audit);
    assert_eq!(
        node["branchEnis"].as_array().unwrap().len() as u64,
        counted["attached"].as_u64().unwrap()
    );
    let headroom = stdout(&plugin(&["headroom", "--pods", "2"]));
    assert!(
        headroom.contains("Headroom for 2 more security-group pods"),
        "{headroom}"
    );

    // The other context: its own cluster's answers (the cluster name from the cluster's
    // ARN, the context being plain `staging`).
    let there = plugin(&[
        "--context",
        "staging",
        "why",
        WAITING,
        "-n",
        "shop",
        "-o",
        "json",
    ]);
    said(&there, "cluster staging (from the cluster name");
    let there = json(&there);
    assert_eq!(there["verdict"], "waiting");
    assert_eq!(there["node"], STAGING_NODE);
    assert_eq!(
        there["nodeDetail"]["full"], false,
        "staging's node has room: {there:#}"
    );
    let plain = answer(&["why", "web-0", "--context", "staging"]);
    assert_eq!(plain["verdict"], "no_branch_eni", "{plain:#}");
    let prod_only = plugin(&["why", "search-0", "-n", "catalog", "--context", "staging"]);
    assert_eq!(
        prod_only.status.code(),
        Some(2),
        "prod's pod is not in staging"
    );
    let staging_audit = answer(&["--context", "staging"]);
    let names: Vec<&str> = staging_audit["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert_eq!(names, [STAGING_NODE]);

    // Flags win over the context: a cluster with no ENIs in EC2.
    let flagged = plugin(&[
        "node",
        FULL_NODE,
        "--cluster-name",
        "elsewhere",
        "-o",
        "json",
    ]);
    said(&flagged, "cluster elsewhere (from the flag)");
    assert_eq!(json(&flagged)["attached"], 0);
}

#[test]
fn the_krew_manifest_passes_krews_validator_and_krew_installs_the_archive() {
    let script = |args: &[&str]| {
        let output = Command::new(repo().join("scripts/krew"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "scripts/krew {args:?}: {}",
            stderr(&output)
        );
        PathBuf::from(stdout(&output).trim())
    };
    let manifest = repo().join("plugins/pod-eni.yaml");
    let validate = |path: &Path| {
        Command::new(script(&["path", "validate-krew-manifest"]))
            .args(["-manifest", path.to_str().unwrap(), "-skip-install"])
            .output()
            .unwrap()
    };
    let checked = validate(&manifest);
    assert!(
        checked.status.success(),
        "krew's validator: {}",
        stderr(&checked)
    );
    let committed = std::fs::read_to_string(&manifest).unwrap();
    assert!(committed.contains(&format!("  version: v{}\n", env!("CARGO_PKG_VERSION"))));

    // The archive as a release packs it, and the manifest written for it.
    let out = tempfile::tempdir().unwrap();
    let written = script(&[
        "package",
        "--platform",
        &format!("linux/{ARCH}"),
        "--binary",
        env!("CARGO_BIN_EXE_kubectl-pod_eni"),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let generated = std::fs::read_to_string(&written).unwrap();
    let differing: Vec<(&str, &str)> = committed
        .lines()
        .zip(generated.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        differing.len(),
        1,
        "only this platform's sha256 differs: {differing:?}"
    );
    assert!(differing[0].0.trim_start().starts_with("sha256: "));
    assert!(validate(&written).status.success());

    // krew itself installs it offline from the archive, checking its sha256.
    let bin = plugin_path();
    std::os::unix::fs::symlink(script(&["path", "krew"]), bin.path().join("kubectl-krew")).unwrap();
    let archive = out
        .path()
        .join(format!("kubectl-pod_eni-linux-{ARCH}.tar.gz"));
    let krew_root = out.path().join("krew");
    let install = |archive: &Path| {
        let mut command = Command::new(bin.path().join("kubectl"));
        command
            .args([
                "krew",
                "install",
                "--manifest",
                written.to_str().unwrap(),
                "--archive",
                archive.to_str().unwrap(),
            ])
            .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
            .env("HOME", out.path())
            .env("KREW_ROOT", &krew_root)
            .env("KREW_NO_UPGRADE_CHECK", "1")
            .output()
            .unwrap()
    };
    let tampered = out.path().join("tampered.tar.gz");
    let mut bytes = std::fs::read(&archive).unwrap();
    bytes.push(0);
    std::fs::write(&tampered, bytes).unwrap();
    let refused = install(&tampered);
    assert!(!refused.status.success(), "a changed archive is refused");
    said(&refused, "checksum does not match");
    let installed = install(&archive);
    assert!(installed.status.success(), "{}", stderr(&installed));
    assert!(krew_root.join("store/pod-eni/v0.1.0/LICENSE").is_file());
    let run = Command::new(krew_root.join("bin/kubectl-pod_eni"))
        .args(WHY_INCIDENT)
        .args(["-o", "json"])
        .current_dir(repo())
        .output()
        .unwrap();
    let answer: Value =
        serde_json::from_slice(&run.stdout).expect("JSON from the installed plugin");
    assert_eq!(answer["verdict"], "waiting");
}
