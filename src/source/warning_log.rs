//! Input warnings are recomputed on every join; each is logged and counted once, when it
//! appears, and forgotten when it goes away (so a problem that comes back is reported
//! again). Live mode and `serve --from` report the same way.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::metrics::Metrics;
use crate::model::{InputWarning, WarningKind};

pub struct WarningLog {
    metrics: Metrics,
    /// Warnings present in the last join.
    reported: Mutex<HashSet<(WarningKind, String)>>,
}

impl WarningLog {
    pub fn new(metrics: Metrics) -> Self {
        Self {
            metrics,
            reported: Mutex::new(HashSet::new()),
        }
    }

    pub fn report(&self, warnings: &[InputWarning]) {
        let mut reported = crate::lock(&self.reported);
        let mut current = HashSet::with_capacity(warnings.len());
        for warning in warnings {
            let key = (warning.kind, warning.object.clone());
            if !reported.contains(&key) {
                // Recorded as strings, not `%` Display: the formatter then quotes and
                // escapes them, so a newline in a pod name cannot forge a log line.
                tracing::warn!(
                    kind = warning.kind.as_str(),
                    object = warning.object.as_str(),
                    detail = warning.detail.as_str(),
                    "input problem"
                );
                self.metrics.input_warning(warning.kind);
            }
            current.insert(key);
        }
        *reported = current;
    }
}
