//! The built binary's `audit` on the bundled examples: figures, exit codes, bad input,
//! and the README block that shows its output.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::{repo, stderr};

const INCIDENT_NODE: &str = "ip-10-0-1-10.eu-west-1.compute.internal";

fn audit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pod-eni-exporter"))
        .arg("audit")
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run pod-eni-exporter")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json_audit(dir: &str) -> Value {
    let output = audit(&["--from", dir, "--output", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("audit --output json prints JSON")
}

#[test]
fn json_shows_the_incident_node_full_while_the_scheduler_sees_room() {
    let audit = json_audit("examples/incident");
    let nodes = audit["nodes"].as_array().expect("nodes array");
    let node = nodes
        .iter()
        .find(|n| n["node"] == INCIDENT_NODE)
        .expect("incident node in the join");
    // The scenario (examples/make-examples.py): 13 running SGP pods, 3 migration pods
    // that completed hours ago and 1 that completed 35 s ago, still holding ENIs, 1 ENI
    // in cool-down, 1 pod waiting.
    assert_eq!(node["instanceType"], "m5a.xlarge");
    assert_eq!(node["capacity"], 18);
    assert_eq!(node["capacitySource"], "allocatable");
    assert_eq!(node["advertisesPodEni"], true);
    assert_eq!(node["requested"], 14, "what kubectl describe node shows");
    assert_eq!(node["attached"], 18);
    assert_eq!(node["inUse"], 13);
    assert_eq!(
        node["completedPod"], 1,
        "completed within the grace: being released"
    );
    assert_eq!(
        node["orphaned"], 1,
        "a single snapshot cannot age an orphan"
    );
    assert_eq!(
        node["leaked"], 3,
        "completed hours before the capture: a current controller would have freed them"
    );
    assert_eq!(node["waiting"], 1);
    assert_eq!(node["missing"], 0);
    assert_eq!(node["remaining"], 0);

    let holders = audit["holders"].as_array().expect("holders array");
    assert_eq!(audit["observedAt"], "2026-11-24T09:45:00Z");
    assert_eq!(audit["observedAtSource"], "metadata");
    let jobs: Vec<&str> = holders
        .iter()
        .filter(|h| h["node"] == INCIDENT_NODE && h["state"] == "leaked")
        .map(|h| {
            assert_eq!(h["ownerKind"], "Job");
            assert_eq!(h["namespace"], "shop");
            h["ownerName"].as_str().expect("owner name")
        })
        .collect();
    assert_eq!(
        jobs,
        [
            "db-migrate-28871040",
            "db-migrate-28871100",
            "db-migrate-28871160"
        ]
    );
    assert_eq!(
        audit["waitingPods"],
        serde_json::json!([{
            "namespace": "shop",
            "pod": "checkout-api-7d9f8b6c5d-q8r2t",
            "node": INCIDENT_NODE,
            "since": "2026-11-24T09:29:01Z",
            "enisNeeded": 1
        }])
    );
}

#[test]
fn json_covers_the_other_scenario_parts() {
    let audit = json_audit("examples/incident");
    let names: Vec<&str> = audit["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("fargate-")),
        "Fargate is not in the join"
    );
    assert!(
        !names.contains(&"ip-10-0-5-50.eu-west-1.compute.internal"),
        "a t3 node without SGP is not in the join"
    );
    let legacy = audit["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "ip-10-0-3-30.eu-west-1.compute.internal")
        .expect("legacy-labelled node");
    assert_eq!(legacy["capacity"], 18);
    assert_eq!(legacy["capacitySource"], "limits-table");
    assert_eq!(legacy["advertisesPodEni"], false);
    assert_eq!(
        legacy["remaining"], 0,
        "the scheduler places no SGP pod where pod-eni is not advertised"
    );
    assert_eq!(legacy["orphaned"], 1);
    let detached: u64 = audit["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["detachedBranchEnis"].as_u64().unwrap())
        .sum();
    assert_eq!(detached, 1);
    assert_eq!(audit["unattributed"]["unknown_trunk"], 0);
    assert_eq!(audit["unattributed"]["no_trunk_tag"], 0);
    assert_eq!(audit["warnings"], serde_json::json!([]));
}

#[test]
fn table_names_the_full_node_and_the_jobs_holding_it() {
    let output = audit(&["--from", "examples/incident"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with(INCIDENT_NODE))
        .expect("incident row")
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        [
            INCIDENT_NODE,
            "m5a.xlarge",
            "18",
            "14",
            "18",
            "13",
            "1",
            "1",
            "3",
            "1",
            "0",
            "0",
            "FULL"
        ]
    );
    assert!(table.contains("Ages as of 2026-11-24T09:45:00Z"), "{table}");
    assert!(table.contains("Job/db-migrate-28871100"), "{table}");
    // Completed hours ago: forgotten by the controller, so the remedy is a delete in
    // EC2 with the ids, not deleting pods.
    assert!(
        table.contains(
            "aws ec2 delete-network-interface --network-interface-id eni-35d271c3bbcc461f8"
        ),
        "{table}"
    );
    assert!(
        !table.contains("kubectl delete pod -n shop db-migrate"),
        "{table}"
    );
    assert!(
        table.contains("shop/checkout-api-7d9f8b6c5d-q8r2t"),
        "{table}"
    );
}

#[test]
fn fail_on_exit_codes() {
    let cases = [
        ("examples/incident", "exhausted", 1),
        ("examples/incident", "completed", 1),
        ("examples/incident", "waiting", 1),
        ("examples/incident", "leaked", 1),
        ("examples/incident", "missing", 0),
        ("examples/incident", "unschedulable", 0),
        ("examples/incident", "leaked,waiting", 1),
        (
            "examples/healthy",
            "exhausted,leaked,completed,waiting,missing,unschedulable",
            0,
        ),
    ];
    for (dir, conditions, want) in cases {
        let output = audit(&["--from", dir, "--fail-on", conditions, "--output", "json"]);
        assert_eq!(
            output.status.code(),
            Some(want),
            "{dir} --fail-on {conditions}: {}",
            stderr(&output)
        );
        if want == 1 {
            assert!(
                stderr(&output).contains("failing on"),
                "{}",
                stderr(&output)
            );
        }
    }
}

#[test]
fn pods_no_node_can_take_for_want_of_pod_eni_are_listed_and_gate() {
    let dir = tempfile::tempdir().unwrap();
    copy_example(dir.path());
    let pods_path = dir.path().join("pods.json");
    let mut pods: Value = serde_json::from_str(&fs::read_to_string(&pods_path).unwrap()).unwrap();
    let items = pods["items"].as_array_mut().unwrap();
    let template = items
        .iter()
        .find(|p| p["metadata"]["name"] == "checkout-api-7d9f8b6c5d-q8r2t")
        .cloned()
        .unwrap();
    // As the scheduler leaves them: no node, PodScheduled False with its message.
    let unscheduled = |name: &str, message: &str| {
        let mut pod = template.clone();
        pod["metadata"]["name"] = Value::from(name);
        pod["spec"].as_object_mut().unwrap().remove("nodeName");
        pod["status"] = serde_json::json!({
            "phase": "Pending", "qosClass": "Burstable",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "lastProbeTime": null, "lastTransitionTime": "2026-11-24T09:38:12Z",
                "message": message}]
        });
        pod
    };
    items.push(unscheduled(
        "checkout-api-7d9f8b6c5d-zz9q1",
        "0/5 nodes are available: 1 Insufficient vpc.amazonaws.com/pod-eni, 1 node(s) had untolerated taint {eks.amazonaws.com/compute-type: fargate}, 3 Insufficient vpc.amazonaws.com/pod-eni. preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod.",
    ));
    items.push(unscheduled(
        "checkout-api-7d9f8b6c5d-cpu01",
        "0/5 nodes are available: 5 Insufficient cpu. preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod.",
    ));
    fs::write(&pods_path, pods.to_string()).unwrap();
    let from = dir.path().to_str().unwrap();

    let json = json_audit(from);
    let listed = json["unschedulablePods"].as_array().unwrap();
    assert_eq!(
        listed.len(),
        1,
        "the CPU-starved pod is not ours: {listed:?}"
    );
    assert_eq!(listed[0]["namespace"], "shop");
    assert_eq!(listed[0]["pod"], "checkout-api-7d9f8b6c5d-zz9q1");
    assert_eq!(listed[0]["since"], "2026-11-24T09:38:12Z");
    assert_eq!(listed[0]["enisNeeded"], 1);
    assert!(
        listed[0]["message"]
            .as_str()
            .unwrap()
            .contains("Insufficient vpc.amazonaws.com/pod-eni")
    );
    let gate = audit(&["--from", from, "--fail-on", "unschedulable"]);
    assert_eq!(gate.status.code(), Some(1), "{}", stderr(&gate));
    let table = stdout(&gate);
    assert!(
        table.contains("Pods no node can take for want of a branch ENI slot:"),
        "{table}"
    );
    assert!(
        table.contains("1 pod requests a branch ENI that no node can take"),
        "{table}"
    );
}

fn copy_example(to: &Path) {
    for entry in fs::read_dir(repo().join("examples/incident")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_hand_made_dump_is_aged_to_its_newest_file() {
    let dir = tempfile::tempdir().unwrap();
    copy_example(dir.path());
    fs::remove_file(dir.path().join("metadata.json")).unwrap();
    // As if the dump was taken two hours after the incident's capture: the migration
    // pods completed long ago either way, the warm-up pod's ENI is now leaked too.
    let taken: std::time::SystemTime = "2026-11-24T11:45:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .into();
    for name in ["nodes.json", "pods.json", "network-interfaces.json"] {
        let file = fs::File::options()
            .append(true)
            .open(dir.path().join(name))
            .unwrap();
        file.set_modified(taken - std::time::Duration::from_secs(60))
            .unwrap();
    }
    fs::File::options()
        .append(true)
        .open(dir.path().join("subnets.json"))
        .unwrap()
        .set_modified(taken)
        .unwrap();
    let json = json_audit(dir.path().to_str().unwrap());
    assert_eq!(json["observedAt"], "2026-11-24T11:45:00Z");
    assert_eq!(json["observedAtSource"], "file-times");
    let node = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == INCIDENT_NODE)
        .cloned()
        .unwrap();
    assert_eq!(node["leaked"], 4);
    assert_eq!(node["completedPod"], 0);
    // The evicted pod recorded no completion time: two hours on, one observation still
    // cannot age its ENI, and says why instead of calling it leaked.
    let evicted = json["holders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["pod"] == "catalog-search-6b7c8d9f5-n9o0p")
        .cloned()
        .unwrap();
    assert_eq!(evicted["state"], "completed_pod");
    assert_eq!(evicted["since"], Value::Null);
    assert!(
        evicted["ageUnknown"]
            .as_str()
            .unwrap()
            .contains("records no completion time"),
        "{evicted}"
    );
    let output = audit(&["--from", dir.path().to_str().unwrap()]);
    assert!(
        stdout(&output).contains("newest modification time of the snapshot files"),
        "the table says where its time comes from"
    );
}

#[test]
fn bad_input_exits_2_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    copy_example(dir.path());
    let pods = dir.path().join("pods.json");
    let text = fs::read_to_string(&pods).unwrap();
    fs::write(&pods, &text[..text.len() / 3]).unwrap();
    let output = audit(&["--from", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("pods.json: not valid JSON"),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty());

    fs::remove_file(&pods).unwrap();
    let output = audit(&["--from", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("pods.json: file not found"),
        "{}",
        stderr(&output)
    );

    let output = audit(&["--from", "no/such/dir"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("nodes.json: file not found"),
        "{}",
        stderr(&output)
    );

    let output = audit(&["--from", "examples/incident", "--fail-on", "sometimes"]);
    assert_eq!(output.status.code(), Some(2), "usage error");
}

#[test]
fn a_malformed_annotation_and_odd_provider_id_are_warnings_in_the_output() {
    let dir = tempfile::tempdir().unwrap();
    copy_example(dir.path());
    let pods_path = dir.path().join("pods.json");
    let mut pods: Value = serde_json::from_str(&fs::read_to_string(&pods_path).unwrap()).unwrap();
    let web = pods["items"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["metadata"]["name"] == "orders-db-proxy-0")
        .unwrap();
    web["metadata"]["annotations"]["vpc.amazonaws.com/pod-eni"] = Value::from("[{\"eniId\":");
    fs::write(&pods_path, pods.to_string()).unwrap();
    let nodes_path = dir.path().join("nodes.json");
    let mut nodes: Value = serde_json::from_str(&fs::read_to_string(&nodes_path).unwrap()).unwrap();
    let healthy = nodes["items"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|n| n["metadata"]["name"] == "ip-10-0-2-20.eu-west-1.compute.internal")
        .unwrap();
    healthy["spec"]["providerID"] = Value::from("aws:///eu-west-1b/not-an-instance");
    fs::write(&nodes_path, nodes.to_string()).unwrap();

    let audit = json_audit(dir.path().to_str().unwrap());
    let warnings: Vec<&str> = audit["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].starts_with("bad_annotation: pod shop/orders-db-proxy-0: not JSON"));
    assert!(warnings[1].starts_with("bad_provider_id: node ip-10-0-2-20"));
    let node = |name: &str| {
        audit["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node"] == name)
            .cloned()
            .unwrap()
    };
    // The ENI of the pod with the broken annotation is now named by no pod; the rest
    // of the node is unchanged.
    let incident = node(INCIDENT_NODE);
    assert_eq!(incident["inUse"], 12);
    assert_eq!(incident["orphaned"], 2);
    assert_eq!(incident["requested"], 14);
    // The node whose providerID is odd stays in the join; its trunk cannot be matched.
    let odd = node("ip-10-0-2-20.eu-west-1.compute.internal");
    assert_eq!(odd["instanceId"], Value::Null);
    assert_eq!(odd["requested"], 4);
    assert_eq!(
        audit["unattributed"]["unknown_trunk"], 5,
        "its 4 running pods' ENIs and the evicted pod's"
    );
}

const README_START: &str = "<!-- audit-incident:start -->\n```text\n";
const README_END: &str = "```\n<!-- audit-incident:end -->";

/// The README shows real output; `UPDATE_README=1 cargo test` refreshes it.
#[test]
fn readme_shows_the_current_audit_output() {
    let output = audit(&["--from", "examples/incident"]);
    assert!(output.status.success());
    let actual = stdout(&output);
    let readme_path = repo().join("README.md");
    let readme = fs::read_to_string(&readme_path).expect("README.md");
    let start = readme.find(README_START).expect("README start marker") + README_START.len();
    let end = readme.find(README_END).expect("README end marker");
    if std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{actual}{}", &readme[..start], &readme[end..]);
        fs::write(&readme_path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[start..end],
        actual,
        "README audit block is stale: run UPDATE_README=1 cargo test --test audit_cli"
    );
}

/// Pods waiting where the trunk has slots free do not wait for a slot: the audit says
/// the controller could not create their ENI and names the subnet in their zone that has
/// no address left (`examples/waiting`); where the trunk is full it says they wait for
/// a slot (`examples/incident`).
#[test]
fn waiting_pods_are_told_apart_by_what_they_wait_for() {
    let waiting = stdout(&audit(&["--from", "examples/waiting"]));
    let hint = waiting
        .lines()
        .find(|line| line.contains("2 pods wait for a branch ENI"))
        .unwrap_or_else(|| panic!("no remedy for the waiting pods:\n{waiting}"));
    assert!(hint.contains("trunk has slots free"), "{hint}");
    assert!(
        hint.contains("subnet-0e55c0ffee0000002") && !hint.contains("subnet-0e55c0ffee0000001"),
        "names the zone's subnet with no address, not the other zones': {hint}"
    );
    assert!(
        !waiting.contains("until a slot on its node is freed"),
        "{waiting}"
    );

    let incident = stdout(&audit(&["--from", "examples/incident"]));
    assert!(
        incident.contains("1 pod waits for a branch ENI: it stays in ContainerCreating"),
        "{incident}"
    );
    assert!(!incident.contains("trunk has slots free"), "{incident}");
}
