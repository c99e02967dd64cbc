//! The shipped assets: dashboards follow the house rules, the kustomize base renders
//! with least privilege and a hardened pod, and everything derived from a source of
//! truth (PrometheusRule from alerts/, dashboard ConfigMaps from dashboards/) matches it;
//! the TLS component and the README's web config agree.

use std::path::Path;
use std::process::Command;

mod support;

use pod_eni_exporter::http::web::config::{Pem, WebConfig};
use serde_json::Value;
use support::manifests::{
    dashboards_are_the_json, kustomize, least_privilege_and_hardened, of_kind,
    rules_are_the_alerts, tls_wiring,
};
use support::repo;

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn dashboards_follow_the_house_rules() {
    let mut uids = Vec::new();
    for name in support::dashboards::ALL {
        let board: Value = serde_json::from_str(&read(&format!("dashboards/{name}.json"))).unwrap();
        assert!(
            board["schemaVersion"].as_u64().unwrap() >= 39,
            "{name}: schemaVersion"
        );
        let uid = board["uid"].as_str().unwrap().to_owned();
        assert!(uid.starts_with("pod-eni-"), "{name}: stable uid {uid}");
        uids.push(uid);
        assert!(
            board["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "pod-eni-exporter")
        );
        let variables: Vec<&Value> = board["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .collect();
        let variable = |n: &str| variables.iter().find(|v| v["name"] == n).copied();
        assert_eq!(
            variable("datasource").map(|v| &v["type"]),
            Some(&Value::from("datasource")),
            "{name}"
        );
        let cluster = variable("cluster").unwrap_or_else(|| panic!("{name}: no cluster variable"));
        // Hidden where it matches everything (one cluster); the Fleet dashboard is
        // about choosing clusters.
        let hide = if name == "fleet" { 0 } else { 2 };
        assert_eq!(cluster["hide"], hide, "{name}: cluster variable visibility");
        assert_eq!(
            cluster["allValue"], ".*",
            "{name}: 'All' matches series without a cluster label"
        );
        for panel in board["panels"].as_array().unwrap() {
            let title = panel["title"].as_str().unwrap();
            assert!(
                !panel["description"].as_str().unwrap_or_default().is_empty(),
                "{name} / {title}: description"
            );
            assert!(
                panel["fieldConfig"]["defaults"]["unit"].is_string(),
                "{name} / {title}: unit"
            );
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{name} / {title}: datasource variable"
            );
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                assert!(
                    expr.contains("cluster=~\"$cluster\""),
                    "{name} / {title}: {expr} ignores $cluster"
                );
                if expr.contains("rate(") {
                    assert!(
                        expr.contains("[$__rate_interval]"),
                        "{name} / {title}: {expr} without $__rate_interval"
                    );
                }
            }
        }
    }
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), support::dashboards::ALL.len(), "unique uids");
}

/// The grouping clauses (`by (…)`, `on (…)`) of a PromQL expression, each with what
/// precedes it and what follows it.
fn groupings(expr: &str) -> Vec<(&str, &str, &str)> {
    let mut found = Vec::new();
    for keyword in ["by (", "on ("] {
        for (at, _) in expr.match_indices(keyword) {
            let rest = &expr[at + keyword.len()..];
            let labels = &rest[..rest.find(')').unwrap()];
            found.push((&expr[..at], labels, rest));
        }
    }
    found
}

/// On a central store several clusters write to (docs/fleet.md), nothing may group
/// across clusters: every rule groups and matches by `cluster`, and every dashboard
/// query does before anything else (a fleet-wide `sum by (state)` is fine over a
/// `max by (cluster, …)`, never over the raw series).
#[test]
fn no_rule_or_panel_mixes_clusters() {
    let rules = read("alerts/pod-eni-exporter.rules.yml");
    let rules: Value = serde_yaml_ng::from_str(&rules).unwrap();
    let mut checked = 0;
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let expr = rule["expr"].as_str().unwrap();
            for (_, labels, _) in groupings(expr) {
                assert!(
                    labels.contains("cluster"),
                    "{}: groups by ({labels}) without cluster",
                    rule["alert"]
                );
                checked += 1;
            }
        }
    }
    for panel in support::dashboards::panels(&support::dashboards::ALL) {
        for expr in &panel.exprs {
            for (before, labels, after) in groupings(expr) {
                let fleet_wide_sum =
                    before.trim_end().ends_with("sum") && after.contains("by (cluster");
                assert!(
                    labels.contains("cluster") || fleet_wide_sum,
                    "{} / {}: groups by ({labels}) without cluster: {expr}",
                    panel.dashboard,
                    panel.title
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} groupings found");
}

#[test]
fn generated_assets_are_current() {
    let output = Command::new("python3")
        .args(["dashboards/build.py", "--check"])
        .current_dir(repo())
        .output()
        .expect("python3 runs dashboards/build.py");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The base install, rendered.
fn rendered() -> Vec<Value> {
    kustomize("deploy/kubernetes")
}

#[test]
fn the_kustomize_base_renders_least_privilege_and_a_hardened_pod() {
    let objects = rendered();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
    ] {
        assert_eq!(of_kind(&objects, kind).len(), 1, "one {kind}");
    }
    assert!(
        objects
            .iter()
            .filter(|o| o["kind"] != "Namespace"
                && o["kind"] != "ClusterRole"
                && o["kind"] != "ClusterRoleBinding")
            .all(|o| o["metadata"]["namespace"] == "pod-eni-exporter")
    );

    least_privilege_and_hardened(&objects);
    let service = of_kind(&objects, "Service")[0];
    assert_eq!(
        service["metadata"]["name"], "pod-eni-exporter",
        "the scrape job name PodEniExporterDown expects"
    );
    assert_eq!(service["spec"]["ports"][0]["port"], 9823);
    let monitor = of_kind(&objects, "ServiceMonitor")[0];
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
}

/// The TLS component wires certificate, web config, probes and scrape together, and
/// the README's example web config reads, points into the certificate's mount, and its
/// hash is the password its comment names.
#[test]
fn the_tls_component_and_the_readme_example_agree() {
    let objects = kustomize("deploy/examples/tls");
    assert!(
        objects
            .iter()
            .filter(|o| !["Namespace", "ClusterRole", "ClusterRoleBinding"]
                .contains(&o["kind"].as_str().unwrap()))
            .all(|o| o["metadata"]["namespace"] == "pod-eni-exporter"),
        "everything in the exporter's namespace, cert-manager objects included"
    );
    let wiring = tls_wiring(&objects);
    assert_eq!(
        wiring.secret_over(&wiring.config_file),
        "pod-eni-exporter-web-config"
    );
    let readme = read("README.md");
    let example = readme
        .split("<!-- web-config-example:start -->\n```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README's web config example");
    let config = WebConfig::parse(example, Path::new(&wiring.config_file))
        .expect("the README example reads");
    let tls = config.tls.expect("the example serves TLS");
    for pem in [&tls.cert, &tls.key] {
        let Pem::File(path) = pem else {
            panic!("files, as the component mounts them")
        };
        assert_eq!(
            wiring.secret_over(path.to_str().unwrap()),
            wiring.serving_secret
        );
    }
    let hash = &config.users["prometheus"];
    assert!(bcrypt::verify("correct horse battery staple", hash).unwrap());
}

/// The cluster-label component puts the cluster name the ConfigMap carries on every
/// series the ServiceMonitor scrapes, as the target label `cluster` (docs/fleet.md),
/// and changes nothing else.
#[test]
fn the_cluster_label_component_labels_series_with_the_configured_cluster() {
    let objects = kustomize("deploy/examples/fleet");
    let config = of_kind(&objects, "ConfigMap")
        .into_iter()
        .find(|c| c["data"]["PODENI_CLUSTER_NAME"].is_string())
        .expect("the exporter's ConfigMap");
    let name = config["data"]["PODENI_CLUSTER_NAME"].as_str().unwrap();
    assert!(!name.is_empty(), "the example sets a cluster name");
    let monitor = of_kind(&objects, "ServiceMonitor")[0];
    let relabelings = &monitor["spec"]["endpoints"][0]["relabelings"];
    assert_eq!(
        relabelings,
        &serde_json::json!([{"action": "replace", "replacement": name, "targetLabel": "cluster"}])
    );
    let base = kustomize("deploy/kubernetes");
    let without = |objects: &[Value]| -> Vec<Value> {
        objects
            .iter()
            // The Deployment names the ConfigMap by its content's hash.
            .filter(|o| {
                !["ServiceMonitor", "ConfigMap", "Deployment"]
                    .contains(&o["kind"].as_str().unwrap())
            })
            .cloned()
            .collect()
    };
    assert_eq!(without(&objects), without(&base), "nothing else differs");
}

/// The events component adds `--emit-events` and a ClusterRole that can only create
/// and patch Events, bound to the exporter; the base's role stays read-only.
#[test]
fn the_events_component_adds_only_the_right_to_write_events() {
    let objects = kustomize("deploy/examples/events");
    least_privilege_and_hardened(&objects);
    let role = of_kind(&objects, "ClusterRole")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "pod-eni-exporter-events")
        .expect("the events role");
    assert_eq!(
        role["rules"],
        serde_json::json!([{"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}])
    );
    let binding = of_kind(&objects, "ClusterRoleBinding")
        .into_iter()
        .find(|b| b["roleRef"]["name"] == "pod-eni-exporter-events")
        .expect("its binding");
    let pod = &of_kind(&objects, "Deployment")[0]["spec"]["template"]["spec"];
    assert_eq!(binding["subjects"][0]["name"], pod["serviceAccountName"]);
    let args = pod["containers"][0]["args"].as_array().unwrap();
    assert!(args.contains(&"--emit-events".into()), "{args:?}");
    assert_eq!(
        of_kind(&rendered(), "ClusterRole").len(),
        1,
        "the base has no write right"
    );
}

#[test]
fn the_prometheus_rule_carries_exactly_the_alert_rules() {
    rules_are_the_alerts(
        &rendered(),
        "deploy/kubernetes/prometheusrule.yaml: run python3 dashboards/build.py",
    );
}

#[test]
fn dashboard_config_maps_carry_the_dashboards_for_the_grafana_sidecar() {
    dashboards_are_the_json(&rendered());
}

#[test]
fn the_iam_policy_allows_only_the_two_describe_calls() {
    let policy: Value = serde_json::from_str(&read("deploy/iam-policy.json")).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["Effect"], "Allow");
    assert_eq!(
        statements[0]["Action"],
        serde_json::json!(["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"])
    );
}
