//! Kubernetes objects → the compact model types, once, at the edge. Used by the
//! watchers and by the kubectl JSON reader alike, so both see the same rules. The input
//! is the [`wire`](super::wire) form: only the fields read here are ever decoded.

use jiff::Timestamp;

use super::wire::{self, Condition, ContainerState, ContainerStatus, Node, Pod, PodEniQuantity};
use crate::model::{
    ContainerRun, ContainerTimes, EniAnnotation, INSUFFICIENT_POD_ENI, InitRequest, NodeInfo,
    NodeName, Owner, PodInfo, PodPhase, RareFields, SchedulingFailure, Stamp, completion_time,
    earliest_run, effective_request, parse_count_quantity, parse_eni_annotation, parse_provider_id,
    sum_requests,
};

pub fn node_info(node: &Node) -> NodeInfo {
    let meta = node.metadata.as_ref();
    let labels = meta.and_then(|m| m.labels.as_ref());
    let label =
        |pick: fn(&wire::NodeLabels) -> &Option<String>| labels.and_then(|l| pick(l).clone());
    let fargate = label(|l| &l.compute_type).as_deref() == Some("fargate");
    let provider_id = node.spec.as_ref().and_then(|s| s.provider_id.as_deref());
    let (compute, zone_from_id) = parse_provider_id(provider_id, fargate);
    let status = node.status.as_ref();
    let allocatable = status
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.pod_eni.as_deref());
    NodeInfo {
        name: meta.and_then(|m| m.name.clone()).unwrap_or_default(),
        compute,
        instance_type: label(|l| &l.instance_type).or_else(|| label(|l| &l.instance_type_beta)),
        zone: label(|l| &l.zone)
            .or_else(|| label(|l| &l.zone_beta))
            .or(zone_from_id),
        allocatable_pod_eni: allocatable.map(parse_count_quantity).transpose(),
        os: label(|l| &l.os)
            .or_else(|| label(|l| &l.os_beta))
            .or_else(|| {
                let os = status?.node_info.as_ref()?.operating_system.clone()?;
                Some(os).filter(|os| !os.is_empty())
            }),
        nodegroup: label(|l| &l.nodegroup)
            .or_else(|| label(|l| &l.nodepool))
            .filter(|group| !group.is_empty()),
        unschedulable: node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false),
    }
}

pub fn pod_info(pod: &Pod) -> PodInfo {
    let meta = pod.metadata.as_ref();
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();

    let mut request_problem = None;
    let mut request_of = |container: &wire::Container| match container_request(container) {
        Ok(request) => request,
        Err(raw) => {
            request_problem = Some(raw);
            0
        }
    };
    let containers: Vec<u32> = spec
        .and_then(|s| s.containers.as_ref())
        .map(|containers| containers.iter().map(&mut request_of).collect())
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
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.pod_eni.as_deref())
        .map_or(EniAnnotation::Absent, parse_eni_annotation);
    let owner = meta
        .and_then(|m| m.owner_references.as_ref())
        .and_then(|refs| {
            refs.iter()
                .find(|r| r.controller == Some(true))
                .or_else(|| refs.first())
                .map(|r| Owner {
                    kind: r.kind.clone().unwrap_or_default(),
                    name: r.name.clone().unwrap_or_default(),
                })
        });
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let scheduled_at = condition_time(conditions, "PodScheduled", Some("True"));
    let raw_phase = status.and_then(|s| s.phase.as_deref());
    let (phase, phase_problem) = match PodPhase::parse_checked(raw_phase) {
        Some(phase) => (phase, None),
        None => (PodPhase::Pending, raw_phase.map(Box::from)),
    };
    let container_times = || {
        status
            .into_iter()
            .flat_map(|s| {
                let app = s.container_statuses.iter().flatten();
                app.chain(s.init_container_statuses.iter().flatten())
            })
            .map(times_of)
    };
    // A sandbox is proven by a container that ran, or by the kubelet's condition that it
    // is ready (`PodHasNetwork` before 1.28).
    let sandbox_ready = ["PodReadyToStartContainers", "PodHasNetwork"]
        .into_iter()
        .filter_map(|kind| condition_time(conditions, kind, Some("True")))
        .min();
    let sandbox_seen_at = earliest_run(container_times())
        .into_iter()
        .chain(sandbox_ready)
        .min();
    let (completed_at, reason) = if phase.is_terminal() {
        (
            completion_time(container_times()),
            status.and_then(|s| s.reason.clone()),
        )
    } else {
        (None, None)
    };
    let node_name = spec
        .and_then(|s| s.node_name.as_deref())
        .map(NodeName::from);
    let unschedulable = node_name
        .is_none()
        .then(|| scheduling_failure(conditions))
        .flatten();

    PodInfo {
        namespace: meta.and_then(|m| m.namespace.clone()).unwrap_or_default(),
        name: meta.and_then(|m| m.name.clone()).unwrap_or_default(),
        node_name,
        phase,
        pod_eni_request: effective_request(containers, init_containers),
        app_eni_request,
        terminating: meta.is_some_and(|m| m.deletion_timestamp.is_some()),
        rare: RareFields {
            request_problem,
            phase_problem,
            reason,
        }
        .boxed(),
        annotation,
        owner,
        created_at: meta.and_then(|m| m.creation_timestamp).map(Stamp::from),
        scheduled_at: scheduled_at.map(Stamp::from),
        sandbox_seen_at: sandbox_seen_at.map(Stamp::from),
        completed_at: completed_at.map(Stamp::from),
        unschedulable,
    }
}

fn times_of(status: &ContainerStatus) -> ContainerTimes {
    ContainerTimes {
        state: container_run(status.state.as_ref()),
        last_state: container_run(status.last_state.as_ref()),
    }
}

fn container_run(state: Option<&ContainerState>) -> ContainerRun {
    let Some(state) = state else {
        return ContainerRun::Waiting;
    };
    if let Some(terminated) = &state.terminated {
        ContainerRun::Terminated {
            started_at: terminated.started_at,
            finished_at: terminated.finished_at,
        }
    } else if let Some(running) = &state.running {
        ContainerRun::Running {
            started_at: running.started_at,
        }
    } else {
        ContainerRun::Waiting
    }
}

/// The scheduler's last failure (`PodScheduled` False, reason `Unschedulable`), kept
/// only when some node lacked a pod-eni slot: a pod unschedulable for CPU, taints or
/// affinity alone is not this exporter's business.
fn scheduling_failure(conditions: &[Condition]) -> Option<Box<SchedulingFailure>> {
    let scheduled = conditions
        .iter()
        .find(|c| c.type_.as_deref() == Some("PodScheduled"))?;
    let message = scheduled.message.as_deref()?;
    let failed = scheduled.status.as_deref() == Some("False")
        && scheduled.reason.as_deref() == Some("Unschedulable")
        && message.contains(INSUFFICIENT_POD_ENI);
    failed.then(|| {
        Box::new(SchedulingFailure {
            since: scheduled.last_transition_time,
            message: message.to_owned(),
        })
    })
}

/// The transition time of the condition of this type (with this status, if given).
fn condition_time(conditions: &[Condition], kind: &str, status: Option<&str>) -> Option<Timestamp> {
    conditions
        .iter()
        .find(|c| {
            c.type_.as_deref() == Some(kind)
                && status.is_none_or(|s| c.status.as_deref() == Some(s))
        })?
        .last_transition_time
}

fn pod_eni_quantity(list: Option<&PodEniQuantity>) -> Option<&str> {
    list.and_then(|l| l.pod_eni.as_deref())
}

/// A container's pod-eni request; for extended resources an absent request defaults
/// to the limit, as the API server does.
fn container_request(container: &wire::Container) -> Result<u32, String> {
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
            info.scheduled_at.map(|t| t.get().to_string()),
            Some("2026-11-24T09:00:01Z".into())
        );
        assert_eq!(
            info.completed_at, None,
            "no container status: the Ready condition's old time is no completion time"
        );
        assert!(info.is_relevant());
    }

    fn ts(text: &str) -> Option<Stamp> {
        Some(text.parse::<Timestamp>().expect("a timestamp").into())
    }

    /// A finished security-group pod's status as the kubelet leaves it.
    fn finished(reason: Option<&str>, status: serde_json::Value) -> PodInfo {
        let mut status = status;
        status["phase"] = json!("Failed");
        if let Some(reason) = reason {
            status["reason"] = json!(reason);
        }
        pod(json!({
            "metadata": {"name": "p", "namespace": "n",
                "annotations": {"vpc.amazonaws.com/pod-eni": "[{\"eniId\":\"eni-0a\"}]"}},
            "spec": {"nodeName": "ip-10-0-1-10",
                "containers": [{"name": "app", "resources": {"limits": {"vpc.amazonaws.com/pod-eni": "1"}}}]},
            "status": status
        }))
    }

    /// What `TerminatePod` (status_manager.go) writes for a container it cannot find.
    fn status_unknown() -> serde_json::Value {
        json!({"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
            "message": "The container could not be located when the pod was terminated"}})
    }

    #[test]
    fn completion_time_comes_only_from_what_the_kubelet_writes_at_completion() {
        // Evicted under memory pressure, containers removed, crash-looping before: the
        // Ready condition is four minutes older than the eviction, the finishedAt of the
        // previous run older still.
        let evicted = finished(
            Some("Evicted"),
            json!({
                "message": "The node was low on resource: memory. Threshold quantity: 100Mi, available: 88032Ki.",
                "conditions": [
                    {"type": "PodReadyToStartContainers", "status": "False", "lastTransitionTime": "2026-11-24T08:56:56Z"},
                    {"type": "Ready", "status": "False", "reason": "PodFailed", "lastTransitionTime": "2026-11-24T08:52:38Z"},
                    {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet", "lastTransitionTime": "2026-11-24T08:56:50Z"}
                ],
                "containerStatuses": [{"name": "app", "restartCount": 3, "state": status_unknown(),
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                        "startedAt": "2026-11-24T08:56:40Z", "finishedAt": "2026-11-24T08:56:47Z"}}}]
            }),
        );
        assert_eq!(evicted.completed_at, None);
        assert_eq!(evicted.reason(), Some("Evicted"));
        // Killed by activeDeadlineSeconds while it waited for its ENI: no container ever
        // ran, Ready has been False since it was scheduled.
        let deadline_before_start = finished(
            Some("DeadlineExceeded"),
            json!({
                "message": "Pod was active on the node longer than the specified deadline",
                "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                    "lastTransitionTime": "2026-11-24T06:00:00Z"}],
                "containerStatuses": [{"name": "app", "restartCount": 0, "state": status_unknown()}]
            }),
        );
        assert_eq!(deadline_before_start.completed_at, None);
        // An older kubelet leaves the never-started container waiting: no evidence either.
        let still_waiting = finished(
            Some("DeadlineExceeded"),
            json!({"containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        );
        assert_eq!(still_waiting.completed_at, None);
        // Killed by its deadline while running: the kill is recorded.
        let deadline_running = finished(
            Some("DeadlineExceeded"),
            json!({"containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 137,
                "reason": "Error", "startedAt": "2026-11-24T09:00:00Z", "finishedAt": "2026-11-24T09:10:00Z"}}}]}),
        );
        assert_eq!(deadline_running.completed_at, ts("2026-11-24T09:10:00Z"));
        // Evicted with a container that did stop and one whose status was lost: the
        // lost one may have run to the end, so the pod's end is unknown.
        let half_known = finished(
            Some("Evicted"),
            json!({"containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 0, "finishedAt": "2026-11-24T09:01:00Z"}}},
                {"name": "b", "state": status_unknown()}
            ]}),
        );
        assert_eq!(half_known.completed_at, None);
        // Restarting when it failed: later than its last run.
        let restarting = finished(
            None,
            json!({"containerStatuses": [{"name": "app", "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-11-24T09:01:00Z"}}}]}),
        );
        assert_eq!(restarting.completed_at, None);
    }

    #[test]
    fn a_job_pod_finishes_with_its_last_container_sidecars_included() {
        let info = pod(json!({
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {"nodeName": "n1",
                "initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
                "containers": [{"name": "job", "resources": {"requests": {"vpc.amazonaws.com/pod-eni": "1"}}}]},
            "status": {"phase": "Succeeded",
                "initContainerStatuses": [{"name": "proxy", "state": {"terminated": {"exitCode": 0,
                    "startedAt": "2026-11-24T09:00:00Z", "finishedAt": "2026-11-24T09:05:02Z"}}}],
                "containerStatuses": [{"name": "job", "state": {"terminated": {"exitCode": 0,
                    "startedAt": "2026-11-24T09:00:01Z", "finishedAt": "2026-11-24T09:05:00Z"}}}]}
        }));
        assert_eq!(info.completed_at, ts("2026-11-24T09:05:02Z"));
        assert_eq!(info.reason(), None);
        assert_eq!(info.sandbox_seen_at, ts("2026-11-24T09:00:00Z"));
    }

    #[test]
    fn a_sandbox_is_proven_by_any_run_or_the_ready_to_start_condition() {
        // No container runs at the capture (crash loop without its network): the
        // previous run and the sandbox condition still date the claim.
        let crash_looping = pod(json!({
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {"nodeName": "n1", "containers": [{"name": "app"}]},
            "status": {"phase": "Running",
                "conditions": [{"type": "PodReadyToStartContainers", "status": "True",
                    "lastTransitionTime": "2026-11-24T08:00:05Z"}],
                "containerStatuses": [{"name": "app", "restartCount": 7,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1,
                        "startedAt": "2026-11-24T09:20:00Z", "finishedAt": "2026-11-24T09:20:03Z"}}}]}
        }));
        assert_eq!(crash_looping.sandbox_seen_at, ts("2026-11-24T08:00:05Z"));
        let restarted_only = pod(json!({
            "metadata": {"name": "p", "namespace": "n"},
            "status": {"phase": "Running", "containerStatuses": [{"name": "app", "restartCount": 1,
                "state": {"running": {"startedAt": "2026-11-24T09:30:00Z"}},
                "lastState": {"terminated": {"exitCode": 1,
                    "startedAt": "2026-11-24T09:10:00Z", "finishedAt": "2026-11-24T09:29:00Z"}}}]}
        }));
        assert_eq!(restarted_only.sandbox_seen_at, ts("2026-11-24T09:10:00Z"));
        let not_ready = pod(json!({
            "metadata": {"name": "p", "namespace": "n"},
            "status": {"phase": "Pending", "conditions": [{"type": "PodReadyToStartContainers",
                "status": "False", "lastTransitionTime": "2026-11-24T08:00:05Z"}]}
        }));
        assert_eq!(not_ready.sandbox_seen_at, None, "False proves nothing");
    }

    #[test]
    fn the_scheduler_failure_is_kept_only_when_it_names_pod_eni() {
        let unscheduled = |message: &str| {
            pod(json!({
                "metadata": {"name": "p", "namespace": "n"},
                "spec": {"containers": [{"name": "app", "resources": {"limits": {"vpc.amazonaws.com/pod-eni": "1"}}}]},
                "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                    "reason": "Unschedulable", "message": message,
                    "lastTransitionTime": "2026-11-24T09:40:00Z"}]}
            }))
        };
        let no_slot = unscheduled(
            "0/12 nodes are available: 9 Insufficient vpc.amazonaws.com/pod-eni, 3 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/12 nodes are available: 12 No preemption victims found for incoming pod.",
        );
        let failure = no_slot.unschedulable.expect("names pod-eni");
        assert_eq!(failure.since.map(Stamp::from), ts("2026-11-24T09:40:00Z"));
        assert!(
            failure
                .message
                .starts_with("0/12 nodes are available: 9 Insufficient")
        );
        let cpu = unscheduled("0/12 nodes are available: 12 Insufficient cpu.");
        assert_eq!(cpu.unschedulable, None, "not this exporter's business");
    }

    #[test]
    fn a_phase_the_api_never_writes_is_kept_for_a_warning() {
        let info = pod(json!({
            "metadata": {"name": "p", "namespace": "n"},
            "status": {"phase": "succeeded"}
        }));
        assert_eq!(info.phase, PodPhase::Pending);
        assert_eq!(info.phase_problem(), Some("succeeded"));
        let fine = pod(
            json!({"metadata": {"name": "p", "namespace": "n"}, "status": {"phase": "Succeeded"}}),
        );
        assert_eq!(fine.phase_problem(), None);
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
        assert_eq!(bad.request_problem(), Some("half"));
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
