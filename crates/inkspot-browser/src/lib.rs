//! The browser in inkspot's pipeline: one headless Chromium, kept warm and
//! driven over the DevTools protocol (chromiumoxide), that takes the
//! pictures of screenshot spots and HTML templates (the core's
//! [`Camera`]).
//!
//! - It starts on the first picture, not with the service, or connects to
//!   `browser.ws_url`.
//! - Each picture gets a fresh incognito context, at most
//!   `browser.concurrency` at once, within a time, byte and request limit.
//! - Every request of a page goes through its own [`guard::Guard`], which
//!   enforces the address rules ([`policy::Policy`]).
//! - A browser that fails, hangs or grows past `browser.max_memory` is
//!   killed and started again, and the picture in flight is taken once
//!   more; one that keeps failing to start is tried again after a
//!   growing pause, and said so.

mod context;
pub mod guard;
mod headers;
mod launch;
mod page;
pub mod policy;
mod state;
mod text;

use std::sync::Arc;
use std::time::Duration;

use inkspot_core::config::BrowserConfig;
use inkspot_core::shot::{Camera, Page, Shot, ShotError, ShotRequest};

pub use state::{BrowserState, BrowserStatus};

/// Why the browser could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BrowserError {
    /// No browser is installed where looked for.
    #[error(
        "no browser found ({0}); install Chromium (Debian: apt install chromium), set browser.executable, or set browser.ws_url to a remote one"
    )]
    Missing(String),
    /// The browser did not start or answer.
    #[error("the browser did not start: {0}")]
    Start(String),
}

/// One page's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From opening the page to its picture.
    pub timeout: Duration,
    /// Bytes received, all requests together.
    pub max_bytes: u64,
    /// Requests and secure connections.
    pub max_requests: u32,
}

/// The browser: cheap to clone, shared by every render and job.
#[derive(Clone)]
pub struct Browser {
    state: Arc<state::State>,
    spare: Arc<context::Spare>,
}

impl Browser {
    /// A browser for `config`; nothing starts until the first picture.
    pub fn new(config: &BrowserConfig) -> Self {
        Self {
            state: Arc::new(state::State::new(config.clone())),
            spare: Arc::new(if config.spare {
                context::Spare::default()
            } else {
                context::Spare::off()
            }),
        }
    }

    /// Its state for `/status` and `/metrics`.
    pub fn status(&self) -> BrowserStatus {
        BrowserStatus {
            shots_in_spare: self.spare.used(),
            ..self.state.status()
        }
    }

    /// Stops the browser, if it runs.
    pub async fn shutdown(&self) {
        self.spare.clear();
        self.state.shutdown().await;
    }

    async fn attempt(&self, request: &ShotRequest) -> Result<Shot, ShotError> {
        let (running, generation) = self.state.running().await?;
        let config = self.state.config();
        let rules = guard::Rules {
            policy: self.state.policy(request.job),
            only: match &request.page {
                Page::Html { .. } => Some(request.hosts.clone()),
                Page::Url(_) => None,
            },
            site: match &request.page {
                Page::Html { html, assets } => Some(Arc::new(guard::site::Site::new(html, assets))),
                Page::Url(_) => None,
            },
            max_bytes: config.max_page_bytes.as_u64(),
            max_requests: config.max_requests,
        };
        let limits = Limits {
            timeout: config.timeout,
            max_bytes: config.max_page_bytes.as_u64(),
            max_requests: config.max_requests,
        };
        let at = page::In {
            running: &running,
            generation,
            spare: &self.spare,
            ip: config.guard_address,
        };
        let mut taken = page::take(at, request, &limits, rules).await;
        // Whatever a page seemed to fail of, a browser gone under it is
        // the browser's fault: worth a fresh one.
        if let Err(e) = &taken
            && !e.is_browser_fault()
            && !running.is_alive()
        {
            taken = Err(ShotError::Browser(format!("the browser was lost: {e}")));
        }
        if matches!(taken, Err(ShotError::Timeout(_))) && !self.state.answers(&running).await {
            self.state
                .retire(generation, "it stopped answering during a page")
                .await;
            return Err(ShotError::Browser("it stopped answering".into()));
        }
        if let Err(e) = &taken
            && e.is_browser_fault()
        {
            // A command that failed while the browser still answers was the
            // page's doing: the browser stays, serving the other pages.
            if running.is_alive() && self.state.answers(&running).await {
                return Err(ShotError::Load(e.to_string()));
            }
            self.state.retire(generation, &e.to_string()).await;
            // Said as the browser's state says it (killed for its memory, say).
            let why = self
                .state
                .status()
                .last_error
                .unwrap_or_else(|| e.to_string());
            return Err(ShotError::Browser(why));
        }
        taken
    }
}

#[async_trait::async_trait]
impl Camera for Browser {
    async fn shoot(&self, request: ShotRequest) -> Result<Shot, ShotError> {
        let _permit = self.state.permit().await;
        let started = std::time::Instant::now();
        let mut taken = self.attempt(&request).await;
        if let Err(e) = &taken
            && e.is_browser_fault()
        {
            tracing::warn!(error = %e, "the browser failed during a picture; taking it again with a fresh browser");
            taken = self.attempt(&request).await;
        }
        self.state.record(&taken, started.elapsed());
        taken
    }

    async fn fetch_text(&self, url: &url::Url, max: usize) -> Result<Option<String>, ShotError> {
        text::fetch(&self.state.policy(true), url, max).await
    }
}
