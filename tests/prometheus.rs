//! The alerts and dashboards against a real Prometheus (Debian's package) scraping
//! `serve --from examples/incident`: every dashboard query and alert expression
//! evaluates, the key panels have data, the rules report no errors, and the exhaustion
//! alert holds for the incident node only. `promtool check rules` and `promtool test
//! rules` run here too.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use support::dashboards;
use support::moto::free_port;
use support::prometheus::{Prometheus, label_values, query};
use support::repo;
use support::{eventually, http_get};

const FULL_NODE: &str = "ip-10-0-1-10.eu-west-1.compute.internal";
const HEALTHY_NODE: &str = "ip-10-0-2-20.eu-west-1.compute.internal";
const WAIT: Duration = Duration::from_secs(60);

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tool(name: &str) -> Command {
    let mut command = Command::new(name);
    command.current_dir(repo());
    command
}

fn run_ok(mut command: Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| {
        panic!("{what}: cannot run ({e}); scripts/test installs Prometheus from apt")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{what} failed:\n{text}");
    text
}

fn rule_files() -> Vec<PathBuf> {
    std::fs::read_dir(repo().join("alerts"))
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect()
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let mut check = tool("promtool");
    check.args(["check", "rules"]).args(rule_files());
    let out = run_ok(check, "promtool check rules");
    assert!(out.contains("SUCCESS"), "{out}");

    let mut test = tool("promtool");
    test.current_dir(repo().join("alerts/tests")).args([
        "test",
        "rules",
        "pod-eni-exporter.test.yml",
    ]);
    let out = run_ok(test, "promtool test rules");
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Every alert has a firing and a not-firing case in the promtool tests.
#[test]
fn every_alert_has_a_firing_and_a_silent_test_case() {
    let rules: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo().join("alerts/pod-eni-exporter.rules.yml")).unwrap(),
    )
    .unwrap();
    let tests: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo().join("alerts/tests/pod-eni-exporter.test.yml")).unwrap(),
    )
    .unwrap();
    let cases: Vec<&Value> = tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().unwrap())
        .collect();
    for alert in alert_rules(&rules) {
        let name = alert["alert"].as_str().unwrap();
        let of_alert: Vec<_> = cases.iter().filter(|c| c["alertname"] == name).collect();
        assert!(
            of_alert
                .iter()
                .any(|c| c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty())),
            "{name}: no test case where it fires"
        );
        assert!(
            of_alert
                .iter()
                .any(|c| c["exp_alerts"].as_array().is_some_and(|a| a.is_empty())),
            "{name}: no test case where it must not fire"
        );
        let annotations = &alert["annotations"];
        let summary = annotations["summary"].as_str().unwrap();
        assert!(
            summary.ends_with('.') && !summary.contains("{{"),
            "{name}: summary {summary:?}"
        );
        // Descriptions name the node, subnet, pod or source and the figures.
        assert!(
            annotations["description"].as_str().unwrap().contains("{{"),
            "{name}: description is templated"
        );
        let runbook = annotations["runbook_url"].as_str().unwrap();
        let anchor = runbook
            .strip_prefix("docs/runbook.md#")
            .expect("runbook_url into docs/runbook.md");
        let runbook_text = std::fs::read_to_string(repo().join("docs/runbook.md")).unwrap();
        assert!(
            runbook_text.lines().any(|l| l
                .strip_prefix("## ")
                .is_some_and(|h| h.to_lowercase() == anchor)),
            "{name}: docs/runbook.md has no section #{anchor}"
        );
        let severity = alert["labels"]["severity"].as_str().unwrap();
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: severity {severity}"
        );
    }
}

fn alert_rules(rules: &Value) -> Vec<&Value> {
    rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect()
}

/// Grafana's variables as a dashboard would send them for the incident.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$cluster", ".*")
        .replace("$node", FULL_NODE)
}

fn start_prometheus(dir: &Path, exporter_port: u16) -> Prometheus {
    let rules: Vec<String> = rule_files()
        .iter()
        .map(|p| format!("  - {}", p.display()))
        .collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{}\nscrape_configs:\n  - job_name: pod-eni-exporter\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n",
        rules.join("\n")
    );
    Prometheus::start(dir, &config)
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboards_and_alerts_evaluate_in_a_real_prometheus() {
    let exporter_port = free_port();
    let _exporter = Killed(
        Command::new(env!("CARGO_BIN_EXE_pod-eni-exporter"))
            .args(["serve", "--from", "examples/incident"])
            .args([
                "--web.listen-address",
                &format!("127.0.0.1:{exporter_port}"),
            ])
            .current_dir(repo())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let prometheus = start_prometheus(dir.path(), exporter_port);
    prometheus.wait_ready().await;
    let port = prometheus.port;
    eventually("a few scrapes of the exporter", WAIT, || {
        let up = query(port, "count_over_time(up{job=\"pod-eni-exporter\"}[1m])").ok()?;
        let scrapes: f64 = up.first()?["value"][1].as_str()?.parse().ok()?;
        (scrapes >= 5.0).then_some(())
    })
    .await;

    // Every dashboard query evaluates; the key panels have data.
    let key_panels = [
        ("overview", "Nodes closest to exhaustion"),
        ("overview", "Scheduler view vs EC2 truth"),
        (
            "overview",
            "Culprits: branch ENIs held without a running pod",
        ),
        ("overview", "Pods waiting for a branch ENI"),
        ("overview", "Subnet free IPs"),
        ("overview", "Headroom by zone"),
        ("overview", "Headroom by node group"),
        ("overview", "Nodes full"),
        ("overview", "Exporter: sources up"),
        ("node", "Branch ENIs by state"),
        ("node", "This node's culprits"),
        ("subnets", "Subnets"),
    ];
    let mut checked = 0;
    for panel in dashboards::panels(&["overview", "node", "subnets"]) {
        let mut has_data = false;
        for expr in &panel.exprs {
            let result = query(port, &substitute(expr))
                .unwrap_or_else(|e| panic!("{} / {}: {e}", panel.dashboard, panel.title));
            has_data |= !result.is_empty();
            checked += 1;
        }
        if key_panels.contains(&(panel.dashboard.as_str(), panel.title.as_str())) {
            assert!(
                has_data,
                "{} / {}: no data for the incident",
                panel.dashboard, panel.title
            );
        }
    }
    assert!(checked >= 30, "only {checked} dashboard queries found");

    // The variables' queries find the incident's nodes.
    let nodes = label_values(port, "podeni_node_info", "node").unwrap();
    assert!(nodes.iter().any(|node| node == FULL_NODE), "{nodes:?}");

    // Every alert expression evaluates; the exhaustion condition holds for the
    // incident node and not for the healthy one.
    let rules: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo().join("alerts/pod-eni-exporter.rules.yml")).unwrap(),
    )
    .unwrap();
    for alert in alert_rules(&rules) {
        let name = alert["alert"].as_str().unwrap();
        let result =
            query(port, alert["expr"].as_str().unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        if name == "PodEniNodeExhausted" {
            let nodes: Vec<&str> = result
                .iter()
                .filter_map(|s| s["metric"]["node"].as_str())
                .collect();
            assert_eq!(
                nodes,
                vec![FULL_NODE],
                "exhaustion holds for the incident node only (not {HEALTHY_NODE})"
            );
        }
    }

    // Prometheus itself evaluates the rule groups without errors, and the exhaustion
    // alert is on its way (pending until its `for:` passes).
    let expected_rules = alert_rules(&rules).len();
    eventually("rules evaluated without errors", WAIT, || {
        let (_, body) = http_get(port, "/api/v1/rules")?;
        let json: Value = serde_json::from_str(&body).ok()?;
        let rules: Vec<&Value> = json["data"]["groups"]
            .as_array()?
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap())
            .collect();
        for rule in &rules {
            assert!(
                rule["health"] != "err",
                "{}: {}",
                rule["name"],
                rule["lastError"]
            );
        }
        (rules.len() == expected_rules && rules.iter().all(|r| r["health"] == "ok")).then_some(())
    })
    .await;
    let alerts = prometheus.alerts().expect("the alerts API answers");
    let exhausted: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] == "PodEniNodeExhausted")
        .collect();
    assert_eq!(exhausted.len(), 1);
    assert_eq!(exhausted[0]["labels"]["node"], FULL_NODE);
}
