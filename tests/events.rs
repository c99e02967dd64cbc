//! `serve --emit-events` (issue 14): on a real kube-apiserver the incident makes exactly
//! one BranchENIExhausted Event on the full node, naming the Jobs, that later rounds
//! update instead of re-creating, that `kubectl describe node` shows, and that nothing is
//! written while EC2 is down; the write budget holds when 500 nodes are full at once.

mod support;

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use pod_eni_exporter::k8s::EventEmitter;
use pod_eni_exporter::report::event_notes::{BRANCH_ENI_EXHAUSTED, Intent, Regarding};
use serde_json::Value;
use support::exporter::{Exporter, WAIT};
use support::moto::{Moto, ec2_client};
use support::real_apiserver::{RealApiServer, RealCluster};
use support::world::{FULL_NODE, HEALTHY_NODE, build_incident};
use support::{eventually, live_command, serve_http};

/// The exporter's Events, as the API server has them.
fn exporter_events(server: &RealApiServer) -> Vec<Value> {
    let listed: Value = serde_json::from_str(&server.kubectl(
        &[
            "get",
            "events.events.k8s.io",
            "--all-namespaces",
            "-o",
            "json",
        ],
        None,
    ))
    .unwrap();
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reportingController"] == "pod-eni-exporter")
        .cloned()
        .collect()
}

fn regarding<'a>(events: &'a [Value], node: &str, reason: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["regarding"]["name"] == node && e["reason"] == reason)
        .collect()
}

/// Events written so far: objects plus the updates counted in their series.
fn writes(events: &[Value]) -> u64 {
    events
        .iter()
        .map(|e| e["series"]["count"].as_u64().unwrap_or(1))
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_incident_makes_one_exhausted_event_updated_in_place_and_none_when_stale() {
    let server = RealApiServer::start();
    let moto = Moto::start();
    let cluster = RealCluster::new(server.admin_client().await);
    build_incident(&ec2_client(&moto.endpoint()), &cluster).await;
    let mut command = live_command(&["serve"], &server.admin_kubeconfig(), &moto.endpoint());
    command.args([
        "--ec2-poll-interval",
        "1s",
        "--emit-events",
        "--events-min-interval",
        "2s",
    ]);
    let exporter = Exporter::spawn(command);
    exporter.wait_ready().await;

    let first = eventually("a BranchENIExhausted Event on the full node", WAIT, || {
        let events = exporter_events(&server);
        let found = regarding(&events, FULL_NODE, BRANCH_ENI_EXHAUSTED);
        (!found.is_empty()).then(|| found[0].clone())
    })
    .await;
    assert_eq!(first["type"], "Warning");
    assert_eq!(first["regarding"]["kind"], "Node");
    let note = first["note"].as_str().unwrap();
    assert!(
        note.starts_with("18/18 branch ENIs attached; 3 held by completed pods ("),
        "{note}"
    );
    for job in [
        "db-migrate-28871040",
        "db-migrate-28871100",
        "db-migrate-28871160",
    ] {
        assert!(note.contains(&format!("Job/{job}")), "{note}");
    }

    // Later rounds update the series; the Event is not created again.
    eventually("the series counted again", WAIT, || {
        let events = exporter_events(&server);
        let found = regarding(&events, FULL_NODE, BRANCH_ENI_EXHAUSTED);
        assert_eq!(found.len(), 1, "one Event object per node and reason");
        (found[0]["series"]["count"].as_u64() >= Some(2)).then_some(())
    })
    .await;
    let events = exporter_events(&server);
    assert!(
        events
            .iter()
            .all(|e| e["regarding"]["name"] != HEALTHY_NODE),
        "nothing about the healthy node"
    );
    let described = server.kubectl(&["describe", "node", FULL_NODE], None);
    assert!(described.contains("BranchENIExhausted"), "{described}");
    assert!(described.contains("db-migrate-28871040"), "{described}");
    // `kubectl events` (kubectl 1.36) lists it for the node too, with the series'
    // count ("x2 over 4s").
    let listed = server.kubectl(
        &[
            "events",
            "-n",
            "kube-system",
            "--for",
            &format!("node/{FULL_NODE}"),
        ],
        None,
    );
    assert!(
        listed.contains("BranchENIExhausted") && listed.contains("(x"),
        "{listed}"
    );

    // EC2 goes away: the view is stale, so nothing more is written.
    drop(moto);
    exporter
        .wait_for("EC2 reported down", |e| {
            e.value("podeni_source_up{source=\"ec2\"}") == Some(0.0)
        })
        .await;
    let before = writes(&exporter_events(&server));
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        writes(&exporter_events(&server)),
        before,
        "no write from a stale view"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_write_budget_holds_when_500_nodes_are_full_at_once() {
    // A stand-in API server that accepts Event creations and counts them.
    let written: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let record = written.clone();
    serve_http(
        listener,
        move |request: hyper::Request<hyper::body::Incoming>| {
            let record = record.clone();
            async move {
                let is_event = request.method() == hyper::Method::POST
                    && request.uri().path().ends_with("/events");
                let body = request.into_body().collect().await.unwrap().to_bytes();
                if !is_event {
                    return hyper::Response::builder()
                        .status(404)
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                }
                let event: Value = serde_json::from_slice(&body).unwrap();
                record
                    .lock()
                    .unwrap()
                    .push(event["regarding"]["name"].as_str().unwrap().to_owned());
                hyper::Response::builder()
                    .status(201)
                    .header("content-type", "application/json")
                    .body(Full::new(body))
                    .unwrap()
            }
        },
    );
    let config = kube::Config::new(format!("http://127.0.0.1:{port}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let emitter = EventEmitter::new(
        client,
        None,
        Duration::from_secs(60),
        NonZeroU32::new(10).unwrap(),
    );
    let intents: Vec<Intent> = (0..500)
        .map(|i| Intent {
            regarding: Regarding::Node(format!("ip-10-0-{}-{}.internal", i / 250, i % 250)),
            reason: BRANCH_ENI_EXHAUSTED,
            note: "18/18 branch ENIs attached; scheduler counts 14".to_owned(),
        })
        .collect();
    // Rounds as the exporter makes them, for 3 seconds.
    let mut per_round = Vec::new();
    for _ in 0..4 {
        per_round.push(emitter.emit(intents.clone()).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let written = written.lock().unwrap().clone();
    eprintln!("Event writes per round, 500 full nodes, budget 10/s: {per_round:?}");
    assert_eq!(per_round.iter().sum::<usize>(), written.len());
    assert_eq!(per_round[0], 10, "the burst: {per_round:?}");
    assert!(
        written.len() <= 10 + 10 * 4,
        "{} writes in ~4 s with a budget of 10/s: {per_round:?}",
        written.len()
    );
    assert!(written.len() >= 30, "the budget refills: {per_round:?}");
    let unique: BTreeSet<&String> = written.iter().collect();
    assert_eq!(
        unique.len(),
        written.len(),
        "no node written twice within a minute"
    );
}
