//! The HTTP endpoint: a small hyper 1.x server, plain or TLS (`web`). GET and HEAD
//! only, a handshake and header read timeout so idle or slow clients cannot hold
//! connections, and graceful shutdown.
//!
//! `/metrics` only formats what the loop already computed; nothing is fetched per scrape.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{
    ACCEPT, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, HeaderValue, RETRY_AFTER, VARY, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};
use tracing::Instrument;

use super::negotiation::{Body, accepts_gzip, prefers_openmetrics, text};
use crate::http::connections::{Connections, Slot};
use crate::http::web::{Active, Web};
use crate::metrics::{self, Metrics, SharedSnapshot, Source};
use crate::report::status_page::{self, SourceHealth};

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Request line and headers: a scrape needs well under 1 KiB.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How often a repeating warning (accept failures, refused connections) may be logged.
const WARN_EVERY: Duration = Duration::from_secs(10);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// `Ok` when ready, else what is still missing (the `/readyz` body).
pub type ReadinessCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

pub struct Endpoints {
    pub registry: Registry,
    pub readiness: ReadinessCheck,
    /// What `/` and `/status.json` show, and the source health beside it.
    pub snapshot: SharedSnapshot,
    pub metrics: Metrics,
    /// Bounds the bodies (`/metrics`, `/`, `/status.json`) rendered at once: two
    /// Prometheus replicas and a curious human never make it render more than this; the
    /// rest get 503 at once.
    pub scrapes: tokio::sync::Semaphore,
}

/// Limits on what clients can hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections; at the cap the oldest idle one is closed for a new one.
    pub max_connections: usize,
}

/// Serves until `shutdown` completes, then lets open requests finish (bounded).
pub async fn serve(
    listener: TcpListener,
    endpoints: Arc<Endpoints>,
    web: Arc<Web>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let connections = Connections::new(limits.max_connections);
    let mut accept_errors = RateLimitedLog::default();
    let mut refused = RateLimitedLog::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors, say: wait a little, and say so at
                        // most every 10 s rather than ten times a second.
                        accept_errors.warn(|suppressed| tracing::warn!(%error, suppressed, "accept failed"));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Some(slot) = connections.admit() else {
                    drop(stream);
                    refused.warn(|suppressed| tracing::warn!(max = limits.max_connections, suppressed, "every connection is busy; refusing a new one"));
                    continue;
                };
                let task = serve_conn(stream, endpoints.clone(), web.clone(), slot, graceful.watcher());
                tokio::spawn(task.instrument(tracing::debug_span!("connection", %peer)));
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("open connections did not finish in time");
    }
}

/// One connection, plain or TLS, until the client closes it, the server shuts down or
/// the connection is evicted to make room for a new one.
async fn serve_conn(
    stream: TcpStream,
    endpoints: Arc<Endpoints>,
    web: Arc<Web>,
    slot: Slot,
    watcher: Watcher,
) {
    let active = web.current();
    let tracked = slot.connection();
    let service = service_fn(move |request| {
        let endpoints = endpoints.clone();
        let web = web.clone();
        let tracked = tracked.clone();
        async move {
            let response = guarded(endpoints, &web, request).await;
            Ok::<_, Infallible>(response.map(|body| tracked.busy(body)))
        }
    });
    let served = async move {
        let result = match &active.tls {
            Some(acceptor) => {
                match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        watcher
                            .watch(http1().serve_connection(TokioIo::new(stream), service))
                            .await
                    }
                    Ok(Err(error)) => return tracing::debug!(%error, "TLS handshake failed"),
                    Err(_) => return tracing::debug!("TLS handshake timed out"),
                }
            }
            None => {
                watcher
                    .watch(http1().serve_connection(TokioIo::new(stream), service))
                    .await
            }
        };
        if let Err(error) = result {
            tracing::debug!(%error, "connection ended with an error");
        }
    };
    tokio::select! {
        () = served => {}
        // Dropping the connection closes the socket.
        () = slot.evicted() => tracing::debug!("idle connection closed to make room"),
    }
}

/// HTTP/1.1 with the header limits, for plain and TLS streams alike.
fn http1() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
}

/// The web config's rules around [`respond`]: the rate limit (429), basic auth (401,
/// unless a probe and `--web.probes-without-auth`), then the configured headers on
/// whatever is answered.
async fn guarded<B>(
    endpoints: Arc<Endpoints>,
    web: &Web,
    request: Request<B>,
) -> Response<Full<Bytes>> {
    let active = web.current();
    let limited = active
        .limiter
        .as_ref()
        .is_some_and(|limiter| limiter.check().is_err());
    let mut response = if limited {
        text(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests; retry later\n",
        )
    } else if !authorized(&active, web.probes_without_auth, &request).await {
        let mut response = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"pod-eni-exporter\", charset=\"UTF-8\""),
        );
        response
    } else {
        respond(endpoints, request).await
    };
    for (name, value) in &active.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

async fn authorized<B>(active: &Active, probes_without_auth: bool, request: &Request<B>) -> bool {
    let Some(auth) = &active.auth else {
        return true;
    };
    if probes_without_auth && matches!(request.uri().path(), "/healthz" | "/readyz") {
        return true;
    }
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    auth.allows(header).await
}

/// Logs a repeating problem at most every [`WARN_EVERY`], with how many were not logged.
#[derive(Default)]
struct RateLimitedLog {
    last: Option<std::time::Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    fn warn(&mut self, log: impl FnOnce(u64)) {
        if self.last.is_some_and(|last| last.elapsed() < WARN_EVERY) {
            self.suppressed += 1;
            return;
        }
        log(self.suppressed);
        self.last = Some(std::time::Instant::now());
        self.suppressed = 0;
    }
}

async fn respond<B>(endpoints: Arc<Endpoints>, request: Request<B>) -> Response<Full<Bytes>> {
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
    let gzip = header(ACCEPT_ENCODING).is_some_and(accepts_gzip);
    let response = match request.uri().path() {
        "/metrics" => {
            let openmetrics = header(ACCEPT).is_some_and(prefers_openmetrics);
            rendered(endpoints, gzip, move |endpoints, body| {
                Some(metrics::encode(&endpoints.registry, openmetrics, body))
            })
            .await
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => match (endpoints.readiness)() {
            Ok(()) => text(StatusCode::OK, "ready\n"),
            Err(missing) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {missing}\n"),
            ),
        },
        "/" => {
            let refresh = request.uri().query().and_then(refresh_seconds);
            rendered(endpoints, gzip, move |endpoints, body| {
                let page = status_page::render(
                    endpoints.snapshot.get().as_deref(),
                    &source_health(&endpoints.metrics),
                    (endpoints.readiness)().err().as_deref(),
                    refresh,
                );
                body.write_str(&page).ok()?;
                Some("text/html; charset=utf-8")
            })
            .await
        }
        "/status.json" => {
            rendered(endpoints, gzip, |endpoints, body| {
                let snapshot = endpoints.snapshot.get()?;
                body.write_str(&crate::report::render_json(&snapshot, None))
                    .ok()?;
                Some("application/json")
            })
            .await
        }
        _ => text(StatusCode::NOT_FOUND, "not found; see /\n"),
    };
    // For HEAD, hyper sends the headers (Content-Length included) and drops the body.
    response
}

/// A body `render` writes, returning its content type (`None`: nothing to show before
/// the first snapshot), within `--web.max-requests`.
/// Rendering and compressing take milliseconds at the full envelope: on a blocking
/// thread, so probes and other connections never wait for them.
async fn rendered(
    endpoints: Arc<Endpoints>,
    gzip: bool,
    render: impl FnOnce(&Endpoints, &mut Body) -> Option<&'static str> + Send + 'static,
) -> Response<Full<Bytes>> {
    let Ok(_rendering) = endpoints.scrapes.try_acquire() else {
        return busy();
    };
    let rendering = endpoints.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let mut body = Body::new(gzip);
        match render(&rendering, &mut body) {
            Some(content_type) => body.respond(content_type),
            None => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "no snapshot yet; see /readyz\n",
            ),
        }
    })
    .await;
    let mut response = rendered.unwrap_or_else(|error| {
        tracing::error!(%error, "rendering failed");
        text(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n")
    });
    response
        .headers_mut()
        .insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}

/// 503 with `Retry-After` when `--web.max-requests` renders are already running.
fn busy() -> Response<Full<Bytes>> {
    let mut response = text(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many renders at once; retry\n",
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// `refresh=N` in a query string: the status page's opt-in auto-refresh.
fn refresh_seconds(query: &str) -> Option<u32> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("refresh="))
        .and_then(|seconds| seconds.parse().ok())
}

fn source_health(metrics: &Metrics) -> Vec<SourceHealth> {
    Source::ALL
        .into_iter()
        .map(|source| {
            let (up, last) = metrics.health.get(source);
            SourceHealth {
                name: source.as_str(),
                up,
                last_success: last.and_then(|s| jiff::Timestamp::from_second(s as i64).ok()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Endpoints;

    fn endpoints(scrapes: usize) -> std::sync::Arc<Endpoints> {
        std::sync::Arc::new(Endpoints {
            registry: prometheus_client::registry::Registry::default(),
            readiness: std::sync::Arc::new(|| Ok(())),
            snapshot: Default::default(),
            metrics: Default::default(),
            scrapes: tokio::sync::Semaphore::new(scrapes),
        })
    }

    #[tokio::test]
    async fn scrapes_beyond_the_bound_get_503_at_once_and_probes_still_answer() {
        let get = |path: &str| hyper::Request::get(path).body(()).expect("a request");
        let busy = endpoints(0);
        let response = super::respond(busy.clone(), get("/metrics")).await;
        assert_eq!(response.status(), hyper::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(super::respond(busy, get("/healthz")).await.status(), 200);
        let free = endpoints(1);
        assert_eq!(
            super::respond(free.clone(), get("/metrics")).await.status(),
            200
        );
        assert_eq!(
            free.scrapes.available_permits(),
            1,
            "the permit is held only while rendering"
        );
    }

    #[test]
    fn the_status_page_refresh_comes_from_the_query() {
        assert_eq!(super::refresh_seconds("refresh=30"), Some(30));
        assert_eq!(super::refresh_seconds("a=b&refresh=5"), Some(5));
        assert_eq!(super::refresh_seconds("refresh=soon"), None);
        assert_eq!(super::refresh_seconds("norefresh=1"), None);
    }
}
