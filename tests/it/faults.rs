//! Upstream faults: each becomes a failed source with its reason, never a
//! panic or a hung request; transient ones are retried within the deadline.

use std::time::{Duration, Instant};

use crate::common::*;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn start(upstream: &MockServer, extra: &str) -> (Site, App) {
    let site = Site::new();
    site.write_bar_config(&format!("{}/report", upstream.uri()), extra);
    let app = App::start(&site).await;
    (site, app)
}

async fn count(upstream: &MockServer) -> usize {
    upstream.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn a_transient_503_is_retried_honouring_retry_after() {
    let upstream = MockServer::start().await;
    Mock::given(path("/report"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&upstream)
        .await;
    Mock::given(path("/report"))
        .respond_with(ResponseTemplate::new(200).set_body_string(report_page("3.6", "x")))
        .mount(&upstream)
        .await;
    let (_site, app) = start(&upstream, "").await;
    let began = Instant::now();
    let r = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(r.status(), 200);
    assert!(
        began.elapsed() >= Duration::from_millis(900),
        "waited for Retry-After"
    );
    assert_eq!(count(&upstream).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn a_404_is_not_retried_and_names_the_status() {
    let upstream = MockServer::start().await;
    Mock::given(path("/report"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&upstream)
        .await;
    let (site, app) = start(&upstream, "").await;
    let r = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(r.status(), 503);
    assert_eq!(count(&upstream).await, 1);
    app.stop().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_inkspot"))
        .args(["check", "--fetch"])
        .current_dir(site.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("report FAILED: upstream answered HTTP 404"),
        "{stdout}"
    );
}

#[tokio::test]
async fn retries_stop_at_the_deadline() {
    let upstream = MockServer::start().await;
    Mock::given(path("/report"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "30"))
        .mount(&upstream)
        .await;
    let (_site, app) = start(&upstream, "[fetch]\ntimeout = \"2s\"").await;
    let began = Instant::now();
    let r = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(r.status(), 503);
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "a Retry-After past the deadline is not waited for"
    );
    assert_eq!(count(&upstream).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_slow_answer_is_cut_off_at_the_deadline_and_big_bodies_at_max_bytes() {
    let upstream = MockServer::start().await;
    Mock::given(path("/report"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(report_page("3.6", "x"))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&upstream)
        .await;
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(300_000)))
        .mount(&upstream)
        .await;
    let (_site, app) = start(
        &upstream,
        "[fetch]\ntimeout = \"1s\"\nmax_bytes = \"100KiB\"",
    )
    .await;
    let began = Instant::now();
    let r = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(r.status(), 503);
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );

    let fetcher =
        inkspot::source::Fetcher::new(&app.engine.config().fetch, std::path::Path::new("."))
            .unwrap();
    let err = fetcher
        .fetch(&format!("{}/big", upstream.uri()))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("larger than the 102400 byte limit"),
        "{err}"
    );
    app.stop().await;
}

#[tokio::test]
async fn invalid_utf8_and_a_refused_connection_are_failed_sources() {
    let upstream = MockServer::start().await;
    Mock::given(path("/report"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![0xff, 0xfe, 0x00, 0x41]))
        .mount(&upstream)
        .await;
    let (_site, app) = start(&upstream, "").await;
    let fetcher =
        inkspot::source::Fetcher::new(&app.engine.config().fetch, std::path::Path::new("."))
            .unwrap();
    let err = fetcher
        .fetch(&format!("{}/report", upstream.uri()))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "body is not valid UTF-8");
    // Port 9 on loopback: nothing listens; retried, then named.
    let err = fetcher.fetch("http://127.0.0.1:9/x").await.unwrap_err();
    assert!(
        err.to_string().starts_with("cannot connect to 127.0.0.1:9"),
        "{err}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_source_that_just_failed_is_not_asked_again_on_every_poll() {
    let upstream = MockServer::start().await;
    Mock::given(path("/report"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&upstream)
        .await;
    let (_site, app) = start(&upstream, "[fetch]\nfailure_ttl = \"1s\"").await;
    for _ in 0..5 {
        assert_eq!(app.get("/image?spot=linda-mar", &[]).await.status(), 503);
    }
    assert_eq!(count(&upstream).await, 1, "remembered, not asked again");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.get("/image?spot=linda-mar", &[]).await.status(), 503);
    assert_eq!(
        count(&upstream).await,
        2,
        "asked again once the failure is old"
    );

    let fetcher =
        inkspot::source::Fetcher::new(&app.engine.config().fetch, std::path::Path::new("."))
            .unwrap();
    let url = format!("{}/report", upstream.uri());
    assert!(fetcher.fetch(&url).await.is_err());
    let again = fetcher.fetch(&url).await.unwrap_err().to_string();
    assert!(
        again.starts_with("upstream answered HTTP 500 (at "),
        "{again}"
    );
    assert!(again.contains("not asked again for 1s"), "{again}");
    app.stop().await;
}

#[tokio::test]
async fn an_unusable_cache_folder_is_reported_and_images_still_served() {
    let upstream = MockServer::start().await;
    Mock::given(path("/report"))
        .respond_with(ResponseTemplate::new(200).set_body_string(report_page("3.6", "x")))
        .mount(&upstream)
        .await;
    let site = Site::new();
    // A file where the folder should be: nothing can be written under it.
    std::fs::write(site.path().join("blocked"), "not a folder").unwrap();
    site.write_bar_config(
        &format!("{}/report", upstream.uri()),
        "[cache]\ndir = \"blocked\"",
    );
    let app = App::start(&site).await;
    let health = app.get("/healthz", &[]).await;
    assert_eq!(health.status(), 200);
    assert!(health.text().await.unwrap().contains("degraded"));
    let first = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(first.status(), 200);
    let second = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(second.headers()["x-cache"], "hit", "kept in memory");
    assert_eq!(count(&upstream).await, 1);
    app.stop().await;
}

/// Starts the service with two spots: `Linda Mar` reading the fixture's
/// `bad` path and `Good` reading a healthy page.
async fn bad_and_good(faulty: &faulty::Faulty, bad: &str, extra: &str) -> (Site, App) {
    let site = Site::new();
    let bad = if bad.starts_with("http") {
        bad.to_string()
    } else {
        format!("{}{bad}", faulty.url)
    };
    let good = format!("{}/ok/3.0", faulty.url);
    site.write_spots_config(&[("Linda Mar", &bad), ("Good", &good)], extra);
    let app = App::start(&site).await;
    (site, app)
}

/// Why the pipeline says `spot` has no data, as the engine logs it.
async fn reason(app: &App, spot: &str) -> String {
    let request = app
        .engine
        .catalog()
        .resolve(spot, None, &Default::default())
        .unwrap();
    let data = app
        .engine
        .pipeline()
        .fetch(&request, &**app.engine.clock())
        .await;
    assert!(data.all_failed(), "expected a failed source: {data:?}");
    data.failure_summary()
}

/// Each upstream fault: the device gets the 503 error picture with
/// `Retry-After`, the reason names the fault, and another spot keeps
/// answering quickly while the fault lasts.
#[rstest::rstest]
#[case::hang("/hang", "no complete answer within 2s")]
#[case::trickle("/trickle", "no complete answer within 2s")]
#[case::reset_mid_body("RESET", "request failed: Connection reset by peer")]
#[case::hundred_megabytes("/huge", "body is larger than the 2097152 byte limit")]
#[case::redirect_loop("/loop", "too many redirects")]
#[case::six_redirects("/chain/6", "too many redirects")]
#[case::server_error("/status/500", "upstream answered HTTP 500")]
#[case::too_many_requests("/status/429", "upstream answered HTTP 429")]
#[case::garbage("/garbage", "body is not valid UTF-8")]
#[tokio::test]
async fn each_upstream_fault_is_a_failed_source_and_other_spots_still_answer(
    #[case] bad: &str,
    #[case] expected: &str,
) {
    let faulty = faulty::Faulty::start().await;
    let bad = if bad == "RESET" {
        faulty.reset_url.clone()
    } else {
        bad.to_string()
    };
    let (_site, app) = bad_and_good(&faulty, &bad, "[fetch]\ntimeout = \"2s\"").await;
    let url = format!("{}/image?spot=linda-mar", app.url);
    let stuck = tokio::spawn(async move { client().get(url).send().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(100)).await;

    let began = Instant::now();
    let good = app.get("/image?spot=good", &[]).await;
    let took = began.elapsed();
    assert_eq!(good.status(), 200);
    assert_eq!(
        decode_png(&good.bytes().await.unwrap()).dark_in_row(20),
        300
    );
    assert!(took < Duration::from_secs(1), "the good spot took {took:?}");

    let r = tokio::time::timeout(Duration::from_secs(10), stuck)
        .await
        .expect("the device is answered within the deadline")
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["retry-after"], "60");
    assert_eq!(r.headers()["x-error-code"], "upstream_failed");
    assert_eq!(r.headers()["cache-control"], "no-store");
    decode_png(&r.bytes().await.unwrap());

    let why = reason(&app, "Linda Mar").await;
    assert!(why.contains(expected), "`{expected}` not in `{why}`");
    app.stop().await;
}

#[tokio::test]
async fn five_redirects_are_followed() {
    let faulty = faulty::Faulty::start().await;
    let (_site, app) = bad_and_good(&faulty, "/chain/5", "").await;
    let r = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(decode_png(&r.bytes().await.unwrap()).dark_in_row(20), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_truncated_page_gives_a_partial_render_not_an_error() {
    let faulty = faulty::Faulty::start().await;
    let (_site, app) = bad_and_good(&faulty, "/truncated", "").await;
    let r = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(r.status(), 200);
    // Partial renders expire after `cache.partial_max_age` (5 min).
    let max_age: u64 = r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .trim_start_matches("public, max-age=")
        .parse()
        .unwrap();
    assert!(max_age <= 300, "{max_age}");
    let image = decode_png(&r.bytes().await.unwrap());
    assert_eq!(image.dark_in_row(20), 0, "no wave value");
    assert_eq!(image.dark_in_row(235), 10, "one error square");
    app.stop().await;
}

/// TRMNL's image download and ESPHome's `online_image` drop the body of
/// any status but 200: their presets get the error picture with 200, a
/// cache lifetime as short as the retry, and `X-Error-Code` naming the
/// problem. Other clients keep the 503.
#[tokio::test]
async fn clients_that_show_only_a_200_get_the_error_picture_with_200() {
    let site = Site::new();
    site.write_bar_config(
        "file://missing.html",
        "[presets.panel]\nbits = 1\nerror_status = 200",
    );
    let app = App::start(&site).await;
    for query in ["device=trmnl", "device=esphome-bmp", "device=panel"] {
        let r = app
            .get(&format!("/image?spot=linda-mar&{query}"), &[])
            .await;
        assert_eq!(r.status(), 200, "{query}");
        assert_eq!(r.headers()["x-error-code"], "upstream_failed", "{query}");
        assert_eq!(r.headers()["cache-control"], "max-age=60", "{query}");
        let kind = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(kind.starts_with("image/"), "{query}: {kind}");
        let bytes = r.bytes().await.unwrap();
        image::load_from_memory(&bytes).expect("a picture, not JSON");
    }
    let plain = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(plain.status(), 503);
    assert_eq!(plain.headers()["cache-control"], "no-store");
    app.stop().await;
}

#[test]
fn an_error_status_other_than_200_or_503_is_refused_at_load() {
    let site = Site::new();
    site.write_bar_config("file://page.html", "[presets.panel]\nerror_status = 404");
    let message = inkspot::load_config(&site.config_path())
        .unwrap_err()
        .to_string();
    assert!(message.contains("error_status"), "{message}");
    assert!(message.contains("200, 503"), "{message}");
}
