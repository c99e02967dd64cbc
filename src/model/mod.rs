//! The compact, API-free types the join reads.
//!
//! Adapters (`k8s`, `ec2`, `snapshot_dir`) turn Kubernetes and EC2 objects into these
//! once, at the edge. Nothing here knows about kube, the AWS SDK, tokio or the clock:
//! the parsers below are pure functions with table tests.

mod annotation;
mod eni;
mod keyed;
mod node;
mod pod;
mod stamp;
mod warning;

pub use annotation::{EniAnnotation, EniIds, parse_eni_annotation};
pub use eni::{
    Association, BRANCH_DESCRIPTION, Eni, EniRole, Inventory, Subnet, TAG_INSTANCE_ID,
    TAG_TRUNK_ENI_ID, TRUNK_DESCRIPTION, usable_ipv4_addresses,
};
pub use keyed::{Keyed, KeyedTable, key_parts, key_string};
pub use node::{Compute, NodeInfo, parse_provider_id};
pub use pod::{
    ContainerRun, ContainerTimes, INSUFFICIENT_POD_ENI, InitRequest, NodeName, Owner, PodInfo,
    PodName, PodPhase, RareFields, SchedulingFailure, completion_time, earliest_run,
    effective_request, parse_count_quantity, sum_requests,
};
pub use stamp::Stamp;
pub use warning::{InputWarning, WarningKind};
