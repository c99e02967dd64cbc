//! What the watchers receive: each pod or node reduced to its compact model while it is
//! decoded, straight from the response text.
//!
//! kube decodes list pages and watch lines with `serde_json::from_str`, so an object
//! arrives here as a borrowed slice of that text: it is decoded once into the
//! [`wire`](super::wire) form, converted, and nothing else of it is ever built. One
//! object that does not decode costs a warning, never the page or the watch: its
//! identity is read leniently and the error travels with it.

use std::borrow::Cow;
use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::value::RawValue;

use super::convert::{node_info, pod_info};
use super::wire;
use crate::model::{Keyed, NodeInfo, PodInfo, key_string};

/// A kind of object the exporter watches, and how it becomes its compact form.
pub trait Kind: Clone + Debug + PartialEq + Keyed + Send + Sync + 'static {
    const KIND: &'static str;
    const PLURAL: &'static str;
    type Wire: DeserializeOwned;
    /// The compact form, or `None` when the object is not worth keeping.
    fn from_wire(wire: &Self::Wire) -> Option<Self>;
    /// Name, namespace and resourceVersion, moved out of the wire form once it has been
    /// converted: what kube's watcher and the cache key read.
    fn identity(wire: Self::Wire) -> ObjectMeta;
}

impl Kind for PodInfo {
    const KIND: &'static str = "Pod";
    const PLURAL: &'static str = "pods";
    type Wire = wire::Pod;
    /// Only pods that ask for or name a branch ENI are kept.
    fn from_wire(pod: &wire::Pod) -> Option<Self> {
        Some(pod_info(pod)).filter(PodInfo::is_relevant)
    }
    fn identity(pod: wire::Pod) -> ObjectMeta {
        let meta = pod.metadata.unwrap_or_default();
        ObjectMeta {
            name: meta.name,
            namespace: meta.namespace.map(String::from),
            resource_version: meta.resource_version,
            ..ObjectMeta::default()
        }
    }
}

impl Kind for NodeInfo {
    const KIND: &'static str = "Node";
    const PLURAL: &'static str = "nodes";
    type Wire = wire::Node;
    fn from_wire(node: &wire::Node) -> Option<Self> {
        Some(node_info(node))
    }
    fn identity(node: wire::Node) -> ObjectMeta {
        let meta = node.metadata.unwrap_or_default();
        ObjectMeta {
            name: meta.name,
            resource_version: meta.resource_version,
            ..ObjectMeta::default()
        }
    }
}

/// One watched object: its identity (what kube's watcher and the cache key need) and
/// its compact form, `Ok(None)` when not kept, `Err` when it did not decode.
#[derive(Debug, Clone)]
pub struct Watched<T> {
    meta: ObjectMeta,
    pub decoded: Result<Option<T>, String>,
}

impl<T> Watched<T> {
    /// Namespace (empty for cluster-scoped objects) and name: the cache key.
    pub fn key_parts(&self) -> (&str, &str) {
        let name = self.meta.name.as_deref().unwrap_or_default();
        (self.meta.namespace.as_deref().unwrap_or_default(), name)
    }

    /// `namespace/name` for namespaced objects, else the name: what reports name it by.
    pub fn key(&self) -> String {
        key_string(self.key_parts())
    }
}

impl<T: Kind> Watched<T> {
    pub fn decode(json: &str) -> Self {
        match serde_json::from_str::<T::Wire>(json) {
            Ok(wire) => Self {
                decoded: Ok(T::from_wire(&wire)),
                meta: T::identity(wire),
            },
            Err(error) => {
                // The identity alone, leniently, to name the object in the warning and
                // keep the watcher's resourceVersion moving.
                let identity = serde_json::from_str::<Identity>(json).unwrap_or_default();
                Self {
                    meta: identity.metadata.unwrap_or_default().into_meta(),
                    decoded: Err(error.to_string()),
                }
            }
        }
    }
}

impl<'de, T: Kind> Deserialize<'de> for Watched<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(deserializer)?;
        Ok(Self::decode(raw.get()))
    }
}

#[derive(Debug, Default, Deserialize)]
struct Identity {
    metadata: Option<IdentityMeta>,
}

/// The fields kube's watcher reads from any object, as plain strings; anything odd
/// there reads as absent rather than failing.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityMeta {
    #[serde(default, deserialize_with = "lenient")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    namespace: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    resource_version: Option<String>,
}

impl IdentityMeta {
    fn into_meta(self) -> ObjectMeta {
        ObjectMeta {
            name: self.name,
            namespace: self.namespace,
            resource_version: self.resource_version,
            ..ObjectMeta::default()
        }
    }
}

/// A string, or `None` for any other JSON value.
fn lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Some(text),
        _ => None,
    })
}

impl<T: Kind> kube::Resource for Watched<T> {
    type DynamicType = ();
    type Scope = k8s_openapi::ClusterResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        T::KIND.into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        T::PLURAL.into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.meta
    }
}
