//! The Kubernetes adapter: the real `kube::Client` and watcher against the fake API
//! server, through a generated kubeconfig.

mod support;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use pod_eni_exporter::k8s::{self, KubeShared};
use pod_eni_exporter::metrics::{self, Metrics, SharedSnapshot};
use pod_eni_exporter::model::PodPhase;
use serde_json::json;

use support::apiserver::{FakeApiServer, Options};
use support::world::{node_json, plain_pod_json, pod_json};
use support::{eventually, sample};

const WAIT: Duration = Duration::from_secs(20);

type Started = (
    FakeApiServer,
    Arc<KubeShared>,
    prometheus_client::registry::Registry,
    tempfile::TempDir,
);

/// Two nodes, seven SGP pods and one plain pod on a server that lists in pages, watched
/// until synced.
async fn started() -> Started {
    started_with(Options::default()).await
}

async fn started_with(options: Options) -> Started {
    let api = FakeApiServer::start_with(options).await;
    api.apply(
        "nodes",
        node_json("node-a", "i-0aaa", "m5a.xlarge", "eu-west-1a", 18),
    );
    api.apply(
        "nodes",
        node_json("node-b", "i-0bbb", "m5.large", "eu-west-1b", 9),
    );
    for i in 0..7 {
        api.apply(
            "pods",
            pod_json(
                &format!("shop/web-{i}"),
                "node-a",
                "Running",
                Some(&format!("eni-{i}")),
                None,
            ),
        );
    }
    api.apply("pods", plain_pod_json("kube-system/coredns-1", "node-a"));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let client = k8s::client(Some(&kubeconfig))
        .await
        .expect("client from kubeconfig");
    let shared = Arc::new(KubeShared::default());
    let (registry, metrics) = Metrics::new_registry(SharedSnapshot::default());
    tokio::spawn(k8s::run_watchers(client, shared.clone(), metrics));
    eventually("initial sync", WAIT, || {
        shared.cache().is_synced().then_some(())
    })
    .await;
    (api, shared, registry, dir)
}

fn phase_of(shared: &KubeShared, key: &str) -> Option<PodPhase> {
    shared
        .cache()
        .pods
        .values()
        .find(|p| p.key() == key)
        .map(|p| p.phase)
}

#[tokio::test(flavor = "multi_thread")]
async fn syncs_then_follows_changes_caching_only_sgp_pods() {
    let (api, shared, registry, _dir) = started().await;
    {
        let cache = shared.cache();
        assert_eq!(cache.nodes.len(), 2);
        assert_eq!(
            cache.pods.len(),
            7,
            "coredns requests no branch ENI and is not cached"
        );
    }
    let text = metrics::render(&registry, false).0;
    assert_eq!(
        sample(&text, "podeni_kube_objects{resource=\"pods\"}"),
        Some(7.0)
    );

    completes_web_3(&api, &shared).await;
    api.delete("pods", "shop/web-4");
    eventually("pod deletion seen", WAIT, || {
        phase_of(&shared, "shop/web-4").is_none().then_some(())
    })
    .await;
    api.delete("nodes", "node-b");
    eventually("node deletion seen", WAIT, || {
        (shared.cache().nodes.len() == 1).then_some(())
    })
    .await;
    assert!(api.count("watch pods") >= 1);
}

/// `shop/web-3` completes on the server, and the cache sees it.
async fn completes_web_3(api: &FakeApiServer, shared: &KubeShared) {
    api.apply(
        "pods",
        pod_json("shop/web-3", "node-a", "Succeeded", Some("eni-3"), None),
    );
    eventually("pod completion seen", WAIT, || {
        (phase_of(shared, "shop/web-3") == Some(PodPhase::Succeeded)).then_some(())
    })
    .await;
}

/// A server new enough for streaming lists is synced from one watch per resource and no
/// list; one that refuses them (422, the WatchList feature off) is listed in pages. Both
/// are followed the same way afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn streaming_lists_when_offered_pages_when_refused() {
    for streaming_lists in [true, false] {
        let (api, shared, _registry, _dir) = started_with(Options {
            version: Some((1, 33)),
            streaming_lists,
        })
        .await;
        assert_eq!(shared.cache().pods.len(), 7, "streaming {streaming_lists}");
        assert_eq!(shared.cache().nodes.len(), 2, "streaming {streaming_lists}");
        let lists = api.count("list pods") + api.count("list nodes");
        if streaming_lists {
            assert_eq!(lists, 0, "synced from the watches alone");
        } else {
            assert_eq!(lists, 2, "one page each after the refusal");
        }
        completes_web_3(&api, &shared).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_watch_resumes_and_a_gone_version_relists() {
    let (api, shared, _registry, _dir) = started().await;
    let lists_before = api.count("list pods");

    // Dropped mid-stream: the watch resumes from its resourceVersion, no re-list,
    // and what changed meanwhile is replayed.
    api.drop_watches();
    api.apply(
        "pods",
        pod_json("shop/web-1", "node-a", "Failed", Some("eni-1"), None),
    );
    eventually("change during the gap", WAIT, || {
        (phase_of(&shared, "shop/web-1") == Some(PodPhase::Failed)).then_some(())
    })
    .await;
    assert_eq!(
        api.count("list pods"),
        lists_before,
        "resumed without a re-list"
    );

    // Changes while the watcher is away, then the history is compacted: resuming
    // gets 410 Gone and the watcher re-lists.
    api.set_unavailable(true);
    api.apply(
        "pods",
        pod_json("shop/web-9", "node-a", "Running", Some("eni-9"), None),
    );
    api.delete("pods", "shop/web-0");
    api.compact();
    api.set_unavailable(false);
    eventually("re-list after 410", WAIT, || {
        (api.count("list pods") > lists_before).then_some(())
    })
    .await;
    eventually("state after re-list", WAIT, || {
        (phase_of(&shared, "shop/web-9") == Some(PodPhase::Running)
            && phase_of(&shared, "shop/web-0").is_none())
        .then_some(())
    })
    .await;
    assert_eq!(shared.cache().pods.len(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undecodable_object_is_counted_and_the_rest_still_flows() {
    let (api, shared, registry, _dir) = started().await;
    api.apply(
        "pods",
        json!({
            "metadata": {"name": "broken", "namespace": "shop"},
            "spec": {"containers": "not a list"}
        }),
    );
    eventually("bad object counted", WAIT, || {
        let text = metrics::render(&registry, false).0;
        (sample(&text, "podeni_input_warnings_total{kind=\"bad_object\"}") == Some(1.0))
            .then_some(())
    })
    .await;
    api.apply(
        "pods",
        pod_json("shop/web-2", "node-a", "Succeeded", Some("eni-2"), None),
    );
    eventually("later change still seen", WAIT, || {
        (phase_of(&shared, "shop/web-2") == Some(PodPhase::Succeeded)).then_some(())
    })
    .await;
    assert_eq!(shared.cache().pods.len(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unavailable_api_server_is_counted_and_freezes_freshness() {
    let (api, shared, registry, _dir) = started().await;
    assert!(shared.is_healthy(Timestamp::now()));
    api.set_unavailable(true);
    eventually("watch errors counted", WAIT, || {
        let text = metrics::render(&registry, false).0;
        (sample(&text, "podeni_kube_watch_errors_total{resource=\"pods\"}").unwrap_or(0.0) >= 1.0)
            .then_some(())
    })
    .await;
    let broken_at = Timestamp::now();
    assert!(!shared.is_healthy(broken_at));
    assert!(
        shared.fresh_until(broken_at) < broken_at,
        "freshness frozen at the failure"
    );
    assert_eq!(shared.cache().pods.len(), 7, "the last good view is kept");

    api.set_unavailable(false);
    api.apply(
        "pods",
        pod_json("shop/web-5", "node-a", "Succeeded", Some("eni-5"), None),
    );
    eventually("recovered", Duration::from_secs(60), || {
        (phase_of(&shared, "shop/web-5") == Some(PodPhase::Succeeded)
            && shared.is_healthy(Timestamp::now()))
        .then_some(())
    })
    .await;
}

/// The one-shot lists behind `snapshot` (whole objects) and live `audit` (compact, as
/// the watchers keep them): paginated, and an undecodable object is a warning, not a
/// failed read.
#[tokio::test(flavor = "multi_thread")]
async fn a_one_shot_list_reads_every_page_and_skips_a_bad_object() {
    let api = FakeApiServer::start().await;
    for i in 0..1_200 {
        api.apply(
            "pods",
            plain_pod_json(&format!("batch/job-{i:04}"), "node-a"),
        );
    }
    api.apply("pods", json!({"metadata": {"name": "broken", "namespace": "shop"}, "spec": {"containers": "not a list"}}));
    api.apply(
        "nodes",
        node_json("node-a", "i-0aaa", "m5a.xlarge", "eu-west-1a", 18),
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let client = k8s::client(Some(&kubeconfig)).await.unwrap();
    let listed = k8s::list_all(&client).await.expect("list succeeds");
    assert_eq!(
        listed.pods.len(),
        1_200,
        "every page, the bad object left out"
    );
    assert_eq!(listed.nodes.len(), 1);
    assert_eq!(api.count("list pods"), 3, "pages of 500");
    assert_eq!(listed.warnings.len(), 1);
    assert_eq!(listed.warnings[0].object, "pods shop/broken");

    let compact = k8s::list_compact(&client).await.expect("list succeeds");
    assert!(
        compact.pods.is_empty(),
        "pods without a branch ENI are dropped as they arrive"
    );
    assert_eq!(compact.nodes.len(), 1);
    assert_eq!(compact.nodes[0].name, "node-a");
    assert_eq!(api.count("list pods"), 6, "pages of 500 again");
    assert_eq!(compact.warnings.len(), 1);
    assert_eq!(compact.warnings[0].object, "pods shop/broken");
}
