//! Overload: a bounded render queue, per-host upstream limits, per-client
//! rate limits and request size limits, all while cache hits keep flowing.

use std::time::{Duration, Instant};

use crate::common::faulty::Faulty;
use crate::common::*;

/// `n` bar spots named `s0`, `s1`, ... all reading `path` on the fixture.
fn spots(faulty: &Faulty, n: usize, path: &str) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("s{i}"), format!("{}{path}?spot={i}", faulty.url)))
        .collect()
}

async fn start(spots: &[(String, String)], extra: &str) -> (Site, App) {
    let site = Site::new();
    let pairs: Vec<(&str, &str)> = spots
        .iter()
        .map(|(n, u)| (n.as_str(), u.as_str()))
        .collect();
    site.write_spots_config(&pairs, extra);
    let app = App::start(&site).await;
    (site, app)
}

async fn get_all(app: &App, paths: Vec<String>) -> Vec<reqwest::Response> {
    let calls = paths.into_iter().map(|p| {
        let url = format!("{}{p}", app.url);
        async move { client().get(url).send().await.unwrap() }
    });
    futures_util::future::join_all(calls).await
}

#[tokio::test]
async fn requests_to_one_upstream_host_are_limited() {
    let faulty = Faulty::start().await;
    let (_site, app) = start(
        &spots(&faulty, 6, "/slow/300/3.0"),
        "[fetch]\nper_host_concurrency = 2",
    )
    .await;
    let answers = get_all(&app, (0..6).map(|i| format!("/image?spot=s{i}")).collect()).await;
    assert!(answers.iter().all(|r| r.status() == 200));
    assert_eq!(faulty.gauge.total(), 6);
    assert_eq!(
        faulty.gauge.max(),
        2,
        "at most two at once, and two did run"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_full_render_queue_answers_503_busy_while_hits_keep_flowing() {
    let faulty = Faulty::start().await;
    let mut all = spots(&faulty, 6, "/slow/1500/3.0");
    all.push(("warm".into(), format!("{}/ok/2.0", faulty.url)));
    let (_site, app) = start(&all, "[server]\nrender_queue = 2").await;
    assert_eq!(app.get("/image?spot=warm", &[]).await.status(), 200);

    let url = app.url.clone();
    let flood = tokio::spawn(async move {
        let calls = (0..6).map(|i| {
            let url = format!("{url}/image?spot=s{i}");
            async move { client().get(url).send().await.unwrap() }
        });
        futures_util::future::join_all(calls).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let began = Instant::now();
    let hit = app.get("/image?spot=warm", &[]).await;
    let took = began.elapsed();
    assert_eq!(hit.status(), 200);
    assert_eq!(hit.headers()["x-cache"], "hit");
    assert!(took < Duration::from_millis(500), "a hit took {took:?}");

    let answers = flood.await.unwrap();
    let ok = answers.iter().filter(|r| r.status() == 200).count();
    assert_eq!(ok, 2, "two renders fit in the queue");
    for r in answers.into_iter().filter(|r| r.status() != 200) {
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "5");
        assert_eq!(r.headers()["x-error-code"], "busy");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("too many images are being drawn"),
            "{body}"
        );
    }
    // Turned-away spots fetched nothing, and render once there is room.
    assert_eq!(faulty.gauge.total(), 3);
    let later = app.get("/image?spot=s5", &[]).await;
    assert_eq!(later.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_client_past_its_rate_gets_429_with_retry_after() {
    let faulty = Faulty::start().await;
    let extra = "[server.rate_limit]\nper_minute = 6\nburst = 3\nloopback = true";
    let (_site, app) = start(&spots(&faulty, 1, "/ok/3.0"), extra).await;
    for _ in 0..3 {
        assert_eq!(app.get("/image?spot=s0", &[]).await.status(), 200);
    }
    let r = app.get("/image?spot=s0", &[]).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-error-code"], "rate_limited");
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&wait), "{wait}");
    assert_eq!(app.get("/spots", &[]).await.status(), 429);
    assert_eq!(
        app.get("/healthz", &[]).await.status(),
        200,
        "never limited"
    );
    assert_eq!(faulty.gauge.total(), 1);
    app.stop().await;
}

#[tokio::test]
async fn loopback_clients_are_not_limited_by_default() {
    let faulty = Faulty::start().await;
    let extra = "[server.rate_limit]\nper_minute = 6\nburst = 3";
    let (_site, app) = start(&spots(&faulty, 1, "/ok/3.0"), extra).await;
    for _ in 0..10 {
        assert_eq!(app.get("/image?spot=s0", &[]).await.status(), 200);
    }
    app.stop().await;
}

/// Behind a trusted proxy each client is limited on its own, by the
/// address the proxy forwards; a client cannot dodge its limit by writing
/// the header itself.
#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let faulty = Faulty::start().await;
    let extra = "[server]\ntrusted_proxies = [\"127.0.0.0/8\"]\n[server.rate_limit]\nper_minute = 6\nburst = 2";
    let (_site, app) = start(&spots(&faulty, 1, "/ok/3.0"), extra).await;
    let from = |client: &'static str| [("x-forwarded-for", client)];
    for _ in 0..2 {
        let r = app.get("/image?spot=s0", &from("198.51.100.1")).await;
        assert_eq!(r.status(), 200);
    }
    let r = app.get("/image?spot=s0", &from("198.51.100.1")).await;
    assert_eq!(r.status(), 429, "the forwarded client is past its rate");
    let spoofed = app
        .get("/image?spot=s0", &from("203.0.113.5, 198.51.100.1"))
        .await;
    assert_eq!(spoofed.status(), 429, "a prepended address changes nothing");
    let other = app.get("/image?spot=s0", &from("198.51.100.2")).await;
    assert_eq!(other.status(), 200, "another client behind the same proxy");
    app.stop().await;
}

/// A display that shows only pictures is never sent JSON, not even when
/// the queue is full: it gets a picture saying so, with 200 so the firmware
/// shows it, and a max-age as short as the retry.
#[tokio::test]
async fn a_display_turned_away_by_a_full_queue_gets_a_picture() {
    let faulty = Faulty::start().await;
    let (_site, app) = start(
        &spots(&faulty, 4, "/slow/1500/3.0"),
        "[server]\nrender_queue = 2",
    )
    .await;
    let paths = (0..4)
        .map(|i| format!("/image?spot=s{i}&device=trmnl"))
        .collect();
    let answers = get_all(&app, paths).await;
    let mut turned_away = 0;
    for r in answers {
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/png");
        if r.headers().get("x-error-code").is_some() {
            turned_away += 1;
            assert_eq!(r.headers()["x-error-code"], "busy");
            assert_eq!(r.headers()["cache-control"], "max-age=5");
            let image = decode_png(&r.bytes().await.unwrap());
            assert_eq!((image.width, image.height), (800, 480));
        }
    }
    assert_eq!(turned_away, 2, "two fit in the queue");
    assert_eq!(faulty.gauge.total(), 2, "nothing fetched for the others");
    app.stop().await;
}

#[tokio::test]
async fn over_long_uris_and_headers_are_refused() {
    let faulty = Faulty::start().await;
    let (_site, app) = start(&spots(&faulty, 1, "/ok/3.0"), "").await;
    let long = format!("/image?spot={}", "a".repeat(inkspot::http::MAX_URI_BYTES));
    let r = app.get(&long, &[]).await;
    assert_eq!(r.status(), 414);
    assert_eq!(r.headers()["x-error-code"], "uri_too_long");
    let big = "b".repeat(inkspot::http::MAX_HEADER_BYTES);
    let r = app.get("/image?spot=s0", &[("x-padding", &big)]).await;
    assert_eq!(r.status(), 431);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "headers_too_large");
    assert_eq!(
        faulty.gauge.total(),
        0,
        "nothing fetched for refused requests"
    );
    app.stop().await;
}

/// A client from `ip` (any address in 127.0.0.0/8 is this machine).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn one_client_may_start_only_its_share_of_renders() {
    let faulty = Faulty::start().await;
    let extra =
        "[server]\nrenders_per_client = 2\n[server.rate_limit]\nper_minute = 0\nloopback = true";
    let (_site, app) = start(&spots(&faulty, 1, "/slow/800/3.0"), extra).await;
    let get = |ip: &'static str, width: u32| {
        let url = format!("{}/image?spot=s0&width={width}", app.url);
        tokio::spawn(async move { client_from(ip).get(url).send().await.unwrap() })
    };
    let first = [get("127.0.0.1", 500), get("127.0.0.1", 600)];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = get("127.0.0.1", 700).await.unwrap();
    assert_eq!(third.status(), 429);
    assert_eq!(third.headers()["x-error-code"], "too_many_renders");
    assert_eq!(third.headers()["retry-after"], "5");
    // Joining a render in progress costs nothing; another client has its own share.
    let joined = get("127.0.0.1", 500);
    let other = get("127.0.0.2", 700);
    for answer in first.into_iter().chain([joined, other]) {
        let r = answer.await.unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.headers().get("x-error-code"));
    }
    app.stop().await;
}

#[rstest::rstest]
#[case::too_many_pixels("&width=4096&height=4096", "", "image_too_large")]
#[case::custom_size_off("&width=500", "[server]\ncustom_sizes = false", "custom_size_refused")]
#[tokio::test]
async fn sizes_past_the_limits_are_refused_before_any_work(
    #[case] query: &str,
    #[case] extra: &str,
    #[case] code: &str,
) {
    let faulty = Faulty::start().await;
    let (site, app) = start(&spots(&faulty, 1, "/ok/3.0"), extra).await;
    let r = app.get(&format!("/image?spot=s0{query}"), &[]).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-error-code"], code);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().len() > 20, "{body}");
    assert_eq!(faulty.gauge.total(), 0, "nothing fetched");
    assert_eq!(site.cached_files(), 0, "nothing stored");
    // The configured sizes and presets still work.
    let preset = app.get("/image?spot=s0&device=kindle", &[]).await;
    assert_eq!(preset.status(), 200);
    app.stop().await;
}
