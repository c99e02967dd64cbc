//! The parts of a Pod and a Node that the join reads, as they appear in the API's JSON.
//!
//! Decoding into these instead of `k8s-openapi`'s full types skips every other field
//! without building it (managedFields, env, volumes, images: most of a pod's 7 KB), so a
//! list of 150,000 pods costs one pass over the bytes and a few small allocations per
//! pod. Labels, annotations and resource maps are structs over the few keys read, so the
//! rest of those maps is skipped too. Every field is optional, as in the API: `null`
//! and absent mean the same.

use compact_str::CompactString;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    /// API list items carry no kind, `kubectl` output does: checked when present, so a
    /// nodes file swapped with a pods file is caught.
    #[serde(default, rename = "kind", deserialize_with = "kind_pod")]
    pub kind: (),
    pub metadata: Option<PodMeta>,
    pub spec: Option<PodSpec>,
    pub status: Option<PodStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMeta {
    pub name: Option<String>,
    pub namespace: Option<CompactString>,
    pub resource_version: Option<String>,
    pub annotations: Option<PodAnnotations>,
    pub owner_references: Option<Vec<OwnerReference>>,
    pub creation_timestamp: Option<Timestamp>,
    pub deletion_timestamp: Option<Timestamp>,
}

/// The annotation the controller writes carries the same name as the extended resource
/// pods request, `vpc.amazonaws.com/pod-eni` (serde needs the literal in both places).
#[derive(Debug, Default, Deserialize)]
pub struct PodAnnotations {
    #[serde(rename = "vpc.amazonaws.com/pod-eni")]
    pub pod_eni: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct OwnerReference {
    pub kind: Option<CompactString>,
    pub name: Option<CompactString>,
    pub controller: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub node_name: Option<String>,
    pub containers: Option<Vec<Container>>,
    pub init_containers: Option<Vec<Container>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub resources: Option<Resources>,
    /// `Always` on an init container makes it a sidecar.
    pub restart_policy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Resources {
    pub requests: Option<PodEniQuantity>,
    pub limits: Option<PodEniQuantity>,
}

/// A resource list, of which only the branch ENI quantity is read.
#[derive(Debug, Default, Deserialize)]
pub struct PodEniQuantity {
    #[serde(rename = "vpc.amazonaws.com/pod-eni")]
    pub pod_eni: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    pub phase: Option<String>,
    /// Why a pod failed (`Evicted`, `DeadlineExceeded`, …).
    pub reason: Option<CompactString>,
    pub conditions: Option<Vec<Condition>>,
    pub container_statuses: Option<Vec<ContainerStatus>>,
    pub init_container_statuses: Option<Vec<ContainerStatus>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub status: Option<String>,
    pub reason: Option<String>,
    /// Read for the scheduler's `PodScheduled` message; short or absent elsewhere.
    pub message: Option<String>,
    pub last_transition_time: Option<Timestamp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub state: Option<ContainerState>,
    /// The previous run of a restarted container.
    pub last_state: Option<ContainerState>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ContainerState {
    pub running: Option<Running>,
    pub terminated: Option<Terminated>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Running {
    pub started_at: Option<Timestamp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Terminated {
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Node {
    #[serde(default, rename = "kind", deserialize_with = "kind_node")]
    pub kind: (),
    pub metadata: Option<NodeMeta>,
    pub spec: Option<NodeSpec>,
    pub status: Option<NodeStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeMeta {
    pub name: Option<String>,
    pub resource_version: Option<String>,
    pub labels: Option<NodeLabels>,
}

/// The node labels the join reads; the current label first, then its legacy name.
#[derive(Debug, Default, Deserialize)]
pub struct NodeLabels {
    #[serde(rename = "node.kubernetes.io/instance-type")]
    pub instance_type: Option<String>,
    #[serde(rename = "beta.kubernetes.io/instance-type")]
    pub instance_type_beta: Option<String>,
    #[serde(rename = "topology.kubernetes.io/zone")]
    pub zone: Option<String>,
    #[serde(rename = "failure-domain.beta.kubernetes.io/zone")]
    pub zone_beta: Option<String>,
    #[serde(rename = "eks.amazonaws.com/compute-type")]
    pub compute_type: Option<String>,
    #[serde(rename = "kubernetes.io/os")]
    pub os: Option<String>,
    #[serde(rename = "beta.kubernetes.io/os")]
    pub os_beta: Option<String>,
    #[serde(rename = "eks.amazonaws.com/nodegroup")]
    pub nodegroup: Option<String>,
    #[serde(rename = "karpenter.sh/nodepool")]
    pub nodepool: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    #[serde(rename = "providerID")]
    pub provider_id: Option<String>,
    pub unschedulable: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    pub allocatable: Option<PodEniQuantity>,
    pub node_info: Option<NodeSystemInfo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSystemInfo {
    pub operating_system: Option<String>,
}

fn kind_pod<'de, D: Deserializer<'de>>(deserializer: D) -> Result<(), D::Error> {
    expect_kind(deserializer, "Pod")
}

fn kind_node<'de, D: Deserializer<'de>>(deserializer: D) -> Result<(), D::Error> {
    expect_kind(deserializer, "Node")
}

fn expect_kind<'de, D: Deserializer<'de>>(deserializer: D, expected: &str) -> Result<(), D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        Some(kind) if kind != expected => Err(serde::de::Error::custom(format!(
            "kind is {kind:?}, expected {expected:?}"
        ))),
        _ => Ok(()),
    }
}
