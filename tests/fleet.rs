//! The fleet view (docs/fleet.md) with real components: three exporters serve three
//! clusters' snapshots (`examples/incident`: full with leaks; `examples/healthy`;
//! `examples/waiting`: pods waiting on an exhausted subnet), each scraped by its own
//! Prometheus in agent mode that labels the cluster and remote-writes to one
//! VictoriaMetrics and one Prometheus (remote-write receiver). The shipped alerts,
//! evaluated by vmalert on VictoriaMetrics and by the central Prometheus, must hold
//! exactly for the clusters (and nodes) they should, each with its `cluster`; every
//! dashboard query must run on both stores for each cluster and for all; sums over the
//! fleet must be the sums of what each exporter serves.
//!
//! Two of the agents set `cluster` as an external label, the third as a target label
//! (what the chart's `serviceMonitor.clusterLabel` renders): both documented ways.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use support::dashboards::{self, Panel};
use support::exporter::Exporter;
use support::moto::free_port;
use support::prometheus::{self, Prometheus, label_values, query};
use support::victoria::{victoria_metrics, vmalert};
use support::{eventually, repo};

/// How long remote-written series and rule evaluations may take to show.
const WAIT: Duration = Duration::from_secs(90);

/// The fleet: each cluster's name, its snapshot, and how its agent labels it.
const CLUSTERS: [(&str, &str, Labelled); 3] = [
    ("prod-eu", "examples/incident", Labelled::External),
    ("prod-us", "examples/healthy", Labelled::External),
    ("batch-eu", "examples/waiting", Labelled::Target),
];
const FULL_NODE: &str = "ip-10-0-1-10.eu-west-1.compute.internal";
const BATCH_NODE_B: &str = "ip-10-0-2-42.eu-west-1.compute.internal";

#[derive(Clone, Copy)]
enum Labelled {
    /// `global.external_labels.cluster` of the cluster's Prometheus agent.
    External,
    /// A relabeling that sets the target label `cluster`.
    Target,
}

/// The agent's configuration: scrape the exporter every second, label the cluster,
/// remote-write to both stores.
fn agent_config(cluster: &str, labelled: Labelled, exporter: u16, stores: [u16; 2]) -> String {
    let (external, relabel) = match labelled {
        Labelled::External => (
            format!("  external_labels: {{cluster: {cluster}}}\n"),
            String::new(),
        ),
        Labelled::Target => (
            String::new(),
            format!(
                "    relabel_configs:\n      - {{target_label: cluster, replacement: {cluster}}}\n"
            ),
        ),
    };
    let writes: String = stores
        .iter()
        .map(|port| {
            format!("  - url: http://127.0.0.1:{port}/api/v1/write\n    queue_config: {{batch_send_deadline: 1s}}\n")
        })
        .collect();
    format!(
        "global:\n  scrape_interval: 1s\n{external}scrape_configs:\n  - job_name: pod-eni-exporter\n    static_configs:\n      - targets: ['127.0.0.1:{exporter}']\n{relabel}remote_write:\n{writes}"
    )
}

/// An alert as both evaluators must agree on it: its labels (vmalert's own
/// `alertgroup` aside), and whether it is firing yet.
fn active(alerts: &[Value]) -> BTreeMap<BTreeMap<String, String>, String> {
    alerts
        .iter()
        .map(|alert| {
            let labels = alert["labels"].as_object().unwrap();
            let labels = labels
                .iter()
                .filter(|(name, _)| *name != "alertgroup")
                .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
                .collect();
            (
                labels,
                alert["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// (alert, cluster, what it names): node, subnet, pod or nothing.
fn key(labels: &BTreeMap<String, String>) -> (String, String, String) {
    let named = ["pod", "node", "subnet_id"]
        .iter()
        .find_map(|label| labels.get(*label))
        .cloned()
        .unwrap_or_default();
    (
        labels["alertname"].clone(),
        labels.get("cluster").cloned().unwrap_or_default(),
        named,
    )
}

fn expected_alerts() -> BTreeSet<(String, String, String)> {
    [
        // prod-eu, the incident: its full node has a pod waiting, 0 % left, four
        // more ENIs attached than requested, three completed Job pods' ENIs leaked;
        // subnet c has 402 of 8,187 addresses free; the cluster under 10 % headroom.
        ("PodEniNodeExhausted", "prod-eu", FULL_NODE),
        ("PodEniNodeNearCapacity", "prod-eu", FULL_NODE),
        ("PodEniSchedulerViewDiverges", "prod-eu", FULL_NODE),
        ("PodEniCompletedPodsHoldingEnis", "prod-eu", FULL_NODE),
        (
            "PodEniPodsWaiting",
            "prod-eu",
            "checkout-api-7d9f8b6c5d-q8r2t",
        ),
        (
            "PodEniSubnetRunningOut",
            "prod-eu",
            "subnet-0c33c0ffee0000003",
        ),
        ("PodEniClusterHeadroomLow", "prod-eu", ""),
        // batch-eu: two pods wait on the node whose subnet has no address left.
        (
            "PodEniPodsWaiting",
            "batch-eu",
            "ingest-worker-6f7a8b9c0-w8q2z",
        ),
        (
            "PodEniPodsWaiting",
            "batch-eu",
            "ingest-worker-6f7a8b9c0-t4n6k",
        ),
        (
            "PodEniSubnetRunningOut",
            "batch-eu",
            "subnet-0e55c0ffee0000002",
        ),
        // prod-us, healthy: nothing.
    ]
    .into_iter()
    .map(|(alert, cluster, named)| (alert.to_owned(), cluster.to_owned(), named.to_owned()))
    .collect()
}

/// Grafana's variables as a dashboard sends them for `cluster` (".*": All).
fn substitute(expr: &str, cluster: &str, node: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$cluster", cluster)
        .replace("$node", node)
}

/// The clusters' names as the variable's values, then All.
fn cluster_choices() -> Vec<&'static str> {
    let mut choices: Vec<&str> = CLUSTERS.iter().map(|(name, _, _)| *name).collect();
    choices.push(".*");
    choices
}

/// Every exporter's series `metric` with label `matching` (e.g. `state="leaked"`)
/// summed, from each one's own `/metrics`: what the central stores must add up to.
fn summed_at_the_source(exporters: &[Exporter], metric: &str, matching: &str) -> f64 {
    let prefix = format!("{metric}{{");
    exporters
        .iter()
        .flat_map(|exporter| {
            let body = exporter.metrics().expect("exporter /metrics");
            body.lines()
                .filter(|line| line.starts_with(&prefix) && line.contains(matching))
                .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

fn scalar(port: u16, expr: &str) -> Option<f64> {
    let result = query(port, expr).ok()?;
    result.first()?["value"][1].as_str()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fleet_through_remote_write_on_victoriametrics_and_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let exporters: Vec<Exporter> = CLUSTERS
        .iter()
        .map(|(_, snapshot, _)| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_pod-eni-exporter"));
            command
                .args(["serve", "--from", snapshot])
                .current_dir(repo());
            Exporter::spawn(command)
        })
        .collect();
    for exporter in &exporters {
        exporter.wait_ready().await;
    }

    // The central stores, and the ruler for VictoriaMetrics.
    let rules = repo().join("alerts/pod-eni-exporter.rules.yml");
    let vm = victoria_metrics(dir);
    vm.wait_ready("VictoriaMetrics ready").await;
    let central_dir = dir.join("central");
    std::fs::create_dir_all(&central_dir).unwrap();
    let central = Prometheus::start_with(
        &central_dir,
        &format!(
            "global:\n  evaluation_interval: 1s\nrule_files:\n  - {}\n",
            rules.display()
        ),
        &[
            &format!("--storage.tsdb.path={}", central_dir.join("data").display()),
            "--web.enable-remote-write-receiver",
        ],
    );
    central.wait_ready().await;
    let ruler = vmalert(dir, &rules, vm.port, free_port());
    ruler.wait_ready("vmalert ready").await;

    // One agent per cluster.
    let mut agents = Vec::new();
    for ((cluster, _, labelled), exporter) in CLUSTERS.iter().zip(&exporters) {
        let agent_dir = dir.join(format!("agent-{cluster}"));
        std::fs::create_dir_all(&agent_dir).unwrap();
        let config = agent_config(cluster, *labelled, exporter.port, [vm.port, central.port]);
        let storage = format!("--storage.agent.path={}", agent_dir.join("wal").display());
        let agent =
            Prometheus::start_with(&agent_dir, &config, &["--enable-feature=agent", &storage]);
        agent.wait_ready().await;
        agents.push(agent);
    }

    let stores = [("VictoriaMetrics", vm.port), ("Prometheus", central.port)];
    let all_clusters: BTreeSet<String> = CLUSTERS
        .iter()
        .map(|(name, _, _)| name.to_string())
        .collect();
    for (store, port) in stores {
        eventually(&format!("{store} has every cluster's series"), WAIT, || {
            let clusters: BTreeSet<String> = label_values(port, "podeni_build_info", "cluster")
                .ok()?
                .into_iter()
                .collect();
            let up = scalar(port, r#"count(up{job="pod-eni-exporter"} == 1)"#)?;
            (clusters == all_clusters && up == 3.0).then_some(())
        })
        .await;
    }

    // The alerts: both evaluators hold the same ones, each exactly where it should be
    // and each naming its cluster.
    let expected = expected_alerts();
    let from_vmalert = || prometheus::alerts(ruler.port).map(|a| active(&a));
    let from_prometheus = || central.alerts().map(|a| active(&a));
    let keys = |alerts: &BTreeMap<BTreeMap<String, String>, String>| -> BTreeSet<_> {
        alerts.keys().map(key).collect()
    };
    for (evaluator, alerts) in [
        ("vmalert", &from_vmalert as &dyn Fn() -> Option<_>),
        ("Prometheus", &from_prometheus),
    ] {
        let found = eventually(&format!("{evaluator}: the expected alerts"), WAIT, || {
            let found = alerts()?;
            (keys(&found) == expected).then_some(found)
        })
        .await;
        for labels in found.keys() {
            assert!(
                labels
                    .get("cluster")
                    .is_some_and(|c| all_clusters.contains(c)),
                "{evaluator}: an alert without its cluster: {labels:?}"
            );
        }
    }
    // The same labels (every one, severity included) from both.
    assert_eq!(
        from_vmalert().unwrap().into_keys().collect::<BTreeSet<_>>(),
        from_prometheus()
            .unwrap()
            .into_keys()
            .collect::<BTreeSet<_>>(),
        "vmalert on VictoriaMetrics and Prometheus disagree"
    );
    // The alerts with a one-minute `for` go on to fire, on both, for the same pods.
    let waiting_firing = |alerts: Option<BTreeMap<BTreeMap<String, String>, String>>| {
        let alerts = alerts?;
        let firing: BTreeSet<_> = alerts
            .iter()
            .filter(|(labels, state)| {
                labels["alertname"] == "PodEniPodsWaiting" && *state == "firing"
            })
            .map(|(labels, _)| key(labels))
            .collect();
        (firing.len() == 3).then_some(firing)
    };
    let firing_vm = eventually(
        "vmalert: PodEniPodsWaiting firing",
        Duration::from_secs(150),
        || waiting_firing(from_vmalert()),
    )
    .await;
    let firing_prometheus = eventually(
        "Prometheus: PodEniPodsWaiting firing",
        Duration::from_secs(60),
        || waiting_firing(from_prometheus()),
    )
    .await;
    assert_eq!(firing_vm, firing_prometheus);

    // The cluster variable lists the three clusters on both stores; each cluster's
    // node variable lists the nodes that cluster's exporter reports.
    let variables = dashboards::variables(&dashboards::ALL);
    assert!(variables.iter().any(|v| v.name == "node"));
    let mut nodes_of: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ((cluster, _, _), exporter) in CLUSTERS.iter().zip(&exporters) {
        let body = exporter.metrics().unwrap();
        let mut nodes: Vec<String> = body
            .lines()
            .filter(|line| line.starts_with("podeni_node_info{"))
            .filter_map(|line| Some(line.split("node=\"").nth(1)?.split('"').next()?.to_owned()))
            .collect();
        nodes.sort();
        nodes.dedup();
        assert!(!nodes.is_empty(), "{cluster}: no node_info");
        nodes_of.insert(cluster, nodes);
    }
    for (store, port) in stores {
        for variable in &variables {
            for cluster in cluster_choices() {
                let selector = substitute(&variable.selector, cluster, "");
                let mut values =
                    label_values(port, &selector, &variable.label).unwrap_or_else(|e| {
                        panic!("{store}: {}/{}: {e}", variable.dashboard, variable.name)
                    });
                values.sort();
                let want: Vec<String> = match (variable.label.as_str(), cluster) {
                    ("cluster", _) => all_clusters.iter().cloned().collect(),
                    ("node", ".*") => {
                        let mut all: Vec<String> = nodes_of.values().flatten().cloned().collect();
                        all.sort();
                        all.dedup();
                        all
                    }
                    ("node", cluster) => nodes_of[cluster].clone(),
                    (label, _) => panic!("a variable of an unexpected label: {label}"),
                };
                assert_eq!(
                    values, want,
                    "{store}: {}/{} for cluster {cluster}",
                    variable.dashboard, variable.name
                );
            }
        }
    }

    // Every panel's queries run on both stores, for each cluster and for all, and the
    // two stores agree on which have data.
    let panels = dashboards::panels(&dashboards::ALL);
    let mut checked = 0;
    let mut with_data: BTreeMap<(String, String), BTreeSet<&str>> = BTreeMap::new();
    for Panel {
        dashboard,
        title,
        exprs,
    } in &panels
    {
        for cluster in cluster_choices() {
            let node = match cluster {
                "batch-eu" => BATCH_NODE_B,
                "prod-us" => nodes_of["prod-us"][0].as_str(),
                _ => FULL_NODE,
            };
            for expr in exprs {
                let expr = substitute(expr, cluster, node);
                let mut answers = Vec::new();
                for (store, port) in stores {
                    let result = query(port, &expr)
                        .unwrap_or_else(|e| panic!("{store}: {dashboard} / {title}: {e}"));
                    // Prometheus answers NaN where VictoriaMetrics leaves the series out
                    // (a quantile of no observations): Grafana shows neither.
                    answers.push(result.iter().any(|series| series["value"][1] != "NaN"));
                    checked += 1;
                }
                assert_eq!(
                    answers[0], answers[1],
                    "{dashboard} / {title} for {cluster}: VictoriaMetrics has data {}, Prometheus {}\n{expr}",
                    answers[0], answers[1]
                );
                if answers[0] {
                    with_data
                        .entry((dashboard.clone(), title.clone()))
                        .or_default()
                        .insert(cluster);
                }
            }
        }
    }
    assert!(checked >= 300, "only {checked} dashboard queries ran");
    let every = |panel: (&str, &str)| -> BTreeSet<&str> {
        with_data
            .get(&(panel.0.to_owned(), panel.1.to_owned()))
            .cloned()
            .unwrap_or_default()
    };
    let all_four: BTreeSet<&str> = cluster_choices().into_iter().collect();
    for panel in [
        ("fleet", "Clusters ranked"),
        ("fleet", "Headroom per cluster"),
        ("fleet", "Subnets lowest on free IPs"),
        ("fleet", "Exporters: sources synced"),
        ("overview", "Branch ENI capacity"),
        ("overview", "Nodes closest to exhaustion"),
        ("overview", "Subnet free IPs"),
        ("node", "Branch ENIs by state"),
        ("subnets", "Subnets"),
    ] {
        assert_eq!(
            every(panel),
            all_four,
            "{panel:?}: data for every cluster and for all"
        );
    }
    // Where a cluster has none, the panel shows none for it.
    assert_eq!(
        every(("overview", "Pods waiting for a branch ENI")),
        ["prod-eu", "batch-eu", ".*"].into_iter().collect(),
    );
    assert_eq!(
        every((
            "overview",
            "Culprits: branch ENIs held without a running pod"
        )),
        ["prod-eu", ".*"].into_iter().collect(),
    );

    // Sums over the fleet on the central stores are the sums of what each exporter
    // serves.
    let waiting_at_source =
        summed_at_the_source(&exporters, "podeni_node_pods_waiting_for_branch_eni", "");
    let leaked_at_source =
        summed_at_the_source(&exporters, "podeni_node_branch_enis", "state=\"leaked\"");
    let remaining_at_source =
        summed_at_the_source(&exporters, "podeni_node_branch_eni_remaining", "");
    let full_at_source = exporters
        .iter()
        .filter(|exporter| {
            let body = exporter.metrics().unwrap();
            body.lines()
                .filter(|line| line.starts_with("podeni_node_branch_eni_remaining{"))
                .any(|line| {
                    line.rsplit_once(' ')
                        .is_some_and(|(_, v)| v.parse() == Ok(0.0))
                })
        })
        .count() as f64;
    assert_eq!(
        waiting_at_source, 3.0,
        "the scenario: one pod waits in prod-eu, two in batch-eu"
    );
    assert_eq!(
        leaked_at_source, 3.0,
        "the scenario: prod-eu's three old Job pods' ENIs"
    );
    let fleet = |title: &str| {
        panels
            .iter()
            .find(|p| p.dashboard == "fleet" && p.title == title)
            .unwrap_or_else(|| panic!("no Fleet panel {title}"))
            .exprs[0]
            .clone()
    };
    for (store, port) in stores {
        let sum = |title: &str| scalar(port, &substitute(&fleet(title), ".*", ""));
        assert_eq!(
            sum("Pods waiting"),
            Some(waiting_at_source),
            "{store}: pods waiting over the fleet"
        );
        assert_eq!(
            sum("Leaked branch ENIs"),
            Some(leaked_at_source),
            "{store}: leaked over the fleet"
        );
        assert_eq!(
            sum("Clusters with a full node"),
            Some(full_at_source),
            "{store}: clusters with a full node"
        );
        assert_eq!(sum("Clusters"), Some(3.0), "{store}: clusters");
        // prod-us and batch-eu each have a node called ip-10-0-1-11: the overview's
        // total for all clusters counts both.
        let overview = dashboards::panels(&["overview"]);
        let remaining = &overview
            .iter()
            .find(|p| p.title == "Remaining")
            .unwrap()
            .exprs[0];
        assert_eq!(
            scalar(port, &substitute(remaining, ".*", "")),
            Some(remaining_at_source),
            "{store}: slots left over the fleet"
        );
    }
    drop(agents);
}
