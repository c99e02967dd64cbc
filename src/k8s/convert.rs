//! Kubernetes objects → the compact model types, once, at the edge. Used by the
//! watchers and by the kubectl JSON reader alike, so both see the same rules.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::model::{
    EniAnnotation, InitRequest, NodeInfo, Owner, POD_ENI_RESOURCE, PodInfo, PodPhase,
    effective_request, parse_count_quantity, parse_eni_annotation, parse_provider_id, sum_requests,
};

const LABEL_INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
const LABEL_INSTANCE_TYPE_BETA: &str = "beta.kubernetes.io/instance-type";
const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
const LABEL_ZONE_BETA: &str = "failure-domain.beta.kubernetes.io/zone";
const LABEL_COMPUTE_TYPE: &str = "eks.amazonaws.com/compute-type";
const LABEL_OS: &str = "kubernetes.io/os";
const LABEL_OS_BETA: &str = "beta.kubernetes.io/os";

pub fn node_info(node: &Node) -> NodeInfo {
    let labels = node.metadata.labels.as_ref();
    let label = |key: &str| labels.and_then(|l| l.get(key)).cloned();
    let fargate = label(LABEL_COMPUTE_TYPE).as_deref() == Some("fargate");
    let provider_id = node.spec.as_ref().and_then(|s| s.provider_id.as_deref());
    let (compute, zone_from_id) = parse_provider_id(provider_id, fargate);
    let allocatable = node
        .status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.get(POD_ENI_RESOURCE));
    NodeInfo {
        name: node.metadata.name.clone().unwrap_or_default(),
        compute,
        instance_type: label(LABEL_INSTANCE_TYPE).or_else(|| label(LABEL_INSTANCE_TYPE_BETA)),
        zone: label(LABEL_ZONE)
            .or_else(|| label(LABEL_ZONE_BETA))
            .or(zone_from_id),
        allocatable_pod_eni: allocatable.map(|q| parse_count_quantity(&q.0)).transpose(),
        os: label(LABEL_OS)
            .or_else(|| label(LABEL_OS_BETA))
            .or_else(|| {
                let info = node.status.as_ref()?.node_info.as_ref()?;
                Some(info.operating_system.clone()).filter(|os| !os.is_empty())
            }),
    }
}

pub fn pod_info(pod: &Pod) -> PodInfo {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();

    let mut request_problem = None;
    let mut request_of = |container: &Container| match container_request(container) {
        Ok(request) => request,
        Err(raw) => {
            request_problem = Some(raw);
            0
        }
    };
    let containers: Vec<u32> = spec
        .map(|s| s.containers.iter().map(&mut request_of).collect())
        .unwrap_or_default();
    let app_eni_request = sum_requests(containers.iter().copied());
    let init_containers: Vec<InitRequest> = spec
        .and_then(|s| s.init_containers.as_ref())
        .map(|inits| {
            inits
                .iter()
                .map(|c| InitRequest {
                    request: request_of(c),
                    sidecar: c.restart_policy.as_deref() == Some("Always"),
                })
                .collect()
        })
        .unwrap_or_default();

    let annotation = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_ENI_RESOURCE))
        .map_or(EniAnnotation::Absent, |raw| parse_eni_annotation(raw));
    let owner = meta.owner_references.as_ref().and_then(|refs| {
        refs.iter()
            .find(|r| r.controller == Some(true))
            .or_else(|| refs.first())
            .map(|r| Owner {
                kind: r.kind.clone(),
                name: r.name.clone(),
            })
    });
    let scheduled_at = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|conditions| {
            conditions
                .iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "True")
        })
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|time| time.0);
    let phase = PodPhase::parse(status.and_then(|s| s.phase.as_deref()));
    let statuses = || {
        status.into_iter().flat_map(|s| {
            let app = s.container_statuses.iter().flatten();
            app.chain(s.init_container_statuses.iter().flatten())
        })
    };
    let started_at = statuses()
        .filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref())
        .map(|time| time.0)
        .min();
    let completed_at = phase
        .is_terminal()
        .then(|| completion_time(statuses(), status.and_then(|s| s.conditions.as_ref())))
        .flatten();

    PodInfo {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        node_name: spec.and_then(|s| s.node_name.clone()),
        phase,
        pod_eni_request: effective_request(containers, init_containers),
        app_eni_request,
        terminating: meta.deletion_timestamp.is_some(),
        request_problem,
        annotation,
        owner,
        created_at: meta.creation_timestamp.as_ref().map(|time| time.0),
        scheduled_at,
        started_at,
        completed_at,
    }
}

/// When a finished pod finished: its last container's `finishedAt`, else when it
/// stopped being Ready.
fn completion_time<'a>(
    statuses: impl Iterator<Item = &'a ContainerStatus>,
    conditions: Option<&Vec<k8s_openapi::api::core::v1::PodCondition>>,
) -> Option<Timestamp> {
    let finished = statuses
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|time| time.0)
        .max();
    finished.or_else(|| {
        conditions?
            .iter()
            .find(|c| c.type_ == "Ready")?
            .last_transition_time
            .as_ref()
            .map(|time| time.0)
    })
}

fn pod_eni_quantity(map: Option<&BTreeMap<String, Quantity>>) -> Option<&str> {
    map.and_then(|m| m.get(POD_ENI_RESOURCE))
        .map(|q| q.0.as_str())
}

/// A container's pod-eni request; for extended resources an absent request defaults
/// to the limit, as the API server does.
fn container_request(container: &Container) -> Result<u32, String> {
    let resources = container.resources.as_ref();
    let raw = pod_eni_quantity(resources.and_then(|r| r.requests.as_ref()))
        .or_else(|| pod_eni_quantity(resources.and_then(|r| r.limits.as_ref())));
    raw.map_or(Ok(0), parse_count_quantity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Compute;
    use serde_json::json;

    fn pod(value: serde_json::Value) -> PodInfo {
        pod_info(&serde_json::from_value(value).expect("valid Pod"))
    }

    fn node(value: serde_json::Value) -> NodeInfo {
        node_info(&serde_json::from_value(value).expect("valid Node"))
    }

    #[test]
    fn sgp_pod_as_kubectl_prints_it() {
        let info = pod(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "db-migrate-28391045-x7k2p", "namespace": "shop",
                "creationTimestamp": "2026-11-24T09:00:00Z",
                "annotations": {
                    "vpc.amazonaws.com/pod-eni": "[{\"eniId\":\"eni-0a1b\",\"ifAddress\":\"02:1f:aa:bb:cc:dd\",\"privateIp\":\"10.0.3.7\",\"vlanId\":4,\"subnetCidr\":\"10.0.0.0/19\"}]"
                },
                "ownerReferences": [{
                    "apiVersion": "batch/v1", "kind": "Job", "name": "db-migrate-28391045",
                    "uid": "0d7c", "controller": true, "blockOwnerDeletion": true
                }]
            },
            "spec": {
                "nodeName": "ip-10-0-1-10.eu-west-1.compute.internal",
                "initContainers": [{"name": "wait", "image": "busybox",
                    "resources": {"limits": {"vpc.amazonaws.com/pod-eni": "1"}}}],
                "containers": [{"name": "migrate", "image": "shop/migrate:1.2",
                    "resources": {
                        "limits": {"vpc.amazonaws.com/pod-eni": "1", "memory": "256Mi"},
                        "requests": {"vpc.amazonaws.com/pod-eni": "1", "cpu": "100m"}}}]
            },
            "status": {
                "phase": "Succeeded",
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-24T09:00:01Z"},
                    {"type": "Ready", "status": "False", "lastTransitionTime": "2026-11-24T09:03:00Z"}
                ]
            }
        }));
        assert_eq!(info.namespace, "shop");
        assert_eq!(info.name, "db-migrate-28391045-x7k2p");
        assert_eq!(info.phase, PodPhase::Succeeded);
        assert_eq!(info.pod_eni_request, 1, "max(containers 1, init 1)");
        assert_eq!(info.annotation.eni_ids(), ["eni-0a1b".to_string()]);
        assert_eq!(
            info.owner,
            Some(Owner {
                kind: "Job".into(),
                name: "db-migrate-28391045".into()
            })
        );
        assert_eq!(
            info.scheduled_at.map(|t| t.to_string()),
            Some("2026-11-24T09:00:01Z".into())
        );
        assert!(info.is_relevant());
    }

    #[test]
    fn init_container_request_and_limit_only() {
        let info = pod(json!({
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {
                "initContainers": [{"name": "setup", "resources": {"limits": {"vpc.amazonaws.com/pod-eni": "2"}}}],
                "containers": [{"name": "app", "resources": {"limits": {"vpc.amazonaws.com/pod-eni": "1"}}}]
            },
            "status": {"phase": "Pending"}
        }));
        assert_eq!(info.pod_eni_request, 2);
        assert_eq!(info.node_name, None);
        assert_eq!(info.annotation, EniAnnotation::Absent);
    }

    #[test]
    fn plain_pod_is_not_relevant_and_bad_quantity_is_kept() {
        let plain = pod(json!({
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": "1"}}}]}
        }));
        assert!(!plain.is_relevant());
        let bad = pod(json!({
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {"containers": [{"name": "app", "resources": {"requests": {"vpc.amazonaws.com/pod-eni": "half"}}}]}
        }));
        assert_eq!(bad.request_problem.as_deref(), Some("half"));
        assert!(bad.is_relevant());
    }

    #[test]
    fn node_with_legacy_labels_and_no_allocatable() {
        let info = node(json!({
            "metadata": {"name": "ip-10-0-3-30", "labels": {
                "beta.kubernetes.io/instance-type": "c5.xlarge",
                "failure-domain.beta.kubernetes.io/zone": "eu-west-1c"}},
            "spec": {"providerID": "aws:///eu-west-1c/i-0ccc"},
            "status": {"allocatable": {"cpu": "3920m", "pods": "58"}}
        }));
        assert_eq!(info.instance_type.as_deref(), Some("c5.xlarge"));
        assert_eq!(info.zone.as_deref(), Some("eu-west-1c"));
        assert_eq!(info.allocatable_pod_eni, Ok(None));
        assert_eq!(info.instance_id(), Some("i-0ccc"));
    }

    #[test]
    fn node_with_allocatable_and_fargate_node() {
        let sgp = node(json!({
            "metadata": {"name": "n", "labels": {"node.kubernetes.io/instance-type": "m5a.xlarge"}},
            "spec": {"providerID": "aws:///eu-west-1a/i-0aaa"},
            "status": {"allocatable": {"vpc.amazonaws.com/pod-eni": "18"}}
        }));
        assert_eq!(sgp.allocatable_pod_eni, Ok(Some(18)));
        assert_eq!(
            sgp.zone.as_deref(),
            Some("eu-west-1a"),
            "zone from the providerID"
        );
        let fargate = node(json!({
            "metadata": {"name": "fargate-ip-10-0-9-9", "labels": {"eks.amazonaws.com/compute-type": "fargate"}},
            "spec": {"providerID": "aws:///eu-west-1a/0a1b2c3d4e-5f6a7b8c9d0e1f2a/fargate-ip-10-0-9-9.eu-west-1.compute.internal"}
        }));
        assert_eq!(fargate.compute, Compute::Fargate);
    }
}
