//! The context a picture is taken in: a fresh incognito context whose
//! every request goes through its own (unarmed until used) [`Guard`], with
//! a blank page; and the [`Spare`], one such context opened ahead while
//! the browser is idle.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chromiumoxide::Page as CdpPage;
use chromiumoxide::cdp::browser_protocol::browser::{
    BrowserContextId, SetDownloadBehaviorBehavior, SetDownloadBehaviorParams,
};
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams,
};
use inkspot_core::shot::ShotError;

use crate::guard::Guard;
use crate::launch::{Running, cdp};

/// A fresh incognito context whose requests go through its own guard, with
/// a blank page in it: what a picture is taken in.
pub struct Opened {
    /// The context's guard.
    pub guard: Guard,
    context: BrowserContextId,
    /// Its page, blank until used.
    pub page: CdpPage,
}

impl Opened {
    /// Opens one in `browser`, its guard (unarmed) listening on `ip`.
    pub async fn open(browser: &Running, ip: IpAddr) -> Result<Self, ShotError> {
        let guard = Guard::start(ip)
            .await
            .map_err(|e| ShotError::Browser(format!("the address guard: {e}")))?;
        let params = CreateBrowserContextParams {
            dispose_on_detach: Some(true),
            proxy_server: Some(guard.proxy()),
            // Without this, Chromium sends loopback requests around the proxy.
            proxy_bypass_list: Some("<-loopback>".to_string()),
            ..CreateBrowserContextParams::default()
        };
        let context = browser
            .cdp
            .create_browser_context(params)
            .await
            .map_err(cdp)?;
        let mut downloads = SetDownloadBehaviorParams::new(SetDownloadBehaviorBehavior::Deny);
        downloads.browser_context_id = Some(context.clone());
        let mut target = CreateTargetParams::new("about:blank");
        target.browser_context_id = Some(context.clone());
        let page = async {
            browser.cdp.execute(downloads).await?;
            browser.cdp.new_page(target).await
        };
        match page.await {
            Ok(page) => Ok(Self {
                guard,
                context,
                page,
            }),
            Err(e) => {
                let _ = browser.cdp.dispose_browser_context(context).await;
                Err(cdp(e))
            }
        }
    }

    /// Closes the page and throws the context away.
    pub async fn close(self, browser: &Running) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.page.close()).await;
        let disposed = browser.cdp.dispose_browser_context(self.context);
        let _ = tokio::time::timeout(Duration::from_secs(2), disposed).await;
    }
}

/// One context opened ahead, while the browser is idle, so a picture need
/// not wait for a page to open (the largest part of a warm picture's
/// time). It belongs to one browser (its generation) and is never used in
/// another.
#[derive(Default)]
pub struct Spare {
    slot: std::sync::Mutex<Option<(u64, Opened)>>,
    /// Held while a spare is opened: a picture that finds none waits for
    /// that one rather than opening a second beside it.
    filling: Arc<tokio::sync::Mutex<()>>,
    /// Set at shutdown: no spare is kept after it.
    closed: AtomicBool,
    /// Pictures begun, so a spare is opened only while none is.
    begun: AtomicU64,
    /// Pictures taken in a spare.
    used: AtomicU64,
}

impl Spare {
    /// No spare at all (`browser.spare = false`).
    pub fn off() -> Self {
        let spare = Self::default();
        spare.closed.store(true, Ordering::SeqCst);
        spare
    }

    /// Drops the spare (its guard stops; its context goes with the browser).
    pub fn clear(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn take_now(&self, generation: u64) -> Option<Opened> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        match slot.take() {
            Some((g, opened)) if g == generation => {
                self.used.fetch_add(1, Ordering::Relaxed);
                Some(opened)
            }
            _ => None,
        }
    }

    /// Pictures taken in a spare so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The spare for `generation`, waiting for one being opened.
    pub async fn take(&self, generation: u64) -> Option<Opened> {
        self.begun.fetch_add(1, Ordering::SeqCst);
        if let Some(opened) = self.take_now(generation) {
            return Some(opened);
        }
        let _opened = self.filling.lock().await;
        self.take_now(generation)
    }

    /// Opens the spare in `browser` once it has been idle for
    /// [`SPARE_AFTER`]: pictures back to back (a job's) each open their
    /// own, as two pages opening at once would slow each other down.
    pub async fn fill(&self, browser: &Running, generation: u64, ip: IpAddr) {
        let begun = self.begun.load(Ordering::SeqCst);
        tokio::time::sleep(SPARE_AFTER).await;
        if self.begun.load(Ordering::SeqCst) != begun {
            return;
        }
        // A picture that begins now waits for this spare.
        let Ok(_claim) = self.filling.clone().try_lock_owned() else {
            return;
        };
        if !browser.is_alive() || self.closed.load(Ordering::SeqCst) {
            return;
        }
        let opened = tokio::time::timeout(SPARE_TIMEOUT, Opened::open(browser, ip)).await;
        let Ok(Ok(opened)) = opened else { return };
        if self.closed.load(Ordering::SeqCst) {
            return opened.close(browser).await;
        }
        let old = self
            .slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace((generation, opened));
        if let Some((_, old)) = old {
            old.close(browser).await;
        }
    }
}

/// How long the browser must be idle before a spare is opened.
const SPARE_AFTER: Duration = Duration::from_millis(100);

/// The most a spare may take to open before it is given up.
const SPARE_TIMEOUT: Duration = Duration::from_secs(10);
