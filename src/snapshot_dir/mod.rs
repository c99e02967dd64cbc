//! Snapshot directories (DESIGN §6): the four files exactly as `kubectl get … -o json`
//! and `aws ec2 describe-… --output json` print them, read into the model types, and
//! written back in the same shapes by `snapshot --out`.
//!
//! A missing, unreadable or wrongly shaped file is an error naming the file; one bad
//! object inside a good file is a warning, and the rest of the file is still read.

mod awscli;
mod items;

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::Value;

use items::read_items;

pub use awscli::{AwsSubnet, NetworkInterface};

use jiff::Timestamp;

use crate::accounting::{Clock, Settings, Snapshot, reconcile};
use crate::k8s::{node_info, pod_info, wire};
use crate::model::{Eni, InputWarning, Inventory, NodeInfo, PodInfo, Subnet};
use crate::regular_file::{self, OpenError};

pub const NODES_FILE: &str = "nodes.json";
pub const PODS_FILE: &str = "pods.json";
pub const NETWORK_INTERFACES_FILE: &str = "network-interfaces.json";
pub const SUBNETS_FILE: &str = "subnets.json";
/// Written by `snapshot --out`: when the snapshot was taken. Optional.
pub const METADATA_FILE: &str = "metadata.json";
/// The four files every snapshot directory holds.
pub const DATA_FILES: [&str; 4] = [NODES_FILE, PODS_FILE, NETWORK_INTERFACES_FILE, SUBNETS_FILE];

use crate::accounting::{Observed, ObservedFrom};

/// The contents of `metadata.json`, as `snapshot --out` writes it.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    captured_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    written_by: Option<String>,
}

/// `capturedAt`, each way it can be wrong named as such.
fn captured_at(path: &Path, metadata: &Value) -> Result<Timestamp, SnapshotDirError> {
    const EXAMPLE: &str = "RFC 3339 with a time zone, e.g. 2026-11-24T09:45:00Z";
    let bad = |detail: String| shape(path, detail);
    let Some(object) = metadata.as_object() else {
        return Err(bad("not a JSON object".to_owned()));
    };
    let Some(field) = object.get("capturedAt") else {
        return Err(bad(format!(
            "no capturedAt (when the snapshot was taken, {EXAMPLE})"
        )));
    };
    let Some(text) = field.as_str() else {
        return Err(bad(format!(
            "capturedAt is {field}, not a time ({EXAMPLE})"
        )));
    };
    text.parse::<Timestamp>().map_err(|error| {
        if text.parse::<jiff::civil::DateTime>().is_ok() {
            bad(format!(
                "capturedAt {text:?} has no time zone: write it as {EXAMPLE}"
            ))
        } else if text.get(..4).is_some_and(|year| year == "9999") {
            bad(format!(
                "capturedAt {text:?} is past the latest time supported (9999-12-30)"
            ))
        } else {
            bad(format!(
                "capturedAt {text:?} is not a time ({EXAMPLE}): {error}"
            ))
        }
    })
}

/// Bounds on what a snapshot reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest file read, in bytes.
    pub max_file_size: u64,
}

/// 2 GiB: a 5,000-node cluster's `pods.json` is a few hundred MB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 2 << 30;

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        }
    }
}

// The causes are part of each message, not `source()`: `{:#}` would print them twice.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotDirError {
    #[error(
        "{path}: file not found (a snapshot directory holds {NODES_FILE}, {PODS_FILE}, {NETWORK_INTERFACES_FILE} and {SUBNETS_FILE})"
    )]
    Missing { path: PathBuf },
    #[error("{path}: cannot read: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: is {kind}; only regular files (or symlinks to them) are read")]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error("{path}: larger than the {limit}-byte limit (--max-file-size)")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path}: not valid JSON: {error}")]
    Json {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("{path}: {detail}")]
    Shape { path: PathBuf, detail: String },
    #[error("{path}: cannot write: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Everything a snapshot directory holds, as model types, plus what was wrong inside.
#[derive(Debug)]
pub struct Loaded {
    pub nodes: Vec<NodeInfo>,
    pub pods: Vec<PodInfo>,
    pub inventory: Inventory,
    pub warnings: Vec<InputWarning>,
    pub observed: Observed,
}

/// One file of a snapshot directory: where its objects sit and how they are named.
struct FileSpec {
    name: &'static str,
    list_key: &'static str,
    /// The field that names an object when it cannot be decoded.
    id_key: &'static str,
    produced_by: &'static str,
}

const NODES: FileSpec = FileSpec {
    name: NODES_FILE,
    list_key: "items",
    id_key: "metadata",
    produced_by: "kubectl get nodes -o json",
};
const PODS: FileSpec = FileSpec {
    name: PODS_FILE,
    list_key: "items",
    id_key: "metadata",
    produced_by: "kubectl get pods -A -o json",
};
const NETWORK_INTERFACES: FileSpec = FileSpec {
    name: NETWORK_INTERFACES_FILE,
    list_key: "NetworkInterfaces",
    id_key: "NetworkInterfaceId",
    produced_by: "aws ec2 describe-network-interfaces --output json",
};
const SUBNETS: FileSpec = FileSpec {
    name: SUBNETS_FILE,
    list_key: "Subnets",
    id_key: "SubnetId",
    produced_by: "aws ec2 describe-subnets --output json",
};

impl Loaded {
    /// Joins this single observation at its own time (no previous result, so the age of
    /// an ENI named by no pod is unknown), with the problems found while reading added to
    /// the join's own warnings.
    pub fn join(&self, settings: &Settings) -> Snapshot {
        let mut snapshot = reconcile(
            &self.nodes,
            &self.pods,
            &self.inventory,
            Clock::at(self.observed.at),
            None,
            settings,
        );
        snapshot.add_input_warnings(self.warnings.iter().cloned());
        snapshot.observed = self.observed;
        snapshot
    }
}

pub fn read_dir(dir: &Path, limits: &ReadLimits) -> Result<Loaded, SnapshotDirError> {
    let mut loaded = Loaded {
        nodes: Vec::new(),
        pods: Vec::new(),
        inventory: Inventory::default(),
        warnings: Vec::new(),
        observed: observed_at(dir, limits)?,
    };
    for name in DATA_FILES {
        let path = dir.join(name);
        decode_into(&mut loaded, &path, || open_regular_file(&path, limits))?;
    }
    Ok(loaded)
}

/// One pod of the directory's `pods.json`, whether or not it has to do with branch ENIs
/// (`read_dir` keeps only those that do): `kubectl pod-eni why` on a pod that uses no
/// security group must say so, not call it unknown.
pub fn find_pod(
    dir: &Path,
    limits: &ReadLimits,
    namespace: &str,
    name: &str,
) -> Result<Option<PodInfo>, SnapshotDirError> {
    let path = dir.join(PODS_FILE);
    let mut ignored = Vec::new();
    let found = read_items(
        &path,
        &PODS,
        || open_regular_file(&path, limits),
        &mut ignored,
        |pod: wire::Pod| {
            let meta = pod.metadata.as_ref();
            let named = meta.and_then(|m| m.namespace.as_deref()) == Some(namespace)
                && meta.and_then(|m| m.name.as_deref()) == Some(name);
            named.then(|| pod_info(&pod))
        },
    )?;
    Ok(found.into_iter().next())
}

/// Decodes one snapshot file's bytes exactly as [`read_dir`] does, into `loaded`. The
/// fuzz targets drive the readers through here.
pub fn decode_file(loaded: &mut Loaded, name: &str, bytes: &[u8]) -> Result<(), SnapshotDirError> {
    decode_into(loaded, Path::new(name), || Ok(bytes))
}

/// Decodes the file named by `path`'s file name, opened (perhaps twice) by `open`.
fn decode_into<R: Read>(
    loaded: &mut Loaded,
    path: &Path,
    open: impl Fn() -> Result<R, SnapshotDirError>,
) -> Result<(), SnapshotDirError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let warnings = &mut loaded.warnings;
    match name {
        NODES_FILE => {
            loaded.nodes = read_items(path, &NODES, open, warnings, |node: wire::Node| {
                Some(node_info(&node))
            })?;
        }
        // Pods that neither request nor name a branch ENI are dropped as they are read,
        // as the watchers drop them: memory follows the pods that matter.
        PODS_FILE => {
            loaded.pods = read_items(path, &PODS, open, warnings, |pod: wire::Pod| {
                Some(pod_info(&pod)).filter(PodInfo::is_relevant)
            })?;
        }
        NETWORK_INTERFACES_FILE => {
            loaded.inventory.enis = read_items(
                path,
                &NETWORK_INTERFACES,
                open,
                warnings,
                |eni: NetworkInterface| Some(Eni::from(eni)),
            )?;
        }
        SUBNETS_FILE => {
            loaded.inventory.subnets =
                read_items(path, &SUBNETS, open, warnings, |subnet: AwsSubnet| {
                    Some(Subnet::from(subnet))
                })?;
        }
        _ => return Err(shape(path, "not one of the snapshot's files".into())),
    }
    Ok(())
}

/// The capture time from `metadata.json`, else the newest modification time of the
/// data files (what a hand-made dump has).
fn observed_at(dir: &Path, limits: &ReadLimits) -> Result<Observed, SnapshotDirError> {
    let path = dir.join(METADATA_FILE);
    match open_regular_file(&path, limits) {
        Ok(reader) => {
            let metadata: Value =
                serde_json::from_reader(reader).map_err(|error| not_json(&path, error))?;
            return Ok(Observed {
                at: captured_at(&path, &metadata)?,
                from: ObservedFrom::Metadata,
            });
        }
        Err(SnapshotDirError::Missing { .. }) => {}
        Err(error) => return Err(error),
    }
    let newest = DATA_FILES
        .iter()
        .filter_map(|name| fs::metadata(dir.join(name)).ok()?.modified().ok())
        .max()
        .and_then(|time| Timestamp::try_from(time).ok())
        .unwrap_or_else(Timestamp::now);
    Ok(Observed {
        at: newest,
        from: ObservedFrom::FileTimes,
    })
}

/// A buffered reader of a regular file (or a symlink to one) within the size limit: a
/// FIFO or a device in place of a snapshot file must not hang the reader or fill memory.
fn open_regular_file(
    path: &Path,
    limits: &ReadLimits,
) -> Result<io::BufReader<io::Take<fs::File>>, SnapshotDirError> {
    let file = regular_file::open(path, limits.max_file_size).map_err(|error| match error {
        OpenError::NotFound => SnapshotDirError::Missing {
            path: path.to_owned(),
        },
        OpenError::Io(error) => SnapshotDirError::Read {
            path: path.to_owned(),
            error,
        },
        OpenError::NotRegular(kind) => SnapshotDirError::NotAFile {
            path: path.to_owned(),
            kind,
        },
        OpenError::TooLarge { .. } => SnapshotDirError::TooLarge {
            path: path.to_owned(),
            limit: limits.max_file_size,
        },
    })?;
    // A file that grows past the limit after the check reads as truncated JSON.
    Ok(io::BufReader::with_capacity(1 << 16, file))
}

/// A JSON error, or, when the file fails at its very start, what the file is instead:
/// the usual ways a dump gets mangled on its way from a terminal to a ticket.
pub(super) fn not_json(path: &Path, error: serde_json::Error) -> SnapshotDirError {
    let at_start = error.line() == 1 && error.column() <= 2;
    let mut head = [0u8; 4];
    let read = if at_start {
        regular_file::open(path, u64::MAX)
            .ok()
            .and_then(|mut file| file.read(&mut head).ok())
            .unwrap_or(0)
    } else {
        0
    };
    let what = match &head[..read] {
        [0xEF, 0xBB, 0xBF, ..] => {
            "starts with a UTF-8 byte-order mark (BOM), which JSON does not allow: save it without one"
        }
        [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..] => {
            "is UTF-16 text (Windows PowerShell's `>` writes it): save it as UTF-8, e.g. with `| Out-File -Encoding utf8`"
        }
        [0x1F, 0x8B, ..] => "is gzip-compressed: decompress it first (gunzip)",
        [_, 0, _, 0] | [0, _, 0, _] => {
            "looks like UTF-16 text without a byte-order mark: save it as UTF-8"
        }
        _ => {
            return SnapshotDirError::Json {
                path: path.to_owned(),
                error,
            };
        }
    };
    shape(path, what.to_owned())
}

fn shape(path: &Path, detail: String) -> SnapshotDirError {
    SnapshotDirError::Shape {
        path: path.to_owned(),
        detail,
    }
}

/// Writes a snapshot directory: the Kubernetes objects as `kubectl get -o json` lists,
/// the inventory in the AWS CLI's shapes.
pub fn write_dir(
    dir: &Path,
    nodes: &[Node],
    pods: &[Pod],
    inventory: &Inventory,
    captured_at: Timestamp,
) -> Result<(), SnapshotDirError> {
    fs::create_dir_all(dir).map_err(|error| SnapshotDirError::Write {
        path: dir.to_owned(),
        error,
    })?;
    let kube_list = |items: Value| {
        serde_json::json!({
            "apiVersion": "v1",
            "items": items,
            "kind": "List",
            "metadata": {"resourceVersion": ""}
        })
    };
    let enis: Vec<NetworkInterface> = inventory.enis.iter().map(NetworkInterface::from).collect();
    let subnets: Vec<AwsSubnet> = inventory.subnets.iter().map(AwsSubnet::from).collect();
    let files = [
        (NODES_FILE, kube_list(to_value(nodes))),
        (PODS_FILE, kube_list(to_value(pods))),
        (
            NETWORK_INTERFACES_FILE,
            serde_json::json!({ "NetworkInterfaces": to_value(&enis) }),
        ),
        (
            SUBNETS_FILE,
            serde_json::json!({ "Subnets": to_value(&subnets) }),
        ),
        (
            METADATA_FILE,
            to_value(Metadata {
                captured_at,
                written_by: Some(format!("pod-eni-exporter {}", env!("CARGO_PKG_VERSION"))),
            }),
        ),
    ];
    for (name, document) in files {
        let path = dir.join(name);
        let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
        text.push('\n');
        fs::write(&path, text).map_err(|error| SnapshotDirError::Write { path, error })?;
    }
    Ok(())
}

/// Serializing these types cannot fail: they hold only strings, numbers and maps.
fn to_value<T: serde::Serialize>(value: T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;
