//! One picture, in the spare context or one opened now ([`crate::context`]):
//! its guard armed with the page's rules, the page at the asked size, the
//! waits, the picture, and the context thrown away after the answer.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use chromiumoxide::Page as CdpPage;
use chromiumoxide::cdp::browser_protocol::emulation::{
    MediaFeature, SetDeviceMetricsOverrideParams,
};
use chromiumoxide::cdp::browser_protocol::network::{CookieParam, SetCookiesParams};
use chromiumoxide::cdp::browser_protocol::page::{
    CaptureScreenshotFormat, CaptureScreenshotParams, Viewport,
};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use inkspot_core::config::WaitFor;
use inkspot_core::shot::{Encoding, MAX_FULL_HEIGHT, Page, Shot, ShotError, ShotRequest};
use serde::de::DeserializeOwned;

use crate::context::{Opened, Spare};
use crate::guard::{Guard, Rules, site};
use crate::launch::{Running, cdp};
use crate::{Limits, headers};

/// How often `wait_for` is looked for.
const POLL: Duration = Duration::from_millis(100);

/// The browser a picture is taken in: the browser, its generation and its
/// spare context.
pub struct In<'a> {
    pub running: &'a Arc<Running>,
    pub generation: u64,
    pub spare: &'a Arc<Spare>,
    /// Where guards listen.
    pub ip: IpAddr,
}

/// Takes `request` within the time limit, in the spare context if there is
/// one, else in one opened now, its guard armed with `rules`. The context
/// is thrown away after the answer, whatever happened, and a spare opened
/// for the next picture.
pub async fn take(
    at: In<'_>,
    request: &ShotRequest,
    limits: &Limits,
    rules: Rules,
) -> Result<Shot, ShotError> {
    let started = Instant::now();
    let browser = at.running;
    let opened = tokio::time::timeout(limits.timeout, async {
        match at.spare.take(at.generation).await {
            Some(spare) if spare.answers().await => Ok(spare),
            // Its renderer died while it waited: a fresh one.
            Some(stale) => {
                tokio::spawn(stale.close());
                Opened::open(browser, at.ip).await
            }
            None => Opened::open(browser, at.ip).await,
        }
    })
    .await
    .map_err(|_| ShotError::Timeout(limits.timeout))??;
    opened.guard.arm(rules);
    let left = limits.timeout.saturating_sub(started.elapsed());
    let page = &opened.page;
    let taken = tokio::time::timeout(
        left,
        shoot(browser, page, request, limits, &opened.guard, started),
    )
    .await;
    let over = opened.guard.usage().over();
    let (closing, spare, generation, ip) =
        (browser.clone(), at.spare.clone(), at.generation, at.ip);
    tokio::spawn(async move {
        opened.close().await;
        spare.fill(&closing, generation, ip).await;
    });
    let shot = taken.map_err(|_| ShotError::Timeout(limits.timeout))?;
    if let Some(over) = over {
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
    started: Instant,
) -> Result<Shot, ShotError> {
    emulate(page, request).await?;
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
    ready(browser, page, request, started + limits.timeout).await?;
    let about: About = eval(page, ABOUT_JS).await?;
    let links = if request.links {
        eval(page, LINKS_JS).await?
    } else {
        Vec::new()
    };
    let image = picture(page, request).await?;
    Ok(Shot {
        image,
        final_url: about.url,
        status: about.status,
        title: about.title,
        links,
    })
}

/// The window's size and zoom, and the media features asked for.
async fn emulate(page: &CdpPage, request: &ShotRequest) -> Result<(), ShotError> {
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
    Ok(())
}

/// Waits for the page: its images and fonts, `wait_for` until `deadline`,
/// then removes what `hide` names and waits `delay`.
async fn ready(
    browser: &Running,
    page: &CdpPage,
    request: &ShotRequest,
    deadline: Instant,
) -> Result<(), ShotError> {
    let _: bool = eval(page, SETTLE_JS).await.unwrap_or(false);
    if let Some(wait) = &request.wait_for {
        let left = deadline.saturating_duration_since(Instant::now());
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
    Ok(())
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
    // Asked directly rather than through chromiumoxide's helper, which
    // first brings the page to the front: one round trip less.
    let mut params = CaptureScreenshotParams::builder().from_surface(true);
    params = match request.encoding {
        Encoding::Png => params.format(CaptureScreenshotFormat::Png),
        Encoding::Jpeg => params.format(CaptureScreenshotFormat::Jpeg).quality(90),
        Encoding::Webp => params.format(CaptureScreenshotFormat::Webp).quality(90),
    };
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
    let taken = page.execute(params.build()).await.map_err(cdp)?;
    base64::engine::general_purpose::STANDARD
        .decode(AsRef::<str>::as_ref(&taken.result.data))
        .map_err(|e| ShotError::Browser(format!("the picture's encoding: {e}")))
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
