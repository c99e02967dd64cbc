//! Scale benchmark (DESIGN §10): a synthetic 5,000-node / 150,000-pod / 90,000-branch-ENI /
//! 300-subnet world. Reports the full join's time, the incremental join's (its first
//! publish, a publish after one pod event, after a poll that changed nothing) and the
//! heap it holds, `/metrics` render time and size, the heap held by the compact cluster
//! cache, and EC2 requests per poll.
//!
//! Run: `cargo bench --bench scale` (figures go to BENCHMARKS.md).

#[path = "../tests/support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use pod_eni_exporter::accounting::{Clock, Join, Settings, reconcile};
use pod_eni_exporter::ec2::{Ec2Poller, Ec2Settings};
use pod_eni_exporter::k8s::wire::{Node, Pod};
use pod_eni_exporter::k8s::{ClusterCache, node_info, pod_info};
use pod_eni_exporter::metrics::{self, Metrics, SharedSnapshot};
use pod_eni_exporter::model::{Eni, Inventory, PodInfo, Subnet};
use serde_json::json;

/// Counts live heap bytes, to measure what the cache holds.
struct CountingAllocator;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const NODES: usize = 5_000;
const PODS: usize = 150_000;
const SUBNETS: usize = 300;
/// Per node: 16 running SGP pods, 1 completed pod still holding its ENI, 1 ENI in
/// cool-down: 18 branch ENIs, 90,000 in all. Every tenth node has a pod waiting.
const RUNNING_PER_NODE: usize = 16;

fn node_name(n: usize) -> String {
    format!(
        "ip-10-{}-{}-{}.eu-west-1.compute.internal",
        n / 65536,
        (n / 256) % 256,
        n % 256
    )
}

fn node(n: usize) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": node_name(n), "uid": format!("6f9c2d1e-{n:04x}-4b7a-9c3e-5d2f1a0b8c7d"),
            "labels": {"node.kubernetes.io/instance-type": "m5a.xlarge", "topology.kubernetes.io/zone": "eu-west-1a",
                       "kubernetes.io/hostname": node_name(n), "eks.amazonaws.com/nodegroup": "general"}},
        "spec": {"providerID": format!("aws:///eu-west-1a/i-{n:017x}")},
        "status": {"allocatable": {"cpu": "3920m", "memory": "14967404Ki", "pods": "58", "vpc.amazonaws.com/pod-eni": "18"}}
    }))
    .expect("node")
}

/// A pod as the API server returns it; `eni` makes it an SGP pod.
fn pod(index: usize, node: usize, phase: &str, sgp: bool, eni: Option<&str>) -> Pod {
    let name = format!("app-{}-7d9f8b6c5d-{index:06}", index % 400);
    let mut annotations = json!({"kubectl.kubernetes.io/restartedAt": "2026-11-20T06:00:00Z"});
    if let Some(eni) = eni {
        annotations["vpc.amazonaws.com/pod-eni"] = json!(format!(
            "[{{\"eniId\":\"{eni}\",\"ifAddress\":\"02:1f:aa:bb:cc:dd\",\"privateIp\":\"10.0.3.7\",\"ipv6Addr\":\"\",\"vlanId\":4,\"subnetCidr\":\"10.0.0.0/19\",\"subnetV6Cidr\":\"\",\"associationID\":\"trunk-assoc-0123456789abcdef0\"}}]"
        ));
    }
    let resources = if sgp {
        json!({"limits": {"vpc.amazonaws.com/pod-eni": "1", "memory": "512Mi"}, "requests": {"vpc.amazonaws.com/pod-eni": "1", "cpu": "250m"}})
    } else {
        json!({"limits": {"memory": "512Mi"}, "requests": {"cpu": "250m"}})
    };
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": format!("team-{}", index % 50), "uid": format!("uid-{index}"),
            "creationTimestamp": "2026-11-24T08:00:00Z", "labels": {"app": format!("app-{}", index % 400)},
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("app-{}-7d9f8b6c5d", index % 400), "uid": "x", "controller": true}]},
        "spec": {"nodeName": node_name(node), "containers": [{"name": "app", "image": "registry.example.com/app:1.42.0", "resources": resources}]},
        "status": {"phase": phase, "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-24T08:00:01Z"}]}
    }))
    .expect("pod")
}

fn branch(id: String, node: usize) -> Eni {
    Eni {
        id: id.into(),
        interface_type: Some("branch".into()),
        description: Some("aws-k8s-branch-eni".into()),
        status: Some("in-use".into()),
        subnet_id: Some(format!("subnet-{:017x}", node % SUBNETS).into()),
        vpc_id: Some("vpc-0a3c5e7f9b1d2e4f6".into()),
        availability_zone: Some("eu-west-1a".into()),
        trunk_eni_tag: Some(format!("eni-t{node:016x}").into()),
        ..Eni::default()
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn live_mib() -> f64 {
    LIVE_BYTES.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
}

fn main() {
    // The interner behind `Eni`'s shared values reserves its tables at its first use
    // (virtual memory the process touches only where strings land): measured apart.
    let interner_mib = {
        let start = live_mib();
        ustr::Ustr::from("in-use");
        live_mib() - start
    };
    // The cache, filled the way the watchers fill it: one API object at a time, each
    // converted and dropped at once.
    let before = live_mib();
    let mut cache = ClusterCache::default();
    cache.nodes.init();
    for n in 0..NODES {
        cache
            .nodes
            .init_apply(("", &node_name(n)), Some(node_info(&node(n))));
    }
    cache.nodes.init_done();
    let mut enis = Vec::with_capacity(NODES * 19);
    let mut pod_count = 0;
    cache.pods.init();
    // As the watcher does: convert, keep only what uses branch ENIs, drop the object.
    let add_pod = |cache: &mut ClusterCache, pod: Pod, count: &mut usize| {
        let info = pod_info(&pod);
        let key = (info.namespace.to_string(), info.name.clone());
        cache
            .pods
            .init_apply((&key.0, &key.1), Some(info).filter(PodInfo::is_relevant));
        *count += 1;
    };
    for n in 0..NODES {
        enis.push(Eni {
            id: format!("eni-t{n:016x}").into(),
            interface_type: Some("trunk".into()),
            description: Some("aws-k8s-trunk-eni".into()),
            status: Some("in-use".into()),
            vpc_id: Some("vpc-0a3c5e7f9b1d2e4f6".into()),
            attached_instance_id: Some(format!("i-{n:017x}").into()),
            ..Eni::default()
        });
        for slot in 0..=RUNNING_PER_NODE + 1 {
            let id = format!("eni-{n:08x}{slot:09x}");
            let index = n * 32 + slot;
            if slot < RUNNING_PER_NODE {
                add_pod(
                    &mut cache,
                    pod(index, n, "Running", true, Some(&id)),
                    &mut pod_count,
                );
            } else if slot == RUNNING_PER_NODE {
                add_pod(
                    &mut cache,
                    pod(index, n, "Succeeded", true, Some(&id)),
                    &mut pod_count,
                );
            }
            enis.push(branch(id, n));
        }
        if n % 10 == 0 {
            add_pod(
                &mut cache,
                pod(n * 32 + 30, n, "Pending", true, None),
                &mut pod_count,
            );
        }
    }
    let mut index = NODES * 32;
    while pod_count < PODS {
        add_pod(
            &mut cache,
            pod(index, index % NODES, "Running", false, None),
            &mut pod_count,
        );
        index += 1;
    }
    cache.pods.init_done();
    // The ENIs were built alongside the pods: a copy of them measures their share.
    let enis_mib = {
        let start = live_mib();
        let copy = enis.clone();
        let mib = live_mib() - start;
        drop(copy);
        mib
    };
    let cache_mib = live_mib() - before - enis_mib;
    let branches = enis.len() - NODES;

    let subnets: Vec<Subnet> = (0..SUBNETS)
        .map(|s| Subnet {
            id: format!("subnet-{s:017x}"),
            vpc_id: Some("vpc-0a3c5e7f9b1d2e4f6".into()),
            availability_zone: Some("eu-west-1a".into()),
            availability_zone_id: Some("euw1-az1".into()),
            cidr_block: Some(format!("10.{}.{}.0/22", s / 64, (s % 64) * 4)),
            name: Some(format!("prod-private-{s}")),
            available_ip_addresses: 700,
        })
        .collect();
    let inventory = Arc::new(Inventory { enis, subnets });
    // What the rest of the process holds, measured the same way: one EC2 inventory and
    // one joined snapshot (the live loop keeps one of each, two briefly while replacing).
    let inventory_mib = live_mib() - before - cache_mib;
    debug_assert!(inventory_mib >= enis_mib);

    // Reconcile, carrying the previous result as the loop does.
    let settings = Settings::default();
    let now = Timestamp::now();
    let mut previous = None;
    let mut reconcile_times = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        let snapshot = reconcile(
            cache.nodes.values(),
            cache.pods.values(),
            &inventory,
            Clock::at(now),
            previous.as_ref(),
            &settings,
        );
        reconcile_times.push(started.elapsed());
        previous = Some(snapshot);
    }
    let snapshot = previous.expect("reconciled");
    let snapshot_mib = live_mib() - before - cache_mib - inventory_mib;
    let attached: u32 = snapshot.nodes.iter().map(|n| n.attached()).sum();
    assert_eq!(attached as usize, branches, "every branch placed");

    // The incremental join over the same world: its indexes and slices, measured
    // without the snapshot it publishes (the loop's `SharedSnapshot` holds that).
    let join_start = live_mib();
    let mut join = Join::default();
    let clock = Clock::at(now);
    let started = Instant::now();
    join.replace_nodes(cache.nodes.shared());
    let join_nodes_mib = live_mib() - join_start;
    join.replace_pods(cache.pods.shared());
    let join_pods_mib = live_mib() - join_start - join_nodes_mib;
    join.set_inventory(inventory.clone());
    let published = join.publish(clock, &settings);
    let join_first = started.elapsed();
    // What the first publish added: the views, every node's slice (its report and
    // holders shared with the snapshot, measured while that is still alive) and the
    // carry.
    let join_publish_mib = live_mib() - join_start - join_nodes_mib - join_pods_mib;
    assert_eq!(
        published.nodes, snapshot.nodes,
        "the same figures as the full join"
    );
    drop(published);
    let join_mib = live_mib() - join_start;
    // One pod completing and coming back, published each time; then polls that
    // changed nothing (the same ENIs, newly listed).
    let pod = cache
        .pods
        .shared()
        .into_iter()
        .find(|p| p.node_name.is_some())
        .expect("a pod");
    let mut completed = PodInfo::clone(&pod);
    completed.phase = pod_eni_exporter::model::PodPhase::Succeeded;
    let completed = Arc::new(completed);
    // The second publish is the one every orphan's age becomes known at (a one-time
    // recompute of their nodes); the rounds are timed after it.
    drop(join.publish(clock, &settings));
    let mut event_times = Vec::new();
    for round in 0..21 {
        join.upsert_pod(if round % 2 == 0 {
            completed.clone()
        } else {
            pod.clone()
        });
        let started = Instant::now();
        drop(join.publish(clock, &settings));
        event_times.push(started.elapsed());
    }
    let mut poll_times = Vec::new();
    for _ in 0..5 {
        join.set_inventory(Arc::new(Inventory::clone(&inventory)));
        let started = Instant::now();
        drop(join.publish(clock, &settings));
        poll_times.push(started.elapsed());
    }
    drop(join);

    let shared = SharedSnapshot::default();
    shared.set(Arc::new(snapshot));
    let (registry, _metrics) = Metrics::new_registry(shared.clone());
    let mut render_times = Vec::new();
    let mut body_bytes = 0;
    for _ in 0..7 {
        let started = Instant::now();
        let (body, _) = metrics::render(&registry, false);
        render_times.push(started.elapsed());
        body_bytes = body.len();
    }
    // gzip of that body at the fastest and the default level: (level, ms, KiB).
    let (body, _) = metrics::render(&registry, false);
    let gzip: Vec<(u32, f64, f64)> = [1, 6]
        .into_iter()
        .map(|level| {
            use std::io::Write;
            let mut times = Vec::new();
            let mut size = 0;
            for _ in 0..5 {
                let started = Instant::now();
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
                encoder.write_all(body.as_bytes()).expect("gzip");
                size = encoder.finish().expect("gzip").len();
                times.push(started.elapsed());
            }
            (
                level,
                median(times).as_secs_f64() * 1000.0,
                size as f64 / 1024.0,
            )
        })
        .collect();

    // The status page (`/`) and `/status.json` from the same snapshot: (ms, KiB).
    let current = shared.get().expect("published");
    let timed = |render: &dyn Fn() -> String| {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..7 {
            let started = Instant::now();
            size = render().len();
            times.push(started.elapsed());
        }
        (median(times).as_secs_f64() * 1000.0, size as f64 / 1024.0)
    };
    let page =
        timed(&|| pod_eni_exporter::report::status_page::render(Some(&current), &[], None, None));
    let status_json = timed(&|| pod_eni_exporter::report::render_json(&current, None));

    // One poll of 90,000 branch ENIs (plus a trunk) and 300 subnets against the stub.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (requests, listed, poll_time) = runtime.block_on(async {
        let stub = support::ec2_stub::Ec2Stub::new(branches, SUBNETS);
        let endpoint = stub.clone().start().await;
        let client = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::Config::builder()
                .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
                .region(aws_sdk_ec2::config::Region::new("eu-west-1"))
                .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                    "k", "s", None, None, "bench",
                ))
                .endpoint_url(endpoint)
                .build(),
        );
        let settings = Ec2Settings {
            cluster_name: "prod".into(),
            vpc_id: None,
            max_requests_per_second: 1_000.0,
        };
        let poller = Ec2Poller::new(client, settings, Metrics::default());
        let started = Instant::now();
        let inventory = poller.poll().await.expect("poll");
        (
            stub.request_count(),
            inventory.enis.len(),
            started.elapsed(),
        )
    });
    let expected = listed.div_ceil(1000) + SUBNETS.div_ceil(1000);

    println!("| figure | value |");
    println!("| --- | --- |");
    println!(
        "| world | {NODES} nodes, {pod_count} pods ({} cached), {branches} branch ENIs, {SUBNETS} subnets |",
        cache.pods.len()
    );
    println!("| heap held by the compact cluster cache | {cache_mib:.1} MiB |");
    println!("| heap held by one EC2 inventory | {inventory_mib:.1} MiB |");
    println!("| heap reserved by the ENI value interner, once | {interner_mib:.1} MiB |");
    println!("| heap held by one joined snapshot | {snapshot_mib:.1} MiB |");
    println!("| heap held by the incremental join (indexes, slices, views) | {join_mib:.1} MiB |");
    println!(
        "| of which: nodes / pod indexes / first publish (views, slices, carry; with its snapshot) | {join_nodes_mib:.1} / {join_pods_mib:.1} / {join_publish_mib:.1} MiB |"
    );
    println!(
        "| incremental join: first publish (every node) | {:.1} ms |",
        ms(join_first)
    );
    println!(
        "| incremental join: publish after one pod event (median of 21 / max) | {:.1} ms / {:.1} ms |",
        ms(median(event_times.clone())),
        ms(*event_times.iter().max().unwrap())
    );
    println!(
        "| incremental join: publish after a poll that changed nothing (median of 5) | {:.1} ms |",
        ms(median(poll_times))
    );
    println!(
        "| reconcile (median of 7 / max) | {:.1} ms / {:.1} ms |",
        ms(median(reconcile_times.clone())),
        ms(*reconcile_times.iter().max().unwrap())
    );
    println!(
        "| /metrics render (median of 7) | {:.1} ms |",
        ms(median(render_times))
    );
    println!("| /metrics body | {:.1} KiB |", body_bytes as f64 / 1024.0);
    println!(
        "| status page `/` (median of 7) | {:.1} ms, {:.1} KiB |",
        page.0, page.1
    );
    println!(
        "| `/status.json` (median of 7) | {:.1} ms, {:.1} KiB |",
        status_json.0, status_json.1
    );
    for (level, ms, kib) in gzip {
        println!("| /metrics gzip level {level} (median of 5) | {ms:.1} ms, {kib:.1} KiB |");
    }
    println!(
        "| EC2 requests for one poll ({listed} ENIs, {SUBNETS} subnets) | {requests} (ceil(ENIs/1000) + ceil(subnets/1000) = {expected}) |"
    );
    println!(
        "| EC2 poll time against a local stub, unpaced | {:.2} s |",
        poll_time.as_secs_f64()
    );
    assert_eq!(
        requests, expected,
        "EC2 requests per poll must be the physical minimum"
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
