//! What an operator reads, through the real service: `/metrics` parsed as
//! Prometheus text with exact counts, bounded labels under hostile paths,
//! `/readyz`, and request ids in answers and in the log.

use std::process::Command;

use crate::common::prom::{parse, scrape_text, series, value};
use crate::common::*;

fn site() -> Site {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "Clean")).unwrap();
    site.write_bar_config("file://page.html", "");
    site
}

/// After a known mix of requests, each counter has moved by exactly that
/// much, and the fetch and render behind them are counted once.
#[tokio::test]
async fn counters_move_by_exactly_the_requests_made() {
    let site = site();
    let app = App::start(&site).await;
    let first = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(first.headers()["x-cache"], "miss");
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    for _ in 0..2 {
        assert_eq!(app.get("/image?spot=linda-mar", &[]).await.status(), 200);
    }
    let unchanged = app
        .get("/image?spot=linda-mar", &[("If-None-Match", &etag)])
        .await;
    assert_eq!(unchanged.status(), 304);
    for _ in 0..2 {
        app.get("/spots", &[]).await;
    }
    assert_eq!(app.get("/nope", &[]).await.status(), 404);

    let text = scrape_text(&format!("{}/metrics", app.url)).await;
    let m = parse(&text);
    let requests = "inkspot_http_requests_total";
    let image = ("route", "/image");
    assert_eq!(
        value(&m, requests, &[image, ("status", "200"), ("cache", "miss")]),
        1.0
    );
    assert_eq!(
        value(&m, requests, &[image, ("status", "200"), ("cache", "hit")]),
        2.0
    );
    assert_eq!(value(&m, requests, &[image, ("status", "304")]), 1.0);
    assert_eq!(
        value(&m, requests, &[("route", "/spots"), ("status", "200")]),
        2.0
    );
    assert_eq!(
        value(&m, requests, &[("route", "other"), ("status", "404")]),
        1.0
    );
    let durations = "inkspot_http_request_duration_seconds";
    assert_eq!(
        value(&m, durations, &[image]),
        4.0,
        "one duration per request"
    );

    let spot = ("spot", "Linda Mar");
    let fetches = "inkspot_fetches_total";
    assert_eq!(
        value(&m, fetches, &[spot, ("host", "file"), ("outcome", "ok")]),
        1.0
    );
    let page = std::fs::metadata(site.path().join("page.html"))
        .unwrap()
        .len();
    assert_eq!(
        value(&m, "inkspot_fetch_bytes_total", &[("host", "file")]),
        page as f64
    );
    for stage in ["fetch", "fill", "draw", "encode"] {
        let stages = "inkspot_render_stage_duration_seconds";
        assert_eq!(value(&m, stages, &[("stage", stage)]), 1.0, "{stage}");
    }
    assert_eq!(
        value(&m, "inkspot_renders_total", &[spot, ("outcome", "ok")]),
        1.0
    );
    assert!(value(&m, "inkspot_cache_entries", &[("layer", "memory")]) >= 1.0);
    assert!(value(&m, "inkspot_cache_bytes", &[("layer", "memory")]) > 0.0);
    assert_eq!(value(&m, "inkspot_render_queue_depth", &[]), 0.0);
    assert!(text.contains("inkspot_build_info{version=\""), "{text}");
    app.stop().await;
}

/// A thousand different paths, as a scanner sends, add no series: they
/// all count as the route `other`.
#[tokio::test]
async fn hostile_paths_add_no_series() {
    let site = site();
    let app = App::start(&site).await;
    app.get("/wp-login.php", &[]).await;
    // The first read of /metrics adds its own route's series.
    scrape_text(&format!("{}/metrics", app.url)).await;
    let before = series(&scrape_text(&format!("{}/metrics", app.url)).await);
    let paths: Vec<String> = (0..1000)
        .map(|i| format!("/{:x}/{i}?x={}", rand_like(i), rand_like(i + 7)))
        .collect();
    for chunk in paths.chunks(50) {
        let sends = chunk.iter().map(|p| app.get(p, &[]));
        for r in futures_util::future::join_all(sends).await {
            assert_eq!(r.status(), 404);
        }
    }
    let text = scrape_text(&format!("{}/metrics", app.url)).await;
    assert_eq!(series(&text), before, "no new series");
    let m = parse(&text);
    let other = [("route", "other"), ("status", "404")];
    assert_eq!(value(&m, "inkspot_http_requests_total", &other), 1001.0);
    app.stop().await;
}

/// A different-looking number for each `i`.
fn rand_like(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

/// A safe `X-Request-Id` is echoed; an unsafe or missing one is replaced
/// by a new one, different each time.
#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let site = site();
    let app = App::start(&site).await;
    let id = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_string();
    let echoed = app.get("/healthz", &[("X-Request-Id", "lb-7f3a.42")]).await;
    assert_eq!(id(&echoed), "lb-7f3a.42");
    let hostile = app
        .get("/healthz", &[("X-Request-Id", "<script>alert(1)</script>")])
        .await;
    let made = id(&hostile);
    assert_eq!(made.len(), 16, "{made}");
    assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
    let long = "a".repeat(65);
    assert_ne!(
        id(&app.get("/healthz", &[("X-Request-Id", &long)]).await),
        long
    );
    let a = id(&app.get("/healthz", &[]).await);
    let b = id(&app.get("/healthz", &[]).await);
    assert_ne!(a, b);
    app.stop().await;
}

/// `/readyz` is ready on a usable cache folder, and says why it is not
/// when the folder cannot be written; `/healthz` stays up either way.
#[tokio::test]
async fn readyz_fails_while_storage_is_unusable() {
    let usable = site();
    let app = App::start(&usable).await;
    let ready = app.get("/readyz", &[]).await;
    assert_eq!(ready.status(), 200);
    app.stop().await;

    let blocked = site();
    // A file where the cache folder should be: nothing can be stored.
    std::fs::write(blocked.cache_dir(), b"not a folder").unwrap();
    let app = App::start(&blocked).await;
    let r = app.get("/readyz", &[]).await;
    assert_eq!(r.status(), 503);
    let body = r.text().await.unwrap();
    assert!(body.contains("storage is unusable"), "{body}");
    assert_eq!(app.get("/healthz", &[]).await.status(), 200);
    app.stop().await;
}

/// The real binary: with `server.metrics_listen`, `/metrics` answers on
/// that address and 404 on the main port; the request id is in the log
/// line of the request.
#[tokio::test]
async fn metrics_on_their_own_address_and_ids_in_the_log() {
    let site = site();
    let (port, metrics_port) = (free_port(), free_port());
    let config = std::fs::read_to_string(site.config_path()).unwrap();
    site.write_config(&format!(
        "[server]\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n{config}"
    ));
    let mut child = Command::new(env!("CARGO_BIN_EXE_inkspot"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(site.path())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if client().get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "the service started");
    let setup = client()
        .get(format!("{base}/api/setup"))
        .header("ID", "AA:BB:CC:DD:EE:77")
        .header("X-Request-Id", "corr-4242")
        .send()
        .await
        .unwrap();
    assert_eq!(setup.headers()["x-request-id"], "corr-4242");
    let main = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(main.status(), 404, "not on the main port");
    let scraped = scrape_text(&format!("http://127.0.0.1:{metrics_port}/metrics")).await;
    let m = parse(&scraped);
    let setups = [("route", "/api/setup"), ("status", "200")];
    assert_eq!(value(&m, "inkspot_http_requests_total", &setups), 1.0);
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = text(&out.stderr);
    let line = log
        .lines()
        .find(|l| l.contains("an unknown device asked to join"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("corr-4242"), "{line}");
}

/// Serves `spots` (config text) in the real binary, asks each spot's
/// image `rounds` times, and returns the log.
async fn log_of(spots: &str, names: &[&str], rounds: usize) -> String {
    let site = Site::new();
    site.write_config(&format!("[schedule]\nenabled = false\n{spots}"));
    let port = free_port();
    let binary = Binary::serve(&site, port);
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base).await;
    for _ in 0..rounds {
        for name in names {
            let r = client()
                .get(format!("{base}/image?spot={name}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 503, "no data, the error picture");
        }
    }
    binary.kill()
}

/// A spot that keeps failing logs one line naming each failed source and
/// the URL asked (its key redacted), not one per source and request; the
/// "no network?" hint comes once, and only when remote hosts cannot be
/// reached, never for a 404 or a refused port on this machine.
#[tokio::test]
async fn a_failing_spot_logs_one_line_and_the_network_hint_once() {
    // `.invalid` never resolves (RFC 2606): a machine without network.
    let away = ["Alpha", "Bravo"]
        .map(|name| {
            let spot = bar_spot(name, "https://buoy.example.invalid/x?appid=s3cret", "");
            format!("{spot}\n[[spots.sources]]\nid = \"tide\"\nurl = \"https://tide.example.invalid/t\"\nformat = \"html\"\n[spots.sources.fields]\nlevel = {{ css = \"p\" }}\n")
        })
        .join("\n");
    let log = log_of(&away, &["alpha", "bravo"], 5).await;
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ")).collect();
    let alpha: Vec<&&str> = warnings
        .iter()
        .filter(|l| l.contains("spot=Alpha"))
        .collect();
    assert_eq!(alpha.len(), 1, "one line for five failed runs: {log}");
    assert!(
        alpha[0].contains("report:") && alpha[0].contains("tide:"),
        "{}",
        alpha[0]
    );
    assert!(
        alpha[0].contains("GET https://buoy.example.invalid/x?appid=REDACTED"),
        "{}",
        alpha[0]
    );
    assert!(!log.contains("s3cret"), "no secret in the log: {log}");
    let hints = warnings
        .iter()
        .filter(|l| l.contains("no network?"))
        .count();
    assert_eq!(hints, 1, "{log}");
    assert_eq!(warnings.len(), 3, "Alpha, Bravo and the hint: {log}");

    let upstream = wiremock::MockServer::start().await;
    let refused = format!("http://127.0.0.1:{}/x", free_port());
    let here = [
        bar_spot("Gone", &format!("{}/missing", upstream.uri()), ""),
        bar_spot("Closed", &refused, ""),
    ]
    .join("\n");
    let log = log_of(&here, &["gone", "closed"], 3).await;
    assert!(
        log.contains("spot=Gone") && log.contains("HTTP 404"),
        "{log}"
    );
    assert!(log.contains("spot=Closed"), "{log}");
    assert!(
        !log.contains("no network?"),
        "not for a 404 or a refused local port: {log}"
    );
}
