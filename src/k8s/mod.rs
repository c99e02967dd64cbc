//! The Kubernetes adapter: Pod and Node objects become `PodInfo`/`NodeInfo` here.

mod convert;

pub use convert::{node_info, pod_info};
