//! A running `pod-eni-exporter serve` under test: its port, its log, and readers for
//! the incident node's series. Killed when dropped; its log is printed if the test failed.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::moto::free_port;
use super::world::FULL_NODE;
use super::{eventually, http_get, sample};

/// How long a figure may take to appear.
pub const WAIT: Duration = Duration::from_secs(60);

pub struct Exporter {
    pub child: Child,
    pub port: u16,
    log: tempfile::NamedTempFile,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- exporter log ---\n{}", self.log());
        }
    }
}

impl Exporter {
    /// Starts `command` (a `serve …`) on a free loopback port, stderr to a log file.
    pub fn spawn(mut command: Command) -> Self {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = command
            .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("log file"))
            .spawn()
            .expect("start pod-eni-exporter serve");
        Self { child, port, log }
    }

    pub fn metrics(&self) -> Option<String> {
        http_get(self.port, "/metrics")
            .filter(|(status, _)| *status == 200)
            .map(|(_, body)| body)
    }

    pub fn value(&self, series: &str) -> Option<f64> {
        sample(&self.metrics()?, series)
    }

    /// A per-node series of the incident's full node.
    pub fn node(&self, metric: &str) -> Option<f64> {
        self.value(&format!("{metric}{{node=\"{FULL_NODE}\"}}"))
    }

    /// The full node's branch ENIs in one state.
    pub fn state(&self, state: &str) -> Option<f64> {
        self.value(&format!(
            "podeni_node_branch_enis{{node=\"{FULL_NODE}\",state=\"{state}\"}}"
        ))
    }

    /// The incident's full node as the join must see it: kubectl's view says 14 of 18,
    /// EC2 says full, 13 ENIs in use and one pod waiting.
    pub fn shows_the_full_node(&self) -> bool {
        self.node("podeni_node_branch_eni_capacity") == Some(18.0)
            && self.node("podeni_node_branch_eni_requests") == Some(14.0)
            && self.state("in_use") == Some(13.0)
            && self.node("podeni_node_pods_waiting_for_branch_eni") == Some(1.0)
            && self.node("podeni_node_branch_eni_remaining") == Some(0.0)
    }

    pub async fn wait_for(&self, what: &str, check: impl Fn(&Self) -> bool) {
        eventually(what, WAIT, || check(self).then_some(())).await;
    }

    pub async fn wait_ready(&self) {
        eventually("/readyz 200", WAIT, || {
            (http_get(self.port, "/readyz")?.0 == 200).then_some(())
        })
        .await;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}
