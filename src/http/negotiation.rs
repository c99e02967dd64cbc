//! Content negotiation for the endpoint's bodies: whether the scraper asked for
//! OpenMetrics (`Accept`) or gzip (`Accept-Encoding`), by the weights it gave them, and
//! the responses that carry a body in the type and encoding it takes.

use std::fmt;
use std::io::{BufWriter, Write};

use flate2::write::GzEncoder;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

/// Whether an `Accept` header asks for OpenMetrics over the text format: it must name
/// `application/openmetrics-text` (any case) with a weight above 0, and at least the
/// weight it gives the text format (`text/plain`, `text/*` or `*/*`).
pub(super) fn prefers_openmetrics(accept: &str) -> bool {
    let mut openmetrics = 0.0f32;
    let mut text = 0.0f32;
    for (media, weight) in weighted(accept) {
        match media.as_str() {
            "application/openmetrics-text" => openmetrics = openmetrics.max(weight),
            "text/plain" | "text/*" | "*/*" => text = text.max(weight),
            _ => {}
        }
    }
    openmetrics > 0.0 && openmetrics >= text
}

/// Whether an `Accept-Encoding` header takes gzip (Prometheus always sends it): named,
/// or matched by `*`, with a weight above 0.
pub(super) fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut gzip = None;
    let mut any = 0.0f32;
    for (coding, weight) in weighted(accept_encoding) {
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(gzip.unwrap_or(0.0f32).max(weight)),
            "*" => any = any.max(weight),
            _ => {}
        }
    }
    gzip.unwrap_or(any) > 0.0
}

/// The items of a header like `Accept`: each lower-cased, with its `q` weight (1 when
/// absent, 0 when unreadable).
fn weighted(header: &str) -> impl Iterator<Item = (String, f32)> + '_ {
    header.split(',').map(|item| {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .filter_map(|p| p.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, q)| q.trim().parse::<f32>().ok())
            .filter(|q| q.is_finite())
            .unwrap_or(0.0)
            .clamp(0.0, 1.0);
        (name, weight)
    })
}

/// Where a body goes as it is rendered: kept as text, or gzip-compressed as it comes.
/// Compressed as it comes, a full-envelope `/metrics` (6 MiB of text) never exists
/// whole: only its ~300 KiB of gzip does, so a scrape neither grows a 6 MiB string
/// (copying it at each doubling) nor faults in fresh pages for it.
pub(super) enum Body {
    Plain(String),
    Gzip(BufWriter<GzEncoder<Vec<u8>>>),
}

/// Bytes handed to the compressor at a time: it pays a call per write, and encoders
/// write a few bytes at a time.
const GZIP_CHUNK: usize = 64 * 1024;

impl Body {
    /// Gzip at the fastest level: a fifth of the default level's time for a slightly
    /// larger body (BENCHMARKS.md, "/metrics with gzip"); with a scrape every few
    /// seconds from two Prometheus replicas, time is what counts.
    pub(super) fn new(gzip: bool) -> Self {
        if gzip {
            let encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            Body::Gzip(BufWriter::with_capacity(GZIP_CHUNK, encoder))
        } else {
            Body::Plain(String::new())
        }
    }

    pub(super) fn respond(self, content_type: &'static str) -> Response<Full<Bytes>> {
        let compressed = match self {
            Body::Plain(body) => return with_type(StatusCode::OK, body, content_type),
            Body::Gzip(writer) => writer
                .into_inner()
                .map_err(|error| error.into_error())
                .and_then(GzEncoder::finish),
        };
        // Compressing into memory cannot fail.
        let Ok(compressed) = compressed else {
            return text(StatusCode::INTERNAL_SERVER_ERROR, "compressing failed\n");
        };
        let mut response = with_type(StatusCode::OK, compressed, content_type);
        response
            .headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    }
}

impl fmt::Write for Body {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        match self {
            Body::Plain(body) => body.write_str(text),
            Body::Gzip(writer) => writer.write_all(text.as_bytes()).map_err(|_| fmt::Error),
        }
    }
}

pub(super) fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    with_type(status, body.into(), "text/plain; charset=utf-8")
}

fn with_type(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation_follows_weights_and_ignores_case() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(prefers_openmetrics(prometheus));
        assert!(prefers_openmetrics(
            "Application/OpenMetrics-Text; version=1.0.0"
        ));
        assert!(!prefers_openmetrics("application/openmetrics-text;q=0"));
        assert!(!prefers_openmetrics("application/openmetrics-text; Q=0.0"));
        assert!(!prefers_openmetrics(
            "text/plain;q=0.9,application/openmetrics-text;q=0.5"
        ));
        assert!(!prefers_openmetrics("application/openmetrics-text;q=nan"));
        assert!(!prefers_openmetrics("text/plain"));
        assert!(!prefers_openmetrics(""));
    }

    #[test]
    fn gzip_only_when_the_scraper_takes_it() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("GZIP, deflate"));
        assert!(accepts_gzip("deflate, *"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("*;q=0.5, gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip(""));
    }

    #[test]
    fn a_gzipped_body_reads_back_the_same() {
        use std::fmt::Write as _;
        use std::io::Read;
        let line = "podeni_node_info{node=\"n1\"} 1\n";
        let body = line.repeat(10_000);
        let mut gzip = Body::new(true);
        for _ in 0..10_000 {
            gzip.write_str(line).unwrap();
        }
        let response = gzip.respond("text/plain");
        assert_eq!(response.headers()["content-type"], "text/plain");
        assert_eq!(response.headers()["content-encoding"], "gzip");
        let bytes =
            futures::executor::block_on(http_body_util::BodyExt::collect(response.into_body()))
                .unwrap()
                .to_bytes();
        assert!(bytes.len() < body.len() / 10, "{} bytes", bytes.len());
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, body);
    }
}
