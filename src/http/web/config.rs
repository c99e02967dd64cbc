//! The exporter-toolkit web configuration file (`--web.config.file`), the format
//! node_exporter and friends read: parsed strictly, so a key this exporter does not
//! honour is a startup error naming it rather than a setting silently ignored.
//!
//! Which keys are honoured, and how, is the README's "Securing the endpoint".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use crate::regular_file;

/// What the file asks for, checked: every value here is one the server can honour.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    pub tls: Option<TlsSettings>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// User → bcrypt hash; empty means no basic auth.
    pub users: BTreeMap<String, String>,
    pub rate_limit: Option<RateLimit>,
}

#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub cert: Pem,
    pub key: Pem,
    pub client_ca: Option<Pem>,
    pub client_auth: ClientAuth,
    pub allowed_sans: Vec<String>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// TLS 1.2 suites by IANA name, in order; `None` for rustls' defaults.
    pub cipher_suites: Option<Vec<String>>,
    pub prefer_server_cipher_suites: bool,
    /// rustls key-exchange group names, in order; `None` for rustls' defaults.
    pub curves: Option<Vec<&'static str>>,
}

/// PEM text, inline in the config or in a file (re-read when it changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pem {
    Inline(String),
    File(PathBuf),
}

/// Go's `tls.ClientAuthType`, by the names the toolkit uses, weakest first (the order
/// tells a reload that would weaken client authentication).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    /// Whether a client must present some certificate to finish the handshake.
    pub fn requires_certificate(self) -> bool {
        matches!(
            self,
            Self::RequireAnyClientCert | Self::RequireAndVerifyClientCert
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub interval: Duration,
    pub burst: u32,
}

/// The web config file at most: a real one is a few hundred bytes.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;
/// bcrypt costs one verification may take at most: cost 13 takes about 0.5 s on one core
/// here (BENCHMARKS.md), 14 a second; each step doubles it. A login with a wrong
/// password costs the server this much, and a cached verdict only helps the right one.
pub const MAX_BCRYPT_COST: u32 = 13;
/// The costs bcrypt itself can verify.
const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;
/// The rate limit's interval at most: a longer one is a typo, and the limiter cannot
/// represent one of centuries.
const MAX_RATE_LIMIT_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Flow brackets (`[`, `{`) at most: the YAML parser takes time quadratic in their
/// nesting (a few seconds at 45,000), and a web config needs a handful.
const MAX_BRACKETS: usize = 256;
/// `*` at most, so alias expansion stays small (a web config needs none).
const MAX_ALIASES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("web config {path}: {message}")]
    Read { path: String, message: String },
    #[error("web config {path}: {key}: {message}")]
    Invalid {
        path: String,
        key: String,
        message: String,
    },
    #[error("web config {path}: {message}")]
    Syntax { path: String, message: String },
}

/// The file as written. `deny_unknown_fields` everywhere: an unknown key is an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsFile>,
    http_server_config: Option<HttpFile>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
    rate_limit: Option<RateLimitFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "tls_server_config settings (cert_file, key_file, client_auth_type, ...)"
)]
struct TlsFile {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<ClientAuth>,
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    client_allowed_sans: Vec<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "http_server_config settings (http2, headers)"
)]
struct HttpFile {
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "interval and burst")]
struct RateLimitFile {
    interval: String,
    burst: u32,
}

/// The response headers the toolkit allows, and the values it accepts for some.
const HEADERS: &[(&str, Option<&[&str]>)] = &[
    ("Content-Security-Policy", None),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-XSS-Protection", None),
    ("Strict-Transport-Security", None),
];

/// TLS 1.2 suites rustls implements, by IANA name (Go's names; Go's short ChaCha20
/// aliases are accepted too).
pub const TLS12_SUITES: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// TLS 1.3 suites: Go accepts their names but always offers all three; so do we.
const TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Go curve name → rustls key-exchange group name.
const CURVES: &[(&str, &str)] = &[
    ("X25519", "X25519"),
    ("CurveP256", "secp256r1"),
    ("CurveP384", "secp384r1"),
    ("X25519MLKEM768", "X25519MLKEM768"),
];

impl WebConfig {
    /// Reads and checks the file. Relative paths in it are relative to its directory,
    /// as in the toolkit. Certificates are not read here (see `tls::server_config`).
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let read = |message: String| WebConfigError::Read {
            path: path.display().to_string(),
            message,
        };
        let bytes =
            regular_file::read(path, MAX_CONFIG_BYTES).map_err(|error| read(error.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| read("not UTF-8 text".to_owned()))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, WebConfigError> {
        let shown = path.display().to_string();
        yaml_bounds(text).map_err(|message| WebConfigError::Syntax {
            path: shown.clone(),
            message,
        })?;
        let file: File = if text.trim().is_empty() {
            File::default()
        } else {
            let deserializer = serde_yaml_ng::Deserializer::from_str(text);
            serde_path_to_error::deserialize(deserializer).map_err(|error| {
                let key = error.path().to_string();
                let message = error.into_inner().to_string();
                // The YAML error already starts with the key: say it once.
                let message = message
                    .strip_prefix(&format!("{key}: "))
                    .map_or(message.clone(), str::to_owned);
                if key == "." {
                    WebConfigError::Syntax {
                        path: shown.clone(),
                        message,
                    }
                } else {
                    WebConfigError::Invalid {
                        path: shown.clone(),
                        key,
                        message,
                    }
                }
            })?
        };
        let invalid = |key: &str, message: String| WebConfigError::Invalid {
            path: shown.clone(),
            key: key.to_owned(),
            message,
        };
        let directory = path.parent().unwrap_or(Path::new("."));
        let tls = match file.tls_server_config {
            Some(tls) => tls_settings(tls, directory, &invalid)?,
            None => None,
        };
        let http = file.http_server_config.unwrap_or_default();
        if http.http2 == Some(true) {
            // Accepted because the toolkit's own default is true and many files say so;
            // this server speaks HTTP/1.1, which every Prometheus scrapes with.
            tracing::info!("web config: http2 is true, but this exporter serves HTTP/1.1 only");
        }
        let headers = http
            .headers
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| header(&name, &value, &invalid))
            .collect::<Result<_, _>>()?;
        for (user, hash) in &file.basic_auth_users {
            let key = format!("basic_auth_users.{user}");
            if user.contains(':') || user.is_empty() {
                return Err(invalid(
                    &key,
                    "a user name must be non-empty and without ':' (Basic auth cannot carry one)"
                        .to_owned(),
                ));
            }
            let Ok(parts) = hash.parse::<bcrypt::HashParts>() else {
                return Err(invalid(
                    &key,
                    "not a bcrypt hash (make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"
                        .to_owned(),
                ));
            };
            let cost = parts.get_cost();
            if !BCRYPT_COSTS.contains(&cost) {
                return Err(invalid(
                    &key,
                    format!("cost {cost}: bcrypt verifies only costs 4 to 31"),
                ));
            }
            if cost > MAX_BCRYPT_COST {
                return Err(invalid(
                    &key,
                    format!(
                        "cost {cost} is above the maximum of {MAX_BCRYPT_COST}: each wrong password would keep a core busy for over a second (cost 13 takes about half a second, each step doubles it)"
                    ),
                ));
            }
        }
        let rate_limit = file
            .rate_limit
            .map(|limit| {
                let interval = humantime::parse_duration(&limit.interval)
                    .map_err(|error| format!("{:?}: {error}", limit.interval))
                    .and_then(|interval| {
                        if interval > MAX_RATE_LIMIT_INTERVAL {
                            Err(format!(
                                "{:?} is longer than the maximum of 24h",
                                limit.interval
                            ))
                        } else {
                            Ok(interval)
                        }
                    })
                    .map_err(|message| invalid("rate_limit.interval", message))?;
                Ok::<_, WebConfigError>(RateLimit {
                    interval,
                    burst: limit.burst,
                })
            })
            .transpose()?
            // The toolkit's way to turn it off.
            .filter(|limit| !limit.interval.is_zero());
        if let Some(limit) = rate_limit
            && limit.burst == 0
        {
            return Err(invalid(
                "rate_limit.burst",
                "must be at least 1 when interval is set".to_owned(),
            ));
        }
        Ok(Self {
            tls,
            headers,
            users: file.basic_auth_users,
            rate_limit,
        })
    }

    /// The files the config names, to notice when they change.
    pub fn files(&self) -> Vec<&Path> {
        let Some(tls) = &self.tls else {
            return Vec::new();
        };
        [Some(&tls.cert), Some(&tls.key), tls.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|pem| match pem {
                Pem::File(path) => Some(path.as_path()),
                Pem::Inline(_) => None,
            })
            .collect()
    }
}

/// What the YAML parser is asked to do, bounded before it sees the text: flow nesting
/// and alias uses (`serde_yaml_ng` stops at 128 levels of block nesting by itself).
fn yaml_bounds(text: &str) -> Result<(), String> {
    let brackets = text.chars().filter(|c| matches!(c, '[' | '{')).count();
    if brackets > MAX_BRACKETS {
        return Err(format!(
            "{brackets} '[' or '{{', more than the {MAX_BRACKETS} a web config may have"
        ));
    }
    let aliases = text.matches('*').count();
    if aliases > MAX_ALIASES {
        return Err(format!(
            "{aliases} '*', more than the {MAX_ALIASES} a web config may have (YAML aliases expand)"
        ));
    }
    Ok(())
}

fn tls_settings(
    tls: TlsFile,
    directory: &Path,
    invalid: &impl Fn(&str, String) -> WebConfigError,
) -> Result<Option<TlsSettings>, WebConfigError> {
    let pem = |inline: Option<String>, file: Option<PathBuf>, key: &str| match (inline, file) {
        (Some(_), Some(_)) => Err(invalid(key, format!("give {key} or {key}_file, not both"))),
        (Some(text), None) => Ok(Some(Pem::Inline(text))),
        (None, Some(file)) if file.as_os_str().is_empty() => Ok(None),
        (None, Some(file)) => Ok(Some(Pem::File(directory.join(file)))),
        (None, None) => Ok(None),
    };
    let cert = pem(tls.cert, tls.cert_file, "cert")?;
    let key = pem(tls.key, tls.key_file, "key")?;
    let client_ca = pem(tls.client_ca, tls.client_ca_file, "client_ca")?;
    let client_auth = tls.client_auth_type.unwrap_or(ClientAuth::NoClientCert);
    // As the toolkit: a section with nothing in it means plain HTTP.
    if cert.is_none() && key.is_none() && client_ca.is_none() && tls.client_auth_type.is_none() {
        return Ok(None);
    }
    let cert = cert.ok_or_else(|| {
        invalid(
            "tls_server_config.cert_file",
            "missing: TLS needs a certificate".to_owned(),
        )
    })?;
    let key = key.ok_or_else(|| {
        invalid(
            "tls_server_config.key_file",
            "missing: TLS needs a private key".to_owned(),
        )
    })?;
    match (client_auth, &client_ca) {
        (ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert, None) => {
            return Err(invalid(
                "tls_server_config.client_ca_file",
                format!(
                    "missing: client_auth_type {client_auth:?} verifies client certificates against it"
                ),
            ));
        }
        (ClientAuth::NoClientCert, Some(_)) => {
            return Err(invalid(
                "tls_server_config.client_auth_type",
                "a client CA is set but client_auth_type is NoClientCert; use RequireAndVerifyClientCert"
                    .to_owned(),
            ));
        }
        _ => {}
    }
    if !tls.client_allowed_sans.is_empty() && !client_auth.requires_certificate() {
        return Err(invalid(
            "tls_server_config.client_allowed_sans",
            "needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert".to_owned(),
        ));
    }
    let version = |value: Option<String>, key: &str, default| match value.as_deref() {
        None | Some("") => Ok(default),
        Some("TLS12") => Ok(TlsVersion::Tls12),
        Some("TLS13") => Ok(TlsVersion::Tls13),
        Some(old @ ("TLS10" | "TLS11")) => Err(invalid(
            key,
            format!("{old} is not supported: rustls implements TLS 1.2 and 1.3 only"),
        )),
        Some(other) => Err(invalid(key, format!("{other:?}: expected TLS12 or TLS13"))),
    };
    let min_version = version(
        tls.min_version,
        "tls_server_config.min_version",
        TlsVersion::Tls12,
    )?;
    let max_version = version(
        tls.max_version,
        "tls_server_config.max_version",
        TlsVersion::Tls13,
    )?;
    if min_version > max_version {
        return Err(invalid(
            "tls_server_config.min_version",
            "is above max_version".to_owned(),
        ));
    }
    let cipher_suites = tls
        .cipher_suites
        .filter(|suites| !suites.is_empty())
        .map(|suites| {
            let mut tls12 = Vec::new();
            for suite in suites {
                let full = if suite.ends_with("_CHACHA20_POLY1305") {
                    format!("{suite}_SHA256")
                } else {
                    suite.clone()
                };
                if TLS12_SUITES.contains(&full.as_str()) {
                    tls12.push(full);
                } else if !TLS13_SUITES.contains(&suite.as_str()) {
                    return Err(invalid(
                        "tls_server_config.cipher_suites",
                        format!(
                            "{suite} is not implemented by rustls, which offers for TLS 1.2 only {}",
                            TLS12_SUITES.join(", ")
                        ),
                    ));
                }
            }
            Ok(tls12)
        })
        .transpose()?;
    if cipher_suites.as_ref().is_some_and(Vec::is_empty) && min_version == TlsVersion::Tls12 {
        return Err(invalid(
            "tls_server_config.cipher_suites",
            "names no TLS 1.2 suite, which would leave TLS 1.2 with none; set min_version: TLS13 instead"
                .to_owned(),
        ));
    }
    let curves = tls
        .curve_preferences
        .filter(|curves| !curves.is_empty())
        .map(|curves| {
            curves
                .iter()
                .map(|curve| {
                    CURVES
                        .iter()
                        .find(|(go, _)| go == curve)
                        .map(|(_, rustls)| *rustls)
                        .ok_or_else(|| {
                            invalid(
                                "tls_server_config.curve_preferences",
                                format!(
                                    "{curve} is not implemented by rustls, which offers {}",
                                    CURVES
                                        .iter()
                                        .map(|(go, _)| *go)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            )
                        })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(Some(TlsSettings {
        cert,
        key,
        client_ca,
        client_auth,
        allowed_sans: tls.client_allowed_sans,
        min_version,
        max_version,
        cipher_suites,
        prefer_server_cipher_suites: tls.prefer_server_cipher_suites.unwrap_or(true),
        curves,
    }))
}

fn header(
    name: &str,
    value: &str,
    invalid: &impl Fn(&str, String) -> WebConfigError,
) -> Result<(HeaderName, HeaderValue), WebConfigError> {
    let key = format!("http_server_config.headers.{name}");
    let Some((canonical, allowed)) = HEADERS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
    else {
        let known: Vec<_> = HEADERS.iter().map(|(name, _)| *name).collect();
        return Err(invalid(
            &key,
            format!(
                "not a header the web config may set (one of {})",
                known.join(", ")
            ),
        ));
    };
    if let Some(allowed) = allowed
        && !allowed.iter().any(|a| a.eq_ignore_ascii_case(value))
    {
        return Err(invalid(
            &key,
            format!("{value:?}: expected one of {}", allowed.join(", ")),
        ));
    }
    let value = HeaderValue::from_str(value)
        .map_err(|_| invalid(&key, format!("{value:?} is not a valid header value")))?;
    // `from_bytes` lower-cases; the allowed names are all valid.
    let name = HeaderName::from_bytes(canonical.as_bytes())
        .map_err(|_| invalid(&key, "not a valid header name".to_owned()))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, String> {
        WebConfig::parse(text, Path::new("/etc/podeni/web.yml")).map_err(|e| e.to_string())
    }

    fn error(text: &str) -> String {
        parse(text).expect_err("the config should be refused")
    }

    const HASH: &str = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG";

    #[test]
    fn an_empty_file_or_an_empty_tls_section_means_plain_http() {
        assert!(parse("").unwrap().tls.is_none());
        assert!(parse("tls_server_config: {}\n").unwrap().tls.is_none());
        assert!(
            parse("tls_server_config:\n  cert_file: \"\"\n")
                .unwrap()
                .tls
                .is_none()
        );
    }

    #[test]
    fn a_full_config_reads_with_paths_relative_to_the_file() {
        let config = parse(&format!(
            r#"
tls_server_config:
  cert_file: tls.crt
  key_file: /abs/tls.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  client_allowed_sans: [prometheus.monitoring.svc]
  min_version: TLS13
  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305, TLS_AES_128_GCM_SHA256]
  prefer_server_cipher_suites: false
  curve_preferences: [CurveP256, X25519]
http_server_config:
  http2: false
  headers:
    X-Frame-Options: DENY
    Strict-Transport-Security: max-age=31536000
    X-XSS-Protection: ""
basic_auth_users:
  prometheus: {HASH}
rate_limit:
  interval: 100ms
  burst: 20
"#
        ))
        .unwrap();
        let tls = config.tls.as_ref().unwrap();
        assert_eq!(tls.cert, Pem::File("/etc/podeni/tls.crt".into()));
        assert_eq!(tls.key, Pem::File("/abs/tls.key".into()));
        assert_eq!(tls.client_auth, ClientAuth::RequireAndVerifyClientCert);
        assert_eq!(tls.min_version, TlsVersion::Tls13);
        assert_eq!(tls.max_version, TlsVersion::Tls13);
        assert_eq!(
            tls.cipher_suites.as_deref(),
            Some(&["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256".to_owned()][..])
        );
        assert!(!tls.prefer_server_cipher_suites);
        assert_eq!(tls.curves.as_deref(), Some(&["secp256r1", "X25519"][..]));
        let headers: Vec<_> = config.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            headers,
            ["strict-transport-security", "x-frame-options"],
            "blank ones unset"
        );
        assert_eq!(config.users["prometheus"], HASH);
        assert_eq!(
            config.rate_limit,
            Some(RateLimit {
                interval: Duration::from_millis(100),
                burst: 20
            })
        );
        assert_eq!(config.files().len(), 3);
    }

    #[test]
    fn every_refusal_names_the_key() {
        let cases: &[(&str, &[&str])] = &[
            (
                "tls_server_config:\n  cert_fil: a\n",
                &["tls_server_config", "unknown field `cert_fil`"],
            ),
            ("colour: blue\n", &["unknown field `colour`"]),
            (
                "rate_limit:\n  interval: 1s\n  burst: 1\n  jitter: 2\n",
                &["rate_limit", "jitter"],
            ),
            (
                "tls_server_config:\n  cert_file: a\n",
                &["tls_server_config.key_file", "missing"],
            ),
            (
                "tls_server_config:\n  key_file: a\n",
                &["tls_server_config.cert_file", "missing"],
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n",
                &["tls_server_config.client_auth_type", "Sometimes"],
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
                &["tls_server_config.client_ca_file", "missing"],
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n",
                &["tls_server_config.client_auth_type", "NoClientCert"],
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [x]\n",
                &["tls_server_config.client_allowed_sans"],
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
                &["tls_server_config.min_version", "TLS10", "rustls"],
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  max_version: TLS12\n  min_version: TLS13\n",
                &["tls_server_config.min_version", "above max_version"],
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n",
                &[
                    "tls_server_config.cipher_suites",
                    "TLS_RSA_WITH_AES_128_CBC_SHA",
                    "rustls",
                ],
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [CurveP521]\n",
                &["tls_server_config.curve_preferences", "CurveP521"],
            ),
            (
                "tls_server_config:\n  cert: x\n  cert_file: a\n  key_file: b\n",
                &["cert", "not both"],
            ),
            (
                "http_server_config:\n  headers:\n    Server: nginx\n",
                &["http_server_config.headers.Server"],
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow-all\n",
                &["http_server_config.headers.X-Frame-Options", "deny"],
            ),
            (
                "http_server_config:\n  http2: maybe\n",
                &["http_server_config.http2"],
            ),
            (
                "basic_auth_users:\n  alice: hunter2\n",
                &["basic_auth_users.alice", "not a bcrypt hash"],
            ),
            (
                "rate_limit:\n  interval: soon\n  burst: 1\n",
                &["rate_limit.interval", "soon"],
            ),
            (
                "rate_limit:\n  interval: 1s\n  burst: 0\n",
                &["rate_limit.burst"],
            ),
            (
                "tls_server_config:\n  cert_file: [a\n",
                &["/etc/podeni/web.yml"],
            ),
        ];
        for (text, needles) in cases {
            let message = error(text);
            for needle in *needles {
                assert!(
                    message.contains(needle),
                    "{text:?} gave {message:?}, without {needle:?}"
                );
            }
            assert!(
                message.starts_with("web config /etc/podeni/web.yml: "),
                "{message}"
            );
        }
    }

    #[test]
    fn a_yaml_syntax_error_says_where() {
        let message = error("basic_auth_users:\n  alice: \"unterminated\n");
        assert!(message.contains("line"), "{message}");
    }

    #[test]
    fn a_zero_interval_turns_the_rate_limit_off() {
        let config = parse("rate_limit:\n  interval: 0s\n  burst: 0\n").unwrap();
        assert_eq!(config.rate_limit, None);
    }
}
