//! The Kubernetes client the exporter uses: from `--kubeconfig` or the usual inference,
//! without kube's own request retries (the watchers retry, and an outage must show).

use kube::Client;

/// A client from `--kubeconfig`, else the usual inference (KUBECONFIG, ~/.kube/config,
/// in-cluster service account).
pub async fn client(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<Client> {
    let mut config = match kubeconfig {
        Some(path) => {
            // Read here rather than by kube, whose message quotes the path twice and
            // repeats the cause.
            use anyhow::Context;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            let kubeconfig = kube::config::Kubeconfig::from_yaml(&text)
                .with_context(|| format!("kubeconfig {} is not valid", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    // kube retries a failing request up to 15 times (minutes) before the watcher sees
    // an error. An outage must surface at once: while the cache is stale, ages must
    // freeze (new pods' ENIs would otherwise look orphaned, then leaked). The
    // watcher's own backoff does the retrying.
    config.default_retry = false;
    Ok(Client::try_from(config)?)
}
