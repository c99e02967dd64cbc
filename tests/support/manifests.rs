//! Rendered Kubernetes manifests (kustomize or Helm) as JSON values, and the checks both
//! install paths share.

use serde::Deserialize;
use serde_json::Value;

/// Every non-empty document of a multi-document YAML stream.
pub fn documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).expect("YAML document"))
        .filter(|value| !value.is_null())
        .collect()
}

/// `kubectl kustomize dir` (relative to the checkout), one JSON value per document.
pub fn kustomize(dir: &str) -> Vec<Value> {
    let output = std::process::Command::new(super::clients::kubectl())
        .args(["kustomize", dir])
        .current_dir(super::repo())
        .output()
        .expect("run kubectl");
    assert!(
        output.status.success(),
        "kubectl kustomize {dir}: {}",
        super::stderr(&output)
    );
    documents(&String::from_utf8(output.stdout).unwrap())
}

pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// How a TLS setup is wired, once its consistency is checked.
pub struct TlsWiring {
    /// The `--web.config.file` path.
    pub config_file: String,
    /// The Secret the serving certificate is written to.
    pub serving_secret: String,
    /// Mount path → Secret name, for the exporter container.
    pub mounts: Vec<(String, String)>,
}

impl TlsWiring {
    /// The Secret mounted over `path`.
    pub fn secret_over(&self, path: &str) -> &str {
        self.mounts
            .iter()
            .find(|(mount, _)| path.starts_with(&format!("{mount}/")))
            .map(|(_, secret)| secret.as_str())
            .unwrap_or_else(|| panic!("nothing mounted over {path}"))
    }
}

/// The serving certificate names the Service the ServiceMonitor checks it against; the
/// ServiceMonitor scrapes over HTTPS with the CA from the certificate's Secret and basic
/// auth; the pod passes --web.config.file and --web.probes-without-auth, probes over
/// HTTPS, and mounts the web config and the certificate read-only from Secrets.
pub fn tls_wiring(objects: &[Value]) -> TlsWiring {
    let service = of_kind(objects, "Service")[0];
    let service_dns = format!(
        "{}.{}.svc",
        service["metadata"]["name"].as_str().unwrap(),
        service["metadata"]["namespace"].as_str().unwrap()
    );
    let serving = of_kind(objects, "Certificate")
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
        of_kind(objects, "Issuer")
            .iter()
            .any(|i| i["metadata"]["name"] == issuer),
        "the issuer {issuer} is rendered too"
    );
    let serving_secret = serving["spec"]["secretName"].as_str().unwrap().to_owned();

    let endpoint = &of_kind(objects, "ServiceMonitor")[0]["spec"]["endpoints"][0];
    assert_eq!(endpoint["scheme"], "https");
    assert_eq!(endpoint["port"], "metrics");
    assert_eq!(endpoint["tlsConfig"]["serverName"], service_dns.as_str());
    assert_eq!(
        endpoint["tlsConfig"]["ca"]["secret"]["name"],
        serving_secret.as_str()
    );
    assert_eq!(endpoint["tlsConfig"]["ca"]["secret"]["key"], "ca.crt");
    assert!(endpoint["basicAuth"]["username"]["name"].is_string());
    assert!(endpoint["basicAuth"]["password"]["name"].is_string());

    let pod = &of_kind(objects, "Deployment")[0]["spec"]["template"]["spec"];
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
        .expect("--web.config.file")
        .to_owned();
    assert!(args.contains(&"--web.probes-without-auth"), "{args:?}");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["scheme"], "HTTPS", "{probe}");
    }
    let mounts = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|mount| {
            assert_eq!(mount["readOnly"], true);
            let volume = pod["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == mount["name"])
                .unwrap();
            (
                mount["mountPath"].as_str().unwrap().to_owned(),
                volume["secret"]["secretName"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let wiring = TlsWiring {
        config_file,
        serving_secret,
        mounts,
    };
    assert_eq!(
        wiring.secret_over("/etc/pod-eni-exporter/tls/tls.crt"),
        wiring.serving_secret,
        "the certificate is mounted where the web configs point"
    );
    wiring
}

fn repo_file(path: &str) -> String {
    let full = super::repo().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// A ClusterRole that can only get/list/watch pods and nodes, bound to the pod's service
/// account; a non-root, read-only, capability-free pod with probes, resources, and its
/// configuration from a ConfigMap that names the cluster.
pub fn least_privilege_and_hardened(objects: &[Value]) {
    let role = of_kind(objects, "ClusterRole")
        .into_iter()
        .find(|r| !r["metadata"]["name"].as_str().unwrap().ends_with("-events"))
        .expect("the read-only ClusterRole");
    let rules = role["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["apiGroups"], serde_json::json!([""]));
    assert_eq!(rules[0]["resources"], serde_json::json!(["pods", "nodes"]));
    assert_eq!(
        rules[0]["verbs"],
        serde_json::json!(["get", "list", "watch"])
    );

    let deployment = of_kind(objects, "Deployment")[0];
    let pod = &deployment["spec"]["template"]["spec"];
    let binding = of_kind(objects, "ClusterRoleBinding")
        .into_iter()
        .find(|b| b["roleRef"]["name"] == role["metadata"]["name"])
        .expect("its binding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["name"], pod["serviceAccountName"]);
    assert_eq!(
        binding["subjects"][0]["namespace"],
        deployment["metadata"]["namespace"]
    );
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
    let config = of_kind(objects, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["name"] == config_name)
        .expect("generated config");
    assert!(config["data"]["PODENI_CLUSTER_NAME"].is_string());
}

/// The PrometheusRule's groups are alerts/pod-eni-exporter.rules.yml's.
pub fn rules_are_the_alerts(objects: &[Value], what: &str) {
    let rule = of_kind(objects, "PrometheusRule")[0];
    let alerts: Value =
        serde_yaml_ng::from_str(&repo_file("alerts/pod-eni-exporter.rules.yml")).unwrap();
    assert_eq!(
        rule["spec"]["groups"], alerts["groups"],
        "{what} differs from alerts/"
    );
}

/// The per-cluster dashboards, which the base and the chart deploy to every cluster
/// (the Fleet one is for the central Grafana: docs/fleet.md).
pub const DASHBOARDS: [&str; 3] = ["overview", "node", "subnets"];

/// One ConfigMap per dashboard, labelled for the Grafana sidecar, holding dashboards/'s JSON.
pub fn dashboards_are_the_json(objects: &[Value]) {
    let maps: Vec<&Value> = of_kind(objects, "ConfigMap")
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
            serde_json::from_str(&repo_file(&format!("dashboards/{name}.json"))).unwrap();
        assert_eq!(
            shipped, source,
            "{file} differs from dashboards/{name}.json"
        );
    }
}
