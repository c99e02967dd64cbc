//! The EC2 adapter with the real `aws-sdk-ec2` client: against moto for the query and
//! the conversion, against a stub for what moto cannot do (pagination, throttling).

mod support;

use std::time::Instant;

use pod_eni_exporter::ec2::{Ec2Poller, Ec2Settings};
use pod_eni_exporter::metrics::{self, Metrics, SharedSnapshot};
use pod_eni_exporter::model::{Association, EniRole};

use support::apiserver::FakeApiServer;
use support::ec2_stub::Ec2Stub;
use support::moto::{Moto, ec2_client};
use support::world::{CLUSTER, build_incident};

fn settings(vpc_id: Option<String>) -> Ec2Settings {
    Ec2Settings {
        cluster_name: CLUSTER.into(),
        vpc_id,
        max_requests_per_second: 50.0,
    }
}

fn exposition(registry: &prometheus_client::registry::Registry) -> String {
    metrics::render(registry, false).0
}

#[tokio::test(flavor = "multi_thread")]
async fn polls_the_cluster_enis_and_subnets_from_moto() {
    let moto = Moto::start();
    let api = FakeApiServer::start().await;
    let client = ec2_client(&moto.endpoint());
    let world = build_incident(&client, &api).await;

    let (registry, metrics) = Metrics::new_registry(SharedSnapshot::default());
    let poller = Ec2Poller::new(client, settings(None), metrics);
    let inventory = poller.poll().await.expect("poll succeeds");

    let ids: Vec<&str> = inventory.enis.iter().map(|e| e.id.as_str()).collect();
    assert!(
        !ids.contains(&world.other_cluster_eni.as_str()),
        "another cluster's ENI is filtered out"
    );
    let trunks = inventory
        .enis
        .iter()
        .filter(|e| e.role() == EniRole::Trunk)
        .count();
    let branches: Vec<_> = inventory
        .enis
        .iter()
        .filter(|e| e.role() == EniRole::Branch)
        .collect();
    assert_eq!(trunks, 2);
    assert_eq!(branches.len(), 13 + 3 + 2 + 4 + 1);
    let detached: Vec<&str> = branches
        .iter()
        .filter(|e| e.association() == Association::Detached)
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(detached, vec![world.detached_eni.as_str()]);
    assert!(
        inventory
            .enis
            .iter()
            .filter(|e| e.role() == EniRole::Trunk)
            .all(|t| t
                .attached_instance_id
                .as_deref()
                .is_some_and(|i| i.starts_with("i-"))),
        "trunks carry their instance"
    );
    assert!(branches.iter().all(|b| b.trunk_eni_tag.is_some()));

    let mut subnet_ids: Vec<&str> = inventory.subnets.iter().map(|s| s.id.as_str()).collect();
    subnet_ids.sort();
    let mut want = world.subnet_ids.clone();
    want.sort();
    assert_eq!(subnet_ids, want);
    assert!(inventory.subnets.iter().all(|s| {
        s.name
            .as_deref()
            .is_some_and(|n| n.starts_with("prod-eu-private-"))
    }));
    assert!(
        inventory
            .subnets
            .iter()
            .all(|s| s.available_ip_addresses > 8000)
    );

    let text = exposition(&registry);
    let requests = |op: &str| {
        support::sample(
            &text,
            &format!("podeni_ec2_requests_total{{operation=\"{op}\"}}"),
        )
    };
    assert_eq!(requests("DescribeNetworkInterfaces"), Some(1.0));
    assert_eq!(requests("DescribeSubnets"), Some(1.0));
    assert_eq!(
        support::sample(&text, "podeni_ec2_poll_duration_seconds_count"),
        Some(1.0)
    );

    // Restricted to another VPC: nothing of ours.
    let (_, metrics) = Metrics::new_registry(SharedSnapshot::default());
    let other_vpc = Ec2Poller::new(
        ec2_client(&moto.endpoint()),
        settings(Some("vpc-00000000".into())),
        metrics,
    );
    assert!(other_vpc.poll().await.expect("poll").enis.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_ec2_is_a_network_error() {
    let closed = support::moto::free_port();
    let (registry, metrics) = Metrics::new_registry(SharedSnapshot::default());
    let poller = Ec2Poller::new(
        ec2_client(&format!("http://127.0.0.1:{closed}")),
        settings(None),
        metrics,
    );
    let error = poller.poll().await.expect_err("nothing listens there");
    assert_eq!(error.code, "network");
    assert_eq!(error.operation, "DescribeNetworkInterfaces");
    let text = exposition(&registry);
    assert_eq!(
        support::sample(
            &text,
            "podeni_ec2_request_errors_total{operation=\"DescribeNetworkInterfaces\",code=\"network\"}"
        ),
        Some(1.0)
    );
}

/// moto ignores `MaxResults` and `NextToken`; the stub honours them.
#[tokio::test(flavor = "multi_thread")]
async fn follows_every_next_token_with_the_fewest_requests() {
    const BRANCHES: usize = 2_500;
    const SUBNETS: usize = 1_200;
    let stub = Ec2Stub::new(BRANCHES, SUBNETS);
    let endpoint = stub.clone().start().await;
    let (registry, metrics) = Metrics::new_registry(SharedSnapshot::default());
    let rate = 20.0;
    let poller = Ec2Poller::new(
        ec2_client(&endpoint),
        Ec2Settings {
            cluster_name: CLUSTER.into(),
            vpc_id: None,
            max_requests_per_second: rate,
        },
        metrics,
    );
    let started = Instant::now();
    let inventory = poller.poll().await.expect("poll");
    let elapsed = started.elapsed();

    assert_eq!(inventory.enis.len(), 1 + BRANCHES, "every page read");
    assert_eq!(inventory.subnets.len(), SUBNETS);
    let requests = stub.requests.lock().unwrap().clone();
    let pages = |items: usize| items.div_ceil(1000);
    assert_eq!(
        requests.len(),
        pages(1 + BRANCHES) + pages(SUBNETS),
        "one request per page of 1000, nothing else"
    );
    let eni_requests: Vec<_> = requests
        .iter()
        .filter(|r| r["Action"] == "DescribeNetworkInterfaces")
        .collect();
    for (index, request) in eni_requests.iter().enumerate() {
        assert_eq!(request.get("MaxResults").map(String::as_str), Some("1000"));
        let token = request.get("NextToken").cloned();
        assert_eq!(token, (index > 0).then(|| format!("from-{}", index * 1000)));
        let filters: Vec<(&str, &str)> = (1..=2)
            .map(|i| {
                (
                    request[&format!("Filter.{i}.Name")].as_str(),
                    request[&format!("Filter.{i}.Value.1")].as_str(),
                )
            })
            .collect();
        assert_eq!(
            filters,
            vec![
                ("tag:kubernetes.io/cluster/prod-eu", "owned"),
                ("tag:eks:eni:owner", "eks-vpc-resource-controller")
            ]
        );
        assert!(
            !request.contains_key("Filter.3.Name"),
            "no interface-type filter: unassociated branches lack it"
        );
    }
    let subnet_request = requests
        .iter()
        .find(|r| r["Action"] == "DescribeSubnets")
        .unwrap();
    assert_eq!(subnet_request["Filter.1.Name"], "vpc-id");
    assert_eq!(
        subnet_request["Filter.1.Value.1"], "vpc-1",
        "the VPC of the trunks"
    );

    let text = exposition(&registry);
    assert_eq!(
        support::sample(
            &text,
            "podeni_ec2_requests_total{operation=\"DescribeNetworkInterfaces\"}"
        ),
        Some(pages(1 + BRANCHES) as f64)
    );
    // The first poll may burst (the exporter is not ready before it); every later one
    // is paced: n requests at 20/s cannot take less than n - 1 intervals.
    let first_poll = elapsed;
    let started = Instant::now();
    poller.poll().await.expect("second poll");
    let elapsed = started.elapsed();
    let floor = std::time::Duration::from_secs_f64((requests.len() - 1) as f64 / rate);
    assert!(
        elapsed >= floor,
        "{} requests took {elapsed:?}, faster than the pace allows (first poll: {first_poll:?})",
        requests.len()
    );
}

/// At one request every 2 s, the first poll's two requests go at once (the exporter is
/// not ready before that poll); the next poll's two are a full interval apart.
#[tokio::test(flavor = "multi_thread")]
async fn only_the_first_poll_bursts() {
    let stub = Ec2Stub::new(3, 1);
    let endpoint = stub.clone().start().await;
    let poller = Ec2Poller::new(
        ec2_client(&endpoint),
        Ec2Settings {
            max_requests_per_second: 0.5,
            ..settings(None)
        },
        Metrics::default(),
    );
    let started = Instant::now();
    poller.poll().await.expect("first poll");
    let first = started.elapsed();
    assert_eq!(stub.request_count(), 2, "one page of ENIs, one of subnets");
    assert!(
        first < std::time::Duration::from_millis(1500),
        "the first poll waited for the pace: {first:?}"
    );
    let started = Instant::now();
    poller.poll().await.expect("second poll");
    let second = started.elapsed();
    assert!(
        second >= std::time::Duration::from_secs(2),
        "the second poll's requests were not paced: {second:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_is_retried_counted_and_reported() {
    let stub = Ec2Stub {
        throttle: true,
        ..Ec2Stub::default()
    };
    let endpoint = stub.clone().start().await;
    let (registry, metrics) = Metrics::new_registry(SharedSnapshot::default());
    let poller = Ec2Poller::new(ec2_client(&endpoint), settings(None), metrics);
    let error = poller.poll().await.expect_err("always throttled");
    assert_eq!(error.code, "RequestLimitExceeded");
    let attempts = stub.request_count();
    assert!(
        attempts > 1,
        "the SDK retried throttling ({attempts} attempts)"
    );
    let text = exposition(&registry);
    assert_eq!(
        support::sample(
            &text,
            "podeni_ec2_requests_total{operation=\"DescribeNetworkInterfaces\"}"
        ),
        Some(attempts as f64),
        "every attempt counts against the budget"
    );
    assert_eq!(
        support::sample(
            &text,
            "podeni_ec2_request_errors_total{operation=\"DescribeNetworkInterfaces\",code=\"RequestLimitExceeded\"}"
        ),
        Some(1.0)
    );
}
