//! `serve --from DIR`: serves a snapshot directory as if it were the live cluster, and
//! re-reads it when its files change. Dashboards and alerts can be built and shown
//! without a cluster. Each read is one observation at the snapshot's capture time (no
//! previous result), exactly as in `audit --from DIR`: an ENI named by no pod has no
//! known age, while one held by a completed pod is aged from the pod's completion.
//!
//! Reads and joins run on a blocking thread with a time bound: a huge or stuck file
//! must never stop `/healthz` from answering.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;

use crate::accounting::{Settings, Snapshot};
use crate::metrics::{Metrics, SharedSnapshot, Source};
use crate::snapshot_dir::{self, ReadLimits, SnapshotDirError};
use tracing::Instrument;

use crate::source::live::unix_seconds;
use crate::source::warning_log::WarningLog;

const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Longest wait for one read and join. A 2 GiB snapshot parses in well under this; a
/// read that takes longer (a hung network filesystem) is abandoned, and no other read
/// starts until it ends.
const READ_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Dir(#[from] SnapshotDirError),
    #[error("reading took longer than {}s; serving the last good snapshot", READ_TIMEOUT.as_secs())]
    TimedOut,
    #[error("the previous read has not finished yet")]
    Busy,
}

pub struct DirSource {
    dir: PathBuf,
    limits: ReadLimits,
    settings: Settings,
    snapshot: SharedSnapshot,
    metrics: Metrics,
    warnings: WarningLog,
    loaded: AtomicBool,
    /// A read is running on the blocking pool (possibly abandoned after the timeout).
    reading: Arc<AtomicBool>,
}

impl DirSource {
    pub fn new(
        dir: PathBuf,
        limits: ReadLimits,
        settings: Settings,
        snapshot: SharedSnapshot,
        metrics: Metrics,
    ) -> Self {
        Self {
            dir,
            limits,
            settings,
            snapshot,
            warnings: WarningLog::new(metrics.clone()),
            metrics,
            loaded: AtomicBool::new(false),
            reading: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Reads the directory once (its errors are the caller's: exit 2 at start), then
    /// follows its files in a task of its own (`dir{path=…}`); `readiness` says whether
    /// a snapshot is served.
    pub async fn start(self) -> Result<Arc<Self>, LoadError> {
        self.load().await?;
        let source = Arc::new(self);
        let follower = source.clone();
        let span = tracing::info_span!("dir", path = %source.dir.display());
        tokio::spawn(async move { follower.watch().await }.instrument(span));
        Ok(source)
    }

    /// Reads the directory and publishes a snapshot; on error the last one stays.
    pub async fn load(&self) -> Result<(), LoadError> {
        let result = self.read_and_join().await;
        let snapshot = match result {
            Ok(snapshot) => snapshot,
            Err(error) => {
                for source in Source::ALL {
                    self.metrics.health.set_up(source, false);
                }
                return Err(error);
            }
        };
        let now = Timestamp::now();
        self.warnings.report(&snapshot.warnings);
        self.snapshot.set(Arc::new(snapshot));
        for source in Source::ALL {
            self.metrics.health.succeeded(source, unix_seconds(now));
        }
        self.loaded.store(true, Ordering::Relaxed);
        Ok(())
    }

    async fn read_and_join(&self) -> Result<Snapshot, LoadError> {
        if self.reading.swap(true, Ordering::AcqRel) {
            return Err(LoadError::Busy);
        }
        let reading = self.reading.clone();
        let (dir, limits, settings) = (self.dir.clone(), self.limits, self.settings);
        let task = tokio::task::spawn_blocking(move || {
            let result = snapshot_dir::read_dir(&dir, &limits).map(|l| l.join(&settings));
            reading.store(false, Ordering::Release);
            result
        });
        match tokio::time::timeout(READ_TIMEOUT, task).await {
            Ok(Ok(result)) => Ok(result?),
            // The read panicked: a bug, but not one to take the endpoint down with.
            Ok(Err(join_error)) => {
                self.reading.store(false, Ordering::Release);
                Err(LoadError::Dir(SnapshotDirError::Shape {
                    path: self.dir.clone(),
                    detail: format!("reading failed: {join_error}"),
                }))
            }
            Err(_) => Err(LoadError::TimedOut),
        }
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
            match self.load().await {
                Ok(()) => {
                    seen = now;
                    tracing::info!(dir = %self.dir.display(), "snapshot directory re-read");
                }
                // Try again at the next check: the file may still be being written.
                Err(LoadError::Busy) => {}
                Err(error) => {
                    seen = now;
                    tracing::warn!(%error, "snapshot directory unreadable; serving the last good one")
                }
            }
        }
    }
}

/// Device, inode, change time (s, ns), modification time (ns) and size.
type FileStamp = (u64, u64, i64, i64, i64, u64);

/// Identity and change time of each file the reader reads (`metadata.json` included).
/// The change time moves on every write and every `touch`, so `cp -p`, `rsync -t` and
/// `tar`, which keep size and modification time, are still noticed; a file replaced by
/// rename has a new inode. `metadata` never opens the file, so a FIFO cannot block it.
fn fingerprint(dir: &Path) -> Vec<Option<FileStamp>> {
    snapshot_dir::DATA_FILES
        .iter()
        .chain([&snapshot_dir::METADATA_FILE])
        .map(|name| {
            let meta = std::fs::metadata(dir.join(name)).ok()?;
            Some((
                meta.dev(),
                meta.ino(),
                meta.ctime(),
                meta.ctime_nsec(),
                meta.mtime_nsec(),
                meta.size(),
            ))
        })
        .collect()
}
