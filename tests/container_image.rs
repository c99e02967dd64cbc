//! The OCI image `scripts/image` builds (issue 15), run with podman the way a cluster
//! runs it: as user 65532, read-only root filesystem, every capability dropped, no new
//! privileges. `audit` and `serve --from` on a read-only snapshot, live `serve` against
//! moto and a real kube-apiserver with the kubeconfig mounted read-only, a clean stop on
//! SIGTERM, and the agreement of the image with the Dockerfile.
//!
//! `scripts/test` builds the image and passes its reference in PODENI_TEST_IMAGE.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::exporter::{Exporter, WAIT};
use support::moto::{Moto, ec2_client, free_port};
use support::pki::{Ca, TlsFront};
use support::real_apiserver::{RealApiServer, RealCluster};
use support::repo;
use support::world::{CLUSTER, build_incident};
use support::{eventually, http_get};

fn image() -> String {
    std::env::var("PODENI_TEST_IMAGE").unwrap_or_else(|_| {
        panic!(
            "PODENI_TEST_IMAGE is not set: these tests run the image scripts/image builds \
             (scripts/test builds it and sets it)"
        )
    })
}

/// The project's own container storage, where `scripts/image` put the image.
fn storage_conf() -> String {
    std::env::var("PODENI_TEST_CONTAINERS_STORAGE_CONF").unwrap_or_else(|_| {
        panic!(
            "PODENI_TEST_CONTAINERS_STORAGE_CONF is not set: the image is in the project's \
             container storage (scripts/test sets it from `scripts/image storage-conf`)"
        )
    })
}

/// buildah or podman on the project's container storage, never the machine's.
fn container_tool(name: &str) -> Command {
    let mut command = Command::new(name);
    command
        .env("CONTAINERS_STORAGE_CONF", storage_conf())
        .env_remove("STORAGE_DRIVER");
    command
}

/// podman with what this machine needs (runc, cgroupfs, explicit ulimits).
fn podman() -> Command {
    let mut command = container_tool("podman");
    command.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
    command
}

/// `podman run` with the hardening of the Deployment.
fn hardened_run(name: &str) -> Command {
    let mut command = podman();
    command.args([
        "run",
        "--name",
        name,
        "--user",
        "65532:65532",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ]);
    command
}

/// The bundled incident, mounted read-only at /snapshot.
fn incident_mount() -> String {
    format!(
        "{}:/snapshot:ro",
        repo().join("examples/incident").display()
    )
}

fn output(mut command: Command, what: &str) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run podman ({e}); scripts/test installs it"))
}

/// Removes the named container when the test ends, however it ends.
struct Container(String);

impl Container {
    fn new(prefix: &str) -> Self {
        Self(format!("podeni-test-{prefix}-{}", std::process::id()))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let mut rm = podman();
        rm.args(["rm", "--force", "--time", "0", &self.0]);
        let _ = rm.stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

#[test]
fn audit_of_a_read_only_snapshot_prints_what_the_binary_prints() {
    let container = Container::new("audit");
    let mut run = hardened_run(&container.0);
    run.arg("--rm").arg("-v").arg(incident_mount()).args([
        &image(),
        "audit",
        "--from",
        "/snapshot",
    ]);
    let inside = output(run, "podman run audit");
    assert!(
        inside.status.success(),
        "{}",
        String::from_utf8_lossy(&inside.stderr)
    );
    let native = Command::new(env!("CARGO_BIN_EXE_pod-eni-exporter"))
        .args(["audit", "--from", "examples/incident"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&inside.stdout),
        String::from_utf8_lossy(&native.stdout)
    );
    assert!(String::from_utf8_lossy(&inside.stdout).contains("FULL"));
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_from_a_snapshot_answers_on_a_published_port_and_stops_cleanly_on_sigterm() {
    let container = Container::new("serve");
    let port = free_port();
    let mut run = hardened_run(&container.0);
    run.args(["--detach", "--publish", &format!("127.0.0.1:{port}:9823")])
        .arg("-v")
        .arg(incident_mount())
        .args([&image(), "serve", "--from", "/snapshot"]);
    let started = output(run, "podman run serve");
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    eventually("/readyz 200 through the published port", WAIT, || {
        (http_get(port, "/readyz")?.0 == 200).then_some(())
    })
    .await;
    assert_eq!(http_get(port, "/healthz").unwrap().0, 200);
    let (status, body) = http_get(port, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains(
            "podeni_node_branch_eni_remaining{node=\"ip-10-0-1-10.eu-west-1.compute.internal\"} 0"
        ),
        "{body}"
    );

    // podman stop sends SIGTERM and waits up to 10 s before SIGKILL.
    let stopping = Instant::now();
    let mut stop = podman();
    stop.args(["stop", "--time", "10", &container.0]);
    assert!(output(stop, "podman stop").status.success());
    let took = stopping.elapsed();
    let mut inspect = podman();
    inspect.args(["inspect", "--format", "{{.State.ExitCode}}", &container.0]);
    let code = String::from_utf8_lossy(&output(inspect, "podman inspect").stdout)
        .trim()
        .to_owned();
    assert_eq!(code, "0", "exit status after SIGTERM");
    assert!(
        took < Duration::from_secs(10),
        "stopped in {took:?}, within the grace"
    );
}

/// A self-contained kubeconfig (certificates inline) for `server`, readable by 65532.
fn container_kubeconfig(server: &RealApiServer, dir: &std::path::Path) -> PathBuf {
    let flat = server.kubectl(&["config", "view", "--flatten", "--raw"], None);
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, flat).unwrap();
    std::fs::set_permissions(
        &kubeconfig,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    kubeconfig
}

/// Live `serve` in the hardened container on the host's network (moto and the API
/// server listen on its loopback), with the kubeconfig mounted read-only.
fn live_in_container(
    container: &Container,
    kubeconfig: &std::path::Path,
    ec2_endpoint: &str,
    mounts: &[String],
) -> Exporter {
    let mut run = hardened_run(&container.0);
    run.args(["--rm", "--network", "host"])
        .arg("-v")
        .arg(format!(
            "{}:/etc/pod-eni-exporter/kubeconfig:ro",
            kubeconfig.display()
        ));
    for mount in mounts {
        run.args(["-v", mount]);
    }
    run.args(["-e", &format!("AWS_ENDPOINT_URL_EC2={ec2_endpoint}")])
        .args(["-e", "AWS_REGION=eu-west-1"])
        .args(["-e", "AWS_ACCESS_KEY_ID=testing"])
        .args(["-e", "AWS_SECRET_ACCESS_KEY=testing"])
        .args(["-e", "AWS_EC2_METADATA_DISABLED=true"])
        .args([&image(), "serve", "--cluster-name", CLUSTER])
        .args(["--kubeconfig", "/etc/pod-eni-exporter/kubeconfig"])
        .args(["--ec2-poll-interval", "1s"]);
    Exporter::spawn(run)
}

/// The image verifies TLS: the API server's certificate against the kubeconfig's CA, and
/// EC2's against the system roots at the path the image ships
/// (/etc/ssl/certs/ca-certificates.crt). EC2 here is moto behind a TLS front whose
/// certificate a test CA signed: with that CA mounted over the bundle the exporter syncs;
/// with the image's own bundle it refuses the certificate.
#[tokio::test(flavor = "multi_thread")]
async fn live_serve_in_the_container_verifies_tls_to_ec2_and_the_api_server() {
    let server = RealApiServer::start();
    let moto = Moto::start();
    let cluster = RealCluster::new(server.admin_client().await);
    build_incident(&ec2_client(&moto.endpoint()), &cluster).await;
    let ca = Ca::new("stand-in for Amazon's roots");
    let front = TlsFront::start(moto.port, &ca.server(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = container_kubeconfig(&server, dir.path());
    let bundle = dir.path().join("ca-certificates.crt");
    std::fs::write(&bundle, ca.pem()).unwrap();
    std::fs::set_permissions(&bundle, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();

    let trusted = Container::new("live");
    let exporter = live_in_container(
        &trusted,
        &kubeconfig,
        &front.endpoint(),
        &[format!(
            "{}:/etc/ssl/certs/ca-certificates.crt:ro",
            bundle.display()
        )],
    );
    exporter.wait_ready().await;
    exporter
        .wait_for(
            "the incident's figures, from inside the container",
            Exporter::shows_the_full_node,
        )
        .await;
    drop(exporter);
    drop(trusted);

    let untrusted = Container::new("untrusted");
    let exporter = live_in_container(&untrusted, &kubeconfig, &front.endpoint(), &[]);
    exporter
        .wait_for("an EC2 poll refused over the certificate", |e| {
            e.value("podeni_ec2_request_errors_total{operation=\"DescribeNetworkInterfaces\",code=\"network\"}")
                .is_some_and(|errors| errors > 0.0)
        })
        .await;
    assert_eq!(
        exporter.value("podeni_source_up{source=\"ec2\"}"),
        Some(0.0)
    );
    // The API server's certificate still verifies, against the kubeconfig's CA: the
    // pods are listed (the Kubernetes source is reported up only with a join, which
    // needs EC2).
    exporter
        .wait_for("the pods listed", |e| {
            e.value("podeni_kube_objects{resource=\"pods\"}")
                .is_some_and(|pods| pods > 0.0)
        })
        .await;
    assert_ne!(
        http_get(exporter.port, "/readyz").map(|(s, _)| s),
        Some(200)
    );
}

/// The Dockerfile (for people with a registry) and the image built here describe the
/// same image: user, entrypoint, command, port, working directory, environment, labels,
/// and the binary's path.
#[test]
fn the_image_is_the_one_the_dockerfile_declares() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let declared = Declared::parse(&dockerfile);
    let mut inspect = container_tool("buildah");
    inspect.args(["inspect", "--type", "image", &image()]);
    let inspected = output(inspect, "buildah inspect");
    assert!(
        inspected.status.success(),
        "{}",
        String::from_utf8_lossy(&inspected.stderr)
    );
    let inspected: Value = serde_json::from_slice(&inspected.stdout).unwrap();
    let config = &inspected["OCIv1"]["config"];
    assert_eq!(config["User"], declared.user.as_str());
    assert_eq!(config["Entrypoint"], declared.entrypoint);
    assert_eq!(config["Cmd"], declared.cmd);
    assert_eq!(config["WorkingDir"], declared.workdir.as_str());
    assert_eq!(
        config["ExposedPorts"],
        serde_json::json!({ format!("{}/tcp", declared.port): {} })
    );
    let env: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for variable in &declared.env {
        assert!(
            env.contains(&variable.as_str()),
            "{variable} not in {env:?}"
        );
    }
    assert_eq!(declared.entrypoint[0], declared.binary.as_str());
    // The manifests run it as the image's user (the Helm chart makes the same
    // Deployment: tests/helm_chart.rs).
    let deployment: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo().join("deploy/kubernetes/deployment.yaml")).unwrap(),
    )
    .unwrap();
    let pod_security = &deployment["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(
        format!(
            "{}:{}",
            pod_security["runAsUser"], pod_security["runAsGroup"]
        ),
        declared.user
    );

    let labels = config["Labels"].as_object().unwrap();
    let mut keys: Vec<&String> = labels.keys().collect();
    keys.sort();
    let mut declared_keys: Vec<&String> = declared.labels.iter().map(|(k, _)| k).collect();
    declared_keys.sort();
    assert_eq!(keys, declared_keys, "the same labels");
    let version = env!("CARGO_PKG_VERSION");
    let revision = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(repo())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for (key, value) in &declared.labels {
        let expected = value
            .replace("${VERSION}", version)
            .replace("${REVISION}", revision.trim());
        assert_eq!(labels[key], expected.as_str(), "label {key}");
    }

    // The binary is where both put it, and runs as the image's user.
    let container = Container::new("version");
    let mut run = hardened_run(&container.0);
    run.args(["--rm", &image(), "--version"]);
    let ran = output(run, "podman run --version");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        format!("pod-eni-exporter {version}")
    );
}

/// What the Dockerfile's final stage declares.
struct Declared {
    user: String,
    entrypoint: Value,
    cmd: Value,
    port: String,
    workdir: String,
    env: Vec<String>,
    labels: Vec<(String, String)>,
    binary: String,
}

impl Declared {
    fn parse(dockerfile: &str) -> Self {
        // Instructions of the last stage, continuation lines joined.
        let joined = dockerfile.replace("\\\n", " ");
        let last_stage = joined.rsplit("\nFROM ").next().expect("a final stage");
        let mut declared = Declared {
            user: String::new(),
            entrypoint: Value::Null,
            cmd: Value::Null,
            port: String::new(),
            workdir: String::new(),
            env: Vec::new(),
            labels: Vec::new(),
            binary: String::new(),
        };
        for line in last_stage.lines().map(str::trim) {
            let Some((instruction, rest)) = line.split_once(' ') else {
                continue;
            };
            let rest = rest.trim();
            match instruction {
                "USER" => declared.user = rest.to_owned(),
                "ENTRYPOINT" => declared.entrypoint = serde_json::from_str(rest).unwrap(),
                "CMD" => declared.cmd = serde_json::from_str(rest).unwrap(),
                "EXPOSE" => declared.port = rest.to_owned(),
                "WORKDIR" => declared.workdir = rest.to_owned(),
                "ENV" => declared.env.push(rest.to_owned()),
                "LABEL" => {
                    for pair in split_label_pairs(rest) {
                        let (key, value) = pair.split_once('=').unwrap();
                        declared
                            .labels
                            .push((key.to_owned(), value.trim_matches('"').to_owned()));
                    }
                }
                "COPY" => declared.binary = rest.rsplit(' ').next().unwrap().to_owned(),
                _ => {}
            }
        }
        declared
    }
}

/// `a=b c="d e"` → `a=b`, `c="d e"`.
fn split_label_pairs(text: &str) -> Vec<String> {
    let mut pairs = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ' ' if !quoted => {
                if !current.is_empty() {
                    pairs.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        pairs.push(current);
    }
    pairs
}

/// The image lives in the project's own container storage (its storage.conf names the
/// driver and a graph root under the cache), so whatever else set up the machine's
/// storage, with another driver or none, neither breaks these tests nor is touched.
#[test]
fn the_image_lives_in_the_projects_own_container_storage() {
    let conf = std::fs::read_to_string(storage_conf()).expect("the project's storage.conf");
    let graph = conf
        .lines()
        .find_map(|l| l.strip_prefix("graphroot = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("a graph root");
    assert!(conf.contains("driver = \"vfs\""), "{conf}");
    let mut info = podman();
    info.args([
        "info",
        "--format",
        "{{.Store.GraphRoot}} {{.Store.GraphDriverName}}",
    ]);
    let info = output(info, "podman info");
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&info.stdout).trim(),
        format!("{graph} vfs")
    );
    let mut exists = podman();
    exists.args(["image", "exists", &image()]);
    assert!(output(exists, "podman image exists").status.success());
}
