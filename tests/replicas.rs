//! Several replicas of the real binary sharing a real S3-compatible server
//! (SeaweedFS), a real Redis and a real PostgreSQL, all started here on
//! loopback ports: one upstream fetch and one render however many replicas
//! ask, a claim whose owner died taken over, Redis and S3 outages ridden
//! out, and a TRMNL device moving between replicas. Skipped, with a
//! message, only when one of the servers is not installed.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;

use common::postgres::Postgres;
use common::redis::Redis;
use common::seaweed::Seaweed;
use common::{Binary, Site, bar_spot, client, free_port, prom, report_page, wait_up};
use futures_util::future::join_all;
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The servers replicas share, and the upstream their spots read.
struct Shared {
    redis: Redis,
    s3: Seaweed,
    _pg: Postgres,
    pg_url: String,
    upstream: MockServer,
}

impl Shared {
    /// Every server started.
    async fn start(upstream_delay: Duration) -> Self {
        let redis = Redis::start();
        let pg = Postgres::start();
        let s3 = Seaweed::start("inkspot").await;
        let upstream = MockServer::start().await;
        for (route, wave) in [("/linda", "1.5"), ("/pacifica", "2.5")] {
            Mock::given(method("GET"))
                .and(wiremock::matchers::path(route))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_string(report_page(wave, "Shared"))
                        .insert_header("content-type", "text/html")
                        .set_delay(upstream_delay),
                )
                .mount(&upstream)
                .await;
        }
        Self {
            pg_url: pg.url.clone(),
            _pg: pg,
            redis,
            s3,
            upstream,
        }
    }

    /// The config every replica runs: two spots, `extra` TOML first.
    fn config(&self, extra: &str) -> String {
        let base = self.upstream.uri();
        format!(
            r#"{extra}
[storage]
backend = "s3"
bucket = "inkspot"
prefix = "replicas"
endpoint = "{s3}"
region = "us-east-1"
access_key_id = "any"
secret_access_key = "any"

[database]
url = "{pg}"

[coordination]
redis_url = "{redis}"
claim_ttl = "3s"

{linda}
{pacifica}"#,
            s3 = self.s3.endpoint,
            pg = self.pg_url,
            redis = self.redis.url,
            linda = bar_spot("Linda Mar", &format!("{base}/linda"), ""),
            pacifica = bar_spot("Pacifica", &format!("{base}/pacifica"), ""),
        )
    }

    /// Upstream requests so far, by path.
    async fn fetches(&self, route: &str) -> usize {
        let requests = self.upstream.received_requests().await.unwrap();
        requests.iter().filter(|r| r.url.path() == route).count()
    }
}

/// One replica: the real binary on its own port and folder.
struct Replica {
    url: String,
    binary: Option<Binary>,
    _site: Site,
}

impl Replica {
    async fn start(config: &str) -> Self {
        let site = Site::new();
        site.write_config(config);
        let port = free_port();
        let binary = Binary::serve(&site, port);
        let url = format!("http://127.0.0.1:{port}");
        wait_up(&url).await;
        Self {
            url,
            binary: Some(binary),
            _site: site,
        }
    }

    /// Renders this replica drew itself, by its metrics.
    async fn renders(&self) -> f64 {
        let text = prom::scrape_text(&format!("{}/metrics", self.url)).await;
        prom::value(
            &prom::parse(&text),
            "inkspot_renders_total",
            &[("outcome", "ok")],
        )
    }

    async fn status(&self) -> Value {
        let r = client()
            .get(format!("{}/status", self.url))
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }

    /// `inkspot_service_up` for Redis.
    async fn coordination_up(&self) -> f64 {
        let text = prom::scrape_text(&format!("{}/metrics", self.url)).await;
        let service = [("service", "coordination")];
        prom::value(&prom::parse(&text), "inkspot_service_up", &service)
    }

    /// What the metrics say of the storage: `inkspot_service_up` for it,
    /// and the writes pending.
    async fn service_gauges(&self) -> (f64, f64) {
        let text = prom::scrape_text(&format!("{}/metrics", self.url)).await;
        let m = prom::parse(&text);
        let up = prom::value(&m, "inkspot_service_up", &[("service", "storage")]);
        (up, prom::value(&m, "inkspot_storage_pending_writes", &[]))
    }

    /// `/status` once `ready` says yes of it, within 40 s (failed writes
    /// are retried every 10 s); panics past that.
    async fn status_once(&self, ready: impl Fn(&Value) -> bool) -> Value {
        let mut status = Value::Null;
        for _ in 0..400 {
            status = self.status().await;
            if ready(&status) {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("/status never came to the state awaited: {status}");
    }

    /// Kills it, as a crash would; returns its log.
    fn kill(&mut self) -> String {
        self.binary.take().map(Binary::kill).unwrap_or_default()
    }
}

const NO_SCHEDULE: &str =
    "[schedule]\nenabled = false\n[server]\nrender_queue = 256\nrenders_per_client = 256\n";

/// GET `url`: its status and content type.
async fn get(url: String) -> (u16, String) {
    let r = client().get(&url).send().await.unwrap();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let status = r.status().as_u16();
    let _ = r.bytes().await;
    (status, kind)
}

/// The four variants the tests ask for: two spots, each plain and as the
/// `kindle` preset.
fn variants() -> Vec<&'static str> {
    vec![
        "/image?spot=Linda%20Mar",
        "/image?spot=Pacifica",
        "/image?spot=Linda%20Mar&device=kindle",
        "/image?spot=Pacifica&device=kindle",
    ]
}

/// 100 concurrent cold requests, spread over two replicas and four
/// variants: every one gets its image, each source is fetched once, and
/// each variant is drawn once, on one replica or the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis, PostgreSQL and SeaweedFS; scripts/test runs it"]
async fn many_cold_requests_over_two_replicas_fetch_and_draw_each_thing_once() {
    let shared = Shared::start(Duration::from_millis(400)).await;
    let config = shared.config(NO_SCHEDULE);
    let replicas = [Replica::start(&config).await, Replica::start(&config).await];
    let requests = (0..100).map(|i| {
        let replica = &replicas[i % 2];
        get(format!("{}{}", replica.url, variants()[(i / 2) % 4]))
    });
    let answers = join_all(requests).await;
    for (status, kind) in &answers {
        assert_eq!(*status, 200, "every device gets its image");
        assert_eq!(kind, "image/png");
    }
    assert_eq!(shared.fetches("/linda").await, 1, "one fetch of Linda Mar");
    assert_eq!(
        shared.fetches("/pacifica").await,
        1,
        "one fetch of Pacifica"
    );
    let renders = replicas[0].renders().await + replicas[1].renders().await;
    assert_eq!(renders, 4.0, "one render per variant across both replicas");
    for replica in &replicas {
        let status = replica.status().await;
        assert_eq!(status["coordination"]["state"], "connected", "{status}");
        assert_eq!(status["state"], "ok", "{status}");
    }
}

/// A replica killed while it fetches for a render: the other, waiting on
/// its claim, takes the work over once the claim expires, and its device
/// gets an image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis, PostgreSQL and SeaweedFS; scripts/test runs it"]
async fn a_claim_whose_replica_died_is_taken_over_after_its_time_to_live() {
    let shared = Shared::start(Duration::from_millis(2500)).await;
    let config = shared.config(NO_SCHEDULE);
    let mut a = Replica::start(&config).await;
    let b = Replica::start(&config).await;
    let url = variants()[0];
    let on_a = tokio::spawn(get(format!("{}{url}", a.url)));
    // A holds the claims and waits for the slow upstream; B then waits on A.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let started = Instant::now();
    let on_b = tokio::spawn(get(format!("{}{url}", b.url)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.kill();
    let _ = on_a.await;
    let (status, kind) = on_b.await.unwrap();
    assert_eq!(
        (status, kind.as_str()),
        (200, "image/png"),
        "B's device gets an image"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "B waited for A's claim to expire rather than drawing at once"
    );
    assert_eq!(b.renders().await, 1.0, "B drew it after taking over");
    assert_eq!(
        shared.fetches("/linda").await,
        2,
        "A's fetch, lost with A, and B's"
    );
}

/// Redis stopped and started again while devices keep asking: nobody gets
/// an error, `/status` says the replicas work alone meanwhile, and once it
/// is back they share work again (a new variant is drawn once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis, PostgreSQL and SeaweedFS; scripts/test runs it"]
async fn a_redis_outage_costs_devices_nothing_and_coordination_comes_back() {
    let mut shared = Shared::start(Duration::from_millis(300)).await;
    let config = shared.config(NO_SCHEDULE);
    let replicas = [Replica::start(&config).await, Replica::start(&config).await];
    let round = |n: usize| {
        let urls: Vec<String> = (0..n)
            .map(|i| format!("{}{}", replicas[i % 2].url, variants()[i % 4]))
            .collect();
        join_all(urls.into_iter().map(get))
    };
    let ok =
        |answers: Vec<(u16, String)>| answers.iter().all(|(s, k)| *s == 200 && k == "image/png");
    assert!(ok(round(8).await), "before the outage");

    shared.redis.stop();
    for _ in 0..5 {
        assert!(ok(round(8).await), "during the outage");
    }
    // A variant nobody drew yet, during the outage: each replica draws it.
    let during = "/image?spot=Linda%20Mar&device=trmnl";
    for replica in &replicas {
        assert_eq!(get(format!("{}{during}", replica.url)).await.0, 200);
        let status = replica.status().await;
        assert_eq!(status["coordination"]["state"], "unreachable", "{status}");
        assert_eq!(status["state"], "degraded", "{status}");
        assert_eq!(
            replica.coordination_up().await,
            0.0,
            "the metric says so too"
        );
        assert_eq!(status["ready"], true, "still ready: it serves alone");
        let ready = client()
            .get(format!("{}/readyz", replica.url))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
    }

    shared.redis.resume();
    for replica in &replicas {
        // Each replica finds Redis back.
        replica
            .status_once(|s| s["coordination"]["state"] == "connected")
            .await;
        assert_eq!(replica.coordination_up().await, 1.0);
    }
    let before: f64 = replicas[0].renders().await + replicas[1].renders().await;
    // After the outage, a new variant asked of both at once is drawn once.
    let after = "/image?spot=Pacifica&device=trmnl";
    let both = join_all(replicas.iter().map(|r| get(format!("{}{after}", r.url)))).await;
    assert!(ok(both), "after the outage");
    let drawn = replicas[0].renders().await + replicas[1].renders().await - before;
    assert_eq!(drawn, 1.0, "coordination is back: one render for both");
}

/// S3 stopped: images in memory keep being served as hits, a new one is
/// drawn and served from memory, and `/status` says the storage is
/// degraded while the replica stays ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis, PostgreSQL and SeaweedFS; scripts/test runs it"]
async fn with_s3_away_hits_flow_from_memory_and_the_status_says_degraded() {
    let shared = Shared::start(Duration::ZERO).await;
    let config = shared.config(NO_SCHEDULE);
    let replica = Replica::start(&config).await;
    let url = format!("{}{}", replica.url, variants()[0]);
    assert_eq!(get(url.clone()).await.0, 200);
    // SeaweedFS stopped for good; the upstream and Redis stay.
    let Shared {
        s3,
        upstream: _upstream,
        redis: _redis,
        _pg,
        ..
    } = shared;
    drop(s3);
    for _ in 0..20 {
        let r = client().get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-cache"], "hit", "from memory");
    }
    let fresh = format!("{}{}", replica.url, variants()[1]);
    let (status, kind) = get(fresh).await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "image/png"),
        "drawn and served from memory"
    );
    let status = replica.status().await;
    assert_eq!(status["state"], "degraded", "{status}");
    assert_eq!(status["storage"]["ok"], false, "{status}");
    assert_eq!(status["ready"], true, "{status}");
}

/// A render drawn while S3 is away is kept and written once it is back:
/// `/status` counts it meanwhile, and a replica started afterwards serves
/// it from the bucket without fetching or drawing it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis, PostgreSQL and SeaweedFS; scripts/test runs it"]
async fn a_render_drawn_while_s3_is_away_is_stored_once_it_is_back() {
    let mut shared = Shared::start(Duration::ZERO).await;
    let config = shared.config(NO_SCHEDULE);
    let a = Replica::start(&config).await;
    shared.s3.stop();
    let url = variants()[1];
    assert_eq!(get(format!("{}{url}", a.url)).await.0, 200);
    let away = a.status_once(|s| s["storage"]["pending_writes"] == 1).await;
    assert_eq!(away["state"], "degraded", "{away}");
    assert_eq!(
        a.service_gauges().await,
        (0.0, 1.0),
        "storage down, one write pending"
    );
    shared.s3.resume().await;
    let back = a
        .status_once(|s| s["storage"]["pending_writes"] == 0 && s["storage"]["ok"] == true)
        .await;
    assert_eq!(back["state"], "ok", "{back}");
    assert_eq!(
        a.service_gauges().await,
        (1.0, 0.0),
        "storage up, nothing pending"
    );

    let b = Replica::start(&config).await;
    let r = client()
        .get(format!("{}{url}", b.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "hit", "read from the bucket");
    assert_eq!(shared.fetches("/pacifica").await, 1, "not fetched again");
    assert_eq!(b.renders().await, 0.0, "not drawn again");
}

/// Config TOML for one TRMNL device `mac` with the `playlist` items, no
/// schedule and no per-device rate limit.
fn device_config(mac: &str, playlist: &str) -> String {
    format!(
        "{NO_SCHEDULE}[trmnl]\nrate_limit = 0\n[[devices]]\nmac = \"{mac}\"\nplaylist = [{playlist}]\n"
    )
}

/// A TRMNL device set up on one replica is known to the other, with its
/// key, and its playlist goes on where the first left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis, PostgreSQL and SeaweedFS; scripts/test runs it"]
async fn a_device_keeps_its_key_and_place_in_its_playlist_across_replicas() {
    let shared = Shared::start(Duration::ZERO).await;
    let mac = "AA:BB:CC:00:11:22";
    let config = shared.config(&device_config(mac, r#""Linda Mar", "Pacifica""#));
    let a = Replica::start(&config).await;
    let b = Replica::start(&config).await;
    let mut on_a = common::firmware::Firmware::new(&a.url, mac, "og");
    assert_eq!(on_a.setup().await["status"], 200);
    // Until both items are drawn, A shows the first and moves on.
    let mut seen = Vec::new();
    for _ in 0..200 {
        let answer = on_a.display("4.1", &[]).await;
        let name = answer["filename"].as_str().unwrap_or_default().to_string();
        seen.push(name);
        let shown = |p: &str| seen.iter().any(|n| n.contains(p));
        if shown("lindama") && shown("pacific") && seen.last().unwrap().starts_with("lindama") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen.last().unwrap().starts_with("lindama"), "{seen:?}");
    let mut on_b = common::firmware::Firmware::new(&b.url, mac, "og");
    on_b.key = on_a.key.clone();
    let next = on_b.display("4.1", &[]).await;
    assert!(
        next["filename"].as_str().unwrap().starts_with("pacific"),
        "B knows the key and moves on from where A left: {next}"
    );
    let after = on_a.display("4.1", &[]).await;
    assert!(
        after["filename"].as_str().unwrap().starts_with("lindama"),
        "and A from where B left: {after}"
    );
}

/// An upstream on one host for every spot: it notes how many of its
/// requests were in flight at once, and answers 404 for `/r/Gone`.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
    total: AtomicUsize,
    gone: AtomicUsize,
}

impl Gauge {
    async fn start() -> (Arc<Self>, String) {
        async fn report(
            State(g): State<Arc<Gauge>>,
            Path(name): Path<String>,
        ) -> (StatusCode, String) {
            if name == "Gone" {
                g.gone.fetch_add(1, SeqCst);
                return (StatusCode::NOT_FOUND, "gone".into());
            }
            g.total.fetch_add(1, SeqCst);
            let now = g.now.fetch_add(1, SeqCst) + 1;
            g.max.fetch_max(now, SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            g.now.fetch_sub(1, SeqCst);
            (StatusCode::OK, report_page("1.0", "Gauged"))
        }
        let gauge = Arc::new(Self::default());
        let app = axum::Router::new()
            .route("/r/{name}", axum::routing::get(report))
            .with_state(gauge.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (gauge, url)
    }
}

/// Four spots on one upstream host, fetched by two replicas at once with
/// `per_host_concurrency = 1`: the host never sees two requests at a time.
/// A source one replica found failing is not asked again by the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis, PostgreSQL and SeaweedFS; scripts/test runs it"]
async fn replicas_share_the_per_host_limit_and_remembered_failures() {
    let shared = Shared::start(Duration::ZERO).await;
    let (gauge, base) = Gauge::start().await;
    let names = ["One", "Two", "Three", "Four", "Gone"];
    let mut config = shared.config(&format!(
        "{NO_SCHEDULE}[fetch]\nper_host_concurrency = 1\nfailure_ttl = \"60s\"\n"
    ));
    for name in names {
        config.push_str(&bar_spot(name, &format!("{base}/r/{name}"), ""));
    }
    let replicas = [Replica::start(&config).await, Replica::start(&config).await];
    let asks = names[..4]
        .iter()
        .enumerate()
        .map(|(i, name)| get(format!("{}/image?spot={name}", replicas[i % 2].url)));
    for (status, _) in join_all(asks).await {
        assert_eq!(status, 200);
    }
    assert_eq!(gauge.total.load(SeqCst), 4, "each spot fetched once");
    assert_eq!(
        gauge.max.load(SeqCst),
        1,
        "one request at a time to the host, across replicas"
    );

    let gone = |r: &Replica| get(format!("{}/image?spot=Gone", r.url));
    assert_ne!(gone(&replicas[0]).await.0, 200, "nothing to draw");
    assert_eq!(gauge.gone.load(SeqCst), 1);
    for _ in 0..3 {
        for replica in &replicas {
            let (status, kind) = gone(replica).await;
            assert_eq!(
                (status, kind.as_str()),
                (503, "image/png"),
                "the error picture"
            );
        }
    }
    assert_eq!(
        gauge.gone.load(SeqCst),
        1,
        "the failure is remembered by both replicas: the upstream is not asked again"
    );
}

/// Two replicas with their schedulers on, in one process on one manual
/// clock: over an hour of 5-minute intervals, each spot is fetched once
/// per interval, not once per replica, and each replica ran some of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis, PostgreSQL and SeaweedFS; scripts/test runs it"]
async fn the_schedule_runs_each_spot_once_per_interval_across_replicas() {
    use inkspot::clock::{Clock, ManualClock};
    let shared = Shared::start(Duration::ZERO).await;
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let site = Site::new();
    let refresh = "refresh = \"5m\"\n";
    let mut config = shared.config("[schedule]\njitter = \"0s\"\n");
    config = config.replace(
        "template = \"bar\"\n",
        &format!("template = \"bar\"\n{refresh}"),
    );
    site.write_config(&config);
    let clock = ManualClock::new("2026-11-23T10:07:00Z".parse().unwrap());
    let start = || common::App::start_scheduled(&site, Arc::new(clock.clone()));
    let apps = [start().await, start().await];
    let settle = || async {
        for _ in 0..2000 {
            let now = clock.now();
            let settled = apps.iter().all(|app| {
                (0..2).all(|i| {
                    let s = app.engine.schedule_status(i).unwrap();
                    !s.running && s.next_run.is_some_and(|t| t > now)
                })
            });
            if settled {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the schedules did not settle at {}", clock.now());
    };
    settle().await;
    assert_eq!(
        shared.fetches("/linda").await,
        1,
        "the start-up run, on one replica"
    );
    // A variant requested of each replica only: whichever replica runs
    // the spot draws both.
    let ask = |app: &common::App, preset: &str| {
        get(format!(
            "{}/image?spot=Linda%20Mar&device={preset}",
            app.url
        ))
    };
    assert_eq!(ask(&apps[0], "kindle").await.0, 200);
    assert_eq!(ask(&apps[1], "trmnl").await.0, 200);
    // The minutes at which each spot's upstream was asked.
    let mut asked: [Vec<i64>; 2] = [vec![0], vec![0]];
    for minute in 1..=60 {
        clock.advance(Duration::from_secs(60));
        settle().await;
        for (i, route) in ["/linda", "/pacifica"].iter().enumerate() {
            let n = shared.fetches(route).await;
            assert!(
                n - asked[i].len() <= 1,
                "{route} fetched twice at minute {minute}"
            );
            if n > asked[i].len() {
                asked[i].push(minute);
            }
        }
    }
    for minutes in &asked {
        let gaps: Vec<i64> = minutes.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.iter().all(|g| (3..=5).contains(g)),
            "once per 5-minute interval, by one replica or the other: {minutes:?}"
        );
        assert!(minutes.len() >= 12, "{minutes:?}");
    }
    for (app, preset) in [(&apps[0], "kindle"), (&apps[1], "trmnl")] {
        let options = inkspot::config::OutputOptions::default();
        let request = app
            .engine
            .catalog()
            .resolve("Linda Mar", Some(preset), &options);
        let key = app.engine.key(&request.unwrap());
        let meta = app.engine.store().stored_meta(&key).await.unwrap();
        let age = clock.now() - meta.data_at;
        assert!(
            age <= chrono::Duration::minutes(5),
            "{preset}, asked of one replica, is drawn by every run: {age}"
        );
    }
    let elsewhere = apps
        .iter()
        .filter(|app| {
            app.engine
                .schedule_status(0)
                .unwrap()
                .last_run_elsewhere
                .is_some()
        })
        .count();
    assert!(
        elsewhere >= 1,
        "a replica that left runs to the other says so"
    );
    let mut counted = 0.0;
    for app in &apps {
        let text = prom::scrape_text(&format!("{}/metrics", app.url)).await;
        counted += prom::value(
            &prom::parse(&text),
            "inkspot_schedule_runs_total",
            &[("spot", "Linda Mar"), ("outcome", "ok")],
        );
    }
    assert_eq!(
        counted,
        asked[0].len() as f64,
        "every run counted once, on the replica that ran it"
    );
}

/// PostgreSQL stopped: a device that called before gets its picture, not
/// an error; a replica started meanwhile tells devices to come back
/// later (never `status: 500`) and serves them once the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis, PostgreSQL and SeaweedFS; scripts/test runs it"]
async fn with_the_database_away_devices_get_their_last_known_answer() {
    let shared = Shared::start(Duration::ZERO).await;
    let mac = "AA:BB:CC:00:33:44";
    let config = shared.config(&device_config(mac, r#""Linda Mar""#));
    let mut replica = Replica::start(&config).await;
    let mut device = common::firmware::Firmware::new(&replica.url, mac, "og");
    assert_eq!(device.setup().await["status"], 200);
    let mut shown = Value::Null;
    for _ in 0..200 {
        shown = device.display("4.1", &[]).await;
        if shown["filename"].as_str().unwrap().starts_with("lindama") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        shown["filename"].as_str().unwrap().starts_with("lindama"),
        "{shown}"
    );

    shared._pg.stop();
    let answer = device.display("4.1", &[]).await;
    assert_eq!(
        answer["filename"], shown["filename"],
        "the last known answer"
    );
    let image = device.image(answer["image_url"].as_str().unwrap()).await;
    assert_eq!(image.status(), 200);
    let status = replica.status().await;
    assert_eq!(status["state"], "degraded", "{status}");
    assert_eq!(status["ready"], true, "{status}");

    // A replica (re)started while the database is away.
    replica.kill();
    let replica = Replica::start(&config).await;
    device.base = replica.url.clone();
    let answer = device.display("4.1", &[]).await;
    assert_eq!(answer["status"], 202, "come back later: {answer}");
    shared._pg.resume();
    let mut answer = Value::Null;
    for _ in 0..100 {
        answer = device.display("4.1", &[]).await;
        if answer["status"] != 202 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        answer["filename"].as_str().unwrap().starts_with("lindama"),
        "served again once the database is back: {answer}"
    );
}
