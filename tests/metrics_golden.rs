//! `/metrics` from a fixed snapshot: compared with a golden file, checked by
//! `promtool check metrics`, and every metric name the docs mention must exist.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use pod_eni_exporter::accounting::Settings;
use pod_eni_exporter::metrics::{self, Metrics, SharedSnapshot};
use pod_eni_exporter::snapshot_dir;
use support::repo;

/// The incident example, joined at its capture time, rendered by a fresh registry.
fn incident_metrics() -> String {
    let loaded = snapshot_dir::read_dir(&repo().join("examples/incident"), &Default::default())
        .expect("example reads");
    let snapshot = loaded.join(&Settings::default());
    let shared = SharedSnapshot::default();
    shared.set(Arc::new(snapshot));
    let (registry, _metrics) = Metrics::new_registry(shared);
    metrics::render(&registry, false).0
}

/// Families keep their order; samples inside a family are sorted, because label sets
/// of a family come out in hash order.
fn normalized(exposition: &str) -> String {
    let mut out = String::new();
    let mut samples: Vec<&str> = Vec::new();
    let flush = |samples: &mut Vec<&str>, out: &mut String| {
        samples.sort();
        for line in samples.drain(..) {
            out.push_str(line);
            out.push('\n');
        }
    };
    for line in exposition.lines() {
        if line.starts_with("# HELP") {
            flush(&mut samples, &mut out);
        }
        if line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
        } else {
            samples.push(line);
        }
    }
    flush(&mut samples, &mut out);
    out
}

#[test]
fn metrics_match_the_golden_file() {
    let actual = normalized(&incident_metrics());
    let golden_path = repo().join("tests/golden/incident.prom");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::write(&golden_path, &actual).unwrap();
    }
    let golden = fs::read_to_string(&golden_path).expect(
        "tests/golden/incident.prom missing: run UPDATE_GOLDEN=1 cargo test --test metrics_golden",
    );
    assert_eq!(
        actual, golden,
        "/metrics changed; if intended, run UPDATE_GOLDEN=1 cargo test --test metrics_golden and review the diff"
    );
}

#[test]
fn promtool_check_metrics_is_clean() {
    let exposition = incident_metrics();
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: install Prometheus (scripts/test does it with apt)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn incident_figures_in_the_exposition() {
    let exposition = incident_metrics();
    let node = "ip-10-0-1-10.eu-west-1.compute.internal";
    for (series, value) in [
        (
            format!("podeni_node_branch_eni_capacity{{node=\"{node}\"}}"),
            "18",
        ),
        (
            format!("podeni_node_branch_eni_requests{{node=\"{node}\"}}"),
            "14",
        ),
        (
            format!("podeni_node_branch_enis{{node=\"{node}\",state=\"completed_pod\"}}"),
            "1",
        ),
        (
            format!("podeni_node_branch_enis{{node=\"{node}\",state=\"leaked\"}}"),
            "3",
        ),
        (
            format!("podeni_node_branch_eni_remaining{{node=\"{node}\"}}"),
            "0",
        ),
        (
            format!("podeni_node_pods_waiting_for_branch_eni{{node=\"{node}\"}}"),
            "1",
        ),
    ] {
        let line = exposition
            .lines()
            .find(|l| l.starts_with(&format!("{series} ")))
            .unwrap_or_else(|| panic!("{series} not exposed"));
        let got: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(got, value.parse::<f64>().unwrap(), "{line}");
    }
    assert!(
        !exposition.contains("# EOF"),
        "plain Prometheus text by default"
    );
}

/// Every `podeni_*` name in the docs and assets exists, and the README lists them all.
#[test]
fn documented_metric_names_exist_in_the_code() {
    let known: BTreeSet<String> = metrics::ALL.iter().map(|m| m.exposed_name()).collect();
    let mut files = vec![repo().join("README.md")];
    for dir in ["alerts", "dashboards", "docs", "deploy"] {
        if let Ok(entries) = fs::read_dir(repo().join(dir)) {
            files.extend(
                entries
                    .filter_map(|e| Some(e.ok()?.path()))
                    .filter(|p| p.is_file()),
            );
        }
    }
    for file in &files {
        // docs/ also holds the status page's screenshot.
        if file.extension().is_some_and(|e| e == "png") {
            continue;
        }
        let text = fs::read_to_string(file).unwrap();
        for name in metric_names_in(&text) {
            assert!(
                known.contains(&name),
                "{} mentions {name}, which the exporter does not expose",
                file.display()
            );
        }
    }
    let readme = metric_names_in(&fs::read_to_string(repo().join("README.md")).unwrap());
    for name in &known {
        assert!(readme.contains(name), "README.md does not document {name}");
    }
}

fn metric_names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (start, _) in text.match_indices("podeni_") {
        if text[..start].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|b| b.ends_with("_seconds"))
            })
            .unwrap_or(&name);
        names.insert(base.to_owned());
    }
    names
}
