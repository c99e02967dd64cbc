//! Snapshot directories (DESIGN §6): the four files exactly as `kubectl get … -o json`
//! and `aws ec2 describe-… --output json` print them, read into the model types, and
//! written back in the same shapes by `snapshot --out`.
//!
//! A missing, unreadable or wrongly shaped file is an error naming the file; one bad
//! object inside a good file is a warning, and the rest of the file is still read.

mod awscli;

use std::fs;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Node, Pod};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use awscli::{AwsSubnet, NetworkInterface};

use jiff::Timestamp;

use crate::accounting::{Clock, Settings, Snapshot, reconcile};
use crate::k8s::{node_info, pod_info};
use crate::model::{
    Eni, InputWarning, Inventory, NodeInfo, PodInfo, Subnet, WarningKind, json_kind,
};

pub const NODES_FILE: &str = "nodes.json";
pub const PODS_FILE: &str = "pods.json";
pub const NETWORK_INTERFACES_FILE: &str = "network-interfaces.json";
pub const SUBNETS_FILE: &str = "subnets.json";
/// Written by `snapshot --out`: when the snapshot was taken. Optional.
pub const METADATA_FILE: &str = "metadata.json";
/// The four files every snapshot directory holds.
pub const DATA_FILES: [&str; 4] = [NODES_FILE, PODS_FILE, NETWORK_INTERFACES_FILE, SUBNETS_FILE];

/// Where the time a snapshot was taken comes from: ages are measured to it, never to
/// the wall clock, so an old snapshot reads as it did when it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservedFrom {
    /// Read from the live APIs just now.
    Live,
    /// `capturedAt` in `metadata.json`.
    Metadata,
    /// No `metadata.json`: the newest modification time of the four files.
    FileTimes,
}

impl ObservedFrom {
    pub fn describe(self) -> &'static str {
        match self {
            ObservedFrom::Live => "read from the live APIs",
            ObservedFrom::Metadata => "the snapshot's capture time from metadata.json",
            ObservedFrom::FileTimes => {
                "the newest modification time of the snapshot files (no metadata.json)"
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ObservedFrom::Live => "live",
            ObservedFrom::Metadata => "metadata",
            ObservedFrom::FileTimes => "file-times",
        }
    }
}

/// When the objects were observed, and how that is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub at: Timestamp,
    pub from: ObservedFrom,
}

/// The contents of `metadata.json`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    captured_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    written_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotDirError {
    #[error(
        "{path}: file not found (a snapshot directory holds {NODES_FILE}, {PODS_FILE}, {NETWORK_INTERFACES_FILE} and {SUBNETS_FILE})"
    )]
    Missing { path: PathBuf },
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not valid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {detail}")]
    Shape { path: PathBuf, detail: String },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
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
    /// Converts Kubernetes objects as the watchers do: pods that neither request nor
    /// name a branch ENI are dropped.
    pub fn from_objects(
        nodes: &[Node],
        pods: &[Pod],
        inventory: Inventory,
        warnings: Vec<InputWarning>,
        observed: Observed,
    ) -> Self {
        Self {
            observed,
            nodes: nodes.iter().map(node_info).collect(),
            pods: pods
                .iter()
                .map(pod_info)
                .filter(PodInfo::is_relevant)
                .collect(),
            inventory,
            warnings,
        }
    }

    /// Joins this single observation at its own time (no previous result, so the age of
    /// an ENI named by no pod is unknown), with the problems found while reading added to
    /// the join's own warnings.
    pub fn join(self, settings: &Settings) -> Snapshot {
        let mut snapshot = reconcile(
            &self.nodes,
            &self.pods,
            &self.inventory,
            Clock::at(self.observed.at),
            None,
            settings,
        );
        snapshot.add_input_warnings(self.warnings);
        snapshot
    }
}

pub fn read_dir(dir: &Path) -> Result<Loaded, SnapshotDirError> {
    let mut warnings = Vec::new();
    let nodes = read_items::<Node>(dir, &NODES, &mut warnings)?;
    let pods = read_items::<Pod>(dir, &PODS, &mut warnings)?;
    let enis = read_items::<NetworkInterface>(dir, &NETWORK_INTERFACES, &mut warnings)?
        .into_iter()
        .map(Eni::from)
        .collect();
    let subnets = read_items::<AwsSubnet>(dir, &SUBNETS, &mut warnings)?
        .into_iter()
        .map(Subnet::from)
        .collect();
    let observed = observed_at(dir)?;
    Ok(Loaded::from_objects(
        &nodes,
        &pods,
        Inventory { enis, subnets },
        warnings,
        observed,
    ))
}

/// The capture time from `metadata.json`, else the newest modification time of the
/// data files (what a hand-made dump has).
fn observed_at(dir: &Path) -> Result<Observed, SnapshotDirError> {
    let path = dir.join(METADATA_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let metadata: Metadata =
                serde_json::from_str(&text).map_err(|source| SnapshotDirError::Json {
                    path: path.clone(),
                    source,
                })?;
            return Ok(Observed {
                at: metadata.captured_at,
                from: ObservedFrom::Metadata,
            });
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(SnapshotDirError::Read { path, source }),
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

/// Reads `{ "<list_key>": [ ... ] }` and decodes each element on its own, so that one
/// odd object costs a warning, not the file.
fn read_items<T: DeserializeOwned>(
    dir: &Path,
    spec: &FileSpec,
    warnings: &mut Vec<InputWarning>,
) -> Result<Vec<T>, SnapshotDirError> {
    let FileSpec {
        name: file,
        list_key,
        id_key,
        produced_by,
    } = *spec;
    let path = &dir.join(file);
    let text = fs::read_to_string(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => SnapshotDirError::Missing {
            path: path.to_owned(),
        },
        _ => SnapshotDirError::Read {
            path: path.to_owned(),
            source,
        },
    })?;
    let document: Value = serde_json::from_str(&text).map_err(|source| SnapshotDirError::Json {
        path: path.to_owned(),
        source,
    })?;
    let items = match document {
        Value::Object(mut fields) => match fields.remove(list_key) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) => Vec::new(),
            Some(_) => return Err(shape(path, format!("\"{list_key}\" is not an array"))),
            // `kubectl get pod NAME -o json` prints one object, not a list.
            None if list_key == "items" && fields.contains_key("metadata") => {
                vec![Value::Object(fields)]
            }
            None => {
                return Err(shape(
                    path,
                    format!("expected an object with \"{list_key}\" as `{produced_by}` prints it"),
                ));
            }
        },
        other => {
            return Err(shape(
                path,
                format!(
                    "expected an object with \"{list_key}\" as `{produced_by}` prints it, found {}",
                    json_kind(&other)
                ),
            ));
        }
    };
    let mut decoded = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let label = item_label(&item, id_key).unwrap_or_else(|| format!("item {index}"));
        match serde_json::from_value::<T>(item) {
            Ok(value) => decoded.push(value),
            Err(error) => warnings.push(InputWarning::new(
                WarningKind::BadObject,
                format!("{file} {label}"),
                error.to_string(),
            )),
        }
    }
    Ok(decoded)
}

fn shape(path: &Path, detail: String) -> SnapshotDirError {
    SnapshotDirError::Shape {
        path: path.to_owned(),
        detail,
    }
}

/// A name for an undecodable object: its Kubernetes name or its EC2 id, if it has one.
fn item_label(item: &Value, id_key: &str) -> Option<String> {
    if let Some(id) = item.get(id_key).and_then(Value::as_str) {
        return Some(id.to_owned());
    }
    let meta = item.get("metadata")?;
    let name = meta.get("name").and_then(Value::as_str)?;
    Some(match meta.get("namespace").and_then(Value::as_str) {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_owned(),
    })
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
    fs::create_dir_all(dir).map_err(|source| SnapshotDirError::Write {
        path: dir.to_owned(),
        source,
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
        fs::write(&path, text).map_err(|source| SnapshotDirError::Write { path, source })?;
    }
    Ok(())
}

/// Serializing these types cannot fail: they hold only strings, numbers and maps.
fn to_value<T: serde::Serialize>(value: T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;
