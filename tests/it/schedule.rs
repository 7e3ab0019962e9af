//! Scheduled refreshes from the outside: the real service on 127.0.0.1:0
//! with its scheduler on, a fixture upstream on a random port that counts
//! what it is asked, and a manual clock the test moves minute by minute.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{DateTime, Utc};
use inkspot::clock::{Clock, ManualClock};

const T0: &str = "2026-11-23T10:07:00Z";

/// An upstream that counts fetches per path, and can be made slow or failing.
#[derive(Default)]
struct Upstream {
    fetches: Mutex<HashMap<String, usize>>,
    delay_ms: AtomicU64,
    failing: AtomicBool,
}

impl Upstream {
    async fn start() -> (Arc<Self>, String) {
        let upstream = Arc::new(Self::default());
        let app = Router::new()
            .route("/r/{name}", get(report))
            .with_state(upstream.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (upstream, url)
    }

    fn count(&self, name: &str) -> usize {
        self.fetches.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

/// A report whose wave height is the number of fetches so far, so every
/// fetch draws a different picture.
async fn report(State(up): State<Arc<Upstream>>, Path(name): Path<String>) -> (StatusCode, String) {
    let n = {
        let mut fetches = up.fetches.lock().unwrap();
        let n = fetches.entry(name).or_default();
        *n += 1;
        *n
    };
    tokio::time::sleep(Duration::from_millis(up.delay_ms.load(Ordering::SeqCst))).await;
    if up.failing.load(Ordering::SeqCst) {
        return (StatusCode::NOT_FOUND, "gone".into());
    }
    (StatusCode::OK, report_page(&format!("{n}.0"), "Scheduled"))
}

/// A config with one bar spot per `(name, spot keys)`, each reading
/// `/r/<name>` of `url`, and `schedule` keys in `[schedule]`.
fn config(site: &Site, url: &str, schedule: &str, spots: &[(&str, &str)]) {
    let mut text =
        format!("[schedule]\njitter = \"0s\"\n{schedule}\n[fetch]\nfailure_ttl = \"0s\"\n");
    for (name, keys) in spots {
        text.push_str(&bar_spot(name, &format!("{url}/r/{name}"), keys));
    }
    site.write_config(&text);
}

fn t0() -> DateTime<Utc> {
    T0.parse().unwrap()
}

async fn start(site: &Site, clock: &ManualClock) -> App {
    App::start_scheduled(site, Arc::new(clock.clone())).await
}

/// A counting upstream, a site with `spots` (whose folder holds the
/// config, templates and cache, so keep it), and the service started on a
/// manual clock at T0, its start-up runs done.
async fn fixture(
    schedule: &str,
    spots: &[(&str, &str)],
) -> (Arc<Upstream>, ManualClock, App, Site) {
    let (up, url) = Upstream::start().await;
    let site = Site::new();
    config(&site, &url, schedule, spots);
    let clock = ManualClock::new(t0());
    let app = start(&site, &clock).await;
    settle(&app, &clock).await;
    (up, clock, app, site)
}

/// Waits until no spot is running and none is due on the clock.
async fn settle(app: &App, clock: &ManualClock) {
    let spots = app.engine.catalog().spots().len();
    for _ in 0..2000 {
        let now = clock.now();
        let settled = (0..spots).all(|i| {
            let s = app.engine.schedule_status(i).unwrap();
            !s.running && s.next_run.is_some_and(|t| t > now)
        });
        if settled {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the schedule did not settle at {}", clock.now());
}

/// Moves the clock `minutes` ahead one minute at a time, letting the
/// schedule act at each; returns, per spot name, the minutes after T0 at
/// which the upstream was asked.
async fn run_for(
    app: &App,
    clock: &ManualClock,
    up: &Upstream,
    names: &[&str],
    minutes: i64,
) -> HashMap<String, Vec<i64>> {
    let mut seen: HashMap<String, Vec<i64>> = HashMap::new();
    let mut counts: Vec<usize> = names.iter().map(|n| up.count(n)).collect();
    for _ in 0..minutes {
        clock.advance(Duration::from_secs(60));
        settle(app, clock).await;
        let minute = (clock.now() - t0()).num_minutes();
        for (i, name) in names.iter().enumerate() {
            let now = up.count(name);
            for _ in counts[i]..now {
                seen.entry(name.to_string()).or_default().push(minute);
            }
            counts[i] = now;
        }
    }
    seen
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()[name].to_str().unwrap().to_string()
}

fn max_age(r: &reqwest::Response) -> i64 {
    let cc = header(r, "cache-control");
    cc.rsplit("max-age=").next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn after_start_up_every_configured_variant_is_drawn_and_every_request_is_a_hit() {
    let (up, _clock, app, _site) =
        fixture("", &[("a", "prerender = [\"trmnl\", \"kindle\"]")]).await;
    assert_eq!(up.count("a"), 1, "one fetch for both variants");
    let status = app.engine.schedule_status(0).unwrap();
    let last = status.last_run.expect("a run at start-up");
    assert_eq!((last.drawn, last.error), (2, None));
    for (device, size) in [("trmnl", (800, 480)), ("kindle", (600, 800))] {
        let r = app
            .get(&format!("/image?spot=a&device={device}"), &[])
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-cache"), "hit", "{device}");
        let image = decode_png(&r.bytes().await.unwrap());
        assert_eq!((image.width, image.height), size, "{device}");
    }
    assert_eq!(up.count("a"), 1, "requests fetched nothing");
    app.stop().await;
}

#[tokio::test]
async fn the_max_age_runs_to_the_next_image_and_a_device_that_sleeps_that_long_wakes_to_it() {
    let (up, clock, app, _site) = fixture("", &[("a", "")]).await;
    let first = app.get("/image?spot=a", &[]).await;
    assert_eq!(header(&first, "x-cache"), "hit");
    let expected = app.engine.next_image_at(0).unwrap();
    let status = app.engine.schedule_status(0).unwrap();
    let next_run = status.next_run.unwrap();
    assert!(expected > next_run, "the run's time is added");
    assert!(
        next_run <= t0() + chrono::Duration::minutes(55),
        "before expiry"
    );
    assert_eq!(max_age(&first), (expected - t0()).num_seconds());

    // The device sleeps for max-age; the schedule has drawn the next image.
    clock.advance(Duration::from_secs(max_age(&first) as u64));
    settle(&app, &clock).await;
    let woke = app.get("/image?spot=a", &[]).await;
    assert_eq!(header(&woke, "x-cache"), "hit");
    assert_ne!(header(&woke, "etag"), header(&first, "etag"), "a new image");
    assert_eq!(up.count("a"), 2);
    app.stop().await;
}

#[tokio::test]
async fn over_several_intervals_each_source_is_fetched_once_per_interval_and_spots_are_spread() {
    let names = ["a", "b", "c", "d"];
    let spots: Vec<(&str, &str)> = names.iter().map(|n| (*n, "")).collect();
    let (up, clock, app, _site) = fixture("", &spots).await;
    let hours = 5;
    let seen = run_for(&app, &clock, &up, &names, hours * 60).await;
    // One start-up fetch, then one per 55-minute interval, ±1 while a spot
    // moves onto its phase.
    let expected = 1 + (hours * 60 / 55) as usize;
    for name in names {
        let n = up.count(name);
        assert!(
            n.abs_diff(expected) <= 1,
            "{name}: {n} fetches, expected {expected}"
        );
    }
    // In the last two hours, no two spots run within ten minutes of each
    // other: a quarter of the interval apart.
    let late: Vec<i64> = seen
        .values()
        .flatten()
        .copied()
        .filter(|m| *m > (hours - 2) * 60)
        .collect();
    let mut sorted = late.clone();
    sorted.sort();
    for pair in sorted.windows(2) {
        assert!(pair[1] - pair[0] >= 10, "runs bunched: {sorted:?}");
    }
    assert!(sorted.len() >= 8, "{sorted:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_slow_upstream_never_delays_a_request_for_a_spot_that_has_an_image() {
    let (up, clock, app, _site) = fixture("", &[("a", "")]).await;
    let first = app.get("/image?spot=a", &[]).await;
    up.delay_ms.store(5000, Ordering::SeqCst);
    // Past expiry: the run starts, and waits five seconds for the upstream.
    clock.advance(Duration::from_secs(61 * 60));
    while !app.engine.schedule_status(0).unwrap().running {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = app.get("/image?spot=a", &[]).await;
    assert!(
        app.engine.schedule_status(0).unwrap().running,
        "answered while the refresh still waits for the upstream"
    );
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-cache"), "stale");
    assert_eq!(header(&r, "etag"), header(&first, "etag"));
    settle(&app, &clock).await;
    assert_eq!(up.count("a"), 2, "the request joined the run's fetch");
    let after = app.get("/image?spot=a", &[]).await;
    assert_eq!(header(&after, "x-cache"), "hit");
    assert_ne!(header(&after, "etag"), header(&first, "etag"));
    app.stop().await;
}

#[tokio::test]
async fn a_failing_upstream_backs_off_and_the_old_image_keeps_being_served() {
    let (up, clock, app, _site) = fixture("", &[("a", "")]).await;
    let good = header(&app.get("/image?spot=a", &[]).await, "etag");
    up.failing.store(true, Ordering::SeqCst);
    let next = app.engine.schedule_status(0).unwrap().next_run.unwrap();
    clock.set(next);
    settle(&app, &clock).await;
    assert_eq!(up.count("a"), 2, "the first failed run");
    let failed_at = (clock.now() - t0()).num_minutes();

    let mut statuses = Vec::new();
    let mut retries = Vec::new();
    for _ in 0..40 {
        clock.advance(Duration::from_secs(60));
        settle(&app, &clock).await;
        let r = app.get("/image?spot=a", &[]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "etag"), good, "the last good image");
        statuses.push(header(&r, "x-cache"));
        let minute = (clock.now() - t0()).num_minutes() - failed_at;
        while retries.len() + 2 < up.count("a") {
            retries.push(minute);
        }
    }
    assert_eq!(
        retries,
        [1, 3, 7, 15, 31],
        "one, two, four, eight, sixteen minutes apart"
    );
    assert!(statuses.contains(&"stale".to_string()), "{statuses:?}");
    let status = app.engine.schedule_status(0).unwrap();
    assert!(status.backing_off);
    assert_eq!(status.failures, 6);
    let error = status.last_run.unwrap().error.unwrap();
    assert!(error.contains("report") && error.contains("404"), "{error}");

    up.failing.store(false, Ordering::SeqCst);
    clock.set(status.next_run.unwrap());
    settle(&app, &clock).await;
    let r = app.get("/image?spot=a", &[]).await;
    assert_eq!(header(&r, "x-cache"), "hit");
    assert_ne!(header(&r, "etag"), good, "recovered");
    assert!(!app.engine.schedule_status(0).unwrap().backing_off);
    app.stop().await;
}

#[tokio::test]
async fn a_variant_asked_for_joins_the_schedule_and_leaves_it_when_idle() {
    let (up, clock, app, _site) = fixture("idle = \"2h\"", &[("a", "")]).await;
    let small = "/image?spot=a&width=300&height=200";
    let first = app.get(small, &[]).await;
    assert_eq!(header(&first, "x-cache"), "miss");
    assert_eq!(up.count("a"), 1, "drawn from the run's data");
    let variants = app.engine.schedule_status(0).unwrap().variants;
    assert_eq!(variants.len(), 2, "{variants:?}");
    assert!(variants[1].why.starts_with("requested"), "{variants:?}");

    clock.set(app.engine.schedule_status(0).unwrap().next_run.unwrap());
    settle(&app, &clock).await;
    assert_eq!(up.count("a"), 2, "one fetch for both variants");
    let again = app.get(small, &[]).await;
    assert_eq!(header(&again, "x-cache"), "hit");
    assert_ne!(header(&again, "etag"), header(&first, "etag"));

    // Nobody asks for it again: two hours on it leaves, and the run after
    // that draws only the spot's own output.
    run_for(&app, &clock, &up, &["a"], 200).await;
    let status = app.engine.schedule_status(0).unwrap();
    assert_eq!(status.variants.len(), 1, "{:?}", status.variants);
    let last = status.last_run.unwrap();
    assert_eq!(last.drawn + last.unchanged, 1);
    app.stop().await;
}

#[tokio::test]
async fn nothing_is_fetched_outside_active_hours_and_the_image_lasts_until_they_open() {
    let (up, clock, app, _site) = fixture("", &[("a", "active_hours = \"12:00-14:00\"")]).await;
    assert_eq!(up.count("a"), 0, "10:07 is outside 12:00-14:00");
    // With nothing stored, a request still gets an image, kept until noon.
    let r = app.get("/image?spot=a", &[]).await;
    assert_eq!(header(&r, "x-cache"), "miss");
    let noon: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
    let run_time = 5;
    assert_eq!(max_age(&r), (noon - t0()).num_seconds() + run_time);

    let seen = run_for(&app, &clock, &up, &["a"], 5 * 60).await;
    let runs = &seen["a"];
    assert!(runs.len() >= 2, "{runs:?}");
    for minute in runs {
        let at = t0() + chrono::Duration::minutes(*minute);
        assert!(
            at >= noon && at < noon + chrono::Duration::hours(2),
            "a run at {at}"
        );
    }
    assert_eq!(
        runs[0],
        (noon - t0()).num_minutes(),
        "the first when the window opens"
    );
    // 15:07: the afternoon image is served until tomorrow's window.
    let before = up.count("a");
    let r = app.get("/image?spot=a", &[]).await;
    assert_eq!(r.status(), 200);
    let tomorrow = noon + chrono::Duration::days(1);
    let wait = (tomorrow - clock.now()).num_seconds();
    assert!(
        (wait..wait + 60).contains(&max_age(&r)),
        "{} for {wait}",
        max_age(&r)
    );
    assert_eq!(up.count("a"), before, "no fetch outside the window");
    app.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_the_schedule_and_does_not_refetch_what_is_fresh_on_disk() {
    let (up, clock, app, site) = fixture("", &[("a", "")]).await;
    let small = "/image?spot=a&width=300&height=200";
    assert_eq!(header(&app.get(small, &[]).await, "x-cache"), "miss");
    app.stop().await;

    clock.advance(Duration::from_secs(600));
    let app = start(&site, &clock).await;
    settle(&app, &clock).await;
    assert_eq!(up.count("a"), 1, "fresh on disk: not fetched again");
    let status = app.engine.schedule_status(0).unwrap();
    assert_eq!(
        status.variants.len(),
        2,
        "the requested variant is remembered"
    );
    for path in ["/image?spot=a", small] {
        assert_eq!(
            header(&app.get(path, &[]).await, "x-cache"),
            "hit",
            "{path}"
        );
    }
    app.stop().await;

    clock.advance(Duration::from_secs(3 * 3600));
    let app = start(&site, &clock).await;
    settle(&app, &clock).await;
    assert_eq!(up.count("a"), 2, "due on disk: fetched at start-up");
    let last = app.engine.schedule_status(0).unwrap().last_run.unwrap();
    assert_eq!(last.drawn, 2, "both variants from the one fetch");
    app.stop().await;
}

#[tokio::test]
async fn inkspot_schedule_prints_the_planned_runs_and_why() {
    let morning = "active_hours = \"06:00-09:00\"\ntimezone = \"America/Los_Angeles\"";
    let spots = [
        ("Linda Mar", "prerender = [\"trmnl\"]"),
        ("Ocean Beach", morning),
    ];
    let (_up, _clock, app, site) = fixture("", &spots).await;
    // A device asks for a size of its own, which joins the schedule.
    let small = "/image?spot=linda-mar&width=300&height=200";
    assert_eq!(app.get(small, &[]).await.status(), 200);
    app.stop().await;

    let later = "2026-11-23T12:00:00Z";
    let out = inkspot(&site, &["schedule", "--hours", "24", "--now", later]);
    assert!(out.status.success(), "{}", text_of(&out));
    let printed = text(&out.stdout);
    for line in [
        "Linda Mar: every 55m, at its phase +0s\n",
        "  draws width=800&height=480&format=png&bits=1&dither=auto&rotate=0&invert=false&max_bytes=90000: prerender preset `trmnl`\n",
        "  draws width=300&height=200&format=png&dither=none&rotate=0&invert=false: requested, last at 2026-11-23 10:07 UTC\n",
        "Ocean Beach: every 55m from 06:00, only within active_hours 06:00-09:00 (America/Los_Angeles)\n",
    ] {
        assert!(printed.contains(line), "missing {line:?} in:\n{printed}");
    }
    let runs = |spot: &str| -> Vec<String> {
        printed
            .lines()
            .filter(|l| l.starts_with("  2026") && l.contains(spot))
            .map(str::to_string)
            .collect()
    };
    let linda = runs("Linda Mar");
    // Stored at 10:07, so due at 11:02: the renders on disk are due at noon.
    assert!(
        linda[0].contains("start-up: the stored renders are due"),
        "{linda:?}"
    );
    assert!(
        (25..=27).contains(&linda.len()),
        "{} runs in 24 hours",
        linda.len()
    );
    let ocean = runs("Ocean Beach");
    // 12:00 UTC is 04:00 in California: the window opens at 06:00.
    let times: Vec<&str> = ocean.iter().map(|r| &r[2..22]).collect();
    assert_eq!(
        times,
        [
            "2026-11-23 06:00 PST",
            "2026-11-23 06:55 PST",
            "2026-11-23 07:50 PST",
            "2026-11-23 08:45 PST"
        ]
    );
    assert!(ocean[0].ends_with("active hours open"), "{ocean:?}");
}

/// The service as a user starts it: each scheduled run is logged with its
/// duration and the bytes it fetched.
#[tokio::test]
async fn each_run_is_logged_with_its_duration_and_upstream_bytes() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let site = Site::new();
    let page = report_page("2.5", "Logged");
    std::fs::write(site.path().join("page.html"), &page).unwrap();
    site.write_bar_config("file://page.html", "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_inkspot"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(site.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let found = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("scheduled refresh"))
    });
    let waited = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || found.join().unwrap()),
    )
    .await;
    // Killing it also ends the reader, should it still wait.
    let _ = child.kill();
    let _ = child.wait();
    let line = waited
        .expect("a scheduled refresh within a minute")
        .unwrap()
        .expect("a scheduled refresh is logged");
    assert!(line.contains("spot=\"Linda Mar\""), "{line}");
    assert!(line.contains("took_ms="), "{line}");
    assert!(
        line.contains(&format!("upstream_bytes={}", page.len())),
        "{line}"
    );
    assert!(line.contains("drawn=1"), "{line}");
}

/// The gallery looks without asking: viewing it (every preset's image and
/// the panel preview) draws what is missing but puts nothing on the
/// schedule, so a page view does not start renders for a day.
#[tokio::test]
async fn a_gallery_view_puts_no_variant_on_the_schedule() {
    let (_up, _clock, app, _site) = fixture("", &[("a", "")]).await;
    let page = app.get("/", &[]).await.text().await.unwrap();
    let images: Vec<String> = page
        .split("src=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|src| src.replace("&amp;", "&").replace("&#x2f;", "/"))
        .filter(|src| src.starts_with("/image") || src.starts_with("/preview"))
        .collect();
    assert!(
        images.len() > 5,
        "the page shows the presets: {images:?} in {page}"
    );
    for src in &images {
        let r = app.get(src, &[]).await;
        assert!(r.status().is_success(), "{src}: {}", r.status());
    }
    let variants = app.engine.schedule_status(0).unwrap().variants;
    assert_eq!(
        variants.len(),
        1,
        "only the spot's own output: {variants:?}"
    );
    // A device asking for one of them still puts it on.
    let asked = app.get("/image?spot=a&device=kindle", &[]).await;
    assert!(asked.status().is_success());
    assert_eq!(app.engine.schedule_status(0).unwrap().variants.len(), 2);
    app.stop().await;
}
