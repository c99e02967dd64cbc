//! How long the controller may legitimately take to free a branch ENI, from its
//! source (aws/amazon-vpc-resource-controller-k8s), and so when an ENI is leaked.

use std::time::Duration;

/// `branch-eni-cooldown` in ConfigMap `kube-system/amazon-vpc-cni` when unset
/// (`pkg/provider/branch/cooldown/cooldown.go`; minimum 30 s, no maximum).
pub const DEFAULT_BRANCH_ENI_COOLDOWN: Duration = Duration::from_secs(60);
/// The per-node job that deletes cooled-down ENIs runs this often (`ProcessDeleteQueue`).
pub const DELETE_QUEUE_PERIOD: Duration = Duration::from_secs(30);
/// Node reconciliation, which frees ENIs of pods deleted while the controller missed
/// the event, backs off to at most this (`pkg/node/node.go`, `MaxNodeReconciliationInterval`).
pub const MAX_NODE_RECONCILE_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Node reconciliation runs only on a Node event; an unchanged kubelet reports its
/// status this often (`nodeStatusReportFrequency`), so a due run can wait this long.
pub const NODE_STATUS_REPORT_PERIOD: Duration = Duration::from_secs(5 * 60);
/// The controller's pod informer resyncs this often (`main.go`, `syncPeriod`): a
/// completion it missed is seen, and the pod's ENIs released, at the next resync.
pub const POD_RESYNC_PERIOD: Duration = Duration::from_secs(30 * 60);
/// Slack for API latency, the controller's delete retries and watch delays.
pub const GRACE_MARGIN: Duration = Duration::from_secs(60);
/// The exporter's default EC2 poll interval.
pub const DEFAULT_EC2_POLL_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long after its last pod completed an ENI may stay before it is `leaked`.
    pub completed_grace: Duration,
    /// How long an ENI may be named by no pod before it is `leaked`.
    pub orphan_grace: Duration,
}

impl Settings {
    /// How long after its pod completed a leaked ENI may still be a completion the
    /// controller missed (released at its next pod resync); past that it was forgotten.
    pub fn forgotten_after(&self) -> Duration {
        POD_RESYNC_PERIOD.saturating_add(self.completed_grace)
    }
}

impl Settings {
    /// The graces implied by the controller's timings: an ENI released at completion
    /// is gone after cool-down + one delete-queue period; one whose pod was deleted
    /// behind the controller's back waits for node reconciliation first. One poll
    /// interval is added because the exporter only sees EC2 that often.
    pub fn from_controller(cooldown: Duration, poll_interval: Duration) -> Self {
        // Saturating: absurd inputs give absurd graces, never a panic.
        let released = [DELETE_QUEUE_PERIOD, poll_interval, GRACE_MARGIN]
            .into_iter()
            .fold(cooldown, Duration::saturating_add);
        Self {
            completed_grace: released,
            orphan_grace: MAX_NODE_RECONCILE_INTERVAL
                .saturating_add(NODE_STATUS_REPORT_PERIOD)
                .saturating_add(released),
        }
    }
}

/// What the flags set of the graces: each given one wins over the derived value, and a
/// given cool-down wins over the controller's ConfigMap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GraceOverrides {
    pub completed: Option<Duration>,
    pub orphan: Option<Duration>,
    pub cooldown: Option<Duration>,
}

impl GraceOverrides {
    /// The graces for a cool-down (the override's, else `cooldown`) and a poll interval.
    pub fn settings(&self, cooldown: Duration, poll_interval: Duration) -> Settings {
        let derived = Settings::from_controller(self.cooldown.unwrap_or(cooldown), poll_interval);
        Settings {
            completed_grace: self.completed.unwrap_or(derived.completed_grace),
            orphan_grace: self.orphan.unwrap_or(derived.orphan_grace),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::from_controller(DEFAULT_BRANCH_ENI_COOLDOWN, DEFAULT_EC2_POLL_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_cover_the_controller_timings() {
        let settings = Settings::default();
        // 60 s cool-down + 30 s queue period + 30 s poll + 60 s margin.
        assert_eq!(settings.completed_grace, Duration::from_secs(180));
        // 15 min reconciliation + 5 min node status period on top of that.
        assert_eq!(settings.orphan_grace, Duration::from_secs(23 * 60));
        let slow = Settings::from_controller(Duration::from_secs(300), DEFAULT_EC2_POLL_INTERVAL);
        assert_eq!(
            slow.completed_grace - settings.completed_grace,
            Duration::from_secs(240),
            "a longer cool-down lengthens both graces by the difference"
        );
        assert_eq!(
            slow.orphan_grace - settings.orphan_grace,
            Duration::from_secs(240)
        );
    }
}
