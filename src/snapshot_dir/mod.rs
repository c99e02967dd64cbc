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

use crate::accounting::{Settings, Snapshot, reconcile};
use crate::k8s::{node_info, pod_info};
use crate::model::{
    Eni, InputWarning, Inventory, NodeInfo, PodInfo, Subnet, WarningKind, json_kind,
};

pub const NODES_FILE: &str = "nodes.json";
pub const PODS_FILE: &str = "pods.json";
pub const NETWORK_INTERFACES_FILE: &str = "network-interfaces.json";
pub const SUBNETS_FILE: &str = "subnets.json";

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
#[derive(Debug, Default)]
pub struct Loaded {
    pub nodes: Vec<NodeInfo>,
    pub pods: Vec<PodInfo>,
    pub inventory: Inventory,
    pub warnings: Vec<InputWarning>,
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
    ) -> Self {
        Self {
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

    /// Joins this single observation (no previous result, so no ENI ages), with the
    /// problems found while reading added to the join's own warnings.
    pub fn join(self, now: Timestamp, settings: &Settings) -> Snapshot {
        let mut snapshot = reconcile(
            &self.nodes,
            &self.pods,
            &self.inventory,
            now,
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
    Ok(Loaded::from_objects(
        &nodes,
        &pods,
        Inventory { enis, subnets },
        warnings,
    ))
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
