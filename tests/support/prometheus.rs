//! A real Prometheus (Debian's package) with a given configuration, and its query API.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::moto::free_port;
use super::{eventually, http_get, http_post_form};

pub struct Prometheus {
    child: Child,
    pub port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus on a free port with `config` (YAML), its data under `dir`.
    pub fn start(dir: &Path, config: &str) -> Self {
        let port = free_port();
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus not found: scripts/test installs it from apt (package prometheus)");
        Self { child, port }
    }

    pub async fn wait_ready(&self) {
        eventually("Prometheus ready", super::exporter::WAIT, || {
            (http_get(self.port, "/-/ready")?.0 == 200).then_some(())
        })
        .await;
    }

    /// An instant query: the result's series (or the scalar as one element).
    pub fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        query(self.port, expr)
    }

    /// The active targets, as `/api/v1/targets` reports them.
    pub fn targets(&self) -> Vec<Value> {
        let (_, body) = http_get(self.port, "/api/v1/targets?state=active").unwrap_or_default();
        let json: Value = serde_json::from_str(&body).unwrap_or_default();
        json["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

pub fn query(port: u16, expr: &str) -> Result<Vec<Value>, String> {
    let (status, body) = http_post_form(port, "/api/v1/query", &[("query", expr)])
        .ok_or("no answer from Prometheus")?;
    let json: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if status != 200 || json["status"] != "success" {
        return Err(format!("{expr}: {}", json["error"]));
    }
    Ok(match &json["data"]["result"] {
        Value::Array(series) => series.clone(),
        scalar => vec![scalar.clone()],
    })
}
