//! `[browser]`: the headless Chromium that draws screenshot spots and HTML
//! templates, and a spot's own `screenshot = { ... }`.

/// The rules this section must satisfy beyond its types, checked at load.
pub(super) mod checks;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

/// `[browser]`: one warm Chromium, started on first use and driven over
/// the DevTools protocol, or a remote one at `ws_url`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrowserConfig {
    /// The Chromium (or Chrome) to start. Default: the first of
    /// `chromium`, `chromium-browser`, `google-chrome-stable`,
    /// `google-chrome` on the `PATH`.
    pub executable: Option<PathBuf>,
    /// A browser already running elsewhere (a Chrome container, a
    /// browserless-style service): its DevTools address, `ws://…` or
    /// `http://host:9222`. Nothing is started here when it is set.
    /// Default: the `INKSPOT_BROWSER_WS_URL` environment variable.
    pub ws_url: Option<String>,
    /// Where the browser reaches inkspot's address guard, through which
    /// every request of a page goes. Default `127.0.0.1`; with a remote
    /// browser, an address of this host that the browser can reach.
    pub guard_address: std::net::IpAddr,
    /// Pages open at once. Default `2`.
    pub concurrency: usize,
    /// Keep one context open ahead while the browser is idle, so the next
    /// picture need not wait for a page to open (about 60 MiB more while
    /// idle, a picture about half as long). Default `true`.
    pub spare: bool,
    /// The most one page may take, from opening to its picture. Default `20s`.
    #[serde(deserialize_with = "super::units::duration")]
    pub timeout: Duration,
    /// The most one page may load over the network, all its requests
    /// together. Default `32MiB`.
    #[serde(deserialize_with = "super::units::size")]
    pub max_page_bytes: ByteSize,
    /// The most requests (or secure connections) one page may make.
    /// Default `300`.
    pub max_requests: u32,
    /// The browser's memory (all its processes) past which it is killed and
    /// started again. Default `1GiB`.
    #[serde(deserialize_with = "super::units::size")]
    pub max_memory: ByteSize,
    /// Hosts and networks a page may reach although they are loopback,
    /// private or link-local (a Home Assistant at home needs its address
    /// here): `"homeassistant.local"`, `"192.168.1.0/24"`, `"10.0.0.5"`.
    /// Cloud metadata addresses are refused unless named exactly.
    pub allow: Vec<String>,
    /// Hosts and networks the job API's screenshots and crawls may reach
    /// although they are special, as `allow` is for the operator's own
    /// spots. Default none: a key reaches public addresses only.
    pub jobs_allow: Vec<String>,
    /// How long a screenshot taken for a job is shared with every job that
    /// asks for the same URL with the same options. Default `5m`.
    #[serde(deserialize_with = "super::units::duration")]
    pub share_window: Duration,
    /// Pages of one host a crawl has open at once, all jobs together.
    /// Default `2`.
    pub per_host: usize,
    /// The pause between two pages of one host in a crawl (a longer
    /// `Crawl-delay` in its `robots.txt` wins, up to 30 s). Default `1s`.
    #[serde(deserialize_with = "super::units::duration")]
    pub crawl_delay: Duration,
    /// Hosts whose `robots.txt` a crawl does not read (the operator's own
    /// sites). Every other host's is honoured.
    pub ignore_robots: Vec<String>,
}

impl Default for BrowserConfig {
    fn default() -> Self {
        Self {
            executable: None,
            ws_url: None,
            guard_address: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            concurrency: 2,
            spare: true,
            timeout: Duration::from_secs(20),
            max_page_bytes: ByteSize::mib(32),
            max_requests: 300,
            max_memory: ByteSize::gib(1),
            allow: Vec::new(),
            jobs_allow: Vec::new(),
            share_window: Duration::from_secs(300),
            per_host: 2,
            crawl_delay: Duration::from_secs(1),
            ignore_robots: Vec::new(),
        }
    }
}

/// A spot's `screenshot = { url = "…", … }`: its picture is a web page.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Screenshot {
    /// The page, `http` or `https`.
    pub url: String,
    /// What must be on the page before the picture is taken: a CSS
    /// selector (`"#loaded"`), or `{ js = "window.ready === true" }`.
    #[serde(default)]
    pub wait_for: Option<WaitFor>,
    /// A pause after the page (and `wait_for`) is ready, for animations to
    /// settle, e.g. `"750ms"`. Default none.
    #[serde(default, deserialize_with = "super::units::opt_duration")]
    pub delay: Option<Duration>,
    /// The browser window, `"1024x768"`; the picture is scaled to the
    /// spot's size. Default: the spot's (or the output's) size.
    #[serde(default)]
    pub viewport: Option<String>,
    /// The page's zoom, e.g. `1.5` to draw everything half as large
    /// again. Default `1`.
    #[serde(default = "default_zoom")]
    pub zoom: f64,
    /// Crop the picture to this element (a CSS selector).
    #[serde(default)]
    pub selector: Option<String>,
    /// Elements removed before the picture: cookie banners, chat widgets.
    #[serde(default)]
    pub hide: Vec<String>,
    /// Headers sent to the page's own host (not to others it loads from);
    /// `${NAME}` takes the environment variable `NAME`, e.g.
    /// `Authorization = "Bearer ${HA_TOKEN}"`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Cookies set for the page's URL, `${NAME}` as in `headers`.
    #[serde(default)]
    pub cookies: BTreeMap<String, String>,
    /// Ask the page for its dark colour scheme. Default `false`.
    #[serde(default)]
    pub dark: bool,
}

/// What a page must show before its picture is taken.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(untagged, expecting = "a CSS selector, or { js = \"an expression\" }")]
pub enum WaitFor {
    /// An element matching this CSS selector.
    Selector(String),
    /// A JavaScript expression that becomes true.
    Script {
        /// The expression.
        js: String,
    },
}

fn default_zoom() -> f64 {
    1.0
}

impl Screenshot {
    /// `viewport` as width and height, when given and well formed.
    pub fn viewport_size(&self) -> Option<(u32, u32)> {
        parse_size(self.viewport.as_deref()?)
    }
}

/// `"800x480"` as a width and a height.
pub fn parse_size(text: &str) -> Option<(u32, u32)> {
    let (w, h) = text.split_once(['x', 'X'])?;
    Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
}

/// `text` with each `${NAME}` replaced by the environment variable `NAME`;
/// the first name that is not set is the error.
pub fn expand_env(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`${{` without a closing `}}` in `{text}`"))?;
        let name = &after[..end];
        out.push_str(
            &std::env::var(name)
                .map_err(|_| format!("the environment variable `{name}` is not set"))?,
        );
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case("800x480", Some((800, 480)))]
    #[case("1024X768", Some((1024, 768)))]
    #[case("800", None)]
    #[case("wide x tall", None)]
    fn sizes(#[case] text: &str, #[case] want: Option<(u32, u32)>) {
        assert_eq!(parse_size(text), want);
    }

    #[test]
    fn env_values_expand_and_a_missing_one_is_named() {
        // SAFETY: no other test reads or writes this variable.
        unsafe { std::env::set_var("INKSPOT_TEST_SHOT_TOKEN", "s3cret") };
        assert_eq!(
            expand_env("Bearer ${INKSPOT_TEST_SHOT_TOKEN}!").unwrap(),
            "Bearer s3cret!"
        );
        assert_eq!(expand_env("plain").unwrap(), "plain");
        let err = expand_env("${INKSPOT_TEST_SHOT_NOT_SET}").unwrap_err();
        assert!(err.contains("INKSPOT_TEST_SHOT_NOT_SET"), "{err}");
        assert!(expand_env("${OPEN").is_err());
    }
}
