//! The status page at `/` in a real browser (Debian's headless Chromium, installed by
//! scripts/test when missing), and `/status.json` against `audit --output json`.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::exporter::Exporter;
use support::http_get;
use support::repo;

const BIN: &str = env!("CARGO_BIN_EXE_pod-eni-exporter");
const FULL_NODE: &str = "ip-10-0-1-10.eu-west-1.compute.internal";

fn serve_from(dir: &Path) -> Exporter {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--from"])
        .arg(dir)
        .current_dir(repo());
    Exporter::spawn(command)
}

fn audit(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(BIN)
        .args(["audit", "--from"])
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

/// Headless Chromium with `args` and the page; (stdout, stderr).
fn chromium(args: &[&str], url: &str) -> (String, String) {
    let program = std::env::var("PODENI_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let output = Command::new(&program)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {program} ({e}): scripts/test installs Debian's chromium when missing"
            )
        });
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The `data-node` of each row of the nodes table, in order, with whether it is marked full.
fn node_rows(dom: &str) -> Vec<(String, bool)> {
    dom.split("<tr")
        .filter_map(|row| {
            let node = row.split("data-node=\"").nth(1)?.split('"').next()?;
            Some((node.to_owned(), row.starts_with(" class=\"full\"")))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_in_chromium_shows_the_full_node_first_its_holders_and_what_to_do() {
    let incident = repo().join("examples/incident");
    let exporter = serve_from(&incident);
    exporter.wait_ready().await;
    let url = format!("http://127.0.0.1:{}/", exporter.port);
    let (dom, log) = chromium(&["--dump-dom"], &url);

    let rows = node_rows(&dom);
    assert_eq!(
        rows.first(),
        Some(&(FULL_NODE.to_owned(), true)),
        "{rows:?}"
    );
    assert!(rows[1..].iter().all(|(_, full)| !full), "{rows:?}");
    assert!(dom.contains("0 FULL"));

    // Every culprit's owner and every remedy `audit` prints, commands included.
    let report: Value = serde_json::from_str(&audit(&incident, &["--output", "json"])).unwrap();
    let jobs: Vec<&str> = report["holders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["ownerKind"] == "Job")
        .map(|h| h["ownerName"].as_str().unwrap())
        .collect();
    assert_eq!(jobs.len(), 4);
    for job in &jobs {
        assert!(dom.contains(&format!("Job/{job}")), "{job} missing");
    }
    let table = audit(&incident, &[]);
    let remedies: Vec<&str> = table
        .split("What to do:\n")
        .nth(1)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .collect();
    assert!(remedies.len() >= 4);
    for remedy in remedies {
        assert!(
            dom.contains(remedy),
            "remedy missing from the page: {remedy}"
        );
    }
    assert!(
        dom.contains(
            "aws ec2 delete-network-interface --network-interface-id eni-35d271c3bbcc461f8"
        )
    );
    assert!(
        dom.contains("shop/checkout-api-7d9f8b6c5d-q8r2t"),
        "the waiting pod"
    );
    let summary = table.lines().next().unwrap();
    assert!(dom.contains(summary), "the audit's summary line: {summary}");
    assert!(
        !log.contains("Uncaught") && !log.contains(":ERROR:CONSOLE"),
        "console errors:\n{log}"
    );

    // A picture for people (and the README).
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&screenshot);
    chromium(
        &[
            "--window-size=1400,1900",
            "--hide-scrollbars",
            &format!("--screenshot={}", screenshot.display()),
        ],
        &url,
    );
    let png = std::fs::read(&screenshot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_json_is_the_audit_of_the_same_directory() {
    let incident = repo().join("examples/incident");
    let exporter = serve_from(&incident);
    exporter.wait_ready().await;
    let (status, body) = http_get(exporter.port, "/status.json").unwrap();
    assert_eq!(status, 200);
    let served: Value = serde_json::from_str(&body).unwrap();
    let audited: Value = serde_json::from_str(&audit(&incident, &["--output", "json"])).unwrap();
    assert_eq!(served, audited);
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_values_are_text_never_markup() {
    let dir = tempfile::tempdir().unwrap();
    for file in std::fs::read_dir(repo().join("examples/incident")).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, dir.path().join(file.file_name().unwrap())).unwrap();
    }
    let hostile = "<img src=x onerror=alert(1)>";
    let pods_path = dir.path().join("pods.json");
    let text = std::fs::read_to_string(&pods_path).unwrap();
    let renamed = text.replace(
        "checkout-api-7d9f8b6c5d-q8r2t",
        hostile.replace('"', "\\\"").as_str(),
    );
    assert_ne!(renamed, text, "the waiting pod is in pods.json");
    std::fs::write(&pods_path, renamed).unwrap();

    let exporter = serve_from(dir.path());
    exporter.wait_ready().await;
    let (_, raw) = http_get(exporter.port, "/").unwrap();
    assert!(
        raw.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "escaped in the HTML"
    );
    let (dom, log) = chromium(
        &["--dump-dom"],
        &format!("http://127.0.0.1:{}/", exporter.port),
    );
    assert!(!dom.contains("<img"), "no element made from a pod name");
    assert!(
        dom.contains("shop/&lt;img src=x onerror=alert(1)&gt;"),
        "shown as text"
    );
    assert!(!log.contains("alert"), "{log}");
}

#[test]
fn audit_headroom_on_the_incident_lists_the_nodes_with_room() {
    let incident = repo().join("examples/incident");
    let table = audit(&incident, &["--headroom"]);
    let section = table
        .split("Headroom for 1 more security-group pod")
        .nth(1)
        .and_then(|rest| rest.split("\nWhat to do:").next())
        .expect("a headroom section");
    let json: Value = serde_json::from_str(&audit(
        &incident,
        &["--headroom", "--pods", "3", "--output", "json"],
    ))
    .unwrap();
    let report: Value = serde_json::from_str(&audit(&incident, &["--output", "json"])).unwrap();
    // The nodes with room are exactly the advertising, schedulable ones with ≥ N left.
    let expected = |n: u64| -> Vec<String> {
        report["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|node| node["advertisesPodEni"] == true && node["unschedulable"] == false)
            .filter(|node| node["remaining"].as_u64().unwrap_or(0) >= n)
            .map(|node| node["node"].as_str().unwrap().to_owned())
            .collect()
    };
    let listed: Vec<String> = json["headroom"]["nodesWithRoom"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, expected(3));
    assert!(!listed.contains(&FULL_NODE.to_owned()));
    for node in expected(1) {
        assert!(section.contains(&node), "{node} not offered:\n{section}");
    }
    assert!(
        !section.contains(FULL_NODE),
        "the full node has no room:\n{section}"
    );
}
