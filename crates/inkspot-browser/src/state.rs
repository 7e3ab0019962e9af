//! The browser's life: started on demand, watched for memory, retired
//! and started again after a fault, paused after failed starts; and what
//! `/status` and `/metrics` say of it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use inkspot_core::config::BrowserConfig;
use inkspot_core::shot::{Shot, ShotError};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::launch::{self, Running};
use crate::policy::Policy;

/// How often a running browser's memory is read.
const WATCH: Duration = Duration::from_millis(500);
/// The longest pause between failed starts.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Where the browser is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrowserState {
    /// Not started yet (it starts on the first picture).
    Idle,
    /// Running and answering.
    Running,
    /// Failed to start; tried again after a pause.
    Failing,
}

/// The browser as `/status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrowserStatus {
    /// Where it is in its life.
    pub state: BrowserState,
    /// Its product and version, once it ran.
    pub version: Option<String>,
    /// A remote browser's address, when one is used.
    pub remote: Option<String>,
    /// The process id of a browser this service started.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Its processes' resident memory, when it runs here.
    pub memory_bytes: Option<u64>,
    /// `browser.max_memory`.
    pub max_memory_bytes: u64,
    /// Pages open now.
    pub pages_open: usize,
    /// Pictures taken.
    pub shots_ok: u64,
    /// Pictures begun in the spare context, opened while the browser was
    /// idle, rather than in one opened for them (whether or not the page
    /// then drew).
    #[serde(default)]
    pub shots_in_spare: u64,
    /// Pictures that failed, by reason: `refused`, `timeout`, `too_large`,
    /// `wait_for`, `load`, `browser`, `unavailable`.
    pub shots_failed: std::collections::BTreeMap<String, u64>,
    /// Total seconds spent taking pictures.
    pub shot_seconds: f64,
    /// Times it was killed or lost and started again.
    pub restarts: u64,
    /// The last fault, if any.
    pub last_error: Option<String>,
}

#[derive(Clone)]
struct Seen {
    version: Option<String>,
    last_error: Option<String>,
    state: BrowserState,
    pid: Option<u32>,
}

struct Slot {
    running: Option<Arc<Running>>,
    generation: u64,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<String>,
    version: Option<String>,
}

/// The shared state behind a [`crate::Browser`].
pub struct State {
    config: BrowserConfig,
    policy: Arc<Policy>,
    jobs_policy: Arc<Policy>,
    permits: Arc<Semaphore>,
    slot: tokio::sync::Mutex<Slot>,
    /// What `status()` reads without waiting for the slot.
    seen: Mutex<Seen>,
    open: AtomicUsize,
    ok: AtomicU64,
    failed: Mutex<std::collections::BTreeMap<String, u64>>,
    micros: AtomicU64,
    restarts: AtomicU64,
    memory: Arc<AtomicU64>,
    /// Why the memory watch last killed the browser.
    killed: Arc<Mutex<Option<String>>>,
    /// Set by `shutdown`: no browser is started after it.
    closed: std::sync::atomic::AtomicBool,
}

impl State {
    pub fn new(config: BrowserConfig) -> Self {
        Self {
            policy: Arc::new(Policy::new(&config.allow)),
            jobs_policy: Arc::new(Policy::new(&config.jobs_allow)),
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            slot: tokio::sync::Mutex::new(Slot {
                running: None,
                generation: 0,
                failures: 0,
                retry_at: None,
                last_error: None,
                version: None,
            }),
            seen: Mutex::new(Seen {
                version: None,
                last_error: None,
                state: BrowserState::Idle,
                pid: None,
            }),
            open: AtomicUsize::new(0),
            ok: AtomicU64::new(0),
            failed: Mutex::new(Default::default()),
            micros: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            memory: Arc::new(AtomicU64::new(0)),
            killed: Arc::new(Mutex::new(None)),
            closed: std::sync::atomic::AtomicBool::new(false),
            config,
        }
    }

    pub fn config(&self) -> &BrowserConfig {
        &self.config
    }

    /// The address rules of a page: the operator's, or a job's.
    pub fn policy(&self, job: bool) -> Arc<Policy> {
        if job {
            self.jobs_policy.clone()
        } else {
            self.policy.clone()
        }
    }

    /// A place among the `concurrency` pages; counted open while held.
    pub async fn permit(self: &Arc<Self>) -> Open {
        let permit = self.permits.clone().acquire_owned().await.ok();
        self.open.fetch_add(1, Ordering::Relaxed);
        Open {
            _permit: permit,
            state: self.clone(),
        }
    }

    /// The running browser and its generation, started if need be.
    pub async fn running(&self) -> Result<(Arc<Running>, u64), ShotError> {
        let mut slot = self.slot.lock().await;
        if let Some(running) = slot.running.as_ref().filter(|r| r.is_alive()) {
            return Ok((running.clone(), slot.generation));
        }
        if slot.running.take().is_some() {
            self.restarts.fetch_add(1, Ordering::Relaxed);
            let killed = self.killed.lock().unwrap_or_else(|e| e.into_inner()).take();
            slot.last_error =
                Some(killed.unwrap_or_else(|| "the browser's connection ended".into()));
            tracing::warn!(reason = ?slot.last_error, "starting the browser again");
        }
        if self.closed.load(Ordering::Relaxed) {
            return Err(ShotError::Unavailable("the service is stopping".into()));
        }
        if let Some(at) = slot.retry_at.filter(|at| *at > Instant::now()) {
            let wait = at - Instant::now();
            return Err(ShotError::Unavailable(format!(
                "the browser failed to start {} times; next try in {}s: {}",
                slot.failures,
                wait.as_secs() + 1,
                slot.last_error.clone().unwrap_or_default()
            )));
        }
        match launch::start(&self.config).await {
            Ok(running) => {
                let running = Arc::new(running);
                slot.generation += 1;
                slot.failures = 0;
                slot.retry_at = None;
                slot.version = Some(running.version.clone());
                tracing::info!(version = %running.version, pid = ?running.pid, "browser started");
                self.watch(Arc::downgrade(&running), slot.generation);
                slot.running = Some(running.clone());
                self.note(&slot);
                Ok((running, slot.generation))
            }
            Err(e) => {
                slot.failures += 1;
                let pause = Duration::from_secs(1 << slot.failures.min(6)).min(MAX_PAUSE);
                slot.retry_at = Some(Instant::now() + pause);
                slot.last_error = Some(e.to_string());
                tracing::error!(error = %e, failures = slot.failures, pause = ?pause, "the browser did not start");
                self.note(&slot);
                Err(match e {
                    crate::BrowserError::Missing(_) => ShotError::Unavailable(e.to_string()),
                    crate::BrowserError::Start(_) => ShotError::Browser(e.to_string()),
                })
            }
        }
    }

    /// Kills generation `generation`, if it still is the running one.
    pub async fn retire(&self, generation: u64, why: &str) {
        let mut slot = self.slot.lock().await;
        if slot.generation != generation {
            return;
        }
        if let Some(running) = slot.running.take() {
            tracing::warn!(%why, "browser killed; the next picture starts another");
            running.kill();
            self.restarts.fetch_add(1, Ordering::Relaxed);
            let killed = self.killed.lock().unwrap_or_else(|e| e.into_inner()).take();
            slot.last_error = Some(killed.unwrap_or_else(|| why.to_string()));
        }
        self.note(&slot);
    }

    /// Whether `running` answers a command within 2 s.
    pub async fn answers(&self, running: &Running) -> bool {
        let asked = tokio::time::timeout(Duration::from_secs(2), running.cdp.version());
        matches!(asked.await, Ok(Ok(_)))
    }

    /// Reads the browser's memory every [`WATCH`] while it runs; past
    /// `max_memory`, kills it.
    fn watch(&self, running: Weak<Running>, generation: u64) {
        let max = self.config.max_memory.as_u64();
        let memory = self.memory.clone();
        let killed = self.killed.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(WATCH).await;
                let Some(running) = running.upgrade() else {
                    break;
                };
                if !running.is_alive() {
                    break;
                }
                let Some(used) = running.memory() else { break };
                memory.store(used, Ordering::Relaxed);
                if used > max {
                    tracing::warn!(
                        used,
                        max,
                        generation,
                        "the browser grew past browser.max_memory; killed"
                    );
                    *killed.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
                        "killed: it grew to {} MiB, past browser.max_memory ({} MiB)",
                        used >> 20,
                        max >> 20
                    ));
                    running.kill();
                    break;
                }
            }
        });
    }

    /// Counts a picture's outcome and time.
    pub fn record(&self, taken: &Result<Shot, ShotError>, took: Duration) {
        self.micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        match taken {
            Ok(_) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
                *failed.entry(reason(e).to_string()).or_default() += 1;
            }
        }
    }

    fn note(&self, slot: &Slot) {
        let state = match (&slot.running, slot.failures) {
            (Some(_), _) => BrowserState::Running,
            (None, 0) => BrowserState::Idle,
            (None, _) => BrowserState::Failing,
        };
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Seen {
            version: slot.version.clone(),
            last_error: slot.last_error.clone(),
            state,
            pid: slot.running.as_ref().and_then(|r| r.pid),
        };
    }

    pub fn status(&self) -> BrowserStatus {
        let Seen {
            version,
            last_error,
            state,
            pid,
        } = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let memory = self.memory.load(Ordering::Relaxed);
        BrowserStatus {
            state,
            version,
            remote: self.config.ws_url.clone(),
            pid,
            memory_bytes: (state == BrowserState::Running
                && self.config.ws_url.is_none()
                && memory > 0)
                .then_some(memory),
            max_memory_bytes: self.config.max_memory.as_u64(),
            pages_open: self.open.load(Ordering::Relaxed),
            shots_ok: self.ok.load(Ordering::Relaxed),
            shots_in_spare: 0,
            shots_failed: self
                .failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            shot_seconds: self.micros.load(Ordering::Relaxed) as f64 / 1e6,
            restarts: self.restarts.load(Ordering::Relaxed),
            last_error,
        }
    }

    pub async fn shutdown(&self) {
        self.closed.store(true, Ordering::Relaxed);
        let running = self.slot.lock().await.running.take();
        if let Some(running) = running {
            match Arc::try_unwrap(running) {
                Ok(running) => running.stop().await,
                Err(shared) => shared.kill(),
            }
        }
    }
}

/// A page's place, given back when dropped.
pub struct Open {
    _permit: Option<OwnedSemaphorePermit>,
    state: Arc<State>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.state.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The metric label of a failed picture.
fn reason(e: &ShotError) -> &'static str {
    match e {
        ShotError::Unavailable(_) => "unavailable",
        ShotError::Browser(_) => "browser",
        ShotError::Refused(_) => "refused",
        ShotError::Load(_) => "load",
        ShotError::WaitFor(..) | ShotError::NoElement(_) => "wait_for",
        ShotError::Timeout(_) => "timeout",
        ShotError::TooLarge(_) => "too_large",
    }
}
