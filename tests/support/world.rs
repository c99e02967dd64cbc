//! The incident of DESIGN §1, built for real: ENIs through the EC2 API in moto (with the
//! controller's descriptions and tags, branches attached so moto reports them
//! `in-use`), nodes and pods in the fake API server, pods annotated with the ENI ids
//! moto handed out.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
use serde_json::{Value, json};

use super::apiserver::FakeApiServer;

pub const CLUSTER: &str = "prod-eu";
pub const FULL_NODE: &str = "ip-10-0-1-10.eu-west-1.compute.internal";
pub const HEALTHY_NODE: &str = "ip-10-0-2-20.eu-west-1.compute.internal";

/// Where the incident's nodes and pods go: the stand-in API server, or a real one.
pub trait Cluster {
    fn put(&self, resource: &str, object: Value) -> impl std::future::Future<Output = ()>;
}

impl Cluster for FakeApiServer {
    async fn put(&self, resource: &str, object: Value) {
        self.apply(resource, object);
    }
}

impl Cluster for super::real_apiserver::RealCluster {
    async fn put(&self, resource: &str, object: Value) {
        self.apply(resource, object).await;
    }
}

pub struct Incident {
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    /// (namespace/name, ENI id) of running pods on the full node.
    pub running: Vec<(String, String)>,
    /// (namespace/name, ENI id) of completed Job pods still holding ENIs.
    pub completed: Vec<(String, String)>,
    /// ENIs on the full node named by no pod (cool-down).
    pub orphans: Vec<String>,
    pub waiting_pod: String,
    pub detached_eni: String,
    pub other_cluster_eni: String,
    /// Where more branches of the healthy node go: (subnet, trunk, instance).
    healthy: (String, String, String),
}

impl Incident {
    /// A new branch associated with the healthy node's trunk (its pods use VLANs 1-4).
    pub async fn healthy_branch(&self, client: &Client, vlan: i32) -> String {
        let (subnet, trunk, instance) = &self.healthy;
        Ec2 { client }
            .branch(subnet, trunk, instance, vlan, true)
            .await
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn eni_tags(cluster: &str, extra: &[(&str, &str)]) -> TagSpecification {
    let mut spec = TagSpecification::builder()
        .resource_type(ResourceType::NetworkInterface)
        .tags(tag(&format!("kubernetes.io/cluster/{cluster}"), "owned"))
        .tags(tag("eks:eni:owner", "eks-vpc-resource-controller"));
    for (key, value) in extra {
        spec = spec.tags(tag(key, value));
    }
    spec.build()
}

struct Ec2<'a> {
    client: &'a Client,
}

impl Ec2<'_> {
    async fn subnet(&self, vpc: &str, cidr: &str, zone: &str) -> String {
        let subnet = self
            .client
            .create_subnet()
            .vpc_id(vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Subnet)
                    .tags(tag("Name", &format!("{CLUSTER}-private-{zone}")))
                    .build(),
            )
            .send()
            .await
            .expect("create subnet");
        subnet
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap()
            .to_owned()
    }

    async fn instance(&self, subnet: &str, instance_type: InstanceType) -> String {
        let run = self
            .client
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type(instance_type)
            .subnet_id(subnet)
            .min_count(1)
            .max_count(1)
            .send()
            .await
            .expect("run instance");
        run.instances()[0].instance_id().unwrap().to_owned()
    }

    async fn eni(&self, subnet: &str, description: &str, tags: TagSpecification) -> String {
        let created = self
            .client
            .create_network_interface()
            .subnet_id(subnet)
            .description(description)
            .tag_specifications(tags)
            .send()
            .await
            .expect("create network interface");
        created
            .network_interface()
            .and_then(|n| n.network_interface_id())
            .unwrap()
            .to_owned()
    }

    async fn attach(&self, eni: &str, instance: &str, device_index: i32) {
        self.client
            .attach_network_interface()
            .network_interface_id(eni)
            .instance_id(instance)
            .device_index(device_index)
            .send()
            .await
            .expect("attach network interface");
    }

    async fn trunk(&self, subnet: &str, instance: &str) -> String {
        let trunk = self
            .eni(subnet, "aws-k8s-trunk-eni", eni_tags(CLUSTER, &[]))
            .await;
        self.attach(&trunk, instance, 1).await;
        trunk
    }

    /// A branch on `trunk`; attached to the instance so moto reports it `in-use`.
    async fn branch(
        &self,
        subnet: &str,
        trunk: &str,
        instance: &str,
        vlan: i32,
        associated: bool,
    ) -> String {
        let vlan_text = vlan.to_string();
        let tags = eni_tags(
            CLUSTER,
            &[
                ("vpcresources.k8s.aws/trunk-eni-id", trunk),
                ("vpcresources.k8s.aws/vlan-id", &vlan_text),
            ],
        );
        let branch = self.eni(subnet, "aws-k8s-branch-eni", tags).await;
        if associated {
            self.attach(&branch, instance, vlan + 1).await;
        }
        branch
    }
}

/// The incident's full node in an `audit --output json` report.
pub fn full_node(audit: &Value) -> &Value {
    audit["nodes"]
        .as_array()
        .expect("nodes array")
        .iter()
        .find(|n| n["node"] == FULL_NODE)
        .expect("the full node is in the report")
}

pub fn node_json(
    name: &str,
    instance_id: &str,
    instance_type: &str,
    zone: &str,
    pod_eni: u32,
) -> Value {
    json!({
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "node.kubernetes.io/instance-type": instance_type,
                "topology.kubernetes.io/zone": zone
            },
            "creationTimestamp": "2026-11-20T06:12:44Z"
        },
        "spec": {"providerID": format!("aws:///{zone}/{instance_id}")},
        "status": {"allocatable": {"cpu": "3920m", "pods": "58", "vpc.amazonaws.com/pod-eni": pod_eni.to_string()}}
    })
}

pub fn pod_json(
    key: &str,
    node: &str,
    phase: &str,
    eni: Option<&str>,
    owner: Option<(&str, &str)>,
) -> Value {
    let (namespace, name) = key.split_once('/').unwrap();
    let mut pod = json!({
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": "2026-11-24T08:00:00Z",
            "annotations": {}
        },
        "spec": {
            "nodeName": node,
            "containers": [{"name": "app", "image": "registry.example.com/app:1",
                "resources": {"limits": {"vpc.amazonaws.com/pod-eni": "1"},
                              "requests": {"vpc.amazonaws.com/pod-eni": "1"}}}]
        },
        "status": {"phase": phase, "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-24T08:00:01Z"}]}
    });
    if let Some(eni) = eni {
        pod["metadata"]["annotations"]["vpc.amazonaws.com/pod-eni"] = json!(format!(
            "[{{\"eniId\":\"{eni}\",\"ifAddress\":\"02:00:00:00:00:01\",\"privateIp\":\"10.0.1.9\",\"vlanId\":1,\"subnetCidr\":\"10.0.0.0/19\"}}]"
        ));
    }
    if let Some((kind, owner_name)) = owner {
        pod["metadata"]["ownerReferences"] = json!([{
            "apiVersion": if kind == "Job" { "batch/v1" } else { "apps/v1" },
            "kind": kind, "name": owner_name, "uid": format!("uid-{owner_name}"), "controller": true
        }]);
    }
    pod
}

/// A plain pod without branch ENI, which the exporter must not cache.
pub fn plain_pod_json(key: &str, node: &str) -> Value {
    let (namespace, name) = key.split_once('/').unwrap();
    json!({
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": "2026-11-24T08:00:00Z"},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "busybox"}]},
        "status": {"phase": "Running"}
    })
}

/// Builds the incident: on the full node (m5a.xlarge, 18) 13 running SGP pods, 3
/// completed Job pods holding ENIs, 2 ENIs in cool-down and 1 pod waiting; a healthy
/// m5.large with 4 running pods; a detached branch; an ENI of another cluster.
pub async fn build_incident(client: &Client, api: &impl Cluster) -> Incident {
    let ec2 = Ec2 { client };
    let vpc = client
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .expect("create vpc");
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_owned();
    let subnet_a = ec2.subnet(&vpc_id, "10.0.0.0/19", "eu-west-1a").await;
    let subnet_b = ec2.subnet(&vpc_id, "10.0.32.0/19", "eu-west-1b").await;

    let instance_a = ec2.instance(&subnet_a, InstanceType::M5aXlarge).await;
    let instance_b = ec2.instance(&subnet_b, InstanceType::M5Large).await;
    let trunk_a = ec2.trunk(&subnet_a, &instance_a).await;
    let trunk_b = ec2.trunk(&subnet_b, &instance_b).await;

    api.put(
        "nodes",
        node_json(FULL_NODE, &instance_a, "m5a.xlarge", "eu-west-1a", 18),
    )
    .await;
    api.put(
        "nodes",
        node_json(HEALTHY_NODE, &instance_b, "m5.large", "eu-west-1b", 9),
    )
    .await;
    api.put("nodes", json!({
        "metadata": {"name": "fargate-ip-10-0-40-7.eu-west-1.compute.internal",
                     "labels": {"eks.amazonaws.com/compute-type": "fargate"}},
        "spec": {"providerID": "aws:///eu-west-1b/0a1b2c3d4e-5f6a7b8c/fargate-ip-10-0-40-7.eu-west-1.compute.internal"}
    })).await;

    let mut vlan = 1;
    let mut running = Vec::new();
    for i in 0..13 {
        let eni = ec2
            .branch(&subnet_a, &trunk_a, &instance_a, vlan, true)
            .await;
        vlan += 1;
        let key = format!("shop/checkout-api-7d9f8b6c5d-{i:05}");
        api.put(
            "pods",
            pod_json(
                &key,
                FULL_NODE,
                "Running",
                Some(&eni),
                Some(("ReplicaSet", "checkout-api-7d9f8b6c5d")),
            ),
        )
        .await;
        running.push((key, eni));
    }
    let mut completed = Vec::new();
    for job in [
        "db-migrate-28871040",
        "db-migrate-28871100",
        "db-migrate-28871160",
    ] {
        let eni = ec2
            .branch(&subnet_a, &trunk_a, &instance_a, vlan, true)
            .await;
        vlan += 1;
        let key = format!("shop/{job}-x7k2p");
        api.put(
            "pods",
            pod_json(&key, FULL_NODE, "Succeeded", Some(&eni), Some(("Job", job))),
        )
        .await;
        completed.push((key, eni));
    }
    let mut orphans = Vec::new();
    for _ in 0..2 {
        orphans.push(
            ec2.branch(&subnet_a, &trunk_a, &instance_a, vlan, true)
                .await,
        );
        vlan += 1;
    }
    let waiting_pod = "shop/checkout-api-7d9f8b6c5d-q8r2t".to_owned();
    api.put(
        "pods",
        pod_json(
            &waiting_pod,
            FULL_NODE,
            "Pending",
            None,
            Some(("ReplicaSet", "checkout-api-7d9f8b6c5d")),
        ),
    )
    .await;
    api.put(
        "pods",
        plain_pod_json("kube-system/coredns-5d8f7b9c6-abcde", FULL_NODE),
    )
    .await;

    for i in 0..4 {
        let eni = ec2
            .branch(&subnet_b, &trunk_b, &instance_b, i + 1, true)
            .await;
        api.put(
            "pods",
            pod_json(
                &format!("catalog/search-{i}"),
                HEALTHY_NODE,
                "Running",
                Some(&eni),
                None,
            ),
        )
        .await;
    }
    let detached_eni = ec2.branch(&subnet_b, &trunk_b, &instance_b, 9, false).await;
    let other_cluster_eni = ec2
        .eni(
            &subnet_b,
            "aws-k8s-branch-eni",
            eni_tags(
                "other-cluster",
                &[("vpcresources.k8s.aws/trunk-eni-id", &trunk_b)],
            ),
        )
        .await;

    Incident {
        vpc_id,
        healthy: (subnet_b.clone(), trunk_b, instance_b),
        subnet_ids: vec![subnet_a, subnet_b],
        running,
        completed,
        orphans,
        waiting_pod,
        detached_eni,
        other_cluster_eni,
    }
}
