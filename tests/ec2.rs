//! The EC2 adapter with the real `aws-sdk-ec2` client: against moto for the query and
//! the conversion, against a stub for what moto cannot do (pagination, throttling).

mod support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use pod_eni_exporter::ec2::{Ec2Poller, Ec2Settings};
use pod_eni_exporter::metrics::{self, Metrics, SharedSnapshot};
use pod_eni_exporter::model::{Association, EniRole};
use tokio::net::TcpListener;

use support::apiserver::FakeApiServer;
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
    assert!(
        branches
            .iter()
            .all(|b| b.trunk_eni_tag.is_some() && b.vlan_id_tag.is_some())
    );

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

/// An EC2 stand-in speaking the query protocol: pages with NextToken, or throttling.
#[derive(Clone, Default)]
struct Stub {
    requests: Arc<Mutex<Vec<HashMap<String, String>>>>,
    throttle: bool,
}

const ENI_PAGES: usize = 3;
const SUBNET_PAGES: usize = 2;

impl Stub {
    async fn start(self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let stub = self.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let stub = stub.clone();
                        async move { Ok::<_, Infallible>(stub.respond(request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        format!("http://{address}")
    }

    async fn respond(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
        self.requests.lock().unwrap().push(form.clone());
        if self.throttle {
            let xml = "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>";
            let mut response = Response::new(Full::new(Bytes::from(xml)));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return response;
        }
        let page: usize = form
            .get("NextToken")
            .and_then(|t| t.strip_prefix("page-"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let xml = match form.get("Action").map(String::as_str) {
            Some("DescribeNetworkInterfaces") => {
                let mut items = String::new();
                if page == 1 {
                    items.push_str("<item><networkInterfaceId>eni-trunk</networkInterfaceId><description>aws-k8s-trunk-eni</description><interfaceType>trunk</interfaceType><status>in-use</status><vpcId>vpc-1</vpcId><attachment><instanceId>i-1</instanceId></attachment></item>");
                }
                for i in 0..2 {
                    items.push_str(&format!("<item><networkInterfaceId>eni-p{page}-{i}</networkInterfaceId><description>aws-k8s-branch-eni</description><status>in-use</status><subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId><tagSet><item><key>vpcresources.k8s.aws/trunk-eni-id</key><value>eni-trunk</value></item></tagSet></item>"));
                }
                let next = if page < ENI_PAGES {
                    format!("<nextToken>page-{}</nextToken>", page + 1)
                } else {
                    String::new()
                };
                format!(
                    "<DescribeNetworkInterfacesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId><networkInterfaceSet>{items}</networkInterfaceSet>{next}</DescribeNetworkInterfacesResponse>"
                )
            }
            _ => {
                let next = if page < SUBNET_PAGES {
                    format!("<nextToken>page-{}</nextToken>", page + 1)
                } else {
                    String::new()
                };
                format!(
                    "<DescribeSubnetsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId><subnetSet><item><subnetId>subnet-{page}</subnetId><vpcId>vpc-1</vpcId><cidrBlock>10.0.{page}.0/24</cidrBlock><availableIpAddressCount>200</availableIpAddressCount></item></subnetSet>{next}</DescribeSubnetsResponse>"
                )
            }
        };
        Response::new(Full::new(Bytes::from(xml)))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn follows_every_next_token_with_the_fewest_requests() {
    let stub = Stub::default();
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

    assert_eq!(inventory.enis.len(), 1 + 2 * ENI_PAGES, "every page read");
    assert_eq!(inventory.subnets.len(), SUBNET_PAGES);
    let requests = stub.requests.lock().unwrap().clone();
    assert_eq!(
        requests.len(),
        ENI_PAGES + SUBNET_PAGES,
        "one request per page, nothing else"
    );
    let eni_requests: Vec<_> = requests
        .iter()
        .filter(|r| r["Action"] == "DescribeNetworkInterfaces")
        .collect();
    for (index, request) in eni_requests.iter().enumerate() {
        assert_eq!(request.get("MaxResults").map(String::as_str), Some("1000"));
        let token = request.get("NextToken").cloned();
        assert_eq!(token, (index > 0).then(|| format!("page-{}", index + 1)));
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
            !request.keys().any(|k| request[k] == "interface-type"),
            "never filter on the interface type"
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
        Some(ENI_PAGES as f64)
    );
    // Paced: five requests at 20/s cannot take less than four intervals.
    let floor = std::time::Duration::from_secs_f64(4.0 / rate);
    assert!(
        elapsed >= floor,
        "5 requests took {elapsed:?}, faster than the pace allows"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_is_retried_counted_and_reported() {
    let stub = Stub {
        throttle: true,
        ..Stub::default()
    };
    let endpoint = stub.clone().start().await;
    let (registry, metrics) = Metrics::new_registry(SharedSnapshot::default());
    let poller = Ec2Poller::new(ec2_client(&endpoint), settings(None), metrics);
    let error = poller.poll().await.expect_err("always throttled");
    assert_eq!(error.code, "RequestLimitExceeded");
    let attempts = stub.requests.lock().unwrap().len();
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
