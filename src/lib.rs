//! pod-eni-exporter: branch ENIs per node for EKS security groups for pods, as EC2
//! sees them, next to what the scheduler believes.
//!
//! ```text
//!  k8s: Pod/Node watch ──► model: PodInfo/NodeInfo ────────┐   accounting::Join (live: what changed only)
//!                                                          ├─► accounting::reconcile (a directory: all) ─► Arc<Snapshot>
//!  ec2: poll (paginated, paced) ──► model: Inventory ──────┤     (source::live feeds the Join,              │
//!  snapshot_dir: kubectl / AWS CLI JSON ──► model types ───┘      source::dir re-reads a directory)          │
//!                                                    metrics: collector ◄──────────────────────────────────┤ http: /metrics
//!                                                    report: table, JSON, status page, Event notes ◄──────┘ http: /, /status.json
//! ```
//!
//! Layers, each a folder, every import pointing down: `model` and `accounting` (the
//! pure core), the adapters `k8s`, `ec2` and `snapshot_dir`, the `source`s that keep a
//! snapshot current, the outputs `report` (pure text) and `metrics`, the `http`
//! endpoint, and `app`, which wires a process together. Below them all, two helpers
//! every layer may use: [`regular_file`] (opening a path someone else chose) and
//! [`lock`].

pub mod accounting;
pub mod app;
pub mod ec2;
pub mod http;
pub mod k8s;
pub mod metrics;
pub mod model;
pub mod regular_file;
pub mod report;
pub mod snapshot_dir;
pub mod source;

/// Locks `mutex`, recovering from poisoning: a thread that panicked while holding a
/// lock here leaves plain data, never a half-made invariant worth stopping for.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
