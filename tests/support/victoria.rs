//! VictoriaMetrics single node and vmalert, from Debian's `victoria-metrics` package
//! (scripts/test installs it): a central store that is not Prometheus, and the ruler
//! that evaluates the shipped alerts against it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::http_get;
use super::moto::free_port;

/// A process on a loopback port, stopped by its PID when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            eprintln!("--- {} (last lines) ---", self.log.display());
            tail.iter().rev().for_each(|line| eprintln!("{line}"));
        }
    }
}

impl Server {
    fn spawn(program: &str, args: &[String], port: u16, log: std::path::PathBuf) -> Self {
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{program} not found ({e}): scripts/test installs it from apt (package victoria-metrics)")
            });
        Self { child, port, log }
    }

    /// Waits (bounded) until `/health` answers 200.
    pub async fn wait_ready(&self, what: &str) {
        super::eventually(what, Duration::from_secs(60), || {
            (http_get(self.port, "/health")?.0 == 200).then_some(())
        })
        .await;
    }
}

/// VictoriaMetrics single node with its data under `dir`, taking remote writes at
/// `/api/v1/write` and Prometheus queries at `/api/v1/query`.
pub fn victoria_metrics(dir: &Path) -> Server {
    let port = free_port();
    let args = [
        format!("-httpListenAddr=127.0.0.1:{port}"),
        format!("-storageDataPath={}", dir.join("vm-data").display()),
        // By default a query ignores the last 30 s (samples that may still arrive) and
        // caches answers; a test reads what was just written.
        "-search.latencyOffset=1s".to_owned(),
        "-search.disableCache".to_owned(),
    ];
    Server::spawn(
        "victoria-metrics",
        &args,
        port,
        dir.join("victoria-metrics.log"),
    )
}

/// vmalert evaluating `rules` against `datasource` every second. Notifications go to
/// `notifier` (nothing listens there: the test reads the alerts from vmalert's API).
pub fn vmalert(dir: &Path, rules: &Path, datasource: u16, notifier: u16) -> Server {
    let port = free_port();
    let args = [
        format!("-httpListenAddr=127.0.0.1:{port}"),
        format!("-rule={}", rules.display()),
        format!("-datasource.url=http://127.0.0.1:{datasource}"),
        format!("-notifier.url=http://127.0.0.1:{notifier}"),
        "-evaluationInterval=1s".to_owned(),
    ];
    Server::spawn("vmalert", &args, port, dir.join("vmalert.log"))
}
