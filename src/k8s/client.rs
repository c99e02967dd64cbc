//! The Kubernetes client the exporter uses: from `--kubeconfig` or the usual inference,
//! without kube's own request retries (the watchers retry, and an outage must show).

use anyhow::Context;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// A client from `--kubeconfig`, else the usual inference (KUBECONFIG, ~/.kube/config,
/// in-cluster service account).
pub async fn client(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<Client> {
    match kubeconfig {
        Some(path) => client_from(read_kubeconfig(path)?, None).await,
        None => without_retries(kube::Config::infer().await?),
    }
}

/// A kubeconfig file, read here rather than by kube, whose message quotes the path
/// twice and repeats the cause.
pub fn read_kubeconfig(path: &std::path::Path) -> anyhow::Result<Kubeconfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
    Kubeconfig::from_yaml(&text)
        .with_context(|| format!("kubeconfig {} is not valid", path.display()))
}

/// A client for `context` of `kubeconfig` (its current context when `None`).
pub async fn client_from(kubeconfig: Kubeconfig, context: Option<&str>) -> anyhow::Result<Client> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .with_context(|| match context {
            Some(context) => format!("cannot use kubeconfig context {context:?}"),
            None => "cannot use the kubeconfig's current context".to_owned(),
        })?;
    without_retries(config)
}

/// kube retries a failing request up to 15 times (minutes) before the watcher sees an
/// error. An outage must surface at once: while the cache is stale, ages must freeze
/// (new pods' ENIs would otherwise look orphaned, then leaked). The watcher's own
/// backoff does the retrying.
fn without_retries(mut config: kube::Config) -> anyhow::Result<Client> {
    config.default_retry = false;
    Ok(Client::try_from(config)?)
}
