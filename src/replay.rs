//! `serve --from DIR`: serves a snapshot directory as if it were the live cluster, and
//! re-reads it when its files change. Dashboards and alerts can be built and shown
//! without a cluster. Each read is one observation at the snapshot's capture time (no
//! previous result), exactly as in `audit --from DIR`: an ENI named by no pod has no
//! known age, while one held by a completed pod is aged from the pod's completion.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use jiff::Timestamp;

use crate::accounting::Settings;
use crate::live::unix_seconds;
use crate::metrics::{Metrics, SharedSnapshot, Source};
use crate::snapshot_dir::{self, SnapshotDirError};

const CHECK_EVERY: Duration = Duration::from_secs(2);

pub struct DirSource {
    dir: PathBuf,
    settings: Settings,
    snapshot: SharedSnapshot,
    metrics: Metrics,
    loaded: AtomicBool,
}

impl DirSource {
    pub fn new(
        dir: PathBuf,
        settings: Settings,
        snapshot: SharedSnapshot,
        metrics: Metrics,
    ) -> Self {
        Self {
            dir,
            settings,
            snapshot,
            metrics,
            loaded: AtomicBool::new(false),
        }
    }

    /// Reads the directory and publishes a snapshot; on error the last one stays.
    pub fn load(&self) -> Result<(), SnapshotDirError> {
        let result = snapshot_dir::read_dir(&self.dir);
        let loaded = match result {
            Ok(loaded) => loaded,
            Err(error) => {
                for source in [Source::Kubernetes, Source::Ec2] {
                    self.metrics.set_source_up(source, false);
                }
                return Err(error);
            }
        };
        let now = Timestamp::now();
        let snapshot = loaded.join(&self.settings);
        for warning in &snapshot.warnings {
            self.metrics.input_warning(warning.kind);
        }
        self.snapshot.set(Arc::new(snapshot));
        for source in [Source::Kubernetes, Source::Ec2] {
            self.metrics.source_succeeded(source, unix_seconds(now));
        }
        self.loaded.store(true, Ordering::Relaxed);
        Ok(())
    }

    pub fn readiness(&self) -> Result<(), String> {
        if self.loaded.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(format!("{} not read yet", self.dir.display()))
        }
    }

    /// Re-reads the directory whenever one of its files changes.
    pub async fn watch(&self) {
        let mut seen = fingerprint(&self.dir);
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let now = fingerprint(&self.dir);
            if now == seen {
                continue;
            }
            seen = now;
            match self.load() {
                Ok(()) => tracing::info!(dir = %self.dir.display(), "snapshot directory re-read"),
                Err(error) => {
                    tracing::warn!(%error, "snapshot directory unreadable; serving the last good one")
                }
            }
        }
    }
}

/// Modification times and sizes of the files the reader reads (the capture time in
/// `metadata.json` included): cheap, and enough to notice edits.
fn fingerprint(dir: &Path) -> Vec<Option<(SystemTime, u64)>> {
    snapshot_dir::DATA_FILES
        .iter()
        .chain([&snapshot_dir::METADATA_FILE])
        .map(|name| {
            let meta = std::fs::metadata(dir.join(name)).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}
