//! An EC2 `DescribeNetworkInterfaces` response body, parsed by the real SDK and
//! converted by the exporter: any body is ENIs or an SDK error, never a panic; every
//! converted ENI has an id, and the join takes them.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::infallible_client_fn;
use libfuzzer_sys::fuzz_target;
use pod_eni_exporter::accounting::{Clock, Settings, reconcile};
use pod_eni_exporter::ec2::eni_from_sdk;
use pod_eni_exporter::model::{Compute, Inventory, NodeInfo};

struct Harness {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_ec2::Client,
    body: Arc<Mutex<Vec<u8>>>,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let body = Arc::new(Mutex::new(Vec::new()));
        let served = body.clone();
        let http = infallible_client_fn(move |_request| {
            let bytes = served.lock().unwrap().clone();
            http::Response::builder()
                .status(200)
                .header("content-type", "text/xml;charset=UTF-8")
                .body(bytes)
                .unwrap()
        });
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("AKID", "secret", None, None, "fuzz"))
            .http_client(http)
            .build();
        Harness {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: aws_sdk_ec2::Client::from_conf(config),
            body,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let harness = harness();
    *harness.body.lock().unwrap() = data.to_vec();
    let Ok(output) = harness
        .runtime
        .block_on(harness.client.describe_network_interfaces().send())
    else {
        return;
    };
    let enis: Vec<_> = output
        .network_interfaces()
        .iter()
        .filter_map(eni_from_sdk)
        .collect();
    let inventory = Inventory {
        enis,
        subnets: Vec::new(),
    };
    // The node the seed corpus's trunk is attached to, so branches are placed.
    let node = NodeInfo {
        name: "node-1".into(),
        compute: Compute::Ec2 {
            instance_id: "i-1".into(),
        },
        instance_type: Some("m5a.xlarge".into()),
        zone: None,
        allocatable_pod_eni: Ok(Some(18)),
        os: Some("linux".into()),
        nodegroup: None,
        unschedulable: false,
    };
    let snapshot = reconcile(
        [&node],
        [],
        &inventory,
        Clock::at(jiff::Timestamp::UNIX_EPOCH),
        None,
        &Settings::default(),
    );
    // Every placed branch is in exactly one state, and none is in use (no pods).
    for report in &snapshot.nodes {
        let states = report.branch_enis;
        assert_eq!(states.in_use, 0);
        let held = snapshot
            .holders
            .iter()
            .filter(|h| h.node == report.name)
            .count();
        assert_eq!(held as u64, u64::from(states.attached()));
    }
});
