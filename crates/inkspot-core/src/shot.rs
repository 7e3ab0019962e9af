//! Pictures a browser takes: what the pipeline asks of one (a web page, or
//! a filled HTML template with its folder), and the [`Camera`] trait a
//! browser implements. The core knows no browser; the server hands the
//! pipeline one (`inkspot-browser`), or none ([`NoCamera`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::WaitFor;

/// The tallest full-page picture, in CSS pixels: a page that scrolls for
/// ever is cut there.
pub const MAX_FULL_HEIGHT: u32 = 16_384;

/// What the page is.
#[derive(Debug, Clone)]
pub enum Page {
    /// A page on the web, `http` or `https`.
    Url(url::Url),
    /// A filled HTML template: its text, and the folder its relative
    /// links (CSS, images, fonts) are read from.
    Html {
        /// The filled page.
        html: String,
        /// The templates folder.
        assets: PathBuf,
    },
}

/// One picture to take.
#[derive(Debug, Clone)]
pub struct ShotRequest {
    /// The page.
    pub page: Page,
    /// The browser window's width, in CSS pixels.
    pub width: u32,
    /// The browser window's height, in CSS pixels; with `full_page`, the
    /// least height.
    pub height: u32,
    /// The page's zoom (device pixels per CSS pixel).
    pub zoom: f64,
    /// What must be on the page before the picture.
    pub wait_for: Option<WaitFor>,
    /// A pause after the page is ready.
    pub delay: Option<Duration>,
    /// Crop to this element.
    pub selector: Option<String>,
    /// Elements removed before the picture.
    pub hide: Vec<String>,
    /// Headers for the page's own host, expanded.
    pub headers: BTreeMap<String, String>,
    /// Cookies for the page's URL, expanded.
    pub cookies: BTreeMap<String, String>,
    /// Ask for the page's dark scheme.
    pub dark: bool,
    /// The whole page's height, not the window's.
    pub full_page: bool,
    /// Hosts the page may reach besides the operator's rules (an HTML
    /// template's `page_hosts`). For [`Page::Html`], the only ones.
    pub hosts: Vec<String>,
    /// Read the page's links (`a[href]`, resolved) too, for a crawl.
    pub links: bool,
    /// Asked through the job API, by a key: the addresses
    /// `browser.jobs_allow` opens apply, not the operator's `browser.allow`.
    pub job: bool,
    /// How the picture is encoded: PNG, which the output stage reads, for
    /// everything but the job API's `format`.
    pub encoding: Encoding,
}

/// How the browser encodes a picture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Lossless.
    #[default]
    Png,
    /// Lossy, quality 90: a photo-heavy page in a fraction of the bytes.
    Jpeg,
    /// Lossy, quality 90, smaller still.
    Webp,
}

impl Encoding {
    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Encoding::Png => "image/png",
            Encoding::Jpeg => "image/jpeg",
            Encoding::Webp => "image/webp",
        }
    }

    /// Its file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Png => "png",
            Encoding::Jpeg => "jpg",
            Encoding::Webp => "webp",
        }
    }

    /// The encoding of a file named `name`, by its extension.
    pub fn of_file(name: &str) -> Option<Self> {
        let ext = name.rsplit_once('.')?.1;
        [Encoding::Png, Encoding::Jpeg, Encoding::Webp]
            .into_iter()
            .find(|e| e.extension() == ext)
    }
}

impl ShotRequest {
    /// A picture of `page` at `width`×`height` with no other option.
    pub fn new(page: Page, width: u32, height: u32) -> Self {
        Self {
            page,
            width,
            height,
            zoom: 1.0,
            wait_for: None,
            delay: None,
            selector: None,
            hide: Vec::new(),
            headers: BTreeMap::new(),
            cookies: BTreeMap::new(),
            dark: false,
            full_page: false,
            hosts: Vec::new(),
            links: false,
            job: false,
            encoding: Encoding::Png,
        }
    }
}

/// A picture taken, with what the page said about itself.
#[derive(Debug, Clone)]
pub struct Shot {
    /// The picture, encoded as the request asked (PNG unless it asked
    /// otherwise).
    pub image: Vec<u8>,
    /// The URL after redirects.
    pub final_url: String,
    /// The HTTP status of the page's document (0 when not known).
    pub status: u16,
    /// The page's title.
    pub title: String,
    /// The page's links, resolved, when asked for.
    pub links: Vec<String>,
}

/// Why a picture could not be taken. Each message says what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ShotError {
    /// No browser is configured or installed.
    #[error("no browser: {0}")]
    Unavailable(String),
    /// The browser failed (crashed, hung, refused a command).
    #[error("the browser failed: {0}")]
    Browser(String),
    /// The page, a redirect or a resource was refused by the address rules.
    #[error("refused: {0}")]
    Refused(String),
    /// The page did not load.
    #[error("the page did not load: {0}")]
    Load(String),
    /// `wait_for` was not met within the time limit.
    #[error("`{0}` did not appear within {1:?}")]
    WaitFor(String, Duration),
    /// `selector` matched nothing.
    #[error("`{0}` matched no element on the page")]
    NoElement(String),
    /// The page took longer than the time limit.
    #[error("the page took longer than {0:?}")]
    Timeout(Duration),
    /// The page loaded more than its byte or request limit.
    #[error("the page went over its limit: {0}")]
    TooLarge(String),
}

impl ShotError {
    /// Whether taking the picture again with a fresh browser may help.
    pub fn is_browser_fault(&self) -> bool {
        matches!(self, ShotError::Browser(_))
    }
}

/// A browser that takes pictures of pages.
#[async_trait::async_trait]
pub trait Camera: Send + Sync {
    /// Takes the picture `request` describes.
    async fn shoot(&self, request: ShotRequest) -> Result<Shot, ShotError>;

    /// The text at `url` (a `robots.txt` for a crawl), fetched under the
    /// address rules of a job's page, at most `max` bytes; `None` when
    /// there is none.
    async fn fetch_text(&self, url: &url::Url, max: usize) -> Result<Option<String>, ShotError>;
}

/// No browser: every picture fails, saying how to get one.
pub struct NoCamera;

/// What [`NoCamera`] says.
pub const NO_BROWSER: &str = "this build or service has no browser; install Chromium (Debian: apt install chromium) or set browser.ws_url to a remote one";

#[async_trait::async_trait]
impl Camera for NoCamera {
    async fn shoot(&self, _request: ShotRequest) -> Result<Shot, ShotError> {
        Err(ShotError::Unavailable(NO_BROWSER.to_string()))
    }

    async fn fetch_text(&self, _url: &url::Url, _max: usize) -> Result<Option<String>, ShotError> {
        Err(ShotError::Unavailable(NO_BROWSER.to_string()))
    }
}
