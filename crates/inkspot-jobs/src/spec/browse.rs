//! The browser's jobs: `{"screenshots": {...}}`, pictures of a list of
//! pages, and `{"crawl": {...}}`, a page and the pages its links reach.
//! The options that change a picture are one [`ShotOptions`], so a page
//! taken with the same options within `browser.share_window` is shared.

use serde::{Deserialize, Serialize};

use super::{Problem, problem};
use crate::config::{Config, WaitFor, check_page_url, parse_size};

/// The most hops a crawl may follow.
pub const MAX_DEPTH: u32 = 5;
pub use crate::shot::MAX_FULL_HEIGHT;

/// `{"screenshots": {"urls": [...], ...}}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Screenshots {
    /// The pages, `http` or `https`.
    pub urls: Vec<String>,
    /// The browser window, `"1280x800"`. Default `1280x800`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewport: Option<String>,
    /// A CSS selector, or `{"js": "..."}`, that must hold first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for: Option<WaitFor>,
    /// A pause after the page is ready, in milliseconds (at most 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// The whole page rather than the window (at most 16,384 px tall).
    #[serde(default)]
    pub full_page: bool,
    /// `png` (the default), `jpeg` or `webp`.
    #[serde(default)]
    pub format: ShotFormat,
}

/// `{"crawl": {"url": ..., "depth": ..., ...}}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Crawl {
    /// The start page, depth 0.
    pub url: String,
    /// Hops from the start page to follow. Default `1`, at most 5.
    #[serde(default = "one")]
    pub depth: u32,
    /// The most pages, the start included. Default `20`, at most
    /// `jobs.max_items`.
    #[serde(default = "twenty")]
    pub max_pages: usize,
    /// Follow links to the start page's host only. Default `true`.
    #[serde(default = "yes")]
    pub same_site: bool,
    /// The browser window, as for screenshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewport: Option<String>,
    /// The whole page rather than the window.
    #[serde(default)]
    pub full_page: bool,
    /// `png` (the default), `jpeg` or `webp`.
    #[serde(default)]
    pub format: ShotFormat,
}

fn one() -> u32 {
    1
}
fn twenty() -> usize {
    20
}
fn yes() -> bool {
    true
}

/// The pictures' format: `png` (the default), `jpeg` or `webp`.
pub type ShotFormat = crate::shot::Encoding;

/// What changes a picture besides its URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShotOptions {
    /// The window's width.
    pub width: u32,
    /// The window's height.
    pub height: u32,
    /// What must hold first.
    pub wait_for: Option<WaitFor>,
    /// The pause after, in milliseconds.
    pub delay_ms: u64,
    /// The whole page.
    pub full_page: bool,
    /// How the pictures are encoded.
    pub format: ShotFormat,
}

/// A resolved screenshots job.
#[derive(Debug, Clone)]
pub struct ShotsPlan {
    /// Each page and its file in the zip.
    pub pages: Vec<(url::Url, String)>,
    /// The options of every picture.
    pub options: ShotOptions,
}

/// A resolved crawl.
#[derive(Debug, Clone)]
pub struct CrawlPlan {
    /// The start page.
    pub start: url::Url,
    /// Hops to follow.
    pub depth: u32,
    /// The most pages.
    pub max_pages: usize,
    /// The start page's host only.
    pub same_site: bool,
    /// The options of every picture.
    pub options: ShotOptions,
}

/// The plan of a screenshots job, or every problem.
pub fn resolve_screenshots(config: &Config, s: &Screenshots) -> Result<ShotsPlan, Vec<Problem>> {
    let mut problems = Vec::new();
    if s.urls.is_empty() {
        problems.push(problem("screenshots.urls", "is empty"));
    }
    if s.urls.len() > config.jobs.max_items {
        let message = format!(
            "{} pages, more than the {} one job may have (`jobs.max_items`)",
            s.urls.len(),
            config.jobs.max_items
        );
        problems.push(problem("screenshots.urls", message));
    }
    let mut pages = Vec::new();
    for (i, raw) in s.urls.iter().enumerate() {
        match check_page_url(raw) {
            Ok(url) => {
                let name = file_name(pages.len(), &url, s.format.extension());
                pages.push((url, name));
            }
            Err(e) => problems.push(problem(format!("screenshots.urls[{i}]"), e)),
        }
    }
    let options = options(
        "screenshots",
        s.viewport.as_deref(),
        s.wait_for.clone(),
        s.delay_ms,
        (s.full_page, s.format),
        &mut problems,
    );
    if problems.is_empty() {
        Ok(ShotsPlan { pages, options })
    } else {
        Err(problems)
    }
}

/// The plan of a crawl, or every problem.
pub fn resolve_crawl(config: &Config, c: &Crawl) -> Result<CrawlPlan, Vec<Problem>> {
    let mut problems = Vec::new();
    let start = check_page_url(&c.url)
        .map_err(|e| problems.push(problem("crawl.url", e)))
        .ok();
    if c.depth > MAX_DEPTH {
        problems.push(problem(
            "crawl.depth",
            format!("must be 0 to {MAX_DEPTH} hops"),
        ));
    }
    if c.max_pages == 0 || c.max_pages > config.jobs.max_items {
        let message = format!(
            "must be 1 to {}, what one job may have (`jobs.max_items`)",
            config.jobs.max_items
        );
        problems.push(problem("crawl.max_pages", message));
    }
    let options = options(
        "crawl",
        c.viewport.as_deref(),
        None,
        None,
        (c.full_page, c.format),
        &mut problems,
    );
    match start {
        Some(start) if problems.is_empty() => Ok(CrawlPlan {
            start,
            depth: c.depth,
            max_pages: c.max_pages,
            same_site: c.same_site,
            options,
        }),
        _ => Err(problems),
    }
}

fn options(
    at: &str,
    viewport: Option<&str>,
    wait_for: Option<WaitFor>,
    delay_ms: Option<u64>,
    (full_page, format): (bool, ShotFormat),
    problems: &mut Vec<Problem>,
) -> ShotOptions {
    let (width, height) = match viewport.map(|v| (v, parse_size(v))) {
        None => (1280, 800),
        Some((_, Some((w, h)))) if (16..=4096).contains(&w) && (16..=4096).contains(&h) => (w, h),
        Some((v, _)) => {
            let message = format!("`{v}` is not a size such as \"1280x800\", each side 16 to 4096");
            problems.push(problem(format!("{at}.viewport"), message));
            (1280, 800)
        }
    };
    let delay_ms = delay_ms.unwrap_or(0);
    if delay_ms > 10_000 {
        problems.push(problem(format!("{at}.delay_ms"), "must be at most 10000"));
    }
    ShotOptions {
        width,
        height,
        wait_for,
        delay_ms,
        full_page,
        format,
    }
}

/// `007-example.com.png`: the page's place and host, and `ext`.
pub fn file_name(index: usize, url: &url::Url, ext: &str) -> String {
    let host: String = url
        .host_str()
        .unwrap_or("page")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{index:03}-{host}.{ext}")
}
