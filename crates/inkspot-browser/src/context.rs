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

/// An incognito context of a browser, thrown away when dropped unless it
/// was disposed of already: a picture cancelled half-way (its time limit,
/// its caller gone) leaves nothing open in the browser.
struct Context {
    browser: Arc<Running>,
    id: Option<BrowserContextId>,
}

impl Context {
    /// Throws the context away, and every page in it.
    async fn dispose(mut self) {
        if let Some(id) = self.id.take() {
            let disposed = self.browser.cdp.dispose_browser_context(id);
            let _ = tokio::time::timeout(Duration::from_secs(2), disposed).await;
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let browser = self.browser.clone();
        runtime.spawn(async move {
            let disposed = browser.cdp.dispose_browser_context(id);
            let _ = tokio::time::timeout(Duration::from_secs(2), disposed).await;
        });
    }
}

/// A fresh incognito context whose requests go through its own guard, with
/// a blank page in it: what a picture is taken in.
pub struct Opened {
    /// The context's guard.
    pub guard: Guard,
    /// Its page, blank until used.
    pub page: CdpPage,
    context: Context,
}

impl Opened {
    /// Opens one in `browser`, its guard (unarmed) listening on `ip`.
    pub async fn open(browser: &Arc<Running>, ip: IpAddr) -> Result<Self, ShotError> {
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
        let id = browser
            .cdp
            .create_browser_context(params)
            .await
            .map_err(cdp)?;
        // From here on, a failure or a cancellation throws the context away.
        let context = Context {
            browser: browser.clone(),
            id: Some(id.clone()),
        };
        let mut downloads = SetDownloadBehaviorParams::new(SetDownloadBehaviorBehavior::Deny);
        downloads.browser_context_id = Some(id.clone());
        browser.cdp.execute(downloads).await.map_err(cdp)?;
        let mut target = CreateTargetParams::new("about:blank");
        target.browser_context_id = Some(id);
        let page = browser.cdp.new_page(target).await.map_err(cdp)?;
        Ok(Self {
            guard,
            page,
            context,
        })
    }

    /// Whether its page still answers: a spare's renderer may have died
    /// while it waited.
    pub async fn answers(&self) -> bool {
        let asked = self.page.evaluate_expression("1");
        matches!(
            tokio::time::timeout(Duration::from_secs(1), asked).await,
            Ok(Ok(_))
        )
    }

    /// Closes the page and throws the context away.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.page.close()).await;
        self.context.dispose().await;
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
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, Ordering::SeqCst);
        slot.take();
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
    pub async fn fill(&self, browser: &Arc<Running>, generation: u64, ip: IpAddr) {
        let begun = self.begun.load(Ordering::SeqCst);
        tokio::time::sleep(SPARE_AFTER).await;
        if self.begun.load(Ordering::SeqCst) != begun || self.holds(generation) {
            return;
        }
        // A picture that begins now waits for this spare.
        let Ok(claim) = self.filling.clone().try_lock_owned() else {
            return;
        };
        if !browser.is_alive() || self.closed.load(Ordering::SeqCst) {
            return;
        }
        let opened = tokio::time::timeout(SPARE_TIMEOUT, Opened::open(browser, ip)).await;
        let Ok(Ok(opened)) = opened else { return };
        let old = {
            let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            // Checked under the lock, so none is kept after shutdown.
            if self.closed.load(Ordering::SeqCst) {
                Some((generation, opened))
            } else {
                slot.replace((generation, opened))
            }
        };
        drop(claim);
        if let Some((_, old)) = old {
            old.close().await;
        }
    }

    /// Whether a spare of `generation` is ready.
    fn holds(&self, generation: u64) -> bool {
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().is_some_and(|(g, _)| *g == generation)
    }
}

/// How long the browser must be idle before a spare is opened.
const SPARE_AFTER: Duration = Duration::from_millis(100);

/// The most a spare may take to open before it is given up.
const SPARE_TIMEOUT: Duration = Duration::from_secs(10);
