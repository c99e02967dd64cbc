use std::fs;

use serde_json::json;

use super::*;
use crate::model::{EniRole, PodPhase, WarningKind};

/// A branch ENI exactly as `aws ec2 describe-network-interfaces` prints it: no Attachment.
fn aws_branch() -> Value {
    json!({
        "AvailabilityZone": "eu-west-1a",
        "Description": "aws-k8s-branch-eni",
        "Groups": [{"GroupName": "shop-db-clients", "GroupId": "sg-0f00dfeed"}],
        "InterfaceType": "branch",
        "Ipv6Addresses": [],
        "MacAddress": "02:1f:aa:bb:cc:dd",
        "NetworkInterfaceId": "eni-0b1",
        "OwnerId": "111122223333",
        "PrivateDnsName": "ip-10-0-3-7.eu-west-1.compute.internal",
        "PrivateIpAddress": "10.0.3.7",
        "PrivateIpAddresses": [{"Primary": true, "PrivateDnsName": "ip-10-0-3-7.eu-west-1.compute.internal", "PrivateIpAddress": "10.0.3.7"}],
        "RequesterId": "AROAEXAMPLE:eks-vpc-resource-controller",
        "RequesterManaged": false,
        "SourceDestCheck": true,
        "Status": "in-use",
        "SubnetId": "subnet-0a",
        "TagSet": [
            {"Key": "eks:eni:owner", "Value": "eks-vpc-resource-controller"},
            {"Key": "kubernetes.io/cluster/prod", "Value": "owned"},
            {"Key": "vpcresources.k8s.aws/trunk-eni-id", "Value": "eni-0t1"},
            {"Key": "vpcresources.k8s.aws/vlan-id", "Value": "4"}
        ],
        "VpcId": "vpc-01"
    })
}

fn aws_trunk() -> Value {
    json!({
        "Attachment": {
            "AttachTime": "2026-11-20T08:00:00+00:00",
            "AttachmentId": "eni-attach-0a1",
            "DeleteOnTermination": true,
            "DeviceIndex": 2,
            "NetworkCardIndex": 0,
            "InstanceId": "i-0aaa",
            "InstanceOwnerId": "111122223333",
            "Status": "attached"
        },
        "AvailabilityZone": "eu-west-1a",
        "Description": "aws-k8s-trunk-eni",
        "InterfaceType": "trunk",
        "NetworkInterfaceId": "eni-0t1",
        "Status": "in-use",
        "SubnetId": "subnet-0a",
        "TagSet": [{"Key": "eks:eni:owner", "Value": "eks-vpc-resource-controller"}],
        "VpcId": "vpc-01"
    })
}

fn aws_subnet() -> Value {
    json!({
        "AvailabilityZone": "eu-west-1a",
        "AvailabilityZoneId": "euw1-az1",
        "AvailableIpAddressCount": 7811,
        "CidrBlock": "10.0.0.0/19",
        "DefaultForAz": false,
        "MapPublicIpOnLaunch": false,
        "State": "available",
        "SubnetId": "subnet-0a",
        "VpcId": "vpc-01",
        "OwnerId": "111122223333",
        "AssignIpv6AddressOnCreation": false,
        "Ipv6CidrBlockAssociationSet": [],
        "Tags": [{"Key": "Name", "Value": "prod-private-eu-west-1a"}],
        "SubnetArn": "arn:aws:ec2:eu-west-1:111122223333:subnet/subnet-0a"
    })
}

fn kube_list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).expect("write fixture");
}

fn full_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "ip-10-0-1-10", "labels": {"node.kubernetes.io/instance-type": "m5a.xlarge"}},
        "spec": {"providerID": "aws:///eu-west-1a/i-0aaa"},
        "status": {"allocatable": {"vpc.amazonaws.com/pod-eni": "18", "cpu": "3920m"}}
    });
    let sgp_pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "shop",
            "annotations": {"vpc.amazonaws.com/pod-eni": "[{\"eniId\":\"eni-0b1\",\"vlanID\":4}]"}},
        "spec": {"nodeName": "ip-10-0-1-10", "containers": [{"name": "web",
            "resources": {"requests": {"vpc.amazonaws.com/pod-eni": "1"}, "limits": {"vpc.amazonaws.com/pod-eni": "1"}}}]},
        "status": {"phase": "Running"}
    });
    let plain_pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "coredns-1", "namespace": "kube-system"},
        "spec": {"nodeName": "ip-10-0-1-10", "containers": [{"name": "coredns"}]},
        "status": {"phase": "Running"}
    });
    write(dir.path(), NODES_FILE, &kube_list(vec![node]).to_string());
    write(
        dir.path(),
        PODS_FILE,
        &kube_list(vec![sgp_pod, plain_pod]).to_string(),
    );
    write(
        dir.path(),
        NETWORK_INTERFACES_FILE,
        &json!({"NetworkInterfaces": [aws_trunk(), aws_branch()]}).to_string(),
    );
    write(
        dir.path(),
        SUBNETS_FILE,
        &json!({"Subnets": [aws_subnet()]}).to_string(),
    );
    dir
}

#[test]
fn reads_kubectl_and_aws_cli_output() {
    let dir = full_dir();
    let loaded = read_dir(dir.path(), &ReadLimits::default()).expect("reads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.nodes.len(), 1);
    assert_eq!(loaded.nodes[0].allocatable_pod_eni, Ok(Some(18)));
    assert_eq!(
        loaded.pods.len(),
        1,
        "pods without pod-eni are dropped at the edge"
    );
    assert_eq!(loaded.pods[0].phase, PodPhase::Running);

    let enis = &loaded.inventory.enis;
    assert_eq!(enis.len(), 2);
    assert_eq!(enis[0].role(), EniRole::Trunk);
    assert_eq!(enis[0].attached_instance_id.as_deref(), Some("i-0aaa"));
    assert_eq!(enis[1].role(), EniRole::Branch);
    assert_eq!(enis[1].attached_instance_id, None);
    assert_eq!(enis[1].trunk_eni_tag.as_deref(), Some("eni-0t1"));

    let subnet = &loaded.inventory.subnets[0];
    assert_eq!(subnet.name.as_deref(), Some("prod-private-eu-west-1a"));
    assert_eq!(subnet.available_ip_addresses, 7811);
    assert_eq!(subnet.availability_zone_id.as_deref(), Some("euw1-az1"));
}

#[test]
fn a_written_directory_reads_back_the_same() {
    let dir = full_dir();
    let loaded = read_dir(dir.path(), &ReadLimits::default()).expect("reads");
    let nodes: Vec<Node> = serde_json::from_value(
        serde_json::from_str::<Value>(&fs::read_to_string(dir.path().join(NODES_FILE)).unwrap())
            .unwrap()["items"]
            .take(),
    )
    .unwrap();
    let pods: Vec<Pod> = serde_json::from_value(
        serde_json::from_str::<Value>(&fs::read_to_string(dir.path().join(PODS_FILE)).unwrap())
            .unwrap()["items"]
            .take(),
    )
    .unwrap();
    let out = tempfile::tempdir().expect("tempdir");
    write_dir(
        out.path(),
        &nodes,
        &pods,
        &loaded.inventory,
        loaded.observed.at,
    )
    .expect("writes");
    let again = read_dir(out.path(), &ReadLimits::default()).expect("reads back");
    assert_eq!(again.nodes, loaded.nodes);
    assert_eq!(again.pods, loaded.pods);
    assert_eq!(again.inventory, loaded.inventory);
    let text = fs::read_to_string(out.path().join(NETWORK_INTERFACES_FILE)).unwrap();
    assert!(
        text.contains("\"NetworkInterfaceId\""),
        "AWS CLI casing: {text}"
    );
    assert!(text.contains("\"TagSet\""));
}

#[test]
fn a_missing_file_is_named() {
    let dir = full_dir();
    fs::remove_file(dir.path().join(SUBNETS_FILE)).unwrap();
    let error = read_dir(dir.path(), &ReadLimits::default())
        .expect_err("must fail")
        .to_string();
    assert!(error.contains("subnets.json: file not found"), "{error}");
}

#[test]
fn a_truncated_file_is_named_with_the_position() {
    let dir = full_dir();
    let text = fs::read_to_string(dir.path().join(PODS_FILE)).unwrap();
    write(dir.path(), PODS_FILE, &text[..text.len() / 2]);
    let error = read_dir(dir.path(), &ReadLimits::default())
        .expect_err("must fail")
        .to_string();
    assert!(error.contains("pods.json: not valid JSON"), "{error}");
    assert!(error.contains("line 1 column"), "{error}");
}

#[test]
fn a_wrongly_shaped_file_says_what_was_expected() {
    let cases = [
        (
            NETWORK_INTERFACES_FILE,
            "[]",
            "expected an object with \"NetworkInterfaces\"",
        ),
        (
            NETWORK_INTERFACES_FILE,
            r#"{"Subnets": []}"#,
            "describe-network-interfaces",
        ),
        (
            SUBNETS_FILE,
            r#"{"Subnets": {}}"#,
            "expected \"Subnets\" to be an array",
        ),
        (
            NODES_FILE,
            r#"{"kind": "List"}"#,
            "kubectl get nodes -o json",
        ),
    ];
    for (file, text, want) in cases {
        let dir = full_dir();
        write(dir.path(), file, text);
        let error = read_dir(dir.path(), &ReadLimits::default())
            .expect_err("must fail")
            .to_string();
        assert!(
            error.starts_with(&dir.path().join(file).display().to_string()),
            "{error}"
        );
        assert!(error.contains(want), "{file}: {error}");
    }
}

#[test]
fn one_bad_object_costs_a_warning_not_the_file() {
    let dir = full_dir();
    let mut broken = aws_branch();
    broken["NetworkInterfaceId"] = json!(42);
    write(
        dir.path(),
        NETWORK_INTERFACES_FILE,
        &json!({"NetworkInterfaces": [aws_trunk(), broken, "nonsense"]}).to_string(),
    );
    let loaded = read_dir(dir.path(), &ReadLimits::default()).expect("still reads");
    assert_eq!(loaded.inventory.enis.len(), 1, "the trunk survives");
    let objects: Vec<_> = loaded.warnings.iter().map(|w| w.object.as_str()).collect();
    assert_eq!(
        objects,
        vec![
            "network-interfaces.json item 1",
            "network-interfaces.json item 2"
        ]
    );
    assert!(
        loaded
            .warnings
            .iter()
            .all(|w| w.kind == WarningKind::BadObject)
    );
}

#[test]
fn a_pod_with_a_broken_spec_is_named_by_its_name() {
    let dir = full_dir();
    let bad =
        json!({"metadata": {"name": "weird", "namespace": "x"}, "spec": {"containers": "no"}});
    let good = json!({"metadata": {"name": "fine", "namespace": "x"}, "spec": {"containers": []}});
    write(
        dir.path(),
        PODS_FILE,
        &kube_list(vec![bad, good]).to_string(),
    );
    let loaded = read_dir(dir.path(), &ReadLimits::default()).expect("still reads");
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].object, "pods.json x/weird");
    assert_eq!(
        loaded.warnings[0].detail,
        "spec.containers: invalid type: string \"no\", expected a sequence",
        "the field path, not a position inside the object"
    );
}

fn read(dir: &Path) -> Result<Loaded, String> {
    read_dir(dir, &ReadLimits::default()).map_err(|e| e.to_string())
}

#[test]
fn only_regular_files_are_read_and_never_block() {
    // A FIFO would block `open` forever; /dev/zero would never end. Both are refused
    // from their metadata alone, naming the file. A symlink to a regular file is fine.
    let dir = full_dir();
    let fifo = dir.path().join(NODES_FILE);
    fs::remove_file(&fifo).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let error = read(dir.path()).expect_err("a FIFO is refused");
    assert!(error.contains("nodes.json: is a FIFO"), "{error}");

    fs::remove_file(&fifo).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &fifo).unwrap();
    let error = read(dir.path()).expect_err("a device is refused");
    assert!(
        error.contains("nodes.json: is a character device"),
        "{error}"
    );

    fs::remove_file(&fifo).unwrap();
    fs::create_dir(&fifo).unwrap();
    let error = read(dir.path()).expect_err("a directory is refused");
    assert!(error.contains("nodes.json: is a directory"), "{error}");
    assert_eq!(error.matches("directory").count(), 1, "said once: {error}");

    fs::remove_dir(&fifo).unwrap();
    let real = full_dir();
    std::os::unix::fs::symlink(real.path().join(NODES_FILE), &fifo).unwrap();
    assert_eq!(read(dir.path()).expect("a symlink reads").nodes.len(), 1);
}

#[test]
fn a_file_over_the_size_limit_is_refused_by_name() {
    let dir = full_dir();
    write(dir.path(), PODS_FILE, &" ".repeat(10_000));
    let limits = ReadLimits {
        max_file_size: 9_999,
    };
    let error = read_dir(dir.path(), &limits)
        .expect_err("over the limit")
        .to_string();
    assert!(error.contains("pods.json: larger than the"), "{error}");
    let dir = full_dir();
    let largest = DATA_FILES
        .iter()
        .map(|name| fs::metadata(dir.path().join(name)).unwrap().len())
        .max()
        .unwrap();
    let limits = ReadLimits {
        max_file_size: largest,
    };
    assert!(
        read_dir(dir.path(), &limits).is_ok(),
        "exactly the limit reads"
    );
}

#[test]
fn empty_and_null_lists_are_said() {
    let dir = full_dir();
    write(dir.path(), SUBNETS_FILE, r#"{"Subnets": null}"#);
    write(
        dir.path(),
        NETWORK_INTERFACES_FILE,
        &json!({"NetworkInterfaces": [aws_trunk(), {}, { }]}).to_string(),
    );
    let loaded = read(dir.path()).expect("reads");
    assert!(loaded.inventory.subnets.is_empty());
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        warnings,
        [
            "bad_object: network-interfaces.json item 1: an empty object",
            "bad_object: network-interfaces.json item 2: an empty object",
            "bad_object: subnets.json: \"Subnets\" is null: no objects listed",
        ]
    );
}

#[test]
fn a_file_of_which_nothing_can_be_read_is_an_error() {
    // Swapped files, or a list of garbage: a CI gate must not pass on it.
    let dir = full_dir();
    let pods = fs::read_to_string(dir.path().join(PODS_FILE)).unwrap();
    write(dir.path(), NODES_FILE, &pods);
    let error = read(dir.path()).expect_err("pods are not nodes");
    assert!(
        error.contains("nodes.json: none of its 2 objects could be read"),
        "{error}"
    );
    assert!(error.contains("kubectl get nodes -o json"), "{error}");

    let dir = full_dir();
    write(dir.path(), SUBNETS_FILE, r#"{"Subnets": [1, "x", {}]}"#);
    let error = read(dir.path()).expect_err("nothing usable");
    assert!(
        error.contains("subnets.json: none of its 3 objects"),
        "{error}"
    );

    let dir = full_dir();
    write(dir.path(), SUBNETS_FILE, r#"{"Subnets": []}"#);
    assert!(read(dir.path()).is_ok(), "an empty list is a valid answer");
}

#[test]
fn one_kubectl_object_reads_as_a_list_of_one() {
    let dir = full_dir();
    let text = fs::read_to_string(dir.path().join(NODES_FILE)).unwrap();
    let list: Value = serde_json::from_str(&text).unwrap();
    write(dir.path(), NODES_FILE, &list["items"][0].to_string());
    assert_eq!(read(dir.path()).expect("reads").nodes.len(), 1);
}

#[test]
fn trailing_garbage_is_not_valid_json() {
    let dir = full_dir();
    write(dir.path(), SUBNETS_FILE, r#"{"Subnets": []} x"#);
    let error = read(dir.path()).expect_err("trailing characters");
    assert!(error.contains("subnets.json: not valid JSON"), "{error}");
}

#[test]
fn a_flood_of_bad_objects_is_summed_after_a_hundred() {
    let dir = full_dir();
    let mut items = vec![aws_subnet()];
    items.extend(std::iter::repeat_n(json!({}), 250));
    write(
        dir.path(),
        SUBNETS_FILE,
        &json!({ "Subnets": items }).to_string(),
    );
    let loaded = read(dir.path()).expect("the good subnet is kept");
    assert_eq!(loaded.inventory.subnets.len(), 1);
    assert_eq!(loaded.warnings.len(), 101);
    assert_eq!(
        loaded.warnings.last().unwrap().to_string(),
        "bad_object: subnets.json: 150 more objects could not be decoded"
    );
}
