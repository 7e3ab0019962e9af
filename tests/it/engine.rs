//! The engine from the outside: render jobs watched through their handles,
//! freshness on a clock the test sets, a template shared by spots with
//! different sources, and what a failed render serves. The real service on
//! 127.0.0.1:0 against fixture upstreams over loopback.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use inkspot::clock::ManualClock;
use inkspot::config::OutputOptions;
use inkspot::flight::Stage;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn page(server: &MockServer, route: &str, body: String, delay_ms: u64) {
    Mock::given(path(route))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(body)
                .set_delay(Duration::from_millis(delay_ms)),
        )
        .mount(server)
        .await;
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()[name].to_str().unwrap().to_string()
}

fn clock() -> ManualClock {
    ManualClock::new("2026-11-22T17:30:00Z".parse().unwrap())
}

#[tokio::test]
async fn a_render_job_is_shared_and_its_stages_can_be_watched() {
    let upstream = MockServer::start().await;
    page(&upstream, "/report", report_page("2.0", "Slow"), 400).await;
    let site = Site::new();
    site.write_bar_config(&format!("{}/report", upstream.uri()), "");
    let app = App::start(&site).await;
    let engine = app.engine.clone();
    let request = engine
        .catalog()
        .resolve("Linda Mar", None, &OutputOptions::default())
        .unwrap();

    let mut job = engine.submit(request.clone()).unwrap();
    assert_eq!(job.key(), &engine.key(&request));
    let first = job.stage();
    assert!(
        matches!(first, Stage::Queued | Stage::Fetching),
        "{first:?}"
    );
    // A device asking meanwhile joins the same job.
    let joined = engine.submit(request.clone()).unwrap();
    assert_eq!(joined.id(), job.id());
    assert_eq!(engine.render_jobs().len(), 1);
    let device = tokio::spawn(
        client()
            .get(format!("{}/image?spot=linda-mar", app.url))
            .send(),
    );
    let mut seen = vec![first];
    while !matches!(seen.last(), Some(Stage::Done | Stage::Failed)) {
        let last = *seen.last().unwrap();
        seen.push(job.changed(last).await);
    }
    assert!(seen.ends_with(&[Stage::Drawing, Stage::Done]), "{seen:?}");
    let rendered = job.wait().await.unwrap();
    let device = device.await.unwrap().unwrap();
    assert_eq!(header(&device, "x-cache"), "miss");
    assert_eq!(header(&device, "etag"), rendered.etag());
    assert_eq!(upstream.received_requests().await.unwrap().len(), 1);
    assert!(engine.render_jobs().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn freshness_follows_the_clock_without_sleeping() {
    let upstream = MockServer::start().await;
    page(&upstream, "/report", report_page("2.0", "x"), 0).await;
    let site = Site::new();
    site.write_bar_config(&format!("{}/report", upstream.uri()), "");
    let clock = clock();
    let app = App::start_with_clock(&site, Arc::new(clock.clone())).await;

    let miss = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(header(&miss, "x-cache"), "miss");
    assert_eq!(header(&miss, "cache-control"), "public, max-age=3600");
    clock.advance(Duration::from_secs(1800));
    let hit = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(header(&hit, "x-cache"), "hit");
    assert_eq!(header(&hit, "cache-control"), "public, max-age=1800");
    clock.advance(Duration::from_secs(1801));
    let stale = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(header(&stale, "x-cache"), "stale");
    // The refresh started by the stale answer runs; then the render is fresh.
    while !app.engine.render_jobs().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let fresh = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(header(&fresh, "x-cache"), "hit");
    assert_eq!(header(&fresh, "cache-control"), "public, max-age=3600");
    assert_eq!(upstream.received_requests().await.unwrap().len(), 2);
    app.stop().await;
}

/// A bar for the wave height, and a second bar below it for the water
/// temperature, which only some spots have.
const SHARED: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="{{ spot.width }}" height="{{ spot.height }}">
<rect width="100%" height="100%" fill="#fff"/>
{% if data.report.wave is not none %}<rect x="0" y="0" width="{{ data.report.wave * 100 }}" height="40" fill="#000"/>{% endif %}
{% if data.water.temp is not none %}<rect x="0" y="100" width="{{ data.water.temp * 10 }}" height="40" fill="#000"/>{% endif %}
</svg>"##;

#[tokio::test]
async fn one_template_serves_spots_with_different_sources() {
    let upstream = MockServer::start().await;
    page(&upstream, "/report", report_page("2.0", "x"), 0).await;
    page(&upstream, "/water", "{\"temp\": 15}".into(), 0).await;
    let site = Site::new();
    std::fs::write(site.path().join("templates/shared.svg"), SHARED).unwrap();
    let report = format!("{}/report", upstream.uri());
    let water = format!("{}/water", upstream.uri());
    let spot = |name: &str, extra: &str| {
        format!(
            "[[spots]]\nname = \"{name}\"\ntemplate = \"shared\"\nwidth = 400\nheight = 240\n\n[[spots.sources]]\nid = \"report\"\nurl = \"{report}\"\nformat = \"html\"\n[spots.sources.fields]\nwave = {{ css = \"#waves .value\", type = \"number\" }}\n{extra}"
        )
    };
    let with_water = format!(
        "\n[[spots.sources]]\nid = \"water\"\nurl = \"{water}\"\nformat = \"json\"\n[spots.sources.fields]\ntemp = {{ pointer = \"/temp\" }}\n"
    );
    site.write_config(&format!(
        "{}\n{}",
        spot("Beach", &with_water),
        spot("Pier", "")
    ));
    let app = App::start(&site).await;
    for (name, water_bar) in [("beach", 150), ("pier", 0)] {
        let r = app.get(&format!("/image?spot={name}"), &[]).await;
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(header(&r, "content-type"), "image/png");
        let image = decode_png(&r.bytes().await.unwrap());
        assert_eq!(image.dark_in_row(20), 200, "{name}: wave bar");
        assert_eq!(image.dark_in_row(120), water_bar, "{name}: water bar");
    }
    app.stop().await;
}

/// The bar template, which fails to draw when the wave is over 5 ft.
const FRAGILE: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="{{ spot.width }}" height="{{ spot.height }}">
{% if data.report.wave > 5 %}{% include "missing.svg" %}{% endif %}
<rect width="100%" height="100%" fill="#fff"/>
<rect x="0" y="0" width="{{ data.report.wave * 100 }}" height="40" fill="#000"/>
</svg>"##;

#[tokio::test]
async fn a_failed_render_serves_the_last_good_image_or_the_error_picture() {
    let upstream = MockServer::start().await;
    let site = Site::new();
    std::fs::write(site.path().join("templates/bar.svg"), FRAGILE).unwrap();
    let url = format!("{}/report", upstream.uri());
    // Wait for each render, so a failed one is what the device gets.
    site.write_bar_config(&url, "[cache]\nserve_stale = false\n");
    let clock = clock();
    let app = App::start_with_clock(&site, Arc::new(clock.clone())).await;

    // No image yet and the template fails: the error picture, not JSON.
    page(&upstream, "/report", report_page("6.0", "x"), 0).await;
    let none = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(none.status(), 503);
    assert_eq!(header(&none, "content-type"), "image/png");
    assert_eq!(header(&none, "x-error-code"), "render_failed");
    assert_eq!(header(&none, "cache-control"), "no-store");
    let picture = decode_png(&none.bytes().await.unwrap());
    assert_eq!((picture.width, picture.height), (400, 240));

    // A good render, then the data changes and the template fails again.
    // The data that broke it is kept for `max_age` like any other.
    clock.advance(Duration::from_secs(3601));
    upstream.reset().await;
    page(&upstream, "/report", report_page("2.0", "x"), 0).await;
    let good = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(header(&good, "x-cache"), "miss");
    let good_etag = header(&good, "etag");
    upstream.reset().await;
    page(&upstream, "/report", report_page("7.0", "x"), 0).await;
    clock.advance(Duration::from_secs(3601));
    let stale = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(stale.status(), 200);
    assert_eq!(header(&stale, "x-cache"), "stale");
    assert_eq!(header(&stale, "etag"), good_etag);
    assert_eq!(upstream.received_requests().await.unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn an_expired_render_is_sent_at_once_while_one_refresh_runs() {
    let upstream = MockServer::start().await;
    page(&upstream, "/report", report_page("1.5", "Old"), 0).await;
    let site = Site::new();
    let extra = "[cache]\nmax_age = \"2s\"\nstale_max_age = \"30s\"";
    site.write_bar_config(&format!("{}/report", upstream.uri()), extra);
    let app = App::start(&site).await;
    let first = app.get("/image?spot=linda-mar", &[]).await;
    let old_etag = header(&first, "etag");

    // The upstream is now slow: nobody holding an image may wait for it.
    upstream.reset().await;
    Mock::given(path("/report"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(report_page("2.5", "New"))
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&upstream)
        .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let client = client();
    let url = format!("{}/image?spot=linda-mar", app.url);
    let stale = futures_util::future::join_all((0..10).map(|_| client.get(&url).send())).await;
    for r in stale {
        let r = r.unwrap();
        assert_eq!(header(&r, "x-cache"), "stale");
        assert_eq!(header(&r, "etag"), old_etag);
        assert_eq!(header(&r, "cache-control"), "public, max-age=30");
    }
    // One background refresh for all of them; then the new image is fresh.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let fresh = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(header(&fresh, "x-cache"), "hit");
    let image = decode_png(&fresh.bytes().await.unwrap());
    assert!((249..=251).contains(&image.dark_in_row(20)));
    assert_eq!(
        upstream.received_requests().await.unwrap().len(),
        1,
        "one refresh, however many asked"
    );
    app.stop().await;
}

/// A template edited into one that fails (an unknown filter) does not
/// replace the good picture drawn before the edit: the last good render is
/// served stale; with none, the error picture says the picture could not
/// be drawn, not that there is no data.
#[tokio::test]
async fn a_template_typo_keeps_the_last_good_picture() {
    let upstream = MockServer::start().await;
    page(&upstream, "/report", report_page("2.0", "x"), 0).await;
    let site = Site::new();
    site.write_bar_config(&format!("{}/report", upstream.uri()), "");
    let app = App::start_with_clock(&site, Arc::new(clock())).await;
    let good = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(good.status(), 200);
    let good_etag = header(&good, "etag");
    let typo = BAR_TEMPLATE.replace(
        "{{ data.report.headline }}",
        "{{ data.report.headline | no_such_filter }}",
    );
    std::fs::write(site.path().join("templates/bar.svg"), typo).unwrap();
    // The watcher reloads the folder and tries the new set on the spot's
    // data at once: `/status` names the template, its line and the reason.
    let mut problem = serde_json::Value::Null;
    for _ in 0..100 {
        let status: serde_json::Value = app.get("/status", &[]).await.json().await.unwrap();
        problem = status["spots"][0]["template_error"].clone();
        if !problem.is_null() {
            assert!(
                status["problems"].to_string().contains("Linda Mar"),
                "{status}"
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let problem = problem.as_str().unwrap_or_default().to_string();
    assert!(
        problem.contains("bar.svg:") && problem.contains("no_such_filter"),
        "{problem}"
    );
    let after = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(after.status(), 200, "{:?}", after.headers());
    assert_eq!(header(&after, "x-cache"), "stale");
    assert_eq!(
        header(&after, "etag"),
        good_etag,
        "the picture from before the edit"
    );
    // Another size, never drawn before the edit: the error picture, and
    // it says what happened.
    let never = app
        .get("/image?spot=linda-mar&width=300&height=200", &[])
        .await;
    assert_eq!(never.status(), 503);
    assert_eq!(header(&never, "x-error-code"), "render_failed");
    // Fixed, the problem goes at the next reload.
    std::fs::write(site.path().join("templates/bar.svg"), BAR_TEMPLATE).unwrap();
    app.engine.reload_templates_if_changed();
    assert_eq!(app.engine.try_templates().await, 0);
    assert!(app.engine.template_problem("linda-mar").is_none());
    // A deleted template is a problem too, and the good picture stays.
    std::fs::remove_file(site.path().join("templates/bar.svg")).unwrap();
    app.engine.reload_templates_if_changed();
    assert_eq!(app.engine.try_templates().await, 1);
    let problem = app.engine.template_problem("linda-mar").unwrap();
    assert!(problem.error.contains("bar"), "{}", problem.error);
    let gone = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(gone.status(), 200);
    assert_eq!(header(&gone, "x-cache"), "stale");
    app.stop().await;
}
