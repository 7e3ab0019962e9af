//! `GET /image`: cache hits and misses, conditional requests, expiry,
//! restarts, single flight, and the failure paths, against the real service
//! and fixture upstreams over loopback.

use std::time::Duration;

use crate::common::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn upstream_with(page: String) -> MockServer {
    let server = MockServer::start().await;
    serve_page(&server, page).await;
    server
}

async fn serve_page(server: &MockServer, page: String) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/report"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html; charset=utf-8")
                .set_body_string(page),
        )
        .mount(server)
        .await;
}

async fn serve_status(server: &MockServer, status: u16) {
    server.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(status))
        .mount(server)
        .await;
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

async fn bar_app(upstream: &MockServer, extra: &str) -> (Site, App) {
    let site = Site::new();
    site.write_bar_config(&format!("{}/report", upstream.uri()), extra);
    let app = App::start(&site).await;
    (site, app)
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

fn max_age(r: &reqwest::Response) -> u64 {
    header(r, "cache-control")
        .strip_prefix("public, max-age=")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad cache-control {}", header(r, "cache-control")))
}

#[tokio::test]
async fn renders_the_data_at_the_spot_size_then_serves_it_from_cache() {
    let upstream = upstream_with(report_page("3.6", "Clean lines")).await;
    let (site, app) = bar_app(&upstream, "").await;

    let first = app.get("/image?spot=Linda%20Mar", &[]).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "content-type"), "image/png");
    assert_eq!(header(&first, "x-cache"), "miss");
    assert!(
        (3590..=3600).contains(&max_age(&first)),
        "freshness left counts down from max_age"
    );
    let etag = header(&first, "etag").to_string();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    let length: usize = header(&first, "content-length").parse().unwrap();
    let last_modified = header(&first, "last-modified").to_string();
    let body = first.bytes().await.unwrap();
    assert_eq!(body.len(), length);

    let image = decode_png(&body);
    assert_eq!((image.width, image.height), (400, 240));
    // 3.6 ft draws a 360-pixel bar (anti-aliasing may blur its last pixel).
    let bar = image.dark_in_row(20);
    assert!((359..=361).contains(&bar), "bar is {bar} pixels");
    assert!(image.at(390, 20) > 200, "right of the bar stays white");
    assert!(image.dark_in_row(110) > 10, "the headline is drawn");

    // By slug, case-insensitively by name: the same render, from cache.
    for name in ["linda-mar", "LINDA%20MAR"] {
        let again = app.get(&format!("/image?spot={name}"), &[]).await;
        assert_eq!(again.status(), 200);
        assert_eq!(header(&again, "x-cache"), "hit");
        assert_eq!(header(&again, "etag"), etag);
        assert_eq!(header(&again, "last-modified"), last_modified);
        assert_eq!(again.bytes().await.unwrap(), body);
    }
    assert_eq!(requests(&upstream).await, 1, "hits fetch nothing");
    assert_eq!(site.cached_files(), 2, "image and metadata on disk");
    app.stop().await;
}

#[tokio::test]
async fn a_different_value_draws_a_different_image() {
    let upstream = upstream_with(report_page("1.5", "Small")).await;
    let (_site, app) = bar_app(&upstream, "[cache]\nmax_age = \"1s\"\nserve_stale = false").await;
    let small = decode_png(
        &app.get("/image?spot=linda-mar", &[])
            .await
            .bytes()
            .await
            .unwrap(),
    );
    assert!((149..=151).contains(&small.dark_in_row(20)));

    serve_page(&upstream, report_page("2.5", "Bigger")).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(
        header(&response, "x-cache"),
        "miss",
        "expired after max_age"
    );
    let big = decode_png(&response.bytes().await.unwrap());
    assert!((249..=251).contains(&big.dark_in_row(20)));
    assert_eq!(requests(&upstream).await, 1, "one fetch after the reset");
    app.stop().await;
}

#[tokio::test]
async fn if_none_match_gives_304_with_the_same_headers() {
    let upstream = upstream_with(report_page("3.6", "x")).await;
    let (_site, app) = bar_app(&upstream, "").await;
    let first = app.get("/image?spot=linda-mar", &[]).await;
    let etag = header(&first, "etag").to_string();
    let last_modified = header(&first, "last-modified").to_string();

    let cached = app
        .get("/image?spot=linda-mar", &[("if-none-match", &etag)])
        .await;
    assert_eq!(cached.status(), 304);
    assert_eq!(header(&cached, "etag"), etag);
    assert_eq!(header(&cached, "last-modified"), last_modified);
    assert!(header(&cached, "cache-control").starts_with("public, max-age="));
    assert_eq!(header(&cached, "x-cache"), "hit");
    assert!(cached.bytes().await.unwrap().is_empty());

    let since = app
        .get(
            "/image?spot=linda-mar",
            &[("if-modified-since", &last_modified)],
        )
        .await;
    assert_eq!(since.status(), 304);

    let other = app
        .get("/image?spot=linda-mar", &[("if-none-match", "\"other\"")])
        .await;
    assert_eq!(other.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn head_sends_headers_without_a_body() {
    let upstream = upstream_with(report_page("3.6", "x")).await;
    let (_site, app) = bar_app(&upstream, "").await;
    let get = app.get("/image?spot=linda-mar", &[]).await;
    let length = header(&get, "content-length").to_string();
    let head = client()
        .head(format!("{}/image?spot=linda-mar", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-length"), length);
    assert_eq!(header(&head, "content-type"), "image/png");
    assert!(head.bytes().await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_restart_serves_the_render_from_disk_without_fetching() {
    let upstream = upstream_with(report_page("3.6", "x")).await;
    let (site, app) = bar_app(&upstream, "").await;
    let first = app.get("/image?spot=linda-mar", &[]).await;
    let etag = header(&first, "etag").to_string();
    let body = first.bytes().await.unwrap();
    app.stop().await;

    let app = App::start(&site).await;
    let again = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(header(&again, "x-cache"), "hit");
    assert_eq!(header(&again, "etag"), etag);
    assert_eq!(again.bytes().await.unwrap(), body);
    assert_eq!(requests(&upstream).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn fifty_cold_requests_make_one_request_per_source() {
    let upstream = MockServer::start().await;
    // Slow enough that every request arrives while the fetch is running.
    for p in ["/report", "/tide"] {
        Mock::given(path(p))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_string(report_page("2.0", "x"))
                    .set_delay(Duration::from_millis(300)),
            )
            .mount(&upstream)
            .await;
    }
    let site = Site::new();
    site.write_bar_config(&format!("{}/report", upstream.uri()), "");
    let extra_source = format!(
        "\n[[spots.sources]]\nid = \"tide\"\nurl = \"{}/tide\"\nformat = \"html\"\n[spots.sources.fields]\nh = {{ css = \"h1\" }}\n",
        upstream.uri()
    );
    let mut text = std::fs::read_to_string(site.config_path()).unwrap();
    text.push_str(&extra_source);
    site.write_config(&text);
    let app = App::start(&site).await;

    let url = format!("{}/image?spot=linda-mar", app.url);
    let client = client();
    let responses = futures_util::future::join_all((0..50).map(|_| client.get(&url).send())).await;
    let mut etags = std::collections::HashSet::new();
    for r in responses {
        let r = r.unwrap();
        assert_eq!(r.status(), 200);
        etags.insert(header(&r, "etag").to_string());
    }
    assert_eq!(etags.len(), 1, "everyone got the same render");
    let received = upstream.received_requests().await.unwrap();
    for p in ["/report", "/tide"] {
        assert_eq!(
            received.iter().filter(|r| r.url.path() == p).count(),
            1,
            "{p}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_and_missing_spots_are_refused_before_any_work() {
    let upstream = upstream_with(report_page("3.6", "x")).await;
    let (site, app) = bar_app(&upstream, "").await;

    let unknown = app.get("/image?spot=Mavericks", &[]).await;
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["code"], "unknown_spot");
    assert!(body["error"].as_str().unwrap().contains("Mavericks"));
    assert_eq!(body["spots"], serde_json::json!(["Linda Mar"]));

    for query in ["", "?spot=", "?spot=%20"] {
        let missing = app.get(&format!("/image{query}"), &[]).await;
        assert_eq!(missing.status(), 400, "{query}");
        let body: serde_json::Value = missing.json().await.unwrap();
        assert_eq!(body["code"], "missing_spot");
        assert_eq!(body["spots"], serde_json::json!(["Linda Mar"]));
    }

    let traversal = app.get("/image?spot=..%2F..%2Fetc%2Fpasswd", &[]).await;
    assert_eq!(traversal.status(), 404);

    assert_eq!(requests(&upstream).await, 0, "nothing fetched");
    assert_eq!(site.cached_files(), 0, "nothing written");
    app.stop().await;
}

#[tokio::test]
async fn a_partial_failure_renders_what_there_is_and_expires_sooner() {
    let upstream = upstream_with(report_page("3.6", "x")).await;
    Mock::given(path("/broken"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&upstream)
        .await;
    let site = Site::new();
    site.write_bar_config(
        &format!("{}/report", upstream.uri()),
        "[cache]\npartial_max_age = \"2m\"",
    );
    let mut text = std::fs::read_to_string(site.config_path()).unwrap();
    text.push_str(&format!(
        "\n[[spots.sources]]\nid = \"tide\"\nurl = \"{}/broken\"\nformat = \"json\"\n[spots.sources.fields]\nh = {{ pointer = \"/h\" }}\n",
        upstream.uri()
    ));
    site.write_config(&text);
    let app = App::start(&site).await;

    let r = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(r.status(), 200);
    assert!(
        (110..=120).contains(&max_age(&r)),
        "partial renders expire after partial_max_age"
    );
    let image = decode_png(&r.bytes().await.unwrap());
    assert!(
        (359..=361).contains(&image.dark_in_row(20)),
        "good data drawn"
    );
    // The template drew one square per entry in `errors`: exactly one.
    assert_eq!(image.dark_in_row(235), 10);
    app.stop().await;
}

#[tokio::test]
async fn when_every_source_fails_the_last_render_is_served_stale() {
    let upstream = upstream_with(report_page("3.6", "x")).await;
    let (_site, app) = bar_app(
        &upstream,
        "[cache]\nmax_age = \"1s\"\nstale_max_age = \"45s\"\nserve_stale = false",
    )
    .await;
    let first = app.get("/image?spot=linda-mar", &[]).await;
    let etag = header(&first, "etag").to_string();
    let body = first.bytes().await.unwrap();

    serve_status(&upstream, 503).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(stale.status(), 200);
    assert_eq!(header(&stale, "x-cache"), "stale");
    assert_eq!(header(&stale, "cache-control"), "public, max-age=45");
    assert_eq!(header(&stale, "etag"), etag);
    assert_eq!(stale.bytes().await.unwrap(), body);
    assert!(requests(&upstream).await >= 1, "it did try again");
    app.stop().await;
}

#[tokio::test]
async fn when_every_source_fails_and_nothing_exists_an_error_image_says_why() {
    let upstream = MockServer::start().await;
    serve_status(&upstream, 500).await;
    let (site, app) = bar_app(
        &upstream,
        "[cache]\nerror_retry_after = \"90s\"\n[fetch]\nfailure_ttl = \"0s\"",
    )
    .await;
    let r = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "retry-after"), "90");
    assert_eq!(header(&r, "content-type"), "image/png");
    assert_eq!(header(&r, "cache-control"), "no-store");
    let image = decode_png(&r.bytes().await.unwrap());
    assert_eq!((image.width, image.height), (400, 240));
    let ink: usize = (0..image.height).map(|y| image.dark_in_row(y)).sum();
    assert!(
        ink > 1000,
        "the error image has text on it ({ink} dark pixels)"
    );
    assert_eq!(site.cached_files(), 0, "a failure is not stored");

    // Not cached as a success: once the upstream recovers, the next request renders.
    serve_page(&upstream, report_page("3.6", "x")).await;
    let ok = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(header(&ok, "x-cache"), "miss");
    app.stop().await;
}

#[tokio::test]
async fn markup_in_scraped_values_cannot_break_the_svg() {
    let page = report_page(
        "3.6",
        "Waves &lt;3 ft &amp; &quot;glassy&quot; <b>&lt;/text&gt;</b>",
    );
    let upstream = upstream_with(page).await;
    let (_site, app) = bar_app(&upstream, "").await;
    let r = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(r.status(), 200);
    let image = decode_png(&r.bytes().await.unwrap());
    assert!((359..=361).contains(&image.dark_in_row(20)));
    assert!(
        image.dark_in_row(110) > 10,
        "the text with <, & and \" is drawn"
    );
    app.stop().await;
}
