//! The history over real sockets: a fixture upstream serves a real NDBC
//! file (`../shared/reference/real/`), the service keeps its rows, and
//! `/api/history` and `inkspot history` read them back; on PostgreSQL, two
//! replicas fetching the same file keep each sample once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::common::postgres::Postgres;
use crate::common::*;

/// The real file: 38 rows of 46026, newest first, the newest with WVHT MM.
fn ndbc() -> String {
    std::fs::read_to_string(repo_path(
        "../shared/reference/real/ndbc_realtime2_46026_2026-08-17.txt",
    ))
    .expect("../shared/reference/real/, beside the project (it is in CI), holds the real NDBC file this test reads")
}

/// Its WVHT rows that are not missing.
fn wvht_rows() -> usize {
    ndbc()
        .lines()
        .filter(|l| !l.starts_with('#') && l.split_whitespace().nth(8).is_some_and(|c| c != "MM"))
        .count()
}

/// Its DPD rows that are not missing.
fn dpd_rows() -> usize {
    ndbc()
        .lines()
        .filter(|l| !l.starts_with('#') && l.split_whitespace().nth(9).is_some_and(|c| c != "MM"))
        .count()
}

/// Just after the file's newest row.
fn morning() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-08-17T07:00:00Z")
        .unwrap()
        .to_utc()
}

/// Serves `body` at every path on a free loopback port.
async fn upstream(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { body }
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

const TEMPLATE: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="240"><rect width="400" height="240" fill="white"/>{% set h = history("buoy.wvht", hours=24) %}<text x="10" y="30" font-size="20">{{ h.last }} {{ h.unit }} {{ h.trend }}</text>{{ line_chart(h, y=40, width=400, height=200) }}</svg>"#;

/// A site whose one spot, Buoy, reads WVHT and DPD from `url`, every row.
fn site(url: &str, extra: &str) -> Site {
    let site = Site::new();
    std::fs::write(site.path().join("templates/plain.svg"), TEMPLATE).unwrap();
    site.write_config(&format!(
        r#"{extra}
[[spots]]
name = "Buoy"
template = "plain"
width = 400
height = 240
[[spots.sources]]
id = "buoy"
url = "{url}/data/realtime2/46026.txt"
format = "text"
[spots.sources.fields]
wvht = {{ column = "WVHT", type = "number", rows = "all" }}
period = {{ column = "DPD", type = "number", rows = "all" }}
"#
    ));
    site
}

/// Waits until the service has written every queued sample.
async fn flushed(app: &App) {
    let keeper = app.service.history.as_ref().expect("history kept");
    tokio::time::timeout(Duration::from_secs(10), keeper.flush())
        .await
        .expect("written in time");
}

async fn json(app: &App, query: &str) -> (u16, Value) {
    let response = app.get(&format!("/api/history?{query}"), &[]).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_buoy_rows_are_kept_and_served_as_json_and_csv() {
    let url = upstream(ndbc()).await;
    let site = site(&url, "");
    let clock = inkspot::clock::ManualClock::new(morning());
    let app = App::start_with_clock(&site, Arc::new(clock.clone())).await;
    assert_eq!(app.get("/image?spot=buoy", &[]).await.status(), 200);
    flushed(&app).await;

    let (status, body) = json(&app, "spot=Buoy&field=buoy.wvht&hours=48").await;
    assert_eq!(status, 200, "{body}");
    let rows = body["observed"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        wvht_rows(),
        "every row that is not MM, each once"
    );
    assert_eq!(body["unit"], "m");
    assert_eq!(
        rows.last().unwrap()["t"],
        "2026-08-17T06:20:00Z",
        "the newest reading, not the MM row after it"
    );
    let times: Vec<&str> = rows.iter().map(|r| r["t"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "oldest first");

    // CSV, asked for by header or by parameter.
    for (query, headers) in [
        (
            "spot=buoy&field=buoy.wvht&hours=48",
            vec![("accept", "text/csv")],
        ),
        ("spot=buoy&field=buoy.wvht&hours=48&format=csv", vec![]),
    ] {
        let response = app.get(&format!("/api/history?{query}"), &headers).await;
        assert_eq!(
            response.headers()["content-type"],
            "text/csv; charset=utf-8"
        );
        let text = response.text().await.unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("kind,time,value,min,max,count"));
        assert_eq!(
            lines.filter(|l| l.starts_with("observed,")).count(),
            wvht_rows()
        );
    }

    // In hourly steps: each hour's mean and extremes.
    let (_, hourly) = json(&app, "spot=buoy&field=buoy.wvht&hours=48&step=1h").await;
    let hours = hourly["observed"].as_array().unwrap();
    assert!(hours.len() < rows.len() && !hours.is_empty());
    let counted: i64 = hours.iter().map(|h| h["count"].as_i64().unwrap()).sum();
    assert_eq!(counted as usize, wvht_rows(), "every sample in one hour");

    // The template is filled with what the history keeps: the newest
    // reading, its unit and the day's trend, and a line through them.
    let request = app
        .engine
        .catalog()
        .resolve("buoy", None, &Default::default())
        .unwrap();
    let data = app.engine.data_for(&request).await;
    let svg = app.engine.pipeline().fill(&request, &data).unwrap();
    assert!(svg.contains(">1.1 m "), "{svg}");
    assert!(
        svg.contains("class=\"chart\"") && !svg.contains("no data yet"),
        "{svg}"
    );

    // What is kept, in /status, /metrics and the gallery.
    let status: Value = app.get("/status", &[]).await.json().await.unwrap();
    let kept = &status["history"];
    assert_eq!(
        kept["spots"]["buoy"]["samples"].as_i64().unwrap() as usize,
        wvht_rows() + dpd_rows(),
        "{kept}"
    );
    assert_eq!(kept["spots"]["buoy"]["newest"], "2026-08-17T06:20:00Z");
    let metrics = app.get("/metrics", &[]).await.text().await.unwrap();
    let written = format!(
        "inkspot_history_samples_written_total {}",
        wvht_rows() + dpd_rows()
    );
    assert!(metrics.contains(&written), "{metrics}");
    assert!(metrics.contains("inkspot_history_rows{table=\"samples\"}"));
    // The page escapes `/` as `&#x2f;`, which a browser reads as `/`.
    let page = app
        .get("/", &[])
        .await
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(
        page.contains(r#"aria-label="buoy.wvht, last 24 hours""#),
        "a sparkline per field"
    );
    assert!(
        page.contains("/api/history?spot=buoy&amp;field=buoy.wvht&amp;format=csv"),
        "and its CSV"
    );

    // A second fetch of the same file adds nothing.
    let keeper = app.service.history.as_ref().unwrap();
    let written = keeper
        .counters()
        .written
        .load(std::sync::atomic::Ordering::Relaxed);
    clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(app.get("/image?spot=buoy&bits=2", &[]).await.status(), 200);
    flushed(&app).await;
    assert_eq!(
        keeper
            .counters()
            .written
            .load(std::sync::atomic::Ordering::Relaxed),
        written,
        "nothing new"
    );
    let (_, again) = json(&app, "spot=buoy&field=buoy.wvht&hours=48").await;
    assert_eq!(again["observed"].as_array().unwrap().len(), wvht_rows());
    app.stop().await;
}

#[rstest::rstest]
#[case("spot=Nowhere&field=buoy.wvht", 404, "unknown_spot", "Nowhere")]
#[case("spot=Buoy&field=buoy.tide", 404, "unknown_field", "buoy.tide")]
#[case("spot=Buoy", 400, "missing_parameter", "buoy.wvht")]
#[case(
    "spot=Buoy&field=buoy.wvht&hours=lots",
    400,
    "invalid_parameter",
    "hours"
)]
#[case(
    "spot=Buoy&field=buoy.wvht&hours=0",
    400,
    "invalid_parameter",
    "more than 0"
)]
#[case(
    "spot=Buoy&field=buoy.wvht&hours=24&from=2026-08-16T00:00:00Z",
    400,
    "invalid_parameter",
    "not both"
)]
#[case(
    "spot=Buoy&field=buoy.wvht&from=2026-01-01T00:00:00Z",
    400,
    "range_too_long",
    "31 days"
)]
#[case(
    "spot=Buoy&field=buoy.wvht&from=2020-01-01T00:00:00Z&step=1d",
    400,
    "range_too_long",
    "800 days"
)]
#[case(
    "spot=Buoy&field=buoy.wvht&from=yesterday",
    400,
    "invalid_parameter",
    "RFC 3339"
)]
#[case(
    "spot=Buoy&field=buoy.wvht&step=1s",
    400,
    "invalid_parameter",
    "at least 1m"
)]
#[case(
    "spot=Buoy&field=buoy.wvht&format=xml",
    400,
    "invalid_parameter",
    "json or csv"
)]
#[tokio::test]
async fn a_bad_history_request_is_named(
    #[case] query: &str,
    #[case] status: u16,
    #[case] code: &str,
    #[case] names: &str,
) {
    let site = site("http://127.0.0.1:9", "");
    let app =
        App::start_with_clock(&site, Arc::new(inkspot::clock::ManualClock::new(morning()))).await;
    let (got, body) = json(&app, query).await;
    assert_eq!(
        (got, body["code"].as_str().unwrap()),
        (status, code),
        "{body}"
    );
    assert!(body["error"].as_str().unwrap().contains(names), "{body}");
    app.stop().await;
}

/// `inkspot history` prints the same rows, as a table or as CSV.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_prints_the_history() {
    let url = upstream(ndbc()).await;
    let site = site(&url, "");
    let app =
        App::start_with_clock(&site, Arc::new(inkspot::clock::ManualClock::new(morning()))).await;
    assert_eq!(app.get("/image?spot=buoy", &[]).await.status(), 200);
    flushed(&app).await;
    let base = app.url.clone();
    let csv = tokio::task::spawn_blocking({
        let site_path = site.config_path();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_inkspot"))
                .args([
                    "--config",
                    site_path.to_str().unwrap(),
                    "history",
                    "--spot",
                    "Buoy",
                    "--field",
                    "buoy.wvht",
                    "--hours",
                    "48",
                    "--csv",
                    "--url",
                    &base,
                ])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(csv.status.success(), "{}", text_of(&csv));
    assert_eq!(
        text(&csv.stdout)
            .lines()
            .filter(|l| l.starts_with("observed,"))
            .count(),
        wvht_rows()
    );
    let table = inkspot(
        &site,
        &[
            "history",
            "--spot",
            "Buoy",
            "--field",
            "buoy.period",
            "--url",
            &app.url,
        ],
    );
    assert!(table.status.success(), "{}", text_of(&table));
    let out = text(&table.stdout);
    assert!(out.starts_with("Buoy · buoy.period (sec)"), "{out}");
    let wrong = inkspot(
        &site,
        &[
            "history", "--spot", "Buoy", "--field", "nope", "--url", &app.url,
        ],
    );
    assert!(!wrong.status.success());
    assert!(
        text_of(&wrong).contains("no numeric field `nope`"),
        "{}",
        text_of(&wrong)
    );
    app.stop().await;
}

/// Two replicas on one PostgreSQL, each fetching the same file itself (no
/// Redis to share the fetch), keep each sample once; the history passes
/// the same conformance suite as on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL; scripts/test runs it"]
async fn replicas_on_postgres_keep_each_sample_once() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = upstream(ndbc()).await;
    let site = site(&url, &format!("[database]\nurl = \"{}\"\n", pg.url));
    let clock: inkspot::clock::SharedClock = Arc::new(inkspot::clock::ManualClock::new(morning()));
    let a = App::start_with_clock(&site, clock.clone()).await;
    let b = App::start_with_clock(&site, clock).await;
    let (ra, rb) = tokio::join!(
        a.get("/image?spot=buoy", &[]),
        b.get("/image?spot=buoy&bits=2", &[])
    );
    assert_eq!((ra.status().as_u16(), rb.status().as_u16()), (200, 200));
    flushed(&a).await;
    flushed(&b).await;
    let pool = a.service.database.clone().unwrap();
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM samples WHERE field = 'buoy.wvht'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept as usize, wvht_rows(), "each sample once");
    let (status, body) = json(&b, "spot=buoy&field=buoy.wvht&hours=48").await;
    assert_eq!(status, 200);
    assert_eq!(body["observed"].as_array().unwrap().len(), wvht_rows());
    a.stop().await;
    b.stop().await;
    let fresh = inkspot::db::Target::Postgres(pg.url.clone())
        .open()
        .await
        .unwrap();
    for table in ["samples", "samples_hourly", "forecasts", "history_fields"] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&fresh)
            .await
            .unwrap();
    }
    inkspot::history::conformance::run(&fresh, "postgres").await;
}
