//! Who may talk to the endpoint and how: the web configuration file (TLS, client
//! certificates, basic auth, headers, rate limit), kept current while serving.
//!
//! The file and the certificate files it names are checked (a `stat` each) on every
//! connection and request; when one changed, the whole configuration is built again
//! and swapped in. So cert-manager's rotations are picked up by the next handshake
//! without a restart, and a broken new file keeps the previous configuration, with an
//! error logged and `podeni_web_config_last_reload_successful` at 0.

pub mod auth;
pub mod config;
pub mod tls;

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hyper::header::{HeaderName, HeaderValue};

use self::auth::BasicAuth;
use self::config::WebConfig;
use prometheus_client::registry::Registry;

use crate::metrics::{Metrics, WebMetrics};

/// The configuration in force.
#[derive(Default)]
pub struct Active {
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub auth: Option<Arc<BasicAuth>>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub limiter: Option<DefaultDirectRateLimiter>,
}

impl Active {
    fn build(config: &WebConfig, metrics: &WebMetrics) -> Result<Self, String> {
        let tls = match &config.tls {
            Some(settings) => {
                let loaded = tls::server_config(settings)?;
                metrics.certificate_expiry.set(loaded.not_after);
                Some(tokio_rustls::TlsAcceptor::from(loaded.config))
            }
            None => None,
        };
        let limiter = config.rate_limit.map(|limit| {
            let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::with_period(limit.interval)
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(burst);
            RateLimiter::direct(quota)
        });
        Ok(Self {
            tls,
            auth: BasicAuth::new(config.users.clone()),
            headers: config.headers.clone(),
            limiter,
        })
    }
}

/// The web configuration, re-read when its files change.
pub struct Web {
    /// `None`: plain HTTP, no auth, and nothing to watch.
    path: Option<PathBuf>,
    /// `/healthz` and `/readyz` answer without basic auth (`--web.probes-without-auth`).
    pub probes_without_auth: bool,
    state: Mutex<State>,
    metrics: WebMetrics,
}

struct State {
    active: Arc<Active>,
    /// The files last looked at (the config file first) and what they looked like.
    watched: Vec<PathBuf>,
    stamps: Vec<Option<Stamp>>,
}

/// Enough to notice a rewrite or a Secret volume's symlink swap.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
    device: u64,
}

fn stamps(files: &[PathBuf]) -> Vec<Option<Stamp>> {
    use std::os::unix::fs::MetadataExt;
    files
        .iter()
        .map(|file| {
            std::fs::metadata(file).ok().map(|meta| Stamp {
                modified: meta.modified().ok(),
                len: meta.len(),
                inode: meta.ino(),
                device: meta.dev(),
            })
        })
        .collect()
}

fn watched(path: &Path, config: &WebConfig) -> Vec<PathBuf> {
    std::iter::once(path.to_owned())
        .chain(config.files().into_iter().map(Path::to_owned))
        .collect()
}

impl Web {
    /// Reads and checks the file and everything it names; any problem is an error
    /// (the caller exits 2).
    pub fn load(
        path: Option<&Path>,
        probes_without_auth: bool,
        registry: &mut Registry,
    ) -> anyhow::Result<Self> {
        let (active, watched, metrics) = match path {
            Some(path) => {
                let config = WebConfig::load(path)?;
                let metrics = Metrics::register_web(registry, config.tls.is_some());
                let active = Active::build(&config, &metrics)
                    .map_err(|error| anyhow::anyhow!("web config {}: {error}", path.display()))?;
                metrics.last_reload_successful.set(1);
                (active, watched(path, &config), metrics)
            }
            None => (Active::default(), Vec::new(), WebMetrics::default()),
        };
        let stamps = stamps(&watched);
        Ok(Self {
            path: path.map(Path::to_owned),
            probes_without_auth,
            state: Mutex::new(State {
                active: Arc::new(active),
                watched,
                stamps,
            }),
            metrics,
        })
    }

    /// The configuration in force, rebuilt first if a file changed.
    pub fn current(&self) -> Arc<Active> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(path) = &self.path else {
            return state.active.clone();
        };
        let now = stamps(&state.watched);
        if now == state.stamps {
            return state.active.clone();
        }
        match self.reload(path, state.active.tls.is_some()) {
            Ok((active, watched)) => {
                tracing::info!(path = %path.display(), "web config reloaded");
                self.metrics.last_reload_successful.set(1);
                state.active = Arc::new(active);
                state.stamps = if watched == state.watched {
                    now
                } else {
                    stamps(&watched)
                };
                state.watched = watched;
            }
            Err((error, watched)) => {
                // Not retried until a file changes again: one error per change.
                tracing::error!(path = %path.display(), %error, "web config not reloaded; the previous one stays in force");
                self.metrics.last_reload_successful.set(0);
                match watched {
                    Some(watched) if watched != state.watched => {
                        state.stamps = stamps(&watched);
                        state.watched = watched;
                    }
                    _ => state.stamps = now,
                }
            }
        }
        self.metrics.reloads.inc();
        state.active.clone()
    }

    /// On error, also the files to watch from now on when the file itself parsed.
    #[allow(clippy::type_complexity)]
    fn reload(
        &self,
        path: &Path,
        serving_tls: bool,
    ) -> Result<(Active, Vec<PathBuf>), (String, Option<Vec<PathBuf>>)> {
        let config = WebConfig::load(path).map_err(|error| (error.to_string(), None))?;
        let watched = watched(path, &config);
        if config.tls.is_some() != serving_tls {
            return Err((
                "turning TLS on or off takes a restart".to_owned(),
                Some(watched),
            ));
        }
        match Active::build(&config, &self.metrics) {
            Ok(active) => Ok((active, watched)),
            Err(error) => Err((error, Some(watched))),
        }
    }
}
