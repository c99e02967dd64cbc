//! Who may talk to the endpoint and how: the web configuration file (TLS, client
//! certificates, basic auth, headers, rate limit), kept current while serving.
//!
//! A thread of its own looks at the file and the certificate files it names (a `stat`
//! each) every second; when they changed and then stayed the same for a second, the
//! whole configuration is read (regular files only, size-capped), built again and
//! swapped in, so cert-manager's rotations are served within two seconds without a
//! restart. Requests only read the configuration in force: nothing a file does can
//! block or slow them. A broken new file, or one that would weaken the protection in
//! force, keeps the previous configuration, with an error logged and
//! `podeni_web_config_last_reload_successful` at 0.

pub mod auth;
pub mod config;
pub mod tls;

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hyper::header::{HeaderName, HeaderValue};

use self::auth::BasicAuth;
use self::config::{ClientAuth, TlsVersion, WebConfig};
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

/// How often the files are looked at. A change is loaded once they looked the same at
/// two checks in a row, so within two of these, and never half-written.
pub const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(1);

/// The web configuration, re-read when its files change.
pub struct Web {
    /// `None`: plain HTTP, no auth, and nothing to watch.
    path: Option<PathBuf>,
    /// `/healthz` and `/readyz` answer without basic auth (`--web.probes-without-auth`).
    pub probes_without_auth: bool,
    /// What requests read: never locked, never waiting on a file.
    active: ArcSwap<Active>,
    /// Only the reloader touches this.
    watch: Mutex<Watch>,
    metrics: WebMetrics,
}

struct Watch {
    /// What the configuration in force protects, which a reload may not take away.
    floor: Protection,
    /// The files last looked at (the config file first) and what they looked like.
    watched: Vec<PathBuf>,
    stamps: Vec<Option<Stamp>>,
    /// A change seen at the last check, loaded if the files still look the same.
    pending: Option<Vec<Option<Stamp>>>,
}

/// What a configuration protects. A reload that would lower any of it (serving TLS,
/// requiring basic auth, client certificates, allowed SANs, the lowest TLS version) is
/// refused: a file emptied mid-write, or rewritten by mistake, must not open the
/// endpoint; weakening it on purpose takes a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Protection {
    tls: bool,
    basic_auth: bool,
    client_auth: Option<ClientAuth>,
    allowed_sans: bool,
    min_version: Option<TlsVersion>,
}

impl Protection {
    fn of(config: &WebConfig) -> Self {
        let tls = config.tls.as_ref();
        Self {
            tls: tls.is_some(),
            basic_auth: !config.users.is_empty(),
            client_auth: tls.map(|t| t.client_auth),
            allowed_sans: tls.is_some_and(|t| !t.allowed_sans.is_empty()),
            min_version: tls.map(|t| t.min_version),
        }
    }

    /// Why `new` would weaken `self`, if it would.
    fn weakened_by(&self, new: &Protection) -> Option<&'static str> {
        if self.tls != new.tls {
            return Some("turning TLS on or off takes a restart");
        }
        if self.basic_auth && !new.basic_auth {
            return Some("removing basic auth takes a restart");
        }
        if new.client_auth < self.client_auth {
            return Some("a weaker client_auth_type takes a restart");
        }
        if self.allowed_sans && !new.allowed_sans {
            return Some("removing client_allowed_sans takes a restart");
        }
        if new.min_version < self.min_version {
            return Some("a lower min_version takes a restart");
        }
        None
    }
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
        let (active, watched, floor, metrics) = match path {
            Some(path) => {
                let config = WebConfig::load(path)?;
                let metrics = Metrics::register_web(registry, config.tls.is_some());
                let active = Active::build(&config, &metrics)
                    .map_err(|error| anyhow::anyhow!("web config {}: {error}", path.display()))?;
                metrics.last_reload_successful.set(1);
                let floor = Protection::of(&config);
                (active, watched(path, &config), floor, metrics)
            }
            None => (
                Active::default(),
                Vec::new(),
                Protection::of(&WebConfig::default()),
                WebMetrics::default(),
            ),
        };
        let stamps = stamps(&watched);
        Ok(Self {
            path: path.map(Path::to_owned),
            probes_without_auth,
            active: ArcSwap::from_pointee(active),
            watch: Mutex::new(Watch {
                floor,
                watched,
                stamps,
                pending: None,
            }),
            metrics,
        })
    }

    /// The configuration in force.
    pub fn current(&self) -> Arc<Active> {
        self.active.load_full()
    }

    /// Checks the files every [`RELOAD_CHECK_EVERY`] on a thread of its own, off the
    /// request path, for as long as `self` lives.
    pub fn reload_in_background(self: &Arc<Self>) {
        if self.path.is_none() {
            return;
        }
        let web = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("web-config".to_owned())
            .spawn(move || {
                loop {
                    std::thread::sleep(RELOAD_CHECK_EVERY);
                    let Some(web) = web.upgrade() else { return };
                    web.check();
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the web config reloader; changes need a restart");
        }
    }

    /// One look at the files: a change is loaded once they look the same as at the
    /// previous look (so a file being written is not read half-way); a failure keeps
    /// the configuration in force, and is not retried until a file changes again.
    pub fn check(&self) {
        let Some(path) = &self.path else { return };
        let mut watch = crate::lock(&self.watch);
        let now = stamps(&watch.watched);
        if now == watch.stamps {
            watch.pending = None;
            return;
        }
        if watch.pending.as_ref() != Some(&now) {
            watch.pending = Some(now);
            return;
        }
        watch.pending = None;
        self.metrics.reloads.inc();
        let config = match WebConfig::load(path) {
            Ok(config) => config,
            Err(error) => {
                watch.stamps = now;
                return self.refuse(&error.to_string());
            }
        };
        let files = watched(path, &config);
        watch.stamps = if files == watch.watched {
            now
        } else {
            stamps(&files)
        };
        watch.watched = files;
        let protection = Protection::of(&config);
        if let Some(why) = watch.floor.weakened_by(&protection) {
            return self.refuse(why);
        }
        match Active::build(&config, &self.metrics) {
            Ok(active) => {
                tracing::info!(path = %path.display(), "web config reloaded");
                self.metrics.last_reload_successful.set(1);
                self.active.store(Arc::new(active));
                watch.floor = protection;
            }
            Err(error) => self.refuse(&error),
        }
    }

    fn refuse(&self, why: &str) {
        let path = self.path.as_deref().unwrap_or(Path::new(""));
        tracing::error!(path = %path.display(), error = why, "web config not reloaded; the previous one stays in force");
        self.metrics.last_reload_successful.set(0);
    }
}
