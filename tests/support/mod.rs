//! Shared test back ends: moto (a real EC2 emulator), a fake Kubernetes API server, a
//! TCP proxy that can cut EC2 off, and a builder for the incident scenario on them.
#![allow(dead_code)] // each test crate uses a different part

pub mod apiserver;
pub mod clients;
pub mod dashboards;
pub mod ec2_stub;
pub mod exporter;
pub mod manifests;
pub mod moto;
pub mod pki;
pub mod prometheus;
pub mod proxy;
pub mod real_apiserver;
pub mod synthetic;
pub mod victoria;
pub mod world;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The project checkout: examples, scripts, deploy files and docs are read from here.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a finished command said on stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The built binary in live mode against `kubeconfig` and an EC2 endpoint, with test
/// credentials and the default log filter.
pub fn live_command(args: &[&str], kubeconfig: &std::path::Path, ec2_endpoint: &str) -> Command {
    live_command_of(
        env!("CARGO_BIN_EXE_pod-eni-exporter").as_ref(),
        args,
        kubeconfig,
        ec2_endpoint,
    )
}

/// [`live_command`] for another build of the exporter (the envelope's before/after).
pub fn live_command_of(
    binary: &std::ffi::OsStr,
    args: &[&str],
    kubeconfig: &std::path::Path,
    ec2_endpoint: &str,
) -> Command {
    let mut command = Command::new(binary);
    command
        .args(args)
        .args(["--cluster-name", world::CLUSTER])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("AWS_ENDPOINT_URL_EC2", ec2_endpoint)
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("RUST_LOG");
    command
}

/// A live `audit --output json` (with `extra` flags, exit code as given), then
/// `snapshot --out DIR` and `audit --from DIR`: the two reports, each checked for where
/// its time comes from and then stripped of it, so they can be compared.
pub fn live_and_snapshot_audits(
    kubeconfig: &std::path::Path,
    ec2_endpoint: &str,
    out: &std::path::Path,
    extra: &[&str],
    live_exit: i32,
) -> (serde_json::Value, serde_json::Value) {
    let mut args = vec!["audit", "--output", "json"];
    args.extend_from_slice(extra);
    let live = live_command(&args, kubeconfig, ec2_endpoint)
        .output()
        .unwrap();
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(live.status.code(), Some(live_exit), "{}", stderr(&live));
    let snapshot = ["snapshot", "--out", out.to_str().unwrap()];
    let written = live_command(&snapshot, kubeconfig, ec2_endpoint)
        .output()
        .unwrap();
    assert!(written.status.success(), "{}", stderr(&written));
    let offline = Command::new(env!("CARGO_BIN_EXE_pod-eni-exporter"))
        .args(["audit", "--output", "json", "--from", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(offline.status.success(), "{}", stderr(&offline));
    let strip = |bytes: &[u8], source: &str| {
        let mut audit: serde_json::Value = serde_json::from_slice(bytes).expect("JSON");
        assert_eq!(audit["observedAtSource"], source);
        let fields = audit.as_object_mut().unwrap();
        fields.remove("observedAt");
        fields.remove("observedAtSource");
        audit
    };
    (
        strip(&live.stdout, "live"),
        // snapshot --out records its capture time.
        strip(&offline.stdout, "metadata"),
    )
}

/// Serves HTTP/1.1 on `listener` until the runtime ends, one task per connection, each
/// request answered by `respond` (the stand-in servers' accept loop).
pub fn serve_http<R, F, B>(listener: tokio::net::TcpListener, respond: R)
where
    R: Fn(hyper::Request<hyper::body::Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = hyper::Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let respond = respond.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let response = respond(request);
                    async move { Ok::<_, std::convert::Infallible>(response.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of one series in a Prometheus text exposition, e.g.
/// `podeni_source_up{source="ec2"}`.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// A plain HTTP/1.1 GET on loopback: (status code, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_request(port, "GET", path)
}

/// A bodiless request with any method: (status code, body).
pub fn http_request(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    http_exchange(
        port,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        ),
    )
}

/// A form POST on loopback (what the Prometheus HTTP API accepts): (status, body).
pub fn http_post_form(port: u16, path: &str, form: &[(&str, &str)]) -> Option<(u16, String)> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    http_exchange(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn http_exchange(port: u16, request: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
