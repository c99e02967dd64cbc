//! A real kube-apiserver with a real etcd, one per test: TLS, RBAC, an admin client
//! certificate and a token for the exporter's ServiceAccount identity. Which server is
//! the suite's parameter `PODENI_TEST_KUBE_VERSION`: `current` (v1.36, the default) or
//! `1.20` (v1.20.2); `scripts/test` builds both once (`scripts/kube-apiserver install
//! VERSION`) and runs every test that uses a real server against each.

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

pub struct RealApiServer {
    dir: tempfile::TempDir,
    version: KubeVersion,
}

fn script() -> PathBuf {
    super::repo().join("scripts/kube-apiserver")
}

fn run_script(args: &[&str]) -> String {
    let output = Command::new(script())
        .args(args)
        .output()
        .expect("run scripts/kube-apiserver");
    assert!(
        output.status.success(),
        "scripts/kube-apiserver {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The API server versions the suite knows, as `scripts/kube-apiserver` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeVersion {
    /// v1.20.2: the oldest the exporter supports (no streaming lists, no sidecars).
    Legacy,
    /// The newest minor EKS offers in standard support.
    Current,
}

impl KubeVersion {
    /// This run's server: `PODENI_TEST_KUBE_VERSION`, `current` when unset.
    pub fn under_test() -> Self {
        match std::env::var("PODENI_TEST_KUBE_VERSION").as_deref() {
            Ok("1.20") => KubeVersion::Legacy,
            Ok("current") | Err(std::env::VarError::NotPresent) => KubeVersion::Current,
            other => panic!("PODENI_TEST_KUBE_VERSION must be 1.20 or current, not {other:?}"),
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            KubeVersion::Legacy => "1.20",
            KubeVersion::Current => "current",
        }
    }
}

impl RealApiServer {
    /// Starts etcd and this run's kube-apiserver; fails loudly when it is not built
    /// (the script names the install command).
    pub fn start() -> Self {
        Self::start_version(KubeVersion::under_test())
    }

    pub fn start_version(version: KubeVersion) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        run_script(&["start", dir.path().to_str().unwrap(), version.word()]);
        Self { dir, version }
    }

    pub fn version(&self) -> KubeVersion {
        self.version
    }

    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    /// The token of `system:serviceaccount:pod-eni-exporter:pod-eni-exporter`: it can do
    /// only what `deploy/kubernetes` binds to that ServiceAccount.
    pub fn exporter_kubeconfig(&self) -> PathBuf {
        self.dir.path().join("exporter.kubeconfig")
    }

    /// Restarts kube-apiserver on the same etcd and port: every watch is cut.
    pub fn restart(&self) {
        run_script(&["restart", self.dir.path().to_str().unwrap()]);
    }

    /// Compacts etcd to its current revision: a watch resuming from an older
    /// resourceVersion now gets 410 Gone.
    pub fn compact(&self) {
        run_script(&["compact", self.dir.path().to_str().unwrap()]);
    }

    pub async fn admin_client(&self) -> kube::Client {
        let text = std::fs::read_to_string(self.admin_kubeconfig()).unwrap();
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&text).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("admin kubeconfig");
        kube::Client::try_from(config).expect("admin client")
    }

    /// The operator kinds the manifests use (prometheus-operator's ServiceMonitor and
    /// PrometheusRule, cert-manager's Certificate and Issuer), registered as CRDs that
    /// take any spec: their real definitions are in no package registry the tests
    /// reach, and what is under test is every other field of the manifests.
    pub fn register_operator_kinds(&self) {
        let kinds = [
            ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
            ("monitoring.coreos.com", "PrometheusRule", "prometheusrules"),
            ("cert-manager.io", "Certificate", "certificates"),
            ("cert-manager.io", "Issuer", "issuers"),
        ];
        for (group, kind, plural) in kinds {
            let crd = json!({
                "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": format!("{plural}.{group}")},
                "spec": {"group": group, "scope": "Namespaced",
                    "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase()},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object",
                            "x-kubernetes-preserve-unknown-fields": true}}}]}
            });
            self.kubectl(&["apply", "-f", "-"], Some(&crd.to_string()));
            self.kubectl(
                &[
                    "wait",
                    "--for",
                    "condition=established",
                    &format!("crd/{plural}.{group}"),
                ],
                None,
            );
        }
    }

    /// `kubectl` as the admin, failing the test on error.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, out, err) = self.kubectl_as(&self.admin_kubeconfig(), args, stdin);
        assert!(ok, "kubectl {args:?} failed: {err}");
        out
    }

    /// `kubectl` as anyone: (success, stdout, stderr).
    pub fn kubectl_as(
        &self,
        kubeconfig: &Path,
        args: &[&str],
        stdin: Option<&str>,
    ) -> (bool, String, String) {
        use std::io::Write;
        let mut child = Command::new(super::clients::kubectl())
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run kubectl");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        let output = child.wait_with_output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

impl Drop for RealApiServer {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["stop", self.dir.path().to_str().unwrap()])
            .status();
    }
}

/// Creates objects as a user would, then sets their status through the `/status`
/// subresource as the kubelet would (there is no kubelet or controller here).
pub struct RealCluster {
    pub client: kube::Client,
    /// Namespaces known to exist, so a burst of pods does not ask each time.
    namespaces: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl RealCluster {
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            namespaces: Default::default(),
        }
    }

    pub async fn put_pod(&self, pod: Value) {
        self.apply("pods", pod).await;
    }

    pub async fn put_node(&self, node: Value) {
        self.apply("nodes", node).await;
    }

    pub async fn apply(&self, resource: &str, mut object: Value) {
        let status = object
            .as_object_mut()
            .and_then(|o| o.remove("status"))
            .filter(|s| !s.is_null());
        if let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("creationTimestamp");
        }
        match resource {
            "nodes" => {
                let api: Api<Node> = Api::all(self.client.clone());
                let node: Node = serde_json::from_value(object).expect("node json");
                let name = node.metadata.name.clone().unwrap();
                api.create(&PostParams::default(), &node)
                    .await
                    .expect("create node");
                if let Some(status) = status {
                    api.patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"status": status})),
                    )
                    .await
                    .expect("node status");
                }
            }
            "pods" => {
                let namespace = object["metadata"]["namespace"].as_str().unwrap().to_owned();
                self.ensure_namespace(&namespace).await;
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
                let pod: Pod = serde_json::from_value(object).expect("pod json");
                let name = pod.metadata.name.clone().unwrap();
                api.create(&PostParams::default(), &pod)
                    .await
                    .expect("create pod");
                if let Some(status) = status {
                    self.set_pod_status(&namespace, &name, status).await;
                }
            }
            other => panic!("no such resource: {other}"),
        }
    }

    pub async fn set_pod_status(&self, namespace: &str, name: &str, status: Value) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .expect("pod status");
    }

    pub async fn delete_pod(&self, namespace: &str, name: &str) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        // No kubelet confirms termination here: delete at once.
        api.delete(name, &kube::api::DeleteParams::default().grace_period(0))
            .await
            .expect("delete pod");
    }

    async fn ensure_namespace(&self, name: &str) {
        if self.namespaces.lock().unwrap().contains(name) {
            return;
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        match api.create(&PostParams::default(), &namespace).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => panic!("create namespace {name}: {error}"),
        }
        self.namespaces.lock().unwrap().insert(name.to_owned());
    }
}
