//! The cache folder: retention (`cache.max_disk`, `cache.max_disk_age`),
//! and damaged or leftover files detected, ignored and replaced.

use std::path::Path;
use std::time::Duration;

use crate::common::faulty::Faulty;
use crate::common::*;

/// Every file under `dir`, made `by` older.
fn age_all(dir: &Path, by: Duration) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            age_all(&e.path(), by);
        } else {
            backdate(&e.path(), by);
        }
    }
}

/// Every file under `dir`, made `by` older than it is.
fn older_all(dir: &Path, by: Duration) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            older_all(&e.path(), by);
        } else {
            let file = std::fs::File::options()
                .append(true)
                .open(e.path())
                .unwrap();
            let modified = file.metadata().unwrap().modified().unwrap();
            file.set_modified(modified - by).unwrap();
        }
    }
}

// Each 24-bit BMP of a 400×240 spot is 288,054 bytes: three fit in 1 MiB.
const VARIANTS: [&str; 6] = [
    "&rotate=0",
    "&rotate=90",
    "&rotate=180",
    "&rotate=270",
    "&invert=true",
    "&invert=true&rotate=90",
];

#[tokio::test]
async fn the_cache_folder_stays_under_max_disk_keeping_the_newest() {
    let faulty = Faulty::start().await;
    let site = Site::new();
    site.write_bar_config(
        &format!("{}/ok/3.0", faulty.url),
        "[cache]\nmax_disk = \"1MiB\"",
    );
    let app = App::start(&site).await;
    for v in VARIANTS {
        let r = app
            .get(&format!("/image?spot=linda-mar&format=bmp{v}"), &[])
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().len(), 288_054);
        let used = site.cached_bytes();
        assert!(used <= 1024 * 1024, "{used} bytes after {v}");
    }
    assert_eq!(
        site.cached_files(),
        6,
        "three renders, image and metadata each"
    );
    app.stop().await;

    // After a restart memory is empty: the newest render comes from disk,
    // the oldest was deleted and is drawn again from a new fetch.
    let app = App::start(&site).await;
    let newest = app
        .get(
            &format!("/image?spot=linda-mar&format=bmp{}", VARIANTS[5]),
            &[],
        )
        .await;
    assert_eq!(newest.headers()["x-cache"], "hit");
    let fetched = faulty.gauge.total();
    let oldest = app
        .get(
            &format!("/image?spot=linda-mar&format=bmp{}", VARIANTS[0]),
            &[],
        )
        .await;
    assert_eq!(oldest.headers()["x-cache"], "miss", "dropped from disk");
    assert_eq!(faulty.gauge.total(), fetched + 1);
    app.stop().await;
}

/// A variant asked for again outlives ones nobody asks for, though it was
/// drawn first: the disk is swept by last use, not by drawing time.
#[tokio::test]
async fn variants_nobody_asks_for_again_leave_the_disk_first() {
    let faulty = Faulty::start().await;
    let site = Site::new();
    site.write_bar_config(
        &format!("{}/ok/3.0", faulty.url),
        "[cache]\nmax_disk = \"1MiB\"",
    );
    let url = |v: &str| format!("/image?spot=linda-mar&format=bmp{v}");
    let app = App::start(&site).await;
    // Drawn an hour apart: the first is the oldest.
    for v in &VARIANTS[..3] {
        assert_eq!(app.get(&url(v), &[]).await.status(), 200);
        older_all(&site.cache_dir(), Duration::from_secs(3600));
    }
    app.stop().await;

    // The first variant is asked for again (from disk: memory is empty),
    // then a fourth is drawn, which passes `max_disk`.
    let app = App::start(&site).await;
    let again = app.get(&url(VARIANTS[0]), &[]).await;
    assert_eq!(again.headers()["x-cache"], "hit");
    assert_eq!(app.get(&url(VARIANTS[3]), &[]).await.status(), 200);
    app.stop().await;

    let app = App::start(&site).await;
    let kept = app.get(&url(VARIANTS[0]), &[]).await;
    assert_eq!(kept.headers()["x-cache"], "hit", "asked for again: kept");
    let dropped = app.get(&url(VARIANTS[1]), &[]).await;
    assert_eq!(
        dropped.headers()["x-cache"],
        "miss",
        "nobody asked again: dropped"
    );
    app.stop().await;
}

#[tokio::test]
async fn renders_older_than_max_disk_age_are_dropped_at_start() {
    let faulty = Faulty::start().await;
    let site = Site::new();
    site.write_bar_config(
        &format!("{}/ok/3.0", faulty.url),
        "[cache]\nmax_age = \"30d\"\nmax_disk_age = \"7d\"",
    );
    let app = App::start(&site).await;
    assert_eq!(app.get("/image?spot=linda-mar", &[]).await.status(), 200);
    assert_eq!(
        app.get("/image?spot=linda-mar&bits=1", &[]).await.status(),
        200
    );
    app.stop().await;
    assert_eq!(site.cached_files(), 4);

    // One render stored eight days ago, one an hour ago.
    let spot_dir = site.cache_dir().join("linda-mar");
    let mut metas: Vec<_> = std::fs::read_dir(&spot_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".meta.json"))
        .collect();
    metas.sort();
    for (meta, days) in metas.iter().zip([8u64, 0]) {
        let by = Duration::from_secs(days * 86_400 + 3600);
        // The metadata and the image of that variant: `<variant>.*`.
        let name = meta.file_name().unwrap().to_string_lossy().into_owned();
        let variant = name.strip_suffix(".meta.json").unwrap();
        for e in std::fs::read_dir(&spot_dir).unwrap().flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{variant}."))
            {
                backdate(&e.path(), by);
            }
        }
    }
    let app = App::start(&site).await;
    assert_eq!(site.cached_files(), 2, "the eight-day-old render is gone");
    app.stop().await;

    age_all(&site.cache_dir(), Duration::from_secs(8 * 86_400));
    let app = App::start(&site).await;
    assert_eq!(site.cached_files(), 0);
    app.stop().await;
}

/// The image and metadata files of the one render in the cache folder.
fn render_files(site: &Site) -> (std::path::PathBuf, std::path::PathBuf) {
    let spot_dir = site.cache_dir().join("linda-mar");
    let mut image = None;
    let mut meta = None;
    for e in std::fs::read_dir(spot_dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".img") {
            image = Some(e.path());
        } else if name.ends_with(".meta.json") {
            meta = Some(e.path());
        }
    }
    (image.unwrap(), meta.unwrap())
}

#[rstest::rstest]
#[case::truncated_image("image")]
#[case::garbled_metadata("meta")]
#[tokio::test]
async fn a_damaged_cache_file_is_ignored_never_served(#[case] damage: &str) {
    let faulty = Faulty::start().await;
    let site = Site::new();
    site.write_bar_config(&format!("{}/ok/3.0", faulty.url), "");
    let app = App::start(&site).await;
    let good = app.get("/image?spot=linda-mar", &[]).await;
    let good = good.bytes().await.unwrap();
    app.stop().await;

    let (image, meta) = render_files(&site);
    if damage == "image" {
        std::fs::write(&image, &good[..good.len() / 2]).unwrap();
    } else {
        std::fs::write(&meta, b"{\"rendered_at\": ").unwrap();
    }
    // A leftover temporary file from a crash, removed at start.
    let tmp = image.with_file_name(".tmp-crashed");
    std::fs::write(&tmp, b"half").unwrap();

    let app = App::start(&site).await;
    assert!(!tmp.exists(), "temporary file removed at start");
    let r = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "miss", "drawn again, not served");
    let bytes = r.bytes().await.unwrap();
    assert_eq!(decode_png(&bytes).dark_in_row(20), 300);
    assert_eq!(faulty.gauge.total(), 2);
    // The new render replaced the damaged one.
    assert_eq!(std::fs::read(&image).unwrap(), bytes);
    app.stop().await;
}

/// The storage conformance suite on the disk backend; every backend runs
/// the same suite.
#[tokio::test]
async fn the_disk_backend_passes_the_conformance_suite() {
    use inkspot::store::{DiskBackend, RenderStore};
    let dir = tempfile::tempdir().unwrap();
    let disk = DiskBackend::new(dir.path().join("renders"));
    disk.open().await.unwrap();
    inkspot::store::conformance::run(std::sync::Arc::new(disk)).await;
}

/// The same suite on a real S3-compatible server (SeaweedFS), under a
/// prefix in a fresh bucket.
#[tokio::test]
#[ignore = "needs SeaweedFS; scripts/test runs it"]
async fn the_s3_backend_passes_the_conformance_suite() {
    use inkspot::config::{StorageBackend, StorageConfig};
    use inkspot::store::{RenderStore, S3Backend};
    let server = crate::common::seaweed::Seaweed::start("renders").await;
    let config = StorageConfig {
        backend: StorageBackend::S3,
        bucket: Some("renders".into()),
        prefix: Some("inkspot/test/".into()),
        endpoint: Some(server.endpoint.clone()),
        region: Some("us-east-1".into()),
        access_key_id: Some("any".into()),
        secret_access_key: Some(inkspot::config::Secret::new("any".into())),
        ..StorageConfig::default()
    };
    let s3 = S3Backend::new(&config).unwrap();
    s3.open().await.unwrap();
    inkspot::store::conformance::run(std::sync::Arc::new(s3)).await;
}

/// `[storage]` from a config file in `dir`, for the bucket `renders` at
/// `endpoint`, with `ca` when given.
fn s3_config(endpoint: &str, ca: Option<&str>, dir: &Path) -> inkspot::config::StorageConfig {
    let ca = ca.map(|c| format!("ca = \"{c}\"\n")).unwrap_or_default();
    let toml = format!(
        "[storage]\nbackend = \"s3\"\nbucket = \"renders\"\nendpoint = \"{endpoint}\"\n\
         access_key_id = \"any\"\nsecret_access_key = \"any\"\n{ca}"
    );
    load_config(&toml, dir).storage
}

/// An S3 server with a private certificate, over HTTPS: with its authority
/// as `storage.ca` the backend passes the suite; without it the
/// certificate is refused when the bucket is first opened.
#[tokio::test]
#[ignore = "needs SeaweedFS; scripts/test runs it"]
async fn the_s3_backend_over_https_trusts_the_authority_in_storage_ca() {
    use inkspot::store::{RenderStore, S3Backend};
    let server = crate::common::seaweed::Seaweed::start_tls("renders").await;
    let https = server.https_endpoint.clone().unwrap();
    let dir = server.ca.as_ref().unwrap().parent().unwrap().to_path_buf();
    let untrusted = S3Backend::new(&s3_config(&https, None, &dir)).unwrap();
    let refused = untrusted.open().await.unwrap_err();
    let mut why = refused.to_string();
    let mut cause = std::error::Error::source(&refused);
    while let Some(e) = cause {
        why.push_str(&format!(": {e}"));
        cause = e.source();
    }
    assert!(why.to_lowercase().contains("certificate"), "{why}");
    let s3 = S3Backend::new(&s3_config(&https, Some("ca.pem"), &dir)).unwrap();
    s3.open().await.unwrap();
    inkspot::store::conformance::run(std::sync::Arc::new(s3)).await;
}

/// `/spots` reads the metadata of every variant, without the images: a
/// spot drawn only for a preset has a last render.
#[tokio::test]
async fn spots_list_the_newest_render_of_any_variant() {
    let upstream = Faulty::start().await;
    let site = Site::new();
    site.write_spots_config(
        &[
            ("Linda Mar", &format!("{}/ok/2.0", upstream.url)),
            ("Pier", &format!("{}/ok/1.0", upstream.url)),
        ],
        "",
    );
    let app = App::start(&site).await;
    let image = app.get("/image?spot=linda-mar&device=trmnl", &[]).await;
    let modified = image.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_string();
    let spots: serde_json::Value = app.get("/spots", &[]).await.json().await.unwrap();
    let at = |i: usize| spots[i]["last_render"].as_str().map(str::to_string);
    let drawn: chrono::DateTime<chrono::Utc> = at(0).expect("a render").parse().unwrap();
    assert_eq!(httpdate::fmt_http_date(drawn.into()), modified);
    assert_eq!(at(1), None, "Pier was never drawn");
    app.stop().await;
}
