//! The Kubernetes adapter: Pod and Node objects are decoded in their [`wire`] form and
//! become `PodInfo`/`NodeInfo` at the edge (`convert`, `watched`); watch events keep a
//! compact cache of them (`cache`, `watch`).

mod cache;
mod client;
mod cni_config;
mod convert;
mod events;
mod list;
mod shared;
mod watch;
mod watched;
pub mod wire;

pub use cache::{Changes, ClusterCache, Index};
pub use client::{client, client_from, read_kubeconfig};
pub use cni_config::{CooldownSetting, parse_cooldown, read_cooldown};
pub use convert::{node_info, pod_info};
pub use events::EventEmitter;
pub use list::{Compact, Listed, get_pod, list_all, list_compact};
pub use shared::{KubeShared, Resource};
pub use watch::run_watchers;
pub use watched::{Kind, Watched};
