//! Fetching a source's body over HTTP(S) or from a local file, within the
//! configured time and size limits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::Semaphore;

use crate::config::FetchConfig;
use crate::observe::{Observe, Unobserved};
use crate::source::share::FetchShare;

/// Why a body could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The upstream answered with a non-success status.
    #[error("upstream answered HTTP {code}")]
    Status {
        /// The status code.
        code: u16,
        /// Its `Retry-After`, in seconds, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The body was larger than `fetch.max_bytes`.
    #[error("body is larger than the {0} byte limit")]
    TooLarge(u64),
    /// No complete answer within `fetch.timeout`.
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    /// No connection could be made.
    #[error("cannot connect to {host}: {reason}")]
    Connect { host: String, reason: String },
    /// More than 5 redirects, or a loop.
    #[error("too many redirects")]
    Redirects,
    /// The connection broke or the request failed otherwise.
    #[error("request failed: {0}")]
    Request(String),
    /// The body is not UTF-8 text.
    #[error("body is not valid UTF-8")]
    NotUtf8,
    /// The same URL failed moments ago; it is not asked again yet.
    #[error("{reason} (at {at}, not asked again for {ttl:?})")]
    Remembered {
        /// The earlier failure.
        reason: String,
        /// When it happened (UTC, RFC 3339).
        at: String,
        /// How long failures are remembered.
        ttl: Duration,
    },
    /// A `file://` source could not be read.
    #[error("cannot read {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FetchError {
    /// Whether a remote host could not be reached at all (its name did not
    /// resolve, or no connection could be made): what a machine without
    /// network sees. Never an answer such as a 404, nor a refused port on
    /// this machine.
    pub fn is_unreachable(&self) -> bool {
        let host = match self {
            FetchError::Connect { host, .. } => host.as_str(),
            FetchError::Remembered { reason, .. } => match reason
                .strip_prefix("cannot connect to ")
                .and_then(|rest| rest.split_once(": "))
            {
                Some((host, _)) => host,
                None => return false,
            },
            _ => return false,
        };
        is_remote(host)
    }
}

/// Whether `host` (`name:port`, `[v6]:port` or a bare name) is another
/// machine's.
fn is_remote(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if name.eq_ignore_ascii_case("localhost") || name.is_empty() {
        return false;
    }
    name.parse::<std::net::IpAddr>()
        .map_or(true, |ip| !ip.is_loopback() && !ip.is_unspecified())
}

/// Retries after the first attempt, for transient failures only.
const MAX_RETRIES: u32 = 2;
/// The first wait before a retry; it doubles each time.
const BACKOFF: Duration = Duration::from_millis(250);

/// Fetches source bodies; cheap to clone, holds one connection pool.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    timeout: Duration,
    max_bytes: u64,
    base_dir: PathBuf,
    failure_ttl: Duration,
    /// Recent failures by URL.
    failures: Arc<Mutex<HashMap<String, Failure>>>,
    per_host: usize,
    /// One semaphore per upstream `host:port`, made on first use.
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    observer: Arc<dyn Observe>,
    /// Failures and host permits shared with other replicas, if any.
    shared: Option<Arc<dyn FetchShare>>,
}

/// The host and port of `url` as metrics name it; `file` for files.
pub fn host_label(url: &str) -> String {
    if url.starts_with("file://") {
        return "file".to_string();
    }
    url::Url::parse(url)
        .ok()
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or_default(),
                u.port_or_known_default().unwrap_or(0)
            )
        })
        .unwrap_or_default()
}

/// A remembered failure: when (monotonic and wall clock), and why.
struct Failure {
    when: Instant,
    at: String,
    reason: String,
}

impl Fetcher {
    /// Builds a fetcher with `config`'s limits; `file://` paths are resolved
    /// against `base_dir` (the config file's folder).
    pub fn new(config: &FetchConfig, base_dir: &Path) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| FetchError::Request(e.to_string()))?;
        Ok(Self {
            client,
            timeout: config.timeout,
            max_bytes: config.max_bytes.as_u64(),
            base_dir: base_dir.to_path_buf(),
            failure_ttl: config.failure_ttl,
            failures: Arc::new(Mutex::new(HashMap::new())),
            per_host: config.per_host_concurrency.max(1),
            hosts: Arc::new(Mutex::new(HashMap::new())),
            observer: Arc::new(Unobserved),
            shared: None,
        })
    }

    /// Shares remembered failures and per-host permits with the other
    /// replicas through `shared`.
    pub fn share(&mut self, shared: Arc<dyn FetchShare>) {
        self.shared = Some(shared);
    }

    /// Tells `observer` of every fetch from now on.
    pub fn observe(&mut self, observer: Arc<dyn Observe>) {
        self.observer = observer;
    }

    /// The observer fetches are told to.
    pub fn observer(&self) -> &dyn Observe {
        self.observer.as_ref()
    }

    /// Fetches `url` and returns its body as text. A URL that failed within
    /// `fetch.failure_ttl`, here or on another replica, fails again at once
    /// with the same reason.
    pub async fn fetch(&self, url: &str) -> Result<String, FetchError> {
        if let Some(remembered) = self.remembered(url).await {
            return Err(remembered);
        }
        let result = self.fetch_now(url).await;
        let shared = self.shared.as_ref().filter(|_| !self.failure_ttl.is_zero());
        match &result {
            Ok(_) => {
                let had = self.failures().remove(url).is_some();
                if let Some(shared) = shared.filter(|_| had) {
                    shared.forget_failure(url).await;
                }
            }
            Err(e) if !self.failure_ttl.is_zero() => {
                let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let reason = e.to_string();
                if let Some(shared) = shared {
                    shared
                        .remember_failure(url, &reason, &at, self.failure_ttl)
                        .await;
                }
                let failure = Failure {
                    when: Instant::now(),
                    at,
                    reason,
                };
                self.failures().insert(url.to_string(), failure);
            }
            Err(_) => {}
        }
        result
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failure>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The failure of `url` remembered here or by another replica, while
    /// it is younger than `fetch.failure_ttl`.
    async fn remembered(&self, url: &str) -> Option<FetchError> {
        if self.failure_ttl.is_zero() {
            return None;
        }
        let local = self.failures().get(url).and_then(|f| {
            (f.when.elapsed() < self.failure_ttl).then(|| (f.reason.clone(), f.at.clone()))
        });
        let (reason, at) = match local {
            Some(found) => found,
            None => self.shared.as_ref()?.recall_failure(url).await?,
        };
        Some(FetchError::Remembered {
            reason,
            at,
            ttl: self.failure_ttl,
        })
    }

    async fn fetch_now(&self, url: &str) -> Result<String, FetchError> {
        let bytes = match url.strip_prefix("file://") {
            Some(path) => self.read_file(path).await?,
            None => tokio::time::timeout(self.timeout, self.get_with_retries(url))
                .await
                .map_err(|_| FetchError::Timeout(self.timeout))??,
        };
        String::from_utf8(bytes).map_err(|_| FetchError::NotUtf8)
    }

    /// GET with retries of transient failures (connection errors, 429,
    /// 502, 503, 504): backoff doubling from [`BACKOFF`], or the upstream's
    /// `Retry-After`, but never past the source's deadline.
    async fn get_with_retries(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut attempt = 0u32;
        loop {
            let error = match self.get(url).await {
                Ok(body) => return Ok(body),
                Err(e) => e,
            };
            let wait = match &error {
                FetchError::Connect { .. } => BACKOFF * 2u32.pow(attempt),
                FetchError::Status {
                    code: 429 | 502 | 503 | 504,
                    retry_after,
                } => retry_after.unwrap_or(BACKOFF * 2u32.pow(attempt)),
                _ => return Err(error),
            };
            if attempt >= MAX_RETRIES || tokio::time::Instant::now() + wait >= deadline {
                return Err(error);
            }
            tracing::debug!(%url, %error, ?wait, "transient upstream failure; retrying");
            self.observer.retried(&host_label(url));
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The concurrency limit of `url`'s host. Hosts come from configured
    /// source URLs only, so the table stays small.
    fn host_limit(&self, url: &str) -> Arc<Semaphore> {
        let host = host_label(url);
        self.hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(host)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone()
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        // Held until the body is read; waiting for it counts against the
        // source's deadline like any other slowness of that host.
        let limit = self.host_limit(url);
        let _permit = limit
            .acquire()
            .await
            .map_err(|_| FetchError::Request("host limit closed".into()))?;
        // Across replicas too; a permit of a replica that died expires.
        let deadline = tokio::time::Instant::now() + self.timeout;
        let hold = self.timeout + Duration::from_secs(5);
        let host = host_label(url);
        let _shared = match &self.shared {
            Some(shared) => {
                shared
                    .host_permit(&host, self.per_host, hold, deadline)
                    .await
            }
            None => None,
        };
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(FetchError::Status {
                code: status.as_u16(),
                retry_after,
            });
        }
        // Count bytes as they arrive: a Content-Length header can lie.
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.classify(e))?;
            if body.len() as u64 + chunk.len() as u64 > self.max_bytes {
                return Err(FetchError::TooLarge(self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn read_file(&self, path: &str) -> Result<Vec<u8>, FetchError> {
        let path = self.base_dir.join(path);
        let err = |source| FetchError::File {
            path: path.clone(),
            source,
        };
        let len = tokio::fs::metadata(&path).await.map_err(err)?.len();
        if len > self.max_bytes {
            return Err(FetchError::TooLarge(self.max_bytes));
        }
        tokio::fs::read(&path).await.map_err(err)
    }

    fn classify(&self, e: reqwest::Error) -> FetchError {
        if e.is_timeout() {
            return FetchError::Timeout(self.timeout);
        }
        if e.is_redirect() {
            return FetchError::Redirects;
        }
        // reqwest's own message repeats the URL; the innermost cause says
        // what actually happened ("Connection refused", "connection reset").
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason = s.to_string();
            source = s.source();
        }
        if e.is_connect() {
            let host = e
                .url()
                .and_then(|u| {
                    u.host_str()
                        .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
                })
                .unwrap_or_default();
            FetchError::Connect { host, reason }
        } else {
            FetchError::Request(reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(FetchError::Connect { host: "www.ndbc.noaa.gov:443".into(), reason: "dns error".into() }, true)]
    #[case(FetchError::Connect { host: "127.0.0.1:9".into(), reason: "refused".into() }, false)]
    #[case(FetchError::Connect { host: "localhost:8080".into(), reason: "refused".into() }, false)]
    #[case(FetchError::Connect { host: "[::1]:80".into(), reason: "refused".into() }, false)]
    #[case(FetchError::Connect { host: "[2001:db8::1]:80".into(), reason: "unreachable".into() }, true)]
    #[case(FetchError::Status { code: 404, retry_after: None }, false)]
    #[case(FetchError::Timeout(Duration::from_secs(10)), false)]
    #[case(FetchError::Remembered { reason: "cannot connect to api.open-meteo.com:443: dns error".into(), at: "t".into(), ttl: Duration::from_secs(30) }, true)]
    #[case(FetchError::Remembered { reason: "cannot connect to 127.0.0.1:9: refused".into(), at: "t".into(), ttl: Duration::from_secs(30) }, false)]
    #[case(FetchError::Remembered { reason: "upstream answered HTTP 404".into(), at: "t".into(), ttl: Duration::from_secs(30) }, false)]
    fn only_a_remote_host_out_of_reach_is_unreachable(
        #[case] error: FetchError,
        #[case] unreachable: bool,
    ) {
        assert_eq!(error.is_unreachable(), unreachable, "{error}");
    }
}
