//! One picture: a fresh incognito context whose every request goes through
//! its own [`Guard`], a page at the asked size, the waits, the picture,
//! and the context thrown away.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chromiumoxide::Page as CdpPage;
use chromiumoxide::cdp::browser_protocol::browser::{
    SetDownloadBehaviorBehavior, SetDownloadBehaviorParams,
};
use chromiumoxide::cdp::browser_protocol::emulation::{
    MediaFeature, SetDeviceMetricsOverrideParams,
};
use chromiumoxide::cdp::browser_protocol::network::{CookieParam, SetCookiesParams};
use chromiumoxide::cdp::browser_protocol::page::Viewport;
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams,
};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::page::ScreenshotParams;
use inkspot_core::config::WaitFor;
use inkspot_core::shot::{MAX_FULL_HEIGHT, Page, Shot, ShotError, ShotRequest};
use serde::de::DeserializeOwned;

use crate::guard::{Guard, site};
use crate::launch::Running;
use crate::{Limits, headers};

/// How often `wait_for` is looked for.
const POLL: Duration = Duration::from_millis(100);

/// Takes `request` in `browser`, within the time limit. The context is
/// disposed of whatever happens.
pub async fn take(
    browser: &Arc<Running>,
    request: &ShotRequest,
    limits: &Limits,
    guard: &Guard,
) -> Result<Shot, ShotError> {
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
    let started = Instant::now();
    let mut opened = None;
    let taken = tokio::time::timeout(limits.timeout, async {
        let mut target = CreateTargetParams::new("about:blank");
        target.browser_context_id = Some(context.clone());
        let page = browser.cdp.new_page(target).await.map_err(cdp)?;
        let shot = shoot(browser, &page, request, limits, guard, &context, started).await;
        opened = Some(page);
        shot
    })
    .await;
    // The page and its context are thrown away after the answer, not
    // before it: nothing of them is used again.
    let closing = browser.clone();
    tokio::spawn(async move {
        if let Some(page) = opened {
            let _ = tokio::time::timeout(Duration::from_secs(2), page.close()).await;
        }
        let disposed = closing.cdp.dispose_browser_context(context);
        let _ = tokio::time::timeout(Duration::from_secs(2), disposed).await;
    });
    let shot = taken.map_err(|_| ShotError::Timeout(limits.timeout))?;
    if let Some(over) = guard.usage().over() {
        return Err(ShotError::TooLarge(over));
    }
    shot
}

async fn shoot(
    browser: &Running,
    page: &CdpPage,
    request: &ShotRequest,
    limits: &Limits,
    guard: &Guard,
    context: &chromiumoxide::cdp::browser_protocol::browser::BrowserContextId,
    started: Instant,
) -> Result<Shot, ShotError> {
    let mut downloads = SetDownloadBehaviorParams::new(SetDownloadBehaviorBehavior::Deny);
    downloads.browser_context_id = Some(context.clone());
    browser.cdp.execute(downloads).await.map_err(cdp)?;
    let metrics = SetDeviceMetricsOverrideParams::new(
        i64::from(request.width),
        i64::from(request.height),
        request.zoom,
        false,
    );
    page.execute(metrics).await.map_err(cdp)?;
    let scheme = if request.dark { "dark" } else { "light" };
    page.emulate_media_features(vec![
        MediaFeature::new("prefers-color-scheme", scheme),
        MediaFeature::new("prefers-reduced-motion", "reduce"),
    ])
    .await
    .map_err(cdp)?;
    let url = match &request.page {
        Page::Url(url) => url.to_string(),
        Page::Html { .. } => format!("http://{}/", site::HOST),
    };
    let _headers = headers::send(page, &url, &request.headers).await?;
    set_cookies(page, &url, request).await?;
    let loaded = page.goto(url.as_str()).await;
    if let Some(refused) = document_refused(page, guard).await {
        return Err(ShotError::Refused(refused));
    }
    loaded.map_err(|e| ShotError::Load(e.to_string()))?;
    let _: bool = eval(page, SETTLE_JS).await.unwrap_or(false);
    if let Some(wait) = &request.wait_for {
        let left = limits.timeout.saturating_sub(started.elapsed());
        wait_for(browser, page, wait, left).await?;
    }
    for hidden in &request.hide {
        let js = format!(
            "document.querySelectorAll({}).forEach(e => e.remove()), true",
            js_string(hidden)
        );
        let _: bool = eval(page, &js).await?;
    }
    if let Some(delay) = request.delay {
        tokio::time::sleep(delay).await;
    }
    let about: About = eval(page, ABOUT_JS).await?;
    let links = if request.links {
        eval(page, LINKS_JS).await?
    } else {
        Vec::new()
    };
    let png = picture(page, request).await?;
    Ok(Shot {
        png,
        final_url: about.url,
        status: about.status,
        title: about.title,
        links,
    })
}

/// Why the page's own document was refused by the guard, if it was: the
/// document (or a redirect it took) is on a refused host.
async fn document_refused(page: &CdpPage, guard: &Guard) -> Option<String> {
    let refused = guard.usage().refused()?;
    let about: About = eval(page, ABOUT_JS).await.ok()?;
    let host = url::Url::parse(&about.url).ok()?.host_str()?.to_string();
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    (about.status == 403 && refused.contains(&bare)).then_some(refused)
}

async fn set_cookies(page: &CdpPage, url: &str, request: &ShotRequest) -> Result<(), ShotError> {
    if request.cookies.is_empty() {
        return Ok(());
    }
    let cookies = request
        .cookies
        .iter()
        .map(|(name, value)| {
            let mut cookie = CookieParam::new(name.clone(), value.clone());
            cookie.url = Some(url.to_string());
            cookie
        })
        .collect();
    page.execute(SetCookiesParams::new(cookies))
        .await
        .map_err(cdp)?;
    Ok(())
}

/// Polls for the selector or expression until it holds or `left` runs out.
/// A script error or a page between documents counts as not yet; a
/// browser that is gone ends the wait.
async fn wait_for(
    browser: &Running,
    page: &CdpPage,
    wait: &WaitFor,
    left: Duration,
) -> Result<(), ShotError> {
    let (js, shown) = match wait {
        WaitFor::Selector(css) => (
            format!("document.querySelector({}) !== null", js_string(css)),
            css.clone(),
        ),
        WaitFor::Script { js } => (format!("!!({js})"), js.clone()),
    };
    let until = Instant::now() + left;
    loop {
        match eval::<bool>(page, &js).await {
            Ok(true) => return Ok(()),
            Err(e) if e.is_browser_fault() && !browser.is_alive() => return Err(e),
            _ => {}
        }
        if Instant::now() + POLL > until {
            return Err(ShotError::WaitFor(shown, left));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The window, the whole page, or one element.
async fn picture(page: &CdpPage, request: &ShotRequest) -> Result<Vec<u8>, ShotError> {
    let mut params = ScreenshotParams::builder();
    if let Some(css) = &request.selector {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return null; e.scrollIntoView(); const r = e.getBoundingClientRect(); return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]; }})()",
            js_string(css)
        );
        let rect: Option<[f64; 4]> = eval(page, &js).await?;
        let [x, y, width, height] = rect
            .filter(|r| r[2] >= 1.0 && r[3] >= 1.0)
            .ok_or_else(|| ShotError::NoElement(css.clone()))?;
        // An element larger than a full page is cut to one.
        let width = width.min(f64::from(MAX_FULL_HEIGHT));
        let height = height.min(f64::from(MAX_FULL_HEIGHT));
        params = params
            .clip(Viewport {
                x,
                y,
                width,
                height,
                scale: 1.0,
            })
            .capture_beyond_viewport(true);
    } else if request.full_page {
        // As wide as the window, however wide the page claims to be.
        let js = format!(
            "[Math.min(document.documentElement.scrollWidth, {}), Math.min(document.documentElement.scrollHeight, {MAX_FULL_HEIGHT})]",
            request.width
        );
        let [width, height]: [f64; 2] = eval(page, &js).await?;
        params = params
            .clip(Viewport {
                x: 0.0,
                y: 0.0,
                width: width.max(1.0),
                height: height.max(1.0),
                scale: 1.0,
            })
            .capture_beyond_viewport(true);
    }
    page.screenshot(params.build()).await.map_err(cdp)
}

/// What the page says of itself after loading.
#[derive(serde::Deserialize)]
struct About {
    url: String,
    status: u16,
    title: String,
}

const ABOUT_JS: &str = "(() => { let s = 0; try { const n = performance.getEntriesByType('navigation')[0]; s = Number(n && n.responseStatus) || 0; } catch (e) {} return { url: String(location.href).slice(0, 4096), status: s, title: String(document.title || '').slice(0, 300) }; })()";

/// The page's links, resolved by the page itself, at most 5,000.
const LINKS_JS: &str =
    "Array.from(document.querySelectorAll('a[href]')).slice(0, 5000).map(a => a.href)";

/// Images and fonts, waited for after the load event, at most 5 s.
const SETTLE_JS: &str = "Promise.race([Promise.all([document.fonts.ready, ...Array.from(document.images).filter(i => !i.complete).map(i => new Promise(r => { i.onload = i.onerror = r; }))]).then(() => true), new Promise(r => setTimeout(() => r(false), 5000))])";

async fn eval<T: DeserializeOwned>(page: &CdpPage, js: &str) -> Result<T, ShotError> {
    let params = EvaluateParams::builder()
        .expression(js)
        .await_promise(true)
        .return_by_value(true)
        .build()
        .map_err(ShotError::Browser)?;
    let answer = page
        .evaluate_expression(params)
        .await
        .map_err(|e| match e {
            // The page's own script threw: the page's fault, not the browser's.
            chromiumoxide::error::CdpError::JavascriptException(e) => {
                ShotError::Load(format!("the page's script failed: {}", e.text))
            }
            other => cdp(other),
        })?;
    answer
        .into_value()
        .map_err(|e| ShotError::Load(format!("the page's answer: {e}")))
}

/// `text` as a JavaScript string literal.
fn js_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "''".to_string())
}

/// A DevTools failure: the browser's fault, so worth a fresh browser.
pub(crate) fn cdp(e: chromiumoxide::error::CdpError) -> ShotError {
    ShotError::Browser(e.to_string())
}
