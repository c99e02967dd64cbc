//! Reading every node and pod once (a live `audit`, `snapshot`), a page at a time,
//! with the watchers' decoding: an object that does not decode is a warning, not a
//! failed read.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::core::{ApiResource, DeserializeGuard, DynamicObject};
use serde::de::DeserializeOwned;

use super::convert::pod_info;
use super::shared::Resource;
use super::watched::{Kind, Watched};
use super::wire;
use crate::model::{InputWarning, NodeInfo, PodInfo, WarningKind};

/// List page size: bounds the memory a re-list of 150,000 pods needs at once.
pub(super) const LIST_PAGE_SIZE: u32 = 500;

/// Every node and pod as the API returns them, read once, and the objects that could
/// not be decoded: what `snapshot` writes out.
pub struct Listed {
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub warnings: Vec<InputWarning>,
}

/// Every node and pod read once, reduced as the watchers reduce them (the same decode
/// path, pods without a branch ENI dropped as they arrive): what a live `audit` joins.
pub struct Compact {
    pub nodes: Vec<NodeInfo>,
    pub pods: Vec<PodInfo>,
    pub warnings: Vec<InputWarning>,
}

/// Reads every node and pod once, whole, for `snapshot`. As in the watcher, an
/// undecodable object becomes a warning instead of failing the read.
pub async fn list_all(client: &kube::Client) -> Result<Listed, kube::Error> {
    let mut warnings = Vec::new();
    let nodes = list_whole(Api::all(client.clone()), Resource::Nodes, &mut warnings).await?;
    let pods = list_whole(Api::all(client.clone()), Resource::Pods, &mut warnings).await?;
    Ok(Listed {
        nodes,
        pods,
        warnings,
    })
}

/// Reads every node and pod once into their compact forms, for a live `audit`.
pub async fn list_compact(client: &kube::Client) -> Result<Compact, kube::Error> {
    let mut warnings = Vec::new();
    let nodes = list_kind(Api::all(client.clone()), Resource::Nodes, &mut warnings).await?;
    let pods = list_kind(Api::all(client.clone()), Resource::Pods, &mut warnings).await?;
    Ok(Compact {
        nodes,
        pods,
        warnings,
    })
}

/// One pod by name, whatever it requests (a live `kubectl pod-eni why`, which must say
/// a pod uses no security group rather than call it unknown); `None` when it does not
/// exist.
pub async fn get_pod(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<PodInfo>, kube::Error> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &ApiResource::erase::<Pod>(&()));
    let Some(object) = api.get_opt(name).await? else {
        return Ok(None);
    };
    let pod: wire::Pod = serde_json::to_value(object)
        .and_then(serde_json::from_value)
        .map_err(kube::Error::SerdeError)?;
    Ok(Some(pod_info(&pod)))
}

async fn list_whole<K>(
    api: Api<DeserializeGuard<K>>,
    resource: Resource,
    warnings: &mut Vec<InputWarning>,
) -> Result<Vec<K>, kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut items = Vec::new();
    list_pages(api, |guard: DeserializeGuard<K>| match guard.0 {
        Ok(object) => items.push(object),
        Err(invalid) => warnings.push(bad_object(
            resource,
            format!(
                "{}/{}",
                invalid.metadata.namespace.unwrap_or_default(),
                invalid.metadata.name.unwrap_or_default()
            ),
            invalid.error,
        )),
    })
    .await?;
    Ok(items)
}

async fn list_kind<V: Kind>(
    api: Api<Watched<V>>,
    resource: Resource,
    warnings: &mut Vec<InputWarning>,
) -> Result<Vec<V>, kube::Error> {
    let mut items = Vec::new();
    list_pages(api, |object: Watched<V>| {
        let key = object.key();
        match object.decoded {
            Ok(value) => items.extend(value),
            Err(error) => warnings.push(bad_object(resource, key, error)),
        }
    })
    .await?;
    Ok(items)
}

fn bad_object(resource: Resource, key: String, error: String) -> InputWarning {
    InputWarning::new(
        WarningKind::BadObject,
        format!("{} {key}", resource.as_str()),
        error,
    )
}

/// Every object, a page of [`LIST_PAGE_SIZE`] at a time, each handed to `each`.
async fn list_pages<K>(api: Api<K>, mut each: impl FnMut(K)) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut params = kube::api::ListParams::default().limit(LIST_PAGE_SIZE);
    loop {
        let page = api.list(&params).await?;
        page.items.into_iter().for_each(&mut each);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(()),
        }
    }
}
