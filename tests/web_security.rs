//! The scrape endpoint behind a web config file (`--web.config.file`): a real
//! Prometheus scraping over TLS with basic auth, client certificates, certificate
//! rotation without a restart, the bcrypt cache, probes, headers, the rate limit, gzip
//! through curl, and bad configs refused at start. Certificates are made here (rcgen),
//! hashes too (bcrypt).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use support::exporter::{Exporter, WAIT};
use support::pki::{Ca, Leaf, der, https_get, serial, write, write_atomically};
use support::prometheus::Prometheus;
use support::repo;
use support::{eventually, http_get, sample};

const BIN: &str = env!("CARGO_BIN_EXE_pod-eni-exporter");
const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse battery staple";

fn serve_with(web_config: &Path, extra: &[&str]) -> Exporter {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--from", "examples/incident", "--web.config.file"])
        .arg(web_config)
        .args(extra)
        .current_dir(repo());
    Exporter::spawn(command)
}

/// A server certificate and key from `ca` in `dir`, and a web config naming them.
fn tls_files(dir: &Path, ca: &Ca, serial: u64) -> Leaf {
    let server = ca.server(serial);
    write(dir, "tls.crt", &server.cert_pem);
    write(dir, "tls.key", &server.key_pem);
    server
}

fn hash(password: &str, cost: u32) -> String {
    bcrypt::hash(password, cost).unwrap()
}

async fn wait_https(exporter: &Exporter, ca: &Ca, client: Option<&Leaf>) {
    eventually("the exporter answers over TLS", WAIT, || {
        https_get(
            exporter.port,
            "/healthz",
            &ca.pem(),
            client,
            Some((USER, PASSWORD)),
        )
        .ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_over_tls_with_basic_auth_and_a_wrong_password_is_down_with_401() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    tls_files(dir.path(), &ca, 1);
    let ca_file = write(dir.path(), "ca.crt", &ca.pem());
    let config = write(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  {USER}: {}\n",
            hash(PASSWORD, 10)
        ),
    );
    let exporter = serve_with(&config, &[]);
    wait_https(&exporter, &ca, None).await;

    let job = |name: &str, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: {}\n    basic_auth:\n      username: {USER}\n      password: '{password}'\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            ca_file.display(),
            exporter.port
        )
    };
    let prometheus_dir = tempfile::tempdir().unwrap();
    let prometheus = Prometheus::start(
        prometheus_dir.path(),
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n{}{}",
            job("right-password", PASSWORD),
            job("wrong-password", "hunter2")
        ),
    );
    prometheus.wait_ready().await;
    eventually("both targets scraped", WAIT, || {
        let targets = prometheus.targets();
        let health = |job: &str| {
            targets.iter().find(|t| t["labels"]["job"] == job).map(|t| {
                (
                    t["health"].as_str().unwrap_or("").to_owned(),
                    t["lastError"].to_string(),
                )
            })
        };
        let (good, _) = health("right-password")?;
        let (bad, error) = health("wrong-password")?;
        (good == "up" && bad == "down").then_some(()).map(|()| {
            assert!(error.contains("401"), "the wrong password's error: {error}");
        })
    })
    .await;
    // What Prometheus stored is the exporter's data, decompressed and parsed.
    eventually("the incident's nodes in Prometheus", WAIT, || {
        let nodes = prometheus
            .query("count(podeni_node_info{job=\"right-password\"})")
            .ok()?;
        let count: f64 = nodes.first()?["value"][1].as_str()?.parse().ok()?;
        (count >= 2.0).then_some(())
    })
    .await;
    let up = prometheus.query("up{job=\"wrong-password\"}").unwrap();
    assert_eq!(up[0]["value"][1], "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificates_are_required_verified_and_matched_by_san() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("server and client CA");
    tls_files(dir.path(), &ca, 1);
    write(dir.path(), "client-ca.crt", &ca.pem());
    let config = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-ca.crt\n  client_allowed_sans: [prometheus.monitoring.svc]\n",
    );
    let exporter = serve_with(&config, &[]);
    let prometheus_cert = ca.client(&["prometheus.monitoring.svc"]);
    wait_https(&exporter, &ca, Some(&prometheus_cert)).await;

    let get = |client: Option<&Leaf>| https_get(exporter.port, "/metrics", &ca.pem(), client, None);
    let answer = get(Some(&prometheus_cert)).expect("a certificate from the CA gets in");
    assert_eq!(answer.status, 200);
    assert!(answer.body.contains("podeni_node_info"));

    let refused = |client: Option<&Leaf>, why: &str| {
        let result = get(client);
        assert!(
            result.is_err(),
            "{why}: got HTTP {:?}",
            result.map(|a| a.status).ok()
        );
        result.err().unwrap()
    };
    let error = refused(None, "no certificate");
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    refused(
        Some(&Ca::new("another CA").client(&["prometheus.monitoring.svc"])),
        "another CA",
    );
    refused(
        Some(&ca.client(&["grafana.monitoring.svc"])),
        "a SAN not allowed",
    );
    // Refused handshakes leave the server serving.
    assert_eq!(get(Some(&prometheus_cert)).unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn certificates_rotate_without_a_restart_and_a_bad_one_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("rotating CA");
    let first = tls_files(dir.path(), &ca, 1);
    let config = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n",
    );
    let exporter = serve_with(&config, &[]);
    wait_https(&exporter, &ca, None).await;
    let pid = exporter.child.id();
    let presented =
        || https_get(exporter.port, "/metrics", &ca.pem(), None, None).expect("a TLS answer");
    let answer = presented();
    assert_eq!(serial(&answer.server_cert), 1);
    assert_eq!(answer.server_cert, der(&first.cert_pem));
    let metric = |answer: &support::pki::Answer, series: &str| sample(&answer.body, series);
    assert_eq!(
        metric(&answer, "podeni_web_config_last_reload_successful"),
        Some(1.0)
    );
    let expiry = metric(
        &answer,
        "podeni_web_tls_certificate_expiry_timestamp_seconds",
    )
    .unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(&answer.server_cert).unwrap();
    assert_eq!(expiry, parsed.validity().not_after.timestamp() as f64);

    // Reloads happen off the request path, within two seconds of a change settling:
    // wait for the reload attempt the change causes, then look.
    let reloads = |answer: &support::pki::Answer| {
        metric(answer, "podeni_web_config_reloads_total").unwrap_or(0.0)
    };
    let attempted_after = |before: f64| {
        let presented = &presented;
        async move {
            eventually("the change tried", WAIT, || {
                let answer = presented();
                (reloads(&answer) > before).then_some(answer)
            })
            .await
        }
    };

    // cert-manager renews: both files replaced. The next handshakes show serial 2.
    let second = ca.server(2);
    let before = reloads(&presented());
    write_atomically(&dir.path().join("tls.key"), &second.key_pem);
    write_atomically(&dir.path().join("tls.crt"), &second.cert_pem);
    let answer = eventually("serial 2 served", WAIT, || {
        let answer = presented();
        (serial(&answer.server_cert) == 2).then_some(answer)
    })
    .await;
    assert!(reloads(&answer) > before);
    assert_eq!(
        answer.server_cert,
        der(&second.cert_pem),
        "exactly the new certificate"
    );

    // A broken certificate: the old one stays in force, an error is logged and the
    // reload gauge says so.
    let before = reloads(&presented());
    write_atomically(
        &dir.path().join("tls.crt"),
        "-----BEGIN CERTIFICATE-----\nnot base64\n",
    );
    let answer = attempted_after(before).await;
    assert_eq!(
        serial(&answer.server_cert),
        2,
        "the previous certificate is kept"
    );
    assert_eq!(
        metric(&answer, "podeni_web_config_last_reload_successful"),
        Some(0.0)
    );
    assert!(
        exporter.log().contains("web config not reloaded"),
        "{}",
        exporter.log()
    );

    // A key that does not match the certificate is refused the same way.
    let third = ca.server(3);
    let before = reloads(&presented());
    write_atomically(&dir.path().join("tls.crt"), &third.cert_pem);
    let answer = attempted_after(before).await;
    assert_eq!(
        serial(&answer.server_cert),
        2,
        "a mismatched pair is not served"
    );
    write_atomically(&dir.path().join("tls.key"), &third.key_pem);
    let answer = eventually("serial 3 served", WAIT, || {
        let answer = presented();
        (serial(&answer.server_cert) == 3).then_some(answer)
    })
    .await;
    assert_eq!(
        metric(&answer, "podeni_web_config_last_reload_successful"),
        Some(1.0)
    );
    assert_eq!(exporter.child.id(), pid, "no restart");
}

#[tokio::test(flavor = "multi_thread")]
async fn cost_12_hashes_cost_one_bcrypt_not_one_per_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("bcrypt CA");
    tls_files(dir.path(), &ca, 1);
    let config = write(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  {USER}: {}\n",
            hash(PASSWORD, 12)
        ),
    );
    let exporter = serve_with(&config, &[]);
    wait_https(&exporter, &ca, None).await;
    // One cost-12 verification, for scale.
    let started = Instant::now();
    assert!(bcrypt::verify(PASSWORD, &hash(PASSWORD, 12)).unwrap());
    let one_bcrypt = started.elapsed() / 2;
    let started = Instant::now();
    for _ in 0..100 {
        let answer = https_get(
            exporter.port,
            "/metrics",
            &ca.pem(),
            None,
            Some((USER, PASSWORD)),
        )
        .unwrap();
        assert_eq!(answer.status, 200);
    }
    let hundred = started.elapsed();
    assert!(
        hundred < one_bcrypt * 100 / 4,
        "100 scrapes on new connections took {hundred:?}; one bcrypt takes {one_bcrypt:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_probes_headers_and_the_rate_limit_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "web.yml",
        &format!(
            "basic_auth_users:\n  {USER}: {}\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n    X-Frame-Options: deny\n",
            hash(PASSWORD, 4)
        ),
    );
    // Without --web.probes-without-auth the probes need credentials too.
    let locked = serve_with(&config, &[]);
    eventually("the exporter answers", WAIT, || {
        http_get(locked.port, "/healthz")
    })
    .await;
    assert_eq!(http_get(locked.port, "/healthz").unwrap().0, 401);

    let open = serve_with(&config, &["--web.probes-without-auth"]);
    eventually("/healthz without credentials", WAIT, || {
        (http_get(open.port, "/healthz")?.0 == 200).then_some(())
    })
    .await;
    eventually("/readyz without credentials", WAIT, || {
        (http_get(open.port, "/readyz")?.0 == 200).then_some(())
    })
    .await;
    let head = curl(
        &["-sS", "-o", "/dev/null", "-D", "-"],
        open.port,
        "/metrics",
        None,
    );
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("www-authenticate: basic realm=\"pod-eni-exporter\""),
        "{head}"
    );
    assert!(
        head.contains("x-content-type-options: nosniff"),
        "headers on a 401 too: {head}"
    );
    let wrong = curl(
        &["-sS", "-o", "/dev/null", "-w", "%{http_code}"],
        open.port,
        "/metrics",
        Some("hunter2"),
    );
    assert_eq!(wrong, "401");
    let head = curl(
        &["-sS", "-o", "/dev/null", "-D", "-"],
        open.port,
        "/metrics",
        Some(PASSWORD),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("x-frame-options: deny"),
        "{head}"
    );

    // rate_limit: a burst of 3, then one request a minute: the fourth at once is 429.
    let limited_config = write(
        dir.path(),
        "limited.yml",
        "rate_limit:\n  interval: 1m\n  burst: 3\n",
    );
    let limited = serve_with(&limited_config, &[]);
    eventually("the exporter answers", WAIT, || {
        http_get(limited.port, "/healthz")
    })
    .await;
    // The readiness wait above may have used part of the burst; within it, every
    // request passes, and the one after it is refused.
    let mut codes = Vec::new();
    while codes.last() != Some(&429) && codes.len() < 5 {
        codes.push(http_get(limited.port, "/metrics").unwrap().0);
    }
    assert!(codes.len() <= 4 && codes.last() == Some(&429), "{codes:?}");
    assert!(
        codes[..codes.len() - 1].iter().all(|&c| c == 200),
        "{codes:?}"
    );
}

/// `curl` against 127.0.0.1:`port`; what it printed.
fn curl(args: &[&str], port: u16, path: &str, password: Option<&str>) -> String {
    let mut command = Command::new("curl");
    command.args(args);
    if let Some(password) = password {
        command.args(["-u", &format!("{USER}:{password}")]);
    }
    let output = command
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl not found: scripts/test installs it from apt (package curl)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_compressed_gets_gzip_and_the_same_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "web.yml", "");
    let exporter = serve_with(&config, &[]);
    exporter.wait_ready().await;
    let measure = |compressed: bool| {
        let mut args = vec!["-sS", "-D", "-", "-w", "\nsize_download=%{size_download}\n"];
        if compressed {
            args.push("--compressed");
        }
        curl(&args, exporter.port, "/metrics", None)
    };
    let gzip = measure(true);
    let plain = measure(false);
    let (gzip_head, _) = gzip.split_once("\r\n\r\n").unwrap();
    let (plain_head, _) = plain.split_once("\r\n\r\n").unwrap();
    assert!(
        gzip_head
            .to_ascii_lowercase()
            .contains("content-encoding: gzip"),
        "{gzip_head}"
    );
    assert!(
        !plain_head.to_ascii_lowercase().contains("content-encoding"),
        "{plain_head}"
    );
    let size = |out: &str| -> f64 {
        out.rsplit("size_download=")
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (gzip_size, plain_size) = (size(&gzip), size(&plain));
    assert!(
        gzip_size * 3.0 < plain_size,
        "gzip {gzip_size} B, plain {plain_size} B"
    );
    // curl decompressed it: the same series either way.
    let full_node =
        "podeni_node_branch_eni_capacity{node=\"ip-10-0-1-10.eu-west-1.compute.internal\"}";
    assert_eq!(sample(&gzip, full_node), sample(&plain, full_node));
    assert!(sample(&gzip, full_node).is_some(), "{gzip}");
}

#[test]
fn bad_web_configs_exit_2_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("bad config CA");
    let server = ca.server(1);
    let other = ca.server(2);
    write(dir.path(), "tls.crt", &server.cert_pem);
    write(dir.path(), "other.key", &other.key_pem);
    let tls = "tls_server_config:\n  cert_file: tls.crt\n";
    let cases: &[(&str, String, &[&str])] = &[
        (
            "unknown key",
            format!("{tls}  key_file: other.key\n  cert_fil: x\n"),
            &["tls_server_config", "unknown field `cert_fil`"],
        ),
        (
            "missing cert file",
            "tls_server_config:\n  cert_file: nowhere.crt\n  key_file: other.key\n".to_owned(),
            &["cert_file", "nowhere.crt", "file not found"],
        ),
        (
            "key not matching the cert",
            format!("{tls}  key_file: other.key\n"),
            &["tls.crt", "other.key", "do not make a usable pair"],
        ),
        (
            "non-bcrypt hash",
            "basic_auth_users:\n  alice: '{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ='\n".to_owned(),
            &["basic_auth_users.alice", "not a bcrypt hash"],
        ),
        (
            "YAML syntax error",
            "basic_auth_users: [alice\n".to_owned(),
            &["web.yml", "line"],
        ),
    ];
    for (what, text, needles) in cases {
        let config = write(dir.path(), "web.yml", text);
        let output = refused_at_start(&config);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
        for needle in *needles {
            assert!(stderr.contains(needle), "{what}: no {needle:?} in {stderr}");
        }
    }
}

/// `serve` with this web config, which must end at once (a test of a config refused at
/// start): never waits more than ten seconds.
fn refused_at_start(config: &Path) -> std::process::Output {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--from",
            "examples/incident",
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.config.file",
        ])
        .arg(config)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            panic!("serve with {} hung at start", config.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A YAML alias bomb of about `bytes`: nine aliases of the level below, level on level.
fn alias_bomb(levels: usize) -> String {
    let mut text = String::from(
        "rate_limit: {interval: 1s, burst: 1}\nhttp_server_config:\n  headers:\n    X-A: &a lol\n",
    );
    let mut previous = "a".to_owned();
    for level in 0..levels {
        let name = format!("l{level}");
        let refs = vec![format!("*{previous}"); 9].join(",");
        text.push_str(&format!("    X-{name}: &{name} [{refs}]\n"));
        previous = name;
    }
    text
}

#[test]
fn hostile_web_configs_at_start_exit_2_at_once_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("hostile CA");
    tls_files(dir.path(), &ca, 1);
    let mkfifo = |name: &str| {
        let path = dir.path().join(name);
        assert!(
            Command::new("mkfifo")
                .arg(&path)
                .status()
                .unwrap()
                .success()
        );
        path
    };
    let fifo = mkfifo("web.fifo");
    mkfifo("cert.fifo");
    let cases: Vec<(&str, PathBuf, &[&str])> = vec![
        ("a FIFO as the config", fifo, &["web.fifo", "a FIFO"]),
        (
            "/dev/zero as the config",
            PathBuf::from("/dev/zero"),
            &["/dev/zero", "character device"],
        ),
        (
            "/dev/urandom as the config",
            PathBuf::from("/dev/urandom"),
            &["/dev/urandom", "character device"],
        ),
        (
            "a FIFO as cert_file",
            write(
                dir.path(),
                "fifo-cert.yml",
                "tls_server_config:\n  cert_file: cert.fifo\n  key_file: tls.key\n",
            ),
            &["cert_file", "a FIFO"],
        ),
        (
            "/dev/zero as key_file",
            write(
                dir.path(),
                "zero-key.yml",
                "tls_server_config:\n  cert_file: tls.crt\n  key_file: /dev/zero\n",
            ),
            &["key_file", "character device"],
        ),
        (
            "an interval of centuries",
            write(
                dir.path(),
                "years.yml",
                "rate_limit:\n  interval: 1000years\n  burst: 1\n",
            ),
            &["rate_limit.interval", "maximum of 24h"],
        ),
        (
            "100,000-deep nesting",
            write(
                dir.path(),
                "deep.yml",
                &format!(
                    "basic_auth_users: {}{}\n",
                    "[".repeat(100_000),
                    "]".repeat(100_000)
                ),
            ),
            &["deep.yml", "more than the"],
        ),
        (
            "an alias bomb",
            write(dir.path(), "bomb.yml", &alias_bomb(9)),
            &["bomb.yml", "aliases expand"],
        ),
        (
            "a cost bcrypt cannot verify",
            write(
                dir.path(),
                "cost3.yml",
                &format!(
                    "basic_auth_users:\n  alice: '{}'\n",
                    hash("x", 4).replacen("$04$", "$03$", 1)
                ),
            ),
            &["basic_auth_users.alice", "cost 3"],
        ),
        (
            "cost 31",
            write(
                dir.path(),
                "cost31.yml",
                &format!(
                    "basic_auth_users:\n  alice: '{}'\n",
                    hash("x", 4).replacen("$04$", "$31$", 1)
                ),
            ),
            &["basic_auth_users.alice", "cost 31 is above the maximum"],
        ),
        (
            "a user Basic auth cannot carry",
            write(
                dir.path(),
                "colon.yml",
                &format!("basic_auth_users:\n  'al:ice': '{}'\n", hash("x", 4)),
            ),
            &["basic_auth_users.al:ice", "without ':'"],
        ),
    ];
    for (what, config, needles) in cases {
        let started = Instant::now();
        let output = refused_at_start(&config);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{what}: at once"
        );
        for needle in needles {
            assert!(stderr.contains(needle), "{what}: no {needle:?} in {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}

/// The config rewritten while serving, by mistake or by an attacker who can write it:
/// nothing it becomes may block or slow a request, crash the process, or open the
/// endpoint; the configuration in force stays until a good one replaces it.
#[tokio::test(flavor = "multi_thread")]
async fn a_web_config_rewritten_while_serving_never_blocks_opens_or_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let good = format!("basic_auth_users:\n  {USER}: '{}'\n", hash(PASSWORD, 4));
    let config = write(dir.path(), "web.yml", &good);
    let exporter = serve_with(&config, &[]);
    let pid = exporter.child.id();
    eventually("the exporter answers", WAIT, || {
        (http_get(exporter.port, "/healthz")?.0 == 401).then_some(())
    })
    .await;
    let refused_reloads = || {
        let log = exporter.log();
        log.matches("web config not reloaded").count()
    };
    // Every probe answers within 100 ms and still wants the password; the process lives.
    let still_guarded = |what: &str| {
        for _ in 0..20 {
            let started = Instant::now();
            let (status, _) =
                http_get(exporter.port, "/healthz").unwrap_or_else(|| panic!("{what}: no answer"));
            assert_eq!(status, 401, "{what}: still needs the password");
            assert!(
                started.elapsed() < std::time::Duration::from_millis(100),
                "{what}: answered at once"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(exporter.child.id(), pid);
    };
    let replace = |with: &dyn Fn(&Path)| {
        let _ = std::fs::remove_file(&config);
        with(&config);
    };
    type Rewrite<'a> = Box<dyn Fn(&Path) + 'a>;
    let hostile: Vec<(&str, Rewrite)> = vec![
        (
            "a FIFO",
            Box::new(|path: &Path| {
                assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
            }),
        ),
        (
            "a symlink to /dev/zero",
            Box::new(|path: &Path| std::os::unix::fs::symlink("/dev/zero", path).unwrap()),
        ),
        (
            "an alias bomb",
            Box::new(|path: &Path| std::fs::write(path, alias_bomb(12)).unwrap()),
        ),
        (
            "45,000-deep nesting",
            Box::new(|path: &Path| {
                std::fs::write(
                    path,
                    format!(
                        "basic_auth_users: {}{}\n",
                        "[".repeat(45_000),
                        "]".repeat(45_000)
                    ),
                )
                .unwrap()
            }),
        ),
        (
            "an interval of centuries",
            Box::new(|path: &Path| {
                std::fs::write(
                    path,
                    format!("{good}rate_limit:\n  interval: 1000years\n  burst: 1\n"),
                )
                .unwrap()
            }),
        ),
        (
            "an empty file (no basic auth)",
            Box::new(|path: &Path| std::fs::write(path, "").unwrap()),
        ),
    ];
    for (what, make) in &hostile {
        let before = refused_reloads();
        replace(make.as_ref());
        still_guarded(what);
        eventually(&format!("{what}: refused"), WAIT, || {
            (refused_reloads() > before).then_some(())
        })
        .await;
        assert_eq!(
            exporter.value("podeni_web_config_last_reload_successful"),
            None,
            "{what}: /metrics still needs the password"
        );
        replace(&|path: &Path| std::fs::write(path, &good).unwrap());
    }
    let log = exporter.log();
    assert!(log.contains("removing basic auth takes a restart"), "{log}");
    assert!(!log.contains("panicked"), "{log}");

    // Rewritten in place (`cat new > file`: truncate, then write) every 100 ms for 5 s,
    // while unauthenticated requests keep coming: not one gets through.
    let writer_config = config.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let good = good.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut file = std::fs::File::create(&writer_config).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(30));
                file.write_all(good.as_bytes()).unwrap();
                drop(file);
                std::thread::sleep(std::time::Duration::from_millis(70));
            }
        })
    };
    let mut answered = 0;
    let until = Instant::now() + std::time::Duration::from_secs(5);
    while Instant::now() < until {
        if let Some((status, _)) = http_get(exporter.port, "/metrics") {
            assert_eq!(status, 401, "an unauthenticated request got through");
            answered += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(answered > 100, "{answered} requests");
}
