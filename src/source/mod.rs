//! Where snapshots come from while serving: the live loop (Kubernetes watches and EC2
//! polls joined as they change) or a snapshot directory re-read when its files change;
//! both report input problems once through the warning log.

pub mod dir;
pub mod live;
pub mod warning_log;
