//! The built binary against careless use and bad data (issue 8): flags that make no
//! sense, closed pipes, full disks, FIFOs and devices in place of files, swapped files,
//! control characters in cluster data. Each must end in a clear message and exit code,
//! never a panic (exit 101) or a hang.

mod support;

use std::fs;
use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{repo, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_pod-eni-exporter");

fn run(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pod-eni-exporter");
    // Nothing here may hang: a stuck child fails the test instead of the suite.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("pod-eni-exporter {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The run ended with `code` and said `text` on stderr.
fn assert_exit(output: &Output, code: i32, text: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "{err}");
    assert!(err.contains(text), "expected {text:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A scratch copy of examples/incident that a test may break.
fn scratch_incident() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(repo().join("examples/incident")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

#[test]
fn nonsense_flags_exit_2_naming_the_flag() {
    let cases: &[&[&str]] = &[
        &["--ec2-max-requests-per-second=1e10"],
        &["--ec2-max-requests-per-second=1e300"],
        &["--ec2-max-requests-per-second=1e-300"],
        &["--ec2-max-requests-per-second=0"],
        &["--ec2-max-requests-per-second=-1"],
        &["--ec2-max-requests-per-second=NaN"],
        &["--ec2-max-requests-per-second=inf"],
        &["--completed-leak-grace=0s"],
        &["--orphan-leak-grace=1ns"],
        &["--max-file-size=0"],
    ];
    for flags in cases {
        let mut args = vec!["audit", "--from", "examples/incident"];
        args.extend_from_slice(flags);
        let output = run(&args);
        let flag = flags[0].split('=').next().unwrap();
        assert_exit(&output, 2, flag);
    }
    let output = run(&[
        "serve",
        "--from",
        "examples/incident",
        "--ec2-poll-interval=0s",
    ]);
    assert_exit(&output, 2, "under the 1s minimum");
}

#[test]
fn a_grace_shorter_than_the_cooldown_is_allowed_with_a_warning() {
    let output = run(&[
        "audit",
        "--from",
        "examples/incident",
        "--completed-leak-grace=30s",
    ]);
    assert_exit(&output, 0, "shorter than the controller's cool-down");
}

#[test]
fn a_closed_pipe_ends_quietly_and_a_full_disk_is_an_error() {
    // `audit | head -1`: the reader goes away after the first line.
    let mut child = Command::new(BIN)
        .args(["audit", "--from", "examples/incident"])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.code() != Some(101), "panicked: {err}");
    assert!(!err.contains("panicked") && !err.contains("error"), "{err}");

    let full = fs::File::create("/dev/full").expect("/dev/full exists on Linux");
    let output = Command::new(BIN)
        .args(["audit", "--from", "examples/incident"])
        .current_dir(repo())
        .stdout(full)
        .output()
        .unwrap();
    assert_exit(&output, 2, "cannot write the report");
}

#[test]
fn fifos_and_devices_in_place_of_files_are_refused_at_once() {
    let dir = scratch_incident();
    let nodes = dir.path().join("nodes.json");
    fs::remove_file(&nodes).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(&nodes)
            .status()
            .unwrap()
            .success()
    );
    let from = dir.path().to_str().unwrap();
    let output = run(&["audit", "--from", from]);
    assert_exit(&output, 2, "nodes.json: is a FIFO");

    for device in ["/dev/zero", "/dev/urandom"] {
        fs::remove_file(&nodes).unwrap();
        std::os::unix::fs::symlink(device, &nodes).unwrap();
        let output = run(&["audit", "--from", from]);
        assert_exit(&output, 2, "is a character device");
    }

    let output = run(&[
        "audit",
        "--from",
        "examples/incident",
        "--max-file-size",
        "1KB",
    ]);
    assert_exit(&output, 2, "larger than the 1000-byte limit");
}

#[test]
fn a_gate_never_passes_on_garbage() {
    // Swapped files: everything decodes as nothing.
    let dir = scratch_incident();
    let from = dir.path().to_str().unwrap();
    fs::rename(dir.path().join("pods.json"), dir.path().join("tmp.json")).unwrap();
    fs::rename(dir.path().join("nodes.json"), dir.path().join("pods.json")).unwrap();
    fs::rename(dir.path().join("tmp.json"), dir.path().join("nodes.json")).unwrap();
    let output = run(&["audit", "--from", from, "--fail-on", "exhausted,leaked"]);
    assert_exit(&output, 2, "none of its");
}

#[test]
fn duplicates_and_control_characters_do_not_fake_figures() {
    let dir = scratch_incident();
    let from = dir.path().to_str().unwrap();
    // Every ENI listed twice, and a subnet whose Name tag carries a newline and an
    // escape sequence.
    let path = dir.path().join("network-interfaces.json");
    let mut enis: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let list = enis["NetworkInterfaces"].as_array_mut().unwrap();
    let copy = list.clone();
    list.extend(copy);
    fs::write(&path, enis.to_string()).unwrap();
    let path = dir.path().join("subnets.json");
    let mut subnets: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    subnets["Subnets"][0]["Tags"] = serde_json::json!([
        {"Key": "Name", "Value": "evil\nip-10-0-9-9   m5a.xlarge   18\u{1b}[2J"}
    ]);
    fs::write(&path, subnets.to_string()).unwrap();

    let original = run(&["audit", "--from", "examples/incident", "--output", "json"]);
    let doubled = run(&["audit", "--from", from, "--output", "json"]);
    assert_eq!(doubled.status.code(), Some(0), "{}", stderr(&doubled));
    let figures = |output: &Output| -> Vec<(String, u64)> {
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        json["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["node"].as_str().unwrap().to_owned(),
                    n["attached"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        figures(&doubled),
        figures(&original),
        "each ENI counts once"
    );
    let json: serde_json::Value = serde_json::from_slice(&doubled.stdout).unwrap();
    let duplicates = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w.as_str().unwrap().starts_with("duplicate_object: eni "))
        .count();
    let enis = figures(&original).iter().map(|(_, n)| n).sum::<u64>();
    assert!(
        duplicates as u64 > enis,
        "one warning per duplicate ENI: {duplicates}"
    );

    let table = run(&["audit", "--from", from]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        !text.contains('\u{1b}'),
        "no escape sequence reaches the terminal"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("ip-10-0-9-9")),
        "no fake row"
    );
    assert!(text.contains("evil\\u{a}ip-10-0-9-9"), "{text}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn signal(child: &std::process::Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

fn healthz(port: u16) -> bool {
    use std::io::Write;
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_is_ignored_and_a_second_sigterm_exits_at_once() {
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--from", "examples/incident"])
        // The usual exporter form: every interface.
        .args(["--web.listen-address", &format!(":{port}")])
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("/healthz", || healthz(port));

    signal(&child, "HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP must not kill");
    assert!(healthz(port), "still serving after SIGHUP");

    // A client in the middle of sending its request holds the graceful shutdown open.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut slow, b"GET /metrics HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, "TERM");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first SIGTERM waits for the open request"
    );
    let second = Instant::now();
    signal(&child, "TERM");
    wait_until("exit after the second SIGTERM", || {
        child.try_wait().unwrap().is_some()
    });
    assert!(
        second.elapsed() < Duration::from_secs(2),
        "{:?}",
        second.elapsed()
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("SIGHUP ignored"), "{err}");
    assert!(err.contains("second signal"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal"
    );
}

#[test]
fn a_missing_kubeconfig_is_named_once_and_plainly() {
    let output = Command::new(BIN)
        .args([
            "audit",
            "--cluster-name",
            "prod",
            "--kubeconfig",
            "/nonexistent",
        ])
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("cannot read kubeconfig /nonexistent: No such file or directory (os error 2)"),
        "{err}"
    );
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    assert!(!err.contains("'\""), "{err}");
}

#[test]
fn thousands_of_idle_connections_do_not_lock_out_a_probe() {
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--from", "examples/incident"])
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .args(["--web.max-connections", "100"])
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("/healthz", || healthz(port));
    // Connect and say nothing, far beyond the cap.
    let idle: Vec<std::net::TcpStream> = (0..2000)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert!(idle.len() >= 1900, "only {} connected", idle.len());
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        assert!(healthz(port), "a probe got in");
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < Duration::from_millis(100),
        "slowest probe {slowest:?}"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    assert!(
        rss_kb < 64 * 1024,
        "RSS {rss_kb} kB with 2,000 idle sockets"
    );
    // The server holds at most its cap: every other idle socket has been closed.
    let closed = idle
        .iter()
        .filter(|socket| {
            socket.set_nonblocking(true).unwrap();
            matches!((&mut &**socket).read(&mut [0u8; 1]), Ok(0))
        })
        .count();
    assert!(
        closed >= idle.len() - 100,
        "{closed} of {} idle sockets closed with a cap of 100",
        idle.len()
    );
    drop(idle);
    let _ = child.kill();
    let _ = child.wait();
}

// ---- Hardening II (issue 27) ----

#[test]
fn durations_too_large_or_negative_and_negative_counts_exit_2_naming_the_flag() {
    let huge = "18446744073709551615s";
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["--branch-eni-cooldown", huge],
            "--branch-eni-cooldown",
            "over the 24h maximum",
        ),
        (
            &["--completed-leak-grace", "-1s"],
            "--completed-leak-grace",
            "cannot be negative",
        ),
        (
            &["--orphan-leak-grace=-5m"],
            "--orphan-leak-grace",
            "cannot be negative",
        ),
        (
            &["--headroom", "--pods", "-1"],
            "--pods",
            "must be at least 1",
        ),
        (
            &["--max-file-size", "-1"],
            "--max-file-size",
            "cannot be negative",
        ),
    ];
    for (flags, flag, why) in cases {
        let mut args = vec!["audit", "--from", "examples/incident"];
        args.extend_from_slice(flags);
        let output = run(&args);
        assert_exit(&output, 2, flag);
        assert_exit(&output, 2, why);
    }
    let serve = run(&[
        "serve",
        "--from",
        "examples/incident",
        "--ec2-poll-interval",
        huge,
    ]);
    assert_exit(&serve, 2, "--ec2-poll-interval");
    // The environment goes through the same checks.
    let output = Command::new(BIN)
        .args(["audit", "--from", "examples/incident"])
        .current_dir(repo())
        .env("PODENI_BRANCH_ENI_COOLDOWN", huge)
        .output()
        .unwrap();
    assert_exit(&output, 2, "over the 24h maximum");
}

#[test]
fn a_bad_rust_log_is_reported_not_replaced() {
    let output = Command::new(BIN)
        .args(["audit", "--from", "examples/incident"])
        .current_dir(repo())
        .env("RUST_LOG", "info,pod_eni_exporter=loud")
        .output()
        .unwrap();
    assert_exit(
        &output,
        2,
        "RUST_LOG=\"info,pod_eni_exporter=loud\" is not a log filter",
    );
}

#[test]
fn metadata_and_mangled_json_files_are_named_for_what_they_are() {
    let dir = scratch_incident();
    let from = dir.path().to_str().unwrap().to_owned();
    let metadata = dir.path().join("metadata.json");
    let cases = [
        (r#"{"writtenBy": "me"}"#, "no capturedAt"),
        (
            r#"{"capturedAt": "2026-11-24T09:45:00"}"#,
            "has no time zone",
        ),
        (
            r#"{"capturedAt": "yesterday"}"#,
            "\"yesterday\" is not a time",
        ),
        (
            r#"{"capturedAt": "9999-12-31T23:59:59Z"}"#,
            "past the latest time supported",
        ),
    ];
    for (text, said) in cases {
        fs::write(&metadata, text).unwrap();
        let output = run(&["audit", "--from", &from]);
        assert_exit(&output, 2, "metadata.json");
        assert_exit(&output, 2, said);
        assert!(
            !stderr(&output).contains("not valid JSON"),
            "{}",
            stderr(&output)
        );
    }
    fs::copy(repo().join("examples/incident/metadata.json"), &metadata).unwrap();

    let pods = fs::read(repo().join("examples/incident/pods.json")).unwrap();
    let utf16: Vec<u8> = String::from_utf8(pods.clone())
        .unwrap()
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzip, &pods).unwrap();
    let cases: [(Vec<u8>, &str); 4] = [
        (
            [&[0xEF, 0xBB, 0xBF][..], &pods].concat(),
            "byte-order mark (BOM)",
        ),
        ([&[0xFF, 0xFE][..], &utf16].concat(), "is UTF-16 text"),
        (utf16, "looks like UTF-16 text"),
        (gzip.finish().unwrap(), "is gzip-compressed"),
    ];
    for (bytes, said) in cases {
        fs::write(dir.path().join("pods.json"), bytes).unwrap();
        let output = run(&["audit", "--from", &from]);
        assert_exit(&output, 2, "pods.json");
        assert_exit(&output, 2, said);
    }
}

#[test]
fn ten_thousand_names_for_one_instance_count_once_everywhere() {
    let dir = scratch_incident();
    let path = dir.path().join("nodes.json");
    let mut nodes: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let items = nodes["items"].as_array_mut().unwrap();
    let original = items
        .iter()
        .find(|n| n["metadata"]["name"] == "ip-10-0-2-20.eu-west-1.compute.internal")
        .cloned()
        .unwrap();
    for i in 0..10_000 {
        let mut copy = original.clone();
        copy["metadata"]["name"] = serde_json::json!(format!("copy-{i:05}"));
        items.push(copy);
    }
    fs::write(&path, nodes.to_string()).unwrap();
    // Read as it is written: the report (10,000 warnings) is larger than a pipe holds.
    let output = Command::new(BIN)
        .args(["audit", "--from", dir.path().to_str().unwrap()])
        .args(["--output", "json", "--headroom"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let audit: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        audit["nodes"].as_array().unwrap().len(),
        3,
        "the three real nodes"
    );
    let rooms: Vec<&str> = audit["headroom"]["nodesWithRoom"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert!(rooms.iter().all(|n| !n.starts_with("copy-")), "{rooms:?}");
    let duplicates = audit["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| {
            w.as_str()
                .unwrap()
                .starts_with("duplicate_object: node copy-")
        })
        .count();
    assert_eq!(duplicates, 10_000, "each copy is named");
}

#[test]
fn control_characters_in_names_stay_inert_in_headroom_logs_and_commands() {
    let dir = scratch_incident();
    let path = dir.path().join("nodes.json");
    let mut nodes: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let forged = "ip-10-0-2-20\nWARN forged log line; rm -rf /";
    for node in nodes["items"].as_array_mut().unwrap() {
        if node["metadata"]["name"] == "ip-10-0-2-20.eu-west-1.compute.internal" {
            node["metadata"]["name"] = serde_json::json!(forged);
            node["spec"]["providerID"] = serde_json::json!("not-a-provider-id\n");
        }
    }
    fs::write(&path, nodes.to_string()).unwrap();
    let output = run(&[
        "audit",
        "--from",
        dir.path().to_str().unwrap(),
        "--headroom",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    let room = table
        .lines()
        .find(|l| l.starts_with("Nodes with room"))
        .expect("the headroom line");
    assert!(room.contains("ip-10-0-2-20\\u{a}WARN"), "escaped: {room}");
    assert!(
        !table.lines().any(|l| l.starts_with("WARN forged")),
        "{table}"
    );

    // The plain log of `serve --from` prints the warning about it on one line.
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--from", dir.path().to_str().unwrap()])
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .current_dir(repo())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("serving", || healthz(port));
    signal(&child, "TERM");
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    child.wait().unwrap();
    assert!(log.contains("input problem"), "{log}");
    assert!(
        !log.lines().any(|l| l.starts_with("WARN forged")),
        "no forged log line:\n{log}"
    );
}

#[test]
fn printed_commands_quote_names_for_the_shell() {
    let dir = scratch_incident();
    for file in ["nodes.json", "pods.json"] {
        let path = dir.path().join(file);
        let text = fs::read_to_string(&path)
            .unwrap()
            .replace("ip-10-0-1-10.eu-west-1.compute.internal", "node$(reboot)");
        fs::write(&path, text).unwrap();
    }
    let output = run(&["audit", "--from", dir.path().to_str().unwrap()]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("kubectl cordon 'node$(reboot)'"), "{table}");
}
