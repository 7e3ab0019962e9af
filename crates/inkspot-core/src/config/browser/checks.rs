//! The rules for `[browser]` and each spot's `screenshot`.

use super::super::Config;
use super::super::locate::{Collector, Seg, key, with};
use super::{Screenshot, expand_env};
use crate::config::{MAX_DIMENSION, MIN_DIMENSION};

/// Limits in range, allowed hosts that parse, a remote address that is one.
pub(in crate::config) fn check_browser(c: &mut Collector, config: &Config) {
    let b = &config.browser;
    let at = |k: &str| vec![key("browser"), key(k)];
    if !(1..=32).contains(&b.concurrency) {
        c.add(&at("concurrency"), "must be 1 to 32 pages");
    }
    if b.timeout.as_secs() < 1 || b.timeout.as_secs() > 300 {
        c.add(&at("timeout"), "must be 1s to 5m");
    }
    if !(1..=16).contains(&b.per_host) {
        c.add(&at("per_host"), "must be 1 to 16 pages");
    }
    if b.crawl_delay.as_secs() > 60 {
        c.add(&at("crawl_delay"), "must be at most 60s");
    }
    if b.max_requests == 0 {
        c.add(&at("max_requests"), "must be at least 1");
    }
    if b.max_page_bytes.as_u64() < 64 * 1024 {
        c.add(&at("max_page_bytes"), "must be at least 64KiB");
    }
    if b.max_memory.as_u64() < 128 * 1024 * 1024 {
        c.add(
            &at("max_memory"),
            "must be at least 128MiB: Chromium alone takes about 100MiB",
        );
    }
    if let Some(ws) = &b.ws_url {
        let scheme = url::Url::parse(ws).map(|u| u.scheme().to_string());
        if !matches!(scheme.as_deref(), Ok("ws" | "wss" | "http" | "https")) {
            c.add(
                &at("ws_url"),
                format!("`{ws}` is not a DevTools address: use ws://host:9222/devtools/browser/… or http://host:9222"),
            );
        }
    }
    for (list, entries) in [("allow", &b.allow), ("jobs_allow", &b.jobs_allow)] {
        for (i, entry) in entries.iter().enumerate() {
            if let Err(e) = check_allowed(entry) {
                c.add(&[key("browser"), key(list), Seg::Index(i)], e);
            }
        }
    }
    for (i, spot) in config.spots.iter().enumerate() {
        if let Some(shot) = &spot.screenshot {
            check_screenshot(c, &[key("spots"), Seg::Index(i), key("screenshot")], shot);
        }
    }
}

/// An address, a network or a host name.
fn check_allowed(entry: &str) -> Result<(), String> {
    if entry.contains('/') {
        return entry
            .parse::<ipnet::IpNet>()
            .map(drop)
            .map_err(|_| format!("`{entry}` is not a network such as 192.168.1.0/24"));
    }
    if entry.parse::<std::net::IpAddr>().is_ok() || url::Host::parse(entry).is_ok() {
        return Ok(());
    }
    Err(format!(
        "`{entry}` is not a host name, an address or a network"
    ))
}

/// A page the browser may open, and options it can use.
fn check_screenshot(c: &mut Collector, path: &[Seg], shot: &Screenshot) {
    let at = |k: &str| with(path, &[key(k)]);
    if let Err(e) = check_page_url(&shot.url) {
        c.add(&at("url"), e);
    }
    if let Some(view) = &shot.viewport {
        match shot.viewport_size() {
            Some((w, h))
                if [w, h]
                    .iter()
                    .all(|v| (MIN_DIMENSION..=MAX_DIMENSION).contains(v)) => {}
            Some(_) => c.add(
                &at("viewport"),
                format!(
                    "`{view}` is out of range: each side {MIN_DIMENSION} to {MAX_DIMENSION} pixels"
                ),
            ),
            None => c.add(
                &at("viewport"),
                format!("`{view}` is not a size such as \"1024x768\""),
            ),
        }
    }
    if !(0.1..=10.0).contains(&shot.zoom) {
        c.add(&at("zoom"), "must be 0.1 to 10");
    }
    for (table, values) in [("headers", &shot.headers), ("cookies", &shot.cookies)] {
        for (name, value) in values {
            if let Err(e) = expand_env(value) {
                c.add(&with(path, &[key(table), key(name)]), e);
            }
        }
    }
    for (table, values) in [("headers", &shot.headers), ("cookies", &shot.cookies)] {
        for (name, value) in values {
            if value.contains(['\r', '\n']) {
                c.add(
                    &with(path, &[key(table), key(name)]),
                    "a value may not hold a line break",
                );
            }
        }
    }
    for name in shot.headers.keys() {
        if http_token(name).is_err() {
            c.add(
                &with(path, &[key("headers"), key(name)]),
                format!("`{name}` is not a header name"),
            );
        }
    }
}

/// Only `http` and `https` pages, with a host.
pub fn check_page_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(format!("`{raw}` has no host")),
        other => Err(format!(
            "scheme `{other}` cannot be shot: use an http or https page"
        )),
    }
}

fn http_token(name: &str) -> Result<(), ()> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok { Ok(()) } else { Err(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case("http://ha.local:8123/lovelace/0", true)]
    #[case("https://example.com", true)]
    #[case("file:///etc/passwd", false)]
    #[case("chrome://settings", false)]
    #[case("data:text/html,<b>hi</b>", false)]
    #[case("javascript:alert(1)", false)]
    #[case("not a url", false)]
    fn page_urls(#[case] url: &str, #[case] ok: bool) {
        assert_eq!(check_page_url(url).is_ok(), ok, "{url}");
    }

    #[rstest::rstest]
    #[case("homeassistant.local", true)]
    #[case("192.168.1.0/24", true)]
    #[case("10.0.0.5", true)]
    #[case("fd00::/8", true)]
    #[case("192.168.1.0/99", false)]
    #[case("bad host!", false)]
    fn allowed(#[case] entry: &str, #[case] ok: bool) {
        assert_eq!(check_allowed(entry).is_ok(), ok, "{entry}");
    }
}
