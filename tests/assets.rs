//! The shipped assets: dashboards follow the house rules, the kustomize base renders
//! with least privilege and a hardened pod, and everything derived from a source of
//! truth (PrometheusRule from alerts/, dashboard ConfigMaps from dashboards/) matches it;
//! the TLS component and the README's web config agree.

use std::path::{Path, PathBuf};
use std::process::Command;

use pod_eni_exporter::web::config::{Pem, WebConfig};
use serde::Deserialize;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const DASHBOARDS: [&str; 3] = ["overview", "node", "subnets"];

#[test]
fn dashboards_follow_the_house_rules() {
    let mut uids = Vec::new();
    for name in DASHBOARDS {
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
        assert_eq!(
            cluster["hide"], 2,
            "{name}: cluster variable hidden for a single cluster"
        );
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
    assert_eq!(uids.len(), DASHBOARDS.len(), "unique uids");
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

/// `kubectl kustomize deploy/kubernetes`, one JSON value per document.
fn rendered() -> Vec<Value> {
    rendered_from("deploy/kubernetes")
}

fn rendered_from(dir: &str) -> Vec<Value> {
    let output = Command::new("kubectl")
        .args(["kustomize", dir])
        .current_dir(repo())
        .output()
        .expect("kubectl not found: it renders the kustomize base (scripts/test installs it when missing)");
    assert!(
        output.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).expect("YAML document"))
        .collect()
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
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

    let role = of_kind(&objects, "ClusterRole")[0];
    let rules = role["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["apiGroups"], serde_json::json!([""]));
    assert_eq!(rules[0]["resources"], serde_json::json!(["pods", "nodes"]));
    assert_eq!(
        rules[0]["verbs"],
        serde_json::json!(["get", "list", "watch"])
    );

    let deployment = of_kind(&objects, "Deployment")[0];
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "pod-eni-exporter");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    let config_name = container["envFrom"][0]["configMapRef"]["name"]
        .as_str()
        .unwrap();
    let config = of_kind(&objects, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["name"] == config_name)
        .expect("generated config");
    assert!(config["data"]["PODENI_CLUSTER_NAME"].is_string());

    let service = of_kind(&objects, "Service")[0];
    assert_eq!(
        service["metadata"]["name"], "pod-eni-exporter",
        "the scrape job name PodEniExporterDown expects"
    );
    assert_eq!(service["spec"]["ports"][0]["port"], 9823);
    let monitor = of_kind(&objects, "ServiceMonitor")[0];
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
}

/// The TLS component: the certificate cert-manager makes names the Service the
/// ServiceMonitor checks it against; the pod mounts it and the web config where the
/// flag and the README's example say; probes use HTTPS and skip basic auth.
#[test]
fn the_tls_component_wires_certificate_web_config_probes_and_scrape_together() {
    let objects = rendered_from("deploy/examples/tls");
    assert!(
        objects
            .iter()
            .filter(|o| !["Namespace", "ClusterRole", "ClusterRoleBinding"]
                .contains(&o["kind"].as_str().unwrap()))
            .all(|o| o["metadata"]["namespace"] == "pod-eni-exporter"),
        "everything in the exporter's namespace, cert-manager objects included"
    );
    let service = of_kind(&objects, "Service")[0];
    let service_dns = format!(
        "{}.{}.svc",
        service["metadata"]["name"].as_str().unwrap(),
        service["metadata"]["namespace"].as_str().unwrap()
    );
    let serving = of_kind(&objects, "Certificate")
        .into_iter()
        .find(|c| c["spec"]["isCA"] != true)
        .expect("a serving certificate");
    let dns: Vec<&str> = serving["spec"]["dnsNames"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(dns.contains(&service_dns.as_str()), "{dns:?}");
    let issuer = serving["spec"]["issuerRef"]["name"].as_str().unwrap();
    assert!(
        of_kind(&objects, "Issuer")
            .iter()
            .any(|i| i["metadata"]["name"] == issuer),
        "the issuer {issuer} is rendered too"
    );

    let monitor = &of_kind(&objects, "ServiceMonitor")[0]["spec"]["endpoints"][0];
    assert_eq!(monitor["scheme"], "https");
    assert_eq!(monitor["tlsConfig"]["serverName"], service_dns.as_str());
    assert_eq!(
        monitor["tlsConfig"]["ca"]["secret"]["name"],
        serving["spec"]["secretName"]
    );
    assert_eq!(monitor["tlsConfig"]["ca"]["secret"]["key"], "ca.crt");
    assert!(monitor["basicAuth"]["password"]["name"].is_string());
    assert_eq!(monitor["port"], "metrics");

    let pod = &of_kind(&objects, "Deployment")[0]["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let config_file = args
        .iter()
        .find_map(|a| a.strip_prefix("--web.config.file="))
        .expect("--web.config.file");
    assert!(args.contains(&"--web.probes-without-auth"), "{args:?}");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["scheme"], "HTTPS", "{probe}");
    }
    // Each mount comes from the Secret the component names.
    let mounted_secret = |path: &str| -> String {
        let mount = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| path.starts_with(m["mountPath"].as_str().unwrap()))
            .unwrap_or_else(|| panic!("nothing mounted over {path}"));
        assert_eq!(mount["readOnly"], true);
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        volume["secret"]["secretName"].as_str().unwrap().to_owned()
    };
    assert_eq!(mounted_secret(config_file), "pod-eni-exporter-web-config");

    // The README's example config reads, its certificate paths sit in the certificate's
    // mount, and its hash is the password its comment names.
    let readme = read("README.md");
    let example = readme
        .split("<!-- web-config-example:start -->\n```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README's web config example");
    let config =
        WebConfig::parse(example, Path::new(config_file)).expect("the README example reads");
    let tls = config.tls.expect("the example serves TLS");
    for pem in [&tls.cert, &tls.key] {
        let Pem::File(path) = pem else {
            panic!("files, as the component mounts them")
        };
        assert_eq!(
            mounted_secret(path.to_str().unwrap()),
            serving["spec"]["secretName"].as_str().unwrap(),
            "{}",
            path.display()
        );
    }
    let hash = &config.users["prometheus"];
    assert!(bcrypt::verify("correct horse battery staple", hash).unwrap());
}

#[test]
fn the_prometheus_rule_carries_exactly_the_alert_rules() {
    let objects = rendered();
    let rule = of_kind(&objects, "PrometheusRule")[0];
    let alerts: Value =
        serde_yaml_ng::from_str(&read("alerts/pod-eni-exporter.rules.yml")).unwrap();
    assert_eq!(
        rule["spec"]["groups"], alerts["groups"],
        "deploy/kubernetes/prometheusrule.yaml differs from alerts/: run python3 dashboards/build.py"
    );
}

#[test]
fn dashboard_config_maps_carry_the_dashboards_for_the_grafana_sidecar() {
    let objects = rendered();
    let maps: Vec<&Value> = of_kind(&objects, "ConfigMap")
        .into_iter()
        .filter(|c| c["metadata"]["labels"]["grafana_dashboard"] == "1")
        .collect();
    assert_eq!(maps.len(), DASHBOARDS.len());
    for name in DASHBOARDS {
        let file = format!("pod-eni-{name}.json");
        let map = maps
            .iter()
            .find(|m| m["data"].get(&file).is_some())
            .unwrap_or_else(|| panic!("no ConfigMap holds {file}"));
        let shipped: Value = serde_json::from_str(map["data"][&file].as_str().unwrap()).unwrap();
        let source: Value =
            serde_json::from_str(&read(&format!("dashboards/{name}.json"))).unwrap();
        assert_eq!(
            shipped, source,
            "{file} differs from dashboards/{name}.json"
        );
    }
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
