//! The same queries on both databases: the device registry and the job
//! records on SQLite and on a real PostgreSQL server (started by the test
//! in a temporary folder; skipped with a message when it is not installed),
//! migrations applied by several replicas at once, and the whole service
//! keeping its devices and jobs in PostgreSQL, over TLS too.

use crate::common::postgres::Postgres;
use crate::common::*;
use chrono::{DateTime, Duration, Utc};
use inkspot::db::Target;
use inkspot::devices::{Limits, Registry, Shown, Telemetry};
use inkspot::jobs::records::{Item, Output, Records, State};
use sqlx::AnyPool;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

const LIMITS: Limits = Limits {
    keep_logs: 2,
    keep_history: 3,
};

/// What devices and jobs need of a database, checked the same way on each.
async fn conformance(pool: AnyPool) {
    let registry = Registry::new(pool.clone(), LIMITS);
    let now = at("2026-11-24T10:00:00Z");
    let device = registry.join("AA:BB:CC:DD:EE:01", None, now).await.unwrap();
    let again = registry.join("AA:BB:CC:DD:EE:01", None, now).await.unwrap();
    assert_eq!(again.api_key, device.api_key, "one record per MAC");
    assert_eq!(
        registry.by_key(&device.api_key).await.unwrap().unwrap().mac,
        device.mac
    );
    registry.set_place(&device.mac, 2, now).await.unwrap();
    let telemetry = Telemetry {
        battery_voltage: Some(4.1),
        rssi: Some(-60),
        firmware: Some("1.6.2".into()),
        model: Some("og".into()),
        wake_time_ms: Some(1200),
        size: None,
        powered: false,
        percent_charged: None,
        wake_reason: Some("button"),
        wifi_band: Some("5".into()),
        temperature_profile: Some("default".into()),
        image_cached: Some(true),
    };
    let shown = Shown {
        expected_at: Some(now + Duration::minutes(15)),
        image_bytes: Some(48_000),
        image_cap: None,
        trouble: None,
    };
    for minute in 0..5 {
        let t = now + Duration::minutes(minute);
        registry
            .logbook()
            .seen(&device.mac, &telemetry, &shown, t)
            .await
            .unwrap();
    }
    let history = registry.logbook().history(&device.mac, 10).await.unwrap();
    assert_eq!(history.len(), 3, "keep_history readings are kept");
    assert_eq!(history[0].wake_reason.as_deref(), Some("button"));
    assert_eq!(history[0].image_cached, Some(true));
    assert_eq!(history[0].temperature_profile.as_deref(), Some("default"));
    // A device that can show nothing keeps why, until it can again.
    let stuck = Shown {
        trouble: Some("no playlist item can be drawn".into()),
        ..shown.clone()
    };
    registry
        .logbook()
        .seen(&device.mac, &telemetry, &stuck, now)
        .await
        .unwrap();
    let read = registry.by_mac(&device.mac).await.unwrap().unwrap();
    assert_eq!(
        read.trouble.as_deref(),
        Some("no playlist item can be drawn")
    );
    registry
        .logbook()
        .seen(&device.mac, &telemetry, &shown, now)
        .await
        .unwrap();
    let read = registry.by_mac(&device.mac).await.unwrap().unwrap();
    assert_eq!(read.trouble, None);
    firmware_offers(&registry, &device.mac, now).await;
    let entries: Vec<String> = ["one", "two", "three"].map(String::from).to_vec();
    registry
        .logbook()
        .add_logs(&device.mac, &entries, now)
        .await
        .unwrap();
    assert_eq!(
        registry.logbook().logs(&device.mac).await.unwrap(),
        ["two", "three"],
        "the newest, in order"
    );
    let read = registry.by_mac(&device.mac).await.unwrap().unwrap();
    assert_eq!(
        (
            read.playlist_position,
            read.battery_voltage,
            read.image_bytes
        ),
        (2, Some(4.1), Some(48_000))
    );
    assert_eq!(registry.list().await.unwrap().len(), 1);

    let book = Records::new(pool);
    let item = Item {
        name: "a.png".into(),
        state: "queued".into(),
        error: None,
    };
    book.insert(
        "j1",
        "shop",
        "fp",
        "{\"renders\":[]}",
        std::slice::from_ref(&item),
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        book.same_as("shop", "fp", now, now)
            .await
            .unwrap()
            .as_deref(),
        Some("j1")
    );
    assert_eq!(
        book.same_as("other", "fp", now, now).await.unwrap(),
        None,
        "another key's identical job is not shared"
    );
    assert_eq!(book.active("shop").await.unwrap(), 1);
    let queued = book.tally(now).await.unwrap();
    assert_eq!((queued.queued, queued.oldest_queued_at), (1, Some(now)));
    let claimed = book.claim(now).await.unwrap().unwrap();
    assert_eq!((claimed.id.as_str(), claimed.state), ("j1", State::Running));
    assert!(book.claim(now).await.unwrap().is_none());
    assert!(
        book.progress("j1", std::slice::from_ref(&item), now)
            .await
            .unwrap()
    );
    let output = Output {
        media_type: "image/png".into(),
        file_name: "a.png".into(),
        bytes: 10,
        etag: "e".into(),
    };
    let expires = now + Duration::hours(1);
    assert!(
        book.finish("j1", &[item], Ok(output.clone()), now, expires)
            .await
            .unwrap()
    );
    assert_eq!(book.get("j1").await.unwrap().unwrap().output, Some(output));
    let (done, due) = (
        book.tally(now).await.unwrap(),
        book.tally(expires).await.unwrap(),
    );
    assert_eq!(
        (done.done, done.queued, done.oldest_queued_at),
        (1, 0, None)
    );
    assert_eq!(
        (due.done, due.expired),
        (0, 1),
        "past its time, as its status says"
    );
    assert_eq!(book.due(expires).await.unwrap(), ["j1"]);
    assert!(book.close("j1", State::Expired, expires).await.unwrap());
    assert_eq!(book.prune(expires + Duration::seconds(1)).await.unwrap(), 1);
}

#[tokio::test]
async fn sqlite_passes_the_database_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Target::Sqlite(dir.path().join("db.sqlite"))
        .open()
        .await
        .unwrap();
    conformance(pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL; scripts/test runs it"]
async fn postgres_passes_the_same_conformance_and_migrates_once_from_many_replicas() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let target = Target::Postgres(pg.url.clone());
    // Four replicas starting at once: each migration is applied once.
    let opened = futures_util::future::join_all((0..4).map(|_| target.open())).await;
    let pools: Vec<AnyPool> = opened.into_iter().map(Result::unwrap).collect();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&pools[0])
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    assert_eq!(applied as usize, files, "each migration once");
    assert!(
        !target.describe().contains("inkspot@"),
        "no user in logs: {}",
        target.describe()
    );
    conformance(pools[0].clone()).await;
}

/// A site whose service keeps its devices in the PostgreSQL at `url`, lets
/// TRMNL devices join, and shows one spot, Alpha.
fn site_on(url: &str) -> Site {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "PG")).unwrap();
    let extra = format!("[database]\nurl = \"{url}\"\n[trmnl]\nauto_join = true\n");
    site.write_spots_config(&[("Alpha", "file://page.html")], &extra);
    site
}

/// The service with `database.url`: a TRMNL device joins and its key is in
/// PostgreSQL, where a second service on the same database finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL; scripts/test runs it"]
async fn the_service_keeps_devices_in_postgres() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let mac = "AA:BB:CC:DD:EE:42";
    let site = site_on(&pg.url);
    let a = App::start(&site).await;
    let mut device = crate::common::firmware::Firmware::new(&a.url, mac, "og");
    let setup = device.setup().await;
    assert_eq!(setup["status"], 200, "{setup}");
    let b = App::start(&site).await;
    let pool = Target::Postgres(pg.url.clone()).open().await.unwrap();
    let registry = Registry::new(pool, LIMITS);
    let stored = registry
        .by_mac(mac)
        .await
        .unwrap()
        .expect("the device is in PostgreSQL");
    assert!(stored.has_key(device.key.as_deref().unwrap()));
    let other = b
        .service
        .devices
        .as_ref()
        .unwrap()
        .by_mac(mac)
        .await
        .unwrap();
    assert_eq!(
        other.map(|d| d.api_key),
        Some(stored.api_key),
        "the other replica knows it"
    );
}

/// A PostgreSQL that takes only TLS connections, as managed ones do: the
/// service keeps its devices there over `sslmode=verify-full` with the
/// authority's certificate as `sslrootcert`. Without TLS the server
/// refuses the connection, and without the authority the certificate is
/// refused, so the first answer was over a checked TLS connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL; scripts/test runs it"]
async fn the_service_keeps_devices_in_a_postgres_it_reaches_over_tls() {
    let pg = tokio::task::spawn_blocking(Postgres::start_tls)
        .await
        .unwrap();
    let plain = pg.url.replace("sslmode=verify-full", "sslmode=disable");
    assert!(Target::Postgres(plain).open().await.is_err(), "TLS only");
    let unchecked = pg.url.split("&sslrootcert").next().unwrap().to_string();
    let refused = Target::Postgres(unchecked).open().await;
    assert!(refused.is_err(), "a certificate from an unknown authority");

    let mac = "AA:BB:CC:DD:EE:43";
    let site = site_on(&pg.url);
    let app = App::start(&site).await;
    let mut device = crate::common::firmware::Firmware::new(&app.url, mac, "og");
    assert_eq!(device.setup().await["status"], 200);
    let pool = Target::Postgres(pg.url.clone()).open().await.unwrap();
    let stored = Registry::new(pool, LIMITS).by_mac(mac).await.unwrap();
    assert!(stored.is_some_and(|d| d.has_key(device.key.as_deref().unwrap())));
    app.stop().await;
}

/// A firmware offer, its download and a failed verdict are kept in the
/// device's row, each written only when the row is as the call read it, and
/// cleared.
async fn firmware_offers(registry: &Registry, mac: &str, now: DateTime<Utc>) {
    let updates = registry.updates();
    assert!(updates.offered(mac, "1.8.16", now, None).await.unwrap());
    assert!(
        !updates.offered(mac, "1.8.16", now, None).await.unwrap(),
        "a second call that read no offer does not offer again"
    );
    assert!(updates.downloaded(mac, now).await.unwrap());
    let state = registry.by_mac(mac).await.unwrap().unwrap().firmware_update;
    assert_eq!(state.offered.as_deref(), Some("1.8.16"));
    assert_eq!(
        (state.offered_at, state.downloaded_at),
        (Some(now), Some(now))
    );
    assert!(
        updates
            .judged(mac, "1.8.16", Some(("1.8.16", 2)))
            .await
            .unwrap()
    );
    assert!(
        !updates
            .judged(mac, "1.8.16", Some(("1.8.16", 3)))
            .await
            .unwrap(),
        "an offer is judged once"
    );
    let state = registry.by_mac(mac).await.unwrap().unwrap().firmware_update;
    assert_eq!((state.offered.as_deref(), state.failures), (None, 2));
    assert_eq!(state.held(2), Some("1.8.16"));
    assert_eq!(state.held(3), None);
    assert!(
        !updates.downloaded(mac, now).await.unwrap(),
        "no offer pending"
    );
    assert!(updates.clear(mac).await.unwrap());
    let state = registry.by_mac(mac).await.unwrap().unwrap().firmware_update;
    assert_eq!((state.failed_version, state.failures), (None, 0));
}
