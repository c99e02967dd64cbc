//! pod-eni-exporter: branch ENIs per node for EKS security groups for pods, as EC2
//! sees them, next to what the scheduler believes.
//!
//! ```text
//!  Pod/Node watch ──► compact cluster state (PodInfo/NodeInfo) ──┐
//!                                                                ├─► accounting::reconcile(.., now, prev) ─► Arc<Snapshot>
//!  EC2 poll (paginated, paced) ──► Inventory (Eni/Subnet) ───────┘                              │
//!  snapshot dir (offline) ──► the same model types ──────────────┘            metrics collector ◄┘ /metrics
//!                                                                             audit table / JSON ◄┘
//! ```
//!
//! `model` and `accounting` are the pure core; everything else is an adapter at the edge.

pub mod accounting;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod connections;
pub mod ec2;
pub mod events;
pub mod k8s;
pub mod limits;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod process_metrics;
pub mod regular_file;
pub mod replay;
pub mod server;
pub mod snapshot_dir;
pub mod status_page;
pub mod warning_log;
pub mod web;
