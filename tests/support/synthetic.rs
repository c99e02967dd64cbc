//! A synthetic cluster shaped and sized like a real one, generated on demand: pods of
//! 6–8 KB as the API server returns them (managedFields, env, volumes, status and
//! conditions), nodes with images and conditions, trunk and branch ENIs in the AWS CLI's
//! JSON shape. Deterministic: the same index gives the same bytes. Used by
//! `examples/synthetic_snapshot.rs` (files) and `benches/envelope` (served over HTTP).

use serde_json::{Value, json};

/// The cluster: every node an m5a.xlarge with a trunk; `sgp_percent` of pods use
/// security groups for pods and hold a branch ENI; one pod in 50 has completed.
#[derive(Debug, Clone, Copy)]
pub struct World {
    pub nodes: usize,
    pub pods_per_node: usize,
    pub sgp_percent: usize,
    pub subnets: usize,
}

impl World {
    pub fn pods(&self) -> usize {
        self.nodes * self.pods_per_node
    }

    pub fn is_sgp(&self, pod: usize) -> bool {
        pod % 100 < self.sgp_percent
    }

    pub fn is_completed(&self, pod: usize) -> bool {
        pod % 50 == 7
    }

    /// The node pod `index` runs on.
    pub fn node_of(&self, pod: usize) -> usize {
        pod / self.pods_per_node
    }

    pub fn node(&self, n: usize) -> Value {
        node(n)
    }

    /// Pod `index` at `resource_version`; `restarts` changes with every update.
    pub fn pod(&self, index: usize, resource_version: u64, restarts: u32) -> Value {
        pod(
            index,
            self.node_of(index),
            self.is_sgp(index),
            self.is_completed(index),
            resource_version,
            restarts,
        )
    }

    /// Trunks (one per node) then branches (one per SGP pod).
    pub fn enis(&self) -> impl Iterator<Item = SyntheticEni> + '_ {
        let trunks = (0..self.nodes).map(|node| SyntheticEni {
            id: trunk(node),
            trunk: true,
            node,
        });
        let branches = (0..self.pods())
            .filter(|&index| self.is_sgp(index))
            .map(|index| SyntheticEni {
                id: branch(index),
                trunk: false,
                node: self.node_of(index),
            });
        trunks.chain(branches)
    }

    pub fn subnet_id(&self, n: usize) -> String {
        subnet(n, self.subnets)
    }
}

pub struct SyntheticEni {
    pub id: String,
    pub trunk: bool,
    pub node: usize,
}

pub fn node_name(n: usize) -> String {
    format!(
        "ip-10-{}-{}-{}.eu-west-1.compute.internal",
        n / 65536,
        (n / 256) % 256,
        n % 256
    )
}

pub fn instance(n: usize) -> String {
    format!("i-{n:017x}")
}

pub fn trunk(n: usize) -> String {
    format!("eni-t{n:016x}")
}

pub fn branch(pod: usize) -> String {
    format!("eni-b{pod:016x}")
}

pub fn subnet(n: usize, subnets: usize) -> String {
    format!("subnet-{:017x}", n % subnets)
}

pub fn node(n: usize) -> Value {
    let name = node_name(n);
    let images: Vec<Value> = (0..12)
        .map(|i| {
            json!({"names": [format!("602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/image-{i}@sha256:{i:064x}"),
                             format!("602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/image-{i}:v1.{i}.0")],
                   "sizeBytes": 30_000_000 + i * 1_000_000})
        })
        .collect();
    let conditions: Vec<Value> = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        .iter()
        .map(|kind| {
            json!({"type": kind, "status": if *kind == "Ready" {"True"} else {"False"},
                   "lastHeartbeatTime": "2026-11-24T09:44:00Z", "lastTransitionTime": "2026-11-20T08:01:00Z",
                   "reason": format!("Kubelet{kind}"), "message": "kubelet is posting ready status"})
        })
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name, "uid": format!("6f9c2d1e-{n:04x}-4b7a-9c3e-5d2f1a0b8c7d"),
            "resourceVersion": format!("{}", 1_000_000 + n), "creationTimestamp": "2026-11-20T08:00:00Z",
            "labels": {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/instance-type": "m5a.xlarge",
                "beta.kubernetes.io/os": "linux", "eks.amazonaws.com/nodegroup": "general",
                "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "m5a.xlarge", "topology.kubernetes.io/region": "eu-west-1",
                "topology.kubernetes.io/zone": "eu-west-1a", "vpc.amazonaws.com/has-trunk-attached": "true"},
            "annotations": {"alpha.kubernetes.io/provided-node-ip": "10.0.1.10",
                "node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}
        },
        "spec": {"providerID": format!("aws:///eu-west-1a/{}", instance(n))},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "10.0.1.10"}, {"type": "Hostname", "address": name}],
            "allocatable": {"cpu": "3920m", "ephemeral-storage": "95551679124", "memory": "14967404Ki", "pods": "58",
                "vpc.amazonaws.com/pod-eni": "18"},
            "capacity": {"cpu": "4", "ephemeral-storage": "104845292Ki", "memory": "16069676Ki", "pods": "58",
                "vpc.amazonaws.com/pod-eni": "18"},
            "conditions": conditions, "images": images,
            "nodeInfo": {"architecture": "amd64", "containerRuntimeVersion": "containerd://1.7.22",
                "kernelVersion": "6.1.112-124.190.amzn2023.x86_64", "kubeProxyVersion": "v1.31.2-eks-94953ac",
                "kubeletVersion": "v1.31.2-eks-94953ac", "operatingSystem": "linux", "osImage": "Amazon Linux 2023.6.20241031"}
        }
    })
}

/// The managedFields a Deployment's pod carries: a large share of every pod's bytes.
pub fn managed_fields() -> Value {
    json!([
        {"apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kube-controller-manager", "operation": "Update",
         "time": "2026-11-24T08:00:00Z",
         "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
            "f:ownerReferences": {".": {}, "k:{\"uid\":\"0c1d2e3f\"}": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:env": {".": {}, "k:{\"name\":\"LOG_LEVEL\"}": {".": {}, "f:name": {}, "f:value": {}}},
                "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:ports": {".": {}, "k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}}},
                "f:resources": {".": {}, "f:limits": {".": {}, "f:memory": {}}, "f:requests": {".": {}, "f:cpu": {}}},
                "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}, "f:volumeMounts": {}}},
                "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {},
                "f:terminationGracePeriodSeconds": {}}}},
        {"apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kubelet", "operation": "Update", "subresource": "status",
         "time": "2026-11-24T08:00:09Z",
         "fieldsV1": {"f:status": {"f:conditions": {"k:{\"type\":\"ContainersReady\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
            "k:{\"type\":\"Initialized\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
            "k:{\"type\":\"PodReadyToStartContainers\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
            "k:{\"type\":\"Ready\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}},
            "f:containerStatuses": {}, "f:hostIP": {}, "f:hostIPs": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {".": {}, "k:{\"ip\":\"10.0.3.7\"}": {".": {}, "f:ip": {}}},
            "f:startTime": {}}}}
    ])
}

/// Twenty settings, as a typical service's container carries.
pub fn env() -> Value {
    let vars: Vec<Value> = (0..20)
        .map(|i| json!({"name": format!("SERVICE_SETTING_{i:02}"), "value": format!("https://service-{i}.team.svc.cluster.local:8443/api/v1/endpoint")}))
        .collect();
    json!(vars)
}

pub fn pod(
    index: usize,
    node: usize,
    sgp: bool,
    completed: bool,
    resource_version: u64,
    restarts: u32,
) -> Value {
    let app = format!("app-{}", index % 400);
    let name = format!("{app}-7d9f8b6c5d-{index:06}");
    let mut annotations = json!({"kubectl.kubernetes.io/restartedAt": "2026-11-20T06:00:00Z"});
    let mut requests = json!({"cpu": "250m"});
    let mut limits = json!({"memory": "512Mi"});
    if sgp {
        annotations["vpc.amazonaws.com/pod-eni"] = json!(format!(
            "[{{\"eniId\":\"{}\",\"ifAddress\":\"02:1f:aa:bb:cc:dd\",\"privateIp\":\"10.0.3.7\",\"ipv6Addr\":\"\",\"vlanId\":4,\"subnetCidr\":\"10.0.0.0/19\",\"subnetV6Cidr\":\"\",\"associationID\":\"trunk-assoc-0123456789abcdef0\"}}]",
            branch(index)
        ));
        requests["vpc.amazonaws.com/pod-eni"] = json!("1");
        limits["vpc.amazonaws.com/pod-eni"] = json!("1");
    }
    let (phase, state, ready) = if completed {
        (
            "Succeeded",
            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": "2026-11-24T08:00:08Z",
                                  "finishedAt": "2026-11-24T08:05:00Z", "containerID": format!("containerd://{index:064x}")}}),
            "False",
        )
    } else {
        (
            "Running",
            json!({"running": {"startedAt": "2026-11-24T08:00:08Z"}}),
            "True",
        )
    };
    let conditions: Vec<Value> = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    .iter()
    .map(|kind| json!({"type": kind, "status": if kind.contains("Ready") {ready} else {"True"}, "lastProbeTime": null, "lastTransitionTime": "2026-11-24T08:00:09Z"}))
    .collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "generateName": format!("{app}-7d9f8b6c5d-"), "namespace": format!("team-{}", index % 50),
            "uid": format!("{index:08x}-1c2d-4e5f-8a9b-0c1d2e3f4a5b"), "resourceVersion": resource_version.to_string(),
            "creationTimestamp": "2026-11-24T08:00:00Z",
            "labels": {"app": app, "pod-template-hash": "7d9f8b6c5d", "team": format!("team-{}", index % 50)},
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-7d9f8b6c5d"),
                "uid": "0c1d2e3f", "controller": true, "blockOwnerDeletion": true}],
            "managedFields": managed_fields()
        },
        "spec": {
            "nodeName": node_name(node), "serviceAccountName": "default", "schedulerName": "default-scheduler",
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
            "containers": [{"name": "app", "image": "registry.example.com/team/app:1.42.0", "imagePullPolicy": "IfNotPresent",
                "env": env(),
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "resources": {"limits": limits, "requests": requests},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                "volumeMounts": [{"name": "kube-api-access-x1y2z", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
            "volumes": [{"name": "kube-api-access-x1y2z", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}]
        },
        "status": {
            "phase": phase, "conditions": conditions, "hostIP": "10.0.1.10", "hostIPs": [{"ip": "10.0.1.10"}],
            "podIP": "10.0.3.7", "podIPs": [{"ip": "10.0.3.7"}], "qosClass": "Burstable", "startTime": "2026-11-24T08:00:01Z",
            "containerStatuses": [{"name": "app", "image": "registry.example.com/team/app:1.42.0",
                "imageID": format!("registry.example.com/team/app@sha256:{:064x}", index % 400),
                "containerID": format!("containerd://{index:064x}"), "ready": !completed, "restartCount": restarts, "started": !completed,
                "state": state, "lastState": {}}]
        }
    })
}

pub fn eni(id: String, role: &str, node: usize, subnets: usize) -> Value {
    let mut tags = vec![
        json!({"Key": "eks:eni:owner", "Value": "eks-vpc-resource-controller"}),
        json!({"Key": "kubernetes.io/cluster/prod", "Value": "owned"}),
    ];
    let mut eni = json!({
        "AvailabilityZone": "eu-west-1a", "Description": format!("aws-k8s-{role}-eni"), "InterfaceType": role,
        "NetworkInterfaceId": id, "OwnerId": "111122223333", "PrivateIpAddress": "10.0.3.7",
        "RequesterManaged": false, "SourceDestCheck": true, "Status": "in-use",
        "SubnetId": subnet(node, subnets), "VpcId": "vpc-0a3c5e7f9b1d2e4f6",
        "Groups": [{"GroupName": "shop-db-clients", "GroupId": "sg-0f00dfeed"}]
    });
    if role == "trunk" {
        eni["Attachment"] =
            json!({"InstanceId": instance(node), "Status": "attached", "DeviceIndex": 2});
    } else {
        tags.push(json!({"Key": "vpcresources.k8s.aws/trunk-eni-id", "Value": trunk(node)}));
        tags.push(json!({"Key": "vpcresources.k8s.aws/vlan-id", "Value": "4"}));
    }
    eni["TagSet"] = json!(tags);
    eni
}
