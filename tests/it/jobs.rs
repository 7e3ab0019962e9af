//! The job API over real sockets: submit, poll, download and unzip,
//! deduplication against the upstream's request counts, keys and their
//! limits, refused bodies, cancel and expiry.

use std::sync::Arc;
use std::time::Duration;

use crate::common::jobs::{Jobs, KEY, api_key, hits, site, unzip};
use crate::common::*;
use inkspot::clock::ManualClock;
use serde_json::{Value, json};
use wiremock::MockServer;

/// The whole cycle: submit four renders, poll, download one zip, unzip it
/// and decode each image. A render `/image` made before is shared, and the
/// same job again is the same job: the upstream is asked once per spot.
#[tokio::test]
async fn a_job_is_submitted_polled_downloaded_and_shared() {
    let upstream = MockServer::start().await;
    let site = site(&upstream, 0, &api_key(0, 4)).await;
    let app = App::start(&site).await;
    assert_eq!(
        app.get("/image?spot=alpha&device=trmnl", &[])
            .await
            .status(),
        200
    );
    let jobs = Jobs::new(&app.url);
    let body = json!({"renders": [
        {"spot": "Alpha", "preset": "trmnl"},
        {"spot": "Alpha", "device": "trmnl-bmp"},
        {"spot": "Bravo", "preset": "trmnl"},
        {"spot": "bravo", "options": {"width": 200, "height": 100, "bits": 2}},
    ]});
    let accepted = jobs.submit(&body).await;
    assert_eq!(accepted["existing"], false);
    let id = accepted["id"].as_str().unwrap().to_string();
    assert_eq!(accepted["download_url"], format!("/api/jobs/{id}/download"));
    let done = jobs.wait(&id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(
        done["progress"],
        json!({"done": 4, "failed": 0, "total": 4})
    );
    for stamp in ["created_at", "started_at", "finished_at", "expires_at"] {
        assert!(done[stamp].is_string(), "{stamp}: {done}");
    }

    let r = jobs.download(&id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let length: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len(), length);
    let files = unzip(&bytes);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "alpha-trmnl.png",
            "alpha-trmnl-bmp.bmp",
            "bravo-trmnl.png",
            "bravo-200x100.png"
        ]
    );
    for (name, data) in &files {
        let format = image::guess_format(data).unwrap();
        let img = image::load_from_memory_with_format(data, format).unwrap();
        let expected = if name.contains("200x100") {
            (200, 100)
        } else {
            (800, 480)
        };
        assert_eq!((img.width(), img.height()), expected, "{name}");
    }
    let again = jobs
        .client
        .get(format!("{}/api/jobs/{id}/download", app.url))
        .bearer_auth(KEY)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // Bob and Alice: the same job is the same id, and nothing is fetched.
    let repeat = jobs.submit(&body).await;
    assert_eq!(repeat["id"], id.as_str());
    assert_eq!(repeat["existing"], true);
    assert_eq!(
        hits(&upstream, "/alpha").await,
        1,
        "alpha fetched once, by /image"
    );
    assert_eq!(hits(&upstream, "/bravo").await, 1, "bravo fetched once");
}

/// One render downloads as itself, with its own type and name.
#[tokio::test]
async fn a_single_render_downloads_as_the_image() {
    let upstream = MockServer::start().await;
    let site = site(&upstream, 0, &api_key(0, 4)).await;
    let app = App::start(&site).await;
    let jobs = Jobs::new(&app.url);
    let id = jobs
        .submit(&json!({"renders": [{"spot": "Bravo", "preset": "trmnl-bmp"}]}))
        .await;
    let id = id["id"].as_str().unwrap();
    assert_eq!(jobs.wait(id).await["status"], "done");
    let r = jobs.download(id).await;
    assert_eq!(r.headers()["content-type"], "image/bmp");
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"bravo-trmnl-bmp.bmp\""
    );
    let img = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (800, 480));
}

/// Without a key, with a wrong one, or past its rate: refused, and a
/// refusal never reaches the runner.
#[tokio::test]
async fn the_api_key_is_required_and_its_rate_and_quota_hold() {
    let upstream = MockServer::start().await;
    let site = site(&upstream, 1500, &api_key(5, 1)).await;
    let app = App::start(&site).await;
    let url = format!("{}/api/jobs", app.url);
    let none = client().post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = client()
        .post(&url)
        .bearer_auth("a-job-api-key-for-the-testz")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");
    assert!(
        body["error"].as_str().unwrap().contains("not recognised"),
        "{body}"
    );
    let none: Value = client()
        .post(&url)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        none["error"].as_str().unwrap().contains("needs an API key"),
        "{none}"
    );

    let jobs = Jobs::new(&app.url);
    let slow = jobs.submit(&json!({"renders": [{"spot": "Bravo"}]})).await;
    // The key may have one job at a time: a second, different one waits.
    let second = jobs.post(&json!({"renders": [{"spot": "Alpha"}]})).await;
    assert_eq!(second.status(), 429);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["code"], "too_many_jobs");
    // Before it is done, the download says where the job is.
    let early = jobs.download(slow["id"].as_str().unwrap()).await;
    assert_eq!(early.status(), 409);
    let body: Value = early.json().await.unwrap();
    assert!(
        ["queued", "running"].contains(&body["status"].as_str().unwrap()),
        "{body}"
    );
    // Five requests a minute: three made, two more pass, the sixth waits.
    for _ in 0..2 {
        assert_ne!(
            jobs.get("/api/jobs/00000000000000000000000000000000")
                .await
                .status(),
            429
        );
    }
    let limited = jobs.get("/api/jobs/00000000000000000000000000000000").await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let m = prom::parse(&prom::scrape_text(&format!("{}/metrics", app.url)).await);
    for reason in ["key_rate_limited", "too_many_jobs"] {
        assert_eq!(
            prom::value(&m, "inkspot_requests_refused_total", &[("reason", reason)]),
            1.0,
            "{reason}"
        );
    }
}

/// Bodies that do not describe a job are refused with 4xx naming the field.
#[tokio::test]
async fn malformed_and_over_limit_jobs_are_refused_naming_the_field() {
    let upstream = MockServer::start().await;
    let extra = format!(
        "[jobs]\nmax_items = 3\nmax_frames = 4\nmax_frame_pixels = 100000\n{}",
        api_key(0, 4)
    );
    let site = site(&upstream, 0, &extra).await;
    let app = App::start(&site).await;
    let jobs = Jobs::new(&app.url);
    let cases = [
        (
            json!({"renders": [{"spot": "Mavericks"}]}),
            "`renders[0].spot`: unknown spot `Mavericks`",
        ),
        (
            json!({"renders": [{"spot": "Alpha"}, {"spot": "Alpha", "preset": "nope"}]}),
            "`renders[1].preset`: unknown device `nope`",
        ),
        (
            json!({"renders": [{"spot": "Alpha", "options": {"bits": 3}}]}),
            "`renders[0].options.bits`",
        ),
        (
            json!({"renders": [{"spot": "Alpha", "options": {"colour": "red"}}]}),
            "`renders[0].options.colour`: unknown option",
        ),
        (
            json!({"renders": [{"spot": "Alpha", "layers": ["swell"]}]}),
            "`renders[0].layers`: unknown layer `swell`",
        ),
        (
            json!({"renders": [{"spto": "Alpha"}]}),
            "`renders[0].spto`: unknown field `spto`",
        ),
        (
            json!({"renders": [{"spot": "Alpha"}, {"spot": "Alpha"}, {"spot": "Alpha"}, {"spot": "Alpha"}]}),
            "`renders`: 4 items, more than the 3",
        ),
        (json!({"renders": []}), "`renders`: is empty"),
        (json!({}), "`body`: give `renders`"),
        (
            json!({"animation": {"spot": "Alpha", "hours": {"to": 24, "step": 3}}}),
            "`animation.hours`: makes 8 frames, more than the 4",
        ),
        (
            json!({"animation": {"spot": "Alpha", "hours": {"to": 4}, "preset": "trmnl"}}),
            "`animation.options`: 800×480 frames",
        ),
        (
            json!({"animation": {"spot": "Alpha", "hours": {"from": 5, "to": 4}}}),
            "`animation.hours.to`: must be after `from`",
        ),
        (
            json!({"animation": {"spot": "Alpha", "hours": {"to": 4}, "delay_ms": 1}}),
            "`animation.delay_ms`",
        ),
    ];
    for (body, expected) in cases {
        let r = jobs.post(&body).await;
        assert_eq!(r.status(), 400, "{body}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["code"], "invalid_job");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
    }
    let raw = jobs
        .client
        .post(format!("{}/api/jobs", app.url))
        .bearer_auth(KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let huge = jobs
        .client
        .post(format!("{}/api/jobs", app.url))
        .bearer_auth(KEY)
        .body(vec![b' '; 70_000])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    let unknown = jobs.get("/api/jobs/not-an-id").await;
    assert_eq!(unknown.status(), 404);
}

/// A cancelled job stops and has no result; a finished one's result is
/// deleted after `jobs.keep_results`, and the job then says `expired`.
#[tokio::test]
async fn cancel_and_expiry() {
    let upstream = MockServer::start().await;
    let extra = format!("[jobs]\nkeep_results = \"1h\"\n{}", api_key(0, 4));
    let site = site(&upstream, 3000, &extra).await;
    let clock = ManualClock::new("2026-11-23T10:00:00Z".parse().unwrap());
    let app = App::start_with_clock(&site, Arc::new(clock.clone())).await;
    let jobs = Jobs::new(&app.url);
    let slow = jobs
        .submit(&json!({"renders": [{"spot": "Alpha"}, {"spot": "Bravo"}]}))
        .await;
    let slow = slow["id"].as_str().unwrap();
    jobs.wait_items(slow, 1).await;
    let r = jobs.delete(slow).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "cancelled");
    assert_eq!(jobs.wait(slow).await["status"], "cancelled");
    let m = prom::parse(&prom::scrape_text(&format!("{}/metrics", app.url)).await);
    let cancelled = [("kind", "renders"), ("outcome", "cancelled")];
    assert_eq!(prom::value(&m, "inkspot_jobs_total", &cancelled), 1.0);
    assert_eq!(jobs.download(slow).await.status(), 410);

    let quick = jobs
        .submit(&json!({"renders": [{"spot": "Alpha", "preset": "kindle"}]}))
        .await;
    let quick = quick["id"].as_str().unwrap();
    assert_eq!(jobs.wait(quick).await["status"], "done");
    assert_eq!(jobs.download(quick).await.status(), 200);
    clock.advance(Duration::from_secs(3601));
    let expired = jobs.status(quick).await;
    assert_eq!(expired["status"], "expired");
    assert!(expired.get("result").is_none(), "{expired}");
    let gone = jobs.download(quick).await;
    assert_eq!(gone.status(), 410);
    let body: Value = gone.json().await.unwrap();
    assert_eq!(body["status"], "expired");
    let status: Value = app.get("/status", &[]).await.json().await.unwrap();
    let tally = &status["jobs"];
    let counts = ["queued", "running", "done", "cancelled", "expired"].map(|k| tally[k].clone());
    assert_eq!(counts, [0, 0, 0, 1, 1].map(Value::from), "{status}");
    assert_eq!(tally["concurrency"], 1, "{status}");
}

/// Two keys: `shop` (KEY, with `max_bytes`) and `other`.
fn two_keys(max_bytes: &str) -> String {
    format!(
        "[[api_keys]]\nname = \"shop\"\nkey = \"{KEY}\"\nper_minute = 0\nmax_bytes = \"{max_bytes}\"\n\
         [[api_keys]]\nname = \"other\"\nkey = \"another-job-api-key-for-tests\"\nper_minute = 0\n"
    )
}

/// A key sees only its own jobs; an identical body from another key gets
/// a job of its own (sharing the renders, not the id).
#[tokio::test]
async fn a_key_sees_only_its_own_jobs() {
    let upstream = MockServer::start().await;
    let site = site(&upstream, 0, &two_keys("256MiB")).await;
    let app = App::start(&site).await;
    let shop = Jobs::new(&app.url);
    let mut other = Jobs::new(&app.url);
    other.key = "another-job-api-key-for-tests".into();
    let body = json!({"renders": [{"spot": "Alpha"}, {"spot": "Bravo"}]});
    let mine = shop.submit(&body).await;
    let id = mine["id"].as_str().unwrap();
    assert_eq!(shop.wait(id).await["status"], "done");
    for path in [
        format!("/api/jobs/{id}"),
        format!("/api/jobs/{id}/download"),
    ] {
        let r = other.get(&path).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    assert_eq!(other.delete(id).await.status(), 404);
    let theirs = other.submit(&body).await;
    assert_ne!(theirs["id"], mine["id"]);
    assert_eq!(theirs["existing"], false);
    let theirs = theirs["id"].as_str().unwrap();
    assert_eq!(other.wait(theirs).await["status"], "done");
    assert_eq!(hits(&upstream, "/alpha").await, 1, "the renders are shared");
}

/// One result is held to `jobs.max_result_bytes`, and BMP entries are
/// deflated in a zip.
#[tokio::test]
async fn one_result_is_held_to_the_cap_and_bmp_entries_are_deflated() {
    let upstream = MockServer::start().await;
    let extra = format!("[jobs]\nmax_result_bytes = \"40KiB\"\n{}", api_key(0, 4));
    let site = site(&upstream, 0, &extra).await;
    let app = App::start(&site).await;
    let jobs = Jobs::new(&app.url);
    // Two 800×480 1-bit BMPs: 96 kB stored, a few kB deflated.
    let bmps = json!({"renders": [
        {"spot": "Alpha", "preset": "trmnl-bmp"},
        {"spot": "Bravo", "preset": "trmnl-bmp"},
    ]});
    let id = jobs.submit(&bmps).await["id"].as_str().unwrap().to_string();
    let done = jobs.wait(&id).await;
    assert_eq!(done["status"], "done", "{done}");
    let zip = jobs.download(&id).await.bytes().await.unwrap();
    assert!(zip.len() < 40_000, "{} bytes", zip.len());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&zip[..])).unwrap();
    for i in 0..2 {
        let entry = archive.by_index(i).unwrap();
        assert_eq!(entry.compression(), zip::CompressionMethod::Deflated);
        assert_eq!(entry.size(), 48_062);
    }
    // One BMP alone is downloaded as itself: 48,062 bytes, past the cap.
    let one = json!({"renders": [{"spot": "Alpha", "preset": "trmnl-bmp"}]});
    let id = jobs.submit(&one).await["id"].as_str().unwrap().to_string();
    let failed = jobs.wait(&id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("40960 bytes this job may write"), "{error}");
}

/// A key's results are held to its `max_bytes`: a full key's next job is
/// refused, naming the quota.
#[tokio::test]
async fn a_full_key_is_refused_naming_its_quota() {
    let upstream = MockServer::start().await;
    // Exactly one 800×480 1-bit BMP (48,062 bytes) fits.
    let site = site(&upstream, 0, &two_keys("48062B")).await;
    let app = App::start(&site).await;
    let jobs = Jobs::new(&app.url);
    let one = json!({"renders": [{"spot": "Alpha", "preset": "trmnl-bmp"}]});
    let id = jobs.submit(&one).await["id"].as_str().unwrap().to_string();
    assert_eq!(jobs.wait(&id).await["status"], "done");
    let length = jobs.download(&id).await.content_length();
    assert_eq!(length, Some(48_062));
    let r = jobs.post(&json!({"renders": [{"spot": "Bravo"}]})).await;
    assert_eq!(r.status(), 429);
    let refused: Value = r.json().await.unwrap();
    assert_eq!(refused["code"], "quota_exceeded", "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("max_bytes"),
        "{refused}"
    );
    // Another key has its own room; deleting the result frees this one's.
    let mut other = Jobs::new(&app.url);
    other.key = "another-job-api-key-for-tests".into();
    other.submit(&json!({"renders": [{"spot": "Bravo"}]})).await;
    assert_eq!(jobs.delete(&id).await.status(), 200);
    jobs.submit(&json!({"renders": [{"spot": "Bravo"}]})).await;
    let m = prom::parse(&prom::scrape_text(&format!("{}/metrics", app.url)).await);
    let reason = [("reason", "quota_exceeded")];
    assert_eq!(
        prom::value(&m, "inkspot_requests_refused_total", &reason),
        1.0
    );
}

/// A result damaged on disk is never served: the download answers 410
/// naming it, and the job says so.
#[tokio::test]
async fn a_damaged_result_is_reported_not_served() {
    let upstream = MockServer::start().await;
    let site = site(&upstream, 0, &api_key(0, 4)).await;
    let app = App::start(&site).await;
    let jobs = Jobs::new(&app.url);
    for damage in ["truncate", "flip"] {
        let body = json!({"renders": [{"spot": "Alpha", "options": {"width": 300, "height": if damage == "flip" { 201 } else { 200 }}}]});
        let id = jobs.submit(&body).await["id"].as_str().unwrap().to_string();
        assert_eq!(jobs.wait(&id).await["status"], "done");
        let etag = jobs.download(&id).await.headers()["etag"].clone();
        let file = site.cache_dir().join(format!("job-{id}.blob"));
        let mut bytes = std::fs::read(&file).unwrap();
        match damage {
            "truncate" => bytes.truncate(bytes.len() / 2),
            _ => bytes[100] ^= 0xff,
        }
        std::fs::write(&file, bytes).unwrap();
        // A client holding the result is told so without a read of it.
        let cached = jobs
            .client
            .get(format!("{}/api/jobs/{id}/download", jobs.base))
            .bearer_auth(&jobs.key)
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(cached.status(), 304);
        let r = jobs.download(&id).await;
        assert_eq!(r.status(), 410, "{damage}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["code"], "job_result_damaged", "{answer}");
        let status = jobs.status(&id).await;
        assert_eq!(status["status"], "failed", "{status}");
        assert!(
            status["error"].as_str().unwrap().contains("damaged"),
            "{status}"
        );
        assert!(!file.exists(), "the damaged file is deleted");
    }
}

/// Every key's results together are held to `jobs.max_disk`: once full,
/// any key's new job is answered 507 until results go.
#[tokio::test]
async fn full_job_storage_refuses_every_key_with_507() {
    let upstream = MockServer::start().await;
    let extra = format!("[jobs]\nmax_disk = \"48062B\"\n{}", two_keys("256MiB"));
    let site = site(&upstream, 0, &extra).await;
    let app = App::start(&site).await;
    let jobs = Jobs::new(&app.url);
    let one = json!({"renders": [{"spot": "Alpha", "preset": "trmnl-bmp"}]});
    let id = jobs.submit(&one).await["id"].as_str().unwrap().to_string();
    assert_eq!(jobs.wait(&id).await["status"], "done");
    let mut other = Jobs::new(&app.url);
    other.key = "another-job-api-key-for-tests".into();
    let r = other.post(&json!({"renders": [{"spot": "Bravo"}]})).await;
    assert_eq!(r.status(), 507);
    assert!(r.headers().contains_key("retry-after"));
    let refused: Value = r.json().await.unwrap();
    assert_eq!(refused["code"], "jobs_storage_full", "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("jobs.max_disk"));
    assert_eq!(jobs.delete(&id).await.status(), 200);
    other.submit(&json!({"renders": [{"spot": "Bravo"}]})).await;
}

/// A body's problems are all named in one answer: unknown fields beside
/// spots and presets that do not exist.
#[tokio::test]
async fn every_problem_of_a_job_body_is_named_at_once() {
    let upstream = MockServer::start().await;
    let site = site(&upstream, 0, &api_key(0, 4)).await;
    let app = App::start(&site).await;
    let jobs = Jobs::new(&app.url);
    let r = jobs
        .post(&json!({"renders": [
            {"spot": "Nowhere", "colour": "red"},
            {"spot": "Alpha", "preset": "no-such-preset"},
        ]}))
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    for named in ["renders[0].colour", "Nowhere", "no-such-preset"] {
        assert!(error.contains(named), "{named} in {error}");
    }
}

/// `GET /api/jobs` lists the key's own jobs, newest first, a page at a
/// time; another key's jobs are not among them.
#[tokio::test]
async fn a_key_lists_its_own_jobs_newest_first_in_pages() {
    let upstream = MockServer::start().await;
    let site = site(&upstream, 0, &two_keys("256MiB")).await;
    let clock = ManualClock::new("2026-11-23T10:00:00Z".parse().unwrap());
    let app = App::start_with_clock(&site, Arc::new(clock.clone())).await;
    let jobs = Jobs::new(&app.url);
    let mut ids = Vec::new();
    for width in [300, 310, 320] {
        let body =
            json!({"renders": [{"spot": "Alpha", "options": {"width": width, "height": 200}}]});
        ids.push(jobs.submit(&body).await["id"].as_str().unwrap().to_string());
        clock.advance(Duration::from_secs(1));
    }
    let mut other = Jobs::new(&app.url);
    other.key = "another-job-api-key-for-tests".into();
    other.submit(&json!({"renders": [{"spot": "Bravo"}]})).await;

    let first: Value = jobs.get("/api/jobs?limit=2").await.json().await.unwrap();
    let listed: Vec<&str> = first["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[1].as_str()], "newest first");
    let next = first["next"].as_str().expect("a next page");
    let second: Value = jobs.get(next).await.json().await.unwrap();
    let listed: Vec<&str> = second["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[0].as_str()]);
    assert!(second["next"].is_null(), "{second}");
    let theirs: Value = other.get("/api/jobs").await.json().await.unwrap();
    assert_eq!(theirs["jobs"].as_array().unwrap().len(), 1, "{theirs}");
    let bad = jobs.get("/api/jobs?page=2").await;
    assert_eq!(bad.status(), 400);
}
