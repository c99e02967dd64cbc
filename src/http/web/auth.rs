//! Basic auth against bcrypt hashes (`basic_auth_users`).
//!
//! bcrypt is slow on purpose (a cost-12 hash takes a quarter of a second), and Prometheus sends
//! the same credentials every few seconds, so each verdict is cached under a SHA-256 of
//! (user, hash, password): a repeated scrape costs a hash, not a bcrypt. The cache
//! holds digests, never passwords, and a lookup by digest reveals nothing about the
//! password through its timing. Unknown users are checked against a dummy hash, so
//! that a wrong user takes as long as a wrong password.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use base64::Engine;
use sha2::{Digest, Sha256};

/// Verdicts kept at most; beyond, the cache starts over (a flood of wrong passwords
/// cannot grow it without bound).
const CACHE_ENTRIES: usize = 1024;
/// bcrypt verifications running at once: a burst of wrong passwords gets at most this
/// many cores, however many of its clients hang up.
const CONCURRENT_VERIFICATIONS: usize = 2;

/// Made on first use: the cost of the toolkit's own dummy.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| bcrypt::hash("dummy", 10).unwrap_or_default());

pub struct BasicAuth {
    users: BTreeMap<String, String>,
    cache: Mutex<HashMap<[u8; 32], bool>>,
    /// A permit is held by the running verification itself, not by the request that
    /// asked for it: a client that disconnects does not free a slot while its bcrypt
    /// still runs.
    verifying: Arc<tokio::sync::Semaphore>,
    /// bcrypt verifications run so far (what the cache saves).
    verifications: AtomicU64,
    /// Verifications running now, and the most that ever ran at once.
    running: AtomicUsize,
    peak_running: AtomicUsize,
}

impl BasicAuth {
    /// `None` when there are no users (no basic auth).
    pub fn new(users: BTreeMap<String, String>) -> Option<Arc<Self>> {
        (!users.is_empty()).then(|| {
            Arc::new(Self {
                users,
                cache: Mutex::new(HashMap::new()),
                verifying: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_VERIFICATIONS)),
                verifications: AtomicU64::new(0),
                running: AtomicUsize::new(0),
                peak_running: AtomicUsize::new(0),
            })
        })
    }

    /// Whether an `Authorization` header value names a user and their password.
    pub async fn allows(self: &Arc<Self>, authorization: Option<&[u8]>) -> bool {
        let Some((user, password)) = authorization.and_then(credentials) else {
            return false;
        };
        let hash = self.users.get(&user);
        // An unknown user's key has no hash: it cannot match a known user's verdict.
        let key = cache_key(&user, hash.map_or("", String::as_str), &password);
        if let Some(&verdict) = self.cache().get(&key) {
            return verdict;
        }
        let Ok(permit) = self.verifying.clone().acquire_owned().await else {
            return false;
        };
        let (auth, hash) = (self.clone(), hash.cloned());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let running = auth.running.fetch_add(1, Ordering::SeqCst) + 1;
            auth.peak_running.fetch_max(running, Ordering::SeqCst);
            auth.verifications.fetch_add(1, Ordering::Relaxed);
            let verdict = match &hash {
                Some(hash) => bcrypt::verify(&password, hash).unwrap_or(false),
                // Unknown user: as long as a wrong password takes, then no.
                None => {
                    let _ = bcrypt::verify(&password, &DUMMY_HASH);
                    false
                }
            };
            let mut cache = auth.cache();
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(key, verdict);
            auth.running.fetch_sub(1, Ordering::SeqCst);
            verdict
        })
        .await
        .unwrap_or(false)
    }

    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// The most bcrypt verifications that ever ran at once.
    pub fn peak_running(&self) -> usize {
        self.peak_running.load(Ordering::SeqCst)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], bool>> {
        crate::lock(&self.cache)
    }
}

/// `Basic base64(user:password)`, the scheme name in any case.
fn credentials(header: &[u8]) -> Option<(String, String)> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Length-prefixed, so no two different triples share a key.
fn cache_key(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    for part in [user, hash, password] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    digest.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> Vec<u8> {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}").into_bytes()
    }

    #[tokio::test]
    async fn the_right_password_passes_and_repeats_cost_no_bcrypt() {
        let hash = bcrypt::hash("s3cret:with colon", 12).unwrap();
        let auth = BasicAuth::new(BTreeMap::from([("prometheus".to_owned(), hash)])).unwrap();
        for _ in 0..100 {
            assert!(
                auth.allows(Some(&header("prometheus", "s3cret:with colon")))
                    .await
            );
        }
        assert_eq!(auth.verifications(), 1, "one bcrypt for 100 scrapes");
        assert!(!auth.allows(Some(&header("prometheus", "wrong"))).await);
        assert!(!auth.allows(Some(&header("prometheus", "wrong"))).await);
        assert_eq!(auth.verifications(), 2, "a wrong password is cached too");
        // The cached verdict is per password: the right one still passes.
        assert!(
            auth.allows(Some(&header("prometheus", "s3cret:with colon")))
                .await
        );
    }

    #[tokio::test]
    async fn unknown_users_missing_or_malformed_headers_are_refused() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let auth = BasicAuth::new(BTreeMap::from([("a".to_owned(), hash.clone())])).unwrap();
        // An unknown user whose password matches the dummy's still fails.
        assert!(!auth.allows(Some(&header("b", "dummy"))).await);
        assert!(!auth.allows(Some(&header("b", "pw"))).await);
        assert!(!auth.allows(None).await);
        assert!(!auth.allows(Some(b"Bearer abc")).await);
        assert!(!auth.allows(Some(b"Basic !!!notbase64")).await);
        assert!(!auth.allows(Some(b"Basic bm9jb2xvbg==")).await, "no colon");
        let mut lower = header("a", "pw");
        lower[..5].copy_from_slice(b"basic");
        assert!(auth.allows(Some(&lower)).await);
        assert!(BasicAuth::new(BTreeMap::new()).is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abandoned_logins_never_run_more_than_two_bcrypts_at_once() {
        let hash = bcrypt::hash("right", 10).unwrap();
        let auth = BasicAuth::new(BTreeMap::from([("prometheus".to_owned(), hash)])).unwrap();
        // 60 clients send a wrong password each; one after the other they hang up,
        // the first ones while their bcrypt runs, the rest while they wait for a slot.
        let mut attempts = Vec::new();
        for i in 0..60 {
            let auth = auth.clone();
            attempts.push(tokio::spawn(async move {
                auth.allows(Some(&header("prometheus", &format!("guess-{i}"))))
                    .await
            }));
        }
        for attempt in &attempts {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            attempt.abort();
        }
        // What was started runs to its end; never more than two at a time.
        for _ in 0..200 {
            if auth.running.load(Ordering::SeqCst) == 0 && auth.verifying.available_permits() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(auth.verifications() >= 1, "some verifications ran");
        assert_eq!(auth.peak_running(), CONCURRENT_VERIFICATIONS);
    }

    #[test]
    fn keys_do_not_collide_across_field_boundaries() {
        assert_ne!(cache_key("ab", "h", "c"), cache_key("a", "h", "bc"));
        assert_ne!(cache_key("a", "h", "b"), cache_key("a", "hb", ""));
    }
}
