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
        let storage = format!("--storage.tsdb.path={}", dir.join("data").display());
        Self::start_with(dir, config, &[&storage])
    }

    /// Starts Prometheus on a free port with `config` (YAML, written into `dir`) and
    /// `args` (where it keeps its data among them).
    pub fn start_with(dir: &Path, config: &str, args: &[&str]) -> Self {
        let port = free_port();
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .args(args)
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

    /// The alerts its rules hold active (pending or firing), as `/api/v1/alerts` says.
    pub fn alerts(&self) -> Option<Vec<Value>> {
        alerts(self.port)
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

/// The active alerts (pending or firing) of anything that serves the Prometheus alerts
/// API (Prometheus, vmalert).
pub fn alerts(port: u16) -> Option<Vec<Value>> {
    let (status, body) = http_get(port, "/api/v1/alerts")?;
    let json: Value = serde_json::from_str(&body).ok()?;
    (status == 200).then(|| json["data"]["alerts"].as_array().cloned())?
}

/// The values of `label` on the series `selector` matches, as Grafana's
/// `label_values(selector, label)` asks for them.
pub fn label_values(port: u16, selector: &str, label: &str) -> Result<Vec<String>, String> {
    let mut path = format!("/api/v1/label/{label}/values");
    if !selector.is_empty() {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("match[]", selector)
            .finish();
        path = format!("{path}?{query}");
    }
    let (status, body) = http_get(port, &path).ok_or("no answer")?;
    let json: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if status != 200 || json["status"] != "success" {
        return Err(format!("label_values({selector}, {label}): {body}"));
    }
    let values = json["data"].as_array().cloned().unwrap_or_default();
    Ok(values
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect())
}
